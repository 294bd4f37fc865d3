//! What a task did on a host: one item's result ([`ItemResult`], its status kept in one place
//! and written together with the flags of its result map), a module's outcome under judgement
//! ([`Judging`]), what a host's items come to ([`Verdict`]: the loop aggregation and the
//! registered value), and the result events.
//!
//! Owns: the shape of registered results (`results`, `changed`, `failed`, `skipped`, `msg`,
//! `unreachable`, `attempts`, `failed_when_result`) and of result events. Must not know: hosts'
//! states, scopes, connections or how conditions are evaluated.

use super::eval::text;
use super::state::Forgive;
use crate::modules::{FileDiff, Outcome};
use crate::plan::Cond;
use crate::report::{Event, HostResult, Status};
use indexmap::IndexMap;
use minijinja::Value;
use std::time::Duration;

/// How a task's results are shown and forgiven on a host (`no_log`, `ignore_errors`,
/// `ignore_unreachable`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub no_log: bool,
    pub forgive: Forgive,
}

impl Flags {
    /// A failure shown as ignored.
    fn ignored(&self, status: Status) -> bool {
        self.forgive.errors && status == Status::Failed
    }
}

/// The result of one module call (one loop item).
pub struct ItemResult {
    /// Written only together with the matching keys of `result`.
    status: Status,
    result: IndexMap<String, Value>,
    pub msg: Option<String>,
    pub diff: Vec<FileDiff>,
    pub facts: IndexMap<String, Value>,
    pub set_facts: IndexMap<String, Value>,
    pub include_vars: IndexMap<String, Value>,
    pub delegated_to: Option<String>,
}

impl ItemResult {
    fn new(status: Status, result: IndexMap<String, Value>, msg: Option<String>) -> Self {
        ItemResult {
            status,
            result,
            msg,
            diff: vec![],
            facts: IndexMap::new(),
            set_facts: IndexMap::new(),
            include_vars: IndexMap::new(),
            delegated_to: None,
        }
    }

    pub fn failed(msg: String) -> Self {
        let mut result = IndexMap::new();
        result.insert("failed".into(), Value::from(true));
        result.insert("msg".into(), Value::from(msg.as_str()));
        ItemResult::new(Status::Failed, result, Some(msg))
    }

    /// The host could not be reached (or went away) while running the item.
    pub fn unreachable(msg: String) -> Self {
        let mut res = ItemResult::failed(msg);
        res.status = Status::Unreachable;
        res.result.insert("unreachable".into(), Value::from(true));
        res
    }

    /// `when` did not hold (`conds` are the task's conditions, the first one is shown).
    pub fn skipped(conds: &[Cond]) -> Self {
        let mut result = IndexMap::new();
        result.insert("changed".into(), Value::from(false));
        result.insert("skipped".into(), Value::from(true));
        result.insert(
            "skip_reason".into(),
            Value::from("Conditional result was False"),
        );
        if let Some(c) = conds.first() {
            result.insert("false_condition".into(), Value::from(c.expr.as_str()));
        }
        ItemResult::new(Status::Skipped, result, None)
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The result as `register` stores it.
    pub fn value(&self) -> Value {
        Value::from_pairs(self.result.iter().map(|(k, v)| (k.clone(), v.clone())))
    }

    /// The result as `register` stores it: a result that ran says `failed: false` too, as
    /// Ansible's does (`when: not r.failed` reads it); keys for the output only (`_verbosity`)
    /// are left out.
    pub fn registered(&self) -> Value {
        let mut result = self.result.clone();
        result.shift_remove("_verbosity");
        // A task its `when` skipped did not run (it has a skip_reason instead).
        if !result.contains_key("skip_reason") && !result.contains_key("failed") {
            result.insert("failed".into(), Value::from(false));
        }
        Value::from_pairs(result)
    }

    /// A loop item's result names its item and loop variable.
    pub fn set_loop_var(&mut self, loop_var: &str, item: Value) {
        self.result.insert(loop_var.to_string(), item);
        self.result
            .insert("ansible_loop_var".into(), Value::from(loop_var));
    }

    /// How many attempts `until` took.
    pub fn set_attempts(&mut self, attempts: u32) {
        self.result.insert("attempts".into(), Value::from(attempts));
    }

    /// `until` never held within the retries: the item fails.
    pub fn exhausted(&mut self, attempts: u32) {
        self.status = Status::Failed;
        self.result.insert("failed".into(), Value::from(true));
        let m = format!("still failing after {} attempts", attempts);
        self.result
            .entry("msg".to_string())
            .or_insert(Value::from(m.as_str()));
        self.msg.get_or_insert(m);
    }

    /// The event showing this result (one loop item's, or a task's without a loop).
    pub fn event(&self, host: &str, item: Option<String>, flags: Flags) -> Event {
        Event::HostResult(Box::new(HostResult {
            host: host.to_string(),
            delegated_to: self.delegated_to.clone(),
            status: self.status,
            item,
            msg: self.msg.clone(),
            result: self.value(),
            diff: self.diff.clone(),
            ignored: flags.ignored(self.status),
            no_log: flags.no_log,
            loop_summary: false,
            duration: Duration::ZERO,
        }))
    }
}

/// A module's outcome being judged by `changed_when` / `failed_when`.
pub struct Judging {
    result: IndexMap<String, Value>,
    changed: bool,
    failed: bool,
    outcome: Outcome,
}

impl Judging {
    /// The result as the module reported it.
    pub fn new(mut o: Outcome) -> Self {
        let mut result = std::mem::take(&mut o.result);
        if let Some(m) = &o.msg {
            result
                .entry("msg".to_string())
                .or_insert(Value::from(m.as_str()));
        }
        if !o.facts.is_empty() {
            result.insert(
                "ansible_facts".into(),
                Value::from_pairs(o.facts.iter().map(|(k, v)| (k.clone(), v.clone()))),
            );
        }
        result.insert("changed".into(), Value::from(o.changed));
        if o.failed {
            result.insert("failed".into(), Value::from(true));
        }
        if o.skipped {
            result.insert("skipped".into(), Value::from(true));
        }
        Judging {
            result,
            changed: o.changed,
            failed: o.failed,
            outcome: o,
        }
    }

    /// The result so far, as the conditions see it under the register name.
    pub fn value(&self) -> Value {
        Value::from_pairs(self.result.iter().map(|(k, v)| (k.clone(), v.clone())))
    }

    /// `changed_when` decided.
    pub fn set_changed(&mut self, changed: bool) {
        self.changed = changed;
        self.result.insert("changed".into(), Value::from(changed));
    }

    /// `failed_when` decided.
    pub fn set_failed(&mut self, failed: bool) {
        self.failed = failed;
        self.result.insert("failed".into(), Value::from(failed));
        if failed {
            self.result
                .entry("msg".to_string())
                .or_insert(Value::from("failed_when condition was true"));
        }
        // Not failed: the module's own msg stays, as in Ansible ("non-zero return code").
        self.result
            .insert("failed_when_result".into(), Value::from(failed));
    }

    pub fn finish(self) -> ItemResult {
        let o = self.outcome;
        let status = if self.failed {
            Status::Failed
        } else if o.skipped {
            Status::Skipped
        } else if self.changed {
            Status::Changed
        } else {
            Status::Ok
        };
        let msg = if self.failed {
            self.result.get("msg").map(text)
        } else {
            o.msg
        };
        ItemResult {
            status,
            result: self.result,
            msg,
            diff: o.diff,
            facts: o.facts,
            set_facts: o.set_facts,
            include_vars: o.include_vars,
            delegated_to: None,
        }
    }
}

/// What a host's results come to.
pub struct Verdict {
    pub status: Status,
    /// What `register` stores.
    pub registered: Value,
    pub msg: Option<String>,
}

impl Verdict {
    /// A task without a loop: its one result (None: nothing ran).
    pub fn single(res: Option<&ItemResult>) -> Self {
        match res {
            Some(res) => Verdict {
                status: res.status,
                registered: res.registered(),
                msg: res.msg.clone(),
            },
            None => Verdict {
                status: Status::Skipped,
                registered: Value::from(()),
                msg: None,
            },
        }
    }

    /// A loop: unreachable beats failed beats skipped (all, or no items) beats changed.
    pub fn of_loop(results: &[ItemResult]) -> Self {
        let any = |st: Status| results.iter().any(|x| x.status == st);
        let (unreachable, failed, changed) = (
            any(Status::Unreachable),
            any(Status::Failed),
            any(Status::Changed),
        );
        let all_skipped =
            !results.is_empty() && results.iter().all(|x| x.status == Status::Skipped);
        let status = if unreachable {
            Status::Unreachable
        } else if failed {
            Status::Failed
        } else if results.is_empty() || all_skipped {
            Status::Skipped
        } else if changed {
            Status::Changed
        } else {
            Status::Ok
        };
        let msg = match status {
            Status::Failed => "One or more items failed",
            Status::Skipped if results.is_empty() => "No items in the list",
            _ => "All items completed",
        };
        let list: Vec<Value> = results.iter().map(|x| x.registered()).collect();
        let mut reg = vec![
            ("results".to_string(), Value::from(list)),
            ("changed".to_string(), Value::from(changed)),
            ("msg".to_string(), Value::from(msg)),
        ];
        if failed {
            reg.push(("failed".into(), Value::from(true)));
        }
        reg.push(("skipped".into(), Value::from(status == Status::Skipped)));
        Verdict {
            status,
            registered: Value::from_pairs(reg),
            msg: Some(msg.to_string()),
        }
    }

    /// The summary line of a loop (its items were shown already).
    pub fn loop_summary(&self, host: &str, flags: Flags, duration: Duration) -> Event {
        let msg = self.msg.clone().unwrap_or_default();
        Event::HostResult(Box::new(HostResult {
            host: host.to_string(),
            delegated_to: None,
            status: self.status,
            item: None,
            msg: self.msg.clone(),
            result: if self.status == Status::Failed {
                Value::from_pairs([("msg".to_string(), Value::from(msg))])
            } else {
                Value::from(())
            },
            diff: vec![],
            ignored: flags.ignored(self.status),
            no_log: flags.no_log,
            loop_summary: true,
            duration,
        }))
    }
}
