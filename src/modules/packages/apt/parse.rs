//! Reading what dpkg and apt print: `dpkg-query -W` lines, `apt-cache policy` blocks, and the
//! package actions in apt-get's output (dpkg's "Setting up"/"Removing" lines, or the
//! "Inst"/"Remv" lines of a simulation).

use crate::modules::packages::pkgkit::fnmatch;
use indexmap::IndexMap;

/// A requested package: `name`, `name=1.2*` or `name:arch=1.2-1`.
#[derive(Clone, Debug, PartialEq)]
pub struct PkgSpec {
    pub name: String,
    /// A version or fnmatch pattern (`1.2*`).
    pub version: Option<String>,
}

impl PkgSpec {
    pub fn parse(s: &str) -> PkgSpec {
        match s.split_once('=') {
            Some((n, v)) if !v.trim().is_empty() => PkgSpec {
                name: n.trim().to_string(),
                version: Some(v.trim().to_string()),
            },
            _ => PkgSpec {
                name: s.trim().trim_end_matches('=').to_string(),
                version: None,
            },
        }
    }

    /// Whether the installed version `v` satisfies this spec.
    pub fn accepts(&self, v: &str) -> bool {
        self.version.as_deref().is_none_or(|p| fnmatch(p, v))
    }
}

/// One `dpkg-query -W -f='${Package}\t${Architecture}\t${db:Status-Status}\t${Version}\n'` line.
#[derive(Clone, Debug, PartialEq)]
pub struct DpkgEntry {
    pub name: String,
    pub arch: String,
    /// `installed`, `config-files`, `not-installed`, `half-installed`, `unpacked`, ...
    pub status: String,
    pub version: String,
}

pub fn parse_dpkg(text: &str) -> Vec<DpkgEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(DpkgEntry {
                name: f.next()?.to_string(),
                arch: f.next()?.to_string(),
                status: f.next()?.to_string(),
                version: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The dpkg entry a requested name (`jq` or `jq:amd64`) refers to; an installed instance
/// wins over a removed one when several architectures are known.
pub fn find_dpkg<'a>(entries: &'a [DpkgEntry], name: &str) -> Option<&'a DpkgEntry> {
    let (bare, arch) = match name.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (name, None),
    };
    let mut matching = entries
        .iter()
        .filter(|e| e.name == bare && arch.is_none_or(|a| a == e.arch));
    let first = matching.clone().next();
    matching.find(|e| e.status == "installed").or(first)
}

/// What `apt-cache policy` says of one package.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Every version in the version table, highest priority first as apt lists them.
    pub versions: Vec<String>,
}

impl Policy {
    /// The version to install for a pattern: the candidate when it matches, else the first
    /// matching version in apt's table.
    pub fn resolve(&self, pattern: &str) -> Option<&str> {
        if let Some(c) = self.candidate.as_deref().filter(|c| fnmatch(pattern, c)) {
            return Some(c);
        }
        self.versions
            .iter()
            .map(String::as_str)
            .find(|v| fnmatch(pattern, v))
    }
}

fn none_to_opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != "(none)").then(|| s.to_string())
}

/// Parses `apt-cache policy NAME...` output into name -> policy.
pub fn parse_policy(text: &str) -> IndexMap<String, Policy> {
    let mut out: IndexMap<String, Policy> = IndexMap::new();
    let mut cur: Option<String> = None;
    let mut in_table = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(name) = line.strip_suffix(':')
                && !name.is_empty()
                && !name.contains(' ')
            {
                out.insert(name.to_string(), Policy::default());
                cur = Some(name.to_string());
                in_table = false;
            } else {
                cur = None;
            }
            continue;
        }
        let Some(p) = cur.as_ref().and_then(|c| out.get_mut(c)) else {
            continue;
        };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Installed:") {
            p.installed = none_to_opt(v);
        } else if let Some(v) = t.strip_prefix("Candidate:") {
            p.candidate = none_to_opt(v);
        } else if t == "Version table:" {
            in_table = true;
        } else if in_table {
            // Version lines are "[***] VERSION PRIORITY"; source lines "PRIORITY URI ...".
            let toks: Vec<&str> = t.trim_start_matches("***").split_whitespace().collect();
            if toks.len() == 2 && toks[1].parse::<i64>().is_ok() && toks[0].parse::<i64>().is_err()
            {
                p.versions.push(toks[0].to_string());
            }
        }
    }
    out
}

/// What apt-get did (or would do) to one package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Install,
    Remove,
    Purge,
}

/// The packages apt-get's output shows being installed, upgraded, removed or purged, in order,
/// each once, without an architecture suffix. Reads both real runs (dpkg's "Setting up NAME
/// (VER) ...") and simulations (`-s`: "Inst NAME ...").
pub fn parse_actions(stdout: &str) -> Vec<(Action, String)> {
    let mut out: Vec<(Action, String)> = Vec::new();
    for line in stdout.lines() {
        let (action, rest) = if let Some(r) = line.strip_prefix("Setting up ") {
            (Action::Install, r)
        } else if let Some(r) = line.strip_prefix("Inst ") {
            (Action::Install, r)
        } else if let Some(r) = line.strip_prefix("Removing ") {
            (Action::Remove, r)
        } else if let Some(r) = line.strip_prefix("Remv ") {
            (Action::Remove, r)
        } else if let Some(r) = line.strip_prefix("Purging configuration files for ") {
            (Action::Purge, r)
        } else if let Some(r) = line.strip_prefix("Purg ") {
            (Action::Purge, r)
        } else {
            continue;
        };
        let Some(word) = rest.split_whitespace().next() else {
            continue;
        };
        let name = word.split(':').next().unwrap_or(word).to_string();
        if !out.iter().any(|(a, n)| *a == action && *n == name) {
            out.push((action, name));
        }
    }
    out
}
