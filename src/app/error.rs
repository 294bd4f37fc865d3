//! Why a command stopped, and the one place where that becomes a message on stderr and an
//! exit code ([`AppError::report`]).

use super::exit::Exit;
use crate::error::LoadError;
use crate::lab::LabError;
use std::path::PathBuf;

/// A command that could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad input, located in its file: a playbook, role, inventory, template or ansible.cfg.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A bad `-e` value or variables file.
    #[error(transparent)]
    ExtraVars(LoadError),
    /// The ad hoc task did not load (the error points at `-m/-a`).
    #[error(transparent)]
    AdHoc(LoadError),
    /// A host pattern that `--list-hosts` could not read.
    #[error(transparent)]
    Pattern(LoadError),
    #[error("the playbook: {} could not be found", .0.display())]
    PlaybookNotFound(PathBuf),
    #[error("unknown module {0:?} (rmesos doc lists the modules)")]
    UnknownAdHocModule(String),
    #[error("unknown module {name:?}{}", did_you_mean(hint))]
    UnknownModule { name: String, hint: Option<String> },
    #[error("host {0:?} is not in the inventory")]
    NoSuchHost(String),
    #[error("group {0:?} is not in the inventory")]
    NoSuchGroup(String),
    /// `--limit` or the plays' patterns match no host (the message says which).
    #[error("{0}; nothing was run")]
    NoHosts(String),
    #[error(
        "--start-at-task {0:?} matches no task of the playbook (a task's name as written, or \
         `role : name`; tasks of includes whose file name is templated cannot be started at); \
         nothing was run"
    )]
    NoSuchStartTask(String),
    /// The command line could not be parsed (clap's message, with its usage line).
    #[error("{0}")]
    Usage(clap::Error),
    #[error("one of --list, --graph or --host is required")]
    NoInventoryView,
    #[error("cannot read the password: {0}")]
    Password(std::io::Error),
    /// A flag, environment variable or ansible.cfg value rmesos cannot honour, and why.
    #[error("{0}")]
    BadOption(String),
    /// A vault password that cannot be read, or vault data that cannot be decrypted.
    #[error("vault: {0}")]
    Vault(crate::vault::VaultError),
    #[error("{}: {}", .0.display(), .1)]
    VaultFile(PathBuf, String),
    /// `RMESOS_OUTPUT_LIMIT` or `[rmesos] output_limit` is not a size.
    #[error(transparent)]
    OutputLimit(crate::connection::output::BadOutputLimit),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Stack(#[from] super::stack::StackError),
    #[error(
        "the playbook {} could not be found\n  = hint: without --playbook, `rmesos lab deploy` \
         runs playbooks/lab.yml here, else the stack the binary carries",
        .0.display()
    )]
    LabPlaybookNotFound(PathBuf),
    #[cfg(feature = "ec2")]
    #[error(transparent)]
    Ec2(#[from] super::ec2::Ec2Failure),
}

/// ": did you mean `x`?" when there is a likely name, else a pointer to the list.
fn did_you_mean(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("; did you mean `{h}`?"),
        None => " (rmesos doc lists the modules)".to_string(),
    }
}

/// How a message is introduced on stderr.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// `ERROR!` in red and bold (when the terminal has colours).
    Styled,
    /// `ERROR!` as it is.
    Plain,
    /// The message alone (clap's, which has its own `error:`; `ec2`'s refused confirmation).
    Bare,
}

impl AppError {
    /// The exit code and the prefix of each error: the one table of both.
    fn disposition(&self) -> (Exit, Prefix) {
        use AppError::*;
        match self {
            Load(_) | Lab(_) | Stack(_) | LabPlaybookNotFound(_) => (Exit::Failed, Prefix::Styled),
            AdHoc(_) => (Exit::BadOptions, Prefix::Styled),
            ExtraVars(_) | Pattern(_) | PlaybookNotFound(_) | NoSuchHost(_) | NoSuchGroup(_) => {
                (Exit::Failed, Prefix::Plain)
            }
            NoHosts(_) | NoSuchStartTask(_) => (Exit::Failed, Prefix::Plain),
            Usage(_) => (Exit::BadOptions, Prefix::Bare),
            Vault(_) | VaultFile(..) => (Exit::Failed, Prefix::Plain),
            UnknownAdHocModule(_)
            | UnknownModule { .. }
            | NoInventoryView
            | Password(_)
            | OutputLimit(_)
            | BadOption(_) => (Exit::BadOptions, Prefix::Plain),
            Runtime(_) => (Exit::Internal, Prefix::Plain),
            #[cfg(feature = "ec2")]
            Ec2(e) => {
                use super::ec2::Ec2Failure;
                match e {
                    Ec2Failure::BadTag(_) | Ec2Failure::BadCidr { .. } => {
                        (Exit::BadOptions, Prefix::Plain)
                    }
                    Ec2Failure::NotConfirmed => (Exit::Failed, Prefix::Bare),
                    _ => (Exit::Failed, Prefix::Plain),
                }
            }
        }
    }

    /// Prints the error on stderr; returns the exit code it means.
    pub fn report(&self) -> Exit {
        let (exit, prefix) = self.disposition();
        // A message may quote a value that came out of a vault.
        let text = self.to_string();
        let msg = crate::vault::censor(&text);
        match prefix {
            Prefix::Styled => eprintln!("{} {}", console::style("ERROR!").red().bold(), msg),
            Prefix::Plain => eprintln!("ERROR! {}", msg),
            Prefix::Bare => eprintln!("{}", msg.trim_end()),
        }
        exit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_code_and_prefix() {
        let load = || LoadError::plain("x");
        let io = || std::io::Error::other("x");
        let cases = [
            (AppError::Load(load()), Exit::Failed, Prefix::Styled),
            (AppError::ExtraVars(load()), Exit::Failed, Prefix::Plain),
            (AppError::AdHoc(load()), Exit::BadOptions, Prefix::Styled),
            (AppError::Pattern(load()), Exit::Failed, Prefix::Plain),
            (AppError::NoInventoryView, Exit::BadOptions, Prefix::Plain),
            (AppError::Password(io()), Exit::BadOptions, Prefix::Plain),
            (AppError::Runtime(io()), Exit::Internal, Prefix::Plain),
            (
                AppError::LabPlaybookNotFound("p.yml".into()),
                Exit::Failed,
                Prefix::Styled,
            ),
        ];
        for (e, exit, prefix) in cases {
            assert!(e.disposition() == (exit, prefix), "{e:?}");
        }
        assert_eq!(
            AppError::PlaybookNotFound("site.yml".into()).to_string(),
            "the playbook: site.yml could not be found"
        );
    }

    #[cfg(feature = "ec2")]
    #[test]
    fn ec2_failures_are_plain_but_bad_options_and_refusals() {
        use crate::app::ec2::Ec2Failure;
        let e = |f: Ec2Failure| AppError::from(f).disposition();
        assert!(e(Ec2Failure::BadTag("x".into())) == (Exit::BadOptions, Prefix::Plain));
        assert!(e(Ec2Failure::NotConfirmed) == (Exit::Failed, Prefix::Bare));
        assert!(e(Ec2Failure::NoMaster("c".into())) == (Exit::Failed, Prefix::Plain));
        assert!(e(Ec2Failure::Load(LoadError::plain("x"))) == (Exit::Failed, Prefix::Plain));
    }
}
