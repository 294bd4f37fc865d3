//! Node lists: tasks and blocks run in order on a set of hosts (each task on all of them before
//! the next), blocks with `rescue` and `always`, and the dispatch of a task node by what it is:
//! not selected (tags, --start-at-task), `meta`, an include (its groups' tasks run here: the
//! only recursion), or a module task. Handler flushes run here too, since handlers are tasks.
//!
//! Owns: the block rules (who enters, who is rescued, who runs `always`). Must not know: how a
//! module task runs on a host, or how an include is resolved.

use super::ctx::{Flow, PlayCtx};
use super::handlers::Flush;
use super::include::Include;
use super::meta;
use super::result::{Flags, ItemResult};
use super::runner::Runner;
use super::state::HostStatus;
use super::tags;
use super::task::{self, Step, after_step};
use crate::connection::BoxFuture;
use crate::plan::{Action, Block, Meta, Task, TaskNode};
use minijinja::Value;

/// Runs nodes on hosts (linear: each task on all hosts before the next).
pub fn run_nodes<'a>(
    r: &'a Runner,
    ctx: &'a PlayCtx,
    nodes: &'a [TaskNode],
    hosts: Vec<String>,
) -> BoxFuture<'a, Flow> {
    Box::pin(async move {
        for node in nodes {
            if !hosts.iter().any(|h| r.status(h) == HostStatus::Active) {
                break;
            }
            let flow = match node {
                TaskNode::Task(t) => run_task_node(r, ctx, t, &hosts, false).await,
                TaskNode::Block(b) => run_block(r, ctx, b, &hosts).await,
            };
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    })
}

/// Runs a task node on the active hosts of `hosts`, if it is selected.
pub fn run_task_node<'a>(
    r: &'a Runner,
    ctx: &'a PlayCtx,
    task: &'a Task,
    hosts: &'a [String],
    handler: bool,
) -> BoxFuture<'a, Flow> {
    Box::pin(async move {
        if r.interrupted() {
            return Flow::Abort;
        }
        if !tags::selected(&r.opts().tags, r.start_at(), task, handler) {
            return Flow::Continue;
        }
        let active = r.active(hosts);
        if active.is_empty() {
            return Flow::Continue;
        }
        // `--step`: tasks and includes are asked for (meta tasks are not).
        let unasked = matches!(task.action, Action::Meta(_));
        if !unasked && !task::step_confirmed(r, task) {
            return Flow::Continue;
        }
        match &task.action {
            Action::Meta(m) => run_meta(r, ctx, task, *m, &active).await,
            Action::IncludeTasks { .. } | Action::IncludeRole { .. } => {
                run_include(r, ctx, task, &active).await
            }
            Action::Module(_) => task::run_task(r, ctx, task, active, handler).await,
            Action::Unavailable(e) => task::run_unavailable(r, ctx, task, e, &active, handler),
        }
    })
}

/// Runs notified handlers, in definition order, on the hosts that notified them. A failed host
/// that `force_handlers` runs them on is failed again after each.
pub async fn flush_handlers(r: &Runner, ctx: &PlayCtx, hosts: &[String]) -> Flow {
    let mut flush = Flush::new(ctx, hosts);
    while let Some((handler, targets)) = flush.next(r) {
        let forced = r.with_status(&targets, HostStatus::Failed);
        for h in &forced {
            r.with_host(h, |s| s.clear_failure());
        }
        let flow = run_task_node(r, ctx, &handler, &targets, true).await;
        for h in &forced {
            r.with_host(h, |s| s.restore_failure());
        }
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
}

/// meta honours `when` per host; flush_handlers, end_play, end_batch and clear_host_errors then
/// act on the whole batch.
async fn run_meta(r: &Runner, ctx: &PlayCtx, task: &Task, m: Meta, active: &[String]) -> Flow {
    let hosts = meta::hosts(r, ctx, task, active);
    // As Ansible: a meta task shows a skipped line where its `when` is false (not counted).
    let skipped: Vec<&String> = active
        .iter()
        .filter(|h| !hosts.contains(h) && r.status(h) == HostStatus::Active)
        .collect();
    if !skipped.is_empty() {
        task::task_start(r, task, false);
        for h in skipped {
            r.emit(ItemResult::skipped(&task.kw.when).event(h, None, Flags::default()));
        }
    }
    if hosts.is_empty() {
        return Flow::Continue;
    }
    match m {
        Meta::FlushHandlers => flush_handlers(r, ctx, &ctx.batch()).await,
        other => meta::run(r, ctx, other, &hosts).await,
    }
}

/// Runs each group of an include on its hosts, the include's loop item as a variable layer.
async fn run_include(r: &Runner, ctx: &PlayCtx, task: &Task, active: &[String]) -> Flow {
    let Some(include) = Include::resolve(r, ctx, task, active) else {
        return Flow::Continue;
    };
    include.report(r);
    for group in &include.groups {
        let nodes = match include.load(r, ctx, group) {
            Ok(n) => n,
            Err(e) => {
                for h in &group.hosts {
                    r.fail_host(h, "include", &e);
                }
                continue;
            }
        };
        group.enter(r);
        let flow = run_nodes(r, ctx, &nodes, group.hosts.clone()).await;
        group.leave(r);
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
}

/// The hosts a section owes a rescue or always: while the guard holds, a host that fails is
/// not out of the play (see `HostState::guard`). Released once, by hand or when dropped.
pub struct Guard<'a> {
    r: &'a Runner,
    hosts: Vec<String>,
}

impl<'a> Guard<'a> {
    /// Guards `hosts` when `on`; a guard that is not on holds nothing.
    pub fn new(r: &'a Runner, hosts: &[String], on: bool) -> Self {
        let hosts = if on { hosts.to_vec() } else { vec![] };
        for h in &hosts {
            r.with_host(h, |s| s.guard(true));
        }
        Guard { r, hosts }
    }

    pub fn release(&mut self) {
        for h in self.hosts.drain(..) {
            self.r.with_host(&h, |s| s.guard(false));
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// A block on the hosts that enter it (the active ones): failed hosts run `rescue`, every
/// host that entered runs `always`. Until those ran, the hosts that failed are not out of the
/// play, so a block whose every host fails still rescues them; whether every host has failed
/// is checked when the block is over.
async fn run_block(r: &Runner, ctx: &PlayCtx, b: &Block, hosts: &[String]) -> Flow {
    let entered = r.active(hosts);
    let owes = !b.rescue.is_empty() || !b.always.is_empty();
    let mut guard = Guard::new(r, &entered, owes);
    let flow = run_nodes(r, ctx, &b.block, entered.clone()).await;
    if flow == Flow::Abort {
        return flow;
    }
    if !b.rescue.is_empty() && flow == Flow::Continue {
        if b.always.is_empty() {
            guard.release();
        }
        let rf = run_rescue(r, ctx, b, &entered).await;
        if rf == Flow::Abort {
            return rf;
        }
    }
    guard.release();
    if !b.always.is_empty() {
        let af = run_always(r, ctx, b, &entered).await;
        if af != Flow::Continue {
            return af;
        }
    }
    if owes && flow == Flow::Continue {
        let any_errors_fatal = b.kw.any_errors_fatal.unwrap_or(ctx.any_errors_fatal);
        return after_step(
            r,
            ctx,
            Step::Recovered {
                ran_on: &entered,
                any_errors_fatal,
            },
        );
    }
    flow
}

/// The hosts that failed in the block are rescued and run `rescue`, which sees what failed as
/// `ansible_failed_task` / `ansible_failed_result`.
async fn run_rescue(r: &Runner, ctx: &PlayCtx, b: &Block, entered: &[String]) -> Flow {
    let failed = r.with_status(entered, HostStatus::Failed);
    if failed.is_empty() {
        return Flow::Continue;
    }
    for h in &failed {
        r.with_host(h, |s| s.rescue());
    }
    ctx.refresh_play_hosts(r);
    for h in &failed {
        r.with_host(h, |s| {
            let (failed_task, failed_result) = s.last_failure.clone().unwrap_or_default();
            s.include_stack.push(Value::from_pairs([
                ("ansible_failed_task".to_string(), failed_task),
                ("ansible_failed_result".to_string(), failed_result),
            ]));
        });
    }
    let flow = run_nodes(r, ctx, &b.rescue, failed.clone()).await;
    for h in &failed {
        r.with_host(h, |s| {
            s.include_stack.pop();
        });
    }
    flow
}

/// Every host that entered runs `always`, a host still failed too (it is failed again after).
async fn run_always(r: &Runner, ctx: &PlayCtx, b: &Block, entered: &[String]) -> Flow {
    let still_failed = r.with_status(entered, HostStatus::Failed);
    for h in &still_failed {
        r.with_host(h, |s| s.clear_failure());
    }
    let runnable = r.active(entered);
    let flow = run_nodes(r, ctx, &b.always, runnable).await;
    for h in &still_failed {
        r.with_host(h, |s| s.restore_failure());
    }
    ctx.refresh_play_hosts(r);
    flow
}
