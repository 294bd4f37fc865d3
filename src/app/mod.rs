//! The application: the commands (`play`, `run`, `inventory`, `doc`, `galaxy`, `vault`, `ec2`,
//! `lab`), ansible.cfg, `vars_prompt` questions (asked before any host is touched), and the
//! session every play-running command goes through (options → inventory → loaded playbooks →
//! reporter → runtime → run). The top layer: it may use every other one, and none
//! uses it. The only layer that prints, besides the report sinks it chooses.
//!
//! Each command returns `Result<Exit, AppError>`; [`main`] turns an error into its message and
//! exit code in one place ([`AppError::report`]).

pub mod config;
mod doc;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod error;
pub mod exit;
mod galaxy;
mod interrupt;
mod inventory;
pub mod lab;
mod listing;
pub mod options;
mod play;
mod preflight;
mod prompt;
mod run;
pub mod session;
pub mod stack;
mod step;
pub mod vault;

pub use error::AppError;
pub use exit::Exit;
pub use options::{CommonArgs, Options, Output, parse_extra_vars, split_kv};
pub use session::{Session, SessionBuilder};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rmesos",
    version,
    about = "Agentless configuration engine for data-platform clusters (Ansible formats)",
    after_help = exit::TABLE
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a playbook (as ansible-playbook).
    Play(play::PlayArgs),
    /// Show the inventory (as ansible-inventory).
    Inventory(inventory::InventoryArgs),
    /// Run one module on hosts (as the `ansible` command).
    Run(run::RunArgs),
    /// List modules, or show one module's arguments and an example.
    Doc(doc::DocArgs),
    /// Launch and manage clusters on EC2.
    #[cfg(feature = "ec2")]
    Ec2(Box<ec2::Ec2Args>),
    /// A Mesos-stack cluster of container hosts on this machine: up, deploy, status, ssh, down.
    Lab(lab::LabArgs),
    /// The Mesos stack's roles and playbooks this binary carries: export editable copies.
    Stack(stack::StackArgs),
    /// Encrypt, decrypt, view, edit and rekey vault files; encrypt strings (as ansible-vault).
    Vault(vault::VaultCommand),
    /// Install roles from local directories and tarballs (as ansible-galaxy install -r).
    Galaxy(galaxy::GalaxyArgs),
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: printed on stdout, exit 0.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Exit::Ok.code();
        }
        // A bad flag or value is a bad option (5), not clap's 2, which means "a host failed".
        Err(e) => return AppError::Usage(e).report().code(),
    };
    let json = cli.command.json_output();
    let outcome = match cli.command {
        Command::Play(a) => play::main(a),
        Command::Inventory(a) => inventory::main(a),
        Command::Run(a) => run::main(a),
        Command::Doc(a) => doc::main(a),
        #[cfg(feature = "ec2")]
        Command::Ec2(a) => ec2::main(*a),
        Command::Lab(a) => lab::main(a),
        Command::Stack(a) => stack::main(a),
        Command::Vault(a) => vault::main(a),
        Command::Galaxy(a) => galaxy::main(a),
    };
    outcome
        .unwrap_or_else(|e| {
            let exit = e.report();
            if json {
                // stdout stays JSON: the error is the stream's last event too.
                session::json_error(&e.to_string(), exit.code());
            }
            exit
        })
        .code()
}

impl Command {
    /// `--output json`: stdout carries only JSON events, errors included. (Only the flag:
    /// an error may come before ansible.cfg's `stdout_callback` is read.)
    fn json_output(&self) -> bool {
        let common = match self {
            Command::Play(a) => &a.common,
            Command::Run(a) => &a.common,
            _ => return false,
        };
        common.output == Some(Output::Json)
    }
}
