//! `--step`: before each task, the question Ansible asks ("Perform task: TASK: NAME
//! (N)o/(y)es/(c)ontinue:"), answered on the terminal. `y` runs the task, `c` runs it and every
//! later one without asking, anything else (Enter included) skips it. Without a terminal on
//! stdin the flag is refused: nobody could answer.

use super::error::AppError;
use crate::exec::StepGate;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What one answer means.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Continue,
}

/// Ansible's reading of an answer: y/yes, c/continue, anything else is no.
pub fn parse(line: &str) -> Answer {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Yes,
        "c" | "continue" => Answer::Continue,
        _ => Answer::No,
    }
}

/// A gate that asks on stdin, the question on stderr (stdout stays the run's output, JSON
/// included); an error when stdin is not a terminal.
pub fn gate() -> Result<StepGate, AppError> {
    if !std::io::stdin().is_terminal() {
        return Err(AppError::BadOption(
            "--step asks before each task and needs a terminal on stdin; run it interactively \
             (or use --start-at-task, --tags or --check to choose what runs)"
                .into(),
        ));
    }
    Ok(asking(|name| {
        eprint!("Perform task: TASK: {name} (N)o/(y)es/(c)ontinue: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        // End of input or an unreadable line: nothing more runs unasked, so skip.
        std::io::stdin().lock().read_line(&mut line).ok()?;
        Some(line)
    }))
}

/// The gate's logic over `ask` (a line per question, `None` at the end of input).
pub fn asking(ask: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> StepGate {
    let go_on = AtomicBool::new(false);
    StepGate(Arc::new(move |name: &str| {
        if go_on.load(Ordering::Relaxed) {
            return true;
        }
        match ask(name).as_deref().map(parse) {
            Some(Answer::Yes) => true,
            Some(Answer::Continue) => {
                go_on.store(true, Ordering::Relaxed);
                true
            }
            Some(Answer::No) | None => false,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn yes_runs_no_skips_continue_stops_asking() {
        let answers = Mutex::new(vec!["y\n", "\n", "n\n", "c\n"].into_iter());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let gate = asking(move |name| {
            log.lock().unwrap().push(name.to_string());
            answers.lock().unwrap().next().map(str::to_string)
        });
        let ran: Vec<bool> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|t| (gate.0)(t))
            .collect();
        assert_eq!(ran, [true, false, false, true, true, true]);
        // After `c`, nothing more is asked.
        assert_eq!(*asked.lock().unwrap(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn end_of_input_skips() {
        let gate = asking(|_| None);
        assert!(!(gate.0)("t"));
    }
}
