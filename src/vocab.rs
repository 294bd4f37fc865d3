//! The Ansible vocabulary every layer speaks: how a boolean may be spelled, what makes a string a
//! template, and how Python prints a value. A leaf: it imports nothing from the crate, so the
//! loader, the templar, the inventory, the connection settings and the modules all agree.

use minijinja::Value;
use minijinja::value::ValueKind;

/// What `{{ ansible_managed }}` says in a template when no `ansible_managed` variable is set
/// (Ansible's DEFAULT_MANAGED_STR).
pub const ANSIBLE_MANAGED: &str = "Ansible managed";

/// Ansible's boolean spellings (`ansible.module_utils.parsing.convert_bool.boolean`): `yes`, `y`,
/// `true`, `t`, `on`, `1` and `no`, `n`, `false`, `f`, `off`, `0`, in any case, surrounding
/// whitespace ignored. Anything else is not a boolean.
pub fn boolean(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "f" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A boolean given as text that may come from a rendered template: [`boolean`]'s spellings, plus
/// what a template prints for values Ansible would have kept typed: `1.0`/`0.0` (the floats 1.0
/// and 0.0, which `boolean` accepts as numbers) and the empty string (None, "not given": false).
/// Module arguments, play keywords and connection variables are read this way.
pub fn rendered_boolean(s: &str) -> Option<bool> {
    boolean(s).or_else(|| match s.trim() {
        "1.0" => Some(true),
        "0.0" | "" => Some(false),
        _ => None,
    })
}

/// A number of seconds as keywords write it (`5`, `0.5`, `"2"`): finite, not negative, and small
/// enough for a [`Duration`](std::time::Duration). Anything else (`-1`, `.nan`, `1e20`, `abc`)
/// is not a duration: the caller says so with the keyword's location instead of panicking.
pub fn seconds(s: &str) -> Option<std::time::Duration> {
    let secs: f64 = s.trim().parse().ok()?;
    std::time::Duration::try_from_secs_f64(secs).ok()
}

/// Whether a string is (or contains) a Jinja template (`{{ }}`, `{% %}` or a `{# #}` comment),
/// and so must be rendered before it is used.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

/// Python's `str()` of a value: a string as it is, an undefined value as nothing (Jinja2's
/// `Undefined` prints empty), anything else as [`python_repr`].
pub fn python_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or("").to_string(),
        ValueKind::Undefined => String::new(),
        _ => python_repr(value),
    }
}

/// Python's `repr()` of a value: `None`, `True`, `'text'`, `1.0`, `['a', 1]`, `{'k': 'v'}`.
pub fn python_repr(value: &Value) -> String {
    let mut out = String::new();
    push_repr(value, &mut out);
    out
}

fn push_repr(value: &Value, out: &mut String) {
    match value.kind() {
        ValueKind::None => out.push_str("None"),
        ValueKind::Undefined => {}
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::String => push_quoted(value.as_str().unwrap_or(""), out),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) if !value.is_integer() => out.push_str(&python_float(f)),
            _ => out.push_str(&value.to_string()),
        },
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(iter) = value.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    push_repr(&item, out);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = value.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    push_repr(&key, out);
                    out.push_str(": ");
                    push_repr(&value.get_item(&key).unwrap_or_default(), out);
                }
            }
            out.push('}');
        }
        _ => out.push_str(&value.to_string()),
    }
}

/// Python's `repr()` of a string: single quotes unless the text has one and no double quote.
fn push_quoted(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `repr()` of a float: the shortest text that reads back the same, with a `.0` when it
/// is whole, in exponent form (`1e+16`, `1.5e-05`) outside 1e-4 <= |f| < 1e16.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let mut s = f.to_string();
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansible_boolean_spellings() {
        for t in ["yes", "Y", "TRUE", "t", "On", "1", " yes "] {
            assert_eq!(boolean(t), Some(true), "{t}");
        }
        for f in ["no", "N", "False", "f", "OFF", "0"] {
            assert_eq!(boolean(f), Some(false), "{f}");
        }
        for x in ["", "1.0", "0.0", "none", "2", "yess"] {
            assert_eq!(boolean(x), None, "{x}");
        }
    }

    #[test]
    fn rendered_boolean_adds_floats_and_empty() {
        assert_eq!(rendered_boolean("1.0"), Some(true));
        assert_eq!(rendered_boolean("0.0"), Some(false));
        assert_eq!(rendered_boolean(""), Some(false));
        assert_eq!(rendered_boolean(" "), Some(false));
        assert_eq!(rendered_boolean("T"), Some(true));
        assert_eq!(rendered_boolean("maybe"), None);
    }

    #[test]
    fn template_markers() {
        assert!(is_template("{{ x }}"));
        assert!(is_template("a {% if x %}b{% endif %}"));
        assert!(is_template("{# note #}plain"));
        assert!(!is_template("plain { text } with braces"));
        assert!(!is_template("50%"));
    }

    /// What the inventory's `--graph --vars` and `--list` printed.
    #[test]
    fn python_str_of_values() {
        assert_eq!(python_str(&Value::from("a b")), "a b");
        assert_eq!(python_str(&Value::from(true)), "True");
        assert_eq!(python_str(&Value::from(())), "None");
        assert_eq!(python_str(&Value::from(1000.0)), "1000.0");
        assert_eq!(
            python_str(&Value::from(vec![Value::from(1), Value::from("it's")])),
            "[1, \"it's\"]"
        );
        let m = Value::from(indexmap::IndexMap::from([(
            Value::from("k"),
            Value::from(vec!["v"]),
        )]));
        assert_eq!(python_str(&m), "{'k': ['v']}");
    }

    /// What the templar printed for `{{ value }}` and the filters read as text.
    #[test]
    fn python_str_as_jinja_prints() {
        assert_eq!(python_str(&Value::UNDEFINED), "");
        assert_eq!(python_str(&Value::from(false)), "False");
        assert_eq!(python_str(&Value::from(42)), "42");
        assert_eq!(python_str(&Value::from(-3)), "-3");
        assert_eq!(python_str(&Value::from(2.5)), "2.5");
        assert_eq!(
            python_str(&Value::from(vec![
                Value::from("a\tb\\"),
                Value::from(()),
                Value::from(true)
            ])),
            "['a\\tb\\\\', None, True]"
        );
        assert_eq!(python_repr(&Value::from("say \"hi\"")), "'say \"hi\"'");
        assert_eq!(python_repr(&Value::from("it's \"x\"")), "'it\\'s \"x\"'");
        assert_eq!(python_repr(&Value::from("a\nb\r")), "'a\\nb\\r'");
        let inner = Value::from_pairs([("b", Value::from(vec![Value::from(1), Value::from("c")]))]);
        let nested = Value::from_pairs([("a", inner), ("d", Value::from(()))]);
        assert_eq!(python_str(&nested), "{'a': {'b': [1, 'c']}, 'd': None}");
    }

    /// Python's float repr, including where Rust's and Python's defaults differ.
    #[test]
    fn python_floats() {
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(-0.0), "-0.0");
        assert_eq!(python_float(1e15), "1000000000000000.0");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(
            python_float(1.2345678901234568e17),
            "1.2345678901234568e+17"
        );
        assert_eq!(python_float(0.0001), "0.0001");
        assert_eq!(python_float(1.5e-5), "1.5e-05");
        assert_eq!(python_float(f64::NAN), "nan");
        assert_eq!(python_float(f64::NEG_INFINITY), "-inf");
    }
}
