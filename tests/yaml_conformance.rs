//! The YAML conformance set: every `tests/fixtures/yaml/NAME.yml` is loaded with rmesos's one
//! loader (`yaml::load_file`) and compared with `NAME.json`, which `scripts/yaml-oracle.py`
//! wrote from Ansible's own loader (libyaml under PyYAML's SafeConstructor). A file Ansible
//! refuses must be refused here too, with file:line:col. Duplicate keys: the last value wins, in
//! the first key's place, with one warning each, as Ansible does (also when a key overrides a
//! merged `<<` key).
//!
//! `lenient_*.yml` are files Ansible refuses and rmesos loads (listed in docs/compat.md): saphyr
//! is more lenient there, and refusing them would need a scanner of our own.
//!
//! The JSON encoding is the oracle script's (see its docstring). Two documented differences
//! are folded here, on the expected side, because rmesos has no such values: a timestamp stays
//! the string as written (Ansible templates a date back to the same text) and an integer beyond
//! 64 bits stays its digits as a string.

use rmesos::yaml::{self, Node, NodeKind};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yaml");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

fn key_text(k: &Node) -> String {
    match &k.kind {
        NodeKind::Str(s) => s.clone(),
        NodeKind::Int(i) => format!("!int {i}"),
        NodeKind::Bool(b) => format!("!bool {b}"),
        NodeKind::Null => "!null".to_string(),
        NodeKind::Float(f) => format!("!float {f:?}"),
        other => format!("!unhashable {other:?}"),
    }
}

fn float(f: f64) -> Value {
    if f.is_nan() {
        json!({"!float": "nan"})
    } else if f.is_infinite() {
        json!({"!float": if f > 0.0 { "inf" } else { "-inf" }})
    } else {
        json!(f)
    }
}

/// Our tree in the oracle's encoding.
fn encode(n: &Node) -> Value {
    match &n.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => json!(b),
        NodeKind::Int(i) => json!(i),
        NodeKind::Float(f) => float(*f),
        NodeKind::Str(s) if n.unsafe_str => json!({"!unsafe": s}),
        NodeKind::Str(s) => json!(s),
        NodeKind::Seq(items) => Value::Array(items.iter().map(encode).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), encode(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// The oracle's values that rmesos keeps as strings, as those strings.
fn fold_expected(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.contains_key("!timestamp") => m["!timestamp"].clone(),
        Value::Object(m) if m.contains_key("!bigint") => m["!bigint"].clone(),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), fold_expected(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(fold_expected).collect()),
        other => other.clone(),
    }
}

fn check(path: &Path) -> Result<(), String> {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(path.with_extension("json"))
            .map_err(|e| format!("no expected JSON (run scripts/yaml-oracle.py): {e}"))?,
    )
    .map_err(|e| e.to_string())?;
    compare(path, &expected)
}

/// Our load of `path` against the oracle's `expected` (`documents` or `error`, `warnings`).
fn compare(path: &Path, expected: &Value) -> Result<(), String> {
    let (got, warnings) = yaml::load_file_with_warnings(path);
    let lenient = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("lenient_"));
    match (&expected.get("error"), got) {
        (Some(_), Ok(_)) if lenient => Ok(()),
        (Some(_), Err(e)) => match &e.span {
            Some(s) if s.is_known() => Ok(()),
            _ => Err(format!(
                "refused as Ansible does, but without a position: {e}"
            )),
        },
        (Some(want), Ok(docs)) => Err(format!(
            "Ansible refuses this file ({want}); we loaded {:?}",
            docs.iter().map(encode).collect::<Vec<_>>()
        )),
        (None, Err(e)) => Err(format!("Ansible loads this file; we refused it: {e}")),
        (None, Ok(docs)) => {
            let got = Value::Array(docs.iter().map(encode).collect());
            let want = fold_expected(&expected["documents"]);
            if got != want {
                return Err(format!(
                    "values differ\n want: {}\n  got: {}",
                    serde_json::to_string(&want).unwrap_or_default(),
                    serde_json::to_string(&got).unwrap_or_default()
                ));
            }
            let want_warnings = expected
                .get("warnings")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if warnings.len() != want_warnings {
                return Err(format!(
                    "{want_warnings} warnings expected, got {warnings:?}"
                ));
            }
            Ok(())
        }
    }
}

#[test]
fn conformance_set_matches_ansible() {
    let files = fixtures();
    assert!(files.len() >= 20, "the conformance set went missing");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|p| {
            check(p)
                .err()
                .map(|e| format!("{}: {e}", p.file_name().unwrap_or_default().display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} files differ from Ansible:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn alias_bomb_is_bounded() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        let row = [prev.as_str(); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{row}]\n"));
    }
    let e = yaml::load_str(&text, "bomb.yml").unwrap_err();
    assert!(e.msg.contains("more than"), "{e}");
    assert!(e.span.is_some_and(|s| s.is_known()));
}

#[test]
fn nesting_depth_is_bounded() {
    // Flow nesting stops in saphyr's own limit, block nesting in ours.
    let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let e = yaml::load_str(&flow, "deep.yml").unwrap_err();
    assert!(e.msg.contains("recursion limit"), "{e}");
    let block: String = (0..2000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    let e = yaml::load_str(&block, "deep.yml").unwrap_err();
    assert!(e.msg.contains("nested deeper"), "{e}");
    // Just under the limit still loads, on a tokio worker's 2 MiB stack (debug build).
    let ok: String = (0..98).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let loaded = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || yaml::load_str(&ok, "ok.yml").map(|d| d.len()))
        .expect("thread")
        .join()
        .expect("no stack overflow");
    assert_eq!(loaded.ok(), Some(1));
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latin1.yml");
    std::fs::write(&path, b"a: 1\nname: caf\xe9\n").expect("write");
    let e = yaml::load_file(&path).unwrap_err();
    let s = e.span.clone().expect("a position");
    assert_eq!((s.line, s.col), (2, 10), "{e}");
    assert!(e.msg.contains("UTF-8"));
}

/// Random and mutated inputs never panic the loader (a cheap fuzz: xorshift over the set).
#[test]
fn no_panic_on_mutated_inputs() {
    let seeds: Vec<Vec<u8>> = fixtures()
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    let alphabet = b"-:?[]{},#&*!|>'\"%@` \t\n\\abc019.~";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let mut text = seeds[round % seeds.len()].clone();
        for _ in 0..(1 + rand() % 8) {
            let at = (rand() as usize) % (text.len() + 1);
            let c = alphabet[(rand() as usize) % alphabet.len()];
            match rand() % 3 {
                0 => text.insert(at, c),
                1 if at < text.len() => text[at] = c,
                _ if at < text.len() => {
                    text.remove(at);
                }
                _ => text.push(c),
            }
        }
        let s = String::from_utf8_lossy(&text);
        let _ = yaml::load_str_with_warnings(&s, "fuzz.yml");
    }
    for len in 0..400 {
        let junk: String = (0..len)
            .map(|_| alphabet[(rand() as usize) % alphabet.len()] as char)
            .collect();
        let _ = yaml::load_str_with_warnings(&junk, "junk.yml");
    }
}

/// Content that is not ours (YAML_CORPUS=OUT.json, written by `scripts/yaml-oracle.py
/// --corpus`): every file must load as Ansible loads it. Nothing to do without the variable.
#[test]
fn corpus_matches_ansible() {
    let Ok(map) = std::env::var("YAML_CORPUS") else {
        return;
    };
    let text = std::fs::read_to_string(&map).expect("YAML_CORPUS file");
    let expected: Map<String, Value> = serde_json::from_str(&text).expect("a JSON map");
    let failures: Vec<String> = expected
        .iter()
        .filter_map(|(file, want)| {
            compare_values_only(Path::new(file), want)
                .err()
                .map(|e| format!("{file}: {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} files differ from Ansible:\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n")
    );
}

/// The corpus map records no warnings: values and refusals only.
fn compare_values_only(path: &Path, expected: &Value) -> Result<(), String> {
    match compare(path, expected) {
        Err(e) if e.contains("warnings expected") => Ok(()),
        other => other,
    }
}
