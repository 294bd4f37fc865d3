//! One module task over its hosts: the task's start and timing events, `run_once`, hosts run
//! concurrently up to `forks` with a progress event every second, and the one check after
//! a step ([`after_step`]): `any_errors_fatal`, `max_fail_percentage`, "every host has failed".
//!
//! Owns: those play-level consequences of a task. Must not know: what a task does on a host
//! (`host_task.rs`), tag selection, meta, includes or blocks (`nodes.rs` dispatches).

use super::ctx::{Flow, PlayCtx};
use super::eval::{cond_holds, tmpl_bool};
use super::host_task::HostTask;
use super::result::{Flags, ItemResult};
use super::runner::Runner;
use super::scope::{ScopeExtras, scope};
use super::state::{Forgive, HostStatus};
use crate::error::LoadError;
use crate::plan::Task;
use crate::report::{Event, Status};
use minijinja::Value;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The event a task's results follow (module tasks, includes, unavailable modules).
pub fn task_start(r: &Runner, task: &Task, handler: bool) {
    r.emit(Event::TaskStart {
        name: task.display_name(),
        handler,
        location: task.span.to_string(),
    });
}

/// Runs a module task on `active` (the hosts still active, at least one).
pub async fn run_task(
    r: &Runner,
    ctx: &PlayCtx,
    task: &Task,
    mut active: Vec<String>,
    handler: bool,
) -> Flow {
    task_start(r, task, handler);
    let started = Instant::now();
    let first = scope(r, ctx, &active[0], ScopeExtras::default());
    let run_once = tmpl_bool(r.templar(), &task.kw.run_once, &first)
        .ok()
        .flatten()
        .unwrap_or(false);
    let all_hosts = active.clone();
    if run_once {
        active.truncate(1);
    }
    let results = run_hosts(r, ctx, task, &active).await;
    if run_once && let Some((_, reg)) = results.first() {
        share_run_once(r, task, reg, &all_hosts[1..]);
    }
    r.emit(Event::TaskTiming {
        name: task.display_name(),
        role: task.role.as_ref().map(|role| role.name.clone()),
        elapsed: started.elapsed(),
    });
    if r.interrupted() {
        return Flow::Abort;
    }
    // As Ansible's linear strategy: a run_once task's failure is fatal to the batch (its one
    // result stands for every host), unless errors are ignored.
    let ignored = tmpl_bool(r.templar(), &task.kw.ignore_errors, &first)
        .ok()
        .flatten()
        .unwrap_or(false);
    let any_errors_fatal =
        task.kw.any_errors_fatal.unwrap_or(ctx.any_errors_fatal) || (run_once && !ignored);
    after_step(
        r,
        ctx,
        Step::Task {
            ran_on: &active,
            any_errors_fatal,
        },
    )
}

/// `--step`: whether the operator lets the task run (always, without `--step`). The question
/// blocks on the terminal, so the worker steps aside for the runtime while it waits.
pub fn step_confirmed(r: &Runner, task: &Task) -> bool {
    let Some(gate) = &r.opts().step else {
        return true;
    };
    let name = task.display_name();
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(|| (gate.0)(&name))
    } else {
        (gate.0)(&name)
    }
}

/// A task whose module cannot run here: skipped (and counted) where its `when` is false, as
/// any task; where it holds, the host fails with `e` (file:line:col, what to write instead).
pub fn run_unavailable(
    r: &Runner,
    ctx: &PlayCtx,
    task: &Task,
    e: &LoadError,
    active: &[String],
    handler: bool,
) -> Flow {
    task_start(r, task, handler);
    for h in active {
        let scope = scope(r, ctx, h, ScopeExtras::task(task));
        match cond_holds(r.templar(), &task.kw.when, &scope) {
            Ok(true) => r.fail_host(h, "unavailable", e),
            Ok(false) => {
                let skipped = ItemResult::skipped(&task.kw.when);
                r.emit(skipped.event(h, None, Flags::default()));
                r.with_host(h, |s| {
                    s.record(Status::Skipped, Forgive::default(), false, Default::default)
                });
            }
            Err(err) => r.fail_host(h, "when", &err),
        }
    }
    let any_errors_fatal = task.kw.any_errors_fatal.unwrap_or(ctx.any_errors_fatal);
    let step = Step::Task {
        ran_on: active,
        any_errors_fatal,
    };
    after_step(r, ctx, step)
}

/// The one result of a run_once task stands for every host: register, and the facts it set
/// (set_fact's at its precedence, a module's as facts), land on the others too, as in Ansible.
fn share_run_once(r: &Runner, task: &Task, reg: &Value, others: &[String]) {
    let facts: Vec<(String, Value)> = reg
        .get_attr("ansible_facts")
        .ok()
        .and_then(|f| {
            let keys = f.try_iter().ok()?;
            Some(
                keys.filter_map(|k| Some((k.as_str()?.to_string(), f.get_item(&k).ok()?)))
                    .collect(),
            )
        })
        .unwrap_or_default();
    let set_fact = task.action_name.rsplit('.').next() == Some("set_fact");
    for h in others {
        r.with_host(h, |s| {
            if let Some(name) = &task.register {
                s.set_facts.set(name, reg.clone());
            }
            if set_fact {
                s.set_facts.extend(facts.clone());
            } else if !facts.is_empty() {
                s.add_facts(facts.iter().cloned().collect());
            }
        });
    }
}

/// Runs the task on each host, `forks` at a time; the registered value of each.
async fn run_hosts(
    r: &Runner,
    ctx: &PlayCtx,
    task: &Task,
    hosts: &[String],
) -> Vec<(String, Value)> {
    let total = hosts.len();
    let started = Instant::now();
    let done = Mutex::new(HashSet::<String>::new());
    let futs = hosts.iter().map(|h| {
        let done = &done;
        async move {
            let _permit = r.forks().acquire().await;
            // Interrupted while this host waited for a fork: it does not start.
            let res = if r.interrupted() {
                Value::UNDEFINED
            } else {
                HostTask::new(r, ctx, task, h).run().await
            };
            done.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(h.clone());
            (h.clone(), res)
        }
    });
    let mut all = std::pin::pin!(futures::future::join_all(futs));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            res = &mut all => break res,
            _ = tick.tick() => {
                let d = done.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let waiting: Vec<String> = hosts.iter().filter(|h| !d.contains(*h)).cloned().collect();
                let elapsed = started.elapsed();
                r.emit(Event::Progress { task: task.display_name(), done: d.len(), total, waiting, elapsed });
            }
        }
    }
}

/// A step that may have failed hosts, for [`after_step`].
pub enum Step<'a> {
    /// A task ran on these hosts, with `any_errors_fatal` as the task resolves it.
    Task {
        ran_on: &'a [String],
        any_errors_fatal: bool,
    },
    /// A section that owed its failed hosts a rescue or always (a block, or a section under
    /// `force_handlers`) is over: its hosts still failed are out now, and fatal under
    /// `any_errors_fatal`.
    Recovered {
        ran_on: &'a [String],
        any_errors_fatal: bool,
    },
    /// The play's vars_files were loaded: only `max_fail_percentage` applies.
    VarsFiles,
}

/// After a step: `any_errors_fatal` (a host the step ran on failed: the batch ends and the
/// playbook stops), `max_fail_percentage` over the batch, and "every host has failed". A failed
/// host that a block still owes a rescue or always is not out yet (Ansible checks "no hosts
/// left" only after those had their chance).
pub fn after_step(r: &Runner, ctx: &PlayCtx, step: Step<'_>) -> Flow {
    let out = |h: &String| r.with_host(h, |s| s.is_out());
    if let Step::Task {
        ran_on,
        any_errors_fatal: true,
    }
    | Step::Recovered {
        ran_on,
        any_errors_fatal: true,
    } = step
    {
        // A failure that a rescue or always is still owed is not fatal yet: the other hosts
        // in such a block go through it too, as Ansible marks them failed with it.
        let newly_failed: Vec<String> = ran_on.iter().filter(|h| out(h)).cloned().collect();
        let owed = ran_on
            .iter()
            .any(|h| r.status(h) == HostStatus::Failed && !out(h));
        if owed && newly_failed.is_empty() {
            for h in ran_on {
                r.with_host(h, |s| s.fail_quietly());
            }
        }
        if !newly_failed.is_empty() {
            for h in &ctx.batch() {
                r.with_host(h, |s| s.end_if_active());
            }
            r.emit(Event::PlayAborted {
                reason: format!("any_errors_fatal: {} failed", newly_failed.join(", ")),
            });
            return Flow::Abort;
        }
    }
    ctx.refresh_play_hosts(r);
    let batch = ctx.batch();
    if let Some(pct) = ctx.max_fail_percentage {
        let failed = batch.iter().filter(|h| out(h)).count();
        if !batch.is_empty() && (failed as f64) * 100.0 / (batch.len() as f64) > pct {
            r.emit(Event::PlayAborted {
                reason: format!(
                    "max_fail_percentage {}% exceeded ({} of {} hosts failed)",
                    pct,
                    failed,
                    batch.len()
                ),
            });
            return Flow::Abort;
        }
    }
    if !matches!(step, Step::VarsFiles) && batch.iter().all(out) {
        r.emit(Event::PlayAborted {
            reason: "every host has failed".into(),
        });
        return Flow::Abort;
    }
    Flow::Continue
}
