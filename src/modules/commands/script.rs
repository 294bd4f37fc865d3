//! `script`: runs a controller-side script on the host. One script carries it all: the
//! creates/removes guards, the upload (the script's bytes on stdin into a private temp file),
//! the run (with `executable` or by its own `#!`), and the removal of the temp file.

use super::command::{omitted, ran, skipped_by_guard};
use crate::connection::sh_split;
use crate::modules::doc::{aka, arg};
use crate::modules::remote::q;
use crate::modules::{ArgDoc, FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Script;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ScriptArgs {
    #[serde(rename = "_raw_params", alias = "cmd")]
    cmd: Option<String>,
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
    executable: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    aka(
        arg(
            "cmd",
            "The script's path on the controller (searched in `files/`) followed by its arguments.",
        ),
        &["_raw_params (free form)"],
    ),
    arg("chdir", "Directory to run the script in, on the host."),
    arg(
        "creates",
        "Path on the host; when it exists the script is not run.",
    ),
    arg(
        "removes",
        "Path on the host; when it does not exist the script is not run.",
    ),
    arg(
        "executable",
        "Interpreter to run the script with (`/bin/bash`); otherwise its `#!` line decides.",
    ),
];

impl Module for Script {
    const NAME: &'static str = "script";
    const FREE_FORM: FreeForm = FreeForm::Yes {
        keys: Some(&["chdir", "creates", "removes", "executable", "cmd"]),
        required: false,
    };
    const DOC: ModuleDoc = ModuleDoc {
        returns: crate::modules::doc::COMMAND_RETURNS,
        summary: "Upload a local script and run it on the host (creates/removes make it idempotent; skipped in check mode).",
        args: ARGS,
        example: "- script: scripts/bootstrap.sh --cluster mesos creates=/etc/mesos/.bootstrapped\n",
    };
    type Args = ScriptArgs;

    async fn run(&self, a: ScriptArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let Some(cmd) = a.cmd.as_deref() else {
            return Err(ModuleError::Failed(
                "a script path (free form or cmd) is required".into(),
            ));
        };
        let words = sh_split(cmd).map_err(|e| ModuleError::failed(e.to_string()))?;
        let Some((path, args)) = words.split_first() else {
            return Err(ModuleError::failed("a script path is required"));
        };
        let local = cx.find_file("files", path)?;
        let data = std::fs::read(&local)
            .map_err(|e| ModuleError::Failed(format!("cannot read {}: {e}", local.display())))?;
        let script = remote_script(&a, data.len(), args, cx.check_mode);
        let stdin: &[u8] = if cx.check_mode { &[] } else { &data };
        let out = cx.run_command(&script, stdin).await?;
        match out.rc {
            RC_CREATES => {
                return Ok(skipped_by_guard(format!(
                    "skipped, since {} exists",
                    a.creates.unwrap_or_default()
                )));
            }
            RC_REMOVES => {
                return Ok(skipped_by_guard(format!(
                    "skipped, since {} does not exist",
                    a.removes.unwrap_or_default()
                )));
            }
            RC_CHECK => {
                // As Ansible: a script's changes cannot be predicted, so check mode skips it.
                let mut o = Outcome::ok().msg("Check mode is not supported for this task.");
                o.skipped = true;
                return Ok(o);
            }
            RC_CHDIR => {
                return Ok(Outcome::fail(format!(
                    "cannot change into directory {}",
                    a.chdir.unwrap_or_default()
                )));
            }
            RC_UPLOAD => {
                return Ok(Outcome::fail(format!(
                    "cannot upload the script to a temporary file: {}",
                    out.stderr_str().trim()
                )));
            }
            _ => {}
        }
        Ok(omitted(
            ran(out.rc, out.stdout_str(), out.stderr_str()),
            &out,
        ))
    }
}

const RC_CREATES: i32 = 200;
const RC_REMOVES: i32 = 201;
const RC_CHDIR: i32 = 202;
const RC_CHECK: i32 = 203;
const RC_UPLOAD: i32 = 204;

/// The remote script: guards, upload into a temp file, run, clean up, keep the script's rc.
fn remote_script(a: &ScriptArgs, size: usize, args: &[String], check: bool) -> String {
    let mut s = String::new();
    if let Some(c) = &a.creates {
        s.push_str(&format!("[ -e {} ] && exit {RC_CREATES}\n", q(c)));
    }
    if let Some(r) = &a.removes {
        s.push_str(&format!("[ -e {} ] || exit {RC_REMOVES}\n", q(r)));
    }
    if check {
        s.push_str(&format!("exit {RC_CHECK}\n"));
        return s;
    }
    s.push_str(&format!(
        "t=$(mktemp \"${{TMPDIR:-/tmp}}/rmesos-script.XXXXXX\") || exit {RC_UPLOAD}\n\
         trap 'rm -f \"$t\"' EXIT\n\
         head -c {size} > \"$t\" && chmod 700 \"$t\" || exit {RC_UPLOAD}\n"
    ));
    if let Some(d) = &a.chdir {
        s.push_str(&format!("cd {} || exit {RC_CHDIR}\n", q(d)));
    }
    let argv: Vec<String> = args.iter().map(|x| q(x)).collect();
    let exe = a
        .executable
        .as_deref()
        .map(|e| format!("{e} "))
        .unwrap_or_default();
    // Not `exec`: the trap must still remove the temp file.
    s.push_str(&format!("{exe}\"$t\" {} </dev/null\n", argv.join(" ")));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn runs_with_args_in_chdir_and_cleans_up() {
        let h = Harness::new();
        h.write(
            "role/files/hello.sh",
            "#!/bin/sh\necho \"args:$1|$2\"; pwd; echo err >&2; touch made\n",
        );
        h.set_mode("role/files/hello.sh", 0o644);
        std::fs::create_dir_all(h.path("work")).unwrap();
        let a = json!({"_raw_params": "hello.sh 'a b' c", "chdir": h.path("work"), "creates": h.path("work/made")});
        let r = h.run(&Script, a.clone(), false, false).await;
        assert!(r.outcome.changed && !r.outcome.failed, "{:?}", r.outcome);
        assert_eq!(r.execs, 1);
        let out = r.get("stdout").to_string();
        assert!(out.starts_with("args:a b|c\n"), "{out}");
        assert!(out.contains(&h.path("work")), "{out}");
        assert_eq!(r.get("stderr").to_string(), "err\n");
        let r = h.run(&Script, a, false, false).await;
        assert!(!r.outcome.changed);
        assert!(r.outcome.msg.unwrap().contains("exists"));
    }

    #[tokio::test]
    async fn check_mode_skips_and_failures_report_rc() {
        let h = Harness::new();
        h.write("role/files/fail.sh", "#!/bin/sh\necho no >&2\nexit 3\n");
        let r = h.run(&Script, json!({"cmd": "fail.sh"}), true, false).await;
        // As Ansible: skipped, not changed (a script's changes cannot be predicted).
        assert!(r.outcome.skipped && !r.outcome.changed);
        let r = h
            .run(
                &Script,
                json!({"cmd": "fail.sh", "executable": "/bin/sh"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert_eq!(r.get("rc").as_i64(), Some(3));
    }
}
