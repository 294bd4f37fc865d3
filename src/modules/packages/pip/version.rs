//! Python package names and versions as pip compares them: PEP 503 names and requirement
//! splitting here, PEP 440 versions and specifiers (`>=1.2,<2`, `==1.4.*`, `~=2.1`) by the
//! `pep440_rs` crate (with its two small dependencies, unscanny and unicode-width, about 14 s
//! of a cold build on 2 cores).

use pep440_rs::{Version, VersionSpecifiers};
use std::str::FromStr;

/// PEP 503: lowercase, runs of `-`, `_` and `.` become one `-`.
pub fn normalize_name(n: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in n.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// A requirement `name[extras] SPEC` split into its normalized name and specifier text.
/// `None` for URLs, paths and VCS references, whose state pip alone can judge.
pub fn split_requirement(req: &str) -> Option<(String, String)> {
    let r = req.trim();
    if r.contains("://") || r.starts_with('.') || r.starts_with('/') || r.contains('@') {
        return None;
    }
    let end = r
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(r.len());
    let name = &r[..end];
    if name.is_empty() {
        return None;
    }
    let mut rest = r[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest
            .split_once(']')
            .map(|(_, s)| s)
            .unwrap_or("")
            .trim_start();
    }
    let rest = rest.split(';').next().unwrap_or("").trim();
    Some((normalize_name(name), rest.replace(' ', "")))
}

/// Whether `installed` satisfies a comma-separated PEP 440 specifier (empty: any version), as
/// pip and Ansible's pip module judge it (`packaging`'s `SpecifierSet.contains` with
/// pre-releases allowed): `pep440_rs` does the parsing and comparing. A version or specifier
/// that is not PEP 440 satisfies nothing, so pip is asked (and says what is wrong).
pub fn satisfies(installed: &str, spec: &str) -> bool {
    let Ok(version) = Version::from_str(installed.trim()) else {
        return false;
    };
    VersionSpecifiers::from_str(spec).is_ok_and(|specs| specs.contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize() {
        assert_eq!(normalize_name("Foo_Bar.baz"), "foo-bar-baz");
        assert_eq!(
            split_requirement("Requests[security] >= 2.0, <3 ; python_version>'3'"),
            Some(("requests".into(), ">=2.0,<3".into()))
        );
        assert_eq!(split_requirement("six"), Some(("six".into(), "".into())));
        assert_eq!(split_requirement("git+https://x/y.git"), None);
        assert_eq!(split_requirement("./local"), None);
    }

    #[test]
    fn specifiers() {
        assert!(satisfies("1.2.3", ">=1.2,<2"));
        assert!(!satisfies("2.0", ">=1.2,<2"));
        assert!(satisfies("1.4.7", "==1.4.*"));
        assert!(!satisfies("1.5", "==1.4.*"));
        assert!(satisfies("2.2", "~=2.1"));
        assert!(!satisfies("3.0", "~=2.1"));
        assert!(satisfies("1.0", "==1.0.0"));
        assert!(!satisfies("1.0rc1", ">=1.0"));
        // PEP 440: `>V` excludes V's post-releases (the hand-written comparison said true).
        assert!(!satisfies("1.0.post1", ">1.0"));
        assert!(satisfies("1.0.post1", ">=1.0"));
        assert!(satisfies("1.1.post1", ">1.0"));
        assert!(satisfies("1.0", ""));
        assert!(!satisfies("1.0", "!=1.0"));
        assert!(satisfies("1.0+local", "==1.0"));
        assert!(satisfies("1.0", "===1.0"));
        assert!(!satisfies("1.0", "=>1"), "not an operator");
        assert!(!satisfies("2.0-custom", ">=1"), "not a PEP 440 version");
    }
}
