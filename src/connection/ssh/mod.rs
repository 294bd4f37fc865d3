//! The SSH transport (russh): one authenticated session per host for the whole run, one
//! channel per exec (many at once), jump hosts, known_hosts checking, sudo prompt handling.
//!
//! Owns the wire: settings from Ansible's variables and ~/.ssh/config (`config`), host keys
//! (`known_hosts`), authentication (`auth`), bastions (`jump`). Knows nothing of modules,
//! tasks or inventories: it is handed templated variables and scripts.

mod auth;
mod config;
mod escalate;
mod jump;
mod known_hosts;
mod shell;
mod stop;

pub use auth::PASSPHRASE_ENV;
pub use config::{SettingError, SshDefaults, check_ssh_args, from_vars};
pub use known_hosts::{HostKeyMode, KnownHostsPolicy, host_label};

use super::{
    BecomeSpec, BoxFuture, CancellationToken, ConnError, Connection, ExecOutput, ExecRequest,
    OutputBuffer, expiry,
};
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, Disconnect, Sig};
use std::borrow::Cow;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stop::PgidProbe;

/// Everything needed to reach and log in to one host (or one jump host).
#[derive(Clone)]
pub struct SshTarget {
    /// Address or name to connect to (after ~/.ssh/config `HostName`).
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Key files offered first, in order.
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly=yes`: neither the agent nor the default keys are used.
    pub identities_only: bool,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`, or `IdentityAgent`); `None` = no agent.
    pub identity_agent: Option<PathBuf>,
    /// Tried after the keys. Never printed.
    pub password: Option<String>,
    /// `PasswordAuthentication=no` turns the password off.
    pub password_auth: bool,
    /// For encrypted key files (else the `RMESOS_KEY_PASSPHRASE` environment variable).
    pub key_passphrase: Option<String>,
    /// Bastions, outermost first; each is authenticated and host-key checked like the target.
    pub proxy_jump: Vec<SshTarget>,
    pub known_hosts: KnownHostsPolicy,
    /// TCP connect plus SSH handshake, per attempt.
    pub connect_timeout: Duration,
    /// Further attempts while the host refuses or times out (a host still booting).
    pub connect_retries: u32,
    /// Keepalive interval; `None` = off.
    pub keepalive: Option<Duration>,
    /// Unanswered keepalives before the connection is declared dead.
    pub keepalive_max: usize,
    /// Run scripts through one long-lived shell per host (and become identity) instead of a
    /// session per exec (`rmesos_persistent_shell`, default on).
    pub persistent_shell: bool,
    /// ssh options given but not acted on (`ControlMaster`, `-C`, ciphers...), lowercased
    /// `-o` keys or the flag itself, so callers can report them.
    pub extra: Vec<(String, String)>,
    /// Told of each failed attempt that will be retried, and why (for `-vvv`).
    pub notes: Option<Notes>,
}

/// Where a connection tells what it is doing (a failed attempt it retries, and why).
pub type Notes = std::sync::Arc<dyn Fn(String) + Send + Sync>;

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("identity_files", &self.identity_files)
            .field("identities_only", &self.identities_only)
            .field("identity_agent", &self.identity_agent)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("password_auth", &self.password_auth)
            .field(
                "key_passphrase",
                &self.key_passphrase.as_ref().map(|_| "<hidden>"),
            )
            .field("proxy_jump", &self.proxy_jump)
            .field("known_hosts", &self.known_hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("connect_retries", &self.connect_retries)
            .field("keepalive", &self.keepalive)
            .field("keepalive_max", &self.keepalive_max)
            .field("persistent_shell", &self.persistent_shell)
            .field("extra", &self.extra)
            .field("notes", &self.notes.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl SshTarget {
    /// A target with OpenSSH's defaults: default known_hosts files, strict checking, no keys
    /// beyond the agent's (`SSH_AUTH_SOCK`) and ~/.ssh's.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        SshTarget {
            host: host.into(),
            port,
            user: user.into(),
            identity_files: Vec::new(),
            identities_only: false,
            identity_agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            password: None,
            password_auth: true,
            key_passphrase: None,
            proxy_jump: Vec::new(),
            known_hosts: KnownHostsPolicy {
                files: KnownHostsPolicy::default_files(),
                mode: HostKeyMode::Strict,
            },
            connect_timeout: Duration::from_secs(10),
            connect_retries: 3,
            keepalive: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            persistent_shell: true,
            extra: Vec::new(),
            notes: None,
        }
    }

    /// How the host is reached, for `-vvv`: user, address and port, the key files and agent
    /// offered, whether a password is (never what it is), the known_hosts files and checking,
    /// timeout and retries, and the jump hosts.
    pub fn describe(&self) -> String {
        let list = |v: &[PathBuf]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let mut s = format!(
            "SSH: user {}, host {}, port {}; key files: {}{}; agent: {}; password: {}; \
             known_hosts: {} ({:?}); connect timeout {} s, retries: {}",
            self.user,
            self.host,
            self.port,
            list(&self.identity_files),
            if self.identities_only {
                " (identities only)"
            } else {
                ""
            },
            self.identity_agent
                .as_ref()
                .filter(|_| !self.identities_only)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "none".into()),
            match (&self.password, self.password_auth) {
                (Some(_), true) => "offered",
                _ => "no",
            },
            list(&self.known_hosts.files),
            self.known_hosts.mode,
            self.connect_timeout.as_secs(),
            self.connect_retries,
        );
        if !self.proxy_jump.is_empty() {
            let hops: Vec<String> = self.proxy_jump.iter().map(SshTarget::label).collect();
            s.push_str(&format!("; jump hosts: {}", hops.join(" -> ")));
        }
        s
    }

    /// `user@host:port`, as error messages name a host.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

/// The russh handler: checks the server key against known_hosts and remembers why a key was
/// refused or why the connection ended, for the error message.
pub(crate) struct HostKeyCheck {
    host: String,
    port: u16,
    policy: KnownHostsPolicy,
    refusal: Arc<Mutex<Option<String>>>,
    ended: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                known_hosts::check(&self.policy, &self.host, self.port, key)
            }
            PublicKeyOrCertificate::Certificate(_) if self.policy.mode == HostKeyMode::Off => {
                Ok(())
            }
            PublicKeyOrCertificate::Certificate(_) => Err(known_hosts::HostKeyError::Certificate {
                label: host_label(&self.host, self.port),
            }),
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(reason) => {
                *lock(&self.refusal) = Some(reason.to_string());
                Ok(false)
            }
        }
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let text = match &reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                format!("server closed the connection: {:?}", info)
            }
            client::DisconnectReason::Error(e) => format!("connection lost: {}", e),
        };
        *lock(&self.ended) = Some(text);
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(e) => Err(e),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One authenticated session (plus the sessions to its bastions, kept alive with it).
pub struct SshConnection {
    handle: Handle<HostKeyCheck>,
    /// Bastion sessions carrying this one, outermost first; dropped last.
    jumps: Vec<Handle<HostKeyCheck>>,
    label: String,
    ended: Arc<Mutex<Option<String>>>,
    memo: super::FileMemo,
    /// `None` when scripts get a session each (`persistent_shell` off).
    shells: Option<ShellPool>,
    scripts: AtomicU64,
    sessions: AtomicU64,
    /// Cancelled when the run is interrupted: execs in flight stop their commands.
    cancel: CancellationToken,
    /// For the marker lines in which scripts report their process group.
    pg_token: String,
}

/// Why an exec was stopped before its command ended.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Timeout(Duration),
    Interrupted,
}

impl From<Stop> for ConnError {
    fn from(s: Stop) -> ConnError {
        match s {
            Stop::Timeout(t) => ConnError::Timeout(t),
            Stop::Interrupted => ConnError::Interrupted,
        }
    }
}

/// The long-lived shells of one connection, one per become identity (`None` = the login user).
#[derive(Default)]
struct ShellPool {
    slots: Mutex<Vec<(Option<BecomeSpec>, SharedSlot)>>,
}

type SharedSlot = Arc<tokio::sync::Mutex<ShellSlot>>;

enum ShellSlot {
    NotStarted,
    Running(shell::Shell),
    /// It would not start (sudo refused, no `/bin/sh -s`...): this identity gets a session per
    /// exec, which reports such failures as it always has.
    Unusable,
}

impl ShellPool {
    fn slot(&self, become_: Option<&BecomeSpec>) -> SharedSlot {
        let mut slots = lock(&self.slots);
        if let Some((_, slot)) = slots.iter().find(|(b, _)| b.as_ref() == become_) {
            return slot.clone();
        }
        let slot = Arc::new(tokio::sync::Mutex::new(ShellSlot::NotStarted));
        slots.push((become_.cloned(), slot.clone()));
        slot
    }

    fn all(&self) -> Vec<SharedSlot> {
        lock(&self.slots).iter().map(|(_, s)| s.clone()).collect()
    }
}

/// Connects (through the jump hosts, if any) and authenticates.
pub async fn connect(target: &SshTarget) -> Result<SshConnection, ConnError> {
    let mut handles: Vec<Handle<HostKeyCheck>> = Vec::new();
    let mut ended = Arc::new(Mutex::new(None));
    for hop in target.proxy_jump.iter().chain(std::iter::once(target)) {
        let (handle, hop_ended) = jump::open_hop(hop, handles.last()).await?;
        handles.push(handle);
        ended = hop_ended;
    }
    let Some(handle) = handles.pop() else {
        return Err(ConnError::Other("no hop to connect to".into()));
    };
    Ok(SshConnection {
        handle,
        jumps: handles,
        label: target.label(),
        ended,
        memo: super::FileMemo::default(),
        shells: target.persistent_shell.then(ShellPool::default),
        scripts: AtomicU64::new(0),
        sessions: AtomicU64::new(0),
        cancel: CancellationToken::new(),
        pg_token: super::random_token(),
    })
}

/// The russh client configuration for one hop: keepalives, no idle timeout (the session lives
/// for the whole run), and the host key types known_hosts lists for it offered first.
fn client_config(t: &SshTarget) -> Arc<client::Config> {
    let mut preferred = russh::Preferred::default();
    let known = known_hosts::known_algorithms(&t.known_hosts, &t.host, t.port);
    if !known.is_empty() {
        let mut order: Vec<_> = preferred
            .key
            .iter()
            .filter(|a| known.iter().any(|k| same_key_type(k, a)))
            .cloned()
            .collect();
        order.extend(
            preferred
                .key
                .iter()
                .filter(|a| !known.iter().any(|k| same_key_type(k, a)))
                .cloned(),
        );
        preferred.key = Cow::Owned(order);
    }
    Arc::new(client::Config {
        keepalive_interval: t.keepalive,
        keepalive_max: t.keepalive_max,
        inactivity_timeout: None,
        nodelay: true,
        preferred,
        ..Default::default()
    })
}

/// RSA keys are listed once but negotiated as rsa-sha2-512/256: all count as one type.
fn same_key_type(a: &russh::keys::Algorithm, b: &russh::keys::Algorithm) -> bool {
    use russh::keys::Algorithm::Rsa;
    matches!((a, b), (Rsa { .. }, Rsa { .. })) || a == b
}

impl SshConnection {
    /// Execs in flight stop their commands (process groups) on the host when `cancel` is
    /// cancelled, and no exec starts after.
    pub fn stopped_by(mut self, cancel: CancellationToken) -> SshConnection {
        self.cancel = cancel;
        self
    }

    fn dead(&self) -> ConnError {
        let why = lock(&self.ended)
            .clone()
            .unwrap_or_else(|| "connection closed".into());
        ConnError::Unreachable(format!("{}: {}", self.label, why))
    }

    async fn run(&self, req: &ExecRequest<'_>) -> Result<ExecOutput, ConnError> {
        if self.handle.is_closed() {
            return Err(self.dead());
        }
        if self.cancel.is_cancelled() {
            return Err(ConnError::Interrupted);
        }
        self.scripts.fetch_add(1, Ordering::Relaxed);
        let probe = PgidProbe::new(&self.pg_token);
        let script = probe.wrap(req.script);
        if let Some(done) = self.run_in_shell(req, &script, &probe).await {
            return done;
        }
        self.run_in_session(req, &script, &probe, &self.cancel)
            .await
    }

    /// Drives `work` until it ends, `timeout` passes or `cancel` fires. When stopped, drives it
    /// a little longer until the script has reported its process group (or [`stop::PGID_WAIT`]
    /// passes, or it ends), so the caller can stop the group.
    async fn drive<F: Future>(
        mut work: Pin<&mut F>,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
        probe: &PgidProbe,
    ) -> Result<F::Output, Stop> {
        let stop = tokio::select! {
            out = work.as_mut() => return Ok(out),
            () = expiry(timeout) => Stop::Timeout(timeout.unwrap_or_default()),
            () = cancel.cancelled() => Stop::Interrupted,
        };
        let mut wait = std::pin::pin!(tokio::time::sleep(stop::PGID_WAIT));
        while probe.get().is_none() {
            tokio::select! {
                _ = work.as_mut() => break,
                () = &mut wait => break,
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        Err(stop)
    }

    /// Stops process group `pgid` on the host, as `become_` (the identity that runs it), in a
    /// session of its own; waits until it is gone (at most the grace and a round trip).
    async fn stop_group(&self, pgid: Option<i32>, become_: Option<&BecomeSpec>) {
        let Some(pgid) = pgid else { return };
        let script = stop::kill_script(pgid);
        let req = ExecRequest {
            script: &script,
            stdin: &[],
            become_,
            timeout: Some(stop::KILL_TIMEOUT),
            output_limit: None,
        };
        let (unused, never) = (PgidProbe::new(&self.pg_token), CancellationToken::new());
        // Boxed: run_in_session calls this when it stops its own command.
        let _ = Box::pin(self.run_in_session(&req, &script, &unused, &never)).await;
    }

    /// Runs `req` in the long-lived shell for its become identity when it may (no timeout: a
    /// command stopped there takes the shell with it, so one likely to be stopped gets a
    /// session of its own; small stdin and script) and that shell is free. `None` = run it in
    /// a session of its own instead.
    async fn run_in_shell(
        &self,
        req: &ExecRequest<'_>,
        script: &str,
        probe: &PgidProbe,
    ) -> Option<Result<ExecOutput, ConnError>> {
        let shells = self.shells.as_ref()?;
        if req.timeout.is_some()
            || req.stdin.len() > shell::MAX_STDIN
            || script.len() > shell::MAX_SCRIPT
        {
            return None;
        }
        let slot = shells.slot(req.become_);
        // Busy with another of this host's tasks (free strategy, delegate_to): don't queue.
        let mut slot = slot.try_lock().ok()?;
        if matches!(&*slot, ShellSlot::Running(sh) if sh.interrupted())
            && let ShellSlot::Running(sh) = std::mem::replace(&mut *slot, ShellSlot::NotStarted)
        {
            // Its last exec was dropped half-way: a cut here-document fails its write (the
            // size check) instead of taking our command as the rest of its content.
            sh.close().await;
        }
        if matches!(*slot, ShellSlot::NotStarted) {
            let channel = match self.handle.channel_open_session().await {
                Ok(c) => {
                    self.sessions.fetch_add(1, Ordering::Relaxed);
                    c
                }
                Err(_) if self.handle.is_closed() => return Some(Err(self.dead())),
                Err(_) => return None,
            };
            *slot = match shell::Shell::start(channel, req.become_).await {
                Ok(sh) => ShellSlot::Running(sh),
                Err(_) if self.handle.is_closed() => return Some(Err(self.dead())),
                Err(_) => ShellSlot::Unusable,
            };
        }
        let ShellSlot::Running(sh) = &mut *slot else {
            return None;
        };
        if self.cancel.is_cancelled() {
            return Some(Err(ConnError::Interrupted));
        }
        let outcome = {
            let mut run = std::pin::pin!(sh.run(script, req.stdin, req.output_limit, probe));
            Self::drive(run.as_mut(), None, &self.cancel, probe).await
        };
        match outcome {
            Ok(Ok(out)) => Some(Ok(out)),
            Err(stop) => {
                // The script shares the shell's group: the shell goes with it.
                self.stop_group(probe.get(), req.become_).await;
                if let ShellSlot::Running(sh) = std::mem::replace(&mut *slot, ShellSlot::NotStarted)
                {
                    sh.close().await;
                }
                Some(Err(stop.into()))
            }
            Ok(Err(why)) => {
                // The next exec starts a new shell; this one may have run part of the script.
                if let ShellSlot::Running(sh) = std::mem::replace(&mut *slot, ShellSlot::NotStarted)
                {
                    sh.close().await;
                }
                Some(Err(if self.handle.is_closed() {
                    self.dead()
                } else {
                    ConnError::Other(format!("{}: {}", self.label, why))
                }))
            }
        }
    }

    /// Runs `script` (`req`'s, wrapped) in a session of its own; stops its process group when
    /// the request's timeout passes or `cancel` fires.
    async fn run_in_session(
        &self,
        req: &ExecRequest<'_>,
        script: &str,
        probe: &PgidProbe,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, ConnError> {
        let channel = match self.handle.channel_open_session().await {
            Ok(c) => {
                self.sessions.fetch_add(1, Ordering::Relaxed);
                c
            }
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                return Err(ConnError::Other(format!(
                    "{}: the server refused a new channel ({:?})",
                    self.label, reason
                )));
            }
            Err(_) => return Err(self.dead()),
        };
        let (line, watch) = escalate::exec_line(script, req.become_);
        let (mut reader, writer) = channel.split();
        if writer.exec(true, line).await.is_err() {
            return Err(self.dead());
        }
        let exchange = async {
            let escalated = match watch {
                Some(w) => Some(
                    escalate::until_started(&mut reader, &writer, w)
                        .await
                        .map_err(|e| {
                            if self.handle.is_closed() {
                                self.dead()
                            } else {
                                e
                            }
                        })?,
                ),
                None => None,
            };
            let mut stdout = OutputBuffer::new(req.output_limit);
            let mut stderr = OutputBuffer::new(req.output_limit);
            if let Some(e) = escalated {
                stdout.push(&e.stdout);
                stderr.push(&e.stderr);
            }
            probe.scan(stderr.kept(), 0);
            let mut rc = None;
            let send_stdin = async {
                // The script may exit without reading its stdin: a refused write is not an error.
                let _ = writer.data(req.stdin).await;
                let _ = writer.eof().await;
            };
            let mut send_stdin = std::pin::pin!(send_stdin);
            let mut sending = true;
            loop {
                let msg = tokio::select! {
                    () = &mut send_stdin, if sending => {
                        sending = false;
                        continue;
                    }
                    msg = reader.wait() => msg,
                };
                match msg {
                    None | Some(ChannelMsg::Close) => break,
                    Some(ChannelMsg::Data { data }) => stdout.push(&data),
                    Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                        stderr.push(&data);
                        // Where this chunk starts in what is kept (older bytes may be gone).
                        let from = stderr.kept().len().saturating_sub(data.len());
                        probe.scan(stderr.kept(), from);
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        rc = Some(i32::try_from(exit_status).unwrap_or(-1))
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        rc = Some(signal_number(&signal_name).map_or(-1, |n| 128 + n))
                    }
                    Some(_) => {}
                }
            }
            match rc {
                Some(rc) => {
                    let mut out = ExecOutput::from_buffers(rc, stdout, stderr);
                    probe.strip(&mut out.stderr);
                    Ok(out)
                }
                None if self.handle.is_closed() => Err(self.dead()),
                None => Err(ConnError::Other(format!(
                    "{}: the channel closed without an exit status",
                    self.label
                ))),
            }
        };
        let mut exchange = std::pin::pin!(exchange);
        let result = match Self::drive(exchange.as_mut(), req.timeout, cancel, probe).await {
            Ok(r) => r,
            Err(stop) => {
                match probe.get() {
                    Some(pgid) => self.stop_group(Some(pgid), req.become_).await,
                    // No /proc on the host: sshd forwards the signal to the session's leader.
                    None => {
                        let _ = writer.signal(Sig::KILL).await;
                    }
                }
                let _ = writer.close().await;
                return Err(stop.into());
            }
        };
        if matches!(result, Err(ConnError::Become(_))) {
            let _ = writer.close().await;
        }
        result
    }
}

fn signal_number(sig: &Sig) -> Option<i32> {
    Some(match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => return None,
    })
}

impl Connection for SshConnection {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        Box::pin(async move { self.run(&req).await })
    }

    fn file_memo(&self) -> Option<&super::FileMemo> {
        Some(&self.memo)
    }

    fn wire_stats(&self) -> Option<super::WireStats> {
        Some(super::WireStats {
            scripts: self.scripts.load(Ordering::Relaxed),
            sessions: self.sessions.load(Ordering::Relaxed),
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(shells) = &self.shells {
                for slot in shells.all() {
                    if let Ok(slot) = slot.try_lock()
                        && let ShellSlot::Running(sh) = &*slot
                    {
                        sh.close().await;
                    }
                }
            }
            let _ = self
                .handle
                .disconnect(Disconnect::ByApplication, "", "en")
                .await;
            for j in self.jumps.iter().rev() {
                let _ = j.disconnect(Disconnect::ByApplication, "", "en").await;
            }
        })
    }
}
