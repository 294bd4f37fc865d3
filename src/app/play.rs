//! `rmesos play`: run playbooks, as ansible-playbook does (also `--syntax-check` and the
//! `--list-*` views).

use super::config::AnsibleCfg;
use super::error::AppError;
use super::exit::Exit;
use super::listing::{self, Listing};
use super::options::{CommonArgs, Options, split_list};
use super::prompt;
use super::session::SessionBuilder;
use super::step;
use crate::exec::TagFilter;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
#[command(after_help = super::exit::TABLE)]
pub struct PlayArgs {
    /// Playbook file(s).
    #[arg(required = true)]
    pub playbooks: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only run plays and tasks tagged with these (comma-separated, repeatable).
    #[arg(short = 't', long = "tags")]
    pub tags: Vec<String>,
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Start the playbook at the task with this name.
    #[arg(long = "start-at-task")]
    pub start_at_task: Option<String>,
    /// Run the notified handlers even on hosts that failed.
    #[arg(long = "force-handlers")]
    pub force_handlers: bool,
    /// Confirm each task before it runs (needs a terminal).
    #[arg(long = "step")]
    pub step: bool,
}

impl PlayArgs {
    /// Just run `playbook` with these options (as `rmesos lab deploy` does).
    pub fn run(
        playbook: PathBuf,
        common: CommonArgs,
        tags: Vec<String>,
        skip: Vec<String>,
    ) -> Self {
        PlayArgs {
            playbooks: vec![playbook],
            common,
            tags,
            skip_tags: skip,
            syntax_check: false,
            list_hosts: false,
            list_tasks: false,
            list_tags: false,
            start_at_task: None,
            force_handlers: false,
            step: false,
        }
    }
}

pub fn main(a: PlayArgs) -> Result<Exit, AppError> {
    let cfg = AnsibleCfg::load(a.common.verbose)?;
    // Before any password is asked: --step needs the terminal for itself.
    let gate = if a.step { Some(step::gate()?) } else { None };
    let mut opts = Options::new(&a.common, &cfg, false)?;
    let json = opts.report.format == super::options::Output::Json;
    opts.run.force_handlers |= a.force_handlers;
    opts.run.step = gate;
    opts.run.tags = TagFilter {
        only: split_list(&a.tags),
        skip: split_list(&a.skip_tags),
    };
    opts.run.start_at_task = a.start_at_task.clone();
    opts.run.retry_file = retry_file(&cfg, &a.playbooks);
    // Load every playbook before touching any host.
    let mut plays = SessionBuilder::new(opts.run, opts.report);
    for path in &a.playbooks {
        if !path.is_file() {
            return Err(AppError::PlaybookNotFound(path.clone()));
        }
        plays.playbook(path)?;
    }
    if a.syntax_check {
        for pb in plays.books() {
            // Dynamic includes are read when a host reaches them: their problems are warnings.
            for w in &pb.warnings {
                eprintln!("[WARNING]: {}", w);
            }
            // `--output json` keeps stdout for JSON events.
            if json {
                eprintln!("\nplaybook: {}", pb.path.display());
            } else {
                println!("\nplaybook: {}", pb.path.display());
            }
        }
        return Ok(Exit::Ok);
    }
    let listing = Listing {
        hosts: a.list_hosts,
        tasks: a.list_tasks,
        tags: a.list_tags,
    };
    if !listing.any() {
        let mut tty = prompt::terminal();
        plays.answer_prompts(|p| match tty.as_mut() {
            Some(read) => prompt::answer(p, Some(read)),
            None => prompt::answer(p, None),
        })?;
    }
    let pb_dir = plays.books().first().map(|b| b.dir.clone());
    let session = plays.with_inventory(opts.hosts.load(pb_dir.as_deref())?);
    if listing.any() {
        super::preflight::limit(&session)?;
        listing::list(&session, listing)?;
        return Ok(Exit::Ok);
    }
    session.run()
}

/// `<first playbook's stem>.retry` in ansible.cfg's `retry_files_save_path` (else beside the
/// playbook), when `retry_files_enabled`.
fn retry_file(cfg: &AnsibleCfg, playbooks: &[PathBuf]) -> Option<PathBuf> {
    if cfg.retry_files_enabled != Some(true) {
        return None;
    }
    let first = playbooks.first()?;
    let stem = first
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "playbook".into());
    let base = cfg
        .retry_files_save_path
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| first.parent().map(Path::to_path_buf).unwrap_or_default());
    Some(base.join(format!("{}.retry", stem)))
}
