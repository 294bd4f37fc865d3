//! Events out, presentation elsewhere: the executor emits [`Event`]s; sinks turn them into
//! human output (colours, PLAY/TASK headers, recap) or JSON lines. Owns all printing of a run;
//! knows nothing of how tasks run.

pub mod human;
pub mod json;
#[cfg(test)]
mod tests;

use crate::modules::FileDiff;
use indexmap::IndexMap;
use minijinja::Value;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

/// Per-host counters of the PLAY RECAP.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl HostStats {
    /// Nothing was counted for the host.
    pub fn is_empty(&self) -> bool {
        self.ok
            + self.changed
            + self.unreachable
            + self.failed
            + self.skipped
            + self.rescued
            + self.ignored
            == 0
    }
}

/// One host's result for one task (or one loop item of it).
#[derive(Clone, Debug)]
pub struct HostResult {
    pub host: String,
    pub delegated_to: Option<String>,
    pub status: Status,
    /// The loop item's label, for loops.
    pub item: Option<String>,
    pub msg: Option<String>,
    /// The registered result (shown at -v, and always for failures and debug).
    pub result: Value,
    pub diff: Vec<FileDiff>,
    pub ignored: bool,
    pub no_log: bool,
    /// This is the summary line of a loop (its items were reported already).
    pub loop_summary: bool,
    pub duration: Duration,
}

#[derive(Clone, Debug)]
pub enum Event {
    PlaybookStart {
        path: String,
    },
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    NoHostsMatched {
        pattern: String,
    },
    TaskStart {
        name: String,
        handler: bool,
        location: String,
    },
    /// A task is still running on some hosts (for a progress line, every second); `waiting`
    /// names them, `elapsed` is the time since the task started.
    Progress {
        task: String,
        done: usize,
        total: usize,
        waiting: Vec<String>,
        elapsed: Duration,
    },
    HostResult(Box<HostResult>),
    Warning(String),
    /// The run stopped early for every remaining host of the play.
    PlayAborted {
        reason: String,
    },
    Recap {
        stats: IndexMap<String, HostStats>,
        /// Scripts and SSH sessions per host (hosts reached over SSH only).
        wire: IndexMap<String, crate::connection::WireStats>,
    },
    TaskTiming {
        name: String,
        /// The role the task belongs to (for `--profile`'s per-role totals).
        role: Option<String>,
        elapsed: Duration,
    },
    /// What `-vvv` and `-vvvv` show: how a host is reached, connection retries and why
    /// (level 3), the scripts sent (level 4). Emitted only at that verbosity or above.
    Verbose {
        host: Option<String>,
        level: u8,
        msg: String,
        /// The text belongs to a `no_log` task: [`Event::censored`] replaces it.
        no_log: bool,
    },
}

/// What a `no_log` result shows instead of its content.
pub const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

impl HostResult {
    /// The result as every sink may see it: for `no_log`, the item label becomes `None`, as
    /// Ansible prints it, and the message, result and diffs are replaced or dropped, so no
    /// sink (human, JSON, a future one, any verbosity) can show a secret by mistake.
    pub fn censored(mut self) -> HostResult {
        if self.no_log {
            self.item = self.item.map(|_| "None".to_string());
            self.msg = None;
            self.result = Value::from_pairs([("censored", CENSORED)]);
            self.diff.clear();
        }
        self
    }
}

impl Event {
    /// The event with [`HostResult::censored`] applied: the one masking point between the
    /// executor and the sinks.
    pub fn censored(self) -> Event {
        match self {
            Event::HostResult(r) => Event::HostResult(Box::new(r.censored())),
            Event::Verbose {
                host,
                level,
                no_log: true,
                ..
            } => Event::Verbose {
                host,
                level,
                msg: CENSORED.to_string(),
                no_log: true,
            },
            other => other,
        }
    }
}

/// A place events go.
pub trait Sink: Send {
    fn event(&mut self, ev: &Event);
}

/// Sends each event to several sinks.
pub struct Fanout(pub Vec<Box<dyn Sink>>);

impl Sink for Fanout {
    fn event(&mut self, ev: &Event) {
        for s in &mut self.0 {
            s.event(ev);
        }
    }
}

/// Collects events in memory (used by `--list-*` and by tests).
#[derive(Default)]
pub struct Memory(pub Vec<Event>);

impl Sink for Memory {
    fn event(&mut self, ev: &Event) {
        self.0.push(ev.clone());
    }
}
