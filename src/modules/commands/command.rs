//! `command` and `shell`: run a command on the host. `command` runs argv without a shell
//! (no pipes, redirects or variables expand), `shell` runs it through `/bin/sh` (or
//! `executable`). `creates`/`removes` make them idempotent; the check and the command travel in
//! one script (one round trip).

use crate::connection::{ExecOutput, sh_split};
use crate::modules::doc::{aka, arg, dflt};
use crate::modules::remote::q;
use crate::modules::{ArgDoc, FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

const KEYS: &[&str] = &[
    "chdir",
    "creates",
    "removes",
    "executable",
    "warn",
    "stdin",
    "stdin_add_newline",
    "strip_empty_ends",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(rename = "_raw_params", alias = "cmd")]
    cmd: Option<String>,
    argv: Option<Vec<String>>,
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
    executable: Option<String>,
    /// Accepted for old roles; rmesos never warns about commands.
    #[serde(default)]
    #[allow(dead_code)]
    warn: bool,
    stdin: Option<String>,
    #[serde(default = "yes")]
    stdin_add_newline: bool,
    #[serde(default = "yes")]
    strip_empty_ends: bool,
}

fn yes() -> bool {
    true
}

const COMMON_ARGS: &[ArgDoc] = &[
    aka(
        arg("cmd", "the command to run"),
        &["_raw_params (free form)"],
    ),
    arg("argv", "the command as a list (command only)"),
    arg("chdir", "change into this directory first"),
    arg("creates", "skip if this path (glob) exists"),
    arg("removes", "run only if this path (glob) exists"),
    dflt(
        "executable",
        "/bin/sh",
        "shell to run the command with (shell only)",
    ),
    arg("stdin", "text fed to the command's stdin"),
    dflt("stdin_add_newline", "yes", "append a newline to stdin"),
    dflt(
        "strip_empty_ends",
        "yes",
        "strip trailing newlines from stdout/stderr",
    ),
];

pub struct Command;
pub struct Shell;

impl Module for Command {
    const NAME: &'static str = "command";
    const FREE_FORM: FreeForm = FreeForm::Yes {
        keys: Some(KEYS),
        required: false,
    };
    const DOC: ModuleDoc = ModuleDoc {
        returns: crate::modules::doc::COMMAND_RETURNS,
        summary: "Run a command without a shell (argv split as the shell would, no expansion)",
        args: COMMON_ARGS,
        example: "- command: /usr/bin/make install chdir=/src creates=/usr/local/bin/app",
    };
    type Args = Args;
    async fn run(&self, args: Args, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run(args, cx, false).await
    }
}

impl Module for Shell {
    const NAME: &'static str = "shell";
    const FREE_FORM: FreeForm = FreeForm::Yes {
        keys: Some(KEYS),
        required: false,
    };
    const DOC: ModuleDoc = ModuleDoc {
        returns: crate::modules::doc::COMMAND_RETURNS,
        summary: "Run a command through the shell (pipes, redirects, variables)",
        args: COMMON_ARGS,
        example: "- shell: cat /proc/cpuinfo | grep -c processor > /tmp/cpus creates=/tmp/cpus",
    };
    type Args = Args;
    async fn run(&self, args: Args, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run(args, cx, true).await
    }
}

/// What command, shell, raw and script return once the command ran: rc, stdout, stderr and
/// their lines; failed ("non-zero return code") when rc is not 0.
pub(super) fn ran(rc: i32, stdout: String, stderr: String) -> Outcome {
    let lines = |s: &str| Value::from(s.lines().map(Value::from).collect::<Vec<_>>());
    let mut o = Outcome::changed(true)
        .with("rc", rc)
        .with("stdout_lines", lines(&stdout))
        .with("stderr_lines", lines(&stderr))
        .with("stdout", stdout)
        .with("stderr", stderr);
    if rc != 0 {
        o.failed = true;
        o.msg = Some("non-zero return code".into());
    }
    o
}

/// What of a command's output was left out under the output limit, when any was:
/// `output_truncated: true` and the bytes omitted from each stream (the text itself carries a
/// line where they were).
pub(super) fn omitted(o: Outcome, out: &ExecOutput) -> Outcome {
    if out.stdout_omitted == 0 && out.stderr_omitted == 0 {
        return o;
    }
    o.with("output_truncated", true)
        .with("stdout_omitted_bytes", out.stdout_omitted)
        .with("stderr_omitted_bytes", out.stderr_omitted)
}

/// A command not run because of `creates`/`removes`.
pub(super) fn skipped_by_guard(msg: String) -> Outcome {
    Outcome::ok()
        .msg(msg)
        .with("rc", 0)
        .with("stdout", "")
        .with("stdout_lines", Value::from(Vec::<Value>::new()))
}

/// Why the command module did not run its command.
enum NotRun<'a> {
    Creates(&'a str),
    Removes(&'a str),
    CheckMode,
}

/// The result of a command that did not run, shaped as Ansible's (ansible-core 2.19): every
/// key a later task may read (`stdout`, `stdout_lines`, `stderr`, `rc`...), empty, and no
/// timing; in check mode without a guard it is skipped.
fn not_run(why: NotRun<'_>, check_mode: bool, cmd: Value) -> Outcome {
    let would = if check_mode { "Would" } else { "Did" };
    let (msg, stdout) = match why {
        NotRun::Creates(p) => (
            format!("{would} not run command since '{p}' exists"),
            format!("skipped, since {p} exists"),
        ),
        NotRun::Removes(p) => (
            format!("{would} not run command since '{p}' does not exist"),
            format!("skipped, since {p} does not exist"),
        ),
        NotRun::CheckMode => (
            "Command would have run if not in check mode".to_string(),
            String::new(),
        ),
    };
    let lines = Value::from(stdout.lines().map(Value::from).collect::<Vec<_>>());
    let mut o = Outcome::ok()
        .msg(msg)
        .with("cmd", cmd)
        .with("rc", 0)
        .with("stdout_lines", lines)
        .with("stderr_lines", Value::from(Vec::<Value>::new()))
        .with("stdout", stdout)
        .with("stderr", "")
        .with("start", Value::from(()))
        .with("end", Value::from(()))
        .with("delta", Value::from(()));
    o.skipped = matches!(why, NotRun::CheckMode);
    o
}

fn strip_ends(s: String, strip: bool) -> String {
    if strip {
        s.trim_end_matches(['\n', '\r']).to_string()
    } else {
        s
    }
}

async fn run(args: Args, cx: &TaskContext<'_>, shell: bool) -> Result<Outcome, ModuleError> {
    let command_line = match (&args.cmd, &args.argv) {
        (Some(c), None) if !c.trim().is_empty() => {
            if shell {
                c.clone()
            } else {
                let words = sh_split(c)
                    .map_err(|e| ModuleError::Failed(format!("cannot parse command: {}", e)))?;
                words.iter().map(|w| q(w)).collect::<Vec<_>>().join(" ")
            }
        }
        (None, Some(argv)) if !argv.is_empty() && !shell => {
            argv.iter().map(|w| q(w)).collect::<Vec<_>>().join(" ")
        }
        (Some(_), Some(_)) => {
            return Ok(Outcome::fail(
                "only one of the free-form command and argv may be given",
            ));
        }
        _ => return Ok(Outcome::fail("no command given")),
    };
    let display_cmd = match &args.argv {
        Some(argv) => argv.join(" "),
        None => args.cmd.clone().unwrap_or_default(),
    };
    // What Ansible's result says for a command that did not run: the words, or the shell line.
    let cmd_value = match (&args.argv, shell) {
        (_, true) => Value::from(display_cmd.as_str()),
        (Some(argv), false) => Value::from(argv.iter().map(Value::from).collect::<Vec<_>>()),
        (None, false) => Value::from(
            sh_split(&display_cmd)
                .unwrap_or_default()
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>(),
        ),
    };

    // Guards and the command in one script: exit 200 = skipped by creates, 201 = by removes.
    let mut script = String::new();
    if let Some(dir) = &args.chdir {
        script.push_str(&format!("cd {} || exit 202\n", q(dir)));
    }
    if let Some(c) = &args.creates {
        script.push_str(&format!(
            "for f in {}; do [ -e \"$f\" ] && exit 200; done\n",
            glob_word(c)
        ));
    }
    if let Some(r) = &args.removes {
        script.push_str(&format!("rm_found=; for f in {}; do [ -e \"$f\" ] && rm_found=1; done; [ -n \"$rm_found\" ] || exit 201\n", glob_word(r)));
    }
    if cx.check_mode {
        // The command's effects are unknown: in check mode it is skipped, guards still report.
        script.push_str("exit 203\n");
    } else if shell {
        let exe = args.executable.clone().unwrap_or_else(|| "/bin/sh".into());
        script.push_str(&format!("exec {} -c {}\n", q(&exe), q(&command_line)));
    } else {
        script.push_str(&format!("exec {}\n", command_line));
    }
    let stdin = match &args.stdin {
        Some(s) if args.stdin_add_newline => format!("{}\n", s).into_bytes(),
        Some(s) => s.clone().into_bytes(),
        None => Vec::new(),
    };
    let start = std::time::Instant::now();
    let out = cx.run_command(&script, &stdin).await?;
    let delta = start.elapsed();
    match out.rc {
        200 => {
            let why = NotRun::Creates(args.creates.as_deref().unwrap_or_default());
            return Ok(not_run(why, cx.check_mode, cmd_value));
        }
        201 => {
            let why = NotRun::Removes(args.removes.as_deref().unwrap_or_default());
            return Ok(not_run(why, cx.check_mode, cmd_value));
        }
        202 => {
            return Ok(Outcome::fail(format!(
                "cannot change into directory {}",
                args.chdir.unwrap_or_default()
            )));
        }
        203 => return Ok(not_run(NotRun::CheckMode, true, cmd_value)),
        _ => {}
    }
    let stdout = strip_ends(out.stdout_str(), args.strip_empty_ends);
    let stderr = strip_ends(out.stderr_str(), args.strip_empty_ends);
    let not_found = (out.rc == 127 && !shell)
        .then(|| format!("command not found: {}", stderr.lines().last().unwrap_or("")));
    let mut o = omitted(ran(out.rc, stdout, stderr), &out)
        .with("cmd", display_cmd)
        .with("delta", format!("{:.6}", delta.as_secs_f64()));
    if not_found.is_some() {
        o.msg = not_found;
    }
    Ok(o)
}

/// A creates/removes path: globbing allowed, everything else quoted.
fn glob_word(p: &str) -> String {
    // Quote each character that is not a glob metacharacter.
    let mut out = String::new();
    for c in p.chars() {
        if matches!(c, '*' | '?' | '[' | ']') || c.is_ascii_alphanumeric() || "/._-".contains(c) {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::connection::sh_split;

    #[test]
    fn shlex() {
        assert_eq!(
            sh_split("a 'b c' \"d\\\"e\" f\\ g").unwrap(),
            vec!["a", "b c", "d\"e", "f g"]
        );
        assert!(sh_split("a 'b").is_err());
    }
}
