//! Ansible's chainable undefined where it matters: `a.b.c is defined` and `a.b.c | default(x)`
//! are false/`x` in Ansible even when `a` or `a.b` is missing, while minijinja's strict mode
//! fails on the attribute of an undefined value. Before compiling, such paths inside tags are
//! rewritten to `__rmesos_defined(a, 'b', 'c')` / `__rmesos_path(a, 'b', 'c')`, which walk the
//! path and stop at the first missing step. Everything else keeps strict semantics.

use minijinja::value::Rest;
use minijinja::{Environment, Value};
use std::borrow::Cow;

const DEFINED_FN: &str = "__rmesos_defined";
const PATH_FN: &str = "__rmesos_path";

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_function(DEFINED_FN, |root: Value, steps: Rest<Value>| {
        !walk(root, &steps).is_undefined()
    });
    env.add_function(PATH_FN, |root: Value, steps: Rest<Value>| {
        walk(root, &steps)
    });
}

fn walk(root: Value, steps: &[Value]) -> Value {
    let mut v = root;
    for step in steps {
        if v.is_undefined() || v.is_none() {
            return Value::UNDEFINED;
        }
        v = v.get_item(step).unwrap_or_default();
    }
    v
}

/// Rewrites chained paths inside `{{ }}` and `{% %}` tags (not in text, comments or raw
/// blocks). Line numbers are unchanged: no newline is added or removed.
pub(super) fn rewrite_template(src: &str) -> Cow<'_, str> {
    if !(src.contains("defined") || src.contains("d(") || src.contains("default")) {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + 32);
    let mut rest = src;
    loop {
        let Some(open) = rest.find("{{").into_iter().chain(rest.find("{%")).min() else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..open]);
        let closer = if rest[open..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let body_start = open + 2;
        let Some(len) = tag_length(&rest[body_start..], closer) else {
            out.push_str(&rest[open..]);
            break;
        };
        let body = &rest[body_start..body_start + len];
        out.push_str(&rest[open..body_start]);
        if closer == "%}" && is_raw_open(body) {
            // Copy up to and including the matching endraw tag untouched.
            let after = &rest[body_start..];
            let end = find_endraw(after).unwrap_or(after.len());
            out.push_str(&after[..end]);
            rest = &after[end..];
            continue;
        }
        out.push_str(&rewrite_expr(body));
        out.push_str(closer);
        rest = &rest[body_start + len + 2..];
    }
    Cow::Owned(out)
}

fn is_raw_open(body: &str) -> bool {
    body.trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+') == "raw"
}

/// Offset just past the `{% endraw %}` tag in `s`.
fn find_endraw(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("{%") {
        let start = from + i + 2;
        let end = start + s[start..].find("%}")?;
        if s[start..end].trim_matches(|c: char| c.is_whitespace() || c == '-' || c == '+')
            == "endraw"
        {
            return Some(end + 2);
        }
        from = end + 2;
    }
    None
}

/// Length of the tag body up to `closer`, skipping string literals.
fn tag_length(s: &str, closer: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => i = skip_string(bytes, i, q),
            // Compared as bytes: `i` steps through multi-byte characters (`é`), where a
            // `str` slice would panic.
            _ if bytes[i..].starts_with(closer.as_bytes()) => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Index just past the string literal starting at `i` (quote `q`).
fn skip_string(bytes: &[u8], mut i: usize, q: u8) -> usize {
    i += 1;
    while i < bytes.len() && bytes[i] != q {
        if bytes[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    (i + 1).min(bytes.len())
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn ident_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && is_ident(bytes[i]) {
        i += 1;
    }
    i
}

/// Rewrites `path is [not] defined|undefined` and `path | default(`/`| d(` in one expression.
fn rewrite_expr(expr: &str) -> String {
    let bytes = expr.as_bytes();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\'' || b == b'"' {
            i = skip_string(bytes, i, b);
            continue;
        }
        let boundary =
            i == 0 || !(is_ident(bytes[i - 1]) || matches!(bytes[i - 1], b'.' | b')' | b']'));
        if !(is_ident_start(b) && boundary) {
            i += 1;
            continue;
        }
        let root_end = ident_end(bytes, i);
        let (steps, path_end) = path_steps(expr, root_end);
        if steps.is_empty() {
            i = root_end;
            continue;
        }
        let root = &expr[i..root_end];
        let args = format!("{root}, {}", steps.join(", "));
        match what_follows(expr, path_end) {
            Some(Follow::Test { negate, test_end }) => {
                out.push_str(&expr[copied..i]);
                if negate {
                    out.push_str("not ");
                }
                out.push_str(&format!("{DEFINED_FN}({args})"));
                i = test_end;
                copied = i;
            }
            Some(Follow::Default) => {
                out.push_str(&expr[copied..i]);
                out.push_str(&format!("{PATH_FN}({args})"));
                i = path_end;
                copied = i;
            }
            None => i = path_end,
        }
    }
    out.push_str(&expr[copied..]);
    out
}

/// The `.name`, `.0` and `[expr]` steps after a root; each as an argument expression.
fn path_steps(expr: &str, mut i: usize) -> (Vec<String>, usize) {
    let bytes = expr.as_bytes();
    let mut steps = Vec::new();
    loop {
        match bytes.get(i) {
            Some(b'.') if bytes.get(i + 1).is_some_and(|b| is_ident(*b)) => {
                let end = ident_end(bytes, i + 1);
                let name = &expr[i + 1..end];
                if name.bytes().all(|b| b.is_ascii_digit()) {
                    steps.push(name.to_string());
                } else {
                    steps.push(format!("'{name}'"));
                }
                i = end;
            }
            Some(b'[') => {
                let Some(close) = bracket_end(bytes, i) else {
                    return (steps, i);
                };
                let inner = expr[i + 1..close].trim();
                if inner.is_empty() || inner.contains(':') {
                    // a slice: not a path step
                    return (steps, i);
                }
                steps.push(inner.to_string());
                i = close + 1;
            }
            _ => return (steps, i),
        }
    }
}

fn bracket_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"') => {
                i = skip_string(bytes, i, q);
                continue;
            }
            b'[' => depth += 1,
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

enum Follow {
    Test { negate: bool, test_end: usize },
    Default,
}

fn what_follows(expr: &str, at: usize) -> Option<Follow> {
    let rest = &expr[at..];
    let trimmed = rest.trim_start();
    if let Some(after_is) = trimmed.strip_prefix("is")
        && after_is.starts_with(char::is_whitespace)
    {
        let mut words = after_is.trim_start();
        let mut negate = false;
        if let Some(after_not) = words.strip_prefix("not")
            && after_not.starts_with(char::is_whitespace)
        {
            negate = true;
            words = after_not.trim_start();
        }
        for (word, flips) in [("defined", false), ("undefined", true)] {
            if let Some(after) = words.strip_prefix(word)
                && !after.bytes().next().is_some_and(is_ident)
            {
                let test_end = expr.len() - after.len();
                return Some(Follow::Test {
                    negate: negate ^ flips,
                    test_end,
                });
            }
        }
        return None;
    }
    let filter = trimmed.strip_prefix('|')?.trim_start();
    for name in ["default", "d"] {
        if let Some(after) = filter.strip_prefix(name)
            && !after.bytes().next().is_some_and(is_ident)
        {
            return Some(Follow::Default);
        }
    }
    None
}

#[cfg(test)]
mod rewrite {
    use super::rewrite_template;

    #[test]
    fn rewrites_paths_in_tags_only() {
        assert_eq!(
            rewrite_template("{{ a.b.c is defined }}"),
            "{{ __rmesos_defined(a, 'b', 'c') }}"
        );
        assert_eq!(
            rewrite_template("{% if x['k'].y is not defined %}a.b is defined{% endif %}"),
            "{% if not __rmesos_defined(x, 'k', 'y') %}a.b is defined{% endif %}"
        );
        assert_eq!(
            rewrite_template("{{ l.0 is undefined }}"),
            "{{ not __rmesos_defined(l, 0) }}"
        );
        assert_eq!(
            rewrite_template("{{ a.b | default('x') }}"),
            "{{ __rmesos_path(a, 'b') | default('x') }}"
        );
        assert_eq!(rewrite_template("{{ a is defined }}"), "{{ a is defined }}");
        assert_eq!(
            rewrite_template("{{ 'a.b is defined' }}"),
            "{{ 'a.b is defined' }}"
        );
        assert_eq!(
            rewrite_template("{{ f(a).b is defined }}"),
            "{{ f(a).b is defined }}"
        );
        assert_eq!(
            rewrite_template("{% raw %}{{ a.b is defined }}{% endraw %}"),
            "{% raw %}{{ a.b is defined }}{% endraw %}"
        );
    }

    #[test]
    fn non_ascii_in_a_tag_is_kept() {
        // Found by tests/fuzz.rs: a multi-byte character before the closer used to panic.
        assert_eq!(rewrite_template("{{ é }}"), "{{ é }}");
        assert_eq!(
            rewrite_template("{{ 'é' ~ a.b | d('ü') }}é"),
            "{{ 'é' ~ __rmesos_path(a, 'b') | d('ü') }}é"
        );
    }
}
