//! `rmesos ec2 …`: launch, list, describe, status, login, stop, start, deploy, destroy,
//! add-slaves, remove-slaves, run, copy-dir, inventory. Parses options, shows progress and
//! summaries, and hands the deploy step to the ordinary session: the cluster's aws_ec2
//! inventory source, given to the inventory loader as text, then the playbook.
//!
//! - `args`: the flags; `launch`: launching and what follows a change (wait, deploy);
//!   `preflight`: the checks a launch makes before paying for anything; `deploy`: the
//!   cluster's inventory, what a deploy repeats, and the playbook runs; `show`: list,
//!   describe and status; `manage`: stop, start, destroy, remove-slaves, login, copy-dir.

mod args;
mod deploy;
mod launch;
mod manage;
mod preflight;
mod show;

pub use args::{DeployArgs, Ec2Args, Ec2Command, LaunchArgs, LoginArgs, RunFlags};
use deploy::Deploy;

use super::exit::Exit;
use super::session::runtime;
use crate::ec2::client::{self, AwsSettings, Ec2, Ec2Error};
use crate::ec2::cluster::Progress;
use crate::error::LoadError;

/// Why an `rmesos ec2` command stopped. Reported as one line after `ERROR!` (exit 1), except
/// bad options (exit 5) and a refused confirmation (its own line).
#[derive(Debug, thiserror::Error)]
pub enum Ec2Failure {
    #[error(transparent)]
    Aws(#[from] Ec2Error),
    /// The cluster's inventory, the playbook or an `-e` value did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("--tag {0:?}: expected KEY=VALUE")]
    BadTag(String),
    #[error(
        "{flag} {value:?} is not a CIDR (e.g. 203.0.113.7/32); rmesos does not guess your address"
    )]
    BadCidr { flag: &'static str, value: String },
    #[error("--compose {0:?}: expected VAR=EXPR")]
    BadCompose(String),
    #[error(
        "cluster {cluster} already exists in {region}; use --resume to continue its launch, or another name"
    )]
    Exists { cluster: String, region: String },
    #[error(
        "{source}\nthe cluster is partly launched: `rmesos ec2 launch {cluster} --resume …` \
         continues, `rmesos ec2 destroy {cluster}` removes it"
    )]
    PartlyLaunched { cluster: String, source: Ec2Error },
    #[error(
        "{source}\nthe launch of cluster {cluster} failed, so what it had started was removed \
         ({terminated} instance(s) terminated, its security groups deleted); \
         --keep-on-failure keeps a failed launch for --resume"
    )]
    RolledBack {
        cluster: String,
        source: Ec2Error,
        terminated: usize,
    },
    #[error(
        "{source}\nthe launch of cluster {cluster} failed, and removing what it had started \
         failed too: {cleanup}\n`rmesos ec2 destroy {cluster}` removes it"
    )]
    RollbackFailed {
        cluster: String,
        source: Ec2Error,
        cleanup: Ec2Error,
    },
    #[error("--identity-file {0}: {1}")]
    IdentityFile(std::path::PathBuf, std::io::Error),
    #[error("no instances of cluster {cluster} in {region}")]
    NoInstances { cluster: String, region: String },
    #[error("cluster {0} has no running master")]
    NoMaster(String),
    #[error("cannot run ssh: {0}")]
    Ssh(std::io::Error),
    #[error("not confirmed; nothing done")]
    NotConfirmed,
    /// A launch check that failed before anything was paid for.
    #[error("{0}")]
    Preflight(String),
    #[error("cluster {cluster} has no running node {host:?} (nodes: {known})")]
    NoSuchNode {
        cluster: String,
        host: String,
        known: String,
    },
    #[error("copy-dir {0}: not a directory")]
    NotADirectory(std::path::PathBuf),
}

type Ec2Outcome = Result<Exit, Ec2Failure>;

/// Runs `rmesos ec2 …`.
pub fn main(a: Ec2Args) -> Result<Exit, super::AppError> {
    let rt = runtime().map_err(Ec2Failure::Runtime)?;
    let settings = AwsSettings {
        profile: a.profile.clone(),
        region: a.region.clone(),
        endpoint_url: a.endpoint_url.clone(),
        keys: None,
    };
    let outcome = rt.block_on(async move {
        let ec2 = client::connect(&settings, None).await?;
        let ctx = Ctx {
            settings,
            ec2,
            identity: a.identity_file.clone(),
            key_name: a.key_name.clone(),
        };
        ctx.run(a.command).await
    });
    Ok(outcome?)
}

/// What every subcommand works with: the settings it was given, the connected client, and
/// the flags every subcommand accepts (`-i`, `-k`).
struct Ctx {
    settings: AwsSettings,
    ec2: Ec2,
    identity: Option<std::path::PathBuf>,
    key_name: Option<String>,
}

impl Ctx {
    async fn run(&self, cmd: Ec2Command) -> Ec2Outcome {
        match cmd {
            Ec2Command::Launch(a) => self.launch(*a).await,
            Ec2Command::List => self.list().await,
            Ec2Command::Describe { cluster } => self.describe(&cluster).await,
            Ec2Command::Status { cluster, deploy } => {
                let d = self.resolve(&cluster, &deploy).await?;
                self.status(&cluster, &d).await
            }
            Ec2Command::Login(a) => {
                let d = self.resolve(&a.cluster, &a.deploy).await?;
                self.login(&a, &d)
            }
            Ec2Command::Stop { cluster } => self.stop(&cluster).await,
            Ec2Command::Start {
                cluster,
                no_deploy,
                deploy,
                run,
            } => {
                let d = self.resolve(&cluster, &deploy).await?;
                self.start(&cluster, no_deploy, &d, &run).await
            }
            Ec2Command::Deploy {
                cluster,
                deploy,
                run,
            } => {
                let d = self.resolve(&cluster, &deploy).await?;
                self.deploy(&cluster, &d, &run, false).await
            }
            Ec2Command::Destroy {
                cluster,
                yes,
                delete_groups,
            } => self.destroy(&cluster, yes, delete_groups).await,
            Ec2Command::AddSlaves {
                cluster,
                count,
                no_deploy,
                deploy,
                run,
            } => {
                let d = self.resolve(&cluster, &deploy).await?;
                self.add_slaves(&cluster, count, no_deploy, &d, &run).await
            }
            Ec2Command::RemoveSlaves {
                cluster,
                count,
                yes,
            } => self.remove_slaves(&cluster, count, yes).await,
            Ec2Command::Run {
                cluster,
                command,
                deploy,
            } => {
                let d = self.resolve(&cluster, &deploy).await?;
                self.run_command(&cluster, &command, &d).await
            }
            Ec2Command::CopyDir {
                cluster,
                dir,
                dest,
                deploy,
            } => {
                let d = self.resolve(&cluster, &deploy).await?;
                self.copy_dir(&cluster, &dir, dest.as_deref(), &d).await
            }
            Ec2Command::Inventory { cluster, deploy } => {
                let d = self.resolve(&cluster, &deploy).await?;
                let src = self.inventory_source(&cluster, &d)?;
                println!("{}", serde_json::to_string_pretty(&src).unwrap_or_default());
                Ok(Exit::Ok)
            }
        }
    }

    /// The deploy settings of a run on an existing cluster: the flags, else the launch's.
    async fn resolve(&self, cluster: &str, d: &DeployArgs) -> Result<Deploy, Ec2Failure> {
        let rec = crate::ec2::state::load(&self.ec2, cluster).await?;
        Ok(Deploy::resolve(d, self.identity.as_ref(), rec.as_ref()))
    }
}

fn show(p: Progress) {
    match p {
        Progress::Step(s) => eprintln!("* {}", s),
        Progress::Waiting { what, done, total } => eprintln!("  {}/{} {}", done, total, what),
    }
}

/// Only prints a waiting line when it changes, so polling does not flood the terminal.
fn progress_printer() -> impl Fn(Progress) {
    let last = std::sync::Mutex::new(String::new());
    move |p: Progress| {
        let line = format!("{:?}", p);
        let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
        if *l != line {
            *l = line;
            show(p);
        }
    }
}
