//! Host patterns (`hosts:` and `--limit`), evaluated as Ansible's inventory manager does.
//!
//! A pattern is split on `,` (or, when it has no comma and is not an address, on `:`). Each part
//! is a host or group name, a glob (`web*`), a regex (`~web\d+`), optionally subscripted
//! (`web[0]`, `web[1:3]` inclusive, `web[-1]`), prefixed with `&` (intersection) or `!`
//! (exclusion), or `@file` (one pattern per line, as in retry files). Unions are applied first,
//! in the order written, then intersections, then exclusions; with no union part, `all` is
//! implied. The result keeps evaluation order (`b:a` lists b's hosts first), with no duplicates.
//! A name matching a group selects the group's hosts; a glob or regex matches groups and hosts.
//! `localhost`/`127.0.0.1`/`::1` that match nothing give the implicit localhost.

use super::{Inventory, LOCALHOST_NAMES};
use crate::error::{LoadError, LoadResult};
use indexmap::IndexSet;
use regex::Regex;
use std::sync::LazyLock;

#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("static regex")
});
#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static COLON_PARTS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("static regex"));

pub fn select(inv: &Inventory, pattern: &str) -> LoadResult<Vec<String>> {
    let mut parts = Vec::new();
    for p in split(pattern) {
        match p.strip_prefix('@') {
            Some(file) => parts.extend(read_limit_file(file)?),
            None => parts.push(p),
        }
    }
    let (mut unions, mut intersections, mut exclusions) = (vec![], vec![], vec![]);
    for p in parts {
        match p.as_bytes()[0] {
            b'!' => exclusions.push(p),
            b'&' => intersections.push(p),
            _ => unions.push(p),
        }
    }
    if unions.is_empty() {
        unions.push("all".to_string());
    }
    let mut hosts: IndexSet<String> = IndexSet::new();
    for p in &unions {
        if inv.hosts.contains_key(p) {
            hosts.insert(p.clone());
        } else {
            hosts.extend(match_one(inv, p)?);
        }
    }
    for p in &intersections {
        let that: IndexSet<String> = match_one(inv, &p[1..])?.into_iter().collect();
        hosts.retain(|h| that.contains(h));
    }
    for p in &exclusions {
        let that: IndexSet<String> = match_one(inv, &p[1..])?.into_iter().collect();
        hosts.retain(|h| !that.contains(h));
    }
    Ok(hosts.into_iter().collect())
}

/// Ansible's `split_host_pattern`.
fn split(pattern: &str) -> Vec<String> {
    let parts: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else if super::hostname::parse_address(pattern).is_some() {
        vec![pattern]
    } else {
        COLON_PARTS.find_iter(pattern).map(|m| m.as_str()).collect()
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn read_limit_file(file: &str) -> LoadResult<Vec<String>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        LoadError::plain(format!("cannot read the host list file '{file}': {e}"))
            .hint("@FILE names a file with one host or pattern per line (a .retry file)")
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The hosts one part (without `&`/`!`) matches, subscript applied.
fn match_one(inv: &Inventory, part: &str) -> LoadResult<Vec<String>> {
    if part.starts_with('~') {
        return enumerate(inv, part);
    }
    let Some(c) = SUBSCRIPT.captures(part) else {
        return enumerate(inv, part);
    };
    let hosts = enumerate(inv, &c[1])?;
    if hosts.is_empty() {
        return Ok(hosts);
    }
    let out_of_range = || {
        LoadError::plain(format!(
            "no hosts matched the subscripted pattern '{part}' ({} hosts)",
            hosts.len()
        ))
    };
    let len = hosts.len() as i64;
    if let Some(idx) = c.get(2) {
        let i: i64 = idx.as_str().parse().map_err(|_| out_of_range())?;
        let i = if i < 0 { len + i } else { i };
        if !(0..len).contains(&i) {
            return Err(out_of_range());
        }
        return Ok(vec![hosts[i as usize].clone()]);
    }
    let start: i64 = c[3].parse().map_err(|_| out_of_range())?;
    let end: i64 = match &c[5] {
        "" => len - 1,
        e => e.parse().map_err(|_| out_of_range())?,
    };
    // Ansible treats an end of 0 as "no end": `[2:0]` is `[2]`.
    if end == 0 {
        return hosts
            .get(start as usize)
            .map(|h| vec![h.clone()])
            .ok_or_else(out_of_range);
    }
    let from = (start.min(len)) as usize;
    let to = ((end + 1).min(len)).max(from as i64) as usize;
    Ok(hosts[from..to].to_vec())
}

/// Groups whose name matches give their hosts; hosts match by name when no group did or the
/// pattern is a glob or regex.
fn enumerate(inv: &Inventory, part: &str) -> LoadResult<Vec<String>> {
    let matcher = Matcher::new(part)?;
    let mut out: IndexSet<String> = IndexSet::new();
    let mut any_group = false;
    for name in inv.groups.keys() {
        if matcher.matches(name) {
            any_group = true;
            out.extend(inv.group_hosts(name).iter().cloned());
        }
    }
    let special = part.starts_with('~') || part.contains(['.', '?', '*', '[']);
    if !any_group || special {
        out.extend(inv.hosts.keys().filter(|h| matcher.matches(h)).cloned());
    }
    if out.is_empty() && LOCALHOST_NAMES.contains(&part) {
        out.insert(inv.localhost_name(part));
    }
    Ok(out.into_iter().collect())
}

enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    fn new(part: &str) -> LoadResult<Matcher> {
        let regex = match part.strip_prefix('~') {
            Some(re) => format!("^(?:{re})"),
            None if part.contains(['*', '?', '[']) => format!("^(?s:{})$", glob_to_regex(part)),
            None => return Ok(Matcher::Exact(part.to_string())),
        };
        Regex::new(&regex).map(Matcher::Regex).map_err(|e| {
            LoadError::plain(format!("invalid host pattern '{part}': {e}"))
                .hint("~ starts a regular expression; *, ? and [..] are shell globs")
        })
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == name,
            Matcher::Regex(r) => r.is_match(name),
        }
    }
}

/// Python's `fnmatch.translate` (case-sensitive, as on POSIX).
fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                    continue;
                }
                let mut class: String = chars[i..j].iter().collect();
                i = j + 1;
                class = class.replace('\\', "\\\\");
                if let Some(rest) = class.strip_prefix('!') {
                    class = format!("^{rest}");
                } else if class.starts_with('^') {
                    class = format!("\\{class}");
                }
                out.push('[');
                out.push_str(&class.replace('[', "\\["));
                out.push(']');
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_follows_ansible() {
        assert_eq!(split("a:b:&c:!d"), ["a", "b", "&c", "!d"]);
        assert_eq!(split("a, b ,,c"), ["a", "b", "c"]);
        assert_eq!(split("web*:bastion,master1"), ["web*:bastion", "master1"]);
        assert_eq!(split("slave[1:2]"), ["slave[1:2]"]);
        assert_eq!(split("web[0:1]:db"), ["web[0:1]", "db"]);
    }

    #[test]
    fn globs_translate_like_fnmatch() {
        let re = Regex::new(&format!("^(?s:{})$", glob_to_regex("web[!b]?.*.com"))).unwrap();
        assert!(re.is_match("weba1.example.com"));
        assert!(!re.is_match("webb1.example.com"));
        assert!(!re.is_match("weba1.example.org"));
    }
}
