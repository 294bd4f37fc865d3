//! Builds [`Node`] trees from saphyr-parser events, resolving scalars as YAML 1.1 (PyYAML).

use super::node::{Node, NodeKind};
use crate::error::{LoadError, LoadResult, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan, Tag};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Reads and parses a file; returns its documents (an empty file gives none).
pub fn load_file(path: &Path) -> LoadResult<Vec<Node>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| LoadError::plain(format!("{}: cannot read: {}", path.display(), e)))?;
    load_str(&text, &path.display().to_string())
}

/// Parses YAML text; `file` names it in positions.
pub fn load_str(text: &str, file: &str) -> LoadResult<Vec<Node>> {
    let file: Arc<str> = Arc::from(file);
    let mut b = Builder {
        file: file.clone(),
        anchors: HashMap::new(),
    };
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    loop {
        let (ev, _span) = b.next(&mut parser)?;
        match ev {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let (ev, span) = b.next(&mut parser)?;
                if matches!(ev, Event::DocumentEnd) {
                    continue;
                }
                docs.push(b.node(&mut parser, ev, span)?);
                let (end, span) = b.next(&mut parser)?;
                if !matches!(end, Event::DocumentEnd) {
                    return Err(LoadError::new(&b.span(&span), "expected end of document"));
                }
            }
            _ => {}
        }
    }
    Ok(docs)
}

struct Builder {
    file: Arc<str>,
    anchors: HashMap<usize, Node>,
}

impl Builder {
    fn span(&self, s: &YSpan) -> Span {
        Span {
            file: self.file.clone(),
            line: s.start.line() as u32,
            col: s.start.col() as u32 + 1,
        }
    }

    fn next<'a>(
        &self,
        p: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    ) -> LoadResult<(Event<'a>, YSpan)> {
        match p.next_event() {
            Some(Ok(x)) => Ok(x),
            Some(Err(e)) => Err(LoadError::new(
                &Span {
                    file: self.file.clone(),
                    line: e.marker().line() as u32,
                    col: e.marker().col() as u32 + 1,
                },
                format!("YAML syntax error: {}", e.info()),
            )
            .hint("check indentation and quoting; a value that starts with {{ must be quoted")),
            None => Err(LoadError::plain(format!(
                "{}: unexpected end of YAML",
                self.file
            ))),
        }
    }

    fn check_tag(&self, tag: &Option<Cow<'_, Tag>>, span: &Span) -> LoadResult<Option<String>> {
        let Some(tag) = tag else { return Ok(None) };
        let name = format!("{}{}", tag.handle, tag.suffix);
        match name.as_str() {
            "!unsafe" => Ok(Some(name)),
            "!vault" => Err(LoadError::new(span, "!vault values are not supported")
                .hint("keep secrets out of the playbook: use lookup('env', 'NAME') or lookup('file', PATH) in a vars file")),
            n if n.starts_with("tag:yaml.org,2002:") || n.starts_with("!!") => Ok(Some(name)),
            _ => Err(LoadError::new(span, format!("unsupported YAML tag {}", name))
                .hint("remove the tag; only !unsafe and the core !!str/!!int/!!float/!!bool/!!null tags are understood")),
        }
    }

    fn node<'a>(
        &mut self,
        p: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
        ev: Event<'a>,
        yspan: YSpan,
    ) -> LoadResult<Node> {
        let span = self.span(&yspan);
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                let n =
                    self.anchors.get(&id).cloned().ok_or_else(|| {
                        LoadError::new(&span, "alias refers to an unknown anchor")
                    })?;
                return Ok(n);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = self.check_tag(&tag, &span)?;
                let mut n = Node::new(scalar_kind(&text, style, tag.as_deref(), &span)?, span);
                n.unsafe_str = tag.as_deref() == Some("!unsafe");
                (n, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(&tag, &span)?;
                let mut items = Vec::new();
                loop {
                    let (ev, s) = self.next(p)?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(p, ev, s)?);
                }
                (Node::new(NodeKind::Seq(items), span), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(&tag, &span)?;
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut merged: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (ev, s) = self.next(p)?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(p, ev, s)?;
                    let (vev, vs) = self.next(p)?;
                    let value = self.node(p, vev, vs)?;
                    if key.as_str() == Some("<<") {
                        self.merge_into(&mut merged, &value)?;
                        continue;
                    }
                    if let Some(ks) = key.key_string()
                        && let Some(pos) = entries
                            .iter()
                            .position(|(k, _)| k.key_string().as_deref() == Some(&ks))
                    {
                        // PyYAML keeps the last duplicate; so do we.
                        entries.remove(pos);
                    }
                    entries.push((key, value));
                }
                for (k, v) in merged {
                    let ks = k.key_string();
                    if !entries.iter().any(|(ek, _)| ek.key_string() == ks) {
                        entries.push((k, v));
                    }
                }
                (Node::new(NodeKind::Map(entries), span), anchor)
            }
            other => {
                return Err(LoadError::new(
                    &span,
                    format!("unexpected YAML event {:?}", other),
                ));
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn merge_into(&self, merged: &mut Vec<(Node, Node)>, value: &Node) -> LoadResult<()> {
        match &value.kind {
            NodeKind::Map(m) => {
                for (k, v) in m {
                    let ks = k.key_string();
                    if !merged.iter().any(|(mk, _)| mk.key_string() == ks) {
                        merged.push((k.clone(), v.clone()));
                    }
                }
                Ok(())
            }
            NodeKind::Seq(items) => {
                for item in items {
                    self.merge_into(merged, item)?;
                }
                Ok(())
            }
            _ => Err(LoadError::new(
                &value.span,
                "merge key << needs a mapping or a list of mappings",
            )),
        }
    }
}

fn scalar_kind(
    text: &str,
    style: ScalarStyle,
    tag: Option<&str>,
    span: &Span,
) -> LoadResult<NodeKind> {
    let tag = tag.map(|t| {
        t.trim_start_matches("tag:yaml.org,2002:")
            .trim_start_matches("!!")
    });
    match tag {
        Some("str") | Some("!unsafe") => return Ok(NodeKind::Str(text.to_string())),
        Some("int") | Some("float") | Some("bool") | Some("null") => {
            let k = resolve_plain_scalar(text);
            let ok = matches!(
                (&k, tag),
                (NodeKind::Int(_), Some("int"))
                    | (NodeKind::Float(_), Some("float"))
                    | (NodeKind::Int(_), Some("float"))
                    | (NodeKind::Bool(_), Some("bool"))
                    | (NodeKind::Null, Some("null"))
            );
            if !ok {
                return Err(LoadError::new(
                    span,
                    format!("{:?} is not a valid !!{}", text, tag.unwrap_or("")),
                ));
            }
            return Ok(match (k, tag) {
                (NodeKind::Int(i), Some("float")) => NodeKind::Float(i as f64),
                (k, _) => k,
            });
        }
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(NodeKind::Str(text.to_string()));
    }
    Ok(resolve_plain_scalar(text))
}

/// YAML 1.1 implicit resolution of a plain scalar, as PyYAML does it.
pub fn resolve_plain_scalar(text: &str) -> NodeKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return NodeKind::Bool(true);
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return NodeKind::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_yaml11_int(text) {
        return NodeKind::Int(i);
    }
    if is_yaml11_float(text)
        && let Ok(f) = text.replace('_', "").parse::<f64>()
    {
        return NodeKind::Float(f);
    }
    NodeKind::Str(text.to_string())
}

fn parse_yaml11_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let value = if let Some(b) = clean.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(h) = clean.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if clean.len() > 1 && clean.starts_with('0') {
        if !clean.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            return None;
        }
        i64::from_str_radix(&clean, 8).ok()?
    } else if clean.contains(':') {
        // sexagesimal (190:20:30): YAML 1.1 has it, PyYAML resolves it.
        if !clean
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        {
            return None;
        }
        let mut v: i64 = 0;
        for part in clean.split(':') {
            v = v.checked_mul(60)?.checked_add(part.parse::<i64>().ok()?)?;
        }
        v
    } else {
        if !clean.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        clean.parse::<i64>().ok()?
    };
    Some(if neg { -value } else { value })
}

fn is_yaml11_float(text: &str) -> bool {
    // PyYAML: [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?  (a dot is required)
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let Some(dot) = t.find('.') else { return false };
    let (int_part, rest) = t.split_at(dot);
    if !int_part.bytes().all(|c| c.is_ascii_digit() || c == b'_') || int_part.starts_with('_') {
        return false;
    }
    let rest = &rest[1..];
    let (frac, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if !frac.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return false;
    }
    if int_part.is_empty() && frac.is_empty() {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let digits = e.strip_prefix(['-', '+']);
            matches!(digits, Some(d) if !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Node {
        load_str(s, "t.yml").unwrap().remove(0)
    }

    #[test]
    fn yaml11_scalars() {
        let n = one(
            "a: yes\nb: 0644\nc: 1.10\nd: y\ne: '0644'\nf: ~\ng: 1_000\nh: 'yes'\ni: 1.0e+3\nj: 0x1f\n",
        );
        assert_eq!(n.get("a").unwrap().kind, NodeKind::Bool(true));
        assert_eq!(n.get("b").unwrap().kind, NodeKind::Int(0o644));
        assert_eq!(n.get("c").unwrap().kind, NodeKind::Float(1.1));
        assert_eq!(n.get("d").unwrap().kind, NodeKind::Str("y".into()));
        assert_eq!(n.get("e").unwrap().kind, NodeKind::Str("0644".into()));
        assert_eq!(n.get("f").unwrap().kind, NodeKind::Null);
        assert_eq!(n.get("g").unwrap().kind, NodeKind::Int(1000));
        assert_eq!(n.get("h").unwrap().kind, NodeKind::Str("yes".into()));
        assert_eq!(n.get("i").unwrap().kind, NodeKind::Float(1000.0));
        assert_eq!(n.get("j").unwrap().kind, NodeKind::Int(31));
    }

    #[test]
    fn spans_are_one_based() {
        let n = one("a: 1\nb:\n  - x\n");
        let b = n.get("b").unwrap();
        let x = &b.as_seq().unwrap()[0];
        assert_eq!((x.span.line, x.span.col), (3, 5));
    }

    #[test]
    fn merge_keys_and_anchors() {
        let n = one("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n");
        let d = n.get("derived").unwrap();
        assert_eq!(d.get("x").unwrap().kind, NodeKind::Int(1));
        assert_eq!(d.get("y").unwrap().kind, NodeKind::Int(3));
    }

    #[test]
    fn syntax_error_is_located() {
        let e = load_str("a: [1, 2\nb: 3\n", "bad.yml").unwrap_err();
        let s = e.span.unwrap();
        assert_eq!(&*s.file, "bad.yml");
        assert!(s.line >= 1);
    }

    #[test]
    fn vault_refused() {
        let e = load_str("a: !vault |\n  $ANSIBLE\n", "v.yml").unwrap_err();
        assert!(e.msg.contains("vault"));
    }

    #[test]
    fn multi_document() {
        let d = load_str("a: 1\n---\nb: 2\n", "m.yml").unwrap();
        assert_eq!(d.len(), 2);
    }
}
