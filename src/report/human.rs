//! Output an Ansible user recognises: PLAY/TASK headers (printed when the task starts), one
//! line per host, a PLAY RECAP ending with the run's total time; colours and a live progress
//! line (elapsed time, hosts still working) on a terminal, a "still running" line at a steady
//! interval in a pipe, per-task times at `-v`, the slowest tasks and roles with `--profile`,
//! connections at `-vvv` and scripts at `-vvvv`.

use super::{Event, HostResult, Sink, Status};
use console::{Style, Term};
use std::io::Write;
use std::time::{Duration, Instant};

/// How many "still running" lines come at the base interval before they space out.
const NOTES_AT_BASE_INTERVAL: u32 = 4;
/// Then one every this many base intervals (15 s → every minute).
const NOTE_BACKOFF: u32 = 4;
/// How many of the slowest tasks `--profile` lists.
const PROFILE_TASKS: usize = 20;

pub struct Human<W: Write + Send> {
    /// One event's text, censored (vault secrets) before it reaches `sink`.
    out: Vec<u8>,
    sink: W,
    colour: bool,
    verbosity: u8,
    /// Show the live progress line (stderr is a terminal).
    progress: bool,
    progress_shown: bool,
    /// `rmesos run`: one block per host as the `ansible` command prints, no headers.
    adhoc: bool,
    /// Print "still running: TASK on N hosts (45 s)" lines in the output at this base interval
    /// (stdout is not a terminal).
    still_running: Option<Duration>,
    /// When the running task's next "still running" line is due, and how many it had.
    next_note: Duration,
    notes: u32,
    /// When the run started (for the recap's total time).
    started: Instant,
    /// `--profile`: each task's time and role, listed after the recap.
    profile: Option<Vec<(String, Option<String>, Duration)>>,
}

impl<W: Write + Send> Human<W> {
    pub fn new(out: W, colour: bool, verbosity: u8) -> Self {
        Human {
            out: Vec::new(),
            sink: out,
            colour,
            verbosity,
            progress: colour && Term::stderr().is_term(),
            progress_shown: false,
            adhoc: false,
            still_running: None,
            next_note: Duration::ZERO,
            notes: 0,
            started: Instant::now(),
            profile: None,
        }
    }

    /// Print a "still running" line while a task runs, first after `every`, then at that
    /// interval for a while, then every [`NOTE_BACKOFF`] intervals (for logs: CI, pipes).
    pub fn still_running_every(mut self, every: Option<Duration>) -> Self {
        self.still_running = every.filter(|d| !d.is_zero());
        self.next_note = self.still_running.unwrap_or_default();
        self
    }

    /// List the slowest tasks and each role's total after the recap (`--profile`).
    pub fn profile(mut self, on: bool) -> Self {
        self.profile = on.then(Vec::new);
        self
    }

    /// Output as the `ansible` command prints it: `host | CHANGED | rc=0 >>` and stdout.
    pub fn adhoc(mut self) -> Self {
        self.adhoc = true;
        self
    }

    fn adhoc_line(&mut self, r: &HostResult) {
        let word = match r.status {
            Status::Ok => "SUCCESS",
            Status::Changed => "CHANGED",
            Status::Skipped => "SKIPPED",
            Status::Failed => "FAILED",
            Status::Unreachable => "UNREACHABLE!",
        };
        let style = match r.status {
            Status::Ok => Style::new().green(),
            Status::Changed => Style::new().yellow(),
            Status::Skipped => Style::new().cyan(),
            _ => Style::new().red(),
        };
        let rc = r.result.get_attr("rc").ok().filter(|v| !v.is_undefined());
        let text = if r.no_log {
            format!("{} | {} => censored (no_log)", r.host, word)
        } else if let (Some(rc), Ok(stdout)) = (rc, r.result.get_attr("stdout")) {
            let mut t = format!(
                "{} | {} | rc={} >>\n{}",
                r.host,
                word,
                rc,
                stdout.as_str().unwrap_or_default()
            );
            if let Ok(err) = r.result.get_attr("stderr")
                && let Some(e) = err.as_str()
                && !e.is_empty()
            {
                t.push('\n');
                t.push_str(e);
            }
            t
        } else {
            let mut v = serde_json::to_value(&r.result).unwrap_or(serde_json::Value::Null);
            if let serde_json::Value::Object(m) = &mut v {
                m.retain(|k, _| !k.starts_with('_'));
                if let Some(msg) = &r.msg {
                    m.entry("msg")
                        .or_insert_with(|| serde_json::Value::String(msg.clone()));
                }
            }
            format!(
                "{} | {} => {}",
                r.host,
                word,
                serde_json::to_string_pretty(&v).unwrap_or_default()
            )
        };
        let styled = self.style(style, &text);
        let _ = writeln!(self.out, "{}", styled);
    }

    fn style(&self, s: Style, text: &str) -> String {
        if self.colour {
            s.apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    fn header(&mut self, text: &str) {
        let width: usize = 79;
        let stars = width.saturating_sub(text.len() + 1).max(3);
        let _ = writeln!(self.out, "\n{} {}", text, "*".repeat(stars));
    }

    fn clear_progress(&mut self) {
        if self.progress_shown {
            let _ = Term::stderr().clear_line();
            self.progress_shown = false;
        }
    }

    /// A "still running" line when one is due (`elapsed` into the task).
    fn still_running_note(&mut self, task: &str, waiting: &[String], elapsed: Duration) {
        let Some(every) = self.still_running else {
            return;
        };
        if elapsed < self.next_note || waiting.is_empty() {
            return;
        }
        self.notes += 1;
        let gap = if self.notes < NOTES_AT_BASE_INTERVAL {
            every
        } else {
            every * NOTE_BACKOFF
        };
        self.next_note = elapsed + gap;
        let n = waiting.len();
        let _ = writeln!(
            self.out,
            "still running: {} on {} host{} ({} s): {}",
            task,
            n,
            if n == 1 { "" } else { "s" },
            elapsed.as_secs(),
            host_list(waiting)
        );
    }

    /// The live line on a terminal's stderr: elapsed time and the hosts still working.
    fn live_line(
        &mut self,
        task: &str,
        done: usize,
        total: usize,
        waiting: &[String],
        elapsed: Duration,
    ) {
        let _ = Term::stderr().clear_line();
        let _ = write!(
            std::io::stderr(),
            "  [{}] {} s, {}/{} done, waiting on {}",
            task,
            elapsed.as_secs(),
            done,
            total,
            host_list(waiting)
        );
        self.progress_shown = true;
    }

    /// `--profile`: the slowest tasks, then each role's total.
    fn profile_report(&mut self) {
        let Some(mut timings) = self.profile.take() else {
            return;
        };
        self.header("TASKS BY TIME");
        timings.sort_by_key(|t| std::cmp::Reverse(t.2));
        for (name, _, took) in timings.iter().take(PROFILE_TASKS) {
            let _ = writeln!(self.out, "{:>10}  {}", duration_text(*took), name);
        }
        let mut roles: indexmap::IndexMap<&str, Duration> = indexmap::IndexMap::new();
        for (_, role, took) in &timings {
            *roles
                .entry(role.as_deref().unwrap_or("(play tasks)"))
                .or_default() += *took;
        }
        roles.sort_by(|_, a, _, b| b.cmp(a));
        self.header("ROLES BY TIME");
        for (role, took) in roles {
            let _ = writeln!(self.out, "{:>10}  {}", duration_text(took), role);
        }
        self.profile = Some(timings);
    }

    fn result_line(&mut self, r: &HostResult) {
        let host = match &r.delegated_to {
            Some(d) => format!("[{} -> {}]", r.host, d),
            None => format!("[{}]", r.host),
        };
        let item = r
            .item
            .as_ref()
            .map(|i| format!(" => (item={})", i))
            .unwrap_or_default();
        let (word, style) = match r.status {
            Status::Ok => ("ok", Style::new().green()),
            Status::Changed => ("changed", Style::new().yellow()),
            Status::Skipped => ("skipping", Style::new().cyan()),
            Status::Failed => ("fatal", Style::new().red()),
            Status::Unreachable => ("fatal", Style::new().red()),
        };
        let show_result = self.verbosity > 0
            || matches!(r.status, Status::Failed | Status::Unreachable)
            || is_debug(r);
        let body = if r.no_log {
            r#"{"censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result"}"#.to_string()
        } else if show_result {
            let mut v = serde_json::to_value(&r.result).unwrap_or(serde_json::Value::Null);
            if let serde_json::Value::Object(m) = &mut v {
                m.retain(|k, _| !k.starts_with('_'));
                if let Some(msg) = &r.msg {
                    m.entry("msg")
                        .or_insert_with(|| serde_json::Value::String(msg.clone()));
                }
                if !matches!(r.status, Status::Failed | Status::Unreachable) && self.verbosity == 0
                {
                    // debug shows only what it was asked to show.
                    m.retain(|k, _| k != "changed" && k != "failed");
                }
            }
            serde_json::to_string_pretty(&v).unwrap_or_default()
        } else {
            String::new()
        };
        let line = match r.status {
            Status::Failed if r.loop_summary => None,
            Status::Failed => Some(format!("{}: {}{}: FAILED! => {}", word, host, item, body)),
            Status::Unreachable => Some(format!("{}: {}: UNREACHABLE! => {}", word, host, body)),
            _ if r.loop_summary && self.verbosity == 0 => None,
            _ if body.is_empty() => Some(format!("{}: {}{}", word, host, item)),
            _ => Some(format!("{}: {}{} => {}", word, host, item, body)),
        };
        for d in &r.diff {
            if r.no_log {
                break;
            }
            let text = unified_diff(&d.path, &d.before, &d.after);
            let _ = write!(self.out, "{}", text);
        }
        if let Some(line) = line {
            let styled = self.style(style, &line);
            let _ = writeln!(self.out, "{}", styled);
        }
        if r.ignored {
            let t = self.style(Style::new().cyan(), "...ignoring");
            let _ = writeln!(self.out, "{}", t);
        }
    }
}

/// Up to four host names, then how many more.
fn host_list(hosts: &[String]) -> String {
    let names = hosts.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
    if hosts.len() > 4 {
        format!("{} +{}", names, hosts.len() - 4)
    } else {
        names
    }
}

/// `4.21s`, `1m 03s`, `2h 05m 09s`.
pub fn duration_text(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.2}s", d.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m {:02}s", secs / 3600, secs / 60 % 60, secs % 60),
    }
}

fn is_debug(r: &HostResult) -> bool {
    r.result
        .get_attr("_verbosity")
        .map(|v| !v.is_undefined())
        .unwrap_or(false)
}

/// A unified diff of a file's old and new content, as `--diff` shows it.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    diff.unified_diff()
        .context_radius(3)
        .header(&format!("before: {}", path), &format!("after: {}", path))
        .to_string()
}

impl<W: Write + Send> Sink for Human<W> {
    fn event(&mut self, ev: &Event) {
        self.render(ev);
        if self.out.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.out);
        // A closed stdout (piped into `head`) must not kill the run.
        let _ = self.sink.write_all(crate::vault::censor(&text).as_bytes());
        let _ = self.sink.flush();
        self.out.clear();
    }
}

impl<W: Write + Send> Human<W> {
    fn render(&mut self, ev: &Event) {
        if self.adhoc {
            match ev {
                Event::HostResult(r) if !r.loop_summary || r.status == Status::Failed => {
                    self.adhoc_line(r)
                }
                Event::Warning(w) => {
                    let _ = writeln!(self.out, "[WARNING]: {}", w);
                }
                Event::NoHostsMatched { pattern } => {
                    let _ = writeln!(self.out, "[WARNING]: no hosts matched {:?}", pattern);
                }
                Event::Verbose { .. } => self.render_verbose(ev),
                _ => {}
            }
            let _ = self.out.flush();
            return;
        }
        if !matches!(ev, Event::Progress { .. }) {
            self.clear_progress();
        }
        match ev {
            Event::PlaybookStart { .. } => {}
            Event::PlayStart { name, .. } => {
                self.header(&format!("PLAY [{}]", name));
            }
            Event::NoHostsMatched { pattern } => {
                let t = self.style(
                    Style::new().magenta(),
                    &format!("skipping: no hosts matched {:?}", pattern),
                );
                let _ = writeln!(self.out, "{}", t);
            }
            Event::TaskStart {
                name,
                handler,
                location,
            } => {
                let mut h = if *handler {
                    format!("RUNNING HANDLER [{}]", name)
                } else {
                    format!("TASK [{}]", name)
                };
                if self.verbosity >= 2 {
                    h.push_str(&format!(" ({})", location));
                }
                self.header(&h);
                self.next_note = self.still_running.unwrap_or_default();
                self.notes = 0;
            }
            Event::Progress {
                task,
                done,
                total,
                waiting,
                elapsed,
            } => {
                if self.progress {
                    self.live_line(task, *done, *total, waiting, *elapsed);
                }
                self.still_running_note(task, waiting, *elapsed);
            }
            Event::HostResult(r) => {
                if r.status == Status::Skipped && self.verbosity == 0 && r.loop_summary {
                    return;
                }
                self.result_line(r);
            }
            Event::Verbose { .. } => self.render_verbose(ev),
            Event::Warning(w) => {
                let t = self.style(Style::new().magenta(), &format!("[WARNING]: {}", w));
                let _ = writeln!(self.out, "{}", t);
            }
            Event::PlayAborted { reason } => {
                let t = self.style(
                    Style::new().red(),
                    &format!("NO MORE HOSTS LEFT: {}", reason),
                );
                let _ = writeln!(self.out, "{}", t);
            }
            Event::TaskTiming {
                name,
                role,
                elapsed,
            } => {
                if self.verbosity >= 1 {
                    let _ = writeln!(self.out, "  ({}: {:.2}s)", name, elapsed.as_secs_f64());
                }
                if let Some(p) = &mut self.profile {
                    p.push((name.clone(), role.clone(), *elapsed));
                }
            }
            Event::Recap { stats, wire } => {
                self.header("PLAY RECAP");
                let width = stats.keys().map(|h| h.len()).max().unwrap_or(0).max(20);
                for (host, s) in stats {
                    let style = if s.failed > 0 || s.unreachable > 0 {
                        Style::new().red()
                    } else if s.changed > 0 {
                        Style::new().yellow()
                    } else {
                        Style::new().green()
                    };
                    let h = self.style(style, &format!("{:<width$}", host, width = width));
                    let _ = writeln!(
                        self.out,
                        "{} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                        h,
                        s.ok,
                        s.changed,
                        s.unreachable,
                        s.failed,
                        s.skipped,
                        s.rescued,
                        s.ignored
                    );
                }
                if self.verbosity >= 2 && !wire.is_empty() {
                    let _ = writeln!(self.out);
                    for (host, w) in wire {
                        let plural = |n: u64| if n == 1 { "" } else { "s" };
                        let _ = writeln!(
                            self.out,
                            "{:<width$} : {} script{} over {} SSH session{}",
                            host,
                            w.scripts,
                            plural(w.scripts),
                            w.sessions,
                            plural(w.sessions),
                            width = width
                        );
                    }
                }
                let total = duration_text(self.started.elapsed());
                let _ = writeln!(self.out, "\nfinished in {}", total);
                self.profile_report();
            }
        }
        let _ = self.out.flush();
    }

    /// `<host> text` when the verbosity asks for the event's level.
    fn render_verbose(&mut self, ev: &Event) {
        if let Event::Verbose {
            host, level, msg, ..
        } = ev
            && self.verbosity >= *level
        {
            let text = match host {
                Some(h) => format!("<{}> {}", h, msg),
                None => msg.clone(),
            };
            let _ = writeln!(self.out, "{}", text.trim_end());
        }
    }
}
