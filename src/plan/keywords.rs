//! Keywords shared by plays, roles, blocks, imports and tasks: reading them into [`Keywords`],
//! folding outer into inner, conditions, tags, and the load-time checks on values (template
//! syntax, booleans) that every part of the loader uses.

use super::model::{Cond, Keywords};
use crate::error::{LoadError, LoadResult, Span};
use crate::vocab::{is_template, rendered_boolean};
use crate::yaml::{Node, NodeKind};
use minijinja::Value;

/// Keywords accepted wherever [`common`] is called (play, role entry, block, import, task).
pub const COMMON: &[&str] = &[
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "sudo",
    "sudo_user",
    "su",
    "su_user",
    "remote_user",
    "connection",
    "port",
    "environment",
    "check_mode",
    "diff",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "any_errors_fatal",
    "run_once",
    "delegate_to",
    "delegate_facts",
    "tags",
    "when",
    "vars",
    "timeout",
    "throttle",
    "async",
    "poll",
    "debugger",
    "module_defaults",
    "collections",
];

/// Keywords a play does not take although blocks and tasks do.
pub const NOT_ON_PLAYS: &[&str] = &["when", "delegate_to", "delegate_facts", "async", "poll"];

/// `inner` as seen after inheriting from `outer`: the innermost set scalar wins, lists add up.
pub fn inherit(outer: &Keywords, inner: &Keywords) -> Keywords {
    fn pick<T: Clone>(o: &Option<T>, i: &Option<T>) -> Option<T> {
        i.clone().or_else(|| o.clone())
    }
    let mut tags = outer.tags.clone();
    for t in &inner.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Keywords {
        become_: pick(&outer.become_, &inner.become_),
        become_user: pick(&outer.become_user, &inner.become_user),
        become_method: pick(&outer.become_method, &inner.become_method),
        become_flags: pick(&outer.become_flags, &inner.become_flags),
        remote_user: pick(&outer.remote_user, &inner.remote_user),
        connection: pick(&outer.connection, &inner.connection),
        port: pick(&outer.port, &inner.port),
        environment: [outer.environment.clone(), inner.environment.clone()].concat(),
        check_mode: pick(&outer.check_mode, &inner.check_mode),
        diff: pick(&outer.diff, &inner.diff),
        ignore_errors: pick(&outer.ignore_errors, &inner.ignore_errors),
        ignore_unreachable: pick(&outer.ignore_unreachable, &inner.ignore_unreachable),
        no_log: pick(&outer.no_log, &inner.no_log),
        any_errors_fatal: pick(&outer.any_errors_fatal, &inner.any_errors_fatal),
        run_once: pick(&outer.run_once, &inner.run_once),
        delegate_to: pick(&outer.delegate_to, &inner.delegate_to),
        delegate_facts: pick(&outer.delegate_facts, &inner.delegate_facts),
        tags,
        when: [outer.when.clone(), inner.when.clone()].concat(),
        vars: [outer.vars.clone(), inner.vars.clone()].concat(),
        timeout: pick(&outer.timeout, &inner.timeout),
        async_: pick(&outer.async_, &inner.async_),
        poll: pick(&outer.poll, &inner.poll),
        throttle: pick(&outer.throttle, &inner.throttle),
        module_defaults: [outer.module_defaults.clone(), inner.module_defaults.clone()].concat(),
    }
}

/// Reads one keyword of [`COMMON`] into `kw`; false when `key` is not one of them.
pub fn common(key: &str, val: &Node, kw: &mut Keywords) -> LoadResult<bool> {
    let sudo = || Some(Value::from("sudo"));
    let su = || Some(Value::from("su"));
    match key {
        "become" => kw.become_ = Some(bool_value(val, key)?),
        "become_user" => kw.become_user = Some(value(val)?),
        "become_method" => kw.become_method = Some(value(val)?),
        "become_flags" => kw.become_flags = Some(value(val)?),
        // Legacy spellings, mapped as Ansible's _preprocess_become did.
        "sudo" => {
            kw.become_ = Some(bool_value(val, key)?);
            kw.become_method = sudo();
        }
        "sudo_user" => {
            kw.become_user = Some(value(val)?);
            kw.become_method = sudo();
        }
        "su" => {
            kw.become_ = Some(bool_value(val, key)?);
            kw.become_method = su();
        }
        "su_user" => {
            kw.become_user = Some(value(val)?);
            kw.become_method = su();
        }
        "remote_user" => kw.remote_user = Some(scalar(val, key)?),
        "connection" => kw.connection = Some(scalar(val, key)?),
        "port" => kw.port = Some(scalar(val, key)?),
        "environment" => {
            if !val.is_null() {
                if val.as_map().is_none() && !val.as_str().is_some_and(is_template) {
                    return Err(LoadError::new(
                        &val.span,
                        format!("environment must be a mapping, found {}", val.type_name()),
                    )
                    .hint(
                        "write `environment: {NAME: value}` or a \"{{ variable }}\" holding one",
                    ));
                }
                kw.environment.push(value(val)?);
            }
        }
        "check_mode" => kw.check_mode = Some(bool_value(val, key)?),
        "diff" => kw.diff = Some(bool_value(val, key)?),
        "ignore_errors" => kw.ignore_errors = Some(bool_value(val, key)?),
        "ignore_unreachable" => kw.ignore_unreachable = Some(bool_value(val, key)?),
        "no_log" => kw.no_log = Some(bool_value(val, key)?),
        "any_errors_fatal" => kw.any_errors_fatal = Some(literal_bool(val, key)?),
        "run_once" => kw.run_once = Some(bool_value(val, key)?),
        "delegate_to" => kw.delegate_to = Some(scalar(val, key)?),
        "delegate_facts" => kw.delegate_facts = Some(literal_bool(val, key)?),
        "tags" => {
            for t in tags(val)? {
                if !kw.tags.contains(&t) {
                    kw.tags.push(t);
                }
            }
        }
        "when" => kw.when.extend(conds(val)?),
        "vars" => kw.vars.extend(vars(val)?),
        "timeout" => kw.timeout = Some(whole_number(val, key)?),
        "throttle" => kw.throttle = Some(scalar(val, key)?),
        "async" => kw.async_ = Some(scalar(val, key)?),
        "poll" => kw.poll = Some(scalar(val, key)?),
        "debugger" => {
            return Err(LoadError::new(&val.span, "`debugger` is not supported")
                .hint("remove it; rerun with -v for task details"));
        }
        "module_defaults" => kw.module_defaults.extend(super::defaults::parse(val)?),
        "collections" => collections(val)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// `collections:`: only the built-in collection is known; anything else is refused.
fn collections(val: &Node) -> LoadResult<()> {
    if val.is_null() {
        return Ok(());
    }
    for item in val.expect_seq("collections")? {
        let name = item.expect_scalar_string("a collection name")?;
        if name != "ansible.builtin" && name != "ansible.legacy" {
            return Err(LoadError::new(
                &item.span,
                format!("collection `{}` is not supported", name),
            )
            .hint("rmesos has its modules built in; remove the entry and use the modules' short or ansible.builtin names"));
        }
    }
    Ok(())
}

/// `vars:` of a play, block, task, role entry or import: a mapping, or (as older Ansible took
/// it; 2.19 refuses it) a list of mappings merged in order, later keys winning. `None` when empty.
pub fn vars(node: &Node) -> LoadResult<Option<Value>> {
    match &node.kind {
        NodeKind::Null => Ok(None),
        NodeKind::Seq(items) => {
            let mut maps = Vec::new();
            for item in items.iter().filter(|i| !i.is_null()) {
                if item.as_map().is_none() {
                    return Err(vars_shape(item));
                }
                maps.push(value(item)?);
            }
            Ok(Some(super::load::merge_maps(maps.iter())))
        }
        NodeKind::Map(_) => Ok(Some(value(node)?)),
        _ => Err(vars_shape(node)),
    }
}

fn vars_shape(node: &Node) -> LoadError {
    LoadError::new(
        &node.span,
        format!(
            "vars must be a mapping (or a list of mappings), found {}",
            node.type_name()
        ),
    )
    .hint("write `vars: {name: value}`")
}

/// A value kept raw for run-time templating; its strings' template syntax is checked now.
pub fn value(node: &Node) -> LoadResult<Value> {
    check_templates(node)?;
    Ok(node.to_value())
}

/// A scalar value (string, number, boolean), kept raw.
pub fn scalar(node: &Node, what: &str) -> LoadResult<Value> {
    node.expect_scalar_string(what)?;
    value(node)
}

/// A boolean keyword kept raw for run time: a template, or a value that is a boolean already.
/// `become: maybe` is refused here rather than read as false when the task runs.
pub fn bool_value(node: &Node, what: &str) -> LoadResult<Value> {
    if !node.as_str().is_some_and(is_template) {
        literal_bool(node, what)?;
    }
    value(node)
}

/// A whole-number keyword (`timeout`) kept raw: a template, or a number of 0 or more.
pub fn whole_number(node: &Node, what: &str) -> LoadResult<Value> {
    let ok = match &node.kind {
        NodeKind::Int(i) => *i >= 0,
        NodeKind::Str(s) => is_template(s) || s.trim().parse::<u64>().is_ok(),
        _ => false,
    };
    if !ok {
        let found = match &node.kind {
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Str(s) => format!("{s:?}"),
            _ => node.type_name().to_string(),
        };
        return Err(LoadError::new(
            &node.span,
            format!("{what} must be a whole number of 0 or more, found {found}"),
        ));
    }
    value(node)
}

/// A boolean that must be known at load time (YAML bool or an Ansible boolean string).
pub fn literal_bool(node: &Node, what: &str) -> LoadResult<bool> {
    let parsed = match &node.kind {
        NodeKind::Bool(b) => Some(*b),
        NodeKind::Int(0) => Some(false),
        NodeKind::Int(1) => Some(true),
        NodeKind::Str(s) => rendered_boolean(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        LoadError::new(
            &node.span,
            format!("{} must be a boolean, found {}", what, node.type_name()),
        )
        .hint("write yes/no or true/false (a template is not allowed here)")
    })
}

/// Checks the template syntax of every string in `node`.
pub fn check_templates(node: &Node) -> LoadResult<()> {
    match &node.kind {
        NodeKind::Str(s) => check_template_str(s, &node.span, node.unsafe_str),
        NodeKind::Seq(items) => items.iter().try_for_each(check_templates),
        NodeKind::Map(entries) => entries.iter().try_for_each(|(_, v)| check_templates(v)),
        _ => Ok(()),
    }
}

pub fn check_template_str(s: &str, span: &Span, unsafe_str: bool) -> LoadResult<()> {
    if unsafe_str || !is_template(s) {
        return Ok(());
    }
    crate::vars::check_syntax(s).map_err(|e| {
        let at = if e.line > 1 {
            format!(" (line {} of the text)", e.line)
        } else {
            String::new()
        };
        LoadError::new(span, format!("template syntax error{}: {}", at, e.msg))
            .hint("check the {{ }} and {% %} pairs and the expression inside")
    })
}

/// `when:`-style conditions: a bare expression, a legacy `"{{ expr }}"`, a boolean, or a list.
pub fn conds(node: &Node) -> LoadResult<Vec<Cond>> {
    match &node.kind {
        NodeKind::Null => Ok(vec![]),
        NodeKind::Seq(items) => {
            let mut out = Vec::new();
            for i in items {
                out.extend(conds(i)?);
            }
            Ok(out)
        }
        NodeKind::Bool(b) => Ok(vec![Cond {
            expr: if *b { "True" } else { "False" }.into(),
            span: node.span.clone(),
        }]),
        NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Str(_) => {
            let text = node.expect_scalar_string("a condition")?;
            let expr = unwrap_expr(&text).to_string();
            if is_template(&expr) {
                return Err(LoadError::new(
                    &node.span,
                    "a condition is a bare expression and cannot contain {{ }} or {% %}",
                )
                .hint("write `when: x == 1`, not `when: \"{{ x }} == 1\"`"));
            }
            crate::vars::check_expr_syntax(&expr).map_err(|msg| {
                LoadError::new(&node.span, format!("condition syntax error: {}", msg))
                    .hint("a condition is a Jinja expression such as `x is defined and x | bool`")
            })?;
            Ok(vec![Cond {
                expr,
                span: node.span.clone(),
            }])
        }
        NodeKind::Map(_) => Err(LoadError::new(
            &node.span,
            "a condition must be an expression, a boolean or a list of them, found a mapping",
        )
        .hint("a `key: value` inside a condition usually means it needs quotes")),
    }
}

/// `"{{ x }}"` → `x` (the legacy form); anything else unchanged.
fn unwrap_expr(s: &str) -> &str {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return inner.trim();
    }
    t
}

/// `tags:` as a comma-separated string, a list, or a number.
pub fn tags(node: &Node) -> LoadResult<Vec<String>> {
    let mut out = Vec::new();
    let mut add = |s: String| {
        for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if !out.iter().any(|o: &String| o == t) {
                out.push(t.to_string());
            }
        }
    };
    match &node.kind {
        NodeKind::Null => {}
        NodeKind::Seq(items) => {
            for i in items {
                add(i.expect_scalar_string("a tag")?);
            }
        }
        _ => add(node.expect_scalar_string("tags")?),
    }
    Ok(out)
}

/// A string or a list of strings.
pub fn string_list(node: &Node, what: &str) -> LoadResult<Vec<(String, Span)>> {
    match &node.kind {
        NodeKind::Null => Ok(vec![]),
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| Ok((i.expect_scalar_string(what)?, i.span.clone())))
            .collect(),
        _ => Ok(vec![(node.expect_scalar_string(what)?, node.span.clone())]),
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A "did you mean" hint, or a fallback.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    fallback: &str,
) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{}`?", c),
        None => fallback.to_string(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The key of a mapping entry as text, else a located error.
pub fn key_str(k: &Node) -> LoadResult<String> {
    k.key_string()
        .ok_or_else(|| LoadError::new(&k.span, "a key must be a string"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::load_str;

    fn node(s: &str) -> Node {
        load_str(s, "k.yml").unwrap().remove(0)
    }

    #[test]
    fn inherit_folds_scalars_and_lists() {
        let mut outer = Keywords::default();
        common("become", &node("yes"), &mut outer).unwrap();
        common("tags", &node("a, b"), &mut outer).unwrap();
        common("when", &node("x"), &mut outer).unwrap();
        common("remote_user", &node("alice"), &mut outer).unwrap();
        let mut inner = Keywords::default();
        common("become", &node("no"), &mut inner).unwrap();
        common("tags", &node("[b, c]"), &mut inner).unwrap();
        common("when", &node("'{{ y }}'"), &mut inner).unwrap();
        let k = inherit(&outer, &inner);
        assert_eq!(k.become_, Some(Value::from(false)));
        assert_eq!(k.remote_user, Some(Value::from("alice")));
        assert_eq!(k.tags, vec!["a", "b", "c"]);
        let w: Vec<_> = k.when.iter().map(|c| c.expr.as_str()).collect();
        assert_eq!(w, vec!["x", "y"]);
    }

    #[test]
    fn legacy_sudo_and_su() {
        let mut k = Keywords::default();
        common("sudo", &node("yes"), &mut k).unwrap();
        common("sudo_user", &node("hdfs"), &mut k).unwrap();
        assert_eq!(k.become_, Some(Value::from(true)));
        assert_eq!(k.become_user, Some(Value::from("hdfs")));
        assert_eq!(k.become_method, Some(Value::from("sudo")));
        common("su_user", &node("zk"), &mut k).unwrap();
        assert_eq!(k.become_method, Some(Value::from("su")));
    }

    #[test]
    fn int_tags_and_bool_conditions() {
        assert_eq!(tags(&node("42")).unwrap(), vec!["42"]);
        let c = conds(&node("[true, 'a is defined']")).unwrap();
        assert_eq!(c[0].expr, "True");
        assert_eq!(c[1].expr, "a is defined");
    }

    #[test]
    fn closest_keyword() {
        assert_eq!(closest("whne", COMMON.iter().copied()), Some("when"));
        assert_eq!(closest("zzzzzzzz", COMMON.iter().copied()), None);
    }
}
