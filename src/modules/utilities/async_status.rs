//! `async_status`: reads a job that a `poll: 0` task started. While it runs: `finished: 0`.
//! Once it has ended, the module that started it turns the job's output into its own result
//! (command's `rc`, `stdout`, `stderr`, ...), with `finished: 1`; a job killed at its limit
//! fails ("Timeout exceeded"). `mode: cleanup` removes the job's files.

use crate::modules::doc::{dflt, one_of, req};
use crate::modules::jobs::{JobState, ReplayConn, status, with_conn};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext, lookup};
use minijinja::Value;
use serde::Deserialize;

pub struct AsyncStatus;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Status,
    Cleanup,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AsyncStatusArgs {
    jid: String,
    #[serde(default)]
    mode: Mode,
}

const ARGS: &[ArgDoc] = &[
    req(
        "jid",
        "The job id (`ansible_job_id` of the task that started it).",
    ),
    one_of(
        dflt(
            "mode",
            "status",
            "status reads the job (removing it once finished); cleanup removes it.",
        ),
        &["status", "cleanup"],
    ),
];

impl Module for AsyncStatus {
    const NAME: &'static str = "async_status";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("ansible_job_id", "the job"),
            ("started", "whether it started"),
            ("finished", "whether it finished"),
            ("erased", "whether its file was removed (mode: cleanup)"),
        ],
        summary: "Read (or clean up) a background job started with async and poll: 0.",
        args: ARGS,
        example: "- shell: /opt/build.sh\n  async: 600\n  poll: 0\n  register: build\n- async_status:\n    jid: \"{{ build.ansible_job_id }}\"\n  register: job\n  until: job.finished\n  retries: 60\n  delay: 10\n",
    };
    type Args = AsyncStatusArgs;

    async fn run(&self, a: AsyncStatusArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let job = status(cx, &a.jid, true).await?;
        let base = |o: Outcome| o.with("ansible_job_id", a.jid.as_str()).with("started", 1);
        if a.mode == Mode::Cleanup {
            return Ok(base(Outcome::ok()).with("erased", true));
        }
        let output = match job.state {
            JobState::Running => return Ok(base(Outcome::ok()).with("finished", 0)),
            JobState::TimedOut => {
                return Ok(base(Outcome::fail("Timeout exceeded")).with("finished", 1));
            }
            JobState::Vanished => {
                return Ok(base(Outcome::fail(
                    "the job ended without an exit status (killed?)",
                ))
                .with("finished", 1));
            }
            JobState::Done(o) => o,
        };
        let meta = job.meta.unwrap_or_default();
        let module = meta["module"].as_str().and_then(lookup).ok_or_else(|| {
            ModuleError::failed(format!("job {} has no record of its module", a.jid))
        })?;
        let args = Value::from(minijinja::value::Serde(meta["args"].clone()));
        let replay = ReplayConn::new(output);
        let o = module.run_dyn(&args, &with_conn(cx, &replay)).await?;
        Ok(base(o).with("finished", 1))
    }
}
