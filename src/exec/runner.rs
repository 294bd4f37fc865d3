//! The run's shared state: what every play, task and host of one `run_playbook` call reads
//! (inventory, options, templar, connection pool) and the per-host states it changes.
//!
//! Owns: [`Runner`] (fields private, reached through methods), the event sink, host states by
//! name, the include cache, the order hosts were first seen in. Must not know: plays (the play
//! context is passed to whoever needs it), tasks' rules or modules.

use super::connect::{ConnDefaults, Connector, Pool, Trace};
use super::options::RunOptions;
use super::state::{HostState, HostStatus};
use super::tags::StartAt;
use crate::inventory::Inventory;
use crate::plan::{Task, TaskNode};
use crate::report::{Event, HostResult, Sink, Status};
use crate::vars::Templar;
use indexmap::IndexSet;
use minijinja::Value;
use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The one door between the executor and the sink: every event is censored (`no_log`) here.
fn emit_to(sink: &Mutex<Box<dyn Sink>>, ev: Event) {
    let ev = ev.censored();
    let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
    s.event(&ev);
}

/// One run of a playbook: shared by every play, task and host of it.
pub(crate) struct Runner {
    /// The inventory the run targets.
    inv: Arc<Inventory>,
    /// The one template engine of the run.
    templar: Arc<Templar>,
    /// What the caller asked for.
    opts: RunOptions,
    /// Where events go (shared with the connection pool's `-vvv` trace).
    sink: Arc<Mutex<Box<dyn Sink>>>,
    /// One connection per host, connection kind and user for the whole run.
    pool: Pool,
    /// Every host's state, by name (created on first use).
    hosts: Mutex<HashMap<String, HostState>>,
    /// Each host's inventory variables as one Value (built once).
    inv_vars: HashMap<String, Value>,
    /// `groups`: every group's hosts.
    groups: Value,
    /// `-e` variables as one Value (the highest layer of every scope).
    extra_vars: Value,
    /// The directory of the playbook (`playbook_dir`, relative vars_files and globs).
    playbook_dir: PathBuf,
    /// `--start-at-task`, until the task is met.
    start_at: StartAt,
    /// `--forks`: how many hosts run a task at once.
    forks: Semaphore,
    /// Task files included at run time, by path, loaded once.
    include_cache: Mutex<HashMap<PathBuf, Arc<Vec<TaskNode>>>>,
    /// Host order of first appearance, for the recap.
    seen: Mutex<IndexSet<String>>,
    /// Tasks whose commands the interruption stopped, and on which hosts, in order.
    stopped: Mutex<Vec<(String, Vec<String>)>>,
}

impl Runner {
    pub fn new(
        playbook_dir: PathBuf,
        inv: Arc<Inventory>,
        opts: RunOptions,
        sink: Box<dyn Sink>,
        connector: Box<dyn Connector>,
    ) -> Arc<Runner> {
        let inv_vars = inv
            .hosts
            .iter()
            .map(|(name, h)| {
                let vars = h.vars.iter().map(|(k, v)| (k.clone(), v.clone()));
                (name.clone(), Value::from_pairs(vars))
            })
            .collect();
        let extra_vars =
            Value::from_pairs(opts.extra_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        let sink = Arc::new(Mutex::new(sink));
        let trace = (opts.verbosity >= 3).then(|| {
            let sink = sink.clone();
            Trace::new(move |host: &str, msg: String| {
                let ev = Event::Verbose {
                    host: Some(host.to_string()),
                    level: 3,
                    msg,
                    no_log: false,
                };
                emit_to(&sink, ev);
            })
        });
        Arc::new(Runner {
            groups: inv.groups_value(),
            inv,
            templar: Templar::new(),
            pool: Pool::new(
                connector,
                ConnDefaults {
                    cancel: opts.cancel.clone(),
                    ..opts.conn.clone()
                },
            )
            .with_trace(trace),
            start_at: StartAt::new(opts.start_at_task.clone()),
            forks: Semaphore::new(opts.forks.max(1)),
            opts,
            sink,
            hosts: Mutex::new(HashMap::new()),
            inv_vars,
            extra_vars,
            playbook_dir,
            include_cache: Mutex::new(HashMap::new()),
            seen: Mutex::new(IndexSet::new()),
            stopped: Mutex::new(Vec::new()),
        })
    }

    pub fn inv(&self) -> &Inventory {
        &self.inv
    }
    pub fn templar(&self) -> &Arc<Templar> {
        &self.templar
    }
    pub fn opts(&self) -> &RunOptions {
        &self.opts
    }
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
    pub fn groups(&self) -> &Value {
        &self.groups
    }
    pub fn extra_vars(&self) -> &Value {
        &self.extra_vars
    }
    pub fn playbook_dir(&self) -> &Path {
        &self.playbook_dir
    }
    pub fn start_at(&self) -> &StartAt {
        &self.start_at
    }
    pub fn forks(&self) -> &Semaphore {
        &self.forks
    }

    /// Whether the run was interrupted ([`RunOptions::cancel`]): no task starts after.
    pub fn interrupted(&self) -> bool {
        self.opts.cancel.is_cancelled()
    }

    /// Sleeps for `d` (a loop's pause, a retry's delay), less when the run is interrupted.
    pub async fn pause(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.opts.cancel.cancelled() => {}
        }
    }

    /// Notes that the interruption stopped `task` on `host`.
    pub fn note_stopped(&self, task: &str, host: &str) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        match stopped.iter_mut().find(|(t, _)| t == task) {
            Some((_, hosts)) => hosts.push(host.to_string()),
            None => stopped.push((task.to_string(), vec![host.to_string()])),
        }
    }

    /// What the interruption stopped: each task with its hosts.
    pub fn stopped(&self) -> Vec<(String, Vec<String>)> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands an event to the sink, censored (`no_log`) first: nothing reaches output otherwise.
    pub fn emit(&self, ev: Event) {
        emit_to(&self.sink, ev);
    }

    pub fn with_host<R>(&self, host: &str, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let st = hosts.entry(host.to_string()).or_default();
        f(st)
    }

    pub fn status(&self, host: &str) -> HostStatus {
        self.with_host(host, |s| s.status())
    }

    /// The hosts of `hosts` still active, in order.
    pub fn active(&self, hosts: &[String]) -> Vec<String> {
        self.with_status(hosts, HostStatus::Active)
    }

    /// The hosts of `hosts` whose status is `status`, in order.
    pub fn with_status(&self, hosts: &[String], status: HostStatus) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| self.status(h) == status)
            .cloned()
            .collect()
    }

    /// Marks a host failed outside a task's normal path (vars_files, includes, meta).
    pub fn fail_host(&self, host: &str, what: &str, msg: &dyn Display) {
        self.with_host(host, |s| s.fail());
        let msg = format!("{}: {}", what, msg);
        self.emit(Event::HostResult(Box::new(HostResult {
            host: host.to_string(),
            delegated_to: None,
            status: Status::Failed,
            item: None,
            msg: Some(msg.clone()),
            result: Value::from_pairs([("msg".to_string(), Value::from(msg))]),
            diff: vec![],
            ignored: false,
            no_log: false,
            loop_summary: false,
            duration: Duration::ZERO,
        })));
    }

    /// A host's inventory variables (an implicit host's, e.g. localhost, when not listed).
    pub fn host_vars(&self, host: &str) -> Value {
        self.inv_vars
            .get(host)
            .cloned()
            .unwrap_or_else(|| self.implicit_host_vars(host))
    }

    /// Variables of a host that is not in the inventory (implicit localhost).
    pub fn implicit_host_vars(&self, host: &str) -> Value {
        match self.inv.host(host) {
            Some(h) => Value::from_pairs(h.vars.iter().map(|(k, v)| (k.clone(), v.clone()))),
            None => Value::from(()),
        }
    }

    /// Where a task looks for files: its role, its own file's directory, the playbook's.
    pub fn search_paths(&self, task: &Task) -> Vec<PathBuf> {
        let mut v = vec![];
        if let Some(role) = &task.role {
            v.push(role.path.clone());
        }
        if let Some(dir) = Path::new(&*task.span.file).parent() {
            v.push(dir.to_path_buf());
        }
        if !v.contains(&self.playbook_dir) {
            v.push(self.playbook_dir.clone());
        }
        v
    }

    /// Remembers hosts for the recap, in the order they first appear.
    pub fn see(&self, hosts: &[String]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for h in hosts {
            seen.insert(h.clone());
        }
    }

    pub fn seen_host(&self, host: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(host)
    }

    /// Every host the run has seen, in order of first appearance.
    pub fn seen_hosts(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().cloned().collect()
    }

    /// The tasks of a file included at run time: loaded by `load` the first time, then cached.
    pub fn include_cached<E>(
        &self,
        path: &Path,
        load: impl FnOnce() -> Result<Vec<TaskNode>, E>,
    ) -> Result<Arc<Vec<TaskNode>>, E> {
        let key = path.to_path_buf();
        let cache = || self.include_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cache().get(&key) {
            return Ok(t.clone());
        }
        let nodes = Arc::new(load()?);
        cache().insert(key, nodes.clone());
        Ok(nodes)
    }
}
