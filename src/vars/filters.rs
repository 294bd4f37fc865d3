//! Ansible's filters (and the few Jinja2 builtins whose minijinja version prints or coerces
//! differently from Python). Expected outputs follow Ansible's documentation.

use super::yaml_out::{JsonStyle, YamlStyle, to_json, to_yaml};
use crate::vocab::python_str;
use base64::Engine as _;
use minijinja::value::{Kwargs, Rest, StringInput, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("bool", to_bool);
    env.add_filter("string", string);
    env.add_filter("int", int);
    env.add_filter("join", join);
    env.add_filter("to_json", to_json_filter);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("to_yaml", to_yaml_filter);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("ternary", ternary);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("version_compare", version_filter);
    env.add_filter("version", version_filter);
    env.add_filter("ipaddr", ipaddr);
    env.add_filter("ansible.utils.ipaddr", ipaddr);
    env.add_filter("quote", quote);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
    env.add_filter("comment", comment);
    env.add_filter("indent", indent);
    env.add_filter("slice", slice);
    env.add_filter("tojson", tojson);
    env.add_filter("format", format);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("splitext", splitext);
    env.add_filter("expanduser", expanduser);
    env.add_filter("realpath", realpath);
    env.add_filter("fileglob", fileglob);
    env.add_filter("flatten", flatten);
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("extract", extract);
    env.add_filter("items2dict", items2dict);
    env.add_filter("dict", dict);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("hash", hash);
    env.add_filter("md5", |s: String| digest("md5", &s));
    env.add_filter("sha1", |s: String| digest("sha1", &s));
    env.add_filter("checksum", |s: String| digest("sha1", &s));
    env.add_filter("mandatory", mandatory);
    env.add_filter("random", random);
    env.add_filter("shuffle", shuffle);
    env.add_filter("to_uuid", to_uuid);
    env.add_filter("type_debug", type_debug);
}

/// Fails the way minijinja fails on an undefined value (naming it) when `v` is undefined.
pub(super) fn defined(state: &State, v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        StringInput::new(state, v)?;
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter()?.collect())
}

fn map_pairs(v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    if v.kind() != ValueKind::Map {
        return Err(invalid(format!("expected a dictionary, got {}", v.kind())));
    }
    v.try_iter()?
        .map(|k| {
            let item = v.get_item(&k)?;
            Ok((k, item))
        })
        .collect()
}

/// Ansible's `bool`: a string is true when it is one of Ansible's true spellings
/// ([`vocab::boolean`](crate::vocab::boolean)), false otherwise; true values are true.
fn to_bool(state: &State, v: Value) -> Result<bool, Error> {
    defined(state, &v)?;
    Ok(match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::None => false,
        ValueKind::Number => v.as_i64().map_or(v.is_true(), |n| n == 1),
        ValueKind::String => crate::vocab::boolean(v.as_str().unwrap_or("")) == Some(true),
        _ => false,
    })
}

/// Jinja2's `int`: what does not parse gives the default (0), it does not fail.
fn int(state: &State, v: Value, default: Option<i64>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let default = match default {
        Some(d) => d,
        None => kwargs.get::<Option<i64>>("default")?.unwrap_or(0),
    };
    let base = kwargs.get::<Option<u32>>("base")?.unwrap_or(10);
    kwargs.assert_all_used()?;
    let parsed = match v.kind() {
        ValueKind::Bool => Some(i64::from(v.is_true())),
        ValueKind::Number => match v.as_i64() {
            Some(n) => Some(n),
            None => f64::try_from(v.clone()).ok().map(|f| f.trunc() as i64),
        },
        ValueKind::String => {
            let s = v.as_str().unwrap_or("").trim();
            if base == 10 {
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().map(|f| f.trunc() as i64))
            } else {
                let digits = s
                    .strip_prefix("0x")
                    .or_else(|| s.strip_prefix("0o"))
                    .or_else(|| s.strip_prefix("0b"))
                    .unwrap_or(s);
                i64::from_str_radix(digits, base).ok()
            }
        }
        _ => None,
    };
    Ok(Value::from(parsed.unwrap_or(default)))
}

fn string(state: &State, v: Value) -> Result<Value, Error> {
    defined(state, &v)?;
    Ok(if v.kind() == ValueKind::String {
        v
    } else {
        Value::from(python_str(&v))
    })
}

fn join(state: &State, v: Value, sep: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, &v)?;
    let attribute: Option<String> = kwargs.get("attribute")?;
    kwargs.assert_all_used()?;
    if v.kind() == ValueKind::String {
        return Ok(v.as_str().unwrap_or("").to_string());
    }
    let mut parts = Vec::new();
    for item in v.try_iter()? {
        let item = match &attribute {
            Some(a) => item.get_attr(a)?,
            None => item,
        };
        defined(state, &item)?;
        parts.push(python_str(&item));
    }
    Ok(parts.join(sep.as_deref().unwrap_or("")))
}

/// The widest indentation or repeat count a filter takes: far beyond any real template, far
/// short of what would exhaust the controller's memory (`indent(10000000000)` aborted the run).
const MAX_WIDTH: usize = 10_000;

/// `n` when it is at most [`MAX_WIDTH`]; an error naming the filter's `what` otherwise.
fn width(n: usize, what: &str) -> Result<usize, Error> {
    if n > MAX_WIDTH {
        return Err(invalid(format!("{what} {n} is more than {MAX_WIDTH}")));
    }
    Ok(n)
}

/// minijinja's `indent`, with its width bounded.
fn indent(
    value: StringInput<'_>,
    w: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    width(w.or(kwargs.get("width")?).unwrap_or(0), "indent: width")?;
    minijinja::filters::indent(value, w, first, blank, kwargs)
}

/// minijinja's `tojson`, with a numeric indent bounded.
fn tojson(v: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let asked = match &indent {
        Some(i) => Some(i.clone()),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    if let Some(n) = asked.and_then(|i| usize::try_from(i).ok()) {
        width(n, "tojson: indent")?;
    }
    minijinja::filters::tojson(v, indent, kwargs)
}

/// minijinja's `slice`, with its count bounded (it reserves `count` slices up front).
fn slice(state: &State, v: Value, count: usize, fill: Option<Value>) -> Result<Value, Error> {
    minijinja::filters::slice(state, v, width(count, "slice: count")?, fill)
}

/// minijinja's `format`, with the widths and precisions its format string asks bounded.
fn format(state: &mut State, fmt: &Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    if let Some(text) = fmt.as_str() {
        for n in format_widths(text) {
            width(n, "format: width")?;
        }
    }
    minijinja::filters::format(state, fmt, args)
}

/// The widths and precisions of `%` specs (`%-10.3f`) and `{:>10}` specs in `text`
/// (saturating: a number too long for usize counts as usize::MAX).
fn format_widths(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if matches!(bytes[i], b'%' | b':') {
            i += 1;
            while i < bytes.len() && !bytes[i].is_ascii_alphabetic() && bytes[i] != b'}' {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i > start {
                    out.push(text[start..i].parse().unwrap_or(usize::MAX));
                } else {
                    i += 1;
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

fn to_json_filter(state: &State, v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, &v)?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    let indent: Option<usize> = kwargs.get("indent")?;
    indent.map(|n| width(n, "to_json: indent")).transpose()?;
    Ok(to_json(&v, &JsonStyle { indent, sort_keys }))
}

fn to_nice_json(state: &State, v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, &v)?;
    let indent = width(
        kwargs.get::<Option<usize>>("indent")?.unwrap_or(4),
        "to_nice_json: indent",
    )?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    Ok(to_json(
        &v,
        &JsonStyle {
            indent: Some(indent),
            sort_keys,
        },
    ))
}

fn to_yaml_filter(state: &State, v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, &v)?;
    let indent = width(
        kwargs.get::<Option<usize>>("indent")?.unwrap_or(2),
        "to_yaml: indent",
    )?;
    Ok(to_yaml(
        &v,
        &YamlStyle {
            indent,
            flow_leaves: true,
        },
    ))
}

fn to_nice_yaml(state: &State, v: Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, &v)?;
    let indent = width(
        kwargs.get::<Option<usize>>("indent")?.unwrap_or(4),
        "to_nice_yaml: indent",
    )?;
    Ok(to_yaml(
        &v,
        &YamlStyle {
            indent,
            flow_leaves: false,
        },
    ))
}

fn from_json(text: String) -> Result<Value, Error> {
    let parsed: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("from_json: invalid JSON: {e}")))?;
    Ok(Value::from(minijinja::value::Serde(parsed)))
}

fn from_yaml(text: String) -> Result<Value, Error> {
    let docs = crate::yaml::load_str(&text, "<from_yaml>")
        .map_err(|e| invalid(format!("from_yaml: {e}")))?;
    Ok(docs.first().map(node_value).unwrap_or(Value::from(())))
}

fn node_value(node: &crate::yaml::Node) -> Value {
    use crate::yaml::NodeKind;
    match &node.kind {
        NodeKind::Map(entries) => Value::from_pairs(entries.iter().map(|(k, v)| {
            (
                Value::from(k.key_string().unwrap_or_default()),
                node_value(v),
            )
        })),
        NodeKind::Seq(items) => Value::from(items.iter().map(node_value).collect::<Vec<_>>()),
        _ => node.to_value(),
    }
}

fn ternary(
    state: &State,
    v: Value,
    if_true: Value,
    if_false: Value,
    if_none: Option<Value>,
) -> Result<Value, Error> {
    defined(state, &v)?;
    Ok(match (v.is_none(), if_none) {
        (true, Some(none)) => none,
        _ if v.is_true() => if_true,
        _ => if_false,
    })
}

fn unique_push(out: &mut Vec<Value>, v: Value) {
    if !out.contains(&v) {
        out.push(v);
    }
}

fn union(a: Value, b: Value) -> Result<Value, Error> {
    let mut out = Vec::new();
    for v in items(&a)?.into_iter().chain(items(&b)?) {
        unique_push(&mut out, v);
    }
    Ok(Value::from(out))
}

fn intersect(a: Value, b: Value) -> Result<Value, Error> {
    let other = items(&b)?;
    let mut out = Vec::new();
    for v in items(&a)? {
        if other.contains(&v) {
            unique_push(&mut out, v);
        }
    }
    Ok(Value::from(out))
}

fn difference(a: Value, b: Value) -> Result<Value, Error> {
    let other = items(&b)?;
    let mut out = Vec::new();
    for v in items(&a)? {
        if !other.contains(&v) {
            unique_push(&mut out, v);
        }
    }
    Ok(Value::from(out))
}

fn symmetric_difference(a: Value, b: Value) -> Result<Value, Error> {
    let (left, right) = (items(&a)?, items(&b)?);
    let mut out = Vec::new();
    for v in left.iter().filter(|v| !right.contains(v)) {
        unique_push(&mut out, v.clone());
    }
    for v in right.iter().filter(|v| !left.contains(v)) {
        unique_push(&mut out, v.clone());
    }
    Ok(Value::from(out))
}

/// One part of a LooseVersion: numbers compare as numbers, words as text.
#[derive(PartialEq, Eq, Debug)]
enum Part {
    Num(u64),
    Word(String),
}

impl PartialOrd for Part {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Part {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Part::Num(a), Part::Num(b)) => a.cmp(b),
            (Part::Word(a), Part::Word(b)) => a.cmp(b),
            // Python 3 cannot order int against str; a number ranking first keeps `1.0` <
            // `1.0a`-style comparisons sensible.
            (Part::Num(_), Part::Word(_)) => Ordering::Less,
            (Part::Word(_), Part::Num(_)) => Ordering::Greater,
        }
    }
}

/// distutils' LooseVersion: runs of digits and runs of letters; other characters separate.
fn loose_version(s: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                run.push(d);
                chars.next();
            }
            parts.push(Part::Num(run.parse().unwrap_or(u64::MAX)));
        } else if c.is_alphabetic() {
            let mut run = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_alphabetic()) {
                run.push(d);
                chars.next();
            }
            parts.push(Part::Word(run));
        } else {
            chars.next();
        }
    }
    parts
}

/// `version_compare`/`version` as filter and test.
pub(super) fn compare_versions(
    state: &State,
    v: Value,
    other: Value,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    defined(state, &v)?;
    defined(state, &other)?;
    let op = match op {
        Some(op) => op,
        None => kwargs
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "eq".into()),
    };
    // `strict` and `version_type` are accepted; loose comparison covers dotted versions.
    let _: Option<Value> = kwargs.get("strict")?;
    let _: Option<Value> = kwargs.get("version_type")?;
    kwargs.assert_all_used()?;
    let ord = loose_version(&python_str(&v)).cmp(&loose_version(&python_str(&other)));
    Ok(match op.as_str() {
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        other => {
            return Err(invalid(format!(
                "invalid version comparison operator: {other}"
            )));
        }
    })
}

fn version_filter(
    state: &State,
    v: Value,
    other: Value,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    compare_versions(state, v, other, op, kwargs)
}

/// `ipaddr`: with no query, the value if it is a valid address or CIDR, else false; queries
/// `address`, `network`, `netmask`, `prefix`, `host` (IPv4 CIDR). On a list, keeps the
/// valid entries.
fn ipaddr(state: &State, v: Value, query: Option<String>) -> Result<Value, Error> {
    defined(state, &v)?;
    let query = query.unwrap_or_default();
    if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        let mut out = Vec::new();
        for item in v.try_iter()? {
            let r = ipaddr_one(&python_str(&item), &query);
            if r.kind() != ValueKind::Bool || r.is_true() {
                out.push(r);
            }
        }
        return Ok(Value::from(out));
    }
    Ok(ipaddr_one(&python_str(&v), &query))
}

fn ipaddr_one(s: &str, query: &str) -> Value {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()),
        None => (s, None),
    };
    let Ok(ip) = addr.trim().parse::<IpAddr>() else {
        return Value::from(false);
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match (s.contains('/'), prefix) {
        (true, Some(p)) if p <= max => p,
        (true, _) => return Value::from(false),
        (false, _) => max,
    };
    let v4 = match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    };
    let mask = |p: u8| -> u32 {
        if p == 0 {
            0
        } else {
            u32::MAX << (32 - p as u32)
        }
    };
    match (query, v4) {
        ("", _) => Value::from(s),
        ("address", _) => Value::from(ip.to_string()),
        ("prefix", _) => Value::from(prefix),
        ("host", _) => Value::from(format!("{ip}/{prefix}")),
        ("network", Some(v4)) => {
            Value::from(Ipv4Addr::from(u32::from(v4) & mask(prefix)).to_string())
        }
        ("netmask", Some(_)) => Value::from(Ipv4Addr::from(mask(prefix)).to_string()),
        ("broadcast", Some(v4)) => {
            Value::from(Ipv4Addr::from(u32::from(v4) | !mask(prefix)).to_string())
        }
        ("net", Some(v4)) if s.contains('/') => Value::from(format!(
            "{}/{prefix}",
            Ipv4Addr::from(u32::from(v4) & mask(prefix))
        )),
        ("ipv4", _) => {
            if v4.is_some() {
                Value::from(s)
            } else {
                Value::from(false)
            }
        }
        ("ipv6", _) => {
            if v4.is_none() {
                Value::from(s)
            } else {
                Value::from(false)
            }
        }
        _ => Value::from(false),
    }
}

/// Python's `shlex.quote`.
pub(super) fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn quote(state: &State, v: Value) -> Result<String, Error> {
    defined(state, &v)?;
    Ok(shell_quote(&python_str(&v)))
}

fn build_regex(pattern: &str, kwargs: &Kwargs) -> Result<regex::Regex, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(format!("invalid regular expression {pattern:?}: {e}")))
}

/// Python replacement syntax (`\1`, `\g<name>`) to the regex crate's (`${1}`, `${name}`).
fn python_replacement(rep: &str) -> String {
    let mut out = String::new();
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = String::new();
                    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        num.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn regex_replace(
    state: &State,
    v: Value,
    pattern: String,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(state, &v)?;
    let re = build_regex(&pattern, &kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let rep = python_replacement(replacement.as_deref().unwrap_or(""));
    Ok(re
        .replacen(&python_str(&v), count, rep.as_str())
        .into_owned())
}

fn regex_search(
    state: &State,
    v: Value,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    defined(state, &v)?;
    let re = build_regex(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let text = python_str(&v);
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|n| n.strip_suffix('>')) {
            caps.name(name)
        } else if let Some(n) = g.strip_prefix('\\').and_then(|n| n.parse::<usize>().ok()) {
            caps.get(n)
        } else {
            return Err(invalid(format!("regex_search: unknown group {g:?}")));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

fn regex_findall(state: &State, v: Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let re = build_regex(&pattern, &kwargs)?;
    kwargs.assert_all_used()?;
    let text = python_str(&v);
    let groups = re.captures_len() - 1;
    let found = re.captures_iter(&text).map(|caps| {
        let group = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
        match groups {
            0 => group(0),
            1 => group(1),
            n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
        }
    });
    Ok(Value::from(found.collect::<Vec<_>>()))
}

fn regex_escape(s: String) -> String {
    regex::escape(&s)
}

/// Ansible's `comment`: wraps text in comment decoration (`plain` gives `#\n# text\n#`).
fn comment(
    state: &State,
    v: Value,
    style: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(state, &v)?;
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(invalid(format!("comment: unknown style {other:?}"))),
    };
    let text = python_str(&v);
    let get = |k: &str, d: &str| -> Result<String, Error> {
        Ok(kwargs.get::<Option<String>>(k)?.unwrap_or_else(|| d.into()))
    };
    let newline = get("newline", "\n")?;
    let affix = get("decoration", decoration)?;
    let beginning = get("beginning", beginning)?;
    let end = get("end", end)?;
    let prefix = get("prefix", affix.trim_end())?;
    let postfix = get("postfix", affix.trim_end())?;
    // `decoration` in the style table is the per-line prefix; the default params differ.
    let line_decoration = affix.clone();
    let count = |k: &str| -> Result<usize, Error> {
        width(
            kwargs.get::<Option<usize>>(k)?.unwrap_or(1),
            &format!("comment: {k}"),
        )
    };
    let prefix_count = count("prefix_count")?;
    let postfix_count = count("postfix_count")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let p = if prefix == newline {
            newline.clone()
        } else {
            format!("{prefix}{newline}")
        };
        out.push_str(&p.repeat(prefix_count));
    }
    let body = format!(
        "{line_decoration}{}",
        text.replace(&newline, &format!("{newline}{line_decoration}"))
    )
    .replace(
        &format!("{line_decoration}{newline}"),
        &format!("{}{newline}", line_decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

fn basename(path: String) -> String {
    match path.rfind('/') {
        Some(i) => path[i + 1..].to_string(),
        None => path,
    }
}

fn dirname(path: String) -> String {
    // Python's os.path.dirname: everything before the last slash, trailing slashes trimmed
    // unless that leaves the root.
    match path.rfind('/') {
        Some(i) => {
            let head = &path[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
        None => String::new(),
    }
}

fn splitext(path: String) -> Value {
    let base_start = path.rfind('/').map_or(0, |i| i + 1);
    let base = &path[base_start..];
    let stem_len = base.len() - base.trim_start_matches('.').len();
    match base[stem_len..].rfind('.') {
        Some(i) => {
            let cut = base_start + stem_len + i;
            Value::from(vec![Value::from(&path[..cut]), Value::from(&path[cut..])])
        }
        None => Value::from(vec![Value::from(path.as_str()), Value::from("")]),
    }
}

pub(super) fn expand_user(path: &str) -> String {
    match (path.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => path.to_string(),
    }
}

fn expanduser(path: String) -> String {
    expand_user(&path)
}

fn realpath(path: String) -> String {
    std::fs::canonicalize(&path)
        .map(|p| p.display().to_string())
        .unwrap_or(path)
}

/// Files (not directories) matching a controller glob, sorted.
pub(super) fn glob_files(pattern: &str) -> Result<Vec<String>, Error> {
    let paths = glob::glob(pattern).map_err(|e| invalid(format!("fileglob {pattern:?}: {e}")))?;
    let mut out: Vec<String> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    out.sort();
    Ok(out)
}

fn fileglob(pattern: String) -> Result<Value, Error> {
    Ok(Value::from(glob_files(&pattern)?))
}

fn flatten_into(v: &Value, levels: Option<usize>, out: &mut Vec<Value>) -> Result<(), Error> {
    for item in v.try_iter()? {
        match item.kind() {
            ValueKind::Seq | ValueKind::Iterable if levels != Some(0) => {
                flatten_into(&item, levels.map(|l| l - 1), out)?
            }
            // Ansible's flatten drops None entries.
            ValueKind::None => {}
            _ => out.push(item),
        }
    }
    Ok(())
}

fn flatten(state: &State, v: Value, levels: Option<usize>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get("levels")?,
    };
    kwargs.assert_all_used()?;
    let mut out = Vec::new();
    flatten_into(&v, levels, &mut out)?;
    Ok(Value::from(out))
}

fn merge(a: &Value, b: &Value, recursive: bool, list_merge: &str) -> Result<Value, Error> {
    let mut pairs = map_pairs(a)?;
    for (k, v) in map_pairs(b)? {
        match pairs.iter_mut().find(|(key, _)| *key == k) {
            Some((_, old)) => {
                *old = match (old.kind(), v.kind()) {
                    (ValueKind::Map, ValueKind::Map) if recursive => {
                        merge(old, &v, recursive, list_merge)?
                    }
                    (ValueKind::Seq, ValueKind::Seq) => match list_merge {
                        "append" => Value::from(
                            items(old)?
                                .into_iter()
                                .chain(items(&v)?)
                                .collect::<Vec<_>>(),
                        ),
                        "prepend" => Value::from(
                            items(&v)?
                                .into_iter()
                                .chain(items(old)?)
                                .collect::<Vec<_>>(),
                        ),
                        "keep" => old.clone(),
                        _ => v,
                    },
                    _ => v,
                };
            }
            None => pairs.push((k, v)),
        }
    }
    Ok(Value::from_pairs(pairs))
}

fn combine(state: &State, v: Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kwargs
        .get::<Option<String>>("list_merge")?
        .unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    let mut acc = v;
    for other in others.iter() {
        // `combine([a, b])`: a list of dicts merges each in turn.
        let parts = if other.kind() == ValueKind::Seq {
            items(other)?
        } else {
            vec![other.clone()]
        };
        for part in parts {
            defined(state, &part)?;
            acc = merge(&acc, &part, recursive, &list_merge)?;
        }
    }
    if acc.kind() != ValueKind::Map {
        return Err(invalid("combine expects dictionaries"));
    }
    Ok(acc)
}

/// Ansible's `extract`: `container[item]`, then each of `morekeys` (one key or a list) in turn;
/// `groups['zk'] | map('extract', hostvars, 'ansible_host')` is the usual use. A missing key
/// gives an undefined value, which fails (naming it) only where it is used.
fn extract(
    state: &State,
    item: Value,
    container: Value,
    morekeys: Option<Value>,
) -> Result<Value, Error> {
    defined(state, &item)?;
    defined(state, &container)?;
    let mut value = container.get_item(&item).unwrap_or(Value::UNDEFINED);
    let keys = match morekeys {
        None => Vec::new(),
        Some(k) if k.kind() == ValueKind::Seq => items(&k)?,
        Some(k) => vec![k],
    };
    for key in keys {
        if value.is_undefined() {
            break;
        }
        value = value.get_item(&key).unwrap_or(Value::UNDEFINED);
    }
    Ok(value)
}

fn dict2items(state: &State, v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let key_name = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    let out: Vec<Value> = map_pairs(&v)?
        .into_iter()
        .map(|(k, item)| {
            Value::from_pairs([
                (Value::from(key_name.as_str()), k),
                (Value::from(value_name.as_str()), item),
            ])
        })
        .collect();
    Ok(Value::from(out))
}

fn items2dict(state: &State, v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let key_name = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value_name = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    let mut pairs = Vec::new();
    for item in v.try_iter()? {
        let k = item.get_attr(&key_name)?;
        let val = item.get_attr(&value_name)?;
        if k.is_undefined() || val.is_undefined() {
            return Err(invalid(format!(
                "items2dict: each item needs '{key_name}' and '{value_name}'"
            )));
        }
        pairs.push((k, val));
    }
    Ok(Value::from_pairs(pairs))
}

/// A list of pairs (e.g. from `zip`) to a mapping.
fn dict(state: &State, v: Value) -> Result<Value, Error> {
    defined(state, &v)?;
    if v.kind() == ValueKind::Map {
        return Ok(v);
    }
    let mut pairs = Vec::new();
    for pair in v.try_iter()? {
        let kv = items(&pair)?;
        match kv.as_slice() {
            [k, val] => pairs.push((k.clone(), val.clone())),
            _ => return Err(invalid("dict: each item must be a pair")),
        }
    }
    Ok(Value::from_pairs(pairs))
}

fn b64encode(state: &State, v: Value) -> Result<String, Error> {
    defined(state, &v)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(python_str(&v)))
}

fn b64decode(state: &State, v: Value) -> Result<String, Error> {
    defined(state, &v)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(python_str(&v).trim())
        .map_err(|e| invalid(format!("b64decode: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn digest(algo: &str, s: &str) -> Result<String, Error> {
    use sha2::Digest;
    Ok(match algo {
        "sha1" => hex::encode(sha1::Sha1::digest(s.as_bytes())),
        "md5" => hex::encode(md5::Md5::digest(s.as_bytes())),
        "sha224" => hex::encode(sha2::Sha224::digest(s.as_bytes())),
        "sha256" => hex::encode(sha2::Sha256::digest(s.as_bytes())),
        "sha384" => hex::encode(sha2::Sha384::digest(s.as_bytes())),
        "sha512" => hex::encode(sha2::Sha512::digest(s.as_bytes())),
        other => return Err(invalid(format!("hash: unsupported algorithm {other:?}"))),
    })
}

fn hash(state: &State, v: Value, algo: Option<String>) -> Result<String, Error> {
    defined(state, &v)?;
    digest(algo.as_deref().unwrap_or("sha1"), &python_str(&v))
}

fn mandatory(state: &State, v: Value, msg: Option<String>) -> Result<Value, Error> {
    if v.is_undefined() {
        return match msg {
            Some(msg) => Err(Error::new(ErrorKind::UndefinedError, msg)),
            None => defined(state, &v).map(|_| v),
        };
    }
    Ok(v)
}

/// A random u64 from the OS (for `omit`, unseeded `random`/`shuffle`, passwords).
pub(super) fn random_u64() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if from_os.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return nanos ^ ((std::process::id() as u64) << 32);
    }
    u64::from_le_bytes(buf)
}

/// splitmix64: small, seedable, good enough for `random`/`shuffle` (not for secrets).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: Option<&Value>) -> Rng {
        match seed {
            Some(seed) => {
                use sha2::Digest;
                let d = sha2::Sha256::digest(python_str(seed).as_bytes());
                let mut b = [0u8; 8];
                b.copy_from_slice(&d[..8]);
                Rng(u64::from_le_bytes(b))
            }
            None => Rng(random_u64()),
        }
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Ansible's `random`: a random element of a list, or a number below an int (`start`, `step`).
fn random(state: &State, v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let seed: Option<Value> = kwargs.get("seed")?;
    let start = kwargs.get::<Option<i64>>("start")?.unwrap_or(0);
    let step = kwargs.get::<Option<i64>>("step")?.unwrap_or(1).max(1);
    kwargs.assert_all_used()?;
    let mut rng = Rng::new(seed.as_ref());
    if let Some(end) = v.as_i64() {
        let count = ((end - start).max(0) + step - 1) / step;
        if count == 0 {
            return Err(invalid("random: empty range"));
        }
        return Ok(Value::from(start + step * rng.below(count as u64) as i64));
    }
    let all = items(&v)?;
    if all.is_empty() {
        return Err(invalid("random: empty sequence"));
    }
    Ok(all[rng.below(all.len() as u64) as usize].clone())
}

fn shuffle(state: &State, v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, &v)?;
    let seed: Option<Value> = kwargs.get("seed")?;
    kwargs.assert_all_used()?;
    let mut rng = Rng::new(seed.as_ref());
    let mut all = items(&v)?;
    for i in (1..all.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        all.swap(i, j);
    }
    Ok(Value::from(all))
}

/// UUID v5 in Ansible's namespace (361E6D51-FAEC-444A-9079-341386DA8E2E) unless one is given.
fn to_uuid(state: &State, v: Value, namespace: Option<String>) -> Result<String, Error> {
    use sha1::Digest;
    defined(state, &v)?;
    let ns = namespace.unwrap_or_else(|| "361E6D51-FAEC-444A-9079-341386DA8E2E".into());
    let ns_bytes = hex::decode(ns.replace('-', ""))
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| invalid(format!("to_uuid: invalid namespace {ns:?}")))?;
    let mut h = sha1::Sha1::new();
    h.update(&ns_bytes);
    h.update(python_str(&v).as_bytes());
    let mut b: Vec<u8> = h.finalize()[..16].to_vec();
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    ))
}

/// Python's type name, as Ansible's `type_debug` reports it.
fn type_debug(v: Value) -> &'static str {
    match v.kind() {
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        ValueKind::Undefined => "AnsibleUndefined",
        _ => "object",
    }
}
