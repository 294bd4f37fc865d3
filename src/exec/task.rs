//! One task on a set of hosts: tags, conditions, loops, the module call (with retries),
//! changed_when/failed_when, register, notify, facts, counters and result events.

use super::Runner;
use super::connect::{BecomeInput, ConnTarget, become_spec};
use super::play::{self, Flow, PlayCtx};
use super::scope::ScopeExtras;
use super::state::HostStatus;
use crate::connection::Connection;
use crate::connection::local::LocalConnection;
use crate::modules::{DynModule, ModuleError, Outcome, TaskContext, Templating, TemplatingError};
use crate::plan::{Action, Cond, LoopSource, Task};
use crate::report::{Event, HostResult, Status};
use crate::vars::{self, Templar};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connection variables read from a host's scope.
const CONN_VARS: &[&str] = &[
    "ansible_connection",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "ansible_ssh_private_key_passphrase",
    "ansible_timeout",
    "ansible_ssh_timeout",
    "ansible_host_key_checking",
    "ansible_ssh_host_key_checking",
    "ansible_become",
    "ansible_become_user",
    "ansible_become_method",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
    "ansible_become_flags",
    "rmesos_persistent_shell",
];

/// Templating over one scope, as modules see it.
struct ScopeTemplating<'a> {
    templar: &'a Templar,
    scope: &'a Value,
}

impl Templating for ScopeTemplating<'_> {
    fn render_text(&self, text: &str, origin: &Path) -> Result<String, TemplatingError> {
        self.templar
            .render_text(text, &origin.display().to_string(), self.scope)
            .map_err(|e| TemplatingError {
                msg: e.msg,
                undefined: e.undefined,
            })
    }
    fn eval(&self, expr: &str) -> Result<Value, TemplatingError> {
        self.templar
            .eval_expr(expr, self.scope)
            .map_err(|e| TemplatingError {
                msg: e.msg,
                undefined: e.undefined,
            })
    }
    fn eval_bool(&self, expr: &str) -> Result<bool, TemplatingError> {
        self.templar
            .eval_bool(expr, self.scope)
            .map_err(|e| TemplatingError {
                msg: e.msg,
                undefined: e.undefined,
            })
    }
}

fn tmpl_str(r: &Runner, v: &Option<Value>, scope: &Value) -> Result<Option<String>, String> {
    match v {
        None => Ok(None),
        Some(v) => {
            let out = r
                .templar
                .template_value(v, scope)
                .map_err(|e| e.to_string())?;
            if out.is_none() || out.is_undefined() {
                return Ok(None);
            }
            Ok(Some(
                out.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| out.to_string()),
            ))
        }
    }
}

fn tmpl_bool(r: &Runner, v: &Option<Value>, scope: &Value) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some(v) => {
            let out = r
                .templar
                .template_value(v, scope)
                .map_err(|e| e.to_string())?;
            Ok(Some(match out.as_str() {
                Some(s) => crate::modules::args::parse_bool(s)
                    .ok_or_else(|| format!("{:?} is not a boolean", s))?,
                None => out.is_true(),
            }))
        }
    }
}

/// Marks a host failed outside a task's normal path (vars_files, includes).
pub fn fail_host(r: &Runner, host: &str, what: &str, msg: &str) {
    r.with_host(host, |s| {
        s.status = HostStatus::Failed;
        s.stats.failed += 1;
    });
    r.emit(Event::HostResult(Box::new(HostResult {
        host: host.to_string(),
        delegated_to: None,
        status: Status::Failed,
        item: None,
        msg: Some(format!("{}: {}", what, msg)),
        result: Value::from_pairs([("msg".to_string(), Value::from(format!("{}: {}", what, msg)))]),
        diff: vec![],
        ignored: false,
        no_log: false,
        loop_summary: false,
        duration: Duration::ZERO,
    })));
}

fn cond_holds(r: &Runner, conds: &[Cond], scope: &Value) -> Result<bool, String> {
    for c in conds {
        match r.templar.eval_bool(&c.expr, scope) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                return Err(format!(
                    "{}: error while evaluating conditional ({}): {}",
                    c.span, c.expr, e
                ));
            }
        }
    }
    Ok(true)
}

/// Whether the task is selected by --tags/--skip-tags and --start-at-task.
fn selected(r: &Runner, task: &Task, handler: bool) -> bool {
    if handler {
        return true;
    }
    if matches!(task.action, Action::Meta(crate::plan::Meta::FlushHandlers)) {
        return true;
    }
    // Includes run when any included task could be selected; their tasks are filtered then.
    let is_include = matches!(
        task.action,
        Action::IncludeTasks { .. } | Action::IncludeRole { .. }
    );
    if !is_include && !r.opts.tags.selects(&task.kw.tags) {
        return false;
    }
    if !is_include {
        let mut start = r.start_at.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(name) = start.as_ref() {
            let own = task.name.clone().unwrap_or_default();
            if &own == name || &task.display_name() == name {
                *start = None;
            } else {
                return false;
            }
        }
    }
    true
}

/// Runs a task on every active host in `hosts`.
pub fn run_task<'a>(
    r: &'a Arc<Runner>,
    task: &'a Arc<Task>,
    hosts: &'a [String],
    handler: bool,
) -> crate::connection::BoxFuture<'a, Flow> {
    Box::pin(run_task_inner(r, task, hosts, handler))
}

async fn run_task_inner(
    r: &Arc<Runner>,
    task: &Arc<Task>,
    hosts: &[String],
    handler: bool,
) -> Flow {
    if !selected(r, task, handler) {
        return Flow::Continue;
    }
    let Some(ctx) = r.play_ctx() else {
        return Flow::Continue;
    };
    let mut active: Vec<String> = hosts
        .iter()
        .filter(|h| r.status(h) == HostStatus::Active)
        .cloned()
        .collect();
    if active.is_empty() {
        return Flow::Continue;
    }
    match &task.action {
        Action::Meta(m) => {
            // meta honours `when` per host for end_host; others act on the batch.
            let mut selected_hosts = vec![];
            for h in &active {
                let scope = r.scope(
                    h,
                    ScopeExtras {
                        role: task.role.as_deref(),
                        task_vars: &task.kw.vars,
                        ..Default::default()
                    },
                );
                match cond_holds(r, &task.kw.when, &scope) {
                    Ok(true) => selected_hosts.push(h.clone()),
                    Ok(false) => {}
                    Err(e) => fail_host(r, h, "meta", &e),
                }
            }
            if selected_hosts.is_empty() {
                return Flow::Continue;
            }
            return play::run_meta(r, &ctx, *m, &selected_hosts).await;
        }
        Action::IncludeTasks { .. } | Action::IncludeRole { .. } => {
            return run_include(r, &ctx, task, &active).await;
        }
        Action::Module(_) => {}
    }
    r.emit(Event::TaskStart {
        name: task.display_name(),
        handler,
        location: task.span.to_string(),
    });
    let started = Instant::now();

    let run_once = match tmpl_bool(
        r,
        &task.kw.run_once,
        &r.scope(&active[0], ScopeExtras::default()),
    ) {
        Ok(b) => b.unwrap_or(false),
        Err(_) => false,
    };
    let all_hosts = active.clone();
    if run_once {
        active.truncate(1);
    }

    let total = active.len();
    let done = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
    let ctx_ref = &ctx;
    let futs = active.iter().map(|h| {
        let done = &done;
        async move {
            let _permit = r.forks.acquire().await;
            let res = run_on_host(r, ctx_ref, task, h).await;
            done.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(h.clone());
            (h.clone(), res)
        }
    });
    let mut all = std::pin::pin!(futures::future::join_all(futs));
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    let results = loop {
        tokio::select! {
            res = &mut all => break res,
            _ = tick.tick() => {
                let d = done.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let waiting: Vec<String> = active.iter().filter(|h| !d.contains(*h)).cloned().collect();
                r.emit(Event::Progress { task: task.display_name(), done: d.len(), total, waiting });
            }
        }
    };

    if run_once {
        // The one result stands for every host: register and facts land on all of them.
        if let Some((_, Some(reg))) = results.first() {
            for h in all_hosts.iter().skip(1) {
                if let Some(name) = &task.register {
                    r.with_host(h, |s| s.set_facts.set(name, reg.clone()));
                }
            }
        }
    }
    r.emit(Event::TaskTiming {
        name: task.display_name(),
        elapsed: started.elapsed(),
    });

    let newly_failed: Vec<String> = active
        .iter()
        .filter(|h| matches!(r.status(h), HostStatus::Failed | HostStatus::Unreachable))
        .cloned()
        .collect();
    let any_fatal = task.kw.any_errors_fatal.unwrap_or(ctx.any_errors_fatal);
    if any_fatal && !newly_failed.is_empty() {
        let batch = ctx.batch();
        for h in &batch {
            r.with_host(h, |s| {
                if s.status == HostStatus::Active {
                    s.status = HostStatus::Ended;
                }
            });
        }
        r.emit(Event::PlayAborted {
            reason: format!("any_errors_fatal: {} failed", newly_failed.join(", ")),
        });
        return Flow::Abort;
    }
    if let Some(f) = play::after_task_checks(r, &ctx, &ctx.batch(), &[]) {
        return f;
    }
    if ctx
        .batch()
        .iter()
        .all(|h| matches!(r.status(h), HostStatus::Failed | HostStatus::Unreachable))
    {
        r.emit(Event::PlayAborted {
            reason: "every host has failed".into(),
        });
        return Flow::Abort;
    }
    Flow::Continue
}

/// The loop items of a task on a host (templated), or None without a loop.
fn loop_items(r: &Runner, task: &Task, scope: &Value) -> Result<Option<Vec<Value>>, String> {
    let Some((src, span)) = &task.loop_ else {
        return Ok(None);
    };
    let items = match src {
        LoopSource::Loop(v) => {
            let v = r
                .templar
                .template_value(v, scope)
                .map_err(|e| format!("{}: loop: {}", span, e))?;
            match v.kind() {
                minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Iterable => {
                    v.try_iter().map_err(|e| e.to_string())?.collect()
                }
                _ => return Err(format!("{}: loop needs a list, got {}", span, v.kind())),
            }
        }
        LoopSource::With(name, arg) => {
            let arg = r
                .templar
                .template_value(arg, scope)
                .map_err(|e| format!("{}: with_{}: {}", span, name, e))?;
            let arg = if name == "fileglob" {
                resolve_fileglob(r, task, &arg)
            } else {
                arg
            };
            super::loops::with_lookup(name, &arg).map_err(|e| format!("{}: {}", span, e))?
        }
    };
    Ok(Some(items))
}

/// with_fileglob patterns are relative to the role's or playbook's `files/`.
fn resolve_fileglob(r: &Runner, task: &Task, arg: &Value) -> Value {
    let rel = |p: &str| -> String {
        if Path::new(p).is_absolute() {
            return p.to_string();
        }
        for dir in search_paths(r, task) {
            let cand = dir.join("files").join(p);
            if glob::glob(&cand.display().to_string())
                .map(|mut g| g.next().is_some())
                .unwrap_or(false)
            {
                return cand.display().to_string();
            }
        }
        r.playbook_dir.join(p).display().to_string()
    };
    match arg.as_str() {
        Some(s) => Value::from(rel(s)),
        None => match arg.try_iter() {
            Ok(it) => Value::from(
                it.map(|v| {
                    Value::from(rel(&v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())))
                })
                .collect::<Vec<_>>(),
            ),
            Err(_) => arg.clone(),
        },
    }
}

pub fn search_paths(r: &Runner, task: &Task) -> Vec<PathBuf> {
    let mut v = vec![];
    if let Some(role) = &task.role {
        v.push(role.path.clone());
    }
    if let Some(dir) = Path::new(&*task.span.file).parent() {
        v.push(dir.to_path_buf());
    }
    if !v.contains(&r.playbook_dir) {
        v.push(r.playbook_dir.clone());
    }
    v
}

fn loop_label(r: &Runner, task: &Task, item: &Value, scope: &Value) -> String {
    if let Some(label) = &task.loop_control.label
        && let Ok(v) = r.templar.template_value(label, scope)
    {
        return v
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
    }
    item.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| item.to_string())
}

/// One task on one host; returns the registered value.
async fn run_on_host(
    r: &Arc<Runner>,
    ctx: &Arc<PlayCtx>,
    task: &Arc<Task>,
    host: &str,
) -> Option<Value> {
    let started = Instant::now();
    let extras = || ScopeExtras {
        role: task.role.as_deref(),
        task_vars: &task.kw.vars,
        ..Default::default()
    };
    let scope = r.scope(host, extras());
    let no_log = tmpl_bool(r, &task.kw.no_log, &scope)
        .ok()
        .flatten()
        .unwrap_or(false);
    let ignore_errors = tmpl_bool(r, &task.kw.ignore_errors, &scope)
        .ok()
        .flatten()
        .unwrap_or(false);
    let ignore_unreachable = tmpl_bool(r, &task.kw.ignore_unreachable, &scope)
        .ok()
        .flatten()
        .unwrap_or(false);

    let items = match loop_items(r, task, &scope) {
        Ok(i) => i,
        Err(e) => {
            let res = ItemResult::failed(e);
            return Some(finish(
                r,
                ctx,
                task,
                host,
                vec![(None, res)],
                false,
                no_log,
                ignore_errors,
                ignore_unreachable,
                started,
            ));
        }
    };
    let mut results: Vec<(Option<(Value, String)>, ItemResult)> = vec![];
    match items {
        None => {
            let res = match cond_holds(r, &task.kw.when, &scope) {
                Ok(false) => ItemResult::skipped(&task.kw.when),
                Err(e) => ItemResult::failed(e),
                Ok(true) => run_item(r, task, host, &scope, &[]).await,
            };
            results.push((None, res));
        }
        Some(items) => {
            let loop_var = task
                .loop_control
                .loop_var
                .clone()
                .unwrap_or_else(|| "item".into());
            let n = items.len();
            for (i, item) in items.into_iter().enumerate() {
                let mut magic = vec![
                    (loop_var.clone(), item.clone()),
                    (
                        "ansible_loop_var".to_string(),
                        Value::from(loop_var.as_str()),
                    ),
                ];
                if let Some(iv) = &task.loop_control.index_var {
                    magic.push((iv.clone(), Value::from(i)));
                }
                if task.loop_control.extended {
                    magic.push((
                        "ansible_loop".into(),
                        Value::from_pairs([
                            ("index".to_string(), Value::from(i + 1)),
                            ("index0".to_string(), Value::from(i)),
                            ("first".to_string(), Value::from(i == 0)),
                            ("last".to_string(), Value::from(i + 1 == n)),
                            ("length".to_string(), Value::from(n)),
                            ("revindex".to_string(), Value::from(n - i)),
                            ("revindex0".to_string(), Value::from(n - i - 1)),
                        ]),
                    ));
                }
                let item_scope = r.scope(
                    host,
                    ScopeExtras {
                        magic: magic.clone(),
                        ..extras()
                    },
                );
                let label = loop_label(r, task, &item, &item_scope);
                let mut res = match cond_holds(r, &task.kw.when, &item_scope) {
                    Ok(false) => ItemResult::skipped(&task.kw.when),
                    Err(e) => ItemResult::failed(e),
                    Ok(true) => run_item(r, task, host, &item_scope, &magic).await,
                };
                res.result.insert(loop_var.clone(), item.clone());
                res.result
                    .insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                let unreachable = res.status == Status::Unreachable;
                emit_result(
                    r,
                    task,
                    host,
                    &res,
                    Some(label.clone()),
                    no_log,
                    ignore_errors && res.status == Status::Failed,
                    false,
                );
                results.push((Some((item, label)), res));
                if unreachable {
                    break;
                }
                if let Some(p) = task.loop_control.pause
                    && i + 1 < n
                {
                    tokio::time::sleep(Duration::from_secs_f64(p)).await;
                }
            }
        }
    }
    let is_loop = task.loop_.is_some();
    Some(finish(
        r,
        ctx,
        task,
        host,
        results,
        is_loop,
        no_log,
        ignore_errors,
        ignore_unreachable,
        started,
    ))
}

/// The result of one module call (one loop item).
struct ItemResult {
    status: Status,
    result: IndexMap<String, Value>,
    msg: Option<String>,
    diff: Vec<crate::modules::FileDiff>,
    facts: IndexMap<String, Value>,
    set_facts: IndexMap<String, Value>,
    include_vars: IndexMap<String, Value>,
    delegated_to: Option<String>,
}

impl ItemResult {
    fn failed(msg: String) -> Self {
        let mut result = IndexMap::new();
        result.insert("failed".into(), Value::from(true));
        result.insert("msg".into(), Value::from(msg.as_str()));
        ItemResult {
            status: Status::Failed,
            result,
            msg: Some(msg),
            diff: vec![],
            facts: IndexMap::new(),
            set_facts: IndexMap::new(),
            include_vars: IndexMap::new(),
            delegated_to: None,
        }
    }
    fn skipped(conds: &[Cond]) -> Self {
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
        ItemResult {
            status: Status::Skipped,
            result,
            msg: None,
            diff: vec![],
            facts: IndexMap::new(),
            set_facts: IndexMap::new(),
            include_vars: IndexMap::new(),
            delegated_to: None,
        }
    }
    fn value(&self) -> Value {
        Value::from_pairs(self.result.iter().map(|(k, v)| (k.clone(), v.clone())))
    }
}

fn strip_omit(v: Value) -> Value {
    if v.kind() != minijinja::value::ValueKind::Map {
        return v;
    }
    let Ok(keys) = v.try_iter() else { return v };
    let entries: Vec<(String, Value)> = keys
        .filter_map(|k| {
            let val = v.get_item(&k).unwrap_or_default();
            if val.as_str() == Some(vars::omit_token()) {
                return None;
            }
            Some((
                k.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| k.to_string()),
                val,
            ))
        })
        .collect();
    Value::from_pairs(entries)
}

async fn connection_for(
    r: &Arc<Runner>,
    task: &Task,
    host: &str,
    scope: &Value,
) -> Result<(Arc<dyn Connection>, IndexMap<String, Value>, Option<String>), ModuleError> {
    let delegate = if task.local_action {
        Some("localhost".to_string())
    } else {
        tmpl_str(r, &task.kw.delegate_to, scope).map_err(ModuleError::Failed)?
    };
    // Connection variables come from the host the work runs on.
    let (conn_host, conn_scope) = match &delegate {
        Some(d) if d != host => {
            let s = r.hostvars_scope(d).unwrap_or_else(|| {
                let implicit = r.implicit_host_vars(d);
                vars::scope(
                    &r.templar,
                    vec![implicit],
                    Value::from_pairs([(
                        "inventory_hostname".to_string(),
                        Value::from(d.as_str()),
                    )]),
                )
            });
            (d.clone(), s)
        }
        _ => (host.to_string(), scope.clone()),
    };
    let mut cvars = IndexMap::new();
    for name in CONN_VARS {
        match conn_scope.get_attr(name) {
            Ok(v) if !v.is_undefined() && !v.is_none() => {
                cvars.insert(name.to_string(), v);
            }
            Ok(_) => {}
            Err(e) => return Err(ModuleError::Failed(format!("{}: {}", name, e))),
        }
    }
    let mut kind = cvars
        .get("ansible_connection")
        .map(|v| v.to_string())
        .unwrap_or_default();
    // A task's `connection:` keyword applies to the host itself, not to a delegate.
    if delegate.is_none()
        && let Some(c) = tmpl_str(r, &task.kw.connection, scope).map_err(ModuleError::Failed)?
    {
        kind = c;
    }
    if kind.is_empty()
        && (conn_host == "localhost" || conn_host == "127.0.0.1")
        && r.inv.host(&conn_host).is_none_or(|h| h.implicit)
    {
        kind = "local".into();
    }
    let remote_user = cvars
        .get("ansible_user")
        .or_else(|| cvars.get("ansible_ssh_user"))
        .map(|v| v.to_string())
        .or(tmpl_str(r, &task.kw.remote_user, scope).map_err(ModuleError::Failed)?)
        .or_else(|| r.opts.conn.remote_user.clone());
    let target = ConnTarget {
        host: conn_host,
        kind,
        remote_user,
        vars: cvars.clone(),
    };
    let conn = r.pool.get(&target).await.map_err(ModuleError::from)?;
    Ok((conn, cvars, delegate.filter(|d| d != host)))
}

async fn run_item(
    r: &Arc<Runner>,
    task: &Task,
    host: &str,
    scope: &Value,
    magic: &[(String, Value)],
) -> ItemResult {
    let Action::Module(module) = &task.action else {
        return ItemResult::failed("not a module".into());
    };
    let module: &'static dyn DynModule = *module;
    let args = match r.templar.template_value(&task.args, scope) {
        Ok(a) => strip_omit(a),
        Err(e) => {
            let name = e
                .undefined
                .clone()
                .filter(|u| !e.msg.contains(&format!("'{}'", u)))
                .map(|u| format!(" ('{}' is undefined)", u))
                .unwrap_or_default();
            return ItemResult::failed(format!(
                "{}: the task includes an argument with an error{}: {}",
                task.span, name, e
            ));
        }
    };
    let check = match tmpl_bool(r, &task.kw.check_mode, scope) {
        Ok(c) => c.unwrap_or(r.opts.check),
        Err(e) => return ItemResult::failed(e),
    };
    let diff = tmpl_bool(r, &task.kw.diff, scope)
        .ok()
        .flatten()
        .unwrap_or(r.opts.diff);
    let mut environment: Vec<(String, String)> = vec![];
    for env in &task.kw.environment {
        match r.templar.template_value(env, scope) {
            Ok(v) => {
                if let Ok(keys) = v.try_iter() {
                    for k in keys {
                        let val = v.get_item(&k).unwrap_or_default();
                        let ks = k
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| k.to_string());
                        let vs = val
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| val.to_string());
                        environment.retain(|(ek, _)| ek != &ks);
                        environment.push((ks, vs));
                    }
                }
            }
            Err(e) => return ItemResult::failed(format!("environment: {}", e)),
        }
    }
    let timeout = match tmpl_str(r, &task.kw.timeout, scope) {
        Ok(Some(s)) => s
            .parse::<u64>()
            .ok()
            .filter(|t| *t > 0)
            .map(Duration::from_secs),
        _ => None,
    };

    let (conn, cvars, delegated_to): (
        Arc<dyn Connection>,
        IndexMap<String, Value>,
        Option<String>,
    ) = if module.needs_host() {
        match connection_for(r, task, host, scope).await {
            Ok(c) => c,
            Err(ModuleError::Unreachable(m)) => {
                let mut res = ItemResult::failed(m);
                res.status = Status::Unreachable;
                res.result.insert("unreachable".into(), Value::from(true));
                return res;
            }
            Err(ModuleError::Failed(m)) => return ItemResult::failed(m),
        }
    } else {
        (Arc::new(LocalConnection), IndexMap::new(), None)
    };
    let become_ = match become_spec(
        BecomeInput {
            become_: tmpl_bool(r, &task.kw.become_, scope).ok().flatten(),
            user: tmpl_str(r, &task.kw.become_user, scope).ok().flatten(),
            method: tmpl_str(r, &task.kw.become_method, scope).ok().flatten(),
            flags: tmpl_str(r, &task.kw.become_flags, scope).ok().flatten(),
        },
        &cvars,
        &r.opts.become_,
    ) {
        Ok(b) => b,
        Err(e) => return ItemResult::failed(e),
    };
    let paths = search_paths(r, task);
    let templating = ScopeTemplating {
        templar: &r.templar,
        scope,
    };
    let cx = TaskContext {
        host,
        conn: conn.as_ref(),
        become_: become_.as_ref(),
        environment: &environment,
        timeout,
        check_mode: check,
        diff,
        search_paths: &paths,
        templating: &templating,
    };

    let retries_given = task.retries.is_some();
    let attempts_max = if task.until.is_empty() {
        1
    } else {
        let n = tmpl_str(r, &task.retries, scope)
            .ok()
            .flatten()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(3);
        if retries_given { n.max(1) + 1 } else { n + 1 }
    };
    let delay = tmpl_str(r, &task.delay, scope)
        .ok()
        .flatten()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(5.0);
    let reg_name = task
        .register
        .clone()
        .unwrap_or_else(|| "_rmesos_result".into());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = match module.run_dyn(&args, &cx).await {
            Ok(o) => o,
            Err(ModuleError::Failed(m)) => Outcome::fail(m),
            Err(ModuleError::Unreachable(m)) => {
                r.pool.reset(host).await;
                let mut res = ItemResult::failed(m);
                res.status = Status::Unreachable;
                res.result.insert("unreachable".into(), Value::from(true));
                return res;
            }
        };
        let mut res = judge(r, task, host, outcome, magic, &reg_name);
        res.delegated_to = delegated_to.clone();
        if !task.until.is_empty() {
            res.result.insert("attempts".into(), Value::from(attempt));
            let s = r.scope(
                host,
                ScopeExtras {
                    role: task.role.as_deref(),
                    task_vars: &task.kw.vars,
                    magic: magic.to_vec(),
                    register: Some((reg_name.clone(), res.value())),
                },
            );
            let done = match cond_holds(r, &task.until, &s) {
                Ok(b) => b,
                Err(e) => return ItemResult::failed(e),
            };
            if !done {
                if attempt < attempts_max {
                    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                    continue;
                }
                res.status = Status::Failed;
                res.result.insert("failed".into(), Value::from(true));
                let m = format!("still failing after {} attempts", attempt);
                res.result
                    .entry("msg".to_string())
                    .or_insert(Value::from(m.as_str()));
                res.msg.get_or_insert(m);
            }
        }
        return res;
    }
}

/// Turns a module's outcome into a result, applying changed_when and failed_when.
fn judge(
    r: &Arc<Runner>,
    task: &Task,
    host: &str,
    o: Outcome,
    magic: &[(String, Value)],
    reg_name: &str,
) -> ItemResult {
    let mut result = o.result.clone();
    let mut changed = o.changed;
    let mut failed = o.failed;
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
    result.insert("changed".into(), Value::from(changed));
    if failed {
        result.insert("failed".into(), Value::from(true));
    }
    if o.skipped {
        result.insert("skipped".into(), Value::from(true));
    }
    if !task.changed_when.is_empty() || !task.failed_when.is_empty() {
        let current = Value::from_pairs(result.iter().map(|(k, v)| (k.clone(), v.clone())));
        let s = r.scope(
            host,
            ScopeExtras {
                role: task.role.as_deref(),
                task_vars: &task.kw.vars,
                magic: magic.to_vec(),
                register: Some((reg_name.to_string(), current)),
            },
        );
        if !task.changed_when.is_empty() {
            match cond_holds(r, &task.changed_when, &s) {
                Ok(c) => changed = c,
                Err(e) => return ItemResult::failed(e),
            }
            result.insert("changed".into(), Value::from(changed));
        }
        if !task.failed_when.is_empty() {
            // failed_when: any listed condition true fails the task... Ansible ANDs lists like `when`.
            match cond_holds(r, &task.failed_when, &s) {
                Ok(f) => failed = f,
                Err(e) => return ItemResult::failed(e),
            }
            result.insert("failed".into(), Value::from(failed));
            if failed {
                result
                    .entry("msg".to_string())
                    .or_insert(Value::from("failed_when condition was true"));
            } else {
                result.shift_remove("msg");
            }
            result.insert("failed_when_result".into(), Value::from(failed));
        }
    }
    let status = if failed {
        Status::Failed
    } else if o.skipped {
        Status::Skipped
    } else if changed {
        Status::Changed
    } else {
        Status::Ok
    };
    let msg = if failed {
        result.get("msg").map(|m| {
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        })
    } else {
        o.msg.clone()
    };
    ItemResult {
        status,
        result,
        msg,
        diff: o.diff,
        facts: o.facts,
        set_facts: o.set_facts,
        include_vars: o.include_vars,
        delegated_to: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_result(
    r: &Runner,
    _task: &Task,
    host: &str,
    res: &ItemResult,
    item: Option<String>,
    no_log: bool,
    ignored: bool,
    loop_summary: bool,
) {
    r.emit(Event::HostResult(Box::new(HostResult {
        host: host.to_string(),
        delegated_to: res.delegated_to.clone(),
        status: res.status,
        item,
        msg: res.msg.clone(),
        result: res.value(),
        diff: res.diff.clone(),
        ignored,
        no_log,
        loop_summary,
        duration: Duration::ZERO,
    })));
}

/// Applies a host's results: variables, facts, register, notify, counters, status, event.
#[allow(clippy::too_many_arguments)]
fn finish(
    r: &Arc<Runner>,
    ctx: &Arc<PlayCtx>,
    task: &Task,
    host: &str,
    results: Vec<(Option<(Value, String)>, ItemResult)>,
    is_loop: bool,
    no_log: bool,
    ignore_errors: bool,
    ignore_unreachable: bool,
    started: Instant,
) -> Value {
    let delegate_facts = task.kw.delegate_facts.unwrap_or(false);
    for (_, res) in &results {
        if res.status == Status::Failed || res.status == Status::Unreachable {
            continue;
        }
        let fact_host = match (&res.delegated_to, delegate_facts) {
            (Some(d), true) => d.clone(),
            _ => host.to_string(),
        };
        if !res.facts.is_empty() {
            r.with_host(&fact_host, |s| s.add_facts(res.facts.clone()));
        }
        if !res.set_facts.is_empty() {
            r.with_host(host, |s| s.set_facts.extend(res.set_facts.clone()));
        }
        if !res.include_vars.is_empty() {
            r.with_host(host, |s| s.include_vars.extend(res.include_vars.clone()));
        }
    }
    let any = |st: Status| results.iter().any(|(_, x)| x.status == st);
    let unreachable = any(Status::Unreachable);
    let failed = any(Status::Failed);
    let changed = results.iter().any(|(_, x)| x.status == Status::Changed);
    let all_skipped =
        !results.is_empty() && results.iter().all(|(_, x)| x.status == Status::Skipped);
    let (status, registered, msg) = if is_loop {
        let list: Vec<Value> = results.iter().map(|(_, x)| x.value()).collect();
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
            Status::Failed => Some("One or more items failed".to_string()),
            Status::Skipped if results.is_empty() => Some("No items in the list".to_string()),
            _ => Some("All items completed".to_string()),
        };
        let mut reg = vec![
            ("results".to_string(), Value::from(list)),
            ("changed".to_string(), Value::from(changed)),
            (
                "msg".to_string(),
                Value::from(msg.clone().unwrap_or_default()),
            ),
        ];
        if failed {
            reg.push(("failed".into(), Value::from(true)));
        }
        if status == Status::Skipped {
            reg.push(("skipped".into(), Value::from(true)));
        }
        (status, Value::from_pairs(reg), msg)
    } else {
        match results.into_iter().next() {
            Some((_, res)) => {
                let v = res.value();
                let status = res.status;
                let msg = res.msg.clone();
                // Non-loop results are reported here, once.
                emit_result(
                    r,
                    task,
                    host,
                    &res,
                    None,
                    no_log,
                    ignore_errors && status == Status::Failed,
                    false,
                );
                (status, v, msg)
            }
            None => (Status::Skipped, Value::from(()), None),
        }
    };
    if is_loop {
        r.emit(Event::HostResult(Box::new(HostResult {
            host: host.to_string(),
            delegated_to: None,
            status,
            item: None,
            msg: msg.clone(),
            result: if status == Status::Failed {
                Value::from_pairs([(
                    "msg".to_string(),
                    Value::from(msg.clone().unwrap_or_default()),
                )])
            } else {
                Value::from(())
            },
            diff: vec![],
            ignored: ignore_errors && status == Status::Failed,
            no_log,
            loop_summary: true,
            duration: started.elapsed(),
        })));
    }
    if let Some(name) = &task.register {
        r.with_host(host, |s| s.set_facts.set(name, registered.clone()));
    }
    if status == Status::Changed && !task.notify.is_empty() {
        let scope = r.scope(
            host,
            ScopeExtras {
                role: task.role.as_deref(),
                task_vars: &task.kw.vars,
                ..Default::default()
            },
        );
        for n in &task.notify {
            let name = r
                .templar
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
    r.with_host(host, |s| match status {
        Status::Ok => s.stats.ok += 1,
        Status::Changed => {
            s.stats.ok += 1;
            s.stats.changed += 1;
        }
        Status::Skipped => s.stats.skipped += 1,
        Status::Failed => {
            if ignore_errors {
                s.stats.ignored += 1;
                s.stats.ok += 1;
            } else {
                s.stats.failed += 1;
                s.status = HostStatus::Failed;
                let failed_task = Value::from_pairs([
                    ("name".to_string(), Value::from(task.display_name())),
                    ("action".to_string(), Value::from(task.action_name.as_str())),
                ]);
                s.last_failure = Some((failed_task, registered.clone()));
            }
        }
        Status::Unreachable => {
            if ignore_unreachable {
                s.stats.skipped += 1;
            } else {
                s.stats.unreachable += 1;
                s.status = HostStatus::Unreachable;
            }
        }
    });
    registered
}

/// include_tasks / include_role: resolved per host, hosts grouped by what they include.
async fn run_include(
    r: &Arc<Runner>,
    ctx: &Arc<PlayCtx>,
    task: &Arc<Task>,
    hosts: &[String],
) -> Flow {
    // (host, (what, item index)) -> which file/role and loop item
    let mut per_host: Vec<(String, (String, Option<usize>))> = vec![];
    let mut items_of: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for h in hosts {
        let scope = r.scope(
            h,
            ScopeExtras {
                role: task.role.as_deref(),
                task_vars: &task.kw.vars,
                ..Default::default()
            },
        );
        let items = match loop_items(r, task, &scope) {
            Ok(i) => i,
            Err(e) => {
                fail_host(r, h, "include", &e);
                continue;
            }
        };
        let target = match &task.action {
            Action::IncludeTasks { file, .. } => file.clone(),
            Action::IncludeRole { name, .. } => name.clone(),
            _ => continue,
        };
        match items {
            None => match cond_holds(r, &task.kw.when, &scope) {
                Ok(true) => match tmpl_str(r, &Some(Value::from(target.as_str())), &scope) {
                    Ok(Some(t)) => per_host.push((h.clone(), (t, None))),
                    Ok(None) => {}
                    Err(e) => fail_host(r, h, "include", &e),
                },
                Ok(false) => {}
                Err(e) => fail_host(r, h, "include", &e),
            },
            Some(items) => {
                let loop_var = task
                    .loop_control
                    .loop_var
                    .clone()
                    .unwrap_or_else(|| "item".into());
                for (i, item) in items.iter().enumerate() {
                    let s = r.scope(
                        h,
                        ScopeExtras {
                            role: task.role.as_deref(),
                            task_vars: &task.kw.vars,
                            magic: vec![(loop_var.clone(), item.clone())],
                            register: None,
                        },
                    );
                    match cond_holds(r, &task.kw.when, &s) {
                        Ok(true) => match tmpl_str(r, &Some(Value::from(target.as_str())), &s) {
                            Ok(Some(t)) => per_host.push((h.clone(), (t, Some(i)))),
                            Ok(None) => {}
                            Err(e) => fail_host(r, h, "include", &e),
                        },
                        Ok(false) => {}
                        Err(e) => fail_host(r, h, "include", &e),
                    }
                }
                items_of.insert(h.clone(), items);
            }
        }
    }
    let loop_var = task
        .loop_control
        .loop_var
        .clone()
        .unwrap_or_else(|| "item".into());
    for ((target, idx), group) in play::group_by(per_host) {
        let nodes = match &task.action {
            Action::IncludeTasks {
                file,
                preloaded,
                kw,
            } => match preloaded {
                Some(p) if &target == file => Ok(p.clone()),
                _ => match crate::plan::find_task_file(&target, task) {
                    Some(path) => play::include_file(r, &path, task.role.clone(), kw),
                    None => Err(format!(
                        "{}: could not find the included task file {:?}",
                        task.span, target
                    )),
                },
            },
            Action::IncludeRole {
                tasks_from,
                preloaded,
                name,
                kw,
            } => match preloaded {
                Some(p) if &target == name => Ok(p.clone()),
                _ => {
                    let from = Path::new(&*task.span.file)
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default();
                    crate::plan::load_role(
                        &target,
                        tasks_from.as_deref(),
                        Value::from(()),
                        kw,
                        &from,
                        &r.opts.load,
                    )
                    .map(|(_info, nodes, handlers)| {
                        let mut hs = ctx.handlers.write().unwrap_or_else(|p| p.into_inner());
                        for h in handlers {
                            hs.push(Arc::new(h));
                        }
                        Arc::new(nodes)
                    })
                    .map_err(|e| e.to_string())
                }
            },
            _ => continue,
        };
        let nodes = match nodes {
            Ok(n) => n,
            Err(e) => {
                for h in &group {
                    fail_host(r, h, "include", &e);
                }
                continue;
            }
        };
        for h in &group {
            let layer = match idx {
                Some(i) => {
                    let item = items_of
                        .get(h)
                        .and_then(|v| v.get(i))
                        .cloned()
                        .unwrap_or_default();
                    Value::from_pairs([(loop_var.clone(), item)])
                }
                None => Value::from(()),
            };
            r.with_host(h, |s| s.include_stack.push(layer));
        }
        let flow = play::run_nodes(r, &nodes, group.clone()).await;
        for h in &group {
            r.with_host(h, |s| {
                s.include_stack.pop();
            });
        }
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
}
