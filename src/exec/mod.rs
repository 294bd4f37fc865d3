//! The executor: runs a loaded [`Playbook`] against an inventory. Plays run in batches
//! (`serial`); each batch runs its sections (pre_tasks, roles, tasks, post_tasks, with handler
//! flushes between) under a strategy: `linear` runs each task on every host before the next,
//! `free` lets each host run ahead. Hosts run concurrently up to `forks` on one tokio thread
//! (the work is waiting on hosts, not computing). A host's failure is its own: it leaves the
//! play, the others go on, unless `any_errors_fatal`/`max_fail_percentage` say otherwise.
//!
//! Knows modules only through the registry's [`DynModule`](crate::modules::DynModule),
//! connections only through [`Connector`], and prints nothing: it emits events.
//!
//! # Layers
//!
//! The files, top to bottom. A file imports only files below it (the `layers` test checks
//! it); this entry imports any and re-exports the public API.
//!
//! 1. `play.rs`: one play: its hosts, its context (`hostvars` resolving through it), batches.
//! 2. `batch.rs`: one batch: facts, vars_files, sections under the strategy, handler flushes.
//! 3. `nodes.rs`: node lists and blocks (rescue, always); a task node dispatched to meta, an
//!    include or a module task; handler flushes. The only recursion (includes, handlers).
//! 4. `include.rs`: an include resolved into groups of hosts, each group's tasks loaded.
//! 5. `meta.rs`: which hosts a meta task applies to, and what each action does.
//! 6. `task.rs`: one module task over its hosts: run_once, forks, progress, and the one check
//!    after a step (any_errors_fatal, max_fail_percentage, every host failed).
//! 7. `host_task.rs`: one task on one host: items, `when`, the module call with
//!    until/retries, changed_when/failed_when, what the results imply for the host.
//! 8. `handlers.rs`: notify lookup and the order of a flush.
//! 9. `result.rs`: an item's result, loop aggregation, the registered value, result events.
//! 10. `loops.rs`: a task's loop items (`loop:`, `with_<lookup>`) and labels.
//! 11. `scope.rs`: the variables of a task on a host, given the play context.
//! 12. `ctx.rs`: the play context ([`PlayCtx`](ctx::PlayCtx)) and `Flow`.
//! 13. `runner.rs`: the run's shared state and the hosts' states.
//! 14. `options.rs`: [`RunOptions`].
//! 15. `connect.rs`: all connection resolution (delegation, connection variables, the pool,
//!     become).
//! 16. `state.rs`: a host's state, its transitions and the counters they imply.
//! 17. `tags.rs`: which tasks are selected (tags, --start-at-task).
//! 18. `eval.rs`: keyword values and conditions over a scope; the templating modules see.

mod batch;
pub mod connect;
mod ctx;
mod eval;
mod handlers;
mod host_task;
mod include;
mod loops;
mod meta;
mod nodes;
mod options;
mod play;
mod result;
mod runner;
mod scope;
pub mod state;
pub mod tags;
mod task;

pub use crate::connection::CancellationToken;
/// SIGKILLs the process groups of the local commands still running (a second interrupt, on
/// the way out without waiting).
pub use crate::connection::local::kill_running_groups as kill_local_commands;
pub use connect::{BecomeDefaults, ConnDefaults, ConnTarget, Connector, DefaultConnector};
pub use options::{RunOptions, StepGate};
pub use tags::TagFilter;

use crate::inventory::Inventory;
use crate::plan::Playbook;
use crate::report::{Event, HostStats, Sink};
use indexmap::IndexMap;
use runner::Runner;
use std::path::Path;
use std::sync::Arc;

/// How the run ended.
#[derive(Debug, Default)]
pub struct RunSummary {
    pub stats: IndexMap<String, HostStats>,
    /// 0 all well, 2 a host failed, 4 a host was unreachable (ansible-playbook's codes).
    pub exit_code: i32,
}

/// Runs every play of `pb`; events go to `sink`.
pub async fn run_playbook(
    pb: &Playbook,
    inventory: Arc<Inventory>,
    opts: RunOptions,
    sink: Box<dyn Sink>,
    connector: Box<dyn Connector>,
) -> RunSummary {
    let runner = Runner::new(pb.dir.clone(), inventory, opts, sink, connector);
    runner.emit(Event::PlaybookStart {
        path: pb.path.display().to_string(),
    });
    for p in &pb.plays {
        if runner.interrupted() || !play::run_play(&runner, p).await {
            break;
        }
    }
    if runner.interrupted() {
        runner.emit(Event::PlayAborted {
            reason: interruption(&runner.stopped()),
        });
    }
    runner.pool().close_all().await;
    recap(&runner)
}

/// What an interruption stopped, for the run's last words before the recap.
fn interruption(stopped: &[(String, Vec<String>)]) -> String {
    if stopped.is_empty() {
        return "interrupted: no command had to be stopped; no task started after".into();
    }
    let what: Vec<String> = stopped
        .iter()
        .map(|(task, hosts)| format!("'{}' on {}", task, hosts.join(", ")))
        .collect();
    format!(
        "interrupted: stopped {} (their commands' process groups on the hosts); no task started after",
        what.join("; ")
    )
}

/// The recap event, the retry file and the exit code.
fn recap(r: &Runner) -> RunSummary {
    let mut stats = IndexMap::new();
    let mut wire = IndexMap::new();
    let mut failed_hosts = Vec::new();
    let (mut any_failed, mut any_unreachable) = (false, false);
    for h in r.seen_hosts() {
        let s = r.with_host(&h, |s| s.stats().clone());
        // As Ansible's recap: only hosts something was counted for (a later batch that never
        // ran, hosts a run_once failure ended, are not listed).
        if s.is_empty() {
            continue;
        }
        if s.failed > 0 {
            any_failed = true;
            failed_hosts.push(h.clone());
        }
        if s.unreachable > 0 {
            any_unreachable = true;
            failed_hosts.push(h.clone());
        }
        if let Some(w) = r.pool().wire_stats(&h) {
            wire.insert(h.clone(), w);
        }
        stats.insert(h, s);
    }
    r.emit(Event::Recap {
        stats: stats.clone(),
        wire,
    });
    if let Some(path) = &r.opts().retry_file
        && !failed_hosts.is_empty()
    {
        failed_hosts.dedup();
        write_retry_file(r, path, &failed_hosts);
    }
    let exit_code = if any_failed {
        2
    } else if any_unreachable {
        4
    } else {
        0
    };
    RunSummary { stats, exit_code }
}

/// As Ansible does, the save path is created when missing; failing to write is a warning.
fn write_retry_file(r: &Runner, path: &Path, hosts: &[String]) {
    let written = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, hosts.join("\n") + "\n"));
    if let Err(e) = written {
        r.emit(Event::Warning(format!(
            "could not write retry file {}: {}",
            path.display(),
            e
        )));
    }
}

#[cfg(test)]
mod layers {
    /// exec's files, top to bottom, as the module doc lists them.
    const ORDER: &[&str] = &[
        "play",
        "batch",
        "nodes",
        "include",
        "meta",
        "task",
        "host_task",
        "handlers",
        "result",
        "loops",
        "scope",
        "ctx",
        "runner",
        "options",
        "connect",
        "state",
        "tags",
        "eval",
    ];

    fn source(name: &str) -> String {
        let path = format!("{}/src/exec/{}.rs", env!("CARGO_MANIFEST_DIR"), name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Tests may reach anywhere.
        text.split("#[cfg(test)]").next().unwrap_or("").to_string()
    }

    #[test]
    fn every_file_is_in_the_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/exec");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("src/exec")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .filter_map(|f| f.strip_suffix(".rs").map(str::to_string))
            .filter(|f| f != "mod")
            .collect();
        files.sort();
        let mut listed: Vec<String> = ORDER.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }

    #[test]
    fn files_import_only_files_below_them() {
        let uses = regex::Regex::new(r"super::(\w+)").expect("regex");
        for (i, name) in ORDER.iter().enumerate() {
            let code = source(name);
            assert!(
                !code.contains("super::{") && !code.contains("crate::exec"),
                "exec/{name}.rs: import exec's files as `super::NAME`, one path each"
            );
            for m in uses.captures_iter(&code) {
                let used = &m[1];
                let j = ORDER.iter().position(|f| *f == used);
                assert!(
                    j.is_some_and(|j| j > i),
                    "exec/{name}.rs imports exec/{used}.rs, which is not below it"
                );
            }
        }
    }
}
