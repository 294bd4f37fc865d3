//! Builds [`Node`] trees from saphyr-parser events, resolving scalars as YAML 1.1 (PyYAML).

use super::node::{Node, NodeKind, Warning, queue_warnings};
use crate::error::{LoadError, LoadResult, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan, Tag};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Reads and parses a file; returns its documents (an empty file gives none). Warnings go to
/// the process's queue ([`take_warnings`]).
pub fn load_file(path: &Path) -> LoadResult<Vec<Node>> {
    let (docs, warnings) = load_file_with_warnings(path);
    queue_warnings(warnings);
    docs
}

/// [`load_file`], returning the warnings instead of queueing them.
pub fn load_file_with_warnings(path: &Path) -> (LoadResult<Vec<Node>>, Vec<Warning>) {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("{name}: cannot read: {e}");
            return (Err(LoadError::plain(msg)), Vec::new());
        }
    };
    let bytes = if crate::vault::is_vault(&bytes) {
        match decrypt_file(&bytes, &name) {
            Ok(plain) => plain,
            Err(e) => return (Err(e), Vec::new()),
        }
    } else {
        bytes
    };
    match String::from_utf8(bytes) {
        Ok(text) => load_str_with_warnings(&text, &name),
        Err(e) => (
            Err(invalid_utf8(e.as_bytes(), e.utf8_error(), &name)),
            Vec::new(),
        ),
    }
}

/// A whole vault-encrypted file, decrypted with the process's keyring; its strings become
/// secrets the output censors.
fn decrypt_file(bytes: &[u8], name: &str) -> LoadResult<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let plain = crate::vault::installed()
        .decrypt(&text)
        .map_err(|e| vault_error(&Span::new(name, 1, 1), "this vault-encrypted file", e))?;
    let decrypted = String::from_utf8_lossy(&plain).into_owned();
    if let (Ok(docs), _) = load_str_with_warnings(&decrypted, name) {
        docs.iter().for_each(register_strings);
    }
    Ok(plain)
}

fn register_strings(n: &Node) {
    match &n.kind {
        // Short values of a vault file (`app`, `5432`) would censor ordinary words all over the
        // output; a `!vault` value is registered whatever its length.
        NodeKind::Str(s) if s.trim().chars().count() >= 6 => crate::vault::register_secret(s),
        NodeKind::Seq(items) => items.iter().for_each(register_strings),
        NodeKind::Map(entries) => entries.iter().for_each(|(_, v)| register_strings(v)),
        _ => {}
    }
}

/// A vault failure at `span`, saying how to give the password.
fn vault_error(span: &Span, what: &str, e: crate::vault::VaultError) -> LoadError {
    use crate::vault::VaultError;
    let hint = match e {
        VaultError::NoPassword => {
            "give the vault password: --vault-password-file FILE, --ask-vault-pass or --vault-id LABEL@SOURCE"
        }
        VaultError::WrongPassword(_) => "check the vault password (or the --vault-id label)",
        _ => "re-create it with `rmesos vault encrypt` or ansible-vault",
    };
    LoadError::new(span, format!("cannot decrypt {what}: {e}")).hint(hint)
}

/// An inline `!vault` value, decrypted; the plaintext is registered as a secret.
fn decrypt_scalar(text: &str, span: &Span) -> LoadResult<NodeKind> {
    let plain = crate::vault::installed()
        .decrypt(text)
        .map_err(|e| vault_error(span, "this !vault value", e))?;
    let plain = String::from_utf8(plain).map_err(|_| {
        LoadError::new(
            span,
            "the !vault value decrypts to bytes that are not UTF-8",
        )
    })?;
    crate::vault::register_secret(&plain);
    Ok(NodeKind::Str(plain))
}

/// Where the first byte that is not UTF-8 sits, as file:line:col (the column counts characters).
fn invalid_utf8(bytes: &[u8], e: std::str::Utf8Error, file: &str) -> LoadError {
    let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
    let line = good.matches('\n').count() + 1;
    let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    LoadError::new(
        &Span::new(file, line as u32, col as u32),
        "the file is not valid UTF-8",
    )
    .hint("YAML files must be UTF-8; re-encode it (iconv -t UTF-8)")
}

/// Parses YAML text; `file` names it in positions. Warnings go to the process's queue.
pub fn load_str(text: &str, file: &str) -> LoadResult<Vec<Node>> {
    let (docs, warnings) = load_str_with_warnings(text, file);
    queue_warnings(warnings);
    docs
}

/// [`load_str`], returning the warnings instead of queueing them.
pub fn load_str_with_warnings(text: &str, file: &str) -> (LoadResult<Vec<Node>>, Vec<Warning>) {
    let file: Arc<str> = Arc::from(file);
    let mut text = Cow::Borrowed(text);
    let mut repairs = 0;
    loop {
        let mut b = Builder {
            file: file.clone(),
            anchors: HashMap::new(),
            warnings: Vec::new(),
            depth: 0,
            nodes: 0,
            scan_error: None,
        };
        let docs = b.documents(&text);
        if docs.is_err()
            && repairs < MAX_REPAIRS
            && let Some((info, index)) = &b.scan_error
            && let Some(fixed) = super::repair::repair(&text, info, *index)
        {
            text = Cow::Owned(fixed);
            repairs += 1;
            continue;
        }
        return (docs, b.warnings);
    }
}

/// Each repair fixes one spot and costs one more parse.
const MAX_REPAIRS: usize = 200;

impl Builder {
    fn documents(&mut self, text: &str) -> LoadResult<Vec<Node>> {
        let b = self;
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
}

struct Builder {
    file: Arc<str>,
    /// Anchored nodes and their sizes in values.
    anchors: HashMap<usize, (Node, usize)>,
    warnings: Vec<Warning>,
    /// Nesting depth of the node being built.
    depth: usize,
    /// Values built so far, aliases counted at their full size.
    nodes: usize,
    /// saphyr's message and character index of a scan error, for `repair`.
    scan_error: Option<(String, usize)>,
}

/// Deeper nesting than any real file has; the builder (and every consumer of the tree)
/// recurses once per level.
const MAX_DEPTH: usize = 100;
/// Far more values than any real file holds, far fewer than an alias bomb expands to.
const MAX_NODES: usize = 5_000_000;

impl Builder {
    fn span(&self, s: &YSpan) -> Span {
        Span {
            file: self.file.clone(),
            line: s.start.line() as u32,
            col: s.start.col() as u32 + 1,
        }
    }

    fn next<'a>(
        &mut self,
        p: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    ) -> LoadResult<(Event<'a>, YSpan)> {
        match p.next_event() {
            Some(Ok(x)) => Ok(x),
            Some(Err(e)) => {
                self.scan_error = Some((e.info().to_string(), e.marker().index()));
                Err(LoadError::new(
                    &Span {
                        file: self.file.clone(),
                        line: e.marker().line() as u32,
                        col: e.marker().col() as u32 + 1,
                    },
                    format!("YAML syntax error: {}", e.info()),
                )
                .hint("check indentation and quoting; a value that starts with {{ must be quoted"))
            }
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
            "!vault" | "!vault-encrypted" => Ok(Some("!vault".to_string())),
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
        if self.depth >= MAX_DEPTH {
            return Err(LoadError::new(
                &span,
                format!("YAML nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let built = self.node_inner(p, ev, span);
        self.depth -= 1;
        built
    }

    fn node_inner<'a>(
        &mut self,
        p: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
        ev: Event<'a>,
        span: Span,
    ) -> LoadResult<Node> {
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                let (n, size) =
                    self.anchors.get(&id).cloned().ok_or_else(|| {
                        LoadError::new(&span, "alias refers to an unknown anchor")
                    })?;
                self.count(size, &span)?;
                return Ok(n);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = self.check_tag(&tag, &span)?;
                let kind = match tag.as_deref() {
                    Some("!vault") => decrypt_scalar(&text, &span)?,
                    t => scalar_kind(&text, style, t, &span)?,
                };
                let mut n = Node::new(kind, span);
                n.unsafe_str = tag.as_deref() == Some("!unsafe");
                (n, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = self.check_tag(&tag, &span)?;
                let mut items = Vec::new();
                loop {
                    let (ev, s) = self.next(p)?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(p, ev, s)?);
                }
                (
                    unsafe_if(tag, Node::new(NodeKind::Seq(items), span)),
                    anchor,
                )
            }
            Event::MappingStart(anchor, tag) => {
                let tag = self.check_tag(&tag, &span)?;
                let entries = self.mapping(p)?;
                (
                    unsafe_if(tag, Node::new(NodeKind::Map(entries), span)),
                    anchor,
                )
            }
            other => {
                return Err(LoadError::new(
                    &span,
                    format!("unexpected YAML event {:?}", other),
                ));
            }
        };
        self.count(1, &node.span)?;
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.clone(), node_count(&node)));
        }
        Ok(node)
    }

    /// Counts nodes built, aliases at their full size, so that a few lines of nested aliases
    /// (the "billion laughs") stop with an error instead of exhausting memory.
    fn count(&mut self, n: usize, span: &Span) -> LoadResult<()> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(LoadError::new(
                span,
                format!("YAML expands to more than {MAX_NODES} values (aliases of aliases?)"),
            ));
        }
        Ok(())
    }

    /// A mapping's entries as PyYAML builds them: the `<<` merges first, then the mapping's own keys; a later key replaces an earlier
    /// one's value in the earlier one's place, with a warning (ansible-core 2.19 warns also when a
    /// mapping's own key overrides a merged one).
    fn mapping<'a>(
        &mut self,
        p: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    ) -> LoadResult<Vec<(Node, Node)>> {
        let mut own: Vec<(Node, Node)> = Vec::new();
        let mut merged: Vec<(Node, Node)> = Vec::new();
        loop {
            let (ev, s) = self.next(p)?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let key = self.node(p, ev, s)?;
            let (vev, vs) = self.next(p)?;
            let value = self.node(p, vev, vs)?;
            if key.as_str() == Some("<<") && !key.unsafe_str {
                merge_into(&mut merged, &value)?;
            } else {
                own.push((key, value));
            }
        }
        let mut entries: Vec<(Node, Node)> = Vec::with_capacity(merged.len() + own.len());
        let mut index: HashMap<KeyId, usize> = HashMap::new();
        for (k, v) in merged.into_iter().chain(own) {
            let id = key_id(&k)?;
            match index.get(&id) {
                Some(&at) => {
                    self.warnings.push(Warning {
                        span: k.span.clone(),
                        msg: format!(
                            "found a duplicate mapping key {}; using the last value only",
                            python_repr(&k)
                        ),
                    });
                    entries[at].1 = v;
                }
                None => {
                    index.insert(id, entries.len());
                    entries.push((k, v));
                }
            }
        }
        Ok(entries)
    }
}

fn merge_into(merged: &mut Vec<(Node, Node)>, value: &Node) -> LoadResult<()> {
    match &value.kind {
        NodeKind::Map(m) => {
            merged.extend(m.iter().cloned());
            Ok(())
        }
        NodeKind::Seq(items) => {
            // In list order, so a later mapping's value wins: PyYAML 6.0.4 (ansible-core
            // 2.19's) does so; older PyYAML let the first win.
            for item in items {
                match &item.kind {
                    NodeKind::Map(m) => merged.extend(m.iter().cloned()),
                    _ => {
                        return Err(LoadError::new(
                            &item.span,
                            "merge key << needs a mapping or a list of mappings",
                        ));
                    }
                }
            }
            Ok(())
        }
        _ => Err(LoadError::new(
            &value.span,
            "merge key << needs a mapping or a list of mappings",
        )),
    }
}

/// A key's identity as Python's dict sees it: `1` and `"1"` are two keys, `1`, `true` and
/// `1.0` one. Lists and mappings cannot be keys in Python.
#[derive(Hash, PartialEq, Eq)]
enum KeyId {
    Null,
    Int(i64),
    Float(u64),
    Str(String),
}

fn key_id(k: &Node) -> LoadResult<KeyId> {
    Ok(match &k.kind {
        NodeKind::Null => KeyId::Null,
        NodeKind::Bool(b) => KeyId::Int(i64::from(*b)),
        NodeKind::Int(i) => KeyId::Int(*i),
        NodeKind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => KeyId::Int(*f as i64),
        NodeKind::Float(f) => KeyId::Float(f.to_bits()),
        NodeKind::Str(s) => KeyId::Str(s.clone()),
        NodeKind::Seq(_) | NodeKind::Map(_) => {
            return Err(LoadError::new(
                &k.span,
                format!("{} cannot be a mapping key", k.type_name()),
            )
            .hint("keys are strings, numbers or booleans; quote the key if it is text"));
        }
    })
}

/// The key as Python prints it in Ansible's warning (`'a'`, `1`, `True`).
fn python_repr(k: &Node) -> String {
    match &k.kind {
        NodeKind::Str(s) => format!("'{s}'"),
        NodeKind::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        NodeKind::Null => "None".to_string(),
        _ => k.key_string().unwrap_or_default(),
    }
}

/// `!unsafe` on a list or mapping marks every string inside it (Ansible 2.19 does the same).
fn unsafe_if(tag: Option<String>, mut node: Node) -> Node {
    if tag.as_deref() == Some("!unsafe") {
        mark_unsafe(&mut node);
    }
    node
}

fn mark_unsafe(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Str(_) => node.unsafe_str = true,
        NodeKind::Seq(items) => items.iter_mut().for_each(mark_unsafe),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(_, v)| mark_unsafe(v)),
        _ => {}
    }
}

fn node_count(n: &Node) -> usize {
    match &n.kind {
        NodeKind::Seq(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| node_count(k) + node_count(v))
                .sum::<usize>()
        }
        _ => 1,
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
    if let Some(f) = sexagesimal_float(text) {
        return NodeKind::Float(f);
    }
    NodeKind::Str(text.to_string())
}

/// `190:20:30.15` (PyYAML: `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*`).
fn sexagesimal_float(text: &str) -> Option<f64> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, frac) = body.split_once('.')?;
    let mut parts = whole.split(':');
    let first = parts.next()?.replace('_', "");
    if first.is_empty() || !first.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut value: f64 = first.parse().ok()?;
    let mut sixties = 0;
    for p in parts {
        if p.is_empty()
            || p.len() > 2
            || !p.bytes().all(|c| c.is_ascii_digit())
            || p > "59" && p.len() == 2
        {
            return None;
        }
        value = value * 60.0 + p.parse::<f64>().ok()?;
        sixties += 1;
    }
    let frac = frac.replace('_', "");
    if sixties == 0 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let frac: f64 = format!("0.{frac}0").parse().ok()?;
    Some(if neg { -(value + frac) } else { value + frac })
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
    fn vault_value_without_password_is_located() {
        let e = load_str(
            "a: 1\nb: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n",
            "v.yml",
        )
        .unwrap_err();
        assert!(e.msg.contains("!vault"), "{e}");
        assert_eq!(e.span.map(|s| (s.line, s.col)), Some((2, 4)));
    }

    #[test]
    fn multi_document() {
        let d = load_str("a: 1\n---\nb: 2\n", "m.yml").unwrap();
        assert_eq!(d.len(), 2);
    }
}
