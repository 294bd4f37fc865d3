//! `apt`: Debian packages through apt-get. One query script updates the cache when it is stale
//! (`cache_valid_time`), reads each package's dpkg status and apt's candidate versions, and
//! simulates whole-system operations (build-dep, fixed, upgrade, autoremove, autoclean); a
//! second script runs apt-get only for what differs. `--check` runs that second script as an
//! apt-get simulation, so the packages it reports are the ones a real run would touch.
//! apt-get runs non-interactively, keeps changed config files (`--force-confdef
//! --force-confold`), and waits for the dpkg lock up to `lock_timeout` seconds.

pub mod parse;
#[cfg(test)]
mod tests;

use super::pkgkit::{apt_get_fn, download_script, sections};
use crate::modules::doc::{aka, arg, dflt, one_of};
use crate::modules::remote::{parse_kv, q};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use parse::{Action, PkgSpec, find_dpkg, parse_actions, parse_dpkg, parse_policy};
use serde::Deserialize;

pub struct Apt;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum AptState {
    #[default]
    #[serde(alias = "installed")]
    Present,
    Latest,
    #[serde(alias = "removed")]
    Absent,
    BuildDep,
    Fixed,
}

fn sixty() -> u64 {
    60
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AptArgs {
    #[serde(default, alias = "pkg", alias = "package")]
    pub name: Vec<String>,
    #[serde(default)]
    pub state: AptState,
    #[serde(default, alias = "update-cache")]
    pub update_cache: Option<bool>,
    pub cache_valid_time: Option<u64>,
    #[serde(alias = "install-recommends")]
    pub install_recommends: Option<bool>,
    pub deb: Option<String>,
    #[serde(default)]
    pub purge: bool,
    #[serde(default)]
    pub autoremove: bool,
    #[serde(default)]
    pub autoclean: bool,
    #[serde(default)]
    pub force: bool,
    pub dpkg_options: Option<String>,
    #[serde(alias = "default-release")]
    pub default_release: Option<String>,
    pub upgrade: Option<String>,
    #[serde(default)]
    pub only_upgrade: bool,
    #[serde(default, alias = "allow-unauthenticated")]
    pub allow_unauthenticated: bool,
    #[serde(
        default,
        alias = "allow-downgrade",
        alias = "allow_downgrades",
        alias = "allow-downgrades"
    )]
    pub allow_downgrade: bool,
    #[serde(default)]
    pub allow_change_held_packages: bool,
    #[serde(default = "sixty")]
    pub lock_timeout: u64,
}

const ARGS: &[ArgDoc] = &[
    aka(
        arg(
            "name",
            "Package names (a list or comma-separated); `name=1.2*` pins a version (a glob over apt's versions), `name:arch` an architecture.",
        ),
        &["pkg", "package"],
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present installs missing packages; latest also upgrades them to the candidate; absent removes them; build-dep installs their build dependencies; fixed repairs broken dependencies (apt-get -f install).",
        ),
        &[
            "present",
            "installed",
            "latest",
            "absent",
            "removed",
            "build-dep",
            "fixed",
        ],
    ),
    aka(
        dflt(
            "update_cache",
            "no",
            "Run apt-get update first (only when older than cache_valid_time, if given).",
        ),
        &["update-cache"],
    ),
    dflt(
        "cache_valid_time",
        "0",
        "Seconds the cache stays fresh, judged by the mtime of /var/lib/apt/periodic/update-success-stamp (else /var/lib/apt/lists); setting it implies update_cache.",
    ),
    aka(
        arg(
            "install_recommends",
            "yes installs recommended packages, no passes --no-install-recommends; unset keeps apt's configuration.",
        ),
        &["install-recommends"],
    ),
    arg(
        "deb",
        "A .deb file on the host, or an http(s) URL the host downloads with curl or wget; installed with its dependencies unless that version is installed already.",
    ),
    dflt(
        "purge",
        "no",
        "With state=absent, remove configuration files too (also purges packages left in config-files state).",
    ),
    dflt(
        "autoremove",
        "no",
        "Remove packages installed as dependencies that nothing needs any more.",
    ),
    dflt(
        "autoclean",
        "no",
        "Delete downloaded package files that can no longer be downloaded.",
    ),
    dflt(
        "force",
        "no",
        "Allow unauthenticated packages, downgrades, removing essential and changing held packages.",
    ),
    dflt(
        "dpkg_options",
        "force-confdef,force-confold",
        "Comma-separated dpkg options, each passed as -o Dpkg::Options::=--OPTION.",
    ),
    aka(
        arg(
            "default_release",
            "Target release (apt-get -t), also used to pick the candidate for state=latest.",
        ),
        &["default-release"],
    ),
    one_of(
        dflt(
            "upgrade",
            "no",
            "Upgrade the system: yes/safe runs apt-get upgrade --with-new-pkgs, full/dist runs apt-get dist-upgrade.",
        ),
        &["no", "yes", "safe", "full", "dist"],
    ),
    dflt(
        "only_upgrade",
        "no",
        "Only upgrade installed packages; never install new ones.",
    ),
    aka(
        dflt(
            "allow_unauthenticated",
            "no",
            "Install packages that cannot be authenticated.",
        ),
        &["allow-unauthenticated"],
    ),
    aka(
        dflt(
            "allow_downgrade",
            "no",
            "Allow a version pin to install an older version than the installed one.",
        ),
        &["allow-downgrade", "allow_downgrades", "allow-downgrades"],
    ),
    dflt(
        "allow_change_held_packages",
        "no",
        "Allow changing packages on hold.",
    ),
    dflt(
        "lock_timeout",
        "60",
        "Seconds to wait for another apt/dpkg process to release its lock before failing.",
    ),
];

impl Module for Apt {
    const NAME: &'static str = "apt";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("cache_updated", "whether the cache was updated"),
            ("cache_update_time", "when the cache was updated"),
            ("packages", "packages changed"),
            ("stdout", "apt-get's output"),
            ("stderr", "apt-get's errors"),
        ],
        summary: "Install, upgrade and remove Debian packages with apt-get (non-interactive, waits for the dpkg lock).",
        args: ARGS,
        example: "- apt:\n    name: [openjdk-17-jre-headless, jq=1.6*]\n    state: present\n    update_cache: yes\n    cache_valid_time: 3600\n    install_recommends: no\n",
    };
    type Args = AptArgs;
    async fn run(&self, a: AptArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let fail = ModuleError::Failed;
        let specs: Vec<PkgSpec> = a
            .name
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| PkgSpec::parse(n))
            .collect();
        let wants_update = a.update_cache.unwrap_or(false)
            || (a.update_cache.is_none() && a.cache_valid_time.is_some());
        if specs.is_empty()
            && a.deb.is_none()
            && !wants_update
            && upgrade_command(a.upgrade.as_deref())?.is_none()
            && !a.autoremove
            && !a.autoclean
            && a.state != AptState::Fixed
        {
            return Err(fail(
                "one of name, deb, upgrade, update_cache, autoremove or autoclean is required"
                    .into(),
            ));
        }
        if a.deb.is_some() && a.state != AptState::Present {
            return Err(fail("deb can only be used with state=present".into()));
        }
        let query = query_script(&a, &specs, cx.check_mode)?;
        let out = cx.run(&query, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(query_failure(out.rc, &out.stderr_str())).with("rc", out.rc));
        }
        let secs = sections(&out.stdout_str());
        let cache = secs.get("cache").map(|c| parse_kv(c)).unwrap_or_default();
        let cache_updated = cache.contains_key("updated");
        let would_update = cache.contains_key("would_update");
        let cache_time: i64 = cache.get("mtime").and_then(|m| m.parse().ok()).unwrap_or(0);
        let plan = plan(&a, &specs, &secs)?;
        let only_cache = specs.is_empty() && a.deb.is_none() && plan.is_empty();
        let base = |changed: bool| {
            Outcome::changed(changed)
                .with("cache_updated", cache_updated)
                .with("cache_update_time", cache_time)
        };
        if plan.is_empty() {
            let changed = only_cache && (cache_updated || would_update);
            return Ok(base(changed)
                .with("packages", Value::from(Vec::<Value>::new()))
                .with("stdout", "")
                .with("stderr", ""));
        }
        let apply = apply_script(&a, &specs, &plan, cx.check_mode)?;
        let out = cx.run(&apply, &[]).await?;
        let stdout = out.stdout_str();
        let stderr = out.stderr_str();
        if out.rc != 0 {
            let mut o = Outcome::fail(apt_error(&stderr))
                .with("rc", out.rc)
                .with("stdout", stdout)
                .with("stderr", stderr);
            o.result
                .insert("cache_updated".into(), Value::from(cache_updated));
            return Ok(o);
        }
        let actions = parse_actions(&stdout);
        let cleaned = a.autoclean && stdout.lines().any(|l| l.starts_with("Del "));
        let packages: Vec<Value> = actions
            .iter()
            .map(|(_, n)| n.clone())
            .fold(Vec::<String>::new(), |mut acc, n| {
                if !acc.contains(&n) {
                    acc.push(n);
                }
                acc
            })
            .into_iter()
            .map(Value::from)
            .collect();
        let changed = !actions.is_empty() || cleaned;
        let summary = |kind: Action| {
            actions
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        for (kind, verb) in [
            (Action::Install, "installed"),
            (Action::Remove, "removed"),
            (Action::Purge, "purged"),
        ] {
            let names = summary(kind);
            if !names.is_empty() {
                parts.push(format!("{verb}: {names}"));
            }
        }
        let mut o = base(changed)
            .with("packages", Value::from(packages))
            .with("stdout", stdout)
            .with("stderr", stderr);
        if !parts.is_empty() {
            let prefix = if cx.check_mode { "would have " } else { "" };
            o.msg = Some(format!("{prefix}{}", parts.join("; ")));
        }
        Ok(o)
    }
}

/// apt-get's system-wide upgrade command for an `upgrade` value.
fn upgrade_command(v: Option<&str>) -> Result<Option<&'static str>, ModuleError> {
    match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("no" | "false" | "") => Ok(None),
        Some("yes" | "true" | "safe") => Ok(Some("upgrade --with-new-pkgs")),
        Some("full" | "dist") => Ok(Some("dist-upgrade")),
        Some(other) => Err(ModuleError::Failed(format!(
            "invalid value {other:?} for upgrade: must be no, yes, safe, full or dist"
        ))),
    }
}

/// Options every installing apt-get call gets.
fn install_opts(a: &AptArgs) -> String {
    let mut o = String::from("-q -y");
    let dpkg = a
        .dpkg_options
        .as_deref()
        .unwrap_or("force-confdef,force-confold");
    for opt in dpkg.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        o.push_str(&format!(" -o Dpkg::Options::=--{}", q(opt)));
    }
    match a.install_recommends {
        Some(true) => o.push_str(" -o APT::Install-Recommends=yes"),
        Some(false) => o.push_str(" --no-install-recommends"),
        None => {}
    }
    if let Some(r) = &a.default_release {
        o.push_str(&format!(" -t {}", q(r)));
    }
    if a.force || a.allow_unauthenticated {
        o.push_str(" --allow-unauthenticated");
    }
    if a.force || a.allow_downgrade {
        o.push_str(" --allow-downgrades");
    }
    if a.force || a.allow_change_held_packages {
        o.push_str(" --allow-change-held-packages");
    }
    if a.force {
        o.push_str(" --allow-remove-essential");
    }
    o
}

fn words(items: &[String]) -> String {
    items.iter().map(|s| q(s)).collect::<Vec<_>>().join(" ")
}

/// The packages a deb URL is downloaded to, keyed by the URL so reruns reuse the name.
fn deb_download_path(url: &str) -> String {
    format!(
        "/tmp/rmesos-deb-{}.deb",
        &crate::modules::files::filekit::sha1_hex(url.as_bytes())[..16]
    )
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("ftp://")
}

/// The query script: cache freshness (and update), dpkg status, candidates, simulations.
pub fn query_script(a: &AptArgs, specs: &[PkgSpec], check: bool) -> Result<String, ModuleError> {
    let mut s = String::from(
        "command -v apt-get >/dev/null 2>&1 || { echo 'apt-get is not installed: the apt module needs a Debian-family host' >&2; exit 90; }\n",
    );
    s.push_str(&apt_get_fn(a.lock_timeout));
    let wants_update = a.update_cache.unwrap_or(false)
        || (a.update_cache.is_none() && a.cache_valid_time.is_some());
    s.push_str(
        "echo @@cache\nrm_stamp=/var/lib/apt/periodic/update-success-stamp\n\
         if [ -e $rm_stamp ]; then rm_m=$(stat -c %Y $rm_stamp); else rm_m=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0); fi\n\
         rm_now=$(date +%s)\n\
         # Lists with no package index were never fetched, whatever their mtime says.\n\
         ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || rm_m=0\n",
    );
    if wants_update {
        let valid = a.cache_valid_time.unwrap_or(0);
        s.push_str(&format!(
            "if [ {valid} -eq 0 ] || [ $((rm_now - rm_m)) -ge {valid} ]; then\n"
        ));
        if check {
            s.push_str("  echo would_update=1\n");
        } else {
            // The stamp is what apt's own periodic job touches after a successful update;
            // touching it here makes cache_valid_time hold on hosts without that job.
            s.push_str(
                "  rm_apt -q update >/dev/null || exit 93\n  mkdir -p /var/lib/apt/periodic && touch $rm_stamp\n  rm_m=$(date +%s); echo updated=1\n",
            );
        }
        s.push_str("fi\n");
    }
    s.push_str("echo mtime=$rm_m\n");
    if !specs.is_empty() {
        let names: Vec<String> = specs.iter().map(|p| p.name.clone()).collect();
        s.push_str(&format!(
            "echo @@dpkg\ndpkg-query -W -f='${{Package}}\\t${{Architecture}}\\t${{db:Status-Status}}\\t${{Version}}\\n' -- {} 2>/dev/null\n",
            words(&names)
        ));
        let rel = a
            .default_release
            .as_ref()
            .map(|r| format!("-t {} ", q(r)))
            .unwrap_or_default();
        s.push_str(&format!(
            "echo @@policy\napt-cache {rel}policy {} 2>/dev/null\n",
            words(&names)
        ));
    }
    if let Some(deb) = &a.deb {
        let path = if is_url(deb) {
            let p = deb_download_path(deb);
            s.push_str(&download_script(deb, &p));
            p
        } else {
            deb.clone()
        };
        s.push_str(&format!(
            "echo @@deb\nrm_deb={}\n[ -f \"$rm_deb\" ] || {{ echo \"deb file $rm_deb does not exist\" >&2; exit 94; }}\n\
             rm_p=$(dpkg-deb -f \"$rm_deb\" Package) || exit 95\n\
             printf 'package=%s\\nversion=%s\\n' \"$rm_p\" \"$(dpkg-deb -f \"$rm_deb\" Version)\"\n\
             printf 'installed=%s\\n' \"$(dpkg-query -W -f='${{db:Status-Status}} ${{Version}}' -- \"$rm_p\" 2>/dev/null)\"\n",
            q(&path)
        ));
    }
    let sims = simulations(a, specs)?;
    if !sims.is_empty() {
        s.push_str("echo @@sim\n");
        for cmd in sims {
            s.push_str(&format!("rm_apt -s {cmd} || exit 96\n"));
        }
    }
    Ok(s)
}

/// Whole-system operations whose need is judged by simulating them.
fn simulations(a: &AptArgs, specs: &[PkgSpec]) -> Result<Vec<String>, ModuleError> {
    let mut v = Vec::new();
    let opts = install_opts(a);
    let names: Vec<String> = specs.iter().map(|p| p.name.clone()).collect();
    match a.state {
        AptState::BuildDep => v.push(format!("{opts} build-dep {}", words(&names))),
        AptState::Fixed => v.push(format!("{opts} -f install")),
        _ => {}
    }
    if let Some(cmd) = upgrade_command(a.upgrade.as_deref())? {
        v.push(format!("{opts} {cmd}"));
    }
    if a.autoremove && a.state != AptState::Absent {
        v.push(format!(
            "-q -y autoremove{}",
            if a.purge { " --purge" } else { "" }
        ));
    }
    if a.autoclean {
        v.push("-q -y autoclean".into());
    }
    Ok(v)
}

/// Whether a simulation's output shows anything to do.
fn sim_has_work(text: &str) -> bool {
    text.lines().any(|l| {
        ["Inst ", "Remv ", "Purg ", "Del "]
            .iter()
            .any(|p| l.starts_with(p))
    })
}

/// What the query found to be out of line.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// `name` or `name=version` arguments for apt-get install.
    pub install: Vec<String>,
    pub remove: Vec<String>,
    pub deb: Option<String>,
    /// The simulated system operations have work to do.
    pub system_ops: bool,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty() && self.deb.is_none() && !self.system_ops
    }
}

/// Decides, from the query's sections, what apt-get must do.
pub fn plan(
    a: &AptArgs,
    specs: &[PkgSpec],
    secs: &indexmap::IndexMap<String, String>,
) -> Result<Plan, ModuleError> {
    let empty = String::new();
    let dpkg = parse_dpkg(secs.get("dpkg").unwrap_or(&empty));
    let policy = parse_policy(secs.get("policy").unwrap_or(&empty));
    let mut p = Plan::default();
    for spec in specs {
        let entry = find_dpkg(&dpkg, &spec.name);
        let installed = entry
            .filter(|e| e.status == "installed")
            .map(|e| e.version.as_str());
        let pol = policy.get(&spec.name);
        match a.state {
            AptState::Present | AptState::Latest => {
                let want = match &spec.version {
                    Some(pattern) => {
                        if installed.is_some_and(|v| spec.accepts(v)) {
                            continue;
                        }
                        let v = pol.and_then(|p| p.resolve(pattern)).ok_or_else(|| {
                            ModuleError::Failed({
                                format!(
                                    "No package matching '{}={}' is available",
                                    spec.name, pattern
                                )
                            })
                        })?;
                        format!("{}={}", spec.name, v)
                    }
                    None => {
                        let candidate = pol.and_then(|p| p.candidate.as_deref());
                        match installed {
                            Some(_) if a.state == AptState::Present => continue,
                            Some(v) if candidate.is_none_or(|c| c == v) => continue,
                            _ => {}
                        }
                        if installed.is_none() && a.only_upgrade {
                            continue;
                        }
                        // No candidate may still be a virtual package apt resolves: let
                        // apt-get decide (and fail with its own message).
                        spec.name.clone()
                    }
                };
                p.install.push(want);
            }
            AptState::Absent => {
                if let Some(e) = entry {
                    let gone =
                        e.status == "not-installed" || (e.status == "config-files" && !a.purge);
                    if !gone && spec.accepts(&e.version) {
                        p.remove.push(spec.name.clone());
                    }
                }
            }
            AptState::BuildDep | AptState::Fixed => {}
        }
    }
    if let Some(deb) = secs.get("deb") {
        let kv = parse_kv(deb);
        let version = kv.get("version").map(String::as_str).unwrap_or("");
        let installed = kv.get("installed").map(String::as_str).unwrap_or("");
        if a.force || installed != format!("installed {version}") {
            let path = a.deb.as_deref().unwrap_or_default();
            p.deb = Some(if is_url(path) {
                deb_download_path(path)
            } else {
                path.to_string()
            });
        }
    }
    p.system_ops = secs.get("sim").is_some_and(|s| sim_has_work(s));
    Ok(p)
}

/// The script that makes the changes (or, in check mode, simulates them).
pub fn apply_script(
    a: &AptArgs,
    specs: &[PkgSpec],
    p: &Plan,
    check: bool,
) -> Result<String, ModuleError> {
    let sim = if check { " -s" } else { "" };
    let opts = install_opts(a);
    let mut s = apt_get_fn(a.lock_timeout);
    if !p.install.is_empty() {
        let only = if a.only_upgrade {
            " --only-upgrade"
        } else {
            ""
        };
        s.push_str(&format!(
            "rm_apt{sim} {opts}{only} install {} || exit $?\n",
            words(&p.install)
        ));
    }
    if let Some(deb) = &p.deb {
        // apt-get takes a local .deb only as a path (with a slash), and resolves its dependencies.
        let path = if deb.contains('/') {
            deb.clone()
        } else {
            format!("./{deb}")
        };
        s.push_str(&format!(
            "rm_apt{sim} {opts} install {} || exit $?\n",
            q(&path)
        ));
    }
    if !p.remove.is_empty() {
        let purge = if a.purge { " --purge" } else { "" };
        let auto = if a.autoremove { " --auto-remove" } else { "" };
        s.push_str(&format!(
            "rm_apt{sim} {opts}{purge}{auto} remove {} || exit $?\n",
            words(&p.remove)
        ));
    }
    if p.system_ops || !p.install.is_empty() || !p.remove.is_empty() || p.deb.is_some() {
        for cmd in simulations(a, specs)? {
            s.push_str(&format!("rm_apt{sim} {cmd} || exit $?\n"));
        }
    }
    if let Some(deb) = a.deb.as_deref().filter(|d| is_url(d)) {
        s.push_str(&format!("rm -f {}\n", q(&deb_download_path(deb))));
    }
    Ok(s)
}

/// The last `E:` line apt printed, or all of stderr.
fn apt_error(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("E: "))
        .map(|l| l.trim_start_matches("E: ").to_string())
        .unwrap_or_else(|| stderr.trim().to_string())
}

fn query_failure(rc: i32, stderr: &str) -> String {
    let what = match rc {
        90 => return stderr.trim().to_string(),
        91 | 92 => "cannot download the deb",
        93 => "apt-get update failed",
        94 | 95 => "cannot read the deb",
        96 => "apt-get simulation failed",
        _ => "cannot query packages",
    };
    let err = apt_error(stderr);
    if err.is_empty() {
        format!("{what} (rc={rc})")
    } else {
        format!("{what}: {err}")
    }
}
