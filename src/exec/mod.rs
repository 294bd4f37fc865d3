//! The executor: runs a loaded [`Playbook`] against an inventory. Plays run in batches
//! (`serial`); each batch runs its sections (pre_tasks, roles, tasks, post_tasks, with handler
//! flushes between) under a strategy: `linear` runs each task on every host before the next,
//! `free` lets each host run ahead. Hosts run concurrently up to `forks` on one tokio thread
//! (the work is waiting on hosts, not computing). A host's failure is its own: it leaves the
//! play, the others go on, unless `any_errors_fatal`/`max_fail_percentage` say otherwise.
//!
//! Knows modules only through the registry's [`DynModule`](crate::modules::DynModule),
//! connections only through [`Connector`], and prints nothing: it emits events.

pub mod connect;
mod loops;
mod play;
mod scope;
pub mod state;
pub mod tags;
mod task;

pub use connect::{BecomeDefaults, ConnDefaults, Connector, DefaultConnector};
pub use tags::TagFilter;

use crate::inventory::Inventory;
use crate::plan::{LoadOptions, Playbook, TaskNode};
use crate::report::{Event, HostStats, Sink};
use crate::vars::Templar;
use indexmap::IndexMap;
use minijinja::Value;
use state::{HostState, HostStatus};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

/// Everything `rmesos play` can say about how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub tags: TagFilter,
    pub limit: Option<String>,
    pub extra_vars: IndexMap<String, Value>,
    pub start_at_task: Option<String>,
    pub verbosity: u8,
    pub become_: BecomeDefaults,
    pub conn: ConnDefaults,
    pub load: LoadOptions,
    /// Write the names of failed hosts here at the end (`--limit @file` reads it back).
    pub retry_file: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 50,
            tags: TagFilter::default(),
            limit: None,
            extra_vars: IndexMap::new(),
            start_at_task: None,
            verbosity: 0,
            become_: BecomeDefaults::default(),
            conn: ConnDefaults::default(),
            load: LoadOptions::default(),
            retry_file: None,
        }
    }
}

/// How the run ended.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub stats: IndexMap<String, HostStats>,
    /// 0 all well, 2 a host failed, 4 a host was unreachable (ansible-playbook's codes).
    pub exit_code: i32,
}

pub(crate) struct Runner {
    pub inv: Arc<Inventory>,
    pub templar: Arc<Templar>,
    pub opts: RunOptions,
    pub sink: Mutex<Box<dyn Sink>>,
    pub pool: connect::Pool,
    pub hosts: Mutex<HashMap<String, HostState>>,
    /// Each host's inventory variables as one Value (built once).
    pub inv_vars: HashMap<String, Value>,
    pub groups: Value,
    pub extra_vars: Value,
    pub playbook_dir: PathBuf,
    pub play: RwLock<Option<Arc<play::PlayCtx>>>,
    pub start_at: Mutex<Option<String>>,
    pub forks: tokio::sync::Semaphore,
    pub include_cache: Mutex<HashMap<PathBuf, Arc<Vec<TaskNode>>>>,
    /// Host order of first appearance, for the recap.
    pub seen: Mutex<indexmap::IndexSet<String>>,
}

impl Runner {
    pub fn emit(&self, ev: Event) {
        let mut s = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        s.event(&ev);
    }

    pub fn with_host<R>(&self, host: &str, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let st = hosts.entry(host.to_string()).or_default();
        f(st)
    }

    pub fn status(&self, host: &str) -> HostStatus {
        self.with_host(host, |s| s.status())
    }
}

/// Runs every play of `pb`; events go to `sink`.
pub async fn run_playbook(
    pb: &Playbook,
    inventory: Arc<Inventory>,
    opts: RunOptions,
    sink: Box<dyn Sink>,
    connector: Box<dyn Connector>,
) -> RunSummary {
    let templar = Templar::new();
    let inv_vars = inventory
        .hosts
        .iter()
        .map(|(name, h)| {
            (
                name.clone(),
                Value::from_pairs(h.vars.iter().map(|(k, v)| (k.clone(), v.clone()))),
            )
        })
        .collect();
    let extra_vars = Value::from_pairs(opts.extra_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let forks = opts.forks.max(1);
    let runner = Arc::new(Runner {
        groups: inventory.groups_value(),
        inv: inventory,
        templar,
        pool: connect::Pool::new(connector, opts.conn.clone()),
        start_at: Mutex::new(opts.start_at_task.clone()),
        opts,
        sink: Mutex::new(sink),
        hosts: Mutex::new(HashMap::new()),
        inv_vars,
        extra_vars,
        playbook_dir: pb.dir.clone(),
        play: RwLock::new(None),
        forks: tokio::sync::Semaphore::new(forks),
        include_cache: Mutex::new(HashMap::new()),
        seen: Mutex::new(indexmap::IndexSet::new()),
    });
    runner.emit(Event::PlaybookStart {
        path: pb.path.display().to_string(),
    });
    for p in &pb.plays {
        if !play::run_play(&runner, p).await {
            break;
        }
    }
    runner.pool.close_all().await;
    let order: Vec<String> = runner
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    let mut stats = IndexMap::new();
    let mut wire = IndexMap::new();
    let mut failed_hosts = Vec::new();
    let (mut any_failed, mut any_unreachable) = (false, false);
    for h in order {
        let s = runner.with_host(&h, |s| s.stats().clone());
        if s.failed > 0 {
            any_failed = true;
            failed_hosts.push(h.clone());
        }
        if s.unreachable > 0 {
            any_unreachable = true;
            failed_hosts.push(h.clone());
        }
        if let Some(w) = runner.pool.wire_stats(&h) {
            wire.insert(h.clone(), w);
        }
        stats.insert(h, s);
    }
    runner.emit(Event::Recap {
        stats: stats.clone(),
        wire,
    });
    if let Some(path) = &runner.opts.retry_file
        && !failed_hosts.is_empty()
    {
        failed_hosts.dedup();
        // As Ansible does, the save path is created when missing.
        let written = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, failed_hosts.join("\n") + "\n"));
        if let Err(e) = written {
            runner.emit(Event::Warning(format!(
                "could not write retry file {}: {}",
                path.display(),
                e
            )));
        }
    }
    RunSummary {
        stats,
        exit_code: if any_failed {
            2
        } else if any_unreachable {
            4
        } else {
            0
        },
    }
}
