//! The exec line for a script (wrapped in sudo/su when it runs as another user) and the
//! password-prompt dance on a channel, shared by a session per script and the long-lived
//! shells. The dance itself ([`BecomeWatch`]) is transport-agnostic; this drives it over russh.

use crate::connection::become_::{BecomeStep, BecomeWatch};
use crate::connection::{BecomeSpec, ConnError, sh_quote};
use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

/// The exec request's command line for `script`, and the watch for sudo's prompt when it
/// runs as another user. `exec`: the login shell gives way, so a signal sent on timeout
/// reaches the script.
pub(super) fn exec_line(
    script: &str,
    become_: Option<&BecomeSpec>,
) -> (String, Option<BecomeWatch>) {
    let (command, watch) = match become_ {
        Some(b) => {
            let wrapped = b.wrap(script);
            let watch = BecomeWatch::new(&wrapped, b.password.as_deref());
            (wrapped.command, Some(watch))
        }
        None => (script.to_string(), None),
    };
    (format!("exec /bin/sh -c {}", sh_quote(&command)), watch)
}

/// What came back while escalating: stdout so far, and stderr after the start marker.
pub(super) struct Started {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Answers the password prompt (once) until the escalated shell has started; nothing else may
/// reach the channel's stdin before. Fails with what sudo/su said when the channel ends first,
/// or `Unreachable` when the password cannot be written (the caller knows whether the whole
/// connection is gone).
pub(super) async fn until_started(
    reader: &mut ChannelReadHalf,
    writer: &ChannelWriteHalf<Msg>,
    mut watch: BecomeWatch,
) -> Result<Started, ConnError> {
    let mut stdout = Vec::new();
    loop {
        match reader.wait().await {
            None | Some(ChannelMsg::Close) => return Err(watch.failure()),
            Some(ChannelMsg::Data { data }) => stdout.extend_from_slice(&data),
            Some(ChannelMsg::ExtendedData { data, ext: 1 }) => match watch.feed(&data)? {
                BecomeStep::Wait => {}
                BecomeStep::Answer(answer) => writer
                    .data_bytes(answer)
                    .await
                    .map_err(|e| ConnError::Unreachable(format!("writing the password: {e}")))?,
                BecomeStep::Started(stderr) => return Ok(Started { stdout, stderr }),
            },
            Some(_) => {}
        }
    }
}
