//! The sinks on hand-made events: what a user reads (human) and what a machine parses (JSON).

use super::human::Human;
use super::json::JsonLines;
use super::{Event, HostResult, HostStats, Sink, Status};
use crate::connection::WireStats;
use crate::modules::FileDiff;
use indexmap::IndexMap;
use minijinja::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A writer whose bytes the test reads back after the sink is done.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn human(verbosity: u8, events: &[Event]) -> String {
    let buf = Buf::default();
    let mut sink = Human::new(buf.clone(), false, verbosity);
    for e in events {
        sink.event(e);
    }
    buf.text()
}

fn adhoc(events: &[Event]) -> String {
    let buf = Buf::default();
    let mut sink = Human::new(buf.clone(), false, 0).adhoc();
    for e in events {
        sink.event(e);
    }
    buf.text()
}

fn json(events: &[Event]) -> Vec<serde_json::Value> {
    let buf = Buf::default();
    let mut sink = JsonLines::new(buf.clone());
    for e in events {
        sink.event(e);
    }
    buf.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn result(host: &str, status: Status, pairs: &[(&str, Value)]) -> HostResult {
    HostResult {
        host: host.into(),
        delegated_to: None,
        status,
        item: None,
        msg: None,
        result: Value::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.clone()))),
        diff: vec![],
        ignored: false,
        no_log: false,
        loop_summary: false,
        duration: Duration::from_millis(7),
    }
}

fn task(name: &str) -> Event {
    Event::TaskStart {
        name: name.into(),
        handler: false,
        location: "site.yml:3:7".into(),
    }
}

fn host_event(r: HostResult) -> Event {
    Event::HostResult(Box::new(r))
}

#[test]
fn headers_are_79_columns_and_a_task_header_is_printed_when_the_task_starts() {
    let out = human(
        0,
        &[
            Event::PlayStart {
                name: "web".into(),
                hosts: vec!["h1".into()],
            },
            task("Install"),
        ],
    );
    // Before any result: a hung task shows what it is.
    assert_eq!(
        out,
        format!(
            "\nPLAY [web] {}\n\nTASK [Install] {}\n",
            "*".repeat(68),
            "*".repeat(64)
        )
    );
}

/// The Human sink's output for `events`, with "still running" lines every `every`.
fn piped(every: Duration, events: &[Event]) -> String {
    let buf = Buf::default();
    let mut sink = Human::new(buf.clone(), false, 0).still_running_every(Some(every));
    for e in events {
        sink.event(e);
    }
    buf.text()
}

fn progress(secs: u64, waiting: &[&str]) -> Event {
    Event::Progress {
        task: "t".into(),
        done: 3 - waiting.len(),
        total: 3,
        waiting: waiting.iter().map(|h| h.to_string()).collect(),
        elapsed: Duration::from_secs(secs),
    }
}

#[test]
fn a_pipe_gets_still_running_lines_at_the_interval_then_spaced_out() {
    let mut ev = vec![task("t")];
    ev.extend((1..=150).map(|s| progress(s, &["h1", "h2"])));
    let out = piped(Duration::from_secs(15), &ev);
    let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("still")).collect();
    assert_eq!(
        notes,
        [
            "still running: t on 2 hosts (15 s): h1, h2",
            "still running: t on 2 hosts (30 s): h1, h2",
            "still running: t on 2 hosts (45 s): h1, h2",
            "still running: t on 2 hosts (60 s): h1, h2",
            "still running: t on 2 hosts (120 s): h1, h2",
        ],
        "{out}"
    );
    // A new task starts the schedule again; without an interval there is no line.
    let again = piped(
        Duration::from_secs(15),
        &[progress(20, &["h1"]), task("u"), progress(14, &["h1"])],
    );
    assert_eq!(again.matches("still running").count(), 1, "{again}");
    assert!(!human(0, &[task("t"), progress(100, &["h1"])]).contains("still running"));
}

#[test]
fn the_recap_ends_with_the_total_time_and_profile_lists_tasks_and_roles() {
    let timing = |name: &str, role: Option<&str>, ms: u64| Event::TaskTiming {
        name: name.into(),
        role: role.map(str::to_string),
        elapsed: Duration::from_millis(ms),
    };
    let ev = [
        timing("db : install", Some("db"), 3000),
        timing("quick", None, 10),
        timing("web : config", Some("web"), 500),
        timing("db : start", Some("db"), 1500),
        Event::Recap {
            stats: IndexMap::new(),
            wire: IndexMap::new(),
        },
    ];
    let plain = human(0, &ev);
    assert!(
        plain
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("finished in "),
        "{plain}"
    );
    assert!(!plain.contains("TASKS BY TIME"), "{plain}");
    let buf = Buf::default();
    let mut sink = Human::new(buf.clone(), false, 0).profile(true);
    for e in &ev {
        sink.event(e);
    }
    let out = buf.text();
    let tasks = out.split("TASKS BY TIME").nth(1).unwrap();
    let (tasks, roles) = tasks.split_once("ROLES BY TIME").unwrap();
    let names: Vec<&str> = tasks
        .lines()
        .filter_map(|l| l.split_once("s  ").map(|(_, n)| n))
        .collect();
    assert_eq!(
        names,
        ["db : install", "db : start", "web : config", "quick"]
    );
    assert!(roles.contains("     4.50s  db\n"), "{roles}");
    assert!(roles.contains("     0.50s  web\n"), "{roles}");
    assert!(roles.contains("     0.01s  (play tasks)\n"), "{roles}");
}

#[test]
fn verbose_events_show_at_their_level_and_no_log_hides_them() {
    let v = |no_log: bool| Event::Verbose {
        host: Some("h1".into()),
        level: 4,
        msg: "SCRIPT:\necho s3cret".into(),
        no_log,
    };
    assert!(!human(3, &[v(false)]).contains("s3cret"));
    assert_eq!(human(4, &[v(false)]), "<h1> SCRIPT:\necho s3cret\n");
    let hidden = human(4, &[v(true).censored()]);
    assert!(!hidden.contains("s3cret"), "{hidden}");
    assert!(hidden.contains("no_log"), "{hidden}");
    let j = json(&[v(true).censored()]);
    assert!(!j[0].to_string().contains("s3cret"), "{j:?}");
    assert_eq!(j[0]["level"], 4);
}

#[test]
fn one_line_per_status_as_ansible_prints_it() {
    let mut delegated = result("h1", Status::Changed, &[]);
    delegated.delegated_to = Some("db".into());
    let mut item = result("h2", Status::Ok, &[]);
    item.item = Some("pkg-a".into());
    let mut failed = result("h3", Status::Failed, &[("rc", Value::from(1))]);
    failed.msg = Some("non-zero return code".into());
    let mut ignored = failed.clone();
    ignored.host = "h4".into();
    ignored.ignored = true;
    let unreachable = result(
        "h5",
        Status::Unreachable,
        &[("unreachable", Value::from(true))],
    );
    let out = human(
        0,
        &[
            task("t"),
            host_event(delegated),
            host_event(item),
            host_event(result("h6", Status::Skipped, &[])),
            host_event(failed),
            host_event(ignored),
            host_event(unreachable),
        ],
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with(' ') && *l != "}")
        .collect();
    assert!(lines.contains(&"changed: [h1 -> db]"), "{out}");
    assert!(lines.contains(&"ok: [h2] => (item=pkg-a)"), "{out}");
    assert!(lines.contains(&"skipping: [h6]"), "{out}");
    assert!(lines.contains(&"fatal: [h3]: FAILED! => {"), "{out}");
    assert!(out.contains("\"msg\": \"non-zero return code\""), "{out}");
    assert!(lines.contains(&"...ignoring"), "{out}");
    assert!(lines.contains(&"fatal: [h5]: UNREACHABLE! => {"), "{out}");
}

#[test]
fn no_log_hides_the_result_in_both_sinks() {
    let mut r = result("h1", Status::Failed, &[("stdout", Value::from("S3cret"))]);
    r.no_log = true;
    r.msg = Some("S3cret in a message".into());
    r.diff = vec![FileDiff {
        path: "/etc/secret".into(),
        before: "old S3cret\n".into(),
        after: "new S3cret\n".into(),
    }];
    let ev = [task("t"), host_event(r)];
    let text = human(3, &ev);
    assert!(!text.contains("S3cret"), "{text}");
    assert!(text.contains("censored"), "{text}");
    let lines = json(&ev);
    let line = serde_json::to_string(&lines[1]).unwrap();
    assert!(line.contains("censored"), "{line}");
    assert_eq!(lines[1]["msg"], serde_json::Value::Null);
    assert_eq!(lines[1]["result"]["stdout"], serde_json::Value::Null);
}

#[test]
fn diff_is_unified_with_before_and_after_headers() {
    let mut r = result("h1", Status::Changed, &[]);
    r.diff = vec![FileDiff {
        path: "/etc/motd".into(),
        before: "a\nb\n".into(),
        after: "a\nc\n".into(),
    }];
    let out = human(0, &[task("t"), host_event(r)]);
    assert!(
        out.contains("--- before: /etc/motd\n+++ after: /etc/motd\n"),
        "{out}"
    );
    assert!(out.contains("-b\n+c\n"), "{out}");
}

#[test]
fn recap_aligns_hosts_and_shows_the_wire_at_vv() {
    let mut stats = IndexMap::new();
    stats.insert(
        "h1".to_string(),
        HostStats {
            ok: 3,
            changed: 1,
            ..Default::default()
        },
    );
    let mut wire = IndexMap::new();
    wire.insert(
        "h1".to_string(),
        WireStats {
            scripts: 4,
            sessions: 1,
        },
    );
    let recap = Event::Recap { stats, wire };
    let out = human(0, std::slice::from_ref(&recap));
    assert!(
        out.contains(&format!(
            "{:<20} : ok=3    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0",
            "h1"
        )),
        "{out}"
    );
    assert!(!out.contains("SSH session"), "{out}");
    let vv = human(2, &[recap]);
    assert!(vv.contains("4 scripts over 1 SSH session\n"), "{vv}");
}

#[test]
fn task_location_at_vv_and_timing_at_v() {
    let ev = [
        task("t"),
        host_event(result("h1", Status::Ok, &[])),
        Event::TaskTiming {
            name: "t".into(),
            role: None,
            elapsed: Duration::from_millis(1500),
        },
    ];
    assert!(!human(0, &ev).contains("1.50s"));
    assert!(human(1, &ev).contains("  (t: 1.50s)"));
    assert!(human(2, &ev).contains("TASK [t] (site.yml:3:7)"));
}

#[test]
fn play_aborted_and_warnings_are_shown() {
    let out = human(
        0,
        &[
            Event::Warning("handler \"x\" is not defined".into()),
            Event::PlayAborted {
                reason: "every host has failed".into(),
            },
            Event::NoHostsMatched {
                pattern: "web".into(),
            },
        ],
    );
    assert!(
        out.contains("[WARNING]: handler \"x\" is not defined\n"),
        "{out}"
    );
    assert!(
        out.contains("NO MORE HOSTS LEFT: every host has failed\n"),
        "{out}"
    );
    assert!(
        out.contains("skipping: no hosts matched \"web\"\n"),
        "{out}"
    );
}

#[test]
fn adhoc_prints_rc_and_stdout_as_the_ansible_command_does() {
    let r = result(
        "h1",
        Status::Changed,
        &[
            ("rc", Value::from(0)),
            ("stdout", Value::from("hello")),
            ("stderr", Value::from("")),
        ],
    );
    let ping = result("h2", Status::Ok, &[("ping", Value::from("pong"))]);
    let out = adhoc(&[task("t"), host_event(r), host_event(ping)]);
    assert!(out.starts_with("h1 | CHANGED | rc=0 >>\nhello\n"), "{out}");
    assert!(
        out.contains("h2 | SUCCESS => {\n  \"ping\": \"pong\"\n}"),
        "{out}"
    );
}

#[test]
fn json_events_have_their_documented_fields() {
    let mut r = result("h1", Status::Changed, &[("rc", Value::from(0))]);
    r.item = Some("a".into());
    let lines = json(&[
        Event::PlaybookStart {
            path: "site.yml".into(),
        },
        Event::PlayStart {
            name: "p".into(),
            hosts: vec!["h1".into()],
        },
        task("t"),
        Event::Progress {
            task: "t".into(),
            done: 0,
            total: 1,
            waiting: vec!["h1".into()],
            elapsed: Duration::from_secs(1),
        },
        host_event(r),
    ]);
    assert_eq!(lines.len(), 4, "progress is not a JSON event: {lines:?}");
    assert_eq!(lines[0]["event"], "playbook_start");
    assert_eq!(lines[1]["hosts"][0], "h1");
    assert_eq!(lines[2]["location"], "site.yml:3:7");
    let h = &lines[3];
    assert_eq!(h["event"], "host_result");
    assert_eq!(h["status"], "changed");
    assert_eq!(h["item"], "a");
    assert_eq!(h["duration_ms"], 7);
    assert_eq!(h["result"]["rc"], 0);
}

/// Every kind of event the JSON sink writes, each checked against docs/schema/events-v1.json.
#[test]
fn every_json_event_kind_validates_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/schema/events-v1.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut failed = result("h1", Status::Failed, &[("msg", Value::from("boom"))]);
    failed.msg = Some("boom".into());
    failed.delegated_to = Some("d1".into());
    failed.diff = vec![FileDiff {
        path: "/etc/x".into(),
        before: "a\n".into(),
        after: "b\n".into(),
    }];
    let mut secret = result("h1", Status::Ok, &[("pw", Value::from("x"))]);
    secret.no_log = true;
    secret.item = Some("x".into());
    let mut stats = IndexMap::new();
    stats.insert("h1".to_string(), HostStats::default());
    let mut wire = IndexMap::new();
    wire.insert("h1".to_string(), WireStats::default());
    let events = [
        Event::PlaybookStart {
            path: "site.yml".into(),
        },
        Event::PlayStart {
            name: "p".into(),
            hosts: vec!["h1".into()],
        },
        Event::NoHostsMatched {
            pattern: "web".into(),
        },
        task("t"),
        host_event(result("h1", Status::Ok, &[])),
        host_event(failed),
        Event::HostResult(Box::new(secret.censored())),
        Event::Warning("w".into()),
        Event::PlayAborted { reason: "r".into() },
        Event::TaskTiming {
            name: "t".into(),
            role: Some("db".into()),
            elapsed: Duration::ZERO,
        },
        Event::Verbose {
            host: None,
            level: 3,
            msg: "m".into(),
            no_log: false,
        },
        Event::Recap { stats, wire },
    ];
    let mut lines = json(&events);
    lines.push(super::json::stream_start());
    lines.push(super::json::error("ERROR! x", 1));
    assert_eq!(lines.len(), events.len() + 2);
    for line in &lines {
        let errors: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
    }
    // The schema can fail: an unknown event and a missing field are refused.
    assert!(!validator.is_valid(&serde_json::json!({"event": "nope"})));
    assert!(!validator.is_valid(&serde_json::json!({"event": "warning"})));
}
