//! `include_tasks` / `include_role` at run time: resolved per host (loop items, `when`, the
//! templated name), hosts grouped by what they include ([`Include::resolve`]), and each group's
//! tasks loaded when its turn comes ([`Include::load`]; include_role adds its handlers to the
//! play). Returns them: running them is the node runner's (`nodes.rs`), the only recursion.
//!
//! Owns: the grouping rule and the include cache's use. Must not know: how nodes run.

use super::ctx::PlayCtx;
use super::eval::{cond_holds, tmpl_str};
use super::loops::{loop_items, loop_label};
use super::runner::Runner;
use super::scope::{ScopeExtras, scope};
use super::state::Forgive;
use super::task::task_start;
use crate::error::{LoadError, Span};
use crate::plan::{Action, Keywords, Preloaded, Task, TaskNode};
use crate::report::{Event, HostResult, Status};
use minijinja::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a group's tasks could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum IncludeError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{span}: could not find the included task file {target:?}")]
    NotFound { span: Span, target: String },
    /// What the include names did not load with the playbook.
    #[error("{0}")]
    Preload(Arc<LoadError>),
    /// Includes nested deeper than [`MAX_INCLUDE_DEPTH`]: a file that includes itself with no
    /// end (each level costs the controller stack; unchecked, it aborts the whole run).
    #[error(
        "{span}: includes nested deeper than {MAX_INCLUDE_DEPTH} levels (does {target:?} include itself?)"
    )]
    TooDeep { span: Span, target: String },
}

/// Deeper than any real play nests its includes, well short of exhausting the stack.
pub const MAX_INCLUDE_DEPTH: usize = 100;

/// What an include task names.
enum Source<'a> {
    Tasks {
        file: &'a str,
        preloaded: &'a Preloaded,
        kw: &'a Keywords,
    },
    Role {
        name: &'a str,
        tasks_from: Option<&'a str>,
        preloaded: &'a Preloaded,
        kw: &'a Keywords,
    },
}

impl<'a> Source<'a> {
    fn of(task: &'a Task) -> Option<Self> {
        match &task.action {
            Action::IncludeTasks {
                file,
                preloaded,
                kw,
            } => Some(Source::Tasks {
                file,
                preloaded,
                kw,
            }),
            Action::IncludeRole {
                name,
                tasks_from,
                preloaded,
                kw,
            } => Some(Source::Role {
                name,
                tasks_from: tasks_from.as_deref(),
                preloaded,
                kw,
            }),
            _ => None,
        }
    }

    /// The name as written (a template for each host to render).
    fn name(&self) -> &'a str {
        match self {
            Source::Tasks { file, .. } => file,
            Source::Role { name, .. } => name,
        }
    }

    /// What loaded with the playbook when the name is static.
    fn preloaded(&self) -> &'a Preloaded {
        match self {
            Source::Tasks { preloaded, .. } | Source::Role { preloaded, .. } => preloaded,
        }
    }
}

/// Hosts including the same file or role with the same loop item.
pub struct Group {
    /// The rendered file or role name.
    target: String,
    pub hosts: Vec<String>,
    /// Each host's include layer (its loop item), in `hosts` order.
    layers: Vec<Value>,
}

impl Group {
    /// The hosts enter the include: their loop item becomes a variable layer.
    pub fn enter(&self, r: &Runner) {
        for (h, layer) in self.hosts.iter().zip(&self.layers) {
            r.with_host(h, |s| s.include_stack.push(layer.clone()));
        }
    }

    pub fn leave(&self, r: &Runner) {
        for h in &self.hosts {
            r.with_host(h, |s| {
                s.include_stack.pop();
            });
        }
    }
}

/// What the include itself did on a host (for one loop item, labelled), as Ansible reports
/// and counts it: ok where it includes, skipped where its `when` is false.
struct Outcome {
    host: String,
    item: Option<String>,
    status: Status,
}

/// An include task resolved on its hosts.
pub struct Include<'a> {
    task: &'a Task,
    source: Source<'a>,
    /// In order of first appearance.
    pub groups: Vec<Group>,
    outcomes: Vec<Outcome>,
}

impl<'a> Include<'a> {
    /// Resolves `task` on `hosts` (None when it is not an include). A host whose loop, `when`
    /// or name cannot be evaluated fails.
    pub fn resolve(r: &Runner, ctx: &PlayCtx, task: &'a Task, hosts: &[String]) -> Option<Self> {
        let source = Source::of(task)?;
        let loop_var = task
            .loop_control
            .loop_var
            .clone()
            .unwrap_or_else(|| "item".into());
        // (host, (target, item index), include layer)
        let mut picks: Vec<(String, (String, Option<usize>), Value)> = vec![];
        let mut outcomes = vec![];
        for h in hosts {
            let scope_of = |magic| {
                let extras = ScopeExtras {
                    magic,
                    ..ScopeExtras::task(task)
                };
                scope(r, ctx, h, extras)
            };
            let task_scope = scope_of(vec![]);
            let items = match loop_items(r, task, &task_scope) {
                Ok(i) => i,
                Err(e) => {
                    r.fail_host(h, "include", &e);
                    continue;
                }
            };
            let Some(items) = items else {
                let picked = pick(r, task, source.name(), h, &task_scope);
                outcomes.extend(Outcome::of(h, None, &picked));
                if let Ok(Some(t)) = picked {
                    picks.push((h.clone(), (t, None), Value::from(())));
                }
                continue;
            };
            for (i, item) in items.into_iter().enumerate() {
                let s = scope_of(vec![(loop_var.clone(), item.clone())]);
                let picked = pick(r, task, source.name(), h, &s);
                let label = loop_label(r, task, &item, &s);
                outcomes.extend(Outcome::of(h, Some(label), &picked));
                if let Ok(Some(t)) = picked {
                    let layer = Value::from_pairs([(loop_var.clone(), item)]);
                    picks.push((h.clone(), (t, Some(i)), layer));
                }
            }
        }
        Some(Include {
            task,
            source,
            groups: group(picks),
            outcomes,
        })
    }

    /// Reports the include itself on each host, and counts it, as Ansible does: the task, then
    /// ok (per loop item) where it includes, skipped where its `when` is false; a loop ends
    /// with a summary line per host (not counted).
    pub fn report(&self, r: &Runner) {
        if self.outcomes.is_empty() {
            return;
        }
        task_start(r, self.task, false);
        for (i, o) in self.outcomes.iter().enumerate() {
            r.with_host(&o.host, |s| {
                s.record(o.status, Forgive::default(), false, Default::default)
            });
            r.emit(include_result(&o.host, o.item.clone(), o.status, false));
            let last_of_host = self.outcomes.get(i + 1).is_none_or(|n| n.host != o.host);
            if o.item.is_some() && last_of_host {
                let any_ok = self
                    .outcomes
                    .iter()
                    .any(|x| x.host == o.host && x.status == Status::Ok);
                let status = if any_ok { Status::Ok } else { Status::Skipped };
                r.emit(include_result(&o.host, None, status, true));
            }
        }
    }

    /// The tasks a group includes.
    pub fn load(
        &self,
        r: &Runner,
        ctx: &PlayCtx,
        g: &Group,
    ) -> Result<Arc<Vec<TaskNode>>, IncludeError> {
        let task = self.task;
        let depth = g
            .hosts
            .iter()
            .map(|h| r.with_host(h, |s| s.include_stack.len()));
        if depth.max().unwrap_or(0) >= MAX_INCLUDE_DEPTH {
            return Err(IncludeError::TooDeep {
                span: task.span.clone(),
                target: g.target.clone(),
            });
        }
        if let Some(p) = self.source.preloaded()
            && g.target == self.source.name()
        {
            return p.clone().map_err(IncludeError::Preload);
        }
        match self.source {
            Source::Tasks { kw, .. } => {
                let Some(path) = crate::plan::find_task_file(&g.target, task) else {
                    return Err(IncludeError::NotFound {
                        span: task.span.clone(),
                        target: g.target.clone(),
                    });
                };
                let load =
                    || crate::plan::load_tasks_file(&path, task.role.clone(), kw, &r.opts().load);
                Ok(r.include_cached(&path, load)?)
            }
            Source::Role { tasks_from, kw, .. } => {
                let from = Path::new(&*task.span.file)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                let (_info, nodes, handlers) = crate::plan::load_role(
                    &g.target,
                    tasks_from,
                    Value::from(()),
                    kw,
                    &from,
                    &r.opts().load,
                )?;
                ctx.add_handlers(handlers);
                Ok(Arc::new(nodes))
            }
        }
    }
}

/// The result event of an include on a host (an item, or a loop's summary).
fn include_result(host: &str, item: Option<String>, status: Status, summary: bool) -> Event {
    let mut result = vec![("changed", Value::from(false))];
    if status == Status::Skipped {
        result.push(("skipped", Value::from(true)));
    }
    Event::HostResult(Box::new(HostResult {
        host: host.to_string(),
        delegated_to: None,
        status,
        item,
        msg: None,
        result: Value::from_pairs(result),
        diff: vec![],
        ignored: false,
        no_log: false,
        loop_summary: summary,
        duration: Duration::ZERO,
    }))
}

impl Outcome {
    /// What a pick comes to: ok (it includes), skipped (its `when` is false), or nothing to
    /// report (it failed the host, which was reported then).
    fn of(host: &str, item: Option<String>, picked: &Result<Option<String>, ()>) -> Option<Self> {
        let status = match picked {
            Ok(Some(_)) => Status::Ok,
            Ok(None) => Status::Skipped,
            Err(()) => return None,
        };
        Some(Outcome {
            host: host.to_string(),
            item,
            status,
        })
    }
}

/// The file or role `host` includes, None when the include's `when` is false there; Err when
/// the `when` or the name cannot be evaluated (the host has failed).
fn pick(
    r: &Runner,
    task: &Task,
    name: &str,
    host: &str,
    scope: &Value,
) -> Result<Option<String>, ()> {
    let holds = cond_holds(r.templar(), &task.kw.when, scope);
    let target = match holds {
        Ok(true) => tmpl_str(r.templar(), &Some(Value::from(name)), scope),
        Ok(false) => return Ok(None),
        Err(e) => Err(e),
    };
    target.map_err(|e| r.fail_host(host, "include", &e))
}

/// Groups hosts by what they include, keeping first-seen order.
fn group(picks: Vec<(String, (String, Option<usize>), Value)>) -> Vec<Group> {
    let mut groups: Vec<Group> = vec![];
    let mut index: HashMap<(String, Option<usize>), usize> = HashMap::new();
    for (host, key, layer) in picks {
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                target: key.0,
                hosts: vec![],
                layers: vec![],
            });
            groups.len() - 1
        });
        groups[i].hosts.push(host);
        groups[i].layers.push(layer);
    }
    groups
}
