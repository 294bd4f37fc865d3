//! `ping`: proves the host can run a command (one trivial exec) and answers `ping: pong`.

use crate::modules::doc::dflt;
use crate::modules::{Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

fn default_data() -> String {
    "pong".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PingArgs {
    #[serde(default = "default_data")]
    pub data: String,
}

pub struct Ping;

impl Module for Ping {
    const NAME: &'static str = "ping";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("ping", "the data argument")],
        summary: "Checks that the host is reachable and can run a shell command.",
        args: &[dflt("data", "pong", "What to return as `ping`.")],
        example: "- ping:",
    };
    type Args = PingArgs;

    async fn run(&self, args: PingArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let out = cx.run("echo pong", &[]).await?;
        if out.rc != 0 || out.stdout_str().trim() != "pong" {
            return Ok(Outcome::fail(format!(
                "the host could not run `echo pong` (rc={}): {}",
                out.rc,
                out.stderr_str().trim()
            )));
        }
        Ok(Outcome::ok().with("ping", args.data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::DynModule;
    use crate::modules::testutil_misc::{CountingConn, args, context};

    #[tokio::test]
    async fn pong_in_one_exec() {
        let conn = CountingConn::default();
        let cx = context(&conn, &[]);
        let out = Ping.run_dyn(&args("{}"), &cx).await.unwrap();
        assert!(!out.failed && !out.changed);
        assert_eq!(out.result["ping"].as_str(), Some("pong"));
        assert_eq!(conn.count(), 1);
        let out = Ping.run_dyn(&args(r#"{"data": "hi"}"#), &cx).await.unwrap();
        assert_eq!(out.result["ping"].as_str(), Some("hi"));
    }
}
