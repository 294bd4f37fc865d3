//! What the executor remembers per host during a run: status, facts, variables set by tasks,
//! pending handlers, counters.
//!
//! Owns the host-state machine: a host's status changes only through [`HostState`]'s
//! transitions (`fail`, `unreachable`, `rescue`, `end`, `record`, ...), and each transition
//! updates the counters it implies, so the recap cannot disagree with the statuses. Knows
//! nothing of plays, tasks or connections.

use crate::report::{HostStats, Status};
use indexmap::{IndexMap, IndexSet};
use minijinja::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostStatus {
    Active,
    Failed,
    Unreachable,
    /// `meta: end_host`, or the play was aborted for it.
    Ended,
}

/// A mapping kept twice: editable, and as the Value the scopes share (rebuilt on change).
#[derive(Clone, Debug)]
pub struct VarMap {
    map: IndexMap<String, Value>,
    value: Value,
}

impl Default for VarMap {
    fn default() -> Self {
        VarMap {
            map: IndexMap::new(),
            value: Value::from_pairs(std::iter::empty::<(String, Value)>()),
        }
    }
}

impl VarMap {
    pub fn extend(&mut self, items: impl IntoIterator<Item = (String, Value)>) {
        self.map.extend(items);
        self.value = Value::from_pairs(self.map.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    pub fn set(&mut self, key: &str, v: Value) {
        self.extend([(key.to_string(), v)]);
    }
    pub fn clear(&mut self) {
        *self = VarMap::default();
    }
    pub fn value(&self) -> &Value {
        &self.value
    }
    pub fn map(&self) -> &IndexMap<String, Value> {
        &self.map
    }
}

#[derive(Debug)]
pub struct HostState {
    /// Changed only by the transitions below.
    status: HostStatus,
    /// Facts without the `ansible_` prefix (as in `ansible_facts`).
    pub facts: IndexMap<String, Value>,
    /// `ansible_<fact>` for each fact plus `ansible_facts` itself.
    pub facts_layer: Value,
    pub set_facts: VarMap,
    pub include_vars: VarMap,
    pub vars_files: VarMap,
    /// Variables of enclosing dynamic includes (loop items, include_role params), innermost last.
    pub include_stack: Vec<Value>,
    /// Handlers notified and not yet run, by index into the play's handlers.
    pub notified: IndexSet<usize>,
    /// The recap's counters; changed only by the transitions below.
    stats: HostStats,
    /// The last task that failed on the host and its result, for a rescue's
    /// `ansible_failed_task` / `ansible_failed_result`.
    pub last_failure: Option<(Value, Value)>,
    /// How many enclosing sections still owe the host a `rescue` or `always` (blocks, and the
    /// sections `force_handlers` wraps): while above zero a failed host is not yet out of the
    /// play, as Ansible's iterator does not count it failed before those ran.
    guards: u32,
    /// Failed without a failure of its own (`any_errors_fatal` sent it to a rescue with the
    /// host that failed): nothing was counted, so a rescue counts nothing either.
    quiet_failure: bool,
}

impl Default for HostState {
    fn default() -> Self {
        HostState {
            status: HostStatus::Active,
            facts: IndexMap::new(),
            facts_layer: Value::from_pairs(std::iter::empty::<(String, Value)>()),
            set_facts: VarMap::default(),
            include_vars: VarMap::default(),
            vars_files: VarMap::default(),
            include_stack: Vec::new(),
            notified: IndexSet::new(),
            stats: HostStats::default(),
            last_failure: None,
            guards: 0,
            quiet_failure: false,
        }
    }
}

/// Which failures a task forgives (`ignore_errors`, `ignore_unreachable`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Forgive {
    pub errors: bool,
    pub unreachable: bool,
}

impl HostState {
    pub fn status(&self) -> HostStatus {
        self.status
    }

    pub fn is_active(&self) -> bool {
        self.status == HostStatus::Active
    }

    pub fn stats(&self) -> &HostStats {
        &self.stats
    }

    /// A section that owes the host a rescue or always starts (`on`) or ends.
    pub fn guard(&mut self, on: bool) {
        if on {
            self.guards += 1;
        } else {
            self.guards = self.guards.saturating_sub(1);
        }
    }

    /// The host is out of the play: unreachable, or failed with no rescue or always left to
    /// run (the hosts "NO MORE HOSTS LEFT" counts).
    pub fn is_out(&self) -> bool {
        match self.status {
            HostStatus::Unreachable => true,
            HostStatus::Failed => self.guards == 0,
            HostStatus::Active | HostStatus::Ended => false,
        }
    }

    /// The host enters a play: active again (unless it failed earlier, the caller's rule), with
    /// no vars_files, notifications or include layers from the last play.
    pub fn start_play(&mut self) {
        self.status = HostStatus::Active;
        self.vars_files.clear();
        self.notified.clear();
        self.include_stack.clear();
        self.guards = 0;
    }

    /// The host failed: it leaves the play and counts one failure.
    pub fn fail(&mut self) {
        self.status = HostStatus::Failed;
        self.stats.failed += 1;
    }

    /// The host cannot be reached: it leaves the play and counts as unreachable.
    pub fn unreachable(&mut self) {
        self.status = HostStatus::Unreachable;
        self.stats.unreachable += 1;
    }

    /// A block's rescue takes the host back: its failure counts as rescued instead.
    pub fn rescue(&mut self) {
        self.status = HostStatus::Active;
        if std::mem::take(&mut self.quiet_failure) {
            return;
        }
        self.stats.failed = self.stats.failed.saturating_sub(1);
        self.stats.rescued += 1;
    }

    /// `any_errors_fatal` while a block owes the host a rescue or always: as Ansible, the host
    /// is failed along with the one that failed, without a failure counted, and goes through
    /// the block's rescue/always. False when it is not in such a block (or not active).
    pub fn fail_quietly(&mut self) -> bool {
        if self.status != HostStatus::Active || self.guards == 0 {
            return false;
        }
        self.status = HostStatus::Failed;
        self.quiet_failure = true;
        true
    }

    /// A failed host runs on without its failure being undone in the counters
    /// (`meta: clear_host_errors`, `always`, handlers under `force_handlers`).
    pub fn clear_failure(&mut self) {
        if self.status == HostStatus::Failed {
            self.status = HostStatus::Active;
        }
    }

    /// A host whose failure was cleared for an `always` section is failed again after it.
    pub fn restore_failure(&mut self) {
        if self.status == HostStatus::Active {
            self.status = HostStatus::Failed;
        }
    }

    /// The host is done with the play (`meta: end_host`).
    pub fn end(&mut self) {
        self.status = HostStatus::Ended;
    }

    /// An active host is done with the play (end_play, end_batch, any_errors_fatal).
    pub fn end_if_active(&mut self) {
        if self.status == HostStatus::Active {
            self.end();
        }
    }

    /// Counts a task's result on the host and applies what it implies: a failure not forgiven
    /// fails the host and remembers `failure()` (the failed task and its result) for a rescue;
    /// an unreachable host not forgiven leaves the play. As Ansible counts them, a forgiven
    /// failure is `ok` and `ignored` (and `changed` when its result says so), a forgiven
    /// unreachable `ok` and `ignored`.
    pub fn record(
        &mut self,
        status: Status,
        forgive: Forgive,
        changed: bool,
        failure: impl FnOnce() -> (Value, Value),
    ) {
        match status {
            Status::Ok => self.stats.ok += 1,
            Status::Changed => {
                self.stats.ok += 1;
                self.stats.changed += 1;
            }
            Status::Skipped => self.stats.skipped += 1,
            Status::Failed if forgive.errors => {
                self.stats.ignored += 1;
                self.stats.ok += 1;
                self.stats.changed += u32::from(changed);
            }
            Status::Failed => {
                self.fail();
                self.last_failure = Some(failure());
            }
            Status::Unreachable if forgive.unreachable => {
                self.stats.ignored += 1;
                self.stats.ok += 1;
            }
            Status::Unreachable => self.unreachable(),
        }
    }

    pub fn add_facts(&mut self, facts: IndexMap<String, Value>) {
        for (k, v) in facts {
            let k = k.strip_prefix("ansible_").map(str::to_string).unwrap_or(k);
            self.facts.insert(k, v);
        }
        self.rebuild_facts_layer();
    }

    pub fn clear_facts(&mut self) {
        self.facts.clear();
        self.rebuild_facts_layer();
    }

    fn rebuild_facts_layer(&mut self) {
        let facts = Value::from_pairs(self.facts.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut layer: Vec<(String, Value)> = self
            .facts
            .iter()
            .map(|(k, v)| (format!("ansible_{}", k), v.clone()))
            .collect();
        layer.push(("ansible_facts".to_string(), facts));
        self.facts_layer = Value::from_pairs(layer);
    }
}
