//! All connection resolution: which host a task's work runs on (`delegate_to`,
//! `local_action`), that host's connection variables ([`CONN_VARS`]) and user, the live
//! connection (pooled: one per host, connection kind and user for the whole run), and a task's
//! become keywords turned into a [`BecomeSpec`].
//!
//! Owns: [`Connector`], [`ConnTarget`], [`Pool`], [`become_spec`], [`ConnectError`].
//! Must not know: plays, host states, how a scope is built (the caller hands over the task's
//! scope and a way to get a delegate's), or modules.

use super::eval::{self, EvalError};
use crate::connection::local::LocalConnection;
use crate::connection::{
    BecomeMethod, BecomeSpec, BoxFuture, CancellationToken, ConnError, Connection, ExecOutput,
    ExecRequest, FileMemo, WireStats,
};
use crate::inventory::Inventory;
use crate::plan::Task;
use crate::vars::Templar;
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Connection variables read from a host's scope.
pub const CONN_VARS: &[&str] = &[
    "ansible_connection",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "ansible_ssh_private_key_passphrase",
    "ansible_timeout",
    "ansible_ssh_timeout",
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
    "ansible_become",
    "ansible_become_user",
    "ansible_become_method",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
    "ansible_become_flags",
    "rmesos_persistent_shell",
];

/// Why a task got no connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A keyword (`delegate_to`, `connection`, `remote_user`) would not template.
    #[error(transparent)]
    Keyword(#[from] EvalError),
    /// A connection variable would not template.
    #[error("{name}: {source}")]
    Var {
        name: &'static str,
        source: minijinja::Error,
    },
    /// The host cannot be reached: it leaves the play.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else the connector said: the task fails.
    #[error("{0}")]
    Failed(ConnError),
}

impl From<ConnError> for ConnectError {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Unreachable(m) => ConnectError::Unreachable(m),
            other => ConnectError::Failed(other),
        }
    }
}

/// A task's connection: the pooled connection, the connection variables it was made from (for
/// become), and the delegate when the work runs on another host.
pub struct TaskConnection {
    pub conn: Arc<dyn Connection>,
    pub vars: IndexMap<String, Value>,
    pub delegated_to: Option<String>,
}

/// A task on a host, as connection resolution needs it.
pub struct TaskOnHost<'a> {
    pub templar: &'a Templar,
    pub inventory: &'a Inventory,
    pub task: &'a Task,
    pub host: &'a str,
    /// The task's scope on `host`.
    pub scope: &'a Value,
}

impl TaskOnHost<'_> {
    /// Where the work runs (`local_action`, `delegate_to`), None for the host itself.
    fn delegate(&self) -> Result<Option<String>, EvalError> {
        if self.task.local_action {
            return Ok(Some("localhost".to_string()));
        }
        eval::tmpl_str(self.templar, &self.task.kw.delegate_to, self.scope)
    }

    /// The target to connect to, and the delegate (None when the host itself). Connection
    /// variables come from the host the work runs on: `delegate_scope` gives a delegate's.
    pub fn target(
        &self,
        delegate_scope: impl FnOnce(&str) -> Value,
        default_user: Option<&String>,
    ) -> Result<(ConnTarget, Option<String>), ConnectError> {
        let (templar, task, host) = (self.templar, self.task, self.host);
        let delegate = self.delegate()?;
        let (conn_host, conn_scope) = match &delegate {
            Some(d) if d != host => (d.clone(), delegate_scope(d)),
            _ => (host.to_string(), self.scope.clone()),
        };
        let vars = conn_vars(&conn_scope)?;
        let mut kind = vars
            .get("ansible_connection")
            .map(|v| v.to_string())
            .unwrap_or_default();
        // A task's `connection:` keyword applies to the host itself, not to a delegate.
        if delegate.is_none()
            && let Some(c) = eval::tmpl_str(templar, &task.kw.connection, self.scope)?
        {
            kind = c;
        }
        if kind.is_empty()
            && (conn_host == "localhost" || conn_host == "127.0.0.1")
            && self.inventory.host(&conn_host).is_none_or(|h| h.implicit)
        {
            kind = "local".into();
        }
        let keyword_user = eval::tmpl_str(templar, &task.kw.remote_user, self.scope)?;
        let remote_user = vars
            .get("ansible_user")
            .or_else(|| vars.get("ansible_ssh_user"))
            .map(|v| v.to_string())
            .or(keyword_user)
            .or_else(|| default_user.cloned());
        let target = ConnTarget {
            host: conn_host,
            kind,
            remote_user,
            vars,
            trace: None,
        };
        Ok((target, delegate.filter(|d| d != host)))
    }
}

/// The connection variables ([`CONN_VARS`]) set in a host's scope, templated.
fn conn_vars(scope: &Value) -> Result<IndexMap<String, Value>, ConnectError> {
    let mut vars = IndexMap::new();
    for name in CONN_VARS {
        match scope.get_attr(name) {
            Ok(v) if !v.is_undefined() && !v.is_none() => {
                vars.insert(name.to_string(), v);
            }
            Ok(_) => {}
            Err(source) => return Err(ConnectError::Var { name, source }),
        }
    }
    Ok(vars)
}

/// Defaults from the command line and ansible.cfg.
#[derive(Clone, Debug, Default)]
pub struct ConnDefaults {
    pub remote_user: Option<String>,
    pub private_key: Option<String>,
    /// `host_key_checking`; None = strict (the default).
    pub host_key_checking: Option<bool>,
    pub ssh_args: Option<String>,
    /// `--ssh-common-args` / `ssh_common_args`: for hosts without `ansible_ssh_common_args`.
    pub ssh_common_args: Option<String>,
    /// `--ssh-extra-args` / `ssh_extra_args`: for hosts without `ansible_ssh_extra_args`.
    pub ssh_extra_args: Option<String>,
    /// `remote_port`: for hosts without `ansible_port`.
    pub port: Option<u16>,
    /// `-c` / `transport`: for hosts without `ansible_connection` (ssh when None).
    pub connection: Option<String>,
    pub timeout: Option<u64>,
    pub password: Option<String>,
    /// The run's interruption (`RunOptions::cancel`, copied here by the runner): connections
    /// stop their commands in flight when it is cancelled.
    pub cancel: CancellationToken,
}

/// The connection variables of one host (templated), and who to log in as.
#[derive(Clone, Debug)]
pub struct ConnTarget {
    pub host: String,
    /// `ansible_connection` (local, ssh, smart, ...).
    pub kind: String,
    pub remote_user: Option<String>,
    /// Every `ansible_*` variable of the host, templated.
    pub vars: IndexMap<String, Value>,
    /// Where the connector tells how it reaches the host (`-vvv`); set by the pool.
    pub trace: Option<Trace>,
}

/// `-vvv`'s connection notes: (host, text), handed to the run's event sink.
#[derive(Clone)]
pub struct Trace(Arc<TraceFn>);

/// What a [`Trace`] calls: (host, text).
type TraceFn = dyn Fn(&str, String) + Send + Sync;

impl Trace {
    pub fn new(f: impl Fn(&str, String) + Send + Sync + 'static) -> Trace {
        Trace(Arc::new(f))
    }

    pub fn note(&self, host: &str, text: String) {
        (self.0)(host, text)
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

/// A task's connection that shows each script before sending it (`-vvvv`): the script, who
/// it runs as, how much stdin goes with it. `show` hands the text to the run's events, where
/// `no_log` censors it.
pub struct Shown<'a> {
    pub inner: &'a dyn Connection,
    pub show: &'a (dyn Fn(String) + Send + Sync),
}

impl Connection for Shown<'_> {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        let mut head = "SCRIPT".to_string();
        if let Some(b) = req.become_ {
            head.push_str(&format!(" (become {:?} {})", b.method, b.user));
        }
        if !req.stdin.is_empty() {
            head.push_str(&format!(" (stdin: {} bytes)", req.stdin.len()));
        }
        if let Some(t) = req.timeout {
            head.push_str(&format!(" (timeout {} s)", t.as_secs()));
        }
        (self.show)(format!("{}:\n{}", head, req.script));
        self.inner.exec(req)
    }
    fn wire_stats(&self) -> Option<WireStats> {
        self.inner.wire_stats()
    }
    fn file_memo(&self) -> Option<&FileMemo> {
        self.inner.file_memo()
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

/// Opens connections; the default picks local or SSH by `ansible_connection`.
pub trait Connector: Send + Sync {
    fn connect<'a>(
        &'a self,
        target: &'a ConnTarget,
        defaults: &'a ConnDefaults,
    ) -> BoxFuture<'a, Result<Arc<dyn Connection>, ConnError>>;
}

pub struct DefaultConnector;

impl Connector for DefaultConnector {
    fn connect<'a>(
        &'a self,
        target: &'a ConnTarget,
        defaults: &'a ConnDefaults,
    ) -> BoxFuture<'a, Result<Arc<dyn Connection>, ConnError>> {
        Box::pin(async move {
            let kind = match target.kind.as_str() {
                "" => defaults.connection.as_deref().unwrap_or(""),
                k => k,
            };
            match kind {
                "local" => {
                    if let Some(t) = &target.trace {
                        t.note(&target.host, "local connection (no SSH)".into());
                    }
                    Ok(Arc::new(LocalConnection::new(defaults.cancel.clone()))
                        as Arc<dyn Connection>)
                }
                "ssh" | "smart" | "paramiko" | "" => connect_ssh(target, defaults).await,
                other => Err(ConnError::Unreachable(format!(
                    "connection type {:?} is not supported (use ssh or local)",
                    other
                ))),
            }
        })
    }
}

async fn connect_ssh(
    target: &ConnTarget,
    defaults: &ConnDefaults,
) -> Result<Arc<dyn Connection>, ConnError> {
    use crate::connection::ssh;
    let ssh_defaults = ssh::SshDefaults {
        // Already resolved: ansible_user, then the remote_user keyword, then -u / ansible.cfg.
        user: target.remote_user.clone(),
        private_key: defaults.private_key.as_ref().map(std::path::PathBuf::from),
        host_key_checking: defaults.host_key_checking.unwrap_or(true),
        ssh_args: defaults.ssh_args.clone(),
        timeout: std::time::Duration::from_secs(defaults.timeout.unwrap_or(10)),
        ..Default::default()
    };
    let mut vars = target.vars.clone();
    if let Some(pw) = &defaults.password {
        vars.entry("ansible_password".to_string())
            .or_insert_with(|| Value::from(pw.as_str()));
    }
    // The command line's and ansible.cfg's defaults, below the host's own variables.
    let fallbacks = [
        ("ansible_ssh_common_args", defaults.ssh_common_args.clone()),
        ("ansible_ssh_extra_args", defaults.ssh_extra_args.clone()),
    ];
    for (name, value) in fallbacks {
        if let Some(v) = value {
            vars.entry(name.to_string())
                .or_insert_with(|| Value::from(v));
        }
    }
    if let Some(port) = defaults.port
        && !vars.contains_key("ansible_port")
        && !vars.contains_key("ansible_ssh_port")
    {
        vars.insert("ansible_port".to_string(), Value::from(port));
    }
    let mut ssh_target = ssh::from_vars(&target.host, &vars, &ssh_defaults)?;
    if let Some(t) = &target.trace {
        t.note(&target.host, ssh_target.describe());
        let notes = |hop: &ssh::SshTarget| -> ssh::Notes {
            let (t, host, label) = (t.clone(), target.host.clone(), hop.label());
            Arc::new(move |msg: String| t.note(&host, format!("{}: {}", label, msg)))
        };
        ssh_target.notes = Some(notes(&ssh_target));
        for hop in &mut ssh_target.proxy_jump {
            hop.notes = Some(notes(hop));
        }
    }
    // An interrupted run does not wait for a host still refusing or timing out.
    let conn = tokio::select! {
        conn = ssh::connect(&ssh_target) => conn?,
        () = defaults.cancel.cancelled() => return Err(ConnError::Interrupted),
    };
    let conn = conn.stopped_by(defaults.cancel.clone());
    Ok(Arc::new(conn) as Arc<dyn Connection>)
}

type Slot = Arc<OnceCell<Result<Arc<dyn Connection>, ConnError>>>;
/// host, connection kind, remote user.
type SlotKey = (String, String, Option<String>);

/// One connection per (host, connection kind, user) for the whole run.
pub struct Pool {
    connector: Box<dyn Connector>,
    defaults: ConnDefaults,
    slots: Mutex<HashMap<SlotKey, Slot>>,
    /// What closed connections cost, by host.
    wire: Mutex<HashMap<String, WireStats>>,
    /// Where connectors tell how they reach each host (`-vvv`).
    trace: Option<Trace>,
}

impl Pool {
    pub fn new(connector: Box<dyn Connector>, defaults: ConnDefaults) -> Self {
        Pool {
            connector,
            defaults,
            slots: Mutex::new(HashMap::new()),
            wire: Mutex::new(HashMap::new()),
            trace: None,
        }
    }

    /// Connections made from now on tell `trace` how they reach their host.
    pub fn with_trace(mut self, trace: Option<Trace>) -> Self {
        self.trace = trace;
        self
    }

    /// The connection of a task on a host (see [`TaskOnHost::target`]).
    pub async fn for_task(
        &self,
        t: &TaskOnHost<'_>,
        delegate_scope: impl FnOnce(&str) -> Value,
    ) -> Result<TaskConnection, ConnectError> {
        let (target, delegated_to) =
            t.target(delegate_scope, self.defaults.remote_user.as_ref())?;
        let conn = self.get(&target).await?;
        Ok(TaskConnection {
            conn,
            vars: target.vars,
            delegated_to,
        })
    }

    pub async fn get(&self, target: &ConnTarget) -> Result<Arc<dyn Connection>, ConnError> {
        let key = (
            target.host.clone(),
            target.kind.clone(),
            target.remote_user.clone(),
        );
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(key).or_default().clone()
        };
        slot.get_or_init(|| async {
            match &self.trace {
                Some(t) => {
                    let traced = ConnTarget {
                        trace: Some(t.clone()),
                        ..target.clone()
                    };
                    self.connector.connect(&traced, &self.defaults).await
                }
                None => self.connector.connect(target, &self.defaults).await,
            }
        })
        .await
        .clone()
    }

    /// Forgets a host's connections (`meta: reset_connection`, or after it became unreachable).
    pub async fn reset(&self, host: &str) {
        let removed: Vec<(SlotKey, Slot)> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<_> = slots.keys().filter(|k| k.0 == host).cloned().collect();
            keys.into_iter()
                .filter_map(|k| slots.remove(&k).map(|s| (k, s)))
                .collect()
        };
        self.close(removed).await;
    }

    pub async fn close_all(&self) {
        let all: Vec<(SlotKey, Slot)> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.drain().collect()
        };
        self.close(all).await;
    }

    async fn close(&self, closing: Vec<(SlotKey, Slot)>) {
        for (key, slot) in closing {
            if let Some(Ok(c)) = slot.get() {
                if let Some(w) = c.wire_stats() {
                    let mut wire = self.wire.lock().unwrap_or_else(|p| p.into_inner());
                    *wire.entry(key.0).or_default() += w;
                }
                c.close().await;
            }
        }
    }

    /// What each host's closed connections cost on the wire (hosts reached over SSH).
    pub fn wire_stats(&self, host: &str) -> Option<WireStats> {
        let wire = self.wire.lock().unwrap_or_else(|p| p.into_inner());
        wire.get(host).copied()
    }
}

/// Become settings from the command line and ansible.cfg `[privilege_escalation]`.
#[derive(Clone, Debug, Default)]
pub struct BecomeDefaults {
    pub become_: bool,
    pub user: Option<String>,
    pub method: Option<String>,
    pub password: Option<String>,
    pub flags: Option<String>,
}

/// Resolved become keywords of a task (already templated).
pub struct BecomeInput {
    pub become_: Option<bool>,
    pub user: Option<String>,
    pub method: Option<String>,
    pub flags: Option<String>,
}

/// A become method other than sudo and su.
#[derive(Debug, thiserror::Error)]
#[error("become_method {0:?} is not supported (use sudo or su)")]
pub struct UnsupportedBecome(pub String);

/// Combines task keywords, host variables (`ansible_become*`) and defaults.
pub fn become_spec(
    input: BecomeInput,
    host_vars: &IndexMap<String, Value>,
    defaults: &BecomeDefaults,
) -> Result<Option<BecomeSpec>, UnsupportedBecome> {
    let var_str = |names: &[&str]| {
        names.iter().find_map(|n| {
            host_vars
                .get(*n)
                .filter(|v| !v.is_undefined() && !v.is_none())
                .map(|v| v.to_string())
        })
    };
    let var_bool = host_vars
        .get("ansible_become")
        .filter(|v| !v.is_undefined())
        .map(|v| {
            v.is_true()
                || v.as_str()
                    .and_then(crate::vocab::rendered_boolean)
                    .unwrap_or(false)
        });
    let enabled = input.become_.or(var_bool).unwrap_or(defaults.become_);
    if !enabled {
        return Ok(None);
    }
    let user = input
        .user
        .or_else(|| var_str(&["ansible_become_user"]))
        .or_else(|| defaults.user.clone())
        .unwrap_or_else(|| "root".into());
    let method = input
        .method
        .or_else(|| var_str(&["ansible_become_method"]))
        .or_else(|| defaults.method.clone())
        .unwrap_or_else(|| "sudo".into());
    let method = match method.as_str() {
        "sudo" => BecomeMethod::Sudo,
        "su" => BecomeMethod::Su,
        other => return Err(UnsupportedBecome(other.to_string())),
    };
    let password = var_str(&[
        "ansible_become_password",
        "ansible_become_pass",
        "ansible_sudo_password",
        "ansible_sudo_pass",
    ])
    .or_else(|| defaults.password.clone());
    let flags = input
        .flags
        .or_else(|| var_str(&["ansible_become_flags"]))
        .or_else(|| defaults.flags.clone());
    Ok(Some(BecomeSpec {
        method,
        user,
        flags,
        password,
    }))
}
