//! What the executor remembers per host during a run: status, facts, variables set by tasks,
//! pending handlers, counters.

use crate::report::HostStats;
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
    pub status: HostStatus,
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
    pub stats: HostStats,
    /// The last task that failed on the host and its result, for a rescue's
    /// `ansible_failed_task` / `ansible_failed_result`.
    pub last_failure: Option<(Value, Value)>,
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
        }
    }
}

impl HostState {
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
