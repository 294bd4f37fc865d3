//! Ansible's Jinja tests: results of registered tasks, versions, regexes, sets, controller paths.
//! (minijinja already provides defined/undefined, in, sameas, true/false, none, string, number,
//! mapping, sequence, iterable.)

use super::filters::{compare_versions, defined};
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_test("version_compare", compare_versions);
    env.add_test("version", compare_versions);
    env.add_test("match", |s: &State, v: Value, p: String, k: Kwargs| {
        regex_test(s, v, &p, k, Anchor::Start)
    });
    env.add_test("search", |s: &State, v: Value, p: String, k: Kwargs| {
        regex_test(s, v, &p, k, Anchor::None)
    });
    env.add_test("regex", |s: &State, v: Value, p: String, k: Kwargs| {
        let anchor = match k.get::<Option<String>>("match_type")?.as_deref() {
            Some("match") => Anchor::Start,
            Some("fullmatch") => Anchor::Full,
            _ => Anchor::None,
        };
        regex_test(s, v, &p, k, anchor)
    });
    env.add_test("changed", |s: &State, v: Value| flag(s, &v, "changed"));
    env.add_test("failed", |s: &State, v: Value| flag(s, &v, "failed"));
    env.add_test("failure", |s: &State, v: Value| flag(s, &v, "failed"));
    env.add_test("succeeded", |s: &State, v: Value| {
        Ok(!flag(s, &v, "failed")?)
    });
    env.add_test("success", |s: &State, v: Value| Ok(!flag(s, &v, "failed")?));
    env.add_test("successful", |s: &State, v: Value| {
        Ok(!flag(s, &v, "failed")?)
    });
    env.add_test("skipped", |s: &State, v: Value| flag(s, &v, "skipped"));
    env.add_test("skip", |s: &State, v: Value| flag(s, &v, "skipped"));
    env.add_test("unreachable", |s: &State, v: Value| {
        flag(s, &v, "unreachable")
    });
    env.add_test("truthy", truthy);
    env.add_test("falsy", |s: &State, v: Value, k: Kwargs| {
        Ok(!truthy(s, v, k)?)
    });
    env.add_test("subset", |a: Value, b: Value| contains_all(&b, &a));
    env.add_test("superset", |a: Value, b: Value| contains_all(&a, &b));
    env.add_test("contains", |a: Value, b: Value| {
        Ok(a.try_iter()?.any(|x| x == b))
    });
    env.add_test("file", |p: String| std::path::Path::new(&p).is_file());
    env.add_test("directory", |p: String| std::path::Path::new(&p).is_dir());
    env.add_test("exists", |p: String| std::path::Path::new(&p).exists());
    env.add_test("link", |p: String| std::path::Path::new(&p).is_symlink());
    env.add_test("abs", |p: String| p.starts_with('/'));
    env.add_test("any", |v: Value| {
        Ok::<_, Error>(v.try_iter()?.any(|x| x.is_true()))
    });
    env.add_test("all", |v: Value| {
        Ok::<_, Error>(v.try_iter()?.all(|x| x.is_true()))
    });
}

#[derive(Clone, Copy)]
enum Anchor {
    None,
    Start,
    Full,
}

fn regex_test(
    state: &State,
    v: Value,
    pattern: &str,
    kwargs: Kwargs,
    anchor: Anchor,
) -> Result<bool, Error> {
    defined(state, &v)?;
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let pattern = match anchor {
        Anchor::None => pattern.to_string(),
        Anchor::Start => format!(r"\A(?:{pattern})"),
        Anchor::Full => format!(r"\A(?:{pattern})\z"),
    };
    let re = regex::RegexBuilder::new(&pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("invalid regex: {e}")))?;
    Ok(re.is_match(&crate::vocab::python_str(&v)))
}

/// Reads a registered result's flag (`changed`, `failed`, `skipped`); `failed` also counts a
/// nonzero `rc`, as Ansible's command modules report failure.
fn flag(state: &State, v: &Value, key: &str) -> Result<bool, Error> {
    defined(state, v)?;
    if v.kind() != ValueKind::Map {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "the '{key}' test expects a task result (a dictionary), got {}",
                v.kind()
            ),
        ));
    }
    let get = |k: &str| v.get_attr(k).unwrap_or_default();
    let set = get(key);
    if !set.is_undefined() {
        return Ok(set.is_true());
    }
    if key == "failed"
        && let Some(rc) = get("rc").as_i64()
    {
        return Ok(rc != 0);
    }
    Ok(false)
}

/// Ansible's `truthy`: Python truth, or Ansible's `bool` rules with `convert_bool=True`.
fn truthy(state: &State, v: Value, kwargs: Kwargs) -> Result<bool, Error> {
    defined(state, &v)?;
    let convert = kwargs.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    if convert && let Some(s) = v.as_str() {
        let s = s.trim().to_ascii_lowercase();
        if ["yes", "on", "1", "true", "y", "t"].contains(&s.as_str()) {
            return Ok(true);
        }
        if ["no", "off", "0", "false", "n", "f"].contains(&s.as_str()) {
            return Ok(false);
        }
    }
    Ok(v.is_true())
}

fn contains_all(big: &Value, small: &Value) -> Result<bool, Error> {
    let big: Vec<Value> = big.try_iter()?.collect();
    Ok(small.try_iter()?.all(|x| big.contains(&x)))
}
