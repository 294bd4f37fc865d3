//! The play context: what every task of one play shares (its variables, roles' variables,
//! hosts, the current batch, handlers, failure rules), passed explicitly to whoever needs it;
//! and [`Flow`], what a step tells the rest of the play.
//!
//! Owns: [`PlayCtx`] and its per-batch values (`ansible_play_batch`, `play_hosts`), the
//! play's handler list (include_role adds to it). Must not know: how tasks run, how hosts are
//! selected, or how `hostvars` resolves (it is handed a ready Value).

use super::runner::Runner;
use super::state::HostStatus;
use crate::plan::{Handler, Play, PlayRules, RoleInfo, Strategy};
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::{Arc, RwLock};

/// What the rest of a node list should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop this batch (end_play, end_batch, any_errors_fatal, max_fail_percentage).
    EndBatch,
    /// Stop the playbook (every host failed, or any_errors_fatal).
    Abort,
}

/// Per-play data shared by every scope of the play.
pub struct PlayCtx {
    /// `ansible_play_name`.
    pub name: String,
    /// The play's `vars`.
    pub vars: Value,
    /// Every role's defaults, merged (below inventory variables in every scope of the play).
    pub all_role_defaults: Value,
    /// Every role's vars, merged (above the play's vars in every scope of the play).
    pub all_role_vars: Value,
    /// `ansible_play_hosts_all`.
    pub hosts_all: Value,
    /// `hostvars` (resolves each host lazily).
    pub hostvars: Value,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub force_handlers: bool,
    pub strategy: Strategy,
    /// The play's roles by name (`ansible_role_names`, `ansible_play_role_names`).
    pub role_names: Value,
    /// The hosts of the current batch (`ansible_play_batch`).
    batch: RwLock<Vec<String>>,
    /// The batch's hosts still active (`play_hosts`, `ansible_play_hosts`).
    play_hosts: RwLock<Value>,
    /// Play and role handlers; include_role adds more at run time.
    handlers: RwLock<Vec<Arc<Handler>>>,
}

impl PlayCtx {
    /// The context of `play` on `hosts`, whose roles are `roles`; `hostvars` is the play's
    /// `hostvars` object.
    pub fn new(
        play: &Play,
        rules: &PlayRules,
        roles: &[&Arc<RoleInfo>],
        hosts: &[String],
        hostvars: Value,
    ) -> Self {
        let handlers = play.handlers.iter().map(|h| {
            Arc::new(Handler {
                task: h.task.clone(),
                names: h.names.clone(),
            })
        });
        PlayCtx {
            name: play.name.clone(),
            vars: play.vars.clone(),
            all_role_defaults: merge_maps(roles.iter().map(|r| r.defaults.clone())),
            all_role_vars: merge_maps(roles.iter().map(|r| r.vars.clone())),
            hosts_all: names_value(hosts),
            hostvars,
            any_errors_fatal: rules.any_errors_fatal,
            max_fail_percentage: rules.max_fail_percentage,
            force_handlers: play.force_handlers,
            strategy: play.strategy,
            role_names: Value::from_iter(roles.iter().map(|r| Value::from(r.name.as_str()))),
            batch: RwLock::new(vec![]),
            play_hosts: RwLock::new(Value::from(Vec::<Value>::new())),
            handlers: RwLock::new(handlers.collect()),
        }
    }

    pub fn play_hosts(&self) -> Value {
        self.play_hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn batch_value(&self) -> Value {
        names_value(&self.batch.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn batch(&self) -> Vec<String> {
        self.batch.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts a batch: `ansible_play_batch` and `play_hosts` become its hosts.
    pub fn set_batch(&self, r: &Runner, batch: Vec<String>) {
        *self.batch.write().unwrap_or_else(|p| p.into_inner()) = batch;
        self.refresh_play_hosts(r);
    }

    /// `play_hosts`: the batch's hosts that are still active.
    pub fn refresh_play_hosts(&self, r: &Runner) {
        let active: Vec<Value> = self
            .batch()
            .iter()
            .filter(|h| r.status(h) == HostStatus::Active)
            .map(|h| Value::from(h.as_str()))
            .collect();
        *self.play_hosts.write().unwrap_or_else(|p| p.into_inner()) = Value::from(active);
    }

    /// The handlers as they are now.
    pub fn handlers(&self) -> Vec<Arc<Handler>> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds an included role's handlers.
    pub fn add_handlers(&self, handlers: Vec<Handler>) {
        let mut hs = self.handlers.write().unwrap_or_else(|p| p.into_inner());
        hs.extend(handlers.into_iter().map(Arc::new));
    }

    /// Handler indices answering to a notify name.
    pub fn handlers_named(&self, name: &str) -> Vec<usize> {
        let hs = self.handlers.read().unwrap_or_else(|p| p.into_inner());
        hs.iter()
            .enumerate()
            .filter(|(_, h)| h.names.iter().any(|n| n == name))
            .map(|(i, _)| i)
            .collect()
    }
}

fn names_value(hosts: &[String]) -> Value {
    Value::from(
        hosts
            .iter()
            .map(|h| Value::from(h.as_str()))
            .collect::<Vec<_>>(),
    )
}

fn merge_maps(maps: impl Iterator<Item = Value>) -> Value {
    let mut merged: IndexMap<String, Value> = IndexMap::new();
    for m in maps {
        if let Ok(keys) = m.try_iter() {
            for k in keys {
                if let Some(ks) = k.as_str() {
                    merged.insert(ks.to_string(), m.get_item(&k).unwrap_or_default());
                }
            }
        }
    }
    Value::from_pairs(merged)
}
