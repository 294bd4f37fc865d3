//! One play: hosts, batches (`serial`), fact gathering, vars_files, sections, blocks, handlers,
//! strategies and the failure rules that end a play early.

use super::Runner;
use super::scope::ScopeExtras;
use super::state::HostStatus;
use super::task;
use crate::connection::BoxFuture;
use crate::modules;
use crate::plan::{
    Action, Block, Handler, Keywords, Meta, Play, RoleInfo, Serial, Strategy, Task, TaskNode,
};
use crate::report::Event;
use crate::vars;
use crate::yaml;
use minijinja::Value;
use std::collections::HashMap;
use std::path::Path;
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
    pub name: String,
    pub vars: Value,
    pub all_role_defaults: Value,
    pub all_role_vars: Value,
    pub hosts_all: Value,
    pub hostvars: Value,
    pub batch: RwLock<Vec<String>>,
    pub play_hosts: RwLock<Value>,
    pub any_errors_fatal: bool,
    pub max_fail_percentage: Option<f64>,
    pub force_handlers: bool,
    pub strategy: Strategy,
    /// Play and role handlers; include_role adds more at run time.
    pub handlers: RwLock<Vec<Arc<Handler>>>,
}

impl PlayCtx {
    pub fn play_hosts(&self) -> Value {
        self.play_hosts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub fn batch_value(&self) -> Value {
        let b = self.batch.read().unwrap_or_else(|p| p.into_inner());
        Value::from(
            b.iter()
                .map(|h| Value::from(h.as_str()))
                .collect::<Vec<_>>(),
        )
    }
    pub fn batch(&self) -> Vec<String> {
        self.batch.read().unwrap_or_else(|p| p.into_inner()).clone()
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

fn collect_roles<'a>(nodes: &'a [TaskNode], out: &mut Vec<&'a Arc<RoleInfo>>) {
    for n in nodes {
        match n {
            TaskNode::Block(b) => {
                if let Some(r) = &b.role
                    && !out.iter().any(|x| Arc::ptr_eq(x, r))
                {
                    out.push(r);
                }
                collect_roles(&b.block, out);
                collect_roles(&b.rescue, out);
                collect_roles(&b.always, out);
            }
            TaskNode::Task(t) => {
                if let Some(r) = &t.role
                    && !out.iter().any(|x| Arc::ptr_eq(x, r))
                {
                    out.push(r);
                }
            }
        }
    }
}

fn merge_maps(maps: impl Iterator<Item = Value>) -> Value {
    let mut merged: indexmap::IndexMap<String, Value> = indexmap::IndexMap::new();
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

/// Runs one play; false when the playbook must stop.
pub async fn run_play(r: &Arc<Runner>, play: &Play) -> bool {
    // The host pattern may use extra vars and play vars.
    let pattern_scope = vars::scope(
        &r.templar,
        vec![play.vars.clone(), r.extra_vars.clone()],
        Value::from_pairs([("groups".to_string(), r.groups.clone())]),
    );
    let pattern = match r
        .templar
        .template_value(&Value::from(play.hosts.as_str()), &pattern_scope)
    {
        Ok(v) => v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        Err(e) => {
            r.emit(Event::Warning(format!(
                "{}: hosts pattern: {}",
                play.span, e
            )));
            return false;
        }
    };
    let mut hosts = match r.inv.select(&pattern) {
        Ok(h) => h,
        Err(e) => {
            r.emit(Event::Warning(e.to_string()));
            return false;
        }
    };
    if let Some(limit) = &r.opts.limit {
        match r.inv.select(limit) {
            Ok(allowed) => hosts.retain(|h| allowed.contains(h)),
            Err(e) => {
                r.emit(Event::Warning(e.to_string()));
                return false;
            }
        }
    }
    // Hosts that failed or went unreachable in an earlier play sit out the rest.
    hosts.retain(|h| matches!(r.status(h), HostStatus::Active | HostStatus::Ended));
    r.emit(Event::PlayStart {
        name: play.name.clone(),
        hosts: hosts.clone(),
    });
    if hosts.is_empty() {
        r.emit(Event::NoHostsMatched { pattern });
        return true;
    }
    {
        let mut seen = r.seen.lock().unwrap_or_else(|p| p.into_inner());
        for h in &hosts {
            seen.insert(h.clone());
        }
    }
    for h in &hosts {
        r.with_host(h, |s| s.start_play());
    }

    let mut roles = Vec::new();
    for section in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
        collect_roles(section, &mut roles);
    }
    let weak = Arc::downgrade(r);
    let resolver: vars::HostResolver =
        Arc::new(move |h: &str| weak.upgrade().and_then(|r| r.hostvars_scope(h)));
    let mut names: Vec<String> = r.inv.hosts.keys().cloned().collect();
    for h in &hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let ctx = Arc::new(PlayCtx {
        name: play.name.clone(),
        vars: play.vars.clone(),
        all_role_defaults: merge_maps(roles.iter().map(|r| r.defaults.clone())),
        all_role_vars: merge_maps(roles.iter().map(|r| r.vars.clone())),
        hosts_all: Value::from(
            hosts
                .iter()
                .map(|h| Value::from(h.as_str()))
                .collect::<Vec<_>>(),
        ),
        hostvars: vars::hostvars(resolver, names),
        batch: RwLock::new(vec![]),
        play_hosts: RwLock::new(Value::from(Vec::<Value>::new())),
        any_errors_fatal: play.any_errors_fatal,
        max_fail_percentage: play.max_fail_percentage,
        force_handlers: play.force_handlers,
        strategy: play.strategy,
        handlers: RwLock::new(
            play.handlers
                .iter()
                .map(|h| {
                    Arc::new(Handler {
                        task: h.task.clone(),
                        names: h.names.clone(),
                    })
                })
                .collect(),
        ),
    });
    *r.play.write().unwrap_or_else(|p| p.into_inner()) = Some(ctx.clone());

    let mut keep_going = true;
    for batch in batches(&hosts, &play.serial) {
        *ctx.batch.write().unwrap_or_else(|p| p.into_inner()) = batch.clone();
        refresh_play_hosts(r, &ctx);
        let flow = run_batch(r, play, &ctx, &batch).await;
        if flow == Flow::Abort {
            keep_going = false;
            break;
        }
        let alive = hosts
            .iter()
            .any(|h| matches!(r.status(h), HostStatus::Active | HostStatus::Ended));
        if !alive {
            keep_going = false;
            break;
        }
    }
    *r.play.write().unwrap_or_else(|p| p.into_inner()) = None;
    keep_going
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
            Serial::Count(c) => (*c).max(1),
            Serial::Percent(p) => (((n as f64) * p / 100.0) as usize).max(1),
        };
        let end = (i + size).min(n);
        out.push(hosts[i..end].to_vec());
        i = end;
        k += 1;
    }
    out
}

pub fn refresh_play_hosts(r: &Runner, ctx: &PlayCtx) {
    let active: Vec<Value> = ctx
        .batch()
        .iter()
        .filter(|h| r.status(h) == HostStatus::Active)
        .map(|h| Value::from(h.as_str()))
        .collect();
    *ctx.play_hosts.write().unwrap_or_else(|p| p.into_inner()) = Value::from(active);
}

async fn run_batch(r: &Arc<Runner>, play: &Play, ctx: &Arc<PlayCtx>, batch: &[String]) -> Flow {
    if play.gather_facts {
        if let Some(setup) = modules::lookup("setup") {
            let mut args = vec![];
            if !play.gather_subset.is_empty() {
                args.push((
                    "gather_subset".to_string(),
                    Value::from(
                        play.gather_subset
                            .iter()
                            .map(|s| Value::from(s.as_str()))
                            .collect::<Vec<_>>(),
                    ),
                ));
            }
            let mut kw = play.kw.clone();
            kw.tags = vec!["always".into()];
            kw.when.clear();
            let gather = Arc::new(Task {
                span: play.span.clone(),
                name: Some("Gathering Facts".into()),
                action_name: "setup".into(),
                action: Action::Module(setup),
                args: Value::from_pairs(args),
                kw,
                role: None,
                loop_: None,
                loop_control: Default::default(),
                register: None,
                notify: vec![],
                changed_when: vec![],
                failed_when: vec![],
                until: vec![],
                retries: None,
                delay: None,
                local_action: false,
            });
            let flow = task::run_task(r, &gather, batch, false).await;
            if flow != Flow::Continue {
                return flow;
            }
        } else {
            r.emit(Event::Warning(
                "fact gathering is not available (no setup module)".into(),
            ));
        }
    }
    if !play.vars_files.is_empty() {
        for h in batch {
            if r.status(h) != HostStatus::Active {
                continue;
            }
            if let Err(msg) = load_vars_files(r, play, h) {
                task::fail_host(r, h, "vars_files", &msg);
            }
        }
        if let Some(f) = after_task_checks(r, ctx, batch, &[]) {
            return f;
        }
    }
    for (i, section) in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks]
        .into_iter()
        .enumerate()
    {
        let flow = run_section(r, ctx, section, batch).await;
        if flow == Flow::Abort {
            return flow;
        }
        // Handlers run after pre_tasks, after roles+tasks, and after post_tasks.
        if i != 1 || flow != Flow::Continue {
            let hf = flush_handlers(r, ctx, batch).await;
            if hf == Flow::Abort {
                return hf;
            }
        }
        if flow == Flow::EndBatch {
            return Flow::EndBatch;
        }
    }
    Flow::Continue
}

async fn run_section(
    r: &Arc<Runner>,
    ctx: &Arc<PlayCtx>,
    nodes: &[TaskNode],
    batch: &[String],
) -> Flow {
    match ctx.strategy {
        Strategy::Linear => run_nodes(r, nodes, batch.to_vec()).await,
        Strategy::Free => {
            let futs = batch.iter().map(|h| run_nodes(r, nodes, vec![h.clone()]));
            let flows = futures::future::join_all(futs).await;
            flows.into_iter().fold(Flow::Continue, |a, b| match (a, b) {
                (Flow::Abort, _) | (_, Flow::Abort) => Flow::Abort,
                (Flow::EndBatch, _) | (_, Flow::EndBatch) => Flow::EndBatch,
                _ => Flow::Continue,
            })
        }
    }
}

fn load_vars_files(r: &Arc<Runner>, play: &Play, host: &str) -> Result<(), String> {
    let scope = r.scope(host, ScopeExtras::default());
    for (alternatives, span) in &play.vars_files {
        let mut found = None;
        let mut tried = vec![];
        for alt in alternatives {
            let name = r
                .templar
                .template_value(&Value::from(alt.as_str()), &scope)
                .map_err(|e| format!("{}: {}", span, e))?;
            let name = name
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| name.to_string());
            let p = Path::new(&name);
            let path = if p.is_absolute() {
                p.to_path_buf()
            } else {
                r.playbook_dir.join(p)
            };
            if path.exists() {
                found = Some(path);
                break;
            }
            tried.push(path.display().to_string());
        }
        let Some(path) = found else {
            return Err(format!(
                "{}: vars file not found (tried {})",
                span,
                tried.join(", ")
            ));
        };
        let docs = yaml::load_file(&path).map_err(|e| e.to_string())?;
        for doc in docs {
            if doc.is_null() {
                continue;
            }
            let map = doc.expect_map("a vars file").map_err(|e| e.to_string())?;
            let items: Vec<(String, Value)> = map
                .iter()
                .map(|(k, v)| (k.key_string().unwrap_or_default(), v.to_value()))
                .collect();
            r.with_host(host, |s| s.vars_files.extend(items));
        }
    }
    Ok(())
}

/// Runs nodes on hosts (linear: each task on all hosts before the next).
pub fn run_nodes<'a>(
    r: &'a Arc<Runner>,
    nodes: &'a [TaskNode],
    hosts: Vec<String>,
) -> BoxFuture<'a, Flow> {
    Box::pin(async move {
        for node in nodes {
            if !hosts.iter().any(|h| r.status(h) == HostStatus::Active) {
                break;
            }
            let flow = match node {
                TaskNode::Task(t) => task::run_task(r, t, &hosts, false).await,
                TaskNode::Block(b) => run_block(r, b, &hosts).await,
            };
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    })
}

async fn run_block(r: &Arc<Runner>, b: &Block, hosts: &[String]) -> Flow {
    let entered: Vec<String> = hosts
        .iter()
        .filter(|h| r.status(h) == HostStatus::Active)
        .cloned()
        .collect();
    let flow = run_nodes(r, &b.block, entered.clone()).await;
    if flow == Flow::Abort {
        return flow;
    }
    let failed: Vec<String> = entered
        .iter()
        .filter(|h| r.status(h) == HostStatus::Failed)
        .cloned()
        .collect();
    if !b.rescue.is_empty() && !failed.is_empty() && flow == Flow::Continue {
        for h in &failed {
            r.with_host(h, |s| s.rescue());
        }
        if let Some(ctx) = r.play_ctx() {
            refresh_play_hosts(r, &ctx);
        }
        // The rescue sees what failed as ansible_failed_task / ansible_failed_result.
        for h in &failed {
            r.with_host(h, |s| {
                let (failed_task, failed_result) = s.last_failure.clone().unwrap_or_default();
                s.include_stack.push(Value::from_pairs([
                    ("ansible_failed_task".to_string(), failed_task),
                    ("ansible_failed_result".to_string(), failed_result),
                ]));
            });
        }
        let rf = run_nodes(r, &b.rescue, failed.clone()).await;
        for h in &failed {
            r.with_host(h, |s| {
                s.include_stack.pop();
            });
        }
        if rf == Flow::Abort {
            return rf;
        }
    }
    if !b.always.is_empty() {
        let still_failed: Vec<String> = entered
            .iter()
            .filter(|h| r.status(h) == HostStatus::Failed)
            .cloned()
            .collect();
        for h in &still_failed {
            r.with_host(h, |s| s.clear_failure());
        }
        let runnable: Vec<String> = entered
            .iter()
            .filter(|h| r.status(h) == HostStatus::Active)
            .cloned()
            .collect();
        let af = run_nodes(r, &b.always, runnable).await;
        for h in &still_failed {
            r.with_host(h, |s| s.restore_failure());
        }
        if let Some(ctx) = r.play_ctx() {
            refresh_play_hosts(r, &ctx);
        }
        if af != Flow::Continue {
            return af;
        }
    }
    flow
}

/// Runs notified handlers, in definition order, on the hosts that notified them.
pub async fn flush_handlers(r: &Arc<Runner>, ctx: &Arc<PlayCtx>, hosts: &[String]) -> Flow {
    // A handler may notify a later one; a later one may notify an earlier one (next round).
    for _round in 0..8 {
        let handlers: Vec<Arc<Handler>> = ctx
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut ran_any = false;
        for (i, h) in handlers.iter().enumerate() {
            let targets: Vec<String> = hosts
                .iter()
                .filter(|host| {
                    r.with_host(host, |s| {
                        s.notified.contains(&i)
                            && (s.is_active()
                                || (ctx.force_handlers && s.status() == HostStatus::Failed))
                    })
                })
                .cloned()
                .collect();
            if targets.is_empty() {
                continue;
            }
            for t in &targets {
                r.with_host(t, |s| {
                    s.notified.shift_remove(&i);
                    s.clear_failure();
                });
            }
            ran_any = true;
            let flow = task::run_task(r, &h.task, &targets, true).await;
            if flow != Flow::Continue {
                return flow;
            }
        }
        if !ran_any {
            break;
        }
    }
    Flow::Continue
}

/// After a task: any_errors_fatal, max_fail_percentage, and "no hosts left".
pub fn after_task_checks(
    r: &Arc<Runner>,
    ctx: &PlayCtx,
    batch: &[String],
    newly_failed: &[String],
) -> Option<Flow> {
    refresh_play_hosts(r, ctx);
    if ctx.any_errors_fatal && !newly_failed.is_empty() {
        for h in batch {
            r.with_host(h, |s| s.end_if_active());
        }
        r.emit(Event::PlayAborted {
            reason: format!("any_errors_fatal: {} failed", newly_failed.join(", ")),
        });
        return Some(Flow::Abort);
    }
    if let Some(pct) = ctx.max_fail_percentage {
        let failed = batch
            .iter()
            .filter(|h| matches!(r.status(h), HostStatus::Failed | HostStatus::Unreachable))
            .count();
        if !batch.is_empty() && (failed as f64) * 100.0 / (batch.len() as f64) > pct {
            r.emit(Event::PlayAborted {
                reason: format!(
                    "max_fail_percentage {}% exceeded ({} of {} hosts failed)",
                    pct,
                    failed,
                    batch.len()
                ),
            });
            return Some(Flow::Abort);
        }
    }
    None
}

/// `meta:` actions.
pub async fn run_meta(r: &Arc<Runner>, ctx: &Arc<PlayCtx>, meta: Meta, hosts: &[String]) -> Flow {
    match meta {
        Meta::FlushHandlers => flush_handlers(r, ctx, &ctx.batch()).await,
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
            refresh_play_hosts(r, ctx);
            Flow::Continue
        }
        Meta::ResetConnection => {
            for h in hosts {
                r.pool.reset(h).await;
            }
            Flow::Continue
        }
        Meta::Noop | Meta::RefreshInventory => Flow::Continue,
    }
}

/// Tasks of a file included at run time, cached per path.
pub fn include_file(
    r: &Runner,
    path: &Path,
    role: Option<Arc<RoleInfo>>,
    kw: &Keywords,
) -> Result<Arc<Vec<TaskNode>>, String> {
    let key = path.to_path_buf();
    if let Some(t) = r
        .include_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
    {
        return Ok(t.clone());
    }
    let nodes =
        crate::plan::load_tasks_file(path, role, kw, &r.opts.load).map_err(|e| e.to_string())?;
    let nodes = Arc::new(nodes);
    r.include_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, nodes.clone());
    Ok(nodes)
}

/// Groups hosts by a per-host key (which file they include), keeping first-seen order.
pub fn group_by<K: std::hash::Hash + Eq + Clone>(items: Vec<(String, K)>) -> Vec<(K, Vec<String>)> {
    let mut order: Vec<K> = vec![];
    let mut map: HashMap<K, Vec<String>> = HashMap::new();
    for (h, k) in items {
        if !map.contains_key(&k) {
            order.push(k.clone());
        }
        map.entry(k).or_default().push(h);
    }
    order
        .into_iter()
        .map(|k| {
            let v = map.remove(&k).unwrap_or_default();
            (k, v)
        })
        .collect()
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
    }
}
