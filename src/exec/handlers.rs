//! Handlers: what a changed task's `notify` names ([`notify`]), and which handler runs next on
//! which hosts when handlers are flushed ([`Flush`]): notified handlers in definition order, on
//! the hosts that notified them (and, under `force_handlers`, failed ones), in rounds so that a
//! handler may notify another.
//!
//! Owns: notify lookup (a role's handlers also answer to `role : name`) and the flush order.
//! Must not know: how a handler task runs (the caller runs what [`Flush::next`] gives it).

use super::ctx::PlayCtx;
use super::runner::Runner;
use super::scope::{ScopeExtras, scope};
use super::state::HostStatus;
use crate::plan::{Handler, Task};
use crate::report::Event;
use minijinja::Value;
use std::sync::Arc;

/// How many times handlers are gone through at most in one flush.
const ROUNDS: usize = 8;

/// Records the handlers a changed task notifies on `host` (names are templated).
pub fn notify(r: &Runner, ctx: &PlayCtx, task: &Task, host: &str) {
    let scope = scope(r, ctx, host, ScopeExtras::task(task));
    for n in &task.notify {
        let name = r
            .templar()
            .template_value(&Value::from(n.as_str()), &scope)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| n.clone());
        let mut idx = ctx.handlers_named(&name);
        if idx.is_empty()
            && let Some(role) = &task.role
        {
            idx = ctx.handlers_named(&format!("{} : {}", role.name, name));
        }
        if idx.is_empty() {
            r.emit(Event::Warning(format!(
                "{}: handler {:?} is not defined in this play",
                task.span, name
            )));
        }
        r.with_host(host, |s| s.notified.extend(idx));
    }
}

/// One flush of the handlers on some hosts: yields each handler due and its hosts, in order.
pub struct Flush<'a> {
    ctx: &'a PlayCtx,
    hosts: &'a [String],
    round: usize,
    /// This round's handlers (taken when it starts: handlers added meanwhile wait a round).
    current: Option<Vec<Arc<Handler>>>,
    next: usize,
    ran_any: bool,
}

impl<'a> Flush<'a> {
    pub fn new(ctx: &'a PlayCtx, hosts: &'a [String]) -> Self {
        Flush {
            ctx,
            hosts,
            round: 0,
            current: None,
            next: 0,
            ran_any: false,
        }
    }

    /// The next handler to run and the hosts to run it on (their notification is consumed; a
    /// failed host among them is there by `force_handlers`), or None when the flush is over.
    pub fn next(&mut self, r: &Runner) -> Option<(Arc<Task>, Vec<String>)> {
        loop {
            if self.current.is_none() {
                if self.round == ROUNDS {
                    return None;
                }
                self.current = Some(self.ctx.handlers());
                self.next = 0;
                self.ran_any = false;
            }
            let handlers = self.current.as_ref()?;
            while self.next < handlers.len() {
                let i = self.next;
                self.next += 1;
                let targets = self.due(r, i);
                if targets.is_empty() {
                    continue;
                }
                for t in &targets {
                    r.with_host(t, |s| {
                        s.notified.shift_remove(&i);
                    });
                }
                self.ran_any = true;
                return Some((handlers[i].task.clone(), targets));
            }
            if !self.ran_any {
                self.round = ROUNDS;
                return None;
            }
            self.round += 1;
            self.current = None;
        }
    }

    /// The hosts handler `i` is due on.
    fn due(&self, r: &Runner, i: usize) -> Vec<String> {
        let force = self.ctx.force_handlers;
        self.hosts
            .iter()
            .filter(|host| {
                r.with_host(host, |s| {
                    s.notified.contains(&i)
                        && (s.is_active() || (force && s.status() == HostStatus::Failed))
                })
            })
            .cloned()
            .collect()
    }
}
