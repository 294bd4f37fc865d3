//! `package`: installs or removes packages with whichever manager the host has. The manager
//! comes from `use`, else the gathered fact `ansible_pkg_mgr`, else one probe of the host; the
//! task then runs as the `apt`, `yum` or `dnf` module would.

use super::apt::{Apt, AptArgs, AptState};
use super::yum::{Dnf, RpmArgs, RpmState, Yum};
use crate::modules::doc::{aka, dflt, one_of, req};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Package;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    #[default]
    #[serde(alias = "installed")]
    Present,
    Latest,
    #[serde(alias = "removed")]
    Absent,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PackageArgs {
    #[serde(alias = "pkg")]
    name: Vec<String>,
    #[serde(default)]
    state: PackageState,
    #[serde(rename = "use", default)]
    use_: Option<String>,
    #[serde(default)]
    update_cache: bool,
}

const ARGS: &[ArgDoc] = &[
    aka(
        req(
            "name",
            "Package names (a list or comma-separated), as the host's manager spells them.",
        ),
        &["pkg"],
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present installs, latest also upgrades, absent removes.",
        ),
        &["present", "installed", "latest", "absent", "removed"],
    ),
    one_of(
        dflt(
            "use",
            "auto",
            "The manager to use; auto takes the fact ansible_pkg_mgr, or probes the host when facts were not gathered.",
        ),
        &["auto", "apt", "yum", "dnf", "dnf5"],
    ),
    dflt(
        "update_cache",
        "no",
        "Refresh the manager's package lists first (passed to apt, yum or dnf).",
    ),
];

impl Module for Package {
    const NAME: &'static str = "package";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("ansible_facts.ansible_pkg_mgr", "the package manager used")],
        summary: "Manage packages with the host's own package manager (apt, yum or dnf).",
        args: ARGS,
        example: "- package:\n    name: [ntp, curl]\n    state: present\n",
    };
    type Args = PackageArgs;
    async fn run(&self, a: PackageArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let mgr = manager(&a, cx).await?;
        let mut o = match mgr.as_str() {
            "apt" => {
                let args = AptArgs {
                    name: a.name,
                    state: match a.state {
                        PackageState::Present => AptState::Present,
                        PackageState::Latest => AptState::Latest,
                        PackageState::Absent => AptState::Absent,
                    },
                    update_cache: Some(a.update_cache),
                    lock_timeout: 60,
                    ..Default::default()
                };
                Apt.run(args, cx).await?
            }
            "yum" | "dnf" | "dnf5" => {
                let args = RpmArgs {
                    name: a.name,
                    state: Some(match a.state {
                        PackageState::Present => RpmState::Present,
                        PackageState::Latest => RpmState::Latest,
                        PackageState::Absent => RpmState::Absent,
                    }),
                    update_cache: a.update_cache,
                    ..Default::default()
                };
                if mgr == "yum" {
                    Yum.run(args, cx).await?
                } else {
                    Dnf.run(args, cx).await?
                }
            }
            other => {
                return Err(ModuleError::Failed(format!(
                    "the package module does not support the package manager `{other}` (supported: apt, yum, dnf)"
                )));
            }
        };
        o.result
            .insert("ansible_pkg_mgr".into(), minijinja::Value::from(mgr));
        Ok(o)
    }
}

/// The manager a probe's `command -v` lines point to, as the setup module names it.
fn manager_from_probe(out: &str) -> Option<&'static str> {
    let have = |b: &str| out.lines().any(|l| l.trim() == b);
    [
        ("apt-get", "apt"),
        ("dnf5", "dnf5"),
        ("dnf", "dnf"),
        ("yum", "yum"),
    ]
    .into_iter()
    .find(|(bin, _)| have(bin))
    .map(|(_, m)| m)
}

async fn manager(a: &PackageArgs, cx: &TaskContext<'_>) -> Result<String, ModuleError> {
    if let Some(u) = a.use_.as_deref().filter(|u| *u != "auto") {
        return Ok(u.to_string());
    }
    // Facts gathered earlier in the play; an undefined fact evaluates to ''.
    if let Ok(v) = cx.templating.eval("ansible_pkg_mgr | default('')")
        && let Some(m) = v.as_str().filter(|m| !m.is_empty() && *m != "unknown")
    {
        return Ok(m.to_string());
    }
    let out = cx
        .run(
            "for b in apt-get dnf5 dnf yum; do command -v $b >/dev/null 2>&1 && echo $b; done; true",
            &[],
        )
        .await?;
    manager_from_probe(&out.stdout_str())
        .map(str::to_string)
        .ok_or_else(|| {
            ModuleError::Failed(
                "no supported package manager (apt-get, dnf or yum) found on the host".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;

    #[test]
    fn probe_prefers_apt_then_dnf() {
        assert_eq!(manager_from_probe("yum\ndnf\n"), Some("dnf"));
        assert_eq!(manager_from_probe("apt-get\n"), Some("apt"));
        assert_eq!(manager_from_probe(""), None);
    }

    #[tokio::test]
    async fn unknown_manager_from_facts_fails_clearly() {
        let mut h = Harness::new();
        h.templating
            .vars
            .insert("ansible_pkg_mgr | default('')".into(), "pacman".into());
        let r = h
            .run(&Package, serde_json::json!({"name": "jq"}), false, false)
            .await;
        assert!(r.outcome.failed);
        assert!(
            r.outcome.msg.as_deref().unwrap().contains("`pacman`"),
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.execs, 0, "facts decide without touching the host");
    }

    #[tokio::test]
    async fn use_overrides_facts() {
        let h = Harness::new();
        let r = h
            .run(
                &Package,
                serde_json::json!({"name": "jq", "use": "portage"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.msg.as_deref().unwrap().contains("`portage`"));
    }
}
