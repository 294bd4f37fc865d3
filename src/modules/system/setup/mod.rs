//! `setup`: gathers facts in one round trip. A single `sh` script reads /proc, /sys, /etc and a
//! few coreutils (no Python) and prints raw sections ([`script`]); the controller turns them into
//! facts ([`parse`]).
//!
//! Facts go into [`Outcome::facts`] under Ansible's names WITHOUT the `ansible_` prefix
//! (`hostname`, `default_ipv4`, `distribution`, ...); the executor exposes each one both as
//! `ansible_<name>` and as `ansible_facts.<name>`, as Ansible does. `ansible_python` is absent:
//! there is no Python on the target to describe. Local facts (`fact_path`) are not supported.

mod parse;
mod script;

pub use parse::{Distro, distribution, human_size, pkg_mgr, service_mgr, split_sections};

use crate::modules::doc::{arg, dflt, one_of};
use crate::modules::{Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;
use std::time::Duration;

/// One group of facts, gathered by one part of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collector {
    Platform,
    Distribution,
    Lsb,
    PkgMgr,
    ServiceMgr,
    Env,
    User,
    DateTime,
    Selinux,
    Fips,
    Cpu,
    Memory,
    Uptime,
    Devices,
    Mounts,
    Interfaces,
    Virtual,
}

use Collector as C;

/// `gather_subset` names: Ansible's subsets and its single collectors that we implement.
const SUBSETS: &[(&str, &[Collector])] = &[
    ("platform", &[C::Platform]),
    ("distribution", &[C::Distribution]),
    ("lsb", &[C::Lsb]),
    ("pkg_mgr", &[C::PkgMgr]),
    ("service_mgr", &[C::ServiceMgr]),
    ("env", &[C::Env]),
    ("user", &[C::User]),
    ("date_time", &[C::DateTime]),
    ("selinux", &[C::Selinux]),
    ("fips", &[C::Fips]),
    (
        "hardware",
        &[C::Cpu, C::Memory, C::Uptime, C::Devices, C::Mounts],
    ),
    ("devices", &[C::Devices]),
    ("mounts", &[C::Mounts]),
    ("network", &[C::Interfaces]),
    ("interfaces", &[C::Interfaces]),
    ("virtual", &[C::Virtual]),
];

/// Ansible's minimal subset: what `min` means and what `!all` keeps.
const MIN: &[Collector] = &[
    C::Platform,
    C::Distribution,
    C::Lsb,
    C::PkgMgr,
    C::ServiceMgr,
    C::Env,
    C::User,
    C::DateTime,
    C::Selinux,
    C::Fips,
];

const ALL: &[Collector] = &[
    C::Platform,
    C::Distribution,
    C::Lsb,
    C::PkgMgr,
    C::ServiceMgr,
    C::Env,
    C::User,
    C::DateTime,
    C::Selinux,
    C::Fips,
    C::Cpu,
    C::Memory,
    C::Uptime,
    C::Devices,
    C::Mounts,
    C::Interfaces,
    C::Virtual,
];

fn subset_members(name: &str) -> Result<&'static [Collector], ModuleError> {
    match name {
        "all" => Ok(ALL),
        "min" => Ok(MIN),
        _ => SUBSETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| *c)
            .ok_or_else(|| ModuleError::Failed({
                let names: Vec<&str> = ["all", "min"]
                    .into_iter()
                    .chain(SUBSETS.iter().map(|(n, _)| *n))
                    .collect();
                format!(
                    "unsupported gather_subset {:?}; supported subsets are {} (prefix with ! to exclude)",
                    name,
                    names.join(", ")
                )
            })),
    }
}

/// Ansible's rule: the named subsets (all when none is named) plus `min`, minus the `!`ed ones.
/// `!all` drops everything outside `min` and `!min` drops `min`, except what a positive subset
/// names (`!all,!min,network` gives just the network facts).
pub fn select(gather_subset: &[String]) -> Result<Vec<Collector>, ModuleError> {
    let mut add: Vec<Collector> = Vec::new();
    let mut named: Vec<Collector> = Vec::new();
    let mut exclude: Vec<Collector> = Vec::new();
    let (mut exclude_all, mut exclude_min) = (false, false);
    for raw in gather_subset {
        let raw = raw.trim();
        match raw.strip_prefix('!') {
            Some("all") => exclude_all = true,
            Some("min") => exclude_min = true,
            Some(name) => exclude.extend(subset_members(name)?),
            None => {
                let members = subset_members(raw)?;
                add.extend(members);
                if raw != "all" && raw != "min" {
                    named.extend(members);
                }
            }
        }
    }
    if add.is_empty() {
        add.extend(ALL);
    }
    Ok(ALL
        .iter()
        .copied()
        .filter(|c| {
            let min = MIN.contains(c);
            (add.contains(c) || min)
                && !exclude.contains(c)
                && !(exclude_all && !min && !named.contains(c))
                && !(exclude_min && min && !named.contains(c))
        })
        .collect())
}

fn default_subset() -> Vec<String> {
    vec!["all".to_string()]
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SetupArgs {
    #[serde(default = "default_subset")]
    pub gather_subset: Vec<String>,
    /// Globs on fact names, with or without the `ansible_` prefix.
    #[serde(default)]
    pub filter: Vec<String>,
    /// Seconds; the whole gathering is one command, so this bounds it.
    pub gather_timeout: Option<u64>,
}

pub struct Setup;

impl Module for Setup {
    const NAME: &'static str = "setup";
    const ALIASES: &'static [&'static str] = &["gather_facts", "ansible.builtin.gather_facts"];
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[(
            "ansible_facts",
            "the host's facts (ansible_hostname, ansible_distribution, ansible_default_ipv4, ...; see rmesos doc setup's gather_subset)",
        )],
        summary: "Gathers facts about the host in one round trip (no Python needed on the \
                  target). Facts are visible as ansible_<name> and ansible_facts.<name>.",
        args: &[
            one_of(
                dflt(
                    "gather_subset",
                    "all",
                    "Subsets to gather; prefix with ! to exclude (`!hardware`, `!all,!min`). \
                       The minimal subset is always gathered unless `!min` is given.",
                ),
                &[
                    "all",
                    "min",
                    "hardware",
                    "network",
                    "virtual",
                    "platform",
                    "distribution",
                    "lsb",
                    "pkg_mgr",
                    "service_mgr",
                    "env",
                    "user",
                    "date_time",
                    "selinux",
                    "fips",
                    "devices",
                    "mounts",
                    "interfaces",
                ],
            ),
            arg(
                "filter",
                "Only return facts whose names match one of these globs \
                       (`ansible_eth*`, `ansible_distribution*`).",
            ),
            arg("gather_timeout", "Seconds after which gathering fails."),
        ],
        example: "- setup:\n    gather_subset: ['!all', 'network']\n    filter: ['ansible_default_ipv4', 'ansible_eth*']",
    };
    type Args = SetupArgs;

    async fn run(&self, args: SetupArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let selected = select(&args.gather_subset)?;
        let filters = args
            .filter
            .iter()
            .map(|f| {
                glob::Pattern::new(f)
                    .map_err(|e| ModuleError::Failed(format!("filter {:?}: {}", f, e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let script = script::build(&selected);
        let out = match args.gather_timeout {
            Some(secs) => {
                let secs = Duration::from_secs(secs);
                tokio::time::timeout(secs, cx.run(&script, &[]))
                    .await
                    .map_err(|_| {
                        ModuleError::Failed(format!("fact gathering timed out after {:?}", secs))
                    })??
            }
            None => cx.run(&script, &[]).await?,
        };
        if out.rc != 0 {
            return Ok(Outcome::fail(format!(
                "fact gathering failed (rc={}): {}",
                out.rc,
                out.stderr_str().trim()
            )));
        }
        let sections = split_sections(&out.stdout_str());
        let facts = parse::facts(&sections, &selected);
        let mut outcome = Outcome::ok();
        for (name, value) in facts {
            let keep = filters.is_empty()
                || filters
                    .iter()
                    .any(|p| p.matches(&name) || p.matches(&format!("ansible_{}", name)));
            if keep {
                outcome
                    .facts
                    .insert(name, minijinja::Value::from(minijinja::value::Serde(value)));
            }
        }
        outcome.facts.insert(
            "gather_subset".into(),
            minijinja::Value::from(minijinja::value::Serde(&args.gather_subset)),
        );
        outcome
            .facts
            .insert("module_setup".into(), minijinja::Value::from(true));
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests;
