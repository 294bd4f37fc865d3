//! INI inventories, read as Ansible 2.19's `ini` plugin reads them.
//!
//! - `[group]` lists hosts, `[group:children]` child groups, `[group:vars]` `key=value` lines.
//!   Hosts before the first header belong to `ungrouped`. Lines starting with `#` or `;` are
//!   comments; on host lines `#` also starts a comment mid-line (shell-word rules).
//! - Host lines are shell words: the host (or a range like `slave[01:04]`, with an optional
//!   `:port`) then `key=value` pairs.
//! - Values, on host lines and in `:vars` sections alike, go through Python's `literal_eval`:
//!   `42` is an int, `True` a bool, `[1, 2]` a list, `"a b"` a string; anything else (`yes`,
//!   `0644`, `1.10.2`) stays text. In `:vars` the value is the rest of the line, stripped.
//! - As in Ansible 2.19, a `[g:vars]` section for a group declared nowhere (no `[g]` or
//!   `[g:children]` in the file) and a `:children` entry naming an undeclared group are errors.

use super::data::Data;
use super::hostname::{expand, shell_words};
use super::pyliteral::literal_eval;
use crate::error::{LoadError, LoadResult, Span};
use indexmap::IndexMap;
use minijinja::Value;
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;

#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static SECTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static regex"));
#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static regex"));

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Children,
    Vars,
}

/// A group used before it is declared; it must be declared later in the same file.
struct Pending {
    span: Span,
    state: State,
    parents: Vec<String>,
}

/// An INI value: a Python literal if it is one, else the text itself.
pub fn parse_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::from(text))
}

pub fn parse(text: &str, path: &Path, data: &mut Data) -> LoadResult<()> {
    let file = path.display().to_string();
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        let at = |col: usize| Span::new(file.as_str(), idx as u32 + 1, (indent + col) as u32 + 1);
        if let Some(c) = SECTION.captures(line) {
            group = c[1].to_string();
            state = match c.get(2).map(|m| m.as_str()) {
                None | Some("hosts") => State::Hosts,
                Some("children") => State::Children,
                Some("vars") => State::Vars,
                Some(other) => {
                    return Err(LoadError::new(
                        &at(0),
                        format!("section [{group}:{other}] has unknown type '{other}'"),
                    )
                    .hint(format!(
                        "write [{group}] for hosts, [{group}:children] or [{group}:vars]"
                    )));
                }
            };
            if !data.groups.contains_key(&group) {
                if state == State::Vars && !pending.contains_key(&group) {
                    pending.insert(
                        group.clone(),
                        Pending {
                            span: at(0),
                            state,
                            parents: vec![],
                        },
                    );
                }
                data.add_group(&group);
            }
            if state != State::Vars
                && let Some(p) = pending.shift_remove(&group)
            {
                for parent in &p.parents {
                    data.add_child(parent, &group)
                        .map_err(|e| LoadError::new(&p.span, e.to_string()))?;
                }
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(LoadError::new(&at(0), format!("invalid section header '{line}'"))
                .hint("write [name], [name:children] or [name:vars], with no spaces inside the brackets"));
        }
        match state {
            State::Hosts => host_line(line, &at, &group, data)?,
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(LoadError::new(
                        &at(0),
                        format!("expected key=value, got '{line}'"),
                    )
                    .hint(format!("lines in [{group}:vars] set variables: name=value")));
                };
                data.set_group_var(&group, k.trim(), parse_value(v.trim()))
                    .map_err(|e| LoadError::new(&at(0), e.to_string()))?;
            }
            State::Children => {
                let Some(c) = GROUP_NAME.captures(line) else {
                    return Err(LoadError::new(
                        &at(0),
                        format!("expected a group name, got '{line}'"),
                    )
                    .hint(format!(
                        "lines in [{group}:children] name one child group each"
                    )));
                };
                let child = c[1].to_string();
                if data.groups.contains_key(&child) {
                    data.add_child(&group, &child)
                        .map_err(|e| LoadError::new(&at(0), e.to_string()))?;
                } else {
                    pending
                        .entry(child)
                        .or_insert_with(|| Pending {
                            span: at(0),
                            state: State::Children,
                            parents: vec![],
                        })
                        .parents
                        .push(group.clone());
                }
            }
        }
    }
    if let Some((name, p)) = pending.into_iter().next() {
        return Err(match p.state {
            State::Vars => LoadError::new(
                &p.span,
                format!("section [{name}:vars] is for a group declared nowhere in this file"),
            )
            .hint(format!(
                "declare it with a [{name}] or [{name}:children] section"
            )),
            _ => LoadError::new(
                &p.span,
                format!(
                    "section [{}:children] names group '{name}', which is declared nowhere",
                    p.parents.last().map(String::as_str).unwrap_or("?")
                ),
            )
            .hint(format!(
                "declare it with a [{name}] section (an empty one will do)"
            )),
        });
    }
    Ok(())
}

fn host_line(
    line: &str,
    at: &dyn Fn(usize) -> Span,
    group: &str,
    data: &mut Data,
) -> LoadResult<()> {
    let words = shell_words(line)
        .map_err(|e| LoadError::new(&at(0), format!("cannot read host line: {e}")))?;
    let Some((first, rest)) = words.split_first() else {
        return Ok(());
    };
    let (hosts, port) = expand(&first.text).map_err(|e| {
        LoadError::new(&at(first.col), e.to_string())
            .hint("ranges are written [01:10], [a:f] or [0:10:2]; a port as host:2222")
    })?;
    let mut vars = Vec::with_capacity(rest.len());
    for w in rest {
        let Some((k, v)) = w.text.split_once('=') else {
            return Err(LoadError::new(
                &at(w.col),
                format!("expected key=value host variable, got '{}'", w.text),
            )
            .hint("quote values that contain spaces: key=\"a b\""));
        };
        vars.push((k.to_string(), parse_value(v)));
    }
    for h in &hosts {
        data.add_host(h, group, port);
        for (k, v) in &vars {
            data.set_host_var(h, k, v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> LoadResult<Data> {
        let mut d = Data::new();
        d.current_source = Some("/inv/hosts".into());
        parse(text, Path::new("/inv/hosts"), &mut d)?;
        d.reconcile();
        Ok(d)
    }

    #[test]
    fn sections_children_vars_and_ungrouped() {
        let d = load(
            "early\n[web]\nw1 x=1\n[dc:children]\nweb\nlate\n[late]\nl1\n[dc:vars]\nk = v w\n",
        )
        .unwrap();
        assert_eq!(d.groups["ungrouped"].hosts, ["early"]);
        assert_eq!(d.groups["dc"].children, ["web", "late"]);
        assert_eq!(d.groups["dc"].vars["k"], Value::from("v w"));
        assert_eq!(d.hosts["w1"].vars["x"], Value::from(1));
        assert_eq!(d.groups["all"].children, ["ungrouped", "dc"]);
    }

    #[test]
    fn values_are_python_literals() {
        let d = load(
            "h a=42 b=True c=true d=\"x y\" e=0644 f=[1,2] g=1.5 h=None i=-3 j=0x10\n[all:vars]\nk=5 # five\nl=text # kept\n",
        )
        .unwrap();
        let v = &d.hosts["h"].vars;
        assert_eq!(v["a"], Value::from(42));
        assert_eq!(v["b"], Value::from(true));
        assert_eq!(v["c"], Value::from("true"));
        assert_eq!(v["d"], Value::from("x y"));
        assert_eq!(v["e"], Value::from("0644"));
        assert_eq!(v["f"], Value::from(vec![1, 2]));
        assert_eq!(v["g"], Value::from(1.5));
        assert!(v["h"].is_none());
        assert_eq!(v["i"], Value::from(-3));
        assert_eq!(v["j"], Value::from(16));
        assert_eq!(d.groups["all"].vars["k"], Value::from(5));
        assert_eq!(d.groups["all"].vars["l"], Value::from("text # kept"));
    }

    #[test]
    fn host_port_sets_ansible_port() {
        let d = load("[g]\nh:2222 ansible_host=10.0.0.1\n").unwrap();
        assert_eq!(d.hosts["h"].vars["ansible_port"], Value::from(2222));
        assert_eq!(
            d.hosts["h"].vars["inventory_file"],
            Value::from("/inv/hosts")
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = load("[g]\nh1\nh2 novalue\n").unwrap_err().to_string();
        assert!(e.starts_with("/inv/hosts:3:4:"), "{e}");
        let e = load("[g:bogus]\n").unwrap_err().to_string();
        assert!(
            e.starts_with("/inv/hosts:1:1:") && e.contains("unknown type"),
            "{e}"
        );
        let e = load("[g]\n  s[01:4]\n").unwrap_err().to_string();
        assert!(e.starts_with("/inv/hosts:2:3:"), "{e}");
        let e = load("[a:children]\nb\n").unwrap_err().to_string();
        assert!(e.starts_with("/inv/hosts:2:1:") && e.contains("'b'"), "{e}");
        let e = load("[x:vars]\nk=1\n").unwrap_err().to_string();
        assert!(e.starts_with("/inv/hosts:1:1:"), "{e}");
        let e = load("[g:vars]\nnovalue\n").unwrap_err().to_string();
        assert!(e.starts_with("/inv/hosts:2:1:"), "{e}");
        let e = load("[a b]\n").unwrap_err().to_string();
        assert!(e.contains("invalid section header"), "{e}");
        let e = load("[a:children]\nb\n[b:children]\na\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("loop"), "{e}");
    }

    #[test]
    fn later_declaration_resolves_pending_groups() {
        let d = load("[p:children]\nc\n[c]\nh\n[v:vars]\nk=1\n[v]\n").unwrap();
        assert_eq!(d.groups["p"].children, ["c"]);
        assert_eq!(d.groups["v"].vars["k"], Value::from(1));
    }
}
