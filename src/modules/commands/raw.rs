//! `raw`: runs the free-form string on the host exactly as written, as a shell script, with no
//! wrapping beyond the task's environment and become. For hosts where nothing else works yet.

use super::command::{omitted, ran};
use crate::modules::doc::{arg, req};
use crate::modules::remote::q;
use crate::modules::{FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawArgs {
    #[serde(rename = "_raw_params")]
    pub raw_params: String,
    /// Run the command with this interpreter (`/bin/bash`) instead of `sh`.
    pub executable: Option<String>,
}

pub struct Raw;

impl Module for Raw {
    const NAME: &'static str = "raw";
    const FREE_FORM: FreeForm = FreeForm::Yes {
        keys: Some(&["executable"]),
        required: true,
    };
    const DOC: ModuleDoc = ModuleDoc {
        returns: crate::modules::doc::COMMAND_RETURNS,
        summary: "Runs a command as written, through the shell, with no module machinery. \
                  Always reports changed; skipped in check mode.",
        args: &[
            req("_raw_params", "The command (free-form)."),
            arg(
                "executable",
                "Interpreter to run the command with (given the command with -c).",
            ),
        ],
        example: "- raw: test -e /usr/bin/python3 || (apt-get update && apt-get install -y python3)",
    };
    type Args = RawArgs;

    async fn run(&self, args: RawArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        if cx.check_mode {
            let mut o = Outcome::ok().msg("raw does not support check mode");
            o.skipped = true;
            return Ok(o);
        }
        let script = match &args.executable {
            Some(exe) => format!("exec {} -c {}", q(exe), q(&args.raw_params)),
            None => args.raw_params.clone(),
        };
        let out = cx.run_command(&script, &[]).await?;
        Ok(omitted(
            ran(out.rc, out.stdout_str(), out.stderr_str()),
            &out,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::DynModule;
    use crate::modules::testutil_misc::{CountingConn, args, context};
    use minijinja::Value;

    #[tokio::test]
    async fn runs_the_string_as_is() {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let out = Raw
            .run_dyn(
                &args(r#"{"_raw_params": "echo one; echo two | tr a-z A-Z; echo err >&2"}"#),
                &cx,
            )
            .await
            .unwrap();
        assert!(out.changed && !out.failed);
        assert_eq!(conn.count(), 1);
        assert_eq!(out.result["rc"], Value::from(0));
        assert_eq!(out.result["stdout"].as_str(), Some("one\nTWO\n"));
        assert_eq!(
            out.result["stdout_lines"]
                .get_item_by_index(1)
                .unwrap()
                .as_str(),
            Some("TWO")
        );
        assert_eq!(out.result["stderr"].as_str(), Some("err\n"));
    }

    #[tokio::test]
    async fn nonzero_rc_fails_and_executable_is_used() {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let out = Raw
            .run_dyn(&args(r#"{"_raw_params": "exit 7"}"#), &cx)
            .await
            .unwrap();
        assert!(out.failed);
        assert_eq!(out.result["rc"], Value::from(7));
        assert_eq!(out.msg.as_deref(), Some("non-zero return code"));

        // $0 names the interpreter that runs the command.
        let out = Raw
            .run_dyn(
                &args(r#"{"_raw_params": "echo $0", "executable": "/bin/sh"}"#),
                &cx,
            )
            .await
            .unwrap();
        assert_eq!(out.result["stdout"].as_str(), Some("/bin/sh\n"));
    }

    #[tokio::test]
    async fn skipped_in_check_mode() {
        let conn = CountingConn::default();
        let mut cx = context(&conn, &[]);
        cx.check_mode = true;
        let out = Raw
            .run_dyn(
                &args(r#"{"_raw_params": "touch /tmp/should-not-exist"}"#),
                &cx,
            )
            .await
            .unwrap();
        assert!(out.skipped);
        assert_eq!(conn.count(), 0);
    }

    #[test]
    fn command_is_required() {
        let e = Raw
            .check_args(&args(r#"{"executable": "/bin/bash"}"#))
            .unwrap_err();
        assert!(
            e.msg.contains("missing required argument `_raw_params`"),
            "{}",
            e
        );
    }
}
