//! The house rules, checked on the source text: the layer table in ARCHITECTURE.md (which
//! folder of `src/` may import which), no function in `src/exec/` over 80 lines and no
//! `too_many_arguments` allowance there. (The order of exec's own files is checked by the unit
//! test `exec::layers`, next to the list it enforces.)
//!
//! The table is read from ARCHITECTURE.md itself (the rows after the `<!-- layer-table -->`
//! marker), so the picture a reader sees and the rule CI enforces are one. Imports are the
//! `crate::NAME` paths of the code (comments and string literals are blanked first); a folder
//! reaches another folder only that way. The checker's own tests feed it a small made-up tree
//! with a forbidden import and a long function, so this test fails when the rules are broken.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Blanks comments, string and char literals (keeping newlines), so what is left is code.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && next == Some(b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == b'r' && matches!(next, Some(b'#') | Some(b'"')) && !ident_byte(prev(b, i)) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = j + 1;
            let end = find(b, start, &close).map_or(b.len(), |e| e + close.len());
            for &x in &b[i..end] {
                blank(&mut out, x);
            }
            i = end;
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                blank(&mut out, b[i]);
                i += 1;
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let len = char_literal_len(&b[i..]);
            for &x in &b[i..(i + len).min(b.len())] {
                blank(&mut out, x);
            }
            i += len.max(1);
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn prev(b: &[u8], i: usize) -> u8 {
    if i == 0 { b' ' } else { b[i - 1] }
}

fn ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..hay.len().saturating_sub(needle.len() - 1)).find(|&k| hay[k..].starts_with(needle))
}

/// Length of a char literal at the start of `b`, or 1 for a lifetime's quote.
fn char_literal_len(b: &[u8]) -> usize {
    if b.get(1) == Some(&b'\\') {
        return b
            .iter()
            .skip(2)
            .position(|&c| c == b'\'')
            .map_or(1, |p| p + 3);
    }
    // One UTF-8 character, then the closing quote.
    let ch_len = match b.get(1) {
        Some(&c) if c >= 0xf0 => 4,
        Some(&c) if c >= 0xe0 => 3,
        Some(&c) if c >= 0xc0 => 2,
        Some(_) => 1,
        None => return 1,
    };
    if b.get(1 + ch_len) == Some(&b'\'') {
        ch_len + 2
    } else {
        1
    }
}

/// Identifiers that follow `prefix` (e.g. `crate::`), including each top-level name of a
/// `prefix{a, b::c}` group, with their line numbers.
fn paths_after(code: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut out = vec![];
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(pos) = code[from..].find(prefix) {
        let at = from + pos;
        from = at + prefix.len();
        if at > 0 && (ident_byte(bytes[at - 1]) || bytes[at - 1] == b':') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            for name in group_heads(group) {
                out.push((name, line));
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((name, line));
            }
        }
    }
    out
}

/// The first identifier of each comma-separated entry of a `{...}` group (up to its `}`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![];
    let mut depth = 0;
    let mut at_entry_start = true;
    let mut cur = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if !cur.is_empty() {
                    heads.push(std::mem::take(&mut cur));
                }
                at_entry_start = true;
            }
            c if at_entry_start && (c.is_alphanumeric() || c == '_') => cur.push(c),
            _ if at_entry_start && !cur.is_empty() => {
                heads.push(std::mem::take(&mut cur));
                at_entry_start = false;
            }
            _ => {}
        }
    }
    if !cur.is_empty() {
        heads.push(cur);
    }
    heads
}

/// The layer table: folder -> the folders it may import.
type Table = BTreeMap<String, BTreeSet<String>>;

/// Reads the rows after `<!-- layer-table -->`: the second column's `names` are folders, the
/// third column's `names` what they may import.
fn parse_table(markdown: &str) -> Table {
    let mut table = Table::new();
    let Some(start) = markdown.find("<!-- layer-table -->") else {
        return table;
    };
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    for line in markdown[start..].lines().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').collect();
        if cells.len() < 3 || cells[0].trim_start().starts_with("---") {
            continue;
        }
        let allowed: BTreeSet<String> = ticked(cells[2]).into_iter().collect();
        for folder in ticked(cells[1]) {
            table.insert(folder, allowed.clone());
        }
    }
    table
}

/// The top folder of a source file (`src/exec/task.rs` -> `exec`, `src/vocab.rs` -> `vocab`).
fn folder_of(rel: &Path) -> Option<String> {
    let mut comps = rel.components();
    let first = comps.next()?.as_os_str().to_str()?.to_string();
    if comps.next().is_some() {
        Some(first)
    } else {
        let stem = rel.file_stem()?.to_str()?.to_string();
        (stem != "lib" && stem != "main").then_some(stem)
    }
}

/// Every import of a folder that the table does not allow: "file:line: a imports b".
fn layer_violations(files: &[(PathBuf, String)], table: &Table) -> Vec<String> {
    let mut out = vec![];
    for (rel, text) in files {
        let Some(folder) = folder_of(rel) else {
            continue;
        };
        let Some(allowed) = table.get(&folder) else {
            out.push(format!(
                "{}: folder `{}` is not in the layer table",
                rel.display(),
                folder
            ));
            continue;
        };
        for (target, line) in paths_after(&code_only(text), "crate::") {
            if target != folder && table.contains_key(&target) && !allowed.contains(&target) {
                out.push(format!(
                    "src/{}:{}: `{}` imports `{}`",
                    rel.display(),
                    line,
                    folder,
                    target
                ));
            }
        }
    }
    out
}

/// Functions longer than `max` lines (from the `fn` line to its closing brace), outside
/// `#[cfg(test)]` modules: "file:line: name is N lines".
fn long_functions(rel: &Path, text: &str, max: usize) -> Vec<String> {
    let code = code_only(text);
    let b = code.as_bytes();
    let line_of = |i: usize| code[..i].matches('\n').count() + 1;
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if code[i..].starts_with("#[cfg(test)]") {
            // Skip the test module (or item) that follows.
            if let Some(open) = code[i..].find('{') {
                i = matching_brace(b, i + open).unwrap_or(b.len());
                continue;
            }
        }
        let is_fn = code[i..].starts_with("fn ") && (i == 0 || !ident_byte(b[i - 1]));
        if !is_fn {
            i += 1;
            continue;
        }
        let name: String = code[i + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body = code[i..].find(['{', ';']).map(|k| i + k);
        match body {
            Some(open) if b[open] == b'{' && !name.is_empty() => {
                let close = matching_brace(b, open).unwrap_or(b.len());
                let lines = line_of(close.saturating_sub(1)) - line_of(i) + 1;
                if lines > max {
                    out.push(format!(
                        "src/{}:{}: fn {} is {} lines",
                        rel.display(),
                        line_of(i),
                        name,
                        lines
                    ));
                }
                i = open + 1;
            }
            _ => i += 3,
        }
    }
    out
}

/// The index just past the brace that closes the one at `open`.
fn matching_brace(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn source_files(root: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
                out.push((rel, text));
            }
        }
    }
    let mut out = vec![];
    walk(root, root, &mut out);
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_folder_imports_only_what_the_layer_table_allows() {
    let md = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let table = parse_table(&md);
    assert!(
        table.len() >= 10,
        "ARCHITECTURE.md's layer table was not found or is short: {table:?}"
    );
    let files = source_files(&repo().join("src"));
    let bad = layer_violations(&files, &table);
    assert!(
        bad.is_empty(),
        "imports against ARCHITECTURE.md's layer table:\n{}",
        bad.join("\n")
    );
}

#[test]
fn exec_functions_are_short_and_take_few_arguments() {
    let files = source_files(&repo().join("src"));
    let mut bad = vec![];
    for (rel, text) in files.iter().filter(|(p, _)| p.starts_with("exec")) {
        bad.extend(long_functions(rel, text, 80));
        if text.contains("too_many_arguments") {
            bad.push(format!(
                "src/{}: allows clippy::too_many_arguments",
                rel.display()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// The checker's own tests: each rule fails on a tree that breaks it.

fn tree(files: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect()
}

const TABLE: &str = "intro\n<!-- layer-table -->\n| layer | folders | may import |\n|---|---|---|\n\
                     | 2 | `exec` | `yaml` `error` |\n| 1 | `yaml` | `error` |\n| 0 | `error` | |\n\nafter\n";

#[test]
fn checker_finds_a_forbidden_import() {
    let table = parse_table(TABLE);
    assert_eq!(table.len(), 3);
    let ok = tree(&[
        (
            "exec/mod.rs",
            "use crate::yaml::Node;\nuse crate::{error::E, yaml};\n",
        ),
        (
            "yaml/mod.rs",
            "use crate::error::LoadError;\n// crate::exec in a comment\nlet s = \"crate::exec\";\n",
        ),
    ]);
    assert!(layer_violations(&ok, &table).is_empty());
    let bad = tree(&[(
        "yaml/parse.rs",
        "fn f() {}\nuse crate::{error, exec::run};\n",
    )]);
    assert_eq!(
        layer_violations(&bad, &table),
        vec!["src/yaml/parse.rs:2: `yaml` imports `exec`"]
    );
    let inline = tree(&[("error.rs", "fn f() -> crate::yaml::Node { todo!() }")]);
    assert_eq!(layer_violations(&inline, &table).len(), 1);
    let unknown = tree(&[("newthing/mod.rs", "")]);
    assert_eq!(
        layer_violations(&unknown, &table).len(),
        1,
        "a folder missing from the table is refused"
    );
}

#[test]
fn checker_measures_functions() {
    let long: String = format!(
        "fn big() {{\n{}}}\n#[cfg(test)]\nmod tests {{\nfn huge() {{\n{}}}\n}}\n",
        "    x();\n".repeat(80),
        "y();\n".repeat(200)
    );
    let found = long_functions(Path::new("exec/a.rs"), &long, 80);
    assert_eq!(found, vec!["src/exec/a.rs:1: fn big is 82 lines"]);
    let braces_in_strings =
        "fn f() {\n    let s = \"{{{\";\n    let c = '{';\n}\nfn g<'a>(x: &'a str) {}\n";
    assert!(long_functions(Path::new("exec/b.rs"), braces_in_strings, 4).is_empty());
    assert_eq!(
        long_functions(Path::new("exec/b.rs"), braces_in_strings, 3).len(),
        1
    );
}
