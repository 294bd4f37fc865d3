//! `--output json`: one JSON object per event per line, for machines. The contract is
//! docs/json-events.md and the JSON Schema docs/schema/events-v1.json; the stream's first
//! line is [`stream_start`], naming the schema and its version.

use super::{Event, Sink};
use serde_json::json;
use std::io::Write;
use std::time::Instant;

/// The name of the event schema, in the stream's first event.
pub const SCHEMA: &str = "rmesos-events";
/// Its version: a field removed or changed in meaning is a new version; a field or an event
/// added is not.
pub const VERSION: u32 = 1;

pub struct JsonLines<W: Write + Send> {
    out: W,
    /// When the run started (the recap's `elapsed_ms`).
    started: Instant,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            started: Instant::now(),
        }
    }
}

/// The stream's first event: which schema the lines follow.
pub fn stream_start() -> serde_json::Value {
    json!({
        "event": "stream_start", "schema": SCHEMA, "version": VERSION,
        "rmesos": env!("CARGO_PKG_VERSION"),
    })
}

/// A command that stopped before or instead of running (a load error, bad options): the
/// message as stderr shows it, and the exit code.
pub fn error(msg: &str, exit_code: i32) -> serde_json::Value {
    let mut v = json!({"event": "error", "msg": msg, "exit_code": exit_code});
    censor(&mut v);
    v
}

/// Replaces vault secrets in every string of the event (before escaping, so a secret with a
/// quote in it is found too).
fn censor(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(c) = crate::vault::censor(s) {
                *s = c;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(censor),
        serde_json::Value::Object(m) => m.values_mut().for_each(censor),
        _ => {}
    }
}

fn to_json(v: &minijinja::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn event(&mut self, ev: &Event) {
        let mut line = match ev {
            Event::PlaybookStart { path } => json!({"event": "playbook_start", "path": path}),
            Event::PlayStart { name, hosts } => {
                json!({"event": "play_start", "name": name, "hosts": hosts})
            }
            Event::NoHostsMatched { pattern } => {
                json!({"event": "no_hosts_matched", "pattern": pattern})
            }
            Event::TaskStart {
                name,
                handler,
                location,
            } => {
                json!({"event": "task_start", "name": name, "handler": handler, "location": location})
            }
            Event::Progress { .. } => return,
            Event::Verbose {
                host, level, msg, ..
            } => json!({"event": "verbose", "host": host, "level": level, "msg": msg}),
            Event::HostResult(r) => {
                let result = if r.no_log {
                    json!({"censored": "the output has been hidden due to no_log: true"})
                } else {
                    to_json(&r.result)
                };
                json!({
                    "event": "host_result", "host": r.host, "delegated_to": r.delegated_to,
                    "status": r.status, "item": r.item, "msg": if r.no_log { None } else { r.msg.clone() },
                    "ignored": r.ignored, "loop_summary": r.loop_summary,
                    "duration_ms": r.duration.as_millis() as u64, "result": result,
                    "diff": r.diff.iter().map(|d| json!({"path": d.path, "before": d.before, "after": d.after})).collect::<Vec<_>>(),
                })
            }
            Event::Warning(w) => json!({"event": "warning", "msg": w}),
            Event::PlayAborted { reason } => json!({"event": "play_aborted", "reason": reason}),
            Event::Recap { stats, wire } => {
                let elapsed = self.started.elapsed().as_millis() as u64;
                json!({"event": "recap", "stats": stats, "wire": wire, "elapsed_ms": elapsed})
            }
            Event::TaskTiming {
                name,
                role,
                elapsed,
            } => {
                json!({"event": "task_timing", "name": name, "role": role, "elapsed_ms": elapsed.as_millis() as u64})
            }
        };
        censor(&mut line);
        // A closed stdout (piped into `head`) must not kill the run.
        let _ = writeln!(self.out, "{}", line);
        let _ = self.out.flush();
    }
}
