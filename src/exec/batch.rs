//! One batch of a play (`serial`): fact gathering, vars_files, then pre_tasks, roles, tasks
//! and post_tasks under the play's strategy, flushing handlers after pre_tasks, after
//! roles+tasks and after post_tasks.
//!
//! Owns: the order of a batch's steps and the vars_files rules ([`VarsFileError`]). Must not
//! know: how nodes, tasks or handlers run (`nodes.rs`).

use super::ctx::{Flow, PlayCtx};
use super::eval::text;
use super::nodes::{Guard, flush_handlers, run_nodes, run_task_node};
use super::runner::Runner;
use super::scope::{ScopeExtras, scope};
use super::state::HostStatus;
use super::task::{Step, after_step};
use crate::error::{LoadError, Span};
use crate::modules::{self, DynModule};
use crate::plan::{Action, Play, Strategy, Task, TaskNode};
use crate::report::Event;
use crate::vars::TemplateError;
use crate::yaml;
use minijinja::Value;
use std::path::{Path, PathBuf};

/// Why a host's vars_files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VarsFileError {
    #[error("{span}: {source}")]
    Template { span: Span, source: TemplateError },
    #[error("{span}: vars file not found (tried {})", .tried.join(", "))]
    NotFound { span: Span, tried: Vec<String> },
    #[error("{0}")]
    Load(#[from] LoadError),
}

/// Runs one batch of a play.
pub async fn run_batch(r: &Runner, play: &Play, ctx: &PlayCtx, batch: &[String]) -> Flow {
    if play.gather_facts {
        let flow = gather_facts(r, play, ctx, batch).await;
        if flow != Flow::Continue {
            return flow;
        }
    }
    if !play.vars_files.is_empty() {
        let mut warnings: Vec<String> = Vec::new();
        for h in batch {
            if r.status(h) != HostStatus::Active {
                continue;
            }
            match load_vars_files(r, play, ctx, h) {
                Ok(w) => warnings.extend(w.iter().map(|w| w.to_string())),
                Err(e) => r.fail_host(h, "vars_files", &e),
            }
        }
        // A file's warnings (duplicate keys) once, not once per host that read it.
        warnings.dedup();
        warnings.into_iter().for_each(|w| r.emit(Event::Warning(w)));
        let flow = after_step(r, ctx, Step::VarsFiles);
        if flow != Flow::Continue {
            return flow;
        }
    }
    // Handlers run after pre_tasks, after roles+tasks, and after post_tasks.
    let groups: [&[&[TaskNode]]; 3] = [
        &[&play.pre_tasks],
        &[&play.roles, &play.tasks],
        &[&play.post_tasks],
    ];
    for group in groups {
        let flow = run_sections(r, ctx, group, batch).await;
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
}

/// Sections then a handler flush. Under `force_handlers` the sections owe their failed hosts
/// the flush (Ansible wraps them in a block whose `always` flushes), so hosts failing there
/// run their handlers, and whether every host has failed is checked after the flush.
async fn run_sections(r: &Runner, ctx: &PlayCtx, group: &[&[TaskNode]], batch: &[String]) -> Flow {
    let force = ctx.force_handlers;
    let mut guard = Guard::new(r, batch, force);
    let mut flow = Flow::Continue;
    for section in group {
        flow = run_section(r, ctx, section, batch).await;
        if flow != Flow::Continue {
            break;
        }
    }
    guard.release();
    if flow == Flow::Abort && !force {
        return flow;
    }
    let hf = flush_handlers(r, ctx, batch).await;
    if hf == Flow::Abort || flow != Flow::Continue {
        return if hf == Flow::Abort { hf } else { flow };
    }
    if force {
        let step = Step::Recovered {
            ran_on: batch,
            any_errors_fatal: ctx.any_errors_fatal,
        };
        return after_step(r, ctx, step);
    }
    Flow::Continue
}

/// The `setup` module on the batch, as a task tagged `always` without the play's `when`.
async fn gather_facts(r: &Runner, play: &Play, ctx: &PlayCtx, batch: &[String]) -> Flow {
    let Some(setup) = modules::lookup("setup") else {
        r.emit(Event::Warning(
            "fact gathering is not available (no setup module)".into(),
        ));
        return Flow::Continue;
    };
    let gather = gather_task(play, setup);
    run_task_node(r, ctx, &gather, batch, false).await
}

fn gather_task(play: &Play, setup: &'static dyn DynModule) -> Task {
    let mut args = vec![];
    if !play.gather_subset.is_empty() {
        let subset = play.gather_subset.iter().map(|s| Value::from(s.as_str()));
        args.push((
            "gather_subset".to_string(),
            Value::from(subset.collect::<Vec<_>>()),
        ));
    }
    let mut kw = play.kw.clone();
    kw.tags = vec!["always".into()];
    kw.when.clear();
    Task {
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
    }
}

async fn run_section(r: &Runner, ctx: &PlayCtx, nodes: &[TaskNode], batch: &[String]) -> Flow {
    match ctx.strategy {
        Strategy::Linear => run_nodes(r, ctx, nodes, batch.to_vec()).await,
        Strategy::Free => {
            let futs = batch
                .iter()
                .map(|h| run_nodes(r, ctx, nodes, vec![h.clone()]));
            let flows = futures::future::join_all(futs).await;
            flows.into_iter().fold(Flow::Continue, |a, b| match (a, b) {
                (Flow::Abort, _) | (_, Flow::Abort) => Flow::Abort,
                (Flow::EndBatch, _) | (_, Flow::EndBatch) => Flow::EndBatch,
                _ => Flow::Continue,
            })
        }
    }
}

/// Loads the play's vars_files for a host (each entry: the first of its alternatives found).
fn load_vars_files(
    r: &Runner,
    play: &Play,
    ctx: &PlayCtx,
    host: &str,
) -> Result<Vec<yaml::Warning>, VarsFileError> {
    let scope = scope(r, ctx, host, ScopeExtras::default());
    let mut warnings = Vec::new();
    for (alternatives, span) in &play.vars_files {
        let path = find_vars_file(r, &scope, alternatives, span)?;
        let (docs, w) = yaml::load_file_with_warnings(&path);
        warnings.extend(w);
        for doc in docs? {
            if doc.is_null() {
                continue;
            }
            let map = doc.expect_map("a vars file")?;
            let items: Vec<(String, Value)> = map
                .iter()
                .map(|(k, v)| (k.key_string().unwrap_or_default(), v.to_value()))
                .collect();
            r.with_host(host, |s| s.vars_files.extend(items));
        }
    }
    Ok(warnings)
}

/// The first of `alternatives` (templated; relative to the playbook) that exists.
fn find_vars_file(
    r: &Runner,
    scope: &Value,
    alternatives: &[String],
    span: &Span,
) -> Result<PathBuf, VarsFileError> {
    let mut tried = vec![];
    for alt in alternatives {
        let name = r
            .templar()
            .template_value(&Value::from(alt.as_str()), scope)
            .map_err(|source| VarsFileError::Template {
                span: span.clone(),
                source,
            })?;
        let name = text(&name);
        let p = Path::new(&name);
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            r.playbook_dir().join(p)
        };
        if path.exists() {
            return Ok(path);
        }
        tried.push(path.display().to_string());
    }
    Err(VarsFileError::NotFound {
        span: span.clone(),
        tried,
    })
}
