//! `meta:` tasks: which hosts one applies to (its `when`, per host), and what each action does
//! to the hosts' states, the batch or the connections.
//!
//! Owns: end_play, end_batch, end_host, clear_facts, clear_host_errors, reset_connection,
//! noop, refresh_inventory. Must not know: how tasks run; `flush_handlers` runs handler tasks,
//! so the node runner does it (`nodes.rs`).

use super::ctx::{Flow, PlayCtx};
use super::eval::cond_holds;
use super::runner::Runner;
use super::scope::{ScopeExtras, scope};
use crate::plan::{Meta, Task};

/// The hosts of `active` a meta task applies to: those where its `when` holds (a `when` that
/// cannot be evaluated fails its host).
pub fn hosts(r: &Runner, ctx: &PlayCtx, task: &Task, active: &[String]) -> Vec<String> {
    let mut selected = vec![];
    for h in active {
        let scope = scope(r, ctx, h, ScopeExtras::task(task));
        match cond_holds(r.templar(), &task.kw.when, &scope) {
            Ok(true) => selected.push(h.clone()),
            Ok(false) => {}
            Err(e) => r.fail_host(h, "meta", &e),
        }
    }
    selected
}

/// Runs a meta action on `hosts` (end_play, end_batch and clear_host_errors act on the batch).
pub async fn run(r: &Runner, ctx: &PlayCtx, meta: Meta, hosts: &[String]) -> Flow {
    match meta {
        Meta::EndPlay | Meta::EndBatch => {
            for h in ctx.batch() {
                r.with_host(&h, |s| s.end_if_active());
            }
            Flow::EndBatch
        }
        Meta::EndHost => {
            for h in hosts {
                r.with_host(h, |s| s.end());
            }
            Flow::Continue
        }
        Meta::ClearFacts => {
            for h in hosts {
                r.with_host(h, |s| s.clear_facts());
            }
            Flow::Continue
        }
        Meta::ClearHostErrors => {
            for h in ctx.batch() {
                r.with_host(&h, |s| s.clear_failure());
            }
            ctx.refresh_play_hosts(r);
            Flow::Continue
        }
        Meta::ResetConnection => {
            for h in hosts {
                r.pool().reset(h).await;
            }
            Flow::Continue
        }
        // flush_handlers is the node runner's (it runs tasks).
        Meta::FlushHandlers | Meta::Noop | Meta::RefreshInventory => Flow::Continue,
    }
}
