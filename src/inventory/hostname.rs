//! Host names as inventories write them: `name:port`, `[v6::addr]:port`, and ranges
//! (`slave[01:04]`, `web[a:c]`, `node[0:10:2]`, several in one name), expanded as Ansible does.
//! Also the POSIX shell-word splitting INI host lines go through.

use regex::Regex;
use std::sync::LazyLock;

/// Why a host name (or its range) cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostNameError {
    #[error("invalid host pattern '{0}': a trailing ':' is reserved for a port number")]
    TrailingColon(String),
    #[error("invalid host pattern '{0}': '---' is a sign this is a YAML file")]
    DocumentMarker(String),
    #[error("host range in '{0}' has no closing ']'")]
    Unclosed(String),
    #[error("host range [{0}] must be [begin:end] or [begin:end:step]")]
    Shape(String),
    #[error("host range [{0}] must give an end value")]
    NoEnd(String),
    #[error("host range [{spec}] has an invalid step '{step}'")]
    Step { spec: String, step: String },
    #[error("host range [{0}] must give begin and end with the same number of digits")]
    Width(String),
    #[error("host range [{0}] must have begin <= end")]
    Order(String),
    #[error("host range [{0}] must be numbers (01:10) or single letters (a:f)")]
    Kind(String),
    #[error("host range in '{0}' names more than {MAX_RANGE_HOSTS} hosts")]
    TooMany(String),
}

/// The most hosts one name's ranges may expand to: far above any real inventory, far below
/// what would exhaust the controller's memory (`node[0:99999999999]` is a typo, not a fleet).
pub const MAX_RANGE_HOSTS: u64 = 1_000_000;

/// Why a line cannot be split into shell words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShellWordsError {
    #[error("no closing quotation")]
    Unclosed,
    #[error("no escaped character after '\\'")]
    Escape,
}

/// The host names a host pattern stands for, and the port it names (`host:2222`). A string that
/// is not a recognisable address is kept whole, as Ansible keeps it.
pub fn expand(pattern: &str) -> Result<(Vec<String>, Option<u16>), HostNameError> {
    let (host, port) = match parse_address(pattern) {
        Some((host, port)) => (host, port),
        None => (pattern.to_string(), None),
    };
    if pattern.trim_end().ends_with(':') && port.is_none() {
        return Err(HostNameError::TrailingColon(pattern.to_string()));
    }
    let names = if host.contains('[') {
        expand_ranges(&host)?
    } else {
        vec![host]
    };
    if names.iter().any(|n| n.trim() == "---") {
        return Err(HostNameError::DocumentMarker(pattern.to_string()));
    }
    Ok((names, port))
}

#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("static regex"));
#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("static regex"));
const NUMERIC_RANGE: &str = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";
#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let part = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    Regex::new(&format!(r"^(?:{part}\.){{3}}{part}$")).expect("static regex")
});
#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let label = format!(r"(?:\w|{ALNUM_RANGE})(?:[\w-]|{ALNUM_RANGE})*");
    Regex::new(&format!(r"(?i)^{label}(?:\.{label})*$")).expect("static regex")
});
#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:[0-9a-f]{0,4}|\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\])(?::(?:[0-9a-f]{0,4}|\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\])){2,7}(?:%\w+)?$")
        .expect("static regex")
});

/// Ansible's `parse_address(allow_ranges=True)`: (host, port), or `None` when the text is not a
/// host name, IPv4 or IPv6 address (ranges allowed) with an optional port.
pub fn parse_address(address: &str) -> Option<(String, Option<u16>)> {
    let mut host = address.to_string();
    let mut port = None;
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&host) {
            port = Some(c[2].parse::<u16>().ok()?);
            host = c[1].to_string();
        }
    }
    let valid = IPV4.is_match(&host)
        || IPV6.is_match(&host) && host.contains(':')
        || HOSTNAME.is_match(&host) && labels_end_well(&host);
    valid.then_some((host, port))
}

/// A label may not end with `-` or `_` (DNS rules, which Ansible follows loosely).
fn labels_end_well(host: &str) -> bool {
    host.split('.').all(|l| !l.ends_with(['-', '_']))
}

/// Expands every `[begin:end(:step)]` range of a name, at most [`MAX_RANGE_HOSTS`] names.
pub fn expand_ranges(name: &str) -> Result<Vec<String>, HostNameError> {
    let mut out = Vec::new();
    expand_into(name, name, &mut out)?;
    Ok(out)
}

/// Expands the first range of `name`, then the rest recursively, into `out`.
fn expand_into(whole: &str, name: &str, out: &mut Vec<String>) -> Result<(), HostNameError> {
    let too_many = || HostNameError::TooMany(whole.to_string());
    let Some(open) = name.find('[') else {
        if out.len() as u64 >= MAX_RANGE_HOSTS {
            return Err(too_many());
        }
        out.push(name.to_string());
        return Ok(());
    };
    let Some(close) = name[open..].find(']').map(|c| open + c) else {
        return Err(HostNameError::Unclosed(name.to_string()));
    };
    let (head, spec, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bounds: Vec<&str> = spec.split(':').collect();
    if !(2..=3).contains(&bounds.len()) {
        return Err(HostNameError::Shape(spec.to_string()));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(HostNameError::NoEnd(spec.to_string()));
    }
    let step = match bounds.get(2) {
        Some(s) => {
            s.parse::<usize>()
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| HostNameError::Step {
                    spec: spec.to_string(),
                    step: s.to_string(),
                })?
        }
        None => 1,
    };
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(HostNameError::Width(spec.to_string()));
        }
        begin.len()
    } else {
        0
    };
    let items: Vec<String> = match (letter_index(begin), letter_index(end)) {
        (Some(b), Some(e)) => {
            if b > e {
                return Err(HostNameError::Order(spec.to_string()));
            }
            (b..=e)
                .step_by(step)
                .map(|i| LETTERS[i..=i].to_string())
                .collect()
        }
        _ => {
            let (Ok(b), Ok(e)) = (begin.parse::<u64>(), end.parse::<u64>()) else {
                return Err(HostNameError::Kind(spec.to_string()));
            };
            if e.saturating_sub(b) / step as u64 >= MAX_RANGE_HOSTS {
                return Err(too_many());
            }
            (b..=e)
                .step_by(step)
                .map(|i| format!("{i:0width$}"))
                .collect()
        }
    };
    for item in items {
        expand_into(whole, &format!("{head}{item}{tail}"), out)?;
    }
    Ok(())
}

/// Python's `string.ascii_letters`, the order letter ranges follow.
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn letter_index(s: &str) -> Option<usize> {
    (s.len() == 1).then(|| LETTERS.find(s)).flatten()
}

/// A shell word and the 0-based char column where it starts.
pub struct Word {
    pub text: String,
    pub col: usize,
}

/// Splits a line as Python's `shlex.split(line, comments=True)` does: quotes group, a backslash
/// escapes, and `#` outside quotes ends the line.
pub fn shell_words(line: &str) -> Result<Vec<Word>, ShellWordsError> {
    let mut words = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    let mut cur: Option<Word> = None;
    while let Some((col, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                words.extend(cur.take());
            }
            '#' => break,
            '\'' | '"' => {
                let w = cur.get_or_insert(Word {
                    text: String::new(),
                    col,
                });
                loop {
                    let Some((_, q)) = chars.next() else {
                        return Err(ShellWordsError::Unclosed);
                    };
                    if q == c {
                        break;
                    }
                    if c == '"' && q == '\\' {
                        match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => w.text.push(e),
                            Some((_, e)) => {
                                w.text.push('\\');
                                w.text.push(e);
                            }
                            None => return Err(ShellWordsError::Unclosed),
                        }
                    } else {
                        w.text.push(q);
                    }
                }
            }
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Err(ShellWordsError::Escape);
                };
                cur.get_or_insert(Word {
                    text: String::new(),
                    col,
                })
                .text
                .push(e);
            }
            _ => cur
                .get_or_insert(Word {
                    text: String::new(),
                    col,
                })
                .text
                .push(c),
        }
    }
    words.extend(cur);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_zero_padding() {
        assert_eq!(
            expand("slave[01:04]").unwrap().0,
            ["slave01", "slave02", "slave03", "slave04"]
        );
        assert_eq!(expand("n[8:10]").unwrap().0, ["n8", "n9", "n10"]);
    }

    #[test]
    fn a_range_too_large_is_refused_not_allocated() {
        let e = expand_ranges("node[0:99999999999]").unwrap_err();
        assert_eq!(e, HostNameError::TooMany("node[0:99999999999]".into()));
        // Two ranges that each fit but multiply past the limit.
        let e = expand_ranges("n[0:9999]x[0:9999]").unwrap_err();
        assert!(matches!(e, HostNameError::TooMany(_)), "{e}");
        assert_eq!(expand_ranges("n[0:999]").unwrap().len(), 1000);
    }

    #[test]
    fn letter_ranges_steps_and_several_ranges() {
        assert_eq!(
            expand("web[a:c].example.com").unwrap().0,
            ["weba.example.com", "webb.example.com", "webc.example.com"]
        );
        assert_eq!(expand("n[0:10:5]").unwrap().0, ["n0", "n5", "n10"]);
        assert_eq!(
            expand("r[1:2]-n[a:b]").unwrap().0,
            ["r1-na", "r1-nb", "r2-na", "r2-nb"]
        );
    }

    #[test]
    fn ports_and_ipv6() {
        assert_eq!(
            expand("host:2222").unwrap(),
            (vec!["host".into()], Some(2222))
        );
        assert_eq!(
            expand("slave[1:2]:22").unwrap(),
            (vec!["slave1".into(), "slave2".into()], Some(22))
        );
        assert_eq!(expand("[::1]:22").unwrap(), (vec!["::1".into()], Some(22)));
        assert_eq!(
            expand("10.0.0.1:22").unwrap(),
            (vec!["10.0.0.1".into()], Some(22))
        );
        assert_eq!(expand("fe80::1").unwrap(), (vec!["fe80::1".into()], None));
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert!(
            expand("h[1:]")
                .unwrap_err()
                .to_string()
                .contains("end value")
        );
        assert!(
            expand("h[01:100]")
                .unwrap_err()
                .to_string()
                .contains("same number of digits")
        );
        assert!(
            expand("h[1]")
                .unwrap_err()
                .to_string()
                .contains("begin:end")
        );
        assert!(
            expand("h[c:a]")
                .unwrap_err()
                .to_string()
                .contains("begin <= end")
        );
        assert!(expand("h[a:3]").is_err());
        assert!(
            expand("web:")
                .unwrap_err()
                .to_string()
                .contains("trailing ':'")
        );
    }

    #[test]
    fn shell_words_follow_posix_shlex() {
        let words = shell_words(r#"h1 a="x y" b='it''s' c=\$x d="a\nb\"" # note"#).unwrap();
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["h1", "a=x y", "b=its", "c=$x", "d=a\\nb\""]);
        assert_eq!(words[1].col, 3);
        assert_eq!(shell_words("a=5#rest").unwrap()[0].text, "a=5");
        assert!(shell_words("a='open").is_err());
    }
}
