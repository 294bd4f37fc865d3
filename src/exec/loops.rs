//! Loop sources: `loop:` and the `with_<lookup>` family, turned into a task's items on a
//! host, and the label an item is shown by.
//!
//! Owns: [`LoopError`], [`LookupError`] and every lookup's rules. Must not know: how items run,
//! hosts' states or plays.

use super::eval::text;
use super::runner::Runner;
use crate::error::Span;
use crate::plan::{LoopSource, Task};
use crate::vars::{FirstFound, TemplateError};
use minijinja::Value;
use minijinja::value::ValueKind;
use std::path::Path;

/// The most items `with_sequence` makes: a loop that long is a typo, and each item is a task.
const MAX_SEQUENCE_ITEMS: i128 = 1_000_000;

/// Why a task's loop gave no items.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("{span}: loop: {source}")]
    Template { span: Span, source: TemplateError },
    #[error("{0}")]
    Iterate(minijinja::Error),
    #[error("{span}: loop needs a list, got {kind}")]
    NotAList { span: Span, kind: ValueKind },
    #[error("{span}: with_{name}: {source}")]
    WithTemplate {
        span: Span,
        name: String,
        source: TemplateError,
    },
    #[error("{span}: {source}")]
    Lookup { span: Span, source: LookupError },
}

/// Why a `with_<lookup>` gave no items.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("{0}")]
    Iterate(#[from] minijinja::Error),
    #[error("expected a list, got a mapping (use dict2items or with_dict)")]
    Mapping,
    #[error("with_dict expects a mapping")]
    DictNeedsMapping,
    #[error("with_subelements expects [list, 'key'] (and optionally flags)")]
    SubelementsShape,
    #[error("with_subelements: the second element must be a key name")]
    SubelementsKey,
    #[error("could not find '{0}' key in an item of with_subelements")]
    SubelementMissing(String),
    #[error("bad glob {pattern:?}: {source}")]
    Glob {
        pattern: String,
        source: glob::PatternError,
    },
    #[error("with_lines: {0}")]
    LinesSpawn(std::io::Error),
    #[error("with_lines: {0:?} failed")]
    LinesFailed(String),
    #[error("bad stride")]
    BadStride,
    #[error("bad start")]
    BadStart,
    #[error("bad end")]
    BadEnd,
    #[error("bad with_sequence token {0:?}")]
    SequenceToken(String),
    #[error("bad number {0:?}")]
    BadNumber(String),
    #[error("unknown with_sequence option {0:?}")]
    SequenceOption(String),
    #[error("with_sequence: give end or count, not both")]
    EndAndCount,
    #[error("with_sequence needs end or count")]
    NoEnd,
    #[error("with_sequence: stride must not be 0")]
    ZeroStride,
    #[error("with_sequence: {0} items is more than the {MAX_SEQUENCE_ITEMS} a loop may have")]
    SequenceTooLong(i128),
    #[error(
        "with_{0} is not supported (supported: items, list, dict, together, nested, subelements, sequence, fileglob, first_found, indexed_items, flattened, lines, random_choice); use loop: with a filter instead"
    )]
    Unsupported(String),
}

/// The loop items of a task on a host (templated), or None without a loop.
pub fn loop_items(r: &Runner, task: &Task, scope: &Value) -> Result<Option<Vec<Value>>, LoopError> {
    let Some((src, span)) = &task.loop_ else {
        return Ok(None);
    };
    let templar = r.templar();
    let items = match src {
        LoopSource::Loop(v) => {
            let v = templar
                .template_value(v, scope)
                .map_err(|source| LoopError::Template {
                    span: span.clone(),
                    source,
                })?;
            match v.kind() {
                ValueKind::Seq | ValueKind::Iterable => {
                    v.try_iter().map_err(LoopError::Iterate)?.collect()
                }
                kind => {
                    return Err(LoopError::NotAList {
                        span: span.clone(),
                        kind,
                    });
                }
            }
        }
        LoopSource::With(name, arg) => {
            let arg =
                templar
                    .template_value(arg, scope)
                    .map_err(|source| LoopError::WithTemplate {
                        span: span.clone(),
                        name: name.clone(),
                        source,
                    })?;
            let lookup = match name.as_str() {
                "fileglob" => with_lookup(name, &resolve_fileglob(r, task, &arg)),
                "first_found" => first_found(r, task, &arg),
                _ => with_lookup(name, &arg),
            };
            lookup.map_err(|source| LoopError::Lookup {
                span: span.clone(),
                source,
            })?
        }
    };
    Ok(Some(items))
}

/// `with_first_found`: the first file that exists, as the only item (none, with `skip`).
/// Relative names are looked for as Ansible does: under the action's own folder of the role
/// and of the playbook (`vars/` for include_vars, `templates/` for template, else `files/`),
/// then in the role and playbook folders themselves.
fn first_found(r: &Runner, task: &Task, arg: &Value) -> Result<Vec<Value>, LookupError> {
    let action = task.action_name.as_str();
    let sub = ["template", "var", "file"]
        .into_iter()
        .find(|s| action.contains(s))
        .unwrap_or("file");
    let search: Vec<_> = r
        .search_paths(task)
        .into_iter()
        .flat_map(|d| [d.join(format!("{sub}s")), d])
        .collect();
    let found = FirstFound::from_terms(std::slice::from_ref(arg))?.find(&search)?;
    Ok(found
        .map(|p| Value::from(p.display().to_string()))
        .into_iter()
        .collect())
}

/// with_fileglob patterns are relative to the role's or playbook's `files/`.
fn resolve_fileglob(r: &Runner, task: &Task, arg: &Value) -> Value {
    let rel = |p: &str| -> String {
        if Path::new(p).is_absolute() {
            return p.to_string();
        }
        for dir in r.search_paths(task) {
            let cand = dir.join("files").join(p);
            if glob::glob(&cand.display().to_string())
                .map(|mut g| g.next().is_some())
                .unwrap_or(false)
            {
                return cand.display().to_string();
            }
        }
        r.playbook_dir().join(p).display().to_string()
    };
    match arg.as_str() {
        Some(s) => Value::from(rel(s)),
        None => match arg.try_iter() {
            Ok(it) => Value::from(it.map(|v| Value::from(rel(&text(&v)))).collect::<Vec<_>>()),
            Err(_) => arg.clone(),
        },
    }
}

/// How an item is shown: `loop_control.label` templated, else the item itself.
pub fn loop_label(r: &Runner, task: &Task, item: &Value, scope: &Value) -> String {
    if let Some(label) = &task.loop_control.label
        && let Ok(v) = r.templar().template_value(label, scope)
    {
        return text(&v);
    }
    text(item)
}

fn list(v: &Value) -> Result<Vec<Value>, LookupError> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(v.try_iter()?.collect()),
        ValueKind::None | ValueKind::Undefined => Ok(vec![]),
        ValueKind::String => Ok(vec![v.clone()]),
        ValueKind::Map => Err(LookupError::Mapping),
        _ => Ok(vec![v.clone()]),
    }
}

fn flatten_into(v: &Value, depth: Option<usize>, out: &mut Vec<Value>) {
    if matches!(v.kind(), ValueKind::Seq) && depth != Some(0) {
        if let Ok(it) = v.try_iter() {
            for x in it {
                flatten_into(&x, depth.map(|d| d - 1), out);
            }
        }
    } else {
        out.push(v.clone());
    }
}

/// Expands `with_<name>: arg` (arg already templated) to the items.
pub fn with_lookup(name: &str, arg: &Value) -> Result<Vec<Value>, LookupError> {
    match name {
        // with_items flattens one level: [[1,2],3] -> [1,2,3].
        "items" => {
            let mut out = Vec::new();
            for x in list(arg)? {
                flatten_into(&x, Some(1), &mut out);
            }
            Ok(out)
        }
        "list" => list(arg),
        "flattened" => {
            let mut out = Vec::new();
            flatten_into(arg, None, &mut out);
            Ok(out)
        }
        "indexed_items" => Ok(list(arg)?
            .into_iter()
            .enumerate()
            .map(|(i, x)| Value::from(vec![Value::from(i), x]))
            .collect()),
        "dict" => dict(arg),
        "together" => together(arg),
        "nested" | "cartesian" => nested(arg),
        "subelements" => subelements(arg),
        "sequence" => sequence(arg),
        "fileglob" => fileglob(arg),
        "lines" => lines(arg),
        "random_choice" => random_choice(arg),
        other => Err(LookupError::Unsupported(other.to_string())),
    }
}

fn dict(arg: &Value) -> Result<Vec<Value>, LookupError> {
    if arg.kind() != ValueKind::Map {
        return Err(LookupError::DictNeedsMapping);
    }
    let keys: Vec<Value> = arg.try_iter()?.collect();
    Ok(keys
        .into_iter()
        .map(|k| {
            let v = arg.get_item(&k).unwrap_or_default();
            Value::from_pairs([("key".to_string(), k), ("value".to_string(), v)])
        })
        .collect())
}

fn together(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let lists: Vec<Vec<Value>> = list(arg)?.iter().map(list).collect::<Result<_, _>>()?;
    let n = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                    .collect::<Vec<_>>(),
            )
        })
        .collect())
}

fn nested(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let lists: Vec<Vec<Value>> = list(arg)?.iter().map(list).collect::<Result<_, _>>()?;
    let mut acc: Vec<Vec<Value>> = vec![vec![]];
    for l in lists {
        let mut next = Vec::new();
        for prefix in &acc {
            for x in &l {
                let mut p = prefix.clone();
                p.push(x.clone());
                next.push(p);
            }
        }
        acc = next;
    }
    Ok(acc.into_iter().map(Value::from).collect())
}

fn subelements(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let parts = list(arg)?;
    if parts.len() < 2 {
        return Err(LookupError::SubelementsShape);
    }
    let key = parts[1]
        .as_str()
        .ok_or(LookupError::SubelementsKey)?
        .to_string();
    let skip_missing = parts
        .get(2)
        .and_then(|f| f.get_attr("skip_missing").ok())
        .is_some_and(|v| v.is_true());
    let mut out = Vec::new();
    for outer in list(&parts[0])? {
        let mut sub = outer.clone();
        for k in key.split('.') {
            sub = sub.get_attr(k).unwrap_or(Value::UNDEFINED);
        }
        if sub.is_undefined() {
            if skip_missing {
                continue;
            }
            return Err(LookupError::SubelementMissing(key));
        }
        for inner in list(&sub)? {
            out.push(Value::from(vec![outer.clone(), inner]));
        }
    }
    Ok(out)
}

fn fileglob(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let mut out = Vec::new();
    for pat in list(arg)? {
        let pattern = text(&pat);
        let paths = glob::glob(&pattern).map_err(|source| LookupError::Glob {
            pattern: pattern.clone(),
            source,
        })?;
        for p in paths.flatten() {
            if p.is_file() {
                out.push(Value::from(p.display().to_string()));
            }
        }
    }
    Ok(out)
}

fn lines(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let mut out = Vec::new();
    for cmd in list(arg)? {
        let cmd = text(&cmd);
        let o = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .map_err(LookupError::LinesSpawn)?;
        if !o.status.success() {
            return Err(LookupError::LinesFailed(cmd));
        }
        out.extend(String::from_utf8_lossy(&o.stdout).lines().map(Value::from));
    }
    Ok(out)
}

fn random_choice(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let items = list(arg)?;
    let n = items.len();
    if n == 0 {
        return Ok(vec![]);
    }
    let pick = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as usize)
        .unwrap_or(0))
        % n;
    Ok(vec![items[pick].clone()])
}

/// `with_sequence: start=1 end=5 stride=1 format=host%02d` or `count=N`.
fn sequence(arg: &Value) -> Result<Vec<Value>, LookupError> {
    let spec = text(arg);
    let (mut start, mut end, mut stride, mut count, mut format) = (1i64, None, 1i64, None, None);
    let shorthand = spec.trim();
    if !shorthand.contains('=') {
        // "4-8/2:host%02d" shorthand
        let (range, fmt) = match shorthand.split_once(':') {
            Some((r, f)) => (r, Some(f.to_string())),
            None => (shorthand, None),
        };
        let (range, st) = match range.split_once('/') {
            Some((r, s)) => (r, s.parse().map_err(|_| LookupError::BadStride)?),
            None => (range, 1),
        };
        match range.split_once('-') {
            Some((a, b)) => {
                start = a.parse().map_err(|_| LookupError::BadStart)?;
                end = Some(b.parse().map_err(|_| LookupError::BadEnd)?);
            }
            None => end = Some(range.parse().map_err(|_| LookupError::BadEnd)?),
        }
        stride = st;
        format = fmt;
    } else {
        for tok in spec.split_whitespace() {
            let (k, v) = tok
                .split_once('=')
                .ok_or_else(|| LookupError::SequenceToken(tok.to_string()))?;
            let num = |v: &str| -> Result<i64, LookupError> {
                let bad = |_| LookupError::BadNumber(v.to_string());
                if let Some(h) = v.strip_prefix("0x") {
                    i64::from_str_radix(h, 16).map_err(bad)
                } else {
                    v.parse().map_err(bad)
                }
            };
            match k {
                "start" => start = num(v)?,
                "end" => end = Some(num(v)?),
                "stride" => stride = num(v)?,
                "count" => count = Some(num(v)?),
                "format" => format = Some(v.to_string()),
                _ => return Err(LookupError::SequenceOption(k.to_string())),
            }
        }
    }
    let end = match (end, count) {
        (Some(_), Some(_)) => return Err(LookupError::EndAndCount),
        (Some(e), None) => e,
        (None, Some(c)) => (c - 1)
            .checked_mul(stride)
            .and_then(|span| start.checked_add(span))
            .ok_or(LookupError::SequenceTooLong(i128::from(c)))?,
        (None, None) => return Err(LookupError::NoEnd),
    };
    if stride == 0 {
        return Err(LookupError::ZeroStride);
    }
    let items = (i128::from(end) - i128::from(start)) / i128::from(stride) + 1;
    if items > MAX_SEQUENCE_ITEMS {
        return Err(LookupError::SequenceTooLong(items));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(match &format {
            Some(f) => printf_int(f, i),
            None => i.to_string(),
        }));
        match i.checked_add(stride) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(out)
}

/// Minimal printf for one integer: %d, %Nd, %0Nd, %x, %o, %s.
fn printf_int(fmt: &str, n: i64) -> String {
    let re = regex::Regex::new(r"%(0?)(\d*)([dxXos])").ok();
    let Some(re) = re else { return fmt.to_string() };
    re.replace(fmt, |c: &regex::Captures| {
        let zero = &c[1] == "0";
        let width: usize = c[2].parse().unwrap_or(0);
        let s = match &c[3] {
            "x" => format!("{:x}", n),
            "X" => format!("{:X}", n),
            "o" => format!("{:o}", n),
            _ => n.to_string(),
        };
        if zero {
            format!("{:0>width$}", s, width = width)
        } else {
            format!("{:>width$}", s, width = width)
        }
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<Value>) -> Vec<String> {
        v.into_iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn items_flatten_one_level() {
        let v = Value::from(vec![
            Value::from(vec![Value::from(1), Value::from(2)]),
            Value::from(3),
        ]);
        assert_eq!(strs(with_lookup("items", &v).unwrap()), vec!["1", "2", "3"]);
    }

    #[test]
    fn sequence_too_long_is_an_error_not_an_allocation() {
        let e = with_lookup("sequence", &Value::from("end=99999999999999")).unwrap_err();
        assert!(e.to_string().contains("more than the 1000000"), "{e}");
        assert!(with_lookup("sequence", &Value::from("count=3 stride=-1")).is_ok());
        assert!(
            with_lookup(
                "sequence",
                &Value::from("count=9223372036854775807 stride=9")
            )
            .is_err()
        );
        let top = format!("start={} end={}", i64::MAX - 1, i64::MAX);
        assert_eq!(with_lookup("sequence", &Value::from(top)).unwrap().len(), 2);
    }

    #[test]
    fn sequence_forms() {
        assert_eq!(
            strs(with_lookup("sequence", &Value::from("start=1 end=3 format=slave%02d")).unwrap()),
            vec!["slave01", "slave02", "slave03"]
        );
        assert_eq!(
            strs(with_lookup("sequence", &Value::from("count=2")).unwrap()),
            vec!["1", "2"]
        );
        assert_eq!(
            strs(with_lookup("sequence", &Value::from("0-4/2")).unwrap()),
            vec!["0", "2", "4"]
        );
    }

    #[test]
    fn together_and_nested() {
        let a = Value::from(vec![
            Value::from(vec![Value::from("a"), Value::from("b")]),
            Value::from(vec![Value::from(1)]),
        ]);
        let t = with_lookup("together", &a).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].get_item_by_index(1).unwrap().to_string(), "None");
        assert_eq!(with_lookup("nested", &a).unwrap().len(), 2);
    }

    #[test]
    fn dict_items() {
        let d = Value::from_pairs([("x".to_string(), Value::from(1))]);
        let items = with_lookup("dict", &d).unwrap();
        assert_eq!(items[0].get_attr("key").unwrap().to_string(), "x");
        assert_eq!(items[0].get_attr("value").unwrap().to_string(), "1");
    }
}
