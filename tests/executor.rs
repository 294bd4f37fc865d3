//! The executor's rules, data-driven, in process: no root, no network, no processes.
//!
//! Each case is one file `tests/fixtures/exec/NAME.yml` saying what goes in:
//!
//! ```yaml
//! about: One line: what the case shows.
//! divergence: What ansible-core 2.19 does instead (only when rmesos differs today).
//! options:                 # all optional: check, diff, limit, tags, skip_tags,
//!   limit: h1              #   start_at_task, forks, extra_vars (a mapping)
//! inventory: |             # written to `hosts` (INI or YAML, as `-i` reads it)
//!   h1
//!   h2
//! hosts:                   # scripted answers, per host; `*` for every host (after its own)
//!   h2:
//!     - contains: exit 1   # or `regex: ...`; neither = every script
//!       nth: 2             # optional: only the 2nd matching script (or a list: [1, 2])
//!       rc: 1              # and/or stdout, stderr; or `unreachable: msg`; or `error: msg`
//!   h3:
//!     - refuse: no route to host   # every connection to h3 fails (unreachable)
//! files:                   # more files beside the playbook (task files, roles, vars)
//!   tasks/extra.yml: |
//!     - command: echo extra
//! playbook: |              # written to `site.yml` and run
//!   - hosts: all
//!     gather_facts: false
//!     tasks: [...]
//! ```
//!
//! Hosts answer through [`rmesos::testbed::scripted`]: rc 0 and no output unless a rule says
//! otherwise (a script ending in `exit N` answers N, as sh would). The snapshot beside it,
//! `NAME.snap`, says what comes out: the run's JSON event stream (`--output json`, one event a
//! line, with `duration_ms`, the `task_timing` events and command `delta`s removed, top-level
//! fields that are null, false or empty left out, and the case's directory shown as `$CASE`),
//! the exit code, then every connection and script each host received with the answer given.
//!
//! `cargo test --test executor` runs every case and fails naming each case whose output
//! differs from its snapshot, with a diff. `BLESS=1 cargo test --test executor` rewrites the
//! snapshots instead (review them with `git diff`). `CASE=name` runs only cases whose name
//! contains `name`. A few cases are also checked with explicit assertions below, so that a
//! careless bless cannot hide what matters most.
//!
//! A case's expected behaviour is ansible-core 2.19's. Where rmesos differs today, the
//! snapshot keeps what rmesos does and the case says `divergence:` (issue 11 works through
//! them). To check a case against Ansible, write its commands so that the scripted answers
//! are what the real commands answer (`shell: exit {{ 1 if inventory_hostname == 'h2' else 0 }}`
//! with a rule `contains: exit 1, rc: 1`), then run it under ansible-playbook over the local
//! connection (no network): `python3 -m venv /tmp/a && /tmp/a/bin/pip install
//! 'ansible-core>=2.19,<2.20'`, then `ANSIBLE_PLAYBOOK=/tmp/a/bin/ansible-playbook /tmp/a/bin/python
//! tests/fixtures/exec/ansible/compare.py [NAME ...]`; it prints, per case, "same" or a diff
//! of the two runs' results and recaps.

use indexmap::IndexMap;
use minijinja::Value;
use rmesos::exec::{RunOptions, TagFilter};
use rmesos::report::json::JsonLines;

#[path = "support/json_events.rs"]
mod json_events;
use rmesos::testbed::scripted::{Answer, Record, Rule, Scripted};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    about: String,
    #[serde(default)]
    divergence: Option<String>,
    #[serde(default)]
    options: Options,
    inventory: String,
    #[serde(default)]
    hosts: BTreeMap<String, Vec<RuleSpec>>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    playbook: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    check: bool,
    #[serde(default)]
    diff: bool,
    limit: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    skip_tags: Vec<String>,
    start_at_task: Option<String>,
    forks: Option<usize>,
    #[serde(default)]
    extra_vars: serde_json::Map<String, Json>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(usize),
    Many(Vec<usize>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    contains: Option<String>,
    regex: Option<String>,
    nth: Option<OneOrMany>,
    rc: Option<i32>,
    stdout: Option<String>,
    stderr: Option<String>,
    unreachable: Option<String>,
    error: Option<String>,
    refuse: Option<String>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exec")
}

fn load_case(path: &Path) -> Result<Case, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let docs =
        rmesos::yaml::load_str(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
    let doc = docs.first().ok_or("empty case file")?;
    let json = serde_json::to_value(doc.to_value()).map_err(|e| e.to_string())?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

/// Puts the case's files where the loaders read them: the one place that touches the disk
/// (to go once the loaders take text).
fn write_case_files(dir: &Path, case: &Case) -> std::io::Result<()> {
    let mut files: Vec<(&str, &str)> =
        vec![("site.yml", &case.playbook), ("hosts", &case.inventory)];
    files.extend(case.files.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

fn scripted(case: &Case) -> Result<Scripted, String> {
    let s = Scripted::new();
    for (host, specs) in &case.hosts {
        for spec in specs {
            if let Some(msg) = &spec.refuse {
                s.refuse(host, msg);
                continue;
            }
            let mut rule = match (&spec.contains, &spec.regex) {
                (Some(c), None) => Rule::contains(c),
                (None, Some(r)) => Rule::regex(r).map_err(|e| e.to_string())?,
                (None, None) => Rule::any(),
                (Some(_), Some(_)) => return Err("a rule has both contains and regex".into()),
            };
            match &spec.nth {
                Some(OneOrMany::One(n)) => rule = rule.nth(*n),
                Some(OneOrMany::Many(ns)) => {
                    for n in ns {
                        rule = rule.nth(*n);
                    }
                }
                None => {}
            }
            if let Some(rc) = spec.rc {
                rule = rule.rc(rc);
            }
            if let Some(out) = &spec.stdout {
                rule = rule.stdout(out);
            }
            if let Some(err) = &spec.stderr {
                rule = rule.stderr(err);
            }
            if let Some(m) = &spec.unreachable {
                rule = rule.unreachable(m);
            }
            if let Some(m) = &spec.error {
                rule = rule.error(m);
            }
            s.rule(host, rule);
        }
    }
    Ok(s)
}

fn run_options(o: &Options) -> RunOptions {
    let mut opts = RunOptions {
        check: o.check,
        diff: o.diff,
        limit: o.limit.clone(),
        tags: TagFilter {
            only: o.tags.clone(),
            skip: o.skip_tags.clone(),
        },
        start_at_task: o.start_at_task.clone(),
        extra_vars: o
            .extra_vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v.clone()))))
            .collect::<IndexMap<_, _>>(),
        ..RunOptions::default()
    };
    if let Some(f) = o.forks {
        opts.forks = f;
    }
    opts
}

/// A `Write` the test keeps a handle on while the sink owns the other.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a case run produced.
struct Outcome {
    events: Vec<Json>,
    exit_code: i32,
    scripted: Scripted,
    /// The case's directory, as it appears in the output.
    dir: PathBuf,
}

impl Outcome {
    /// Hosts with a result for the task named `task` (in event order; loop items repeat).
    fn hosts_of(&self, task: &str) -> Vec<String> {
        let mut current = None;
        let mut out = vec![];
        for e in &self.events {
            match e["event"].as_str() {
                Some("task_start") => current = e["name"].as_str().map(str::to_string),
                Some("host_result")
                    if current.as_deref() == Some(task) && e["loop_summary"] != true =>
                {
                    out.push(e["host"].as_str().unwrap_or("?").to_string());
                }
                _ => {}
            }
        }
        out
    }

    fn stat(&self, host: &str, counter: &str) -> u64 {
        self.events
            .iter()
            .rev()
            .find(|e| e["event"] == "recap")
            .and_then(|e| e["stats"][host][counter].as_u64())
            .unwrap_or_else(|| panic!("no {counter} for {host}"))
    }
}

fn run_case(case: &Case) -> Result<Outcome, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().canonicalize().map_err(|e| e.to_string())?;
    write_case_files(&dir, case).map_err(|e| e.to_string())?;
    let mut opts = run_options(&case.options);
    // What the loader knows as `rmesos play -i hosts -e ...` gives it.
    opts.load.extra_vars = opts.extra_vars.clone();
    opts.load.inventory = Some(rmesos::plan::InventoryPlace {
        dir: dir.display().to_string(),
        file: dir.join("hosts").display().to_string(),
    });
    let pb = rmesos::plan::load_playbook(&dir.join("site.yml"), &opts.load)
        .map_err(|e| format!("the playbook does not load: {e}"))?;
    let mut inv = rmesos::inventory::Inventory::load(&[dir.join("hosts")])
        .map_err(|e| format!("the inventory does not load: {e}"))?;
    inv.add_vars_dirs(&dir).map_err(|e| e.to_string())?;
    let scripted = scripted(case)?;
    let buf = Buffer::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let summary = rt.block_on(rmesos::exec::run_playbook(
        &pb,
        Arc::new(inv),
        opts,
        Box::new(JsonLines::new(buf.clone())),
        Box::new(scripted.clone()),
    ));
    let bytes = buf.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let events = String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}")))
        .collect::<Result<Vec<Json>, String>>()?;
    // Every event of every case is an event of the documented schema.
    events.iter().for_each(json_events::check_event);
    Ok(Outcome {
        events,
        exit_code: summary.exit_code,
        scripted,
        dir,
    })
}

/// Removes what differs from run to run: timings (and the events that carry only timings).
fn deterministic(mut ev: Json) -> Option<Json> {
    fn scrub(v: &mut Json) {
        match v {
            Json::Object(m) => {
                m.remove("delta");
                m.values_mut().for_each(scrub);
            }
            Json::Array(a) => a.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    if ev["event"] == "task_timing" {
        return None;
    }
    let m = ev.as_object_mut()?;
    m.remove("duration_ms");
    m.remove("elapsed_ms");
    m.retain(|_, v| match v {
        Json::Null | Json::Bool(false) => false,
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
        _ => true,
    });
    if let Some(r) = m.get_mut("result") {
        scrub(r);
    }
    Some(ev)
}

fn render(case_name: &str, o: &Outcome) -> String {
    let mut out = format!(
        "# {case_name}.yml as rmesos runs it (BLESS=1 cargo test --test executor rewrites this)\n\n## events\n"
    );
    for ev in o.events.iter().cloned().filter_map(deterministic) {
        out.push_str(&ev.to_string());
        out.push('\n');
    }
    out.push_str(&format!("\n## exit code {}\n", o.exit_code));
    let log = o.scripted.log();
    let mut hosts: Vec<&str> = log.iter().map(Record::host).collect();
    hosts.sort();
    hosts.dedup();
    for h in hosts {
        out.push_str(&format!("\n## host {h}\n"));
        for r in log.iter().filter(|r| r.host() == h) {
            out.push_str(&describe(r));
            out.push('\n');
        }
    }
    let dir = o.dir.display().to_string();
    out.replace(&dir, "$CASE")
}

fn describe(r: &Record) -> String {
    let q = |s: &str| Json::from(s).to_string();
    match r {
        Record::Connect {
            kind,
            user,
            refused,
            ..
        } => format!(
            "connect kind={} user={}{}",
            q(kind),
            user.as_deref().map_or("-".to_string(), q),
            if *refused { " -> refused" } else { "" }
        ),
        Record::Exec {
            script,
            stdin,
            become_user,
            answer,
            ..
        } => {
            let mut s = String::from("exec");
            if let Some(u) = become_user {
                s.push_str(&format!(" become={}", q(u)));
            }
            if !stdin.is_empty() {
                s.push_str(&format!(" stdin={}", q(&String::from_utf8_lossy(stdin))));
            }
            s.push(' ');
            s.push_str(&q(script));
            s.push_str(&match answer {
                Answer::Exit { rc, stdout, stderr } => {
                    let mut a = format!(" -> rc {rc}");
                    if !stdout.is_empty() {
                        a.push_str(&format!(" stdout {}", q(stdout)));
                    }
                    if !stderr.is_empty() {
                        a.push_str(&format!(" stderr {}", q(stderr)));
                    }
                    a
                }
                Answer::Unreachable(m) => format!(" -> unreachable {}", q(m)),
                Answer::Error(m) => format!(" -> error {}", q(m)),
            });
            s
        }
    }
}

fn case_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

fn name_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Runs a case by name, for the explicit assertions.
fn case(name: &str) -> Outcome {
    let path = fixtures().join(format!("{name}.yml"));
    let case = load_case(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    run_case(&case).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn cases_match_their_snapshots() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let only = std::env::var("CASE").ok();
    let paths = case_paths();
    assert!(!paths.is_empty(), "no cases in {}", fixtures().display());
    let mut failures = vec![];
    let mut ran = 0;
    for path in paths {
        let name = name_of(&path);
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        ran += 1;
        let rendered = load_case(&path).and_then(|c| {
            if c.about.trim().is_empty() {
                return Err("`about` is empty".into());
            }
            if c.divergence.as_ref().is_some_and(|d| d.trim().is_empty()) {
                return Err("`divergence` is empty".into());
            }
            run_case(&c).map(|o| render(&name, &o))
        });
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let snap = path.with_extension("snap");
        if bless {
            if let Err(e) = std::fs::write(&snap, &rendered) {
                failures.push(format!("{}: {e}", snap.display()));
            }
            continue;
        }
        let expected = std::fs::read_to_string(&snap).unwrap_or_default();
        if expected != rendered {
            let diff = similar::TextDiff::from_lines(&expected, &rendered)
                .unified_diff()
                .context_radius(2)
                .header(
                    &format!("{} (expected)", snap.display()),
                    "what rmesos does now",
                )
                .to_string();
            failures.push(format!(
                "case {} differs from its snapshot:\n{diff}",
                path.display()
            ));
        }
    }
    assert!(ran > 0, "CASE={only:?} matches no case");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed (BLESS=1 rewrites the snapshots):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_snapshot_has_its_case() {
    let cases: Vec<String> = case_paths().iter().map(|p| name_of(p)).collect();
    let rd = std::fs::read_dir(fixtures()).expect("the fixtures directory");
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "snap") {
            assert!(
                cases.contains(&name_of(&p)),
                "{} has no case beside it",
                p.display()
            );
        }
    }
}

// ---- explicit assertions on the cases that matter most ----

#[test]
fn rescue_runs_on_exactly_the_failed_hosts_and_always_on_all() {
    let o = case("block_rescue_some_hosts");
    assert_eq!(o.hosts_of("Rescue"), ["h2", "h4"]);
    assert_eq!(o.hosts_of("Always"), ["h1", "h2", "h3", "h4"]);
    assert_eq!(o.hosts_of("Next"), ["h1", "h2", "h3", "h4"]);
    for h in ["h2", "h4"] {
        assert_eq!((o.stat(h, "rescued"), o.stat(h, "failed")), (1, 0), "{h}");
    }
    assert_eq!(o.exit_code, 0);
}

#[test]
fn handler_runs_once_and_only_where_notified() {
    let o = case("handlers_notify");
    assert_eq!(o.hosts_of("Restart"), ["h1", "h2"]);
    let restarts = |h: &str| {
        o.scripted
            .scripts(h)
            .iter()
            .filter(|s| s.contains("echo restart"))
            .count()
    };
    assert_eq!((restarts("h1"), restarts("h2"), restarts("h3")), (1, 1, 0));
    // After every task: the handler's script is each host's last.
    assert!(
        o.scripted
            .scripts("h1")
            .last()
            .is_some_and(|s| s.contains("restart"))
    );
    let o = case("handlers_notified_twice");
    assert_eq!(o.hosts_of("Restart"), ["h1", "h2"]);
}

#[test]
fn a_failed_host_runs_no_handler_unless_forced() {
    let o = case("handlers_failed_host");
    assert_eq!(o.hosts_of("Restart"), ["h1"]);
    let o = case("handlers_force");
    assert_eq!(o.hosts_of("Restart"), ["h1", "h2"]);
    assert_eq!(o.stat("h2", "failed"), 1);
}

#[test]
fn run_once_runs_on_the_first_host_and_its_register_lands_on_all() {
    let o = case("run_once_register");
    assert_eq!(o.hosts_of("Once"), ["h1"]);
    assert_eq!(o.scripted.touched(), ["h1"]);
    let msgs: Vec<&str> = o
        .events
        .iter()
        .filter(|e| e["event"] == "host_result" && e["result"]["msg"].is_string())
        .filter_map(|e| e["result"]["msg"].as_str())
        .collect();
    assert_eq!(msgs, ["h1 got token", "h2 got token", "h3 got token"]);
}

#[test]
fn any_errors_fatal_stops_every_host_after_the_task() {
    let o = case("any_errors_fatal_play");
    assert_eq!(o.hosts_of("Fails on h2"), ["h1", "h2", "h3"]);
    assert!(o.hosts_of("Never runs").is_empty());
    assert!(o.hosts_of("Next play").is_empty());
    assert!(o.events.iter().any(|e| e["event"] == "play_aborted"));
    assert_eq!(o.exit_code, 2);
}

#[test]
fn limit_and_unreachable_hosts_receive_nothing() {
    let o = case("limit");
    assert_eq!(o.scripted.touched(), ["h1", "h3"]);
    let o = case("unreachable_midway");
    // h2's second script died: it got nothing after it.
    assert_eq!(o.scripted.scripts("h2").len(), 2);
    assert_eq!(o.hosts_of("Third"), ["h1"]);
    assert_eq!((o.stat("h2", "unreachable"), o.exit_code), (1, 4));
}

#[test]
fn delegated_work_lands_on_the_delegate_with_its_connection() {
    let o = case("delegate_to_host");
    assert_eq!(
        o.scripted.scripts("h3"),
        ["exec echo backup h1\n", "exec echo backup h2\n"]
    );
    let h3_connects: Vec<(String, Option<String>)> = o
        .scripted
        .log()
        .into_iter()
        .filter_map(|r| match r {
            Record::Connect {
                host, kind, user, ..
            } if host == "h3" => Some((kind, user)),
            _ => None,
        })
        .collect();
    assert_eq!(
        h3_connects,
        [("ssh".to_string(), Some("backup".to_string()))]
    );
}

#[test]
fn until_retries_until_the_condition_holds() {
    let o = case("until_retries");
    assert_eq!(o.scripted.scripts("h1").len(), 3);
    assert_eq!(o.stat("h1", "failed"), 0);
    let o = case("until_exhausted");
    assert_eq!(o.scripted.scripts("h1").len(), 3);
    assert_eq!(o.stat("h1", "failed"), 1);
}
