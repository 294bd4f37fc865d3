//! How to run: what `rmesos play` (or any caller of `run_playbook`) asks for.
//!
//! Owns: [`RunOptions`] and its defaults. Must not know: how they are applied.

use super::connect::{BecomeDefaults, ConnDefaults};
use super::tags::TagFilter;
use crate::connection::CancellationToken;
use crate::connection::OutputLimit;
use crate::plan::LoadOptions;
use indexmap::IndexMap;
use minijinja::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// `--step`: asked before each task with the task's name; `false` skips the task.
#[derive(Clone)]
pub struct StepGate(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for StepGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepGate")
    }
}

/// Everything `rmesos play` can say about how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub tags: TagFilter,
    pub limit: Option<String>,
    pub extra_vars: IndexMap<String, Value>,
    pub start_at_task: Option<String>,
    pub verbosity: u8,
    pub become_: BecomeDefaults,
    pub conn: ConnDefaults,
    pub load: LoadOptions,
    /// Write the names of failed hosts here at the end (`--limit @file` reads it back).
    pub retry_file: Option<PathBuf>,
    /// How much of a command's stdout and stderr a task keeps (`RMESOS_OUTPUT_LIMIT`);
    /// `None` keeps all.
    pub output_limit: Option<OutputLimit>,
    /// Cancelled when the run is interrupted (SIGINT, SIGTERM): no task starts after, the
    /// commands running on the hosts are stopped (their process groups), and the run ends with
    /// its recap.
    pub cancel: CancellationToken,
    /// `--force-handlers`: every play runs its notified handlers even on failed hosts.
    pub force_handlers: bool,
    /// `--step`: confirm each task before it runs.
    pub step: Option<StepGate>,
    /// The ansible.cfg in use (`ansible_config_file`).
    pub config_file: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 50,
            tags: TagFilter::default(),
            limit: None,
            extra_vars: IndexMap::new(),
            start_at_task: None,
            verbosity: 0,
            become_: BecomeDefaults::default(),
            conn: ConnDefaults::default(),
            load: LoadOptions::default(),
            retry_file: None,
            output_limit: Some(OutputLimit::DEFAULT),
            cancel: CancellationToken::new(),
            force_handlers: false,
            step: None,
            config_file: None,
        }
    }
}
