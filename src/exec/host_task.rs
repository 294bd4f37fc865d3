//! One task on one host ([`HostTask`]): its scope and flags, its loop items, `when` per item,
//! the module call (arguments, check/diff, environment, timeout, connection, become) repeated
//! under `until`/`retries`, `changed_when`/`failed_when`, then what the results imply for the
//! host: variables, facts, register, notify, counters and result events.
//!
//! Owns: the order of a task's steps on a host and the messages of bad task inputs
//! ([`InputError`]). Must not know: other hosts (run_once, forks and the play's failure rules
//! are `task.rs`'s), includes, meta or blocks.

use super::connect::{BecomeInput, ConnectError, Shown, TaskConnection, TaskOnHost};
use super::ctx::PlayCtx;
use super::eval::{EvalError, ScopeTemplating, cond_holds, text, tmpl_bool, tmpl_str};
use super::handlers;
use super::loops::{loop_items, loop_label};
use super::result::{Flags, ItemResult, Judging, Verdict};
use super::runner::Runner;
use super::scope::{ScopeExtras, hostvars_scope, scope};
use super::state::Forgive;
use crate::connection::local::LocalConnection;
use crate::connection::{BecomeSpec, BoxFuture};
use crate::error::Span;
use crate::modules::{DynModule, ModuleError, Outcome, TaskContext, jobs};
use crate::plan::{Action, Task};
use crate::report::{Event, Status};
use crate::vars::{self, TemplateError};
use crate::vocab;
use indexmap::IndexMap;
use minijinja::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Loop variables (and the like) added to an item's scope.
type Magic = [(String, Value)];

/// Why a task's inputs on a host could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "{span}: the task includes an argument with an error{}: {source}",
        undefined_note(.source)
    )]
    Args { span: Span, source: TemplateError },
    #[error(transparent)]
    Keyword(#[from] EvalError),
    #[error("environment: {0}")]
    Environment(TemplateError),
    /// A numeric keyword (`retries`, `delay`, `timeout`) that renders to something unusable.
    #[error("{span}: {keyword}: expected {want}, got '{got}'")]
    Number {
        span: Span,
        keyword: &'static str,
        want: &'static str,
        got: String,
    },
}

/// ` ('name' is undefined)` when the error is about an undefined name it does not quote.
fn undefined_note(e: &TemplateError) -> String {
    e.undefined
        .clone()
        .filter(|u| !e.msg.contains(&format!("'{}'", u)))
        .map(|u| format!(" ('{}' is undefined)", u))
        .unwrap_or_default()
}

/// What a module call gets besides the connection.
struct Inputs {
    args: Value,
    check: bool,
    diff: bool,
    environment: Vec<(String, String)>,
    timeout: Option<Duration>,
    /// `async` seconds and `poll` seconds, when the task runs as a job.
    job: Option<(u64, u64)>,
}

/// `until` / `retries` / `delay`, and the name the result is judged under.
struct Retry {
    max: u32,
    delay: Duration,
    register: String,
}

/// One module call, ready to be attempted.
struct Call<'c> {
    module: &'static dyn DynModule,
    args: &'c Value,
    cx: &'c TaskContext<'c>,
    magic: &'c Magic,
    delegated_to: Option<String>,
    retry: Retry,
    job: Option<(u64, u64)>,
}

/// One run of a task on a host.
pub struct HostTask<'a> {
    r: &'a Runner,
    ctx: &'a PlayCtx,
    task: &'a Task,
    host: &'a str,
    /// The task's scope on the host (without loop variables).
    scope: Value,
    flags: Flags,
    started: Instant,
}

impl<'a> HostTask<'a> {
    pub fn new(r: &'a Runner, ctx: &'a PlayCtx, task: &'a Task, host: &'a str) -> Self {
        let started = Instant::now();
        let scope = scope(r, ctx, host, ScopeExtras::task(task));
        let flag = |v: &Option<Value>| {
            tmpl_bool(r.templar(), v, &scope)
                .ok()
                .flatten()
                .unwrap_or(false)
        };
        let flags = Flags {
            no_log: flag(&task.kw.no_log),
            forgive: Forgive {
                errors: flag(&task.kw.ignore_errors),
                unreachable: flag(&task.kw.ignore_unreachable),
            },
        };
        HostTask {
            r,
            ctx,
            task,
            host,
            scope,
            flags,
            started,
        }
    }

    /// Runs the task on the host and applies its results; returns the registered value.
    pub async fn run(self) -> Value {
        let (results, is_loop) = match loop_items(self.r, self.task, &self.scope) {
            Err(e) => (vec![ItemResult::failed(e.to_string())], false),
            Ok(None) => (vec![self.run_item(&self.scope, &[]).await], false),
            Ok(Some(items)) => (self.run_loop(items).await, true),
        };
        self.finish(results, is_loop)
    }

    async fn run_loop(&self, items: Vec<Value>) -> Vec<ItemResult> {
        let task = self.task;
        let loop_var = task
            .loop_control
            .loop_var
            .clone()
            .unwrap_or_else(|| "item".into());
        let n = items.len();
        let all = Value::from(items.clone());
        let mut results = vec![];
        for (i, item) in items.iter().cloned().enumerate() {
            let magic = loop_magic(task, &loop_var, &all, i);
            let extras = ScopeExtras {
                magic: magic.clone(),
                ..ScopeExtras::task(task)
            };
            let item_scope = scope(self.r, self.ctx, self.host, extras);
            let label = loop_label(self.r, task, &item, &item_scope);
            let mut res = self.run_item(&item_scope, &magic).await;
            res.set_loop_var(&loop_var, item);
            let unreachable = res.status() == Status::Unreachable;
            self.r.emit(res.event(self.host, Some(label), self.flags));
            results.push(res);
            if unreachable || self.r.interrupted() {
                break;
            }
            if let Some(p) = task.loop_control.pause
                && i + 1 < n
            {
                self.r.pause(p).await;
            }
        }
        results
    }

    /// One item: `when`, then the module.
    async fn run_item(&self, scope: &Value, magic: &Magic) -> ItemResult {
        match cond_holds(self.r.templar(), &self.task.kw.when, scope) {
            Ok(false) => ItemResult::skipped(&self.task.kw.when),
            Err(e) => ItemResult::failed(e.to_string()),
            Ok(true) => self.call_module(scope, magic).await,
        }
    }

    async fn call_module(&self, scope: &Value, magic: &Magic) -> ItemResult {
        let Action::Module(module) = &self.task.action else {
            return ItemResult::failed("not a module".into());
        };
        let module: &'static dyn DynModule = *module;
        let inputs = match self.inputs(scope) {
            Ok(i) => i,
            Err(e) => return ItemResult::failed(e.to_string()),
        };
        let conn = if module.needs_host() {
            match self.connect(scope).await {
                Ok(c) => c,
                Err(ConnectError::Unreachable(m)) => return ItemResult::unreachable(m),
                Err(e) => return ItemResult::failed(e.to_string()),
            }
        } else {
            // No connection, but a delegate still names where facts go (delegate_facts) and
            // what the result shows, as in Ansible.
            let delegated_to = tmpl_str(self.r.templar(), &self.task.kw.delegate_to, scope)
                .ok()
                .flatten();
            TaskConnection {
                conn: Arc::new(LocalConnection::default()),
                vars: IndexMap::new(),
                delegated_to,
            }
        };
        let become_ = match self.become_spec(scope, &conn.vars) {
            Ok(b) => b,
            Err(e) => return ItemResult::failed(e),
        };
        let paths = self.r.search_paths(self.task);
        let templating = ScopeTemplating {
            templar: self.r.templar(),
            scope,
        };
        let (r, host, no_log) = (self.r, self.host, self.flags.no_log);
        let show = move |msg: String| {
            let host = Some(host.to_string());
            r.emit(Event::Verbose {
                host,
                level: 4,
                msg,
                no_log,
            });
        };
        let shown = Shown {
            inner: conn.conn.as_ref(),
            show: &show,
        };
        let cx = TaskContext {
            host: self.host,
            conn: if r.opts().verbosity >= 4 {
                &shown
            } else {
                conn.conn.as_ref()
            },
            become_: become_.as_ref(),
            environment: &inputs.environment,
            timeout: inputs.timeout,
            check_mode: inputs.check,
            diff: inputs.diff,
            search_paths: &paths,
            templating: &templating,
            output_limit: self.r.opts().output_limit,
        };
        let call = Call {
            module,
            args: &inputs.args,
            cx: &cx,
            magic,
            delegated_to: conn.delegated_to.clone(),
            retry: match self.retry(scope) {
                Ok(r) => r,
                Err(e) => return ItemResult::failed(e.to_string()),
            },
            job: inputs.job.filter(|_| module.needs_host()),
        };
        self.attempts(call).await
    }

    /// The module's arguments (templated, omitted ones dropped), check and diff modes,
    /// environment and timeout.
    fn inputs(&self, scope: &Value) -> Result<Inputs, InputError> {
        let (templar, task) = (self.r.templar(), self.task);
        let args = match templar.template_value(&task.args, scope) {
            Ok(a) => strip_omit(a),
            Err(source) => {
                return Err(InputError::Args {
                    span: task.span.clone(),
                    source,
                });
            }
        };
        let check = tmpl_bool(templar, &task.kw.check_mode, scope)?.unwrap_or(self.r.opts().check);
        let diff = tmpl_bool(templar, &task.kw.diff, scope)
            .ok()
            .flatten()
            .unwrap_or(self.r.opts().diff);
        let mut environment: Vec<(String, String)> = vec![];
        for env in &task.kw.environment {
            let v = templar
                .template_value(env, scope)
                .map_err(InputError::Environment)?;
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let (ks, vs) = (text(&k), text(&v.get_item(&k).unwrap_or_default()));
                    environment.retain(|(ek, _)| ek != &ks);
                    environment.push((ks, vs));
                }
            }
        }
        let timeout = match tmpl_str(templar, &task.kw.timeout, scope)? {
            Some(s) => match s.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(t) => Some(Duration::from_secs(t)),
                Err(_) => return Err(self.bad_number("timeout", "a whole number of seconds", s)),
            },
            None => None,
        };
        let secs = |v: &Option<Value>| -> Result<Option<u64>, InputError> {
            Ok(tmpl_str(templar, v, scope)?.and_then(|s| s.trim().parse::<u64>().ok()))
        };
        // As Ansible: `async: 0` (or none) runs the task in the session; poll defaults to 15.
        let job = secs(&task.kw.async_)?
            .filter(|a| *a > 0)
            .map(|a| Ok::<_, InputError>((a, secs(&task.kw.poll)?.unwrap_or(15))))
            .transpose()?;
        Ok(Inputs {
            args,
            check,
            diff,
            environment,
            timeout,
            job,
        })
    }

    /// The pooled connection of the host the work runs on.
    async fn connect(&self, scope: &Value) -> Result<TaskConnection, ConnectError> {
        let r = self.r;
        let on = TaskOnHost {
            templar: r.templar(),
            inventory: r.inv(),
            task: self.task,
            host: self.host,
            scope,
        };
        let delegate_scope = |d: &str| {
            hostvars_scope(r, self.ctx, d).unwrap_or_else(|| {
                let implicit = r.implicit_host_vars(d);
                let name = Value::from_pairs([("inventory_hostname".to_string(), Value::from(d))]);
                vars::scope(r.templar(), vec![implicit], name)
            })
        };
        r.pool().for_task(&on, delegate_scope).await
    }

    /// The task's become keywords (those that do not template are ignored) over the host's
    /// connection variables and the run's defaults.
    fn become_spec(
        &self,
        scope: &Value,
        conn_vars: &IndexMap<String, Value>,
    ) -> Result<Option<BecomeSpec>, String> {
        let (templar, kw) = (self.r.templar(), &self.task.kw);
        // `become: maybe` fails the task as in Ansible, rather than meaning "no".
        let become_ = tmpl_bool(templar, &kw.become_, scope)
            .map_err(|e| format!("Error processing keyword 'become': {e}"))?;
        let input = BecomeInput {
            become_,
            user: tmpl_str(templar, &kw.become_user, scope).ok().flatten(),
            method: tmpl_str(templar, &kw.become_method, scope).ok().flatten(),
            flags: tmpl_str(templar, &kw.become_flags, scope).ok().flatten(),
        };
        super::connect::become_spec(input, conn_vars, &self.r.opts().become_)
            .map_err(|e| e.to_string())
    }

    fn bad_number(&self, keyword: &'static str, want: &'static str, got: String) -> InputError {
        InputError::Number {
            span: self.task.span.clone(),
            keyword,
            want,
            got,
        }
    }

    /// `retries` (a whole number, 3 by default) and `delay` (seconds, 5 by default) when the
    /// task has `until`; a value that is not one fails the item rather than being guessed.
    fn retry(&self, scope: &Value) -> Result<Retry, InputError> {
        let (templar, task) = (self.r.templar(), self.task);
        let max = if task.until.is_empty() {
            1
        } else {
            let n = match tmpl_str(templar, &task.retries, scope)? {
                Some(s) => s.trim().parse::<u32>().map_err(|_| {
                    self.bad_number("retries", "a whole number of retries", s.clone())
                })?,
                None => 3,
            };
            if task.retries.is_some() {
                n.max(1).saturating_add(1)
            } else {
                n + 1
            }
        };
        let delay = match tmpl_str(templar, &task.delay, scope)? {
            Some(s) => vocab::seconds(&s).ok_or_else(|| {
                self.bad_number("delay", "a number of seconds (0 or more)", s.clone())
            })?,
            None => Duration::from_secs(5),
        };
        let register = task
            .register
            .clone()
            .unwrap_or_else(|| "_rmesos_result".into());
        Ok(Retry {
            max,
            delay,
            register,
        })
    }

    /// Calls the module until `until` holds or the retries run out.
    async fn attempts(&self, call: Call<'_>) -> ItemResult {
        let task = self.task;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let run: BoxFuture<'_, Result<Outcome, ModuleError>> = match call.job {
                Some((limit, poll)) => Box::pin(jobs::run_async(
                    call.module,
                    call.args,
                    call.cx,
                    limit,
                    poll,
                )),
                None => call.module.run_dyn(call.args, call.cx),
            };
            let outcome = match run.await {
                Ok(o) => o,
                Err(ModuleError::Failed(m)) if self.r.interrupted() => {
                    self.r.note_stopped(&task.display_name(), self.host);
                    return ItemResult::failed(m);
                }
                Err(ModuleError::Failed(m)) => Outcome::fail(m),
                Err(ModuleError::Unreachable(m)) => {
                    self.r.pool().reset(self.host).await;
                    return ItemResult::unreachable(m);
                }
            };
            let mut res = self.judge(outcome, call.magic, &call.retry.register);
            res.delegated_to = call.delegated_to.clone();
            if task.until.is_empty() {
                return res;
            }
            res.set_attempts(attempt);
            let s = self.judging_scope(call.magic, &call.retry.register, res.value());
            match cond_holds(self.r.templar(), &task.until, &s) {
                Err(e) => return ItemResult::failed(e.to_string()),
                Ok(true) => return res,
                Ok(false) if attempt < call.retry.max && !self.r.interrupted() => {
                    self.r.pause(call.retry.delay).await;
                }
                Ok(false) => {
                    res.exhausted(attempt);
                    return res;
                }
            }
        }
    }

    /// The item's scope with a result under evaluation registered as `register`.
    fn judging_scope(&self, magic: &Magic, register: &str, result: Value) -> Value {
        let extras = ScopeExtras {
            magic: magic.to_vec(),
            register: Some((register.to_string(), result)),
            ..ScopeExtras::task(self.task)
        };
        scope(self.r, self.ctx, self.host, extras)
    }

    /// Turns a module's outcome into a result, applying changed_when and failed_when.
    fn judge(&self, o: Outcome, magic: &Magic, register: &str) -> ItemResult {
        let task = self.task;
        let mut judging = Judging::new(o);
        if task.changed_when.is_empty() && task.failed_when.is_empty() {
            return judging.finish();
        }
        let s = self.judging_scope(magic, register, judging.value());
        let templar = self.r.templar();
        if !task.changed_when.is_empty() {
            match cond_holds(templar, &task.changed_when, &s) {
                Ok(c) => judging.set_changed(c),
                Err(e) => return ItemResult::failed(e.to_string()),
            }
        }
        if !task.failed_when.is_empty() {
            // Conditions listed under failed_when are ANDed, as Ansible does with `when`.
            match cond_holds(templar, &task.failed_when, &s) {
                Ok(f) => judging.set_failed(f),
                Err(e) => return ItemResult::failed(e.to_string()),
            }
        }
        judging.finish()
    }

    /// Applies the host's results: variables, facts, events, register, notify, counters and
    /// status. Returns the registered value.
    fn finish(self, results: Vec<ItemResult>, is_loop: bool) -> Value {
        let (r, task, host) = (self.r, self.task, self.host);
        self.apply_vars(&results);
        let verdict = if is_loop {
            Verdict::of_loop(&results)
        } else {
            // A result without a loop is shown here, once.
            if let Some(res) = results.first() {
                r.emit(res.event(host, None, self.flags));
            }
            Verdict::single(results.first())
        };
        if is_loop {
            r.emit(verdict.loop_summary(host, self.flags, self.started.elapsed()));
        }
        if let Some(name) = &task.register {
            r.with_host(host, |s| s.set_facts.set(name, verdict.registered.clone()));
        }
        if verdict.status == Status::Changed && !task.notify.is_empty() {
            handlers::notify(r, self.ctx, task, host);
        }
        let changed = verdict
            .registered
            .get_attr("changed")
            .is_ok_and(|c| c.is_true());
        r.with_host(host, |s| {
            s.record(verdict.status, self.flags.forgive, changed, || {
                let failed_task = Value::from_pairs([
                    ("name".to_string(), Value::from(task.display_name())),
                    ("action".to_string(), Value::from(task.action_name.as_str())),
                ]);
                (failed_task, verdict.registered.clone())
            })
        });
        verdict.registered
    }

    /// Facts (on the delegate with `delegate_facts`), set_fact and include_vars variables of
    /// the results that did not fail.
    fn apply_vars(&self, results: &[ItemResult]) {
        let delegate_facts = self.task.kw.delegate_facts.unwrap_or(false);
        for res in results {
            if matches!(res.status(), Status::Failed | Status::Unreachable) {
                continue;
            }
            let fact_host = match (&res.delegated_to, delegate_facts) {
                (Some(d), true) => d.as_str(),
                _ => self.host,
            };
            if !res.facts.is_empty() {
                self.r
                    .with_host(fact_host, |s| s.add_facts(res.facts.clone()));
            }
            if !res.set_facts.is_empty() {
                // As Ansible: with delegate_facts, set_fact's facts go to the delegate too.
                self.r
                    .with_host(fact_host, |s| s.set_facts.extend(res.set_facts.clone()));
            }
            if !res.include_vars.is_empty() {
                self.r.with_host(self.host, |s| {
                    s.include_vars.extend(res.include_vars.clone())
                });
            }
        }
    }
}

/// The loop variables of item `i` of `all` (the loop's items).
fn loop_magic(task: &Task, loop_var: &str, all: &Value, i: usize) -> Vec<(String, Value)> {
    let n = all.len().unwrap_or(0);
    let at = |j: usize| all.get_item_by_index(j).unwrap_or_default();
    let mut magic = vec![
        (loop_var.to_string(), at(i)),
        ("ansible_loop_var".to_string(), Value::from(loop_var)),
    ];
    if let Some(iv) = &task.loop_control.index_var {
        magic.push((iv.clone(), Value::from(i)));
        magic.push(("ansible_index_var".to_string(), Value::from(iv.as_str())));
    }
    if task.loop_control.extended {
        let mut fields = vec![
            ("allitems".to_string(), all.clone()),
            ("index".to_string(), Value::from(i + 1)),
            ("index0".to_string(), Value::from(i)),
            ("first".to_string(), Value::from(i == 0)),
            ("last".to_string(), Value::from(i + 1 == n)),
            ("length".to_string(), Value::from(n)),
            ("revindex".to_string(), Value::from(n - i)),
            ("revindex0".to_string(), Value::from(n - i - 1)),
        ];
        // As Ansible: no previtem on the first item, no nextitem on the last.
        if i > 0 {
            fields.push(("previtem".to_string(), at(i - 1)));
        }
        if i + 1 < n {
            fields.push(("nextitem".to_string(), at(i + 1)));
        }
        magic.push(("ansible_loop".into(), Value::from_pairs(fields)));
    }
    magic
}

/// Drops arguments whose value is the `omit` placeholder.
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
            Some((text(&k), val))
        })
        .collect();
    Value::from_pairs(entries)
}
