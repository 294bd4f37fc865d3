//! Fuzz tests: no input may panic or abort (issue 14, item 5).
//!
//! Each target feeds generated and mutated inputs to one entry point and asserts it returns
//! (an `Ok` or an error, either is fine) instead of panicking. Panics are caught with
//! `catch_unwind`; a failing test lists every input that panicked, so it can be kept in
//! `tests/fixtures/fuzz/` as a regression case (every input that ever panicked, and every input
//! of the issue 14 probe, lives there and runs in [`regression_cases_never_panic`]).
//!
//! - **Seeds.** A small xorshift PRNG with a fixed seed per target (no crate, no wall clock), so
//!   a run is reproducible: the same inputs every time. `FUZZ_SEED=N` picks another stream.
//! - **Inputs.** Real files from `tests/fixtures` (inventories, playbooks) mutated by byte flips,
//!   insertions of YAML/INI/Jinja punctuation, deletions, truncation and splicing of lines from
//!   another file; and strings generated from each grammar's tokens (k=v, templates, host
//!   patterns, ranges).
//! - **Time bound.** The default iteration counts keep each target to a few seconds in a debug
//!   build. `FUZZ_VERBOSE=1` prints each input before it runs (an abort cannot be caught).
//!   Run longer with `FUZZ_ITERS=100000 cargo test --release --test fuzz` (every target
//!   runs that many inputs).
//!
//! Templates never call `lookup`/`query` (a `pipe` lookup would run commands); the loader is
//! given the fixture's own path so relative imports resolve as they would for the file.

use rmesos::inventory::{Inventory, InventoryOptions, Source};
use rmesos::modules::FreeForm;
use rmesos::plan::{LoadOptions, kv, load_playbook, load_playbook_text};
use rmesos::vars::{Templar, check_expr_syntax, check_syntax, scope};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A deterministic xorshift64 stream.
struct Rng(u64);

impl Rng {
    fn new(target: u64) -> Rng {
        let base = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x9E37_79B9_7F4A_7C15u64);
        Rng((base ^ target.wrapping_mul(0x2545_F491_4F6C_DD1D)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// How many inputs a target runs: its default, or `FUZZ_ITERS`.
fn iters(default: usize) -> usize {
    std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs `f` on every input, collecting the inputs that panicked; fails listing them.
fn no_panics(target: &str, inputs: impl Iterator<Item = String>, f: impl Fn(&str)) {
    let mut panicked = Vec::new();
    // An abort (a failed allocation) cannot be caught: FUZZ_VERBOSE=1 names each input first.
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    for input in inputs {
        if verbose {
            eprintln!("{target}: {input:?}");
        }
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            panicked.push(input);
        }
    }
    assert!(
        panicked.is_empty(),
        "{target}: {} input(s) panicked (keep them in tests/fixtures/fuzz/):\n{}",
        panicked.len(),
        panicked
            .iter()
            .map(|s| format!("----\n{s:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Files under `dir` (recursively) whose name `keep` accepts, sorted for a stable order.
fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, keep));
        } else if keep(&p) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn is_yaml(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e == "yml" || e == "yaml" || e == "json")
}

/// Punctuation that matters to YAML, INI, k=v and Jinja, plus a few words.
const ALPHABET: &[u8] = b"-:?[]{},#&*!|>'\"%@` \t\n\r\\=abcz019.~;()<+/";

/// One mutation of `text`: a byte flip, an insertion, a deletion, a truncation, or a splice of
/// a line range from `other`.
fn mutate_once(rng: &mut Rng, text: &mut Vec<u8>, other: &[u8]) {
    let at = rng.below(text.len() + 1);
    match rng.below(7) {
        0 if at < text.len() => text[at] ^= 1 << rng.below(8),
        1 if at < text.len() => text[at] = *rng.pick(ALPHABET),
        2 if at < text.len() => {
            text.remove(at);
        }
        3 => text.truncate(at),
        4 => {
            let lines: Vec<&[u8]> = other.split_inclusive(|b| *b == b'\n').collect();
            let from = rng.below(lines.len());
            let to = (from + 1 + rng.below(4)).min(lines.len());
            let piece: Vec<u8> = lines.get(from..to).unwrap_or(&[]).concat();
            text.splice(at..at, piece);
        }
        5 => {
            // Duplicate a line (duplicate keys, repeated sections).
            let start = text[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let end = text[at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(text.len(), |i| at + i + 1);
            let line = text[start..end].to_vec();
            text.splice(start..start, line);
        }
        _ => text.insert(at.min(text.len()), *rng.pick(ALPHABET)),
    }
}

/// `n` mutants of the seed files: each a seed with 1 to 8 mutations.
fn mutants(seeds: &[Vec<u8>], target: u64, n: usize) -> impl Iterator<Item = String> + '_ {
    assert!(!seeds.is_empty(), "no seed files");
    let mut rng = Rng::new(target);
    (0..n).map(move |round| {
        let mut text = seeds[round % seeds.len()].clone();
        let other = rng.pick(seeds).clone();
        for _ in 0..1 + rng.below(8) {
            mutate_once(&mut rng, &mut text, &other);
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// `n` strings of 0 to `max` tokens drawn from `tokens`.
fn sentences<'a>(
    tokens: &'a [&'a str],
    target: u64,
    n: usize,
    max: usize,
) -> impl Iterator<Item = String> + 'a {
    let mut rng = Rng::new(target);
    (0..n).map(move |_| {
        (0..rng.below(max + 1))
            .map(|_| *rng.pick(tokens))
            .collect::<String>()
    })
}

fn read_all(paths: &[PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn load_inventory(text: &str, origin: &str) -> Option<Inventory> {
    let src = Source::Text {
        origin: PathBuf::from(origin),
        text: text.to_string(),
    };
    Inventory::load_with(&[src], &InventoryOptions::default()).ok()
}

/// Exercises what a loaded inventory offers: listing, graph, every host's variables.
fn use_inventory(inv: &Inventory) {
    let _ = inv.to_list_json();
    let _ = inv.graph(None, true);
    if let Ok(hosts) = inv.select("all") {
        for h in hosts.iter().take(50) {
            let _ = inv.host(h);
        }
    }
}

#[test]
fn ini_inventory_never_panics() {
    let inv = fixtures().join("inventory");
    let seeds = read_all(&files(&inv, &|p| !is_yaml(p) && !p.ends_with("README.md")));
    no_panics("INI inventory", mutants(&seeds, 1, iters(1500)), |text| {
        if let Some(inv) = load_inventory(text, "fuzz_hosts") {
            use_inventory(&inv);
        }
    });
}

#[test]
fn yaml_inventory_never_panics() {
    let inv = fixtures().join("inventory");
    let seeds = read_all(&files(&inv, &|p| is_yaml(p) && !p.ends_with("README.md")));
    no_panics("YAML inventory", mutants(&seeds, 2, iters(1500)), |text| {
        if let Some(inv) = load_inventory(text, "fuzz.yml") {
            use_inventory(&inv);
        }
    });
}

#[rustfmt::skip]
const RANGE_TOKENS: &[&str] = &[
    "node", "web", "[", "]", ":", "0", "1", "9", "01", "10", "a", "z", "-", ".", "99999999999",
    "18446744073709551616", "-1", "x", "é", " ", "[0:3]", "[a:c]", "[1:10:0]", "[3:1]",
];

#[rustfmt::skip]
const PATTERN_TOKENS: &[&str] = &[
    "all", "web", "db", "node1", "*", "?", ":", ",", "&", "!", "~", "(", ")", "[", "]", "0", "-1",
    "1", "99999999999", "node[0:2]", "~^n.*", "~((", "web[1:]", "[-1]", "\\", " ", "ungrouped",
    "localhost", "@", ".retry",
];

#[test]
fn host_ranges_and_patterns_never_panic() {
    // Ranges are expanded where an INI line names hosts; patterns by `select`.
    let ranges = sentences(RANGE_TOKENS, 3, iters(1500), 8);
    no_panics("host range", ranges, |name| {
        let text = format!("[web]\n{name} ansible_port=22\n[db]\nnode1\n");
        if let Some(inv) = load_inventory(&text, "fuzz_hosts") {
            use_inventory(&inv);
        }
    });
    let base = "[web]\nnode[0:5]\nweb1\n[db]\nnode1\ndb1\n[all:vars]\nx=1\n";
    let inv = load_inventory(base, "fuzz_hosts").expect("the base inventory loads");
    let patterns = sentences(PATTERN_TOKENS, 4, iters(3000), 8);
    no_panics("host pattern", patterns, |p| {
        let _ = inv.select(p);
    });
}

#[rustfmt::skip]
const KV_TOKENS: &[&str] = &[
    "a", "b", "=", "==", " ", "  ", "'", "\"", "\\", "\\'", "{{", "}}", "{%", "%}", "{#", "#}",
    "x=1", "msg=hi", "chdir=/tmp", "creates=", "é", "\t", "\n", "=", "'a b'", "\"c d\"",
    "_raw_params=",
];

#[test]
fn kv_parser_never_panics() {
    let forms = [
        FreeForm::No,
        FreeForm::Yes {
            keys: None,
            required: false,
        },
        FreeForm::Yes {
            keys: Some(&["chdir", "creates"]),
            required: true,
        },
    ];
    no_panics("k=v", sentences(KV_TOKENS, 5, iters(5000), 12), |s| {
        for f in &forms {
            let _ = kv::parse(s, *f);
        }
    });
}

#[rustfmt::skip]
const TEMPLATE_TOKENS: &[&str] = &[
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "x", "y", "items", "d", "s", "n", "f", "1", "0",
    "-1", "1e20", "9999999999999999999999", ".5", "'a'", "\"b\"", "(", ")", "[", "]", "{", "}",
    ",", ":", ".", "|", "+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", " and ",
    " or ", " not ", " in ", " is ", " if ", " else ", "if ", "endif", "for i in ", "endfor",
    "set z = ", "range(", "default", "int", "float", "bool", "string", "length", "upper", "lower",
    "join", "first", "last", "min", "max", "sum", "sort", "unique", "reverse", "list",
    "dict2items", "items2dict", "combine", "to_json", "from_json", "to_yaml", "from_yaml",
    "to_nice_yaml", "to_nice_json", "b64encode", "b64decode", "regex_replace", "regex_search",
    "regex_findall", "replace", "split", "map", "select", "reject", "selectattr", "attribute=",
    "ternary", "mandatory", "quote", "basename", "dirname", "hash", "password_hash", "random",
    "shuffle", "flatten", "zip", "product", "subelements", "dictsort", "round", "abs", "trim",
    "center", "indent", "wordcount", "truncate", "format", "urlsplit", "ipaddr", "version",
    "defined", "undefined", "none", "match", "search", "omit", "hostvars", "groups",
    "inventory_hostname", "vars", "lipsum", "namespace", "cycler", "joiner", "\\", "\n", "é",
    "'(('", "'['", "-9223372036854775808",
];

/// Variables of every kind for the templates to use (`s` is itself a template).
fn template_scope(templar: &Arc<Templar>) -> minijinja::Value {
    let vars = serde_json::json!({
        "x": 1, "y": "two", "items": [1, "a", null, {"k": "v"}, [1, 2]],
        "d": {"a": 1, "b": [1, 2], "c": {"d": null}}, "s": "{{ x }}", "n": null, "f": 1.5,
    });
    scope(
        templar,
        vec![minijinja::Value::from(minijinja::value::Serde(vars))],
        minijinja::Value::from(minijinja::value::Serde(
            serde_json::json!({"inventory_hostname": "h1"}),
        )),
    )
}

#[test]
fn templates_never_panic() {
    let templar = Templar::new();
    let s = template_scope(&templar);
    let t: &Arc<Templar> = &templar;
    no_panics(
        "template",
        sentences(TEMPLATE_TOKENS, 6, iters(3000), 12),
        |src| {
            let _ = check_syntax(src);
            let _ = check_expr_syntax(src);
            let _ = t.template_value(&minijinja::Value::from(src), &s);
            let _ = t.eval_expr(src, &s);
            let _ = t.eval_bool(src, &s);
        },
    );
}

#[rustfmt::skip]
const ATOMS: &[&str] = &[
    "x", "y", "items", "d", "s", "n", "f", "undefined_var", "'a\\nb'", "'%s-%d'", "'{:>3}'", "''",
    "[]", "{}", "[1, [2, [3]]]", "{'a': {'b': 1}}", "-1", "0", "1e308", "'10.0.0.1/24'", "'é'",
    "range(3)", "(1, 2)", "none", "true",
];

#[rustfmt::skip]
const FILTERS: &[&str] = &[
    "indent", "slice", "batch", "format", "center", "truncate", "wordwrap", "round", "int",
    "float", "string", "list", "first", "last", "join", "split", "replace", "regex_replace",
    "regex_search", "regex_findall", "to_json", "to_nice_json", "to_yaml", "to_nice_yaml",
    "from_json", "from_yaml", "b64decode", "b64encode", "comment", "flatten", "combine",
    "dict2items", "items2dict", "ipaddr", "version", "ternary", "default", "mandatory", "unique",
    "sort", "map", "select", "selectattr", "sum", "min", "max", "random", "shuffle", "hash",
    "quote", "basename", "splitext", "subelements", "zip", "union", "difference", "dictsort",
    "attr", "title", "trim", "urlencode", "tojson", "pprint", "items", "abs", "length",
];

/// Arguments: ordinary ones and sizes no memory holds (never mid-sized ones that would only
/// make a test slow).
#[rustfmt::skip]
const ARGS: &[&str] = &[
    "", "0", "1", "2", "-1", "10000000000", "18446744073709551615", "'a'", "'%10000000000s'",
    "'[('", "x", "items", "d", "width=10000000000", "indent=10000000000", "true", "none",
    "levels=10000000000", "prefix_count=10000000000", "'b', 'c'",
];

/// `{{ atom | filter(args) | ... }}` with spaces where Jinja wants them, so most inputs get
/// past the parser and reach the filters.
fn filter_chains(target: u64, n: usize) -> impl Iterator<Item = String> {
    let mut rng = Rng::new(target);
    (0..n).map(move |_| {
        let mut expr = rng.pick(ATOMS).to_string();
        for _ in 0..1 + rng.below(3) {
            expr = format!("{expr} | {}({})", rng.pick(FILTERS), rng.pick(ARGS));
        }
        format!("{{{{ {expr} }}}}")
    })
}

#[test]
fn filter_chains_never_panic() {
    let templar = Templar::new();
    let s = template_scope(&templar);
    no_panics("filter chain", filter_chains(8, iters(3000)), |src| {
        let _ = templar.template_value(&minijinja::Value::from(src), &s);
    });
}

/// Playbooks and task files of the loader and executor fixtures (no generated output).
fn playbook_seeds() -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = files(&fixtures().join("loader"), &|p| is_yaml(p));
    let exec: Vec<PathBuf> = files(&fixtures().join("exec"), &|p| is_yaml(p))
        .into_iter()
        .step_by(4)
        .collect();
    paths.extend(exec);
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

#[test]
fn playbook_loader_never_panics() {
    let seeds = playbook_seeds();
    let texts: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let opts = LoadOptions::default();
    let n = iters(600);
    let inputs = mutants(&texts, 7, n)
        .enumerate()
        .map(|(i, text)| format!("{}\n{text}", seeds[i % seeds.len()].0.display()));
    no_panics("playbook", inputs, |input| {
        // The first line names the seed: the mutant stands for that file, so its imports,
        // roles and task files resolve beside it.
        let (path, text) = input.split_once('\n').unwrap_or(("fuzz.yml", input));
        let _ = load_playbook_text(text, Path::new(path), &opts);
    });
}

/// What a regression case must do, from its first comment lines: `# expect: error` (refused
/// when loaded), `# expect: ok` (loads), or `# expect: run fails` (loads, then the run on
/// the scripted connector fails, its output containing the `# message:` line's text).
enum Expect {
    LoadError,
    Loads,
    RunFails(String),
}

fn expectation(text: &str) -> Expect {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let message = lines
        .next()
        .and_then(|l| l.strip_prefix("# message: "))
        .unwrap_or("")
        .to_string();
    if first.contains("expect: error") {
        Expect::LoadError
    } else if first.contains("expect: run fails") {
        Expect::RunFails(message)
    } else {
        Expect::Loads
    }
}

/// A `Write` whose bytes the test reads after the run.
#[derive(Clone, Default)]
struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `case` on one scripted host (every command exits 0): its exit code and JSON events.
fn run(case: &Path) -> Result<(i32, String), String> {
    let opts = rmesos::exec::RunOptions::default();
    let pb = load_playbook(case, &opts.load).map_err(|e| e.to_string())?;
    let inv = Inventory::load_with(
        &[Source::Text {
            origin: PathBuf::from("hosts"),
            text: "localhost\n".into(),
        }],
        &InventoryOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let buf = Buffer::default();
    let sink = Box::new(rmesos::report::json::JsonLines::new(buf.clone()));
    let host = Box::new(rmesos::testbed::scripted::Scripted::new());
    let play = rmesos::exec::run_playbook(&pb, Arc::new(inv), opts, sink, host);
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let summary = rt.block_on(play);
    let out = String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|p| p.into_inner())).into();
    Ok((summary.exit_code, out))
}

/// Checks one case; what is wrong with it, if anything.
fn check_case(case: &Path) -> Option<String> {
    let text = std::fs::read_to_string(case).expect("a UTF-8 case");
    let loaded = || {
        if case.extension().is_some_and(|e| e == "ini") {
            Inventory::load(&[case.to_path_buf()]).map(|_| ())
        } else {
            load_playbook(case, &LoadOptions::default()).map(|_| ())
        }
        .map_err(|e| e.to_string())
    };
    let wrong = match expectation(&text) {
        Expect::LoadError => match catch_unwind(loaded) {
            Err(_) => "panicked".to_string(),
            Ok(Ok(())) => "loaded".to_string(),
            Ok(Err(_)) => return None,
        },
        Expect::Loads => match catch_unwind(loaded) {
            Err(_) => "panicked".to_string(),
            Ok(Err(e)) => e,
            Ok(Ok(())) => return None,
        },
        Expect::RunFails(message) => match catch_unwind(|| run(case)) {
            Err(_) => "panicked".to_string(),
            Ok(Err(e)) => e,
            Ok(Ok((0, _))) => "the run succeeded".to_string(),
            Ok(Ok((_, out))) if out.contains(&message) => return None,
            Ok(Ok((_, out))) => format!("no {message:?} in:\n{out}"),
        },
    };
    Some(format!("{}: {wrong}", case.display()))
}

/// Every input that ever panicked and every input of the issue 14 probe: none may panic, and
/// each is refused, loads, or fails its run with its message, as its first lines say.
#[test]
fn regression_cases_never_panic() {
    let dir = fixtures().join("fuzz");
    let cases = files(&dir, &|p| {
        is_yaml(p) || p.extension().is_some_and(|e| e == "ini")
    });
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let wrong: Vec<String> = cases.iter().filter_map(|c| check_case(c)).collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
