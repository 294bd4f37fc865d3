//! `pause`: waits on the controller for a number of seconds or minutes. Runs are
//! non-interactive, so a pause that would wait for a key press (a prompt without a time, or no
//! time at all) fails with a clear message instead of hanging; a prompt with a time just waits.

use crate::modules::doc::{arg, dflt};
use crate::modules::{Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;
use std::time::{Duration, Instant};

fn default_echo() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PauseArgs {
    pub seconds: Option<u64>,
    pub minutes: Option<u64>,
    pub prompt: Option<String>,
    #[serde(default = "default_echo")]
    pub echo: bool,
}

pub struct Pause;

impl Module for Pause {
    const NAME: &'static str = "pause";
    const NEEDS_HOST: bool = false;
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("user_input", "what was typed"),
            ("delta", "seconds paused"),
            ("echo", "whether input was echoed"),
            ("stdout", "what was shown"),
        ],
        summary: "Waits a number of seconds or minutes on the controller. Waiting for a key \
                  press is not supported: runs are non-interactive.",
        args: &[
            arg("seconds", "Seconds to wait (not with minutes)."),
            arg("minutes", "Minutes to wait (not with seconds)."),
            arg(
                "prompt",
                "Text of the pause; needs seconds or minutes, since no one can answer it.",
            ),
            dflt(
                "echo",
                "true",
                "Accepted for compatibility; there is no input to echo.",
            ),
        ],
        example: "- pause: seconds=10\n- pause:\n    minutes: 1\n    prompt: letting ZooKeeper elect a leader",
    };
    type Args = PauseArgs;

    async fn run(&self, args: PauseArgs, _cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let (wait, stdout) = match (args.seconds, args.minutes) {
            (Some(_), Some(_)) => {
                return Err(ModuleError::Failed(
                    "pause takes seconds or minutes, not both".into(),
                ));
            }
            (Some(s), None) => (Duration::from_secs(s), format!("Paused for {} seconds", s)),
            (None, Some(m)) => (
                Duration::from_secs(m * 60),
                format!("Paused for {} minutes", m),
            ),
            (None, None) => {
                return Err(ModuleError::Failed(
                    "pause with a prompt (or with no time) waits for a key press and needs \
                     a terminal; rmesos runs are non-interactive: give seconds or minutes"
                        .into(),
                ));
            }
        };
        let start = Instant::now();
        tokio::time::sleep(wait).await;
        let mut o = Outcome::ok()
            .with("delta", start.elapsed().as_secs())
            .with("echo", args.echo)
            .with("user_input", "")
            .with("stdout", stdout.as_str());
        if let Some(p) = args.prompt {
            o = o.with("prompt", p);
        }
        Ok(o.msg(stdout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::DynModule;
    use crate::modules::testutil_misc::{CountingConn, args, context};

    #[tokio::test]
    async fn waits_the_given_seconds_without_touching_the_host() {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let t = Instant::now();
        let out = Pause
            .run_dyn(&args(r#"{"seconds": "1", "prompt": "settling"}"#), &cx)
            .await
            .unwrap();
        assert!(t.elapsed() >= Duration::from_secs(1));
        assert!(!out.failed && !out.changed);
        assert_eq!(out.result["delta"], minijinja::Value::from(1));
        assert_eq!(out.result["stdout"].as_str(), Some("Paused for 1 seconds"));
        assert_eq!(conn.count(), 0);
        assert!(!Pause.needs_host());
    }

    #[tokio::test]
    async fn prompt_without_time_fails_instead_of_hanging() {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let e = Pause
            .run_dyn(&args(r#"{"prompt": "Press enter"}"#), &cx)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("needs a terminal"), "{}", e);
        let e = Pause
            .run_dyn(&args(r#"{"seconds": 1, "minutes": 1}"#), &cx)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not both"), "{}", e);
    }

    #[test]
    fn unknown_argument_is_refused() {
        let e = Pause.check_args(&args(r#"{"secs": 3}"#)).unwrap_err();
        assert!(e.msg.contains("unsupported argument `secs`"), "{}", e);
    }
}
