//! Python package names and versions as pip compares them (PEP 503 names, PEP 440 versions and
//! specifiers), enough to tell whether an installed version satisfies `>=1.2,<2`, `==1.4.*`
//! or `~=2.1`.

use std::cmp::Ordering;

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

/// A version's sort key: release numbers, then the phase (dev < a < b < rc < final < post).
#[derive(Debug, Clone, PartialEq)]
struct Version {
    release: Vec<u64>,
    phase: (i32, u64),
}

fn parse_version(v: &str) -> Version {
    let v = v.trim().trim_start_matches(['v', 'V']);
    let v = v.split('+').next().unwrap_or(v).to_ascii_lowercase();
    let mut release = Vec::new();
    let mut rest = v.as_str();
    loop {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        release.push(rest[..end].parse().unwrap_or(0));
        rest = &rest[end..];
        match rest.strip_prefix('.') {
            Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
            _ => break,
        }
    }
    let rest = rest.trim_start_matches(['.', '-', '_']);
    let tag_end = rest
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n = rest[tag_end..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    let phase = match rest[..tag_end].trim_end_matches(['.', '-', '_']) {
        "" => (3, 0),
        "dev" => (-1, n),
        "a" | "alpha" => (0, n),
        "b" | "beta" => (1, n),
        "rc" | "c" | "pre" | "preview" => (2, n),
        "post" | "rev" | "r" => (4, n),
        _ => (3, 0),
    };
    Version { release, phase }
}

fn cmp_versions(a: &str, b: &str) -> Ordering {
    let (a, b) = (parse_version(a), parse_version(b));
    let len = a.release.len().max(b.release.len());
    for i in 0..len {
        let (x, y) = (
            a.release.get(i).copied().unwrap_or(0),
            b.release.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.phase.cmp(&b.phase)
}

/// `==1.4.*`: the release starts with the given numbers.
fn prefix_match(installed: &str, prefix: &str) -> bool {
    let want = parse_version(prefix).release;
    let have = parse_version(installed).release;
    have.len() >= want.len() && have[..want.len()] == want[..]
}

/// Whether `installed` satisfies a comma-separated specifier (empty: any version).
pub fn satisfies(installed: &str, spec: &str) -> bool {
    spec.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|clause| {
            let op_end = clause
                .find(|c: char| !matches!(c, '=' | '!' | '<' | '>' | '~'))
                .unwrap_or(clause.len());
            let (op, v) = clause.split_at(op_end);
            let ord = || cmp_versions(installed, v);
            match op {
                "===" => installed == v,
                "==" if v.ends_with(".*") => prefix_match(installed, &v[..v.len() - 2]),
                "==" => ord() == Ordering::Equal,
                "!=" if v.ends_with(".*") => !prefix_match(installed, &v[..v.len() - 2]),
                "!=" => ord() != Ordering::Equal,
                ">=" => ord() != Ordering::Less,
                "<=" => ord() != Ordering::Greater,
                ">" => ord() == Ordering::Greater,
                "<" => ord() == Ordering::Less,
                "~=" => {
                    let rel = parse_version(v).release;
                    let prefix: Vec<String> = rel[..rel.len().saturating_sub(1)]
                        .iter()
                        .map(u64::to_string)
                        .collect();
                    ord() != Ordering::Less && prefix_match(installed, &prefix.join("."))
                }
                _ => false,
            }
        })
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
        assert!(satisfies("1.0.post1", ">1.0"));
        assert!(satisfies("1.0", ""));
        assert!(!satisfies("1.0", "!=1.0"));
    }
}
