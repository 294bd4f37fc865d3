//! `pip`: Python packages, system-wide or in a virtualenv. One query finds pip (the
//! virtualenv's, `executable`, or pip3/pip), creating the virtualenv first when it is missing,
//! and lists what is installed; the controller compares names and version specifiers; a second
//! script runs pip only for what differs and lists the packages again, so `changed` is what
//! really changed. Needs Python on the host; fails clearly when there is none.

pub mod version;

use super::pkgkit::sections;
use crate::modules::doc::{arg, dflt, one_of};
use crate::modules::remote::q;
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;
use std::collections::BTreeMap;
use version::{normalize_name, satisfies, split_requirement};

pub struct Pip;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PipState {
    #[default]
    Present,
    Latest,
    Absent,
    Forcereinstall,
}

fn virtualenv() -> String {
    "virtualenv".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PipArgs {
    #[serde(default)]
    name: Vec<String>,
    version: Option<String>,
    requirements: Option<String>,
    virtualenv: Option<String>,
    #[serde(default = "virtualenv")]
    virtualenv_command: String,
    virtualenv_python: Option<String>,
    #[serde(default)]
    virtualenv_site_packages: bool,
    executable: Option<String>,
    #[serde(default)]
    state: PipState,
    extra_args: Option<String>,
    chdir: Option<String>,
    #[serde(default)]
    break_system_packages: bool,
}

const ARGS: &[ArgDoc] = &[
    arg(
        "name",
        "Packages, with optional specifiers (`requests>=2,<3`, `six==1.16.*`), a list or comma-separated; URLs and paths are passed to pip as they are.",
    ),
    arg(
        "version",
        "Version for a single name (same as name==version).",
    ),
    arg(
        "requirements",
        "A requirements file on the host (relative to chdir).",
    ),
    arg(
        "virtualenv",
        "Install into this virtualenv, creating it when missing.",
    ),
    dflt(
        "virtualenv_command",
        "virtualenv",
        "Command that creates the virtualenv, e.g. `python3 -m venv`.",
    ),
    arg(
        "virtualenv_python",
        "Python for a new virtualenv (virtualenv -p); not used with `-m venv`.",
    ),
    dflt(
        "virtualenv_site_packages",
        "no",
        "Give the new virtualenv the system site-packages.",
    ),
    arg(
        "executable",
        "The pip to run (e.g. pip3.11); not with virtualenv.",
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present installs what is missing or does not satisfy its specifier; latest upgrades (pip install -U); absent uninstalls; forcereinstall reinstalls always.",
        ),
        &["present", "latest", "absent", "forcereinstall"],
    ),
    arg(
        "extra_args",
        "Extra arguments for pip (e.g. `--no-index --find-links /srv/wheels`).",
    ),
    arg("chdir", "Change into this directory first."),
    dflt(
        "break_system_packages",
        "no",
        "Pass --break-system-packages (needed for system-wide installs on Debian 12 and later).",
    ),
];

/// The requirements a task names: `name` entries, with `version` appended to the only one.
fn requested(a: &PipArgs) -> Result<Vec<String>, ModuleError> {
    let fail = ModuleError::Failed;
    let mut names: Vec<String> = a
        .name
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    // An empty version is no version, as Ansible's `if version:` reads it (roles write
    // `version: "{{ x_version | default(omit) }}"` with `x_version: ''`).
    if let Some(v) = a
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        if names.len() != 1 {
            return Err(fail("version needs exactly one name".into()));
        }
        if split_requirement(&names[0]).is_some_and(|(_, s)| !s.is_empty()) {
            return Err(fail(
                "give the version either in name or in version, not both".into(),
            ));
        }
        names[0] = format!("{}=={}", names[0], v);
    }
    if names.is_empty() && a.requirements.is_none() {
        return Err(fail("one of name or requirements is required".into()));
    }
    Ok(names)
}

impl Module for Pip {
    const NAME: &'static str = "pip";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "packages asked for"),
            ("virtualenv", "the virtualenv"),
            ("stdout", "pip's output"),
            ("stderr", "pip's errors"),
        ],
        summary: "Install, upgrade and remove Python packages with pip (needs Python on the host).",
        args: ARGS,
        example: "- pip:\n    name: [kazoo>=2.8, requests]\n    virtualenv: /opt/tools\n    virtualenv_command: python3 -m venv\n",
    };
    type Args = PipArgs;
    async fn run(&self, a: PipArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let fail = ModuleError::Failed;
        let names = requested(&a)?;
        if a.virtualenv.is_some() && a.executable.is_some() {
            return Err(fail(
                "virtualenv and executable are mutually exclusive".into(),
            ));
        }
        let out = cx.run(&query_script(&a, cx.check_mode), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(query_error(out.rc, &out.stderr_str())).with("rc", out.rc));
        }
        let secs = sections(&out.stdout_str());
        let venv_created = secs.contains_key("venv_created");
        if secs.contains_key("venv_missing") {
            // Check mode, no virtualenv yet: it and everything in it would be created.
            return Ok(Outcome::changed(true).msg(format!(
                "would create the virtualenv {} and install into it",
                a.virtualenv.as_deref().unwrap_or_default()
            )));
        }
        let before = secs.get("installed").cloned().unwrap_or_default();
        let installed = parse_installed(&before);
        let p = plan(&a, &names, &installed);
        let listed = |v: &[String]| {
            Value::from(
                v.iter()
                    .map(|s| Value::from(s.as_str()))
                    .collect::<Vec<_>>(),
            )
        };
        let base = |changed: bool| {
            let mut o = Outcome::changed(changed).with("name", listed(&names));
            if let Some(v) = &a.virtualenv {
                o.result
                    .insert("virtualenv".into(), Value::from(v.as_str()));
            }
            o
        };
        let nothing = p.install.is_empty() && p.uninstall.is_empty() && a.requirements.is_none();
        if nothing {
            return Ok(base(venv_created));
        }
        if cx.check_mode {
            // Opaque work (latest, requirements, URLs) is reported as a change only when something
            // is surely missing, as far as the controller can tell without asking the index.
            let sure = p.install.iter().any(|r| {
                split_requirement(r)
                    .is_some_and(|(n, s)| !installed.get(&n).is_some_and(|v| satisfies(v, &s)))
            }) || !p.uninstall.is_empty()
                || a.state == PipState::Forcereinstall
                || a.requirements.is_some();
            return Ok(base(sure));
        }
        let mut pip = String::from("\"$rm_pip\"");
        let mut script = String::new();
        if let Some(d) = &a.chdir {
            script.push_str(&format!("cd {} || exit 89\n", q(d)));
        }
        script.push_str(&match (&a.virtualenv, &a.executable) {
            (Some(v), _) => format!("rm_pip={}/bin/pip\n", q(v)),
            (None, Some(e)) => format!("rm_pip=$(command -v {})\n", q(e)),
            (None, None) => "rm_pip=$(command -v pip3 || command -v pip)\n".into(),
        });
        pip.push_str(" --disable-pip-version-check");
        let extra = a
            .extra_args
            .as_deref()
            .map(|e| format!(" {e}"))
            .unwrap_or_default();
        let bsp = if a.break_system_packages {
            " --break-system-packages"
        } else {
            ""
        };
        let words = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(" ");
        if !p.install.is_empty() || a.requirements.is_some() {
            let mode = match a.state {
                PipState::Latest => " -U",
                PipState::Forcereinstall => " -U --force-reinstall",
                _ => "",
            };
            let req = a
                .requirements
                .as_deref()
                .map(|r| format!(" -r {}", q(r)))
                .unwrap_or_default();
            script.push_str(&format!(
                "{pip} install{mode}{bsp}{extra}{req} {} || exit $?\n",
                words(&p.install)
            ));
        }
        if !p.uninstall.is_empty() {
            script.push_str(&format!(
                "{pip} uninstall -y{bsp} {} || exit $?\n",
                words(&p.uninstall)
            ));
        }
        script.push_str(&format!(
            "echo @@installed\n{pip} list --format=freeze 2>/dev/null\n"
        ));
        let out = cx.run(&script, &[]).await?;
        let stdout = out.stdout_str();
        let stderr = out.stderr_str();
        if out.rc != 0 {
            return Ok(Outcome::fail(format!("pip failed: {}", stderr.trim()))
                .with("rc", out.rc)
                .with("stdout", stdout)
                .with("stderr", stderr));
        }
        let after = sections(&stdout)
            .get("installed")
            .cloned()
            .unwrap_or_default();
        let changed = venv_created
            || a.state == PipState::Forcereinstall
            || parse_installed(&after) != installed;
        let cmd_out = stdout.split("@@installed").next().unwrap_or("").to_string();
        Ok(base(changed).with("stdout", cmd_out).with("stderr", stderr))
    }
}

const NO_PIP: &str = "pip needs Python on the target: install python3-pip first";

/// The query: find (or create) pip, then `pip list --format=freeze` under `@@installed`.
pub fn query_script(a: &PipArgs, check: bool) -> String {
    let mut s = String::new();
    if let Some(d) = &a.chdir {
        s.push_str(&format!("cd {} || exit 89\n", q(d)));
    }
    match (&a.virtualenv, &a.executable) {
        (Some(venv), _) => {
            let mut create = a.virtualenv_command.clone();
            let tool = create.split_whitespace().next().unwrap_or("").to_string();
            if a.virtualenv_site_packages {
                create.push_str(" --system-site-packages");
            }
            if let Some(py) = a
                .virtualenv_python
                .as_ref()
                .filter(|_| !create.contains("-m venv"))
            {
                create.push_str(&format!(" -p {}", q(py)));
            }
            s.push_str(&format!(
                "rm_pip={v}/bin/pip\nif [ ! -x {v}/bin/python ]; then\n",
                v = q(venv)
            ));
            if check {
                s.push_str("  echo @@venv_missing; exit 0\n");
            } else {
                s.push_str(&format!(
                    "  command -v {t} >/dev/null 2>&1 || {{ echo {msg} >&2; exit 90; }}\n  {create} {v} >&2 || exit 88\n  echo @@venv_created\n",
                    t = q(&tool),
                    msg = q(&format!("{NO_PIP} (virtualenv_command `{tool}` not found)")),
                    v = q(venv)
                ));
            }
            s.push_str("fi\n");
        }
        (None, Some(exe)) => s.push_str(&format!(
            "rm_pip=$(command -v {}) || {{ echo {} >&2; exit 90; }}\n",
            q(exe),
            q(&format!("{NO_PIP} ({exe} not found)"))
        )),
        (None, None) => s.push_str(&format!(
            "rm_pip=$(command -v pip3 || command -v pip) || {{ echo {} >&2; exit 90; }}\n",
            q(NO_PIP)
        )),
    }
    s.push_str(
        "echo @@installed\n\"$rm_pip\" list --format=freeze --disable-pip-version-check 2>/dev/null || exit 87\n",
    );
    s
}

/// name -> version from `pip list --format=freeze` (or `pip freeze`).
pub fn parse_installed(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (normalize_name(n), v.trim().to_string()))
        .collect()
}

/// What pip must be asked to do, and whether a check-mode run would change something.
#[derive(Debug, Default, PartialEq)]
pub struct PipPlan {
    pub install: Vec<String>,
    pub uninstall: Vec<String>,
    /// Requirements files, URLs, paths, latest and forcereinstall: pip decides.
    pub opaque: bool,
}

pub fn plan(a: &PipArgs, names: &[String], installed: &BTreeMap<String, String>) -> PipPlan {
    let mut p = PipPlan {
        opaque: a.requirements.is_some(),
        ..Default::default()
    };
    for req in names {
        let parsed = split_requirement(req);
        let Some((name, spec)) = parsed else {
            if a.state != PipState::Absent {
                p.install.push(req.clone());
                p.opaque = true;
            }
            continue;
        };
        let have = installed.get(&name);
        match a.state {
            PipState::Absent => {
                if have.is_some() {
                    p.uninstall.push(name);
                }
            }
            PipState::Present => {
                if !have.is_some_and(|v| satisfies(v, &spec)) {
                    p.install.push(req.clone());
                }
            }
            PipState::Latest | PipState::Forcereinstall => {
                // Whether a newer version exists is pip's to say (it asks the index).
                p.opaque |= have.is_some();
                p.install.push(req.clone());
            }
        }
    }
    p
}

fn query_error(rc: i32, stderr: &str) -> String {
    let e = stderr.trim();
    match rc {
        90 => e.to_string(),
        89 => "cannot change into chdir".into(),
        88 => format!("cannot create the virtualenv: {e}"),
        87 => format!("pip cannot list packages: {e}"),
        _ => format!("cannot query pip (rc={rc}): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use crate::modules::{DecodeMode, decode};

    fn args(j: serde_json::Value) -> PipArgs {
        decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    const FREEZE: &str = "pip==23.0.1\nRequests==2.28.1\nsix==1.16.0\nsetuptools==66.1.1\n";

    #[test]
    fn plan_compares_specifiers() {
        let inst = parse_installed(FREEZE);
        let a = args(serde_json::json!({"name": ["requests>=2,<3", "six==1.15.*", "kazoo"]}));
        let p = plan(&a, &a.name, &inst);
        assert_eq!(p.install, ["six==1.15.*", "kazoo"]);
        assert!(!p.opaque);
        let a = args(serde_json::json!({"name": "six,kazoo", "state": "absent"}));
        assert_eq!(plan(&a, &a.name, &inst).uninstall, ["six"]);
        let a = args(serde_json::json!({"name": "six", "state": "latest"}));
        let p = plan(&a, &a.name, &inst);
        assert!(p.opaque && p.install == ["six"]);
        let a = args(serde_json::json!({"name": "git+https://example.invalid/x.git"}));
        assert!(plan(&a, &a.name, &inst).opaque);
    }

    #[test]
    fn an_empty_version_is_no_version() {
        let a = args(serde_json::json!({"name": "supervisor", "version": ""}));
        assert_eq!(requested(&a).unwrap(), ["supervisor"]);
        let a = args(serde_json::json!({"name": "supervisor", "version": "4.2.5"}));
        assert_eq!(requested(&a).unwrap(), ["supervisor==4.2.5"]);
    }

    #[test]
    fn venv_creation_uses_the_command() {
        let a = args(
            serde_json::json!({"name": "six", "virtualenv": "/opt/v", "virtualenv_command": "python3 -m venv", "virtualenv_site_packages": true}),
        );
        let s = query_script(&a, false);
        assert!(
            s.contains("python3 -m venv --system-site-packages /opt/v"),
            "{s}"
        );
        assert!(query_script(&a, true).contains("@@venv_missing"));
    }

    #[tokio::test]
    async fn no_pip_on_the_host_fails_clearly() {
        let h = Harness::new();
        let r = h
            .run(
                &Pip,
                serde_json::json!({"name": "six", "executable": "/nonexistent/pip-rmesos"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(
            r.outcome.msg.as_deref().unwrap().starts_with(NO_PIP),
            "{:?}",
            r.outcome.msg
        );
    }
}
