//! `yum` and `dnf`: RPM packages. One query script asks rpm which requested packages are
//! installed (and, for state=latest, which have updates via `check-update`); a second script
//! runs the manager only for what differs and lists the installed packages before and after,
//! so the reported `changed` and `packages` are what really changed. `--check` stops after the
//! query. Tested on canned rpm/yum/dnf output only: the test hosts here are Debian.

use super::pkgkit::sections;
use crate::modules::doc::{aka, arg, dflt, one_of};
use crate::modules::remote::q;
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Yum;
pub struct Dnf;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RpmState {
    #[default]
    #[serde(alias = "installed")]
    Present,
    Latest,
    #[serde(alias = "removed")]
    Absent,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RpmArgs {
    #[serde(default, alias = "pkg")]
    pub name: Vec<String>,
    #[serde(default)]
    pub state: Option<RpmState>,
    #[serde(default)]
    pub enablerepo: Vec<String>,
    #[serde(default)]
    pub disablerepo: Vec<String>,
    #[serde(default, alias = "expire-cache", alias = "update-cache")]
    pub update_cache: bool,
    #[serde(default)]
    pub disable_gpg_check: bool,
}

const ARGS: &[ArgDoc] = &[
    aka(
        arg(
            "name",
            "Packages: names, name-version, name.arch, a .rpm path or URL, or @group (a list or comma-separated).",
        ),
        &["pkg"],
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present installs missing packages, latest also updates installed ones, absent removes them.",
        ),
        &["present", "installed", "latest", "absent", "removed"],
    ),
    arg(
        "enablerepo",
        "Repositories to enable for this operation (list or comma-separated; globs allowed).",
    ),
    arg("disablerepo", "Repositories to disable for this operation."),
    aka(
        dflt(
            "update_cache",
            "no",
            "Refresh the metadata cache (makecache) first.",
        ),
        &["expire-cache", "update-cache"],
    ),
    dflt(
        "disable_gpg_check",
        "no",
        "Skip GPG signature checks (--nogpgcheck).",
    ),
];

impl Module for Yum {
    const NAME: &'static str = "yum";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("results", "one line per package"),
            ("rc", "exit status"),
            ("stdout", "output"),
            ("stderr", "errors"),
        ],
        summary: "Install, update and remove RPM packages with yum.",
        args: ARGS,
        example: "- yum:\n    name: [java-17-openjdk-headless, https://dl.fedoraproject.org/pub/epel/epel-release-latest-9.noarch.rpm]\n    state: present\n    enablerepo: epel\n",
    };
    type Args = RpmArgs;
    async fn run(&self, args: RpmArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run(args, cx, "yum").await
    }
}

impl Module for Dnf {
    const NAME: &'static str = "dnf";
    const ALIASES: &'static [&'static str] = &["dnf5", "ansible.builtin.dnf5"];
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("results", "one line per package"),
            ("rc", "exit status"),
            ("stdout", "output"),
            ("stderr", "errors"),
        ],
        summary: "Install, update and remove RPM packages with dnf.",
        args: ARGS,
        example: "- dnf:\n    name: [java-17-openjdk-headless, jq]\n    state: latest\n    update_cache: yes\n",
    };
    type Args = RpmArgs;
    async fn run(&self, args: RpmArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run(args, cx, "dnf").await
    }
}

fn is_rpm_file(n: &str) -> bool {
    n.ends_with(".rpm")
}

fn repo_opts(a: &RpmArgs) -> String {
    let mut o = String::new();
    for r in &a.enablerepo {
        o.push_str(&format!(" --enablerepo={}", q(r)));
    }
    for r in &a.disablerepo {
        o.push_str(&format!(" --disablerepo={}", q(r)));
    }
    if a.disable_gpg_check {
        o.push_str(" --nogpgcheck");
    }
    o
}

const RPM_QF: &str = "'%{NAME}\\t%{ARCH}\\t%{VERSION}-%{RELEASE}\\n'";

/// The query: each requested package's rpm entries (under `@@q NAME`), and for state=latest
/// the manager's `check-update` list.
pub fn query_script(a: &RpmArgs, bin: &str, check: bool) -> String {
    let mut s = format!(
        "command -v {bin} >/dev/null 2>&1 || {{ echo '{bin} is not installed on the host' >&2; exit 90; }}\nexport LC_ALL=C\n"
    );
    if a.update_cache && !check {
        s.push_str(&format!(
            "{bin} -q -y makecache{} >/dev/null || exit 93\n",
            repo_opts(a)
        ));
    }
    for n in a.name.iter().filter(|n| !n.starts_with('@')) {
        s.push_str(&format!("echo {}\n", q(&format!("@@q {n}"))));
        if is_rpm_file(n) {
            // A package file or URL: ask which package it holds, then whether that is installed.
            s.push_str(&format!(
                "rm_n=$(rpm -qp --qf '%{{NAME}}' -- {} 2>/dev/null) && rpm -q --qf {RPM_QF} -- \"$rm_n\" 2>/dev/null\n",
                q(n)
            ));
        } else {
            s.push_str(&format!(
                "rpm -q --qf {RPM_QF} -- {} 2>/dev/null || rpm -q --whatprovides --qf {RPM_QF} -- {} 2>/dev/null\n",
                q(n),
                q(n)
            ));
        }
    }
    if a.state == Some(RpmState::Latest) {
        let names: Vec<String> = a
            .name
            .iter()
            .filter(|n| !n.starts_with('@') && !is_rpm_file(n))
            .map(|n| q(n))
            .collect();
        s.push_str(&format!(
            "echo @@updates\n{bin} -q check-update{} {} ; rm_rc=$?; [ $rm_rc -eq 0 ] || [ $rm_rc -eq 100 ] || exit 96\n",
            repo_opts(a),
            names.join(" ")
        ));
    }
    s
}

/// An installed package as rpm's query format prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct RpmEntry {
    pub name: String,
    pub arch: String,
    pub version: String,
}

pub fn parse_rpm(text: &str) -> Vec<RpmEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(RpmEntry {
                name: f.next()?.to_string(),
                arch: f.next()?.to_string(),
                version: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The `name.arch` of each update `check-update` lists, stopping at "Obsoleting Packages".
/// Long names wrap: the name alone on one line, version and repository on the next.
pub fn parse_check_update(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("Obsoleting Packages") {
            break;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        let starts_package =
            !line.starts_with(' ') && toks.first().is_some_and(|t| t.contains('.'));
        let is_version = |t: &str| t.chars().next().is_some_and(|c| c.is_ascii_digit());
        match (toks.len(), pending.take()) {
            (2, Some(name)) if is_version(toks[0]) => out.push(name),
            (3, _) if starts_package && is_version(toks[1]) => out.push(toks[0].to_string()),
            (1, _) if starts_package => pending = Some(toks[0].to_string()),
            _ => {}
        }
    }
    out
}

/// Whether a requested name refers to an update listed as `name.arch`.
fn update_matches(requested: &str, listed: &str) -> bool {
    let bare = listed.rsplit_once('.').map(|(n, _)| n).unwrap_or(listed);
    requested == listed || requested == bare
}

/// What to run: packages to install, to update, to remove.
#[derive(Debug, Default, PartialEq)]
pub struct RpmPlan {
    pub install: Vec<String>,
    pub update: Vec<String>,
    pub remove: Vec<String>,
}

impl RpmPlan {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

pub fn plan(a: &RpmArgs, out: &str) -> RpmPlan {
    let secs = sections(out);
    let updates = secs
        .get("updates")
        .map(|u| parse_check_update(u))
        .unwrap_or_default();
    let state = a.state.unwrap_or_default();
    let mut p = RpmPlan::default();
    for n in &a.name {
        let installed = !n.starts_with('@')
            && secs
                .get(&format!("q {n}"))
                .is_some_and(|t| !parse_rpm(t).is_empty());
        match state {
            RpmState::Absent if installed || n.starts_with('@') => p.remove.push(n.clone()),
            RpmState::Absent => {}
            _ if !installed => p.install.push(n.clone()),
            RpmState::Latest if updates.iter().any(|u| update_matches(n, u)) => {
                p.update.push(n.clone())
            }
            _ => {}
        }
    }
    p
}

/// The changing script: installed packages before and after, the manager's run in between.
pub fn apply_script(a: &RpmArgs, bin: &str, p: &RpmPlan) -> String {
    let opts = repo_opts(a);
    let list = "rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n' | sort";
    let mut s = format!("export LC_ALL=C\necho @@before\n{list}\necho @@run\n");
    let words = |v: &[String]| v.iter().map(|n| q(n)).collect::<Vec<_>>().join(" ");
    if !p.install.is_empty() {
        s.push_str(&format!(
            "{bin} -y{opts} install {} >&2 || exit $?\n",
            words(&p.install)
        ));
    }
    if !p.update.is_empty() {
        s.push_str(&format!(
            "{bin} -y{opts} update {} >&2 || exit $?\n",
            words(&p.update)
        ));
    }
    if !p.remove.is_empty() {
        s.push_str(&format!(
            "{bin} -y{opts} remove {} >&2 || exit $?\n",
            words(&p.remove)
        ));
    }
    s.push_str(&format!("echo @@after\n{list}\n"));
    s
}

/// Installed (`+`) and removed (`-`) package NVRAs between two sorted `rpm -qa` lists.
pub fn changed_packages(before: &str, after: &str) -> Vec<String> {
    let b: std::collections::BTreeSet<&str> = before.lines().collect();
    let a: std::collections::BTreeSet<&str> = after.lines().collect();
    a.difference(&b)
        .map(|p| format!("+{p}"))
        .chain(b.difference(&a).map(|p| format!("-{p}")))
        .collect()
}

async fn run(a: RpmArgs, cx: &TaskContext<'_>, bin: &str) -> Result<Outcome, ModuleError> {
    let names: Vec<String> = a
        .name
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let a = RpmArgs { name: names, ..a };
    if a.name.is_empty() {
        if a.update_cache {
            if cx.check_mode {
                return Ok(Outcome::changed(true).msg("would refresh the metadata cache"));
            }
            let out = cx.run(&query_script(&a, bin, false), &[]).await?;
            if out.rc != 0 {
                return Ok(Outcome::fail(crate::modules::remote::host_error(
                    &format!("{bin} makecache failed"),
                    &out,
                )));
            }
            return Ok(Outcome::changed(true).msg("metadata cache refreshed"));
        }
        return Err(ModuleError::failed("name is required"));
    }
    let out = cx.run(&query_script(&a, bin, cx.check_mode), &[]).await?;
    if out.rc != 0 {
        let what = match out.rc {
            90 => "",
            93 => "makecache failed: ",
            96 => "check-update failed: ",
            _ => "cannot query packages: ",
        };
        return Ok(Outcome::fail(format!("{what}{}", out.stderr_str().trim())).with("rc", out.rc));
    }
    let p = plan(&a, &out.stdout_str());
    let listed = |v: &[String]| {
        Value::from(
            v.iter()
                .map(|s| Value::from(s.as_str()))
                .collect::<Vec<_>>(),
        )
    };
    if p.is_empty() {
        return Ok(Outcome::ok()
            .with("results", listed(&[]))
            .msg("Nothing to do"));
    }
    let wanted: Vec<String> = p
        .install
        .iter()
        .chain(&p.update)
        .chain(&p.remove)
        .cloned()
        .collect();
    if cx.check_mode {
        return Ok(Outcome::changed(true)
            .with("results", listed(&wanted))
            .msg(format!("would change: {}", wanted.join(", "))));
    }
    let out = cx.run(&apply_script(&a, bin, &p), &[]).await?;
    let secs = sections(&out.stdout_str());
    let stderr = out.stderr_str();
    if out.rc != 0 {
        return Ok(Outcome::fail(format!("{bin} failed: {}", stderr.trim()))
            .with("rc", out.rc)
            .with("stderr", stderr));
    }
    let empty = String::new();
    let changes = changed_packages(
        secs.get("before").unwrap_or(&empty),
        secs.get("after").unwrap_or(&empty),
    );
    Ok(Outcome::changed(!changes.is_empty())
        .with("results", listed(&changes))
        .with("rc", 0)
        .with("stdout", stderr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};

    fn args(j: serde_json::Value) -> RpmArgs {
        decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    const DNF_CHECK_UPDATE: &str = "\
Last metadata expiration check: 0:12:09 ago on Tue 02 Apr 2024 10:00:00 AM UTC.

bash.x86_64                          5.1.8-9.el9                          baseos
java-17-openjdk-headless-debuginfo-extra.x86_64
                                     1:17.0.10.0.7-2.el9                  appstream
kernel.x86_64                        5.14.0-427.el9                       baseos
Obsoleting Packages
grub2-tools.x86_64                   1:2.06-77.el9                        baseos
";

    #[test]
    fn check_update_lists_names_including_wrapped_ones() {
        assert_eq!(
            parse_check_update(DNF_CHECK_UPDATE),
            [
                "bash.x86_64",
                "java-17-openjdk-headless-debuginfo-extra.x86_64",
                "kernel.x86_64"
            ]
        );
        let yum = "Loaded plugins: fastestmirror\nLoading mirror speeds from cached hostfile\n * base: mirror.example\n\nzlib.i686   1.2.7-21.el7_9   updates\n";
        assert_eq!(parse_check_update(yum), ["zlib.i686"]);
    }

    #[test]
    fn present_installs_what_rpm_does_not_know() {
        let a = args(
            serde_json::json!({"name": ["bash", "jq", "https://x/epel-release-latest-9.noarch.rpm"]}),
        );
        let out = "@@q bash\nbash\tx86_64\t5.1.8-6.el9\n@@q jq\n@@q https://x/epel-release-latest-9.noarch.rpm\nepel-release\tnoarch\t9-7.el9\n";
        let p = plan(&a, out);
        assert_eq!(p.install, ["jq"]);
        assert!(p.update.is_empty() && p.remove.is_empty());
    }

    #[test]
    fn latest_updates_listed_packages() {
        let a = args(serde_json::json!({"name": "bash,kernel,zsh,jq", "state": "latest"}));
        let out = format!(
            "@@q bash\nbash\tx86_64\t5.1.8-6.el9\n@@q kernel\nkernel\tx86_64\t5.14.0-1.el9\n@@q zsh\nzsh\tx86_64\t5.8-9.el9\n@@q jq\n@@updates\n{DNF_CHECK_UPDATE}"
        );
        let p = plan(&a, &out);
        assert_eq!(p.install, ["jq"]);
        assert_eq!(p.update, ["bash", "kernel"]);
    }

    #[test]
    fn absent_removes_installed_only() {
        let a = args(serde_json::json!({"pkg": ["bash", "jq"], "state": "removed"}));
        let p = plan(&a, "@@q bash\nbash\tx86_64\t5.1.8-6.el9\n@@q jq\n");
        assert_eq!(p.remove, ["bash"]);
        assert!(p.install.is_empty());
    }

    #[test]
    fn scripts_carry_repo_and_gpg_options() {
        let a = args(
            serde_json::json!({"name": "jq", "enablerepo": "epel,crb", "disablerepo": ["*"], "disable_gpg_check": true, "update_cache": true, "state": "latest"}),
        );
        let s = query_script(&a, "dnf", false);
        assert!(s.contains("dnf -q -y makecache --enablerepo=epel --enablerepo=crb --disablerepo='*' --nogpgcheck"), "{s}");
        assert!(s.contains("dnf -q check-update"));
        assert!(!query_script(&a, "dnf", true).contains("makecache"));
        let p = RpmPlan {
            install: vec!["jq".into()],
            ..Default::default()
        };
        let s = apply_script(&a, "yum", &p);
        assert!(s.contains("yum -y --enablerepo=epel --enablerepo=crb --disablerepo='*' --nogpgcheck install jq"), "{s}");
    }

    #[test]
    fn changes_are_the_difference_of_rpm_lists() {
        let before = "bash-5.1-1.x86_64\njq-1.6-1.x86_64\n";
        let after = "bash-5.1-2.x86_64\njq-1.6-1.x86_64\noniguruma-6.9-1.x86_64\n";
        assert_eq!(
            changed_packages(before, after),
            [
                "+bash-5.1-2.x86_64",
                "+oniguruma-6.9-1.x86_64",
                "-bash-5.1-1.x86_64"
            ]
        );
        assert!(changed_packages(before, before).is_empty());
    }
}
