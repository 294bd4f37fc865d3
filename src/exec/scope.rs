//! The variables one task sees on one host, assembled in design.md's precedence order.

use super::Runner;
use super::play::PlayCtx;
use crate::plan::RoleInfo;
use crate::vars;
use minijinja::Value;
use std::sync::Arc;

/// What the caller adds on top of the host's own layers.
#[derive(Default)]
pub struct ScopeExtras<'a> {
    pub role: Option<&'a RoleInfo>,
    /// Block and task `vars`, outermost first.
    pub task_vars: &'a [Value],
    /// Loop variables (item, index_var, ansible_loop) and registered results under evaluation.
    pub magic: Vec<(String, Value)>,
    /// A result being judged by changed_when/failed_when/until, as its `register` name.
    pub register: Option<(String, Value)>,
}

impl Runner {
    pub fn play_ctx(&self) -> Option<Arc<PlayCtx>> {
        self.play.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The full scope of a task on a host.
    pub fn scope(self: &Arc<Self>, host: &str, extras: ScopeExtras<'_>) -> Value {
        let play = self.play_ctx();
        let empty = Value::from(());
        let (facts, vars_files, include_stack, include_vars, set_facts) =
            self.with_host(host, |s| {
                (
                    s.facts_layer.clone(),
                    s.vars_files.value().clone(),
                    s.include_stack.clone(),
                    s.include_vars.value().clone(),
                    s.set_facts.value().clone(),
                )
            });
        let mut layers: Vec<Value> = Vec::with_capacity(16);
        if let Some(p) = &play {
            layers.push(p.all_role_defaults.clone());
        }
        if let Some(r) = extras.role {
            layers.push(r.defaults.clone());
        }
        layers.push(
            self.inv_vars
                .get(host)
                .cloned()
                .unwrap_or_else(|| self.implicit_host_vars(host)),
        );
        layers.push(facts);
        if let Some(p) = &play {
            layers.push(p.vars.clone());
        }
        layers.push(vars_files);
        if let Some(p) = &play {
            layers.push(p.all_role_vars.clone());
        }
        if let Some(r) = extras.role {
            layers.push(r.vars.clone());
        }
        layers.extend(extras.task_vars.iter().cloned());
        layers.extend(include_stack);
        layers.push(include_vars);
        layers.push(set_facts);
        if let Some((name, v)) = extras.register {
            layers.push(Value::from_pairs([(name, v)]));
        }
        if let Some(r) = extras.role {
            layers.push(r.params.clone());
        }
        layers.push(self.extra_vars.clone());
        layers.retain(|l| l != &empty);

        let mut magic: Vec<(String, Value)> = Vec::with_capacity(24 + extras.magic.len());
        let short = host.split('.').next().unwrap_or(host).to_string();
        magic.push(("inventory_hostname".into(), Value::from(host)));
        magic.push(("inventory_hostname_short".into(), Value::from(short)));
        let group_names: Vec<Value> = self
            .inv
            .hosts
            .get(host)
            .map(|h| {
                h.groups
                    .iter()
                    .filter(|g| *g != "all" && *g != "ungrouped")
                    .map(|g| Value::from(g.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        magic.push(("group_names".into(), Value::from(group_names)));
        magic.push(("groups".into(), self.groups.clone()));
        if let Some(p) = &play {
            magic.push(("hostvars".into(), p.hostvars.clone()));
            let ph = p.play_hosts();
            magic.push(("play_hosts".into(), ph.clone()));
            magic.push(("ansible_play_hosts".into(), ph));
            magic.push(("ansible_play_hosts_all".into(), p.hosts_all.clone()));
            magic.push(("ansible_play_batch".into(), p.batch_value()));
            magic.push(("ansible_play_name".into(), Value::from(p.name.as_str())));
        }
        magic.push((
            "playbook_dir".into(),
            Value::from(self.playbook_dir.display().to_string()),
        ));
        if let Some(r) = extras.role {
            magic.push((
                "role_path".into(),
                Value::from(r.path.display().to_string()),
            ));
            magic.push(("role_name".into(), Value::from(r.name.as_str())));
            magic.push(("ansible_role_name".into(), Value::from(r.name.as_str())));
        }
        magic.push(("ansible_check_mode".into(), Value::from(self.opts.check)));
        magic.push(("ansible_diff_mode".into(), Value::from(self.opts.diff)));
        magic.push(("ansible_verbosity".into(), Value::from(self.opts.verbosity)));
        magic.push(("omit".into(), Value::from(vars::omit_token())));
        magic.push((
            "ansible_run_tags".into(),
            Value::from(if self.opts.tags.only.is_empty() {
                vec!["all".to_string()]
            } else {
                self.opts.tags.only.clone()
            }),
        ));
        magic.push((
            "ansible_skip_tags".into(),
            Value::from(self.opts.tags.skip.clone()),
        ));
        if let Some(src) = self.inv.sources.first() {
            let dir = if src.is_dir() {
                src.clone()
            } else {
                src.parent().map(|p| p.to_path_buf()).unwrap_or_default()
            };
            magic.push((
                "inventory_dir".into(),
                Value::from(dir.display().to_string()),
            ));
            magic.push((
                "inventory_file".into(),
                Value::from(src.display().to_string()),
            ));
        }
        magic.push((
            "ansible_version".into(),
            Value::from_pairs([
                ("full".to_string(), Value::from("2.19.0")),
                ("major".to_string(), Value::from(2)),
                ("minor".to_string(), Value::from(19)),
                ("revision".to_string(), Value::from(0)),
                ("string".to_string(), Value::from("2.19.0 (rmesos)")),
            ]),
        ));
        magic.extend(extras.magic);
        vars::scope(&self.templar, layers, Value::from_pairs(magic))
    }

    /// What `hostvars[host]` shows: the host's variables without any task's.
    pub fn hostvars_scope(self: &Arc<Self>, host: &str) -> Option<Value> {
        if !self.inv.hosts.contains_key(host) && !self.seen_host(host) {
            return None;
        }
        Some(self.scope(host, ScopeExtras::default()))
    }

    fn seen_host(&self, host: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(host)
    }

    /// Variables of a host that is not in the inventory (implicit localhost).
    pub fn implicit_host_vars(&self, host: &str) -> Value {
        match self.inv.host(host) {
            Some(h) => Value::from_pairs(h.vars.iter().map(|(k, v)| (k.clone(), v.clone()))),
            None => Value::from(()),
        }
    }
}
