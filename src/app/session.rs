//! The one way a command runs plays: options → inventory ([`Hosts`]) → loaded playbooks
//! ([`SessionBuilder`]) → reporter ([`Report`]) → runtime → `exec::run_playbook`
//! ([`Session`]). `play`, `run`, `ec2` and (through `play`) `lab` all go through here.

use super::error::AppError;
use super::exit::Exit;
use super::interrupt::Interrupts;
use super::options::Output;
use crate::error::LoadResult;
use crate::exec::{self, CancellationToken, DefaultConnector, RunOptions};
use crate::inventory::{DynamicSource, Inventory, InventoryOptions, Source};
use crate::plan::{self, Playbook, VarPrompt};
use crate::report::{self, Sink};
use minijinja::Value;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where a run's hosts come from.
#[derive(Clone, Debug)]
pub struct Hosts {
    pub sources: Vec<Source>,
    /// Refresh the caches of dynamic sources (`--flush-cache`).
    pub flush_cache: bool,
}

impl Hosts {
    /// Loads the sources with the dynamic sources this build has, then `host_vars/` and
    /// `group_vars/` beside the playbook when there is one.
    pub fn load(&self, playbook_dir: Option<&Path>) -> LoadResult<Inventory> {
        let mut inv = Inventory::load_with(&self.sources, &dynamic_sources(self.flush_cache))?;
        if let Some(d) = playbook_dir {
            inv.add_vars_dirs(d)?;
        }
        Ok(inv)
    }
}

/// The dynamic inventory sources (inventory plugins) this build has: aws_ec2 with the `ec2`
/// feature.
fn dynamic_sources(flush_cache: bool) -> InventoryOptions {
    #[cfg(feature = "ec2")]
    let dynamic: Vec<Arc<dyn DynamicSource>> =
        vec![Arc::new(crate::ec2::AwsEc2Source { flush_cache })];
    #[cfg(not(feature = "ec2"))]
    let dynamic: Vec<Arc<dyn DynamicSource>> = {
        let _ = flush_cache;
        Vec::new()
    };
    InventoryOptions { dynamic }
}

/// How a run's events are shown.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub format: Output,
    pub colour: bool,
    /// `-v` count: results, then task locations.
    pub verbosity: u8,
    /// One line per host, as the `ansible` command shows results.
    pub adhoc: bool,
    /// `--profile`: the slowest tasks and roles after the recap.
    pub profile: bool,
    /// "still running" lines at this interval (stdout is not a terminal).
    pub still_running: Option<Duration>,
}

/// The base interval of "still running" lines in a pipe, unless `RMESOS_PROGRESS_INTERVAL`
/// (seconds; 0 turns them off) says otherwise.
const STILL_RUNNING_EVERY: Duration = Duration::from_secs(15);

fn still_running_interval() -> Option<Duration> {
    match std::env::var("RMESOS_PROGRESS_INTERVAL") {
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64),
        Err(_) => Some(STILL_RUNNING_EVERY),
    }
}

/// Whether the JSON stream's first event has been written (stdout is one stream per process,
/// however many playbooks and sinks it carries).
static JSON_STARTED: AtomicBool = AtomicBool::new(false);

/// Writes the JSON stream's first event ([`report::json::stream_start`]) unless it was
/// written already.
pub fn json_stream_start() {
    if !JSON_STARTED.swap(true, Ordering::SeqCst) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", report::json::stream_start());
        let _ = out.flush();
    }
}

/// A `--list-*` text as a JSON event.
pub fn json_listing(path: &str, text: &str) {
    json_stream_start();
    let mut out = std::io::stdout().lock();
    let ev = serde_json::json!({"event": "listing", "path": path, "text": text});
    let _ = writeln!(out, "{}", ev);
    let _ = out.flush();
}

/// An error as the JSON stream's last event (after its first, if nothing was written yet).
pub fn json_error(msg: &str, exit_code: i32) {
    json_stream_start();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", report::json::error(msg, exit_code));
    let _ = out.flush();
}

impl Report {
    /// `format` at verbosity 0; colours when stdout is a terminal and neither `no_color` nor
    /// NO_COLOR says otherwise.
    pub fn new(format: Output, no_color: bool) -> Report {
        let tty = console::Term::stdout().is_term();
        Report {
            format,
            colour: !no_color && std::env::var_os("NO_COLOR").is_none() && tty,
            verbosity: 0,
            adhoc: false,
            profile: false,
            still_running: if tty { None } else { still_running_interval() },
        }
    }

    fn sink(&self) -> Box<dyn Sink> {
        match self.format {
            Output::Json => {
                json_stream_start();
                Box::new(report::json::JsonLines::new(std::io::stdout()))
            }
            Output::Human => {
                let human =
                    report::human::Human::new(std::io::stdout(), self.colour, self.verbosity)
                        .still_running_every(self.still_running)
                        .profile(self.profile);
                Box::new(if self.adhoc { human.adhoc() } else { human })
            }
        }
    }
}

/// A session before its hosts: the run's options and the playbooks loaded so far (all of them
/// are loaded before any host is touched).
pub struct SessionBuilder {
    opts: RunOptions,
    report: Report,
    books: Vec<Playbook>,
}

impl SessionBuilder {
    pub fn new(opts: RunOptions, report: Report) -> SessionBuilder {
        SessionBuilder {
            opts,
            report,
            books: Vec::new(),
        }
    }

    /// Loads the playbook file `path` (with the options' roles path).
    pub fn playbook(&mut self, path: &Path) -> LoadResult<&Playbook> {
        let pb = plan::load_playbook(path, &self.opts.load)?;
        super::vault::check_vars_files(&pb)?;
        Ok(self.push(pb))
    }

    /// Loads a generated playbook standing for the file `path` (see
    /// [`plan::load_playbook_text`]).
    pub fn playbook_text(&mut self, text: &str, path: &Path) -> LoadResult<&Playbook> {
        let pb = plan::load_playbook_text(text, path, &self.opts.load)?;
        Ok(self.push(pb))
    }

    fn push(&mut self, pb: Playbook) -> &Playbook {
        self.books.push(pb);
        &self.books[self.books.len() - 1]
    }

    pub fn books(&self) -> &[Playbook] {
        &self.books
    }

    /// Answers every play's `vars_prompt` that the extra vars do not: `ask` gives the answer,
    /// which joins the play's vars.
    pub fn answer_prompts(
        &mut self,
        mut ask: impl FnMut(&VarPrompt) -> Result<Value, AppError>,
    ) -> Result<(), AppError> {
        for play in self.books.iter_mut().flat_map(|b| b.plays.iter_mut()) {
            let mut answers = Vec::new();
            for p in &play.vars_prompt {
                if !self.opts.extra_vars.contains_key(&p.name) {
                    answers.push((p.name.clone(), ask(p)?));
                }
            }
            if !answers.is_empty() {
                play.add_vars(answers);
            }
        }
        Ok(())
    }

    /// The hosts to run on: the session is complete.
    pub fn with_inventory(self, inventory: Inventory) -> Session {
        Session {
            opts: self.opts,
            report: self.report,
            books: self.books,
            inventory: Arc::new(inventory),
        }
    }
}

/// Everything a run needs: options, playbooks, hosts and how to report.
pub struct Session {
    opts: RunOptions,
    report: Report,
    books: Vec<Playbook>,
    inventory: Arc<Inventory>,
}

impl Session {
    pub fn opts(&self) -> &RunOptions {
        &self.opts
    }

    pub fn books(&self) -> &[Playbook] {
        &self.books
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// `--output json`: stdout carries only JSON events.
    pub fn json(&self) -> bool {
        self.report.format == Output::Json
    }

    /// Runs every playbook in order, each with a fresh reporter, on a runtime of its own,
    /// once the run's preflight checks pass (`app/preflight.rs`: a `--limit`,
    /// `--start-at-task` or play patterns that match nothing fail it, nothing run).
    pub fn run(&self) -> Result<Exit, AppError> {
        super::preflight::check(self)?;
        let rt = runtime().map_err(AppError::Runtime)?;
        Ok(rt.block_on(self.execute()))
    }

    /// [`Session::run`] from async code (a command that already has a runtime). SIGINT and
    /// SIGTERM stop the run (see `app/interrupt.rs`): the playbook being run ends with its
    /// recap, later ones do not start, and the exit code is 130 or 143.
    pub async fn execute(&self) -> Exit {
        let cancel = CancellationToken::new();
        let interrupts = match Interrupts::listen(cancel.clone()) {
            Ok(i) => Some(i),
            Err(e) => {
                eprintln!(
                    "[WARNING]: cannot listen for SIGINT/SIGTERM ({e}): an interrupt ends rmesos without stopping the hosts' commands"
                );
                None
            }
        };
        // What the YAML loader warned about while loading (duplicate keys), shown once.
        let warnings = crate::yaml::take_warnings();
        if !warnings.is_empty() {
            let mut sink = self.report.sink();
            for w in warnings {
                sink.event(&crate::report::Event::Warning(w.to_string()));
            }
        }
        let mut worst = Exit::Ok;
        for pb in &self.books {
            let opts = RunOptions {
                cancel: cancel.clone(),
                ..self.opts.clone()
            };
            let summary = exec::run_playbook(
                pb,
                self.inventory.clone(),
                opts,
                self.report.sink(),
                Box::new(DefaultConnector),
            )
            .await;
            if let Some(got) = interrupts.as_ref().and_then(Interrupts::received) {
                let exit = got.exit();
                eprintln!(
                    "[ERROR]: interrupted by {}: exit code {}",
                    got.name(),
                    exit.code()
                );
                return exit;
            }
            worst = worst.worst(Exit::of_run(summary.exit_code));
        }
        worst
    }
}

/// One runtime with two workers: hosts are futures waiting on their channels, not threads.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
