//! The variables one task sees on one host, assembled in design.md's precedence order, given
//! the play context explicitly; and what `hostvars[host]` shows.
//!
//! Owns: the order of the layers and the magic variables. Must not know: how tasks run or
//! judge results (callers add loop variables and results under evaluation as [`ScopeExtras`]).

use super::ctx::PlayCtx;
use super::runner::Runner;
use crate::plan::{RoleInfo, Task};
use crate::vars;
use minijinja::Value;

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

impl<'a> ScopeExtras<'a> {
    /// A task's role and its block and task `vars`.
    pub fn task(task: &'a Task) -> Self {
        ScopeExtras {
            role: task.role.as_deref(),
            task_vars: &task.kw.vars,
            ..Default::default()
        }
    }
}

/// The full scope of a task on a host.
pub fn scope(r: &Runner, ctx: &PlayCtx, host: &str, mut extras: ScopeExtras<'_>) -> Value {
    let layers = layers(r, ctx, host, &mut extras);
    let mut magic: Vec<(String, Value)> = Vec::with_capacity(24 + extras.magic.len());
    host_magic(r, host, &mut magic);
    play_magic(r, ctx, extras.role, &mut magic);
    run_magic(r, &mut magic);
    magic.extend(extras.magic);
    vars::scope(r.templar(), layers, Value::from_pairs(magic))
}

/// What `hostvars[host]` shows: the host's variables without any task's.
pub fn hostvars_scope(r: &Runner, ctx: &PlayCtx, host: &str) -> Option<Value> {
    if !r.inv().hosts.contains_key(host) && !r.seen_host(host) {
        return None;
    }
    Some(scope(r, ctx, host, ScopeExtras::default()))
}

/// The variable layers, lowest precedence first.
fn layers(r: &Runner, ctx: &PlayCtx, host: &str, extras: &mut ScopeExtras<'_>) -> Vec<Value> {
    let empty = Value::from(());
    let (facts, vars_files, include_stack, include_vars, set_facts) = r.with_host(host, |s| {
        (
            s.facts_layer.clone(),
            s.vars_files.value().clone(),
            s.include_stack.clone(),
            s.include_vars.value().clone(),
            s.set_facts.value().clone(),
        )
    });
    let mut layers: Vec<Value> = Vec::with_capacity(16);
    layers.push(ctx.all_role_defaults.clone());
    if let Some(role) = extras.role {
        layers.push(role.defaults.clone());
    }
    layers.push(r.host_vars(host));
    layers.push(facts);
    layers.push(ctx.vars.clone());
    layers.push(vars_files);
    layers.push(ctx.all_role_vars.clone());
    if let Some(role) = extras.role {
        layers.push(role.vars.clone());
    }
    layers.extend(extras.task_vars.iter().cloned());
    layers.extend(include_stack);
    layers.push(include_vars);
    layers.push(set_facts);
    if let Some((name, v)) = extras.register.take() {
        layers.push(Value::from_pairs([(name, v)]));
    }
    if let Some(role) = extras.role {
        layers.push(role.params.clone());
    }
    layers.push(r.extra_vars().clone());
    layers.retain(|l| l != &empty);
    layers
}

/// The host's names and groups.
fn host_magic(r: &Runner, host: &str, magic: &mut Vec<(String, Value)>) {
    let short = host.split('.').next().unwrap_or(host).to_string();
    magic.push(("inventory_hostname".into(), Value::from(host)));
    magic.push(("inventory_hostname_short".into(), Value::from(short)));
    let group_names: Vec<Value> = r
        .inv()
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
    magic.push(("groups".into(), r.groups().clone()));
}

/// The play's hosts and name, the playbook's directory, the role's path and name.
fn play_magic(
    r: &Runner,
    ctx: &PlayCtx,
    role: Option<&RoleInfo>,
    magic: &mut Vec<(String, Value)>,
) {
    magic.push(("hostvars".into(), ctx.hostvars.clone()));
    let ph = ctx.play_hosts();
    magic.push(("play_hosts".into(), ph.clone()));
    magic.push(("ansible_play_hosts".into(), ph));
    magic.push(("ansible_play_hosts_all".into(), ctx.hosts_all.clone()));
    magic.push(("ansible_play_batch".into(), ctx.batch_value()));
    magic.push(("ansible_play_name".into(), Value::from(ctx.name.as_str())));
    // Absolute, as Ansible's, also when the playbook was named by a relative path.
    let pb_dir = r.playbook_dir();
    let pb_dir = std::path::absolute(pb_dir).unwrap_or_else(|_| pb_dir.to_path_buf());
    let pb_dir = Value::from(pb_dir.display().to_string());
    magic.push(("playbook_dir".into(), pb_dir.clone()));
    if let Some(role) = role {
        let path = std::path::absolute(&role.path).unwrap_or_else(|_| role.path.clone());
        magic.push(("role_path".into(), Value::from(path.display().to_string())));
        magic.push(("role_name".into(), Value::from(role.name.as_str())));
        magic.push(("ansible_role_name".into(), Value::from(role.name.as_str())));
    }
    // Where relative paths of lookups and templates are searched: the role, then the playbook.
    let mut search = Vec::new();
    if let Some(role) = role {
        let path = std::path::absolute(&role.path).unwrap_or_else(|_| role.path.clone());
        search.push(Value::from(path.display().to_string()));
    }
    search.push(pb_dir);
    magic.push(("ansible_search_path".into(), Value::from(search)));
    magic.push(("ansible_role_names".into(), ctx.role_names.clone()));
    magic.push(("ansible_play_role_names".into(), ctx.role_names.clone()));
}

/// The run's modes, tags, inventory source and version.
fn run_magic(r: &Runner, magic: &mut Vec<(String, Value)>) {
    let opts = r.opts();
    magic.push(("ansible_check_mode".into(), Value::from(opts.check)));
    magic.push(("ansible_diff_mode".into(), Value::from(opts.diff)));
    magic.push(("ansible_verbosity".into(), Value::from(opts.verbosity)));
    magic.push(("omit".into(), Value::from(vars::omit_token())));
    magic.push(("ansible_forks".into(), Value::from(opts.forks)));
    if let Some(limit) = &opts.limit {
        magic.push(("ansible_limit".into(), Value::from(limit.as_str())));
    }
    let config_file = opts.config_file.as_ref().map(|p| p.display().to_string());
    magic.push(("ansible_config_file".into(), Value::from(config_file)));
    let sources: Vec<Value> = r
        .inv()
        .sources
        .iter()
        .map(|s| match std::path::absolute(s) {
            Ok(abs) if s.exists() => Value::from(abs.display().to_string()),
            _ => Value::from(s.display().to_string()),
        })
        .collect();
    magic.push(("ansible_inventory_sources".into(), Value::from(sources)));
    let run_tags = if opts.tags.only.is_empty() {
        vec!["all".to_string()]
    } else {
        opts.tags.only.clone()
    };
    magic.push(("ansible_run_tags".into(), Value::from(run_tags)));
    magic.push((
        "ansible_skip_tags".into(),
        Value::from(opts.tags.skip.clone()),
    ));
    if let Some(src) = r.inv().sources.first().filter(|s| s.exists()) {
        // Absolute, as Ansible's.
        let src = &std::path::absolute(src).unwrap_or_else(|_| src.clone());
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
}
