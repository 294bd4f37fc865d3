//! JSON and YAML text the way Ansible's `to_json`, `to_nice_json`, `to_yaml` and `to_nice_yaml`
//! write it (Python's `json.dumps`, PyYAML's `dump`), so rendered files match Ansible's byte for
//! byte in the common cases.

use minijinja::Value;
use minijinja::value::ValueKind;

/// Python `json.dumps` options.
pub(super) struct JsonStyle {
    pub indent: Option<usize>,
    pub sort_keys: bool,
}

pub(super) fn to_json(v: &Value, style: &JsonStyle) -> String {
    let mut out = String::new();
    json_value(v, style, 0, &mut out);
    out
}

fn entries(v: &Value, sort: bool) -> Vec<(Value, Value)> {
    let mut pairs: Vec<(Value, Value)> = match v.try_iter() {
        Ok(iter) => iter
            .map(|k| {
                let item = v.get_item(&k).unwrap_or_default();
                (k, item)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if sort {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
    }
    pairs
}

fn json_value(v: &Value, style: &JsonStyle, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = style.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if style.indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&v.to_string()),
        ValueKind::String => json_string(v.as_str().unwrap_or(""), out),
        ValueKind::Map => {
            let pairs = entries(v, style.sort_keys);
            if pairs.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_string(&crate::vocab::python_str(k), out);
                out.push_str(": ");
                json_value(item, style, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter().map(|i| i.collect()).unwrap_or_default();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_value(item, style, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        _ => json_string(&v.to_string(), out),
    }
}

/// A JSON string with Python's `ensure_ascii=True` escaping.
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// PyYAML `dump` options: `to_yaml` is `flow_leaves` (default_flow_style=None) with indent 2;
/// `to_nice_yaml` is block style with indent 4. Keys are sorted, as PyYAML does by default.
pub(super) struct YamlStyle {
    pub indent: usize,
    pub flow_leaves: bool,
}

pub(super) fn to_yaml(v: &Value, style: &YamlStyle) -> String {
    let mut out = String::new();
    if is_collection(v) && !is_empty_collection(v) && !(style.flow_leaves && is_leaf(v)) {
        yaml_block(v, style, 0, &mut out);
    } else {
        yaml_flow(v, &mut out);
        out.push('\n');
    }
    out
}

fn is_collection(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable
    )
}

fn is_empty_collection(v: &Value) -> bool {
    is_collection(v) && v.try_iter().map(|mut i| i.next().is_none()).unwrap_or(true)
}

/// A collection holding only scalars: PyYAML's default_flow_style=None writes it inline.
fn is_leaf(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Map => entries(v, false).iter().all(|(_, i)| !is_collection(i)),
        ValueKind::Seq | ValueKind::Iterable => v
            .try_iter()
            .map(|mut i| i.all(|x| !is_collection(&x)))
            .unwrap_or(true),
        _ => true,
    }
}

fn inline(v: &Value, style: &YamlStyle) -> bool {
    !is_collection(v) || is_empty_collection(v) || (style.flow_leaves && is_leaf(v))
}

/// Writes a non-empty block collection at `depth` columns; the caller has written the line's
/// start (indentation or `key:`/`- ` prefix) only for the first line where noted.
fn yaml_block(v: &Value, style: &YamlStyle, depth: usize, out: &mut String) {
    let pad = " ".repeat(depth);
    match v.kind() {
        ValueKind::Map => {
            for (k, item) in entries(v, true) {
                out.push_str(&pad);
                yaml_scalar(&crate::vocab::python_str(&k), out);
                out.push(':');
                yaml_child(&item, style, depth, true, out);
            }
        }
        _ => {
            for item in v
                .try_iter()
                .map(|i| i.collect::<Vec<_>>())
                .unwrap_or_default()
            {
                out.push_str(&pad);
                out.push('-');
                yaml_seq_item(&item, style, depth, out);
            }
        }
    }
}

/// The value after `key:`. PyYAML does not indent a block sequence under a mapping key.
fn yaml_child(item: &Value, style: &YamlStyle, depth: usize, _in_map: bool, out: &mut String) {
    if inline(item, style) {
        out.push(' ');
        yaml_flow(item, out);
        out.push('\n');
    } else {
        out.push('\n');
        let child_depth = if item.kind() == ValueKind::Map {
            depth + style.indent
        } else {
            depth
        };
        yaml_block(item, style, child_depth, out);
    }
}

/// The value after `-`: a scalar follows one space; a nested block is padded to the indent
/// width and starts on the dash's line (PyYAML's layout).
fn yaml_seq_item(item: &Value, style: &YamlStyle, depth: usize, out: &mut String) {
    if inline(item, style) {
        out.push(' ');
        yaml_flow(item, out);
        out.push('\n');
        return;
    }
    out.push_str(&" ".repeat(style.indent.saturating_sub(1).max(1)));
    let mut nested = String::new();
    yaml_block(item, style, depth + style.indent, &mut nested);
    // The first line of the nested block goes right after the dash.
    out.push_str(nested.get(depth + style.indent..).unwrap_or(""));
}

fn yaml_flow(v: &Value, out: &mut String) {
    match v.kind() {
        ValueKind::Map => {
            out.push('{');
            for (i, (k, item)) in entries(v, true).iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                yaml_scalar(&crate::vocab::python_str(k), out);
                out.push_str(": ");
                yaml_flow(item, out);
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v
                .try_iter()
                .map(|i| i.collect::<Vec<_>>())
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if i > 0 {
                    out.push_str(", ");
                }
                yaml_flow(item, out);
            }
            out.push(']');
        }
        ValueKind::None | ValueKind::Undefined => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&v.to_string()),
        _ => yaml_scalar(&crate::vocab::python_str(v), out),
    }
}

/// A string scalar: plain when YAML would read it back as the same string, else quoted.
fn yaml_scalar(s: &str, out: &mut String) {
    if s.chars().any(|c| c.is_control()) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    } else if needs_quotes(s) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        out.push_str(s);
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    if !matches!(
        crate::yaml::resolve_plain_scalar(s),
        crate::yaml::NodeKind::Str(_)
    ) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-x` and `:x` are plain in PyYAML only when not followed by a space; keep it simple.
        return !(first == '-' || first == ':') || s.len() == 1 || s[1..].starts_with(' ');
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':')
}
