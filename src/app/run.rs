//! `rmesos run`: one module on the hosts of a pattern, as the `ansible` command does. The task
//! becomes a one-task playbook, loaded and checked like any other.

use super::config::AnsibleCfg;
use super::error::AppError;
use super::exit::Exit;
use super::options::{CommonArgs, Options};
use super::session::SessionBuilder;
use crate::error::Span;
use crate::modules;
use clap::Args;

#[derive(Args)]
#[command(after_help = super::exit::TABLE)]
pub struct RunArgs {
    /// Host pattern.
    pub pattern: String,
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    pub module: String,
    #[arg(short = 'a', long = "args", default_value = "")]
    pub args: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn main(a: RunArgs) -> Result<Exit, AppError> {
    let Some(module) = modules::lookup(&a.module) else {
        return Err(AppError::UnknownAdHocModule(a.module));
    };
    let cfg = AnsibleCfg::load(a.common.verbose)?;
    let opts = Options::new(&a.common, &cfg, true)?;
    let text = format!(
        "- name: Ad hoc {module}\n  hosts: {pattern}\n  gather_facts: false\n  tasks:\n    - {module}: {args}\n",
        module = module.name(),
        pattern = serde_json::to_string(&a.pattern).unwrap_or_default(),
        args = serde_json::to_string(&a.args).unwrap_or_default(),
    );
    // It stands for a playbook in the current directory: relative paths start there.
    let path = std::env::current_dir()
        .unwrap_or_default()
        .join("adhoc.yml");
    let mut plays = SessionBuilder::new(opts.run, opts.report);
    if let Err(mut e) = plays.playbook_text(&text, &path) {
        // The generated playbook is ours: point at the command line instead.
        e.span = Some(Span::none("-m/-a"));
        return Err(AppError::AdHoc(e));
    }
    plays.with_inventory(opts.hosts.load(None)?).run()
}
