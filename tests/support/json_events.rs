//! The `--output json` contract, for every test that reads JSON events: each line must be one
//! JSON object that validates against docs/schema/events-v1.json, and a stream from the binary
//! starts with `stream_start`. Include with `#[path = "support/json_events.rs"] mod json_events;`.

#![allow(dead_code)] // each test binary uses its own part

use serde_json::Value;
use std::sync::OnceLock;

/// The checked-in schema, compiled once per test binary.
pub fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema/events-v1.json");
        let text = std::fs::read_to_string(path).expect("the schema is checked in");
        let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the schema compiles")
    })
}

/// Panics naming the event and every way it breaks the schema.
pub fn check_event(ev: &Value) {
    let errors: Vec<String> = validator()
        .iter_errors(ev)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "event breaks docs/schema/events-v1.json:\n{ev}\n{}",
        errors.join("\n")
    );
}

/// Every line of a JSON-lines text, parsed and checked (no line may be anything else).
pub fn check_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            let ev: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l:?}\n{text}"));
            check_event(&ev);
            ev
        })
        .collect()
}

/// The binary's stdout under `--output json`: [`check_lines`], and when anything was written,
/// the first event names the schema and its version.
pub fn check_stream(stdout: &str) -> Vec<Value> {
    let events = check_lines(stdout);
    if let Some(first) = events.first() {
        assert_eq!(first["event"], "stream_start", "{stdout}");
        assert_eq!(first["schema"], "rmesos-events", "{stdout}");
        assert_eq!(first["version"], 1, "{stdout}");
    }
    let starts = events.iter().filter(|e| e["event"] == "stream_start");
    assert_eq!(
        starts.count(),
        1.min(events.len()),
        "one stream_start: {stdout}"
    );
    events
}
