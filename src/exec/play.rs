//! One play: its hosts (pattern ∩ `--limit`, minus hosts that failed in an earlier play), its
//! context ([`PlayCtx`], with `hostvars` resolving through it), and its batches (`serial`).
//!
//! Owns: host selection for a play, batch splitting, when the playbook stops after a play.
//! Must not know: what a batch runs (`batch.rs`).

use super::batch::run_batch;
use super::ctx::{Flow, PlayCtx};
use super::eval::text;
use super::runner::Runner;
use super::scope::hostvars_scope;
use super::state::HostStatus;
use crate::error::{LoadError, Span};
use crate::plan::{Play, PlayRules, RoleInfo, Serial, TaskNode};
use crate::report::Event;
use crate::vars::{self, TemplateError};
use minijinja::Value;
use std::sync::{Arc, Weak};

/// Why a play has no hosts to run on (the playbook stops).
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("{span}: hosts pattern: {source}")]
    Pattern { span: Span, source: TemplateError },
    #[error("{0}")]
    Select(#[from] LoadError),
}

/// Runs one play; false when the playbook must stop.
pub async fn run_play(r: &Arc<Runner>, play: &Play) -> bool {
    let (hosts, pattern) = match select_hosts(r, play) {
        Ok(selected) => selected,
        Err(e) => {
            r.emit(Event::Warning(e.to_string()));
            return false;
        }
    };
    let rules = match play_rules(r, play) {
        Ok(rules) => rules,
        Err(e) => {
            r.emit(Event::Warning(e.to_string()));
            return false;
        }
    };
    r.emit(Event::PlayStart {
        name: play.name.clone(),
        hosts: hosts.clone(),
    });
    if hosts.is_empty() {
        r.emit(Event::NoHostsMatched { pattern });
        return true;
    }
    r.see(&hosts);
    for h in &hosts {
        r.with_host(h, |s| s.start_play());
    }
    let ctx = play_ctx(r, play, &hosts, &rules);
    for batch in batches(&hosts, &rules.serial) {
        ctx.set_batch(r, batch.clone());
        if run_batch(r, play, &ctx, &batch).await == Flow::Abort {
            return false;
        }
        let alive = hosts
            .iter()
            .any(|h| matches!(r.status(h), HostStatus::Active | HostStatus::Ended));
        if !alive {
            return false;
        }
    }
    true
}

/// The play's hosts and its rendered pattern. Hosts that failed or went unreachable in an
/// earlier play sit out the rest.
fn select_hosts(r: &Runner, play: &Play) -> Result<(Vec<String>, String), HostsError> {
    let pattern_scope = play_scope(r, play);
    let pattern = r
        .templar()
        .template_value(&Value::from(play.hosts.as_str()), &pattern_scope)
        .map_err(|source| HostsError::Pattern {
            span: play.span.clone(),
            source,
        })?;
    let pattern = text(&pattern);
    let mut hosts = r.inv().select(&pattern)?;
    if let Some(limit) = &r.opts().limit {
        let allowed = r.inv().select(limit)?;
        hosts.retain(|h| allowed.contains(h));
    }
    hosts.retain(|h| matches!(r.status(h), HostStatus::Active | HostStatus::Ended));
    Ok((hosts, pattern))
}

/// What a play's own keywords (hosts, serial...) are rendered with: extra vars and play vars.
fn play_scope(r: &Runner, play: &Play) -> Value {
    vars::scope(
        r.templar(),
        vec![play.vars.clone(), r.extra_vars().clone()],
        Value::from_pairs([("groups".to_string(), r.groups().clone())]),
    )
}

/// `serial`, `max_fail_percentage` and `any_errors_fatal`, the templated ones rendered now.
fn play_rules(r: &Runner, play: &Play) -> Result<PlayRules, LoadError> {
    if play.templated.is_empty() {
        return play.rules(|v| Ok(v.clone()));
    }
    let scope = play_scope(r, play);
    play.rules(|v| {
        r.templar()
            .template_value(v, &scope)
            .map_err(|e| e.to_string())
    })
}

/// The play's context; its `hostvars` resolves hosts through the context itself.
fn play_ctx(r: &Arc<Runner>, play: &Play, hosts: &[String], rules: &PlayRules) -> Arc<PlayCtx> {
    let mut roles = Vec::new();
    for section in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
        collect_roles(section, &mut roles);
    }
    let mut names: Vec<String> = r.inv().hosts.keys().cloned().collect();
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let force_handlers = r.opts().force_handlers;
    let runner = Arc::downgrade(r);
    Arc::new_cyclic(|me: &Weak<PlayCtx>| {
        let me = me.clone();
        let resolver: vars::HostResolver = Arc::new(move |h: &str| {
            let (r, ctx) = (runner.upgrade()?, me.upgrade()?);
            hostvars_scope(&r, &ctx, h)
        });
        let mut ctx = PlayCtx::new(play, rules, &roles, hosts, vars::hostvars(resolver, names));
        ctx.force_handlers |= force_handlers;
        ctx
    })
}

/// Every role of the play's nodes, once each, in order of first appearance.
fn collect_roles<'a>(nodes: &'a [TaskNode], out: &mut Vec<&'a Arc<RoleInfo>>) {
    fn add<'a>(role: &'a Option<Arc<RoleInfo>>, out: &mut Vec<&'a Arc<RoleInfo>>) {
        if let Some(r) = role
            && !out.iter().any(|x| Arc::ptr_eq(x, r))
        {
            out.push(r);
        }
    }
    for n in nodes {
        match n {
            TaskNode::Block(b) => {
                add(&b.role, out);
                collect_roles(&b.block, out);
                collect_roles(&b.rescue, out);
                collect_roles(&b.always, out);
            }
            TaskNode::Task(t) => add(&t.role, out),
        }
    }
}

/// Splits hosts by `serial` (counts, percentages, a list whose last entry repeats).
pub fn batches(hosts: &[String], serial: &[Serial]) -> Vec<Vec<String>> {
    if serial.is_empty() {
        return vec![hosts.to_vec()];
    }
    let n = hosts.len();
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < n {
        let spec = &serial[k.min(serial.len() - 1)];
        let size = match spec {
            // Ansible: a count of 0 is every (remaining) host at once.
            Serial::Count(0) => n,
            Serial::Count(c) => *c,
            Serial::Percent(p) => (((n as f64) * p / 100.0) as usize).max(1),
        };
        let end = (i + size).min(n);
        out.push(hosts[i..end].to_vec());
        i = end;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_batches() {
        let hosts: Vec<String> = (1..=5).map(|i| format!("h{}", i)).collect();
        let b = batches(&hosts, &[Serial::Count(1), Serial::Count(2)]);
        assert_eq!(b.iter().map(|x| x.len()).collect::<Vec<_>>(), vec![1, 2, 2]);
        let b = batches(&hosts, &[Serial::Percent(40.0)]);
        assert_eq!(b.iter().map(|x| x.len()).collect::<Vec<_>>(), vec![2, 2, 1]);
        assert_eq!(batches(&hosts, &[]).len(), 1);
        // Ansible's pct_to_int: 0 is every host, a percentage is at least one host.
        assert_eq!(batches(&hosts, &[Serial::Count(0)]).len(), 1);
        let b = batches(&hosts, &[Serial::Percent(1.0)]);
        assert_eq!(b.len(), 5);
    }
}
