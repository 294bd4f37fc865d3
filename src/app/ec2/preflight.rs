//! What `launch` checks before the first request that costs money: the deploy loads (the
//! playbook, `-e`, `--compose`), the identity file is readable and is the key pair's, the
//! playbook has a Mesos source when it installs Mesos; then it says what it will start and
//! asks (on a terminal; `-y` skips), and a `--resume` that would open the cluster to new
//! addresses says so and asks too.

use super::{Ctx, Deploy, Ec2Failure};
use crate::ec2::cluster::{self, LaunchSpec, Role};
use crate::ec2::keypair::{self, KeyCheck};
use crate::plan::{Playbook, TaskNode};
use indexmap::IndexMap;
use minijinja::Value;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Where the Mesos role takes Mesos from, as roles/mesos/defaults/main.yml names it: the
/// variable that picks the method. The tarball method's rule is the role's own
/// ([`crate::app::stack::mesos_source`]: a `mesos_tarball_path` on this machine or a
/// `mesos_tarball_url`); the package method also needs `mesos_apt_repository` here, since a
/// fresh AMI's repositories have no `mesos` package.
pub const MESOS_METHOD_VAR: &str = "mesos_install_method";
const TARBALL_VARS: &[&str] = &["mesos_tarball_path", "mesos_tarball_url"];
const PACKAGE_VAR: &str = "mesos_apt_repository";
/// The role whose presence means "the playbook installs Mesos" (mesos-master and mesos-slave
/// depend on it).
pub const MESOS_ROLE: &str = "mesos";

impl Ctx {
    /// Every check of the deploy that can fail before anything is paid for: the identity file
    /// is readable, `--compose` parses, the playbook and `-e` load, Mesos has a source.
    pub(super) fn preflight(&self, cluster: &str, d: &Deploy) -> Result<(), Ec2Failure> {
        if let Some(key) = &d.identity_file {
            std::fs::File::open(key).map_err(|e| Ec2Failure::IdentityFile(key.clone(), e))?;
        }
        self.inventory_source(cluster, d)?;
        let mut plays = self.plays(d, &super::RunFlags::default())?;
        plays.playbook(&d.playbook)?;
        let extra = crate::app::options::parse_extra_vars(&d.extra_vars)?;
        match mesos_source_problem(plays.books(), &extra) {
            Some(problem) => Err(Ec2Failure::Preflight(problem)),
            None => Ok(()),
        }
    }

    /// The key pair exists and, when an identity file is given, the file holds its key.
    pub(super) async fn check_key(
        &self,
        key_name: Option<&str>,
        identity: Option<&Path>,
    ) -> Result<(), Ec2Failure> {
        let Some(name) = key_name else {
            if identity.is_some() {
                eprintln!(
                    "warning: no --key-name: the instances will accept no key pair, so the identity file cannot log in"
                );
            }
            return Ok(());
        };
        let theirs = keypair::key_pair_fingerprint(&self.ec2, name).await?;
        let Some(path) = identity else {
            return Ok(());
        };
        let text = keypair::read_key(path).map_err(|e| Ec2Failure::IdentityFile(path.into(), e))?;
        match keypair::compare(&text, &theirs) {
            KeyCheck::Matches => Ok(()),
            KeyCheck::Differs { theirs, .. } => Err(Ec2Failure::Preflight(format!(
                "--identity-file {} is not the key of key pair {name:?} (EC2's fingerprint {theirs}); \
                 pass the key pair's own .pem",
                path.display()
            ))),
            KeyCheck::Unverifiable(why) => {
                eprintln!(
                    "warning: cannot check that {} is key pair {name:?}'s key ({why})",
                    path.display()
                );
                Ok(())
            }
        }
    }

    /// On `--resume`: rules from new addresses (a different `--ssh-from`, `--open-ui`) are
    /// shown and must be confirmed.
    pub(super) async fn confirm_widening(
        &self,
        spec: &LaunchSpec,
        yes: bool,
    ) -> Result<(), Ec2Failure> {
        let wider = cluster::widening(&self.ec2, spec).await?;
        if wider.is_empty() {
            return Ok(());
        }
        eprintln!(
            "This --resume opens cluster {} to new addresses:",
            spec.cluster
        );
        for (group, r) in &wider {
            eprintln!("  {group}: tcp {} from {}", r.from, r.source);
        }
        if yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() {
            eprintln!("(not a terminal: pass -y to confirm)");
            return Err(Ec2Failure::NotConfirmed);
        }
        ask_yes("Open them?")
    }

    /// Says what the launch will start and asks on a terminal (`-y` skips; elsewhere, such as
    /// a script, it goes on).
    pub(super) async fn confirm_plan(
        &self,
        spec: &LaunchSpec,
        yes: bool,
    ) -> Result<(), Ec2Failure> {
        let existing = cluster::nodes(&self.ec2, &spec.cluster).await?;
        let lines = plan_lines(spec, &existing);
        if lines.is_empty() {
            return Ok(());
        }
        println!(
            "Cluster {} in {} will start:",
            spec.cluster, self.ec2.region
        );
        for l in &lines {
            println!("  {l}");
        }
        if yes || !std::io::stdin().is_terminal() {
            return Ok(());
        }
        ask_yes("Start them?")
    }
}

/// What a launch will start: one line per role with missing instances, then disks and price.
pub fn plan_lines(spec: &LaunchSpec, existing: &[cluster::Node]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut total = 0u32;
    for (role, want) in spec.counts() {
        let have = existing.iter().filter(|n| n.role == Some(role)).count() as u32;
        let n = want.saturating_sub(have);
        if n == 0 {
            continue;
        }
        total += n;
        let itype = match (role, &spec.master_instance_type) {
            (Role::Master, Some(m)) => m.as_str(),
            _ => spec.instance_type.as_str(),
        };
        lines.push(format!("{n} × {itype} ({})", role.tag()));
    }
    if total == 0 {
        return lines;
    }
    if let Some(gb) = spec.root_vol_size {
        lines.push(format!(
            "root volumes: {total} × {gb} GB gp3 ({} GB)",
            total as i64 * gb as i64
        ));
    }
    if let Some(gb) = spec.ebs_vol_size {
        lines.push(format!(
            "EBS volumes at {}: {total} × {gb} GB gp3 ({} GB), deleted with the instances",
            cluster::EBS_DEVICE,
            total as i64 * gb as i64
        ));
    }
    if let Some(p) = &spec.spot_price {
        lines.push(format!("as spot instances at most {p}/hour each"));
    }
    lines.push(format!("SSH open to {}", spec.ssh_from));
    if let Some(ui) = &spec.open_ui {
        lines.push(format!("web UIs open to {ui}"));
    }
    lines
}

/// `y`/`yes` on the terminal, else not confirmed.
fn ask_yes(question: &str) -> Result<(), Ec2Failure> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Ec2Failure::NotConfirmed),
    }
}

/// The role `name`'s block in any play of the playbooks.
fn role_blocks<'a>(
    books: &'a [Playbook],
    name: &'a str,
) -> impl Iterator<Item = (&'a crate::plan::Play, &'a crate::plan::RoleInfo)> + 'a {
    books.iter().flat_map(|b| &b.plays).flat_map(move |p| {
        p.roles.iter().filter_map(move |n| match n {
            TaskNode::Block(b) => b
                .role
                .as_deref()
                .filter(|r| {
                    r.name == name || r.path.file_name().and_then(|f| f.to_str()) == Some(name)
                })
                .map(|r| (p, r)),
            TaskNode::Task(_) => None,
        })
    })
}

/// A variable as the role would see it without inventory: extra vars, play vars, role vars,
/// role defaults. `None` when unset.
fn lookup(
    extra: &IndexMap<String, Value>,
    play: &crate::plan::Play,
    role: &crate::plan::RoleInfo,
    var: &str,
) -> Option<Value> {
    let layer = |v: &Value| v.get_attr(var).ok().filter(|x| !x.is_undefined());
    extra
        .get(var)
        .cloned()
        .or_else(|| layer(&play.vars))
        .or_else(|| layer(&role.vars))
        .or_else(|| layer(&role.defaults))
}

/// Why the playbook cannot install Mesos as configured, or `None` (it does not install Mesos,
/// or a source is set, or the setting is a template we cannot judge before hosts exist).
pub fn mesos_source_problem(books: &[Playbook], extra: &IndexMap<String, Value>) -> Option<String> {
    let (play, role) = role_blocks(books, MESOS_ROLE).next()?;
    let text = |v: Option<Value>| -> String {
        v.filter(|v| !v.is_none())
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default()
    };
    let method = text(lookup(extra, play, role, MESOS_METHOD_VAR));
    if method.contains("{{") {
        return None;
    }
    let get = |v: &str| text(lookup(extra, play, role, v));
    match method.as_str() {
        "package" if get(PACKAGE_VAR).trim().is_empty() => Some(format!(
            "the playbook installs Mesos with {MESOS_METHOD_VAR}=package, but {PACKAGE_VAR} is \
             not set, so the deploy would fail after the instances are paid for (no \
             distribution ships a mesos package). Pass -e {PACKAGE_VAR}='deb URL SUITE main' \
             for a repository, or -e {MESOS_METHOD_VAR}=tarball with mesos_tarball_path or \
             mesos_tarball_url (see docs/ec2.md)"
        )),
        "tarball" => {
            let mut vars = IndexMap::new();
            for name in TARBALL_VARS.iter().chain([&MESOS_METHOD_VAR]) {
                let value = get(name);
                if value.contains("{{") {
                    return None;
                }
                vars.insert(name.to_string(), Value::from(value));
            }
            crate::app::stack::mesos_source(&vars)
                .err()
                .map(|why| format!("the playbook installs Mesos, but {why}"))
        }
        _ => None,
    }
}
