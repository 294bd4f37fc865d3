//! `include_tasks` / `include_role` at run time: resolved per host (loop items, `when`, the
//! templated name), hosts grouped by what they include ([`Include::resolve`]), and each group's
//! tasks loaded when its turn comes ([`Include::load`]; include_role adds its handlers to the
//! play). Returns them: running them is the node runner's (`nodes.rs`), the only recursion.
//!
//! Owns: the grouping rule and the include cache's use. Must not know: how nodes run.

use super::ctx::PlayCtx;
use super::eval::{cond_holds, tmpl_str};
use super::loops::loop_items;
use super::runner::Runner;
use super::scope::{ScopeExtras, scope};
use crate::error::{LoadError, Span};
use crate::plan::{Action, Keywords, Preloaded, Task, TaskNode};
use minijinja::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

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
}

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

/// An include task resolved on its hosts.
pub struct Include<'a> {
    task: &'a Task,
    source: Source<'a>,
    /// In order of first appearance.
    pub groups: Vec<Group>,
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
                if let Some(t) = pick(r, task, source.name(), h, &task_scope) {
                    picks.push((h.clone(), (t, None), Value::from(())));
                }
                continue;
            };
            for (i, item) in items.into_iter().enumerate() {
                let s = scope_of(vec![(loop_var.clone(), item.clone())]);
                if let Some(t) = pick(r, task, source.name(), h, &s) {
                    let layer = Value::from_pairs([(loop_var.clone(), item)]);
                    picks.push((h.clone(), (t, Some(i)), layer));
                }
            }
        }
        Some(Include {
            task,
            source,
            groups: group(picks),
        })
    }

    /// The tasks a group includes.
    pub fn load(
        &self,
        r: &Runner,
        ctx: &PlayCtx,
        g: &Group,
    ) -> Result<Arc<Vec<TaskNode>>, IncludeError> {
        let task = self.task;
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

/// The file or role `host` includes, when the include's `when` holds there.
fn pick(r: &Runner, task: &Task, name: &str, host: &str, scope: &Value) -> Option<String> {
    let holds = cond_holds(r.templar(), &task.kw.when, scope);
    let target = match holds {
        Ok(true) => tmpl_str(r.templar(), &Some(Value::from(name)), scope),
        Ok(false) => return None,
        Err(e) => Err(e),
    };
    match target {
        Ok(t) => t,
        Err(e) => {
            r.fail_host(host, "include", &e);
            None
        }
    }
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
