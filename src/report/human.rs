//! Output an Ansible user recognises: PLAY/TASK headers, one line per host, a PLAY RECAP;
//! colours and a live progress line on a terminal, per-task times at `-v`.

use super::{Event, HostResult, Sink, Status};
use console::{Style, Term};
use std::io::Write;

pub struct Human<W: Write + Send> {
    /// One event's text, censored (vault secrets) before it reaches `sink`.
    out: Vec<u8>,
    sink: W,
    colour: bool,
    verbosity: u8,
    /// Show the live progress line (stderr is a terminal).
    progress: bool,
    progress_shown: bool,
    /// The task header is printed lazily, with the first result, so that tasks skipped on every
    /// host by tags print nothing.
    pending_header: Option<String>,
    /// `rmesos run`: one block per host as the `ansible` command prints, no headers.
    adhoc: bool,
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
            pending_header: None,
            adhoc: false,
        }
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

    fn flush_header(&mut self) {
        if let Some(h) = self.pending_header.take() {
            self.header(&h);
        }
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
                self.pending_header = None;
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
                self.pending_header = Some(h);
            }
            Event::Progress {
                task,
                done,
                total,
                waiting,
            } => {
                if self.progress {
                    let names = waiting
                        .iter()
                        .take(4)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    let more = if waiting.len() > 4 {
                        format!(" +{}", waiting.len() - 4)
                    } else {
                        String::new()
                    };
                    let _ = Term::stderr().clear_line();
                    let _ = write!(
                        std::io::stderr(),
                        "  [{}] {}/{} done, waiting on {}{}",
                        task,
                        done,
                        total,
                        names,
                        more
                    );
                    self.progress_shown = true;
                }
            }
            Event::HostResult(r) => {
                if r.status == Status::Skipped && self.verbosity == 0 && r.loop_summary {
                    return;
                }
                self.flush_header();
                self.result_line(r);
            }
            Event::Warning(w) => {
                let t = self.style(Style::new().magenta(), &format!("[WARNING]: {}", w));
                let _ = writeln!(self.out, "{}", t);
            }
            Event::PlayAborted { reason } => {
                self.flush_header();
                let t = self.style(
                    Style::new().red(),
                    &format!("NO MORE HOSTS LEFT: {}", reason),
                );
                let _ = writeln!(self.out, "{}", t);
            }
            Event::TaskTiming { name, elapsed } => {
                if self.verbosity >= 1 && self.pending_header.is_none() {
                    let _ = writeln!(self.out, "  ({}: {:.2}s)", name, elapsed.as_secs_f64());
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
            }
        }
        let _ = self.out.flush();
    }
}
