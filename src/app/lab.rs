//! `rmesos lab up|deploy|status|ssh|down`: a Mesos-stack cluster of container hosts on this
//! machine. Each lab keeps its key, known_hosts and inventory in `.rmesos/lab/NAME/` under the
//! current directory; everything else is found from Docker by the lab's label, so several named
//! labs run side by side and `down` needs nothing but the name.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};

use super::error::AppError;
use super::exit::Exit;
use super::options::CommonArgs;
use super::play::{self, PlayArgs};
use super::stack;
use crate::lab::{
    DOCKER_CAPABLE, HostSpec, Lab, LabError, LabSpec, Recipe, ensure_image, list_members,
    remove_lab,
};

/// Inventory groups of the Mesos stack (the roles' `hosts:` patterns use them).
const MASTER_GROUP: &str = "mesos-master";
const SLAVE_GROUP: &str = "mesos-slave";
const ZOOKEEPER_GROUP: &str = "zookeeper";

#[derive(Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Subcommand)]
pub enum LabCommand {
    /// Start container hosts (masters run ZooKeeper) and write their inventory.
    Up(UpArgs),
    /// Deploy the stack's offline-capable parts (common, zookeeper, spark, docker) to a lab.
    Deploy(Box<DeployArgs>),
    /// Show the labs on this machine, their hosts and addresses.
    Status(StatusArgs),
    /// Log in to a lab host as root with the system ssh client (or run a command there).
    Ssh(SshArgs),
    /// Remove a lab: its containers, network and `.rmesos/lab/NAME/`.
    Down(NameArg),
}

#[derive(Args)]
pub struct NameArg {
    /// The lab's name (letters, digits, `-`).
    #[arg(long, default_value = "lab")]
    pub name: String,
}

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub lab: NameArg,
    /// Hosts in mesos-master (and zookeeper): 3 gives a ZooKeeper ensemble with a quorum.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub masters: u8,
    /// Hosts in mesos-slave (Spark workers).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=20))]
    pub slaves: u8,
    /// Add a Linux capability to every host (repeatable), as `docker run --cap-add`:
    /// `NET_ADMIN` for roles that set iptables rules.
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Give every host what a Docker engine of its own needs (mount and network
    /// capabilities, unmasked /proc, a cgroup namespace; not `--privileged`), so the docker
    /// role installs and runs Docker there.
    #[arg(long)]
    pub docker: bool,
}

#[derive(Args)]
pub struct DeployArgs {
    #[arg(long, default_value = "lab")]
    pub name: String,
    /// The playbook to run against the lab. Default: `playbooks/lab.yml` here (a checkout or
    /// `rmesos stack export`), else the stack this binary carries, written to
    /// `.rmesos/lab/NAME/stack/`.
    #[arg(long)]
    pub playbook: Option<PathBuf>,
    /// Only run tasks tagged with these (comma-separated, repeatable).
    #[arg(short = 't', long = "tags")]
    pub tags: Vec<String>,
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    /// `rmesos play` options; `-i` adds inventories to the lab's own.
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Only this lab (default: every lab on this machine).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Args)]
pub struct SshArgs {
    /// Inventory name of the host (master1, slave1, ...).
    pub host: String,
    #[arg(long, default_value = "lab")]
    pub name: String,
    /// A command to run instead of a login shell.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// Runs a `rmesos lab` command.
pub fn main(args: LabArgs) -> Result<Exit, AppError> {
    match args.command {
        LabCommand::Up(a) => up(&a)?,
        LabCommand::Deploy(a) => return deploy(*a),
        LabCommand::Status(a) => status(&a)?,
        LabCommand::Ssh(a) => ssh(&a)?,
        LabCommand::Down(a) => down(&a.name)?,
    }
    Ok(Exit::Ok)
}

/// `.rmesos/lab/NAME` under the current directory.
pub fn lab_dir(name: &str) -> PathBuf {
    Path::new(".rmesos").join("lab").join(name)
}

/// The hosts of a lab with `masters` masters and `slaves` slaves: masters also form the
/// ZooKeeper ensemble, as in mesos-ec2.
pub fn stack_hosts(masters: u8, slaves: u8) -> Vec<HostSpec> {
    let masters = (1..=masters)
        .map(|i| HostSpec::new(format!("master{i}")).in_groups(&[MASTER_GROUP, ZOOKEEPER_GROUP]));
    let slaves = (1..=slaves).map(|i| HostSpec::new(format!("slave{i}")).in_groups(&[SLAVE_GROUP]));
    masters.chain(slaves).collect()
}

fn up(a: &UpArgs) -> Result<(), LabError> {
    let name = &a.lab.name;
    let recipe = Recipe::from_host()?;
    eprintln!(
        "lab `{name}`: image {} (built on first use: needs root and a few minutes)",
        recipe.tag()
    );
    let image = ensure_image(&recipe)?;
    if let Some(took) = image.build_time {
        eprintln!("lab `{name}`: image built in {}s", took.as_secs());
    }
    let mut spec = LabSpec::new(name.as_str(), lab_dir(name), image.tag);
    spec.hosts = stack_hosts(a.masters, a.slaves);
    spec.cap_add = a.cap_add.clone();
    if a.docker {
        spec.run_options = DOCKER_CAPABLE.iter().map(|o| o.to_string()).collect();
    }
    let lab = Lab::up(&spec)?;
    println!("lab `{name}` is up:");
    for h in lab.hosts() {
        println!("  {:<10} {:<15} {}", h.name, h.ip, h.groups.join(","));
    }
    println!("inventory: {}", lab.inventory_path().display());
    let flag = name_flag(name);
    println!("next: rmesos lab deploy{flag}   (then: rmesos lab status{flag})");
    Ok(())
}

/// ` --name NAME` unless it is the default.
fn name_flag(name: &str) -> String {
    if name == "lab" {
        String::new()
    } else {
        format!(" --name {name}")
    }
}

/// The running lab `name`, or an error saying how to start it.
fn open(name: &str) -> Result<Lab, LabError> {
    let dir = lab_dir(name);
    let not_up = || {
        LabError::Invalid(format!(
            "lab `{name}` is not up here (no containers, or no {}); start it with `rmesos lab \
             up{}` in this directory",
            dir.join("inventory.ini").display(),
            name_flag(name)
        ))
    };
    if !dir.join("inventory.ini").is_file() {
        return Err(not_up());
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| LabError::io(format!("resolving {}", dir.display()), e))?;
    Lab::open(name, &dir)?.ok_or_else(not_up)
}

fn deploy(a: DeployArgs) -> Result<Exit, AppError> {
    let lab = open(&a.name)?;
    let playbook = match a.playbook {
        Some(p) => p,
        None => {
            let (p, embedded) = stack::for_lab(&lab_dir(&a.name).join("stack"))?;
            if embedded {
                eprintln!(
                    "lab `{}`: no {} here; running the stack this binary carries, written to {}",
                    lab.name(),
                    stack::LAB_PLAYBOOK,
                    lab_dir(&a.name).join("stack").display()
                );
            }
            p
        }
    };
    if !playbook.is_file() {
        return Err(AppError::LabPlaybookNotFound(playbook));
    }
    let mut common = a.common;
    common
        .inventory
        .insert(0, lab.inventory_path().display().to_string());
    eprintln!(
        "lab `{}`: running {} on {} hosts",
        lab.name(),
        playbook.display(),
        lab.hosts().len()
    );
    play::main(PlayArgs::run(playbook, common, a.tags, a.skip_tags))
}

fn status(a: &StatusArgs) -> Result<(), LabError> {
    let members = list_members(a.name.as_deref())?;
    if members.is_empty() {
        match &a.name {
            Some(name) => println!("lab `{name}` is not up"),
            None => println!("no labs are up (start one with `rmesos lab up`)"),
        }
        return Ok(());
    }
    let mut labs: Vec<&str> = members.iter().map(|m| m.lab.as_str()).collect();
    labs.dedup();
    for lab in labs {
        println!("lab `{lab}`:");
        let hosts: Vec<_> = members.iter().filter(|m| m.lab == lab).collect();
        for m in &hosts {
            let ip = m.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "  {:<10} {:<15} {:<8} {}",
                m.host,
                ip,
                m.state,
                m.groups.join(",")
            );
        }
        let inventory = lab_dir(lab).join("inventory.ini");
        if inventory.is_file() {
            println!("  inventory: {}", inventory.display());
        } else {
            println!("  (started from another directory: its inventory is not under ./.rmesos)");
        }
        // The Spark master runs on the first master (roles/spark).
        let first_master = hosts
            .iter()
            .find(|m| m.groups.iter().any(|g| g == MASTER_GROUP));
        if let Some(ip) = first_master.and_then(|m| m.ip) {
            println!("  spark master UI (after deploy): http://{ip}:8090/");
        }
    }
    Ok(())
}

fn ssh(a: &SshArgs) -> Result<(), LabError> {
    let lab = open(&a.name)?;
    let host = lab.host(&a.host).ok_or_else(|| {
        let names: Vec<&str> = lab.hosts().iter().map(|h| h.name.as_str()).collect();
        LabError::Invalid(format!(
            "lab `{}` has no host `{}` (it has {})",
            a.name,
            a.host,
            names.join(", ")
        ))
    })?;
    let known_hosts = format!("UserKnownHostsFile={}", lab.known_hosts_path().display());
    let mut cmd = Command::new("ssh");
    cmd.arg("-i")
        .arg(lab.private_key_path())
        .args(["-o", &known_hosts, "-o", "StrictHostKeyChecking=accept-new"])
        .arg(format!("root@{}", host.ip))
        .args(&a.command);
    // Replaces this process: the terminal belongs to ssh from here on.
    let err = cmd.exec();
    Err(LabError::Missing {
        program: "ssh".into(),
        source: err,
        hint: "install OpenSSH's client (`apt-get install openssh-client`)",
    })
}

fn down(name: &str) -> Result<(), LabError> {
    remove_lab(name)?;
    let dir = lab_dir(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| LabError::io(format!("removing {}", dir.display()), e))?;
    }
    println!("lab `{name}` is down");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_form_the_zookeeper_ensemble_and_slaves_stand_apart() {
        let hosts = stack_hosts(3, 2);
        let line = |h: &HostSpec| format!("{} {}", h.name, h.groups.join(","));
        let lines: Vec<String> = hosts.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "master1 mesos-master,zookeeper",
                "master2 mesos-master,zookeeper",
                "master3 mesos-master,zookeeper",
                "slave1 mesos-slave",
                "slave2 mesos-slave",
            ]
        );
    }

    #[test]
    fn labs_live_under_the_current_directory() {
        assert_eq!(lab_dir("dev"), Path::new(".rmesos/lab/dev"));
        assert_eq!(name_flag("lab"), "");
        assert_eq!(name_flag("dev"), " --name dev");
    }
}
