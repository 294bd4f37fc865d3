//! Opening one hop of a connection: TCP for the first, a direct-tcpip channel through the
//! previous hop for each bastion behind it; then the SSH handshake, host key check and
//! authentication. Retries with backoff while the host refuses or does not answer.

use super::{HostKeyCheck, SshTarget, auth, client_config, lock};
use crate::connection::ConnError;
use russh::client::{self, Handle};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why one attempt failed, and whether another attempt may succeed.
struct AttemptError {
    error: ConnError,
    retry: bool,
}

/// Connects, checks and authenticates `hop`, through `via` when it is behind a bastion.
/// Returns the session and the slot where it records why it ended.
pub(super) async fn open_hop(
    hop: &SshTarget,
    via: Option<&Handle<HostKeyCheck>>,
) -> Result<(Handle<HostKeyCheck>, Arc<Mutex<Option<String>>>), ConnError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        match attempt_hop(hop, via).await {
            Ok(done) => return Ok(done),
            Err(AttemptError { error, retry }) => {
                if !retry || attempt >= hop.connect_retries {
                    return Err(error);
                }
                if let Some(notes) = &hop.notes {
                    notes(format!(
                        "attempt {} of {} failed: {}; retrying in {} s",
                        attempt + 1,
                        hop.connect_retries + 1,
                        error,
                        delay.as_secs()
                    ));
                }
            }
        }
        attempt += 1;
        tokio::time::sleep(delay).await;
        // 1 s, 3 s, 7 s...: three retries span about ten seconds, enough for sshd to come up.
        delay = delay * 2 + Duration::from_secs(1);
    }
}

async fn attempt_hop(
    hop: &SshTarget,
    via: Option<&Handle<HostKeyCheck>>,
) -> Result<(Handle<HostKeyCheck>, Arc<Mutex<Option<String>>>), AttemptError> {
    let label = super::host_label(&hop.host, hop.port);
    let refusal = Arc::new(Mutex::new(None));
    let ended = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        host: hop.host.clone(),
        port: hop.port,
        policy: hop.known_hosts.clone(),
        refusal: refusal.clone(),
        ended: ended.clone(),
    };
    let config = client_config(hop);
    let timeout = hop.connect_timeout;
    let retryable = |msg: String| AttemptError {
        error: ConnError::Unreachable(msg),
        retry: true,
    };
    let handshake = async {
        match via {
            None => {
                let tcp = tokio::net::TcpStream::connect((hop.host.as_str(), hop.port))
                    .await
                    .map_err(|e| retryable(format!("cannot connect to {}: {}", label, e)))?;
                let _ = tcp.set_nodelay(true);
                client::connect_stream(config, tcp, handler).await
            }
            Some(bastion) => {
                if bastion.is_closed() {
                    return Err(AttemptError {
                        error: ConnError::Unreachable(format!(
                            "the bastion session to reach {} has ended",
                            label
                        )),
                        retry: false,
                    });
                }
                let channel = bastion
                    .channel_open_direct_tcpip(
                        hop.host.clone(),
                        u32::from(hop.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        retryable(format!(
                            "the bastion cannot open a tunnel to {}: {}",
                            label, e
                        ))
                    })?;
                client::connect_stream(config, channel.into_stream(), handler).await
            }
        }
        .map_err(|e| {
            if let Some(reason) = lock(&refusal).take() {
                return AttemptError {
                    error: ConnError::Unreachable(reason),
                    retry: false,
                };
            }
            retryable(format!("SSH handshake with {} failed: {}", label, e))
        })
    };
    // The open of a direct-tcpip channel can hang (russh #329): the whole handshake is bounded.
    let mut handle = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| {
            retryable(format!(
                "connecting to {} timed out after {:?}",
                label, timeout
            ))
        })??;
    tokio::time::timeout(timeout * 3, auth::authenticate(&mut handle, hop))
        .await
        .map_err(|_| AttemptError {
            error: ConnError::Unreachable(format!("authentication with {} timed out", hop.label())),
            retry: false,
        })?
        .map_err(|error| AttemptError {
            error,
            retry: false,
        })?;
    Ok((handle, ended))
}
