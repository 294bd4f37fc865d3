//! `supervisorctl`: adds, removes, starts, stops and restarts programs (or groups, `name:`) of a
//! running supervisord through the host's `supervisorctl` binary. One `status` query; the
//! commands only for what differs.

use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::remote::{host_error, q};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Supervisorctl;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SupState {
    Present,
    Started,
    Stopped,
    Restarted,
    Absent,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SupervisorctlArgs {
    name: String,
    state: SupState,
    config: Option<String>,
    server_url: Option<String>,
    supervisorctl_path: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(default)]
    stop_before_removing: bool,
}

const ARGS: &[ArgDoc] = &[
    req(
        "name",
        "The program; `group:` (trailing colon) means every program of the group.",
    ),
    one_of(
        req(
            "state",
            "present: reread and add if supervisord does not have it; started/restarted add it first when needed; stopped fails for an unknown program; absent: remove.",
        ),
        &["present", "started", "stopped", "restarted", "absent"],
    ),
    arg(
        "config",
        "supervisord configuration file (supervisorctl -c).",
    ),
    arg(
        "server_url",
        "URL of supervisord's server (supervisorctl -s).",
    ),
    dflt(
        "supervisorctl_path",
        "supervisorctl from PATH",
        "Path of the supervisorctl binary.",
    ),
    arg(
        "username",
        "User for supervisord's server (supervisorctl -u).",
    ),
    arg(
        "password",
        "Password for supervisord's server (supervisorctl -p; use no_log).",
    ),
    dflt(
        "stop_before_removing",
        "no",
        "With state=absent, stop running programs before removing them (supervisord refuses to remove a running one).",
    ),
];

impl Module for Supervisorctl {
    const NAME: &'static str = "supervisorctl";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("name", "the program"), ("state", "the state asked for")],
        summary: "Manage programs of a running supervisord through supervisorctl.",
        args: ARGS,
        example: "- supervisorctl:\n    name: marathon\n    state: started\n",
    };
    type Args = SupervisorctlArgs;

    async fn run(
        &self,
        a: SupervisorctlArgs,
        cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        let ctl = ctl(&a);
        let probe = format!(
            "command -v {bin} >/dev/null 2>&1 || {{ echo 'supervisorctl not found on this host (looked for {shown})' >&2; exit 127; }}\n\
             {ctl} status 2>&1 </dev/null\n",
            bin = q(a.supervisorctl_path.as_deref().unwrap_or("supervisorctl")),
            shown = a
                .supervisorctl_path
                .as_deref()
                .unwrap_or("supervisorctl in PATH")
                .replace('\'', ""),
        );
        let out = cx.run(&probe, &[]).await?;
        if out.rc == 127 {
            return Ok(Outcome::fail(host_error(
                "cannot manage supervisord programs",
                &out,
            )));
        }
        let (procs, other) = parse_status(&out.stdout_str());
        // supervisorctl 4 exits 3 when some program is not running; anything else with no process
        // lines is a failure to reach supervisord.
        if procs.is_empty() && (!other.is_empty() || !matches!(out.rc, 0 | 3)) {
            return Ok(Outcome::fail(format!(
                "cannot query supervisord: {}",
                other.join("; ")
            )));
        }
        let cmds = match plan(&a.name, a.state, a.stop_before_removing, &procs) {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::fail(e.to_string()).with("name", a.name.as_str())),
        };
        let mut outcome = Outcome::changed(!cmds.is_empty())
            .with("name", a.name.as_str())
            .with("state", format!("{:?}", a.state).to_lowercase());
        if cx.diff && !cmds.is_empty() {
            let before: String = matching(&a.name, &procs)
                .iter()
                .map(|(p, s)| format!("{p}: {s}\n"))
                .collect();
            let after = match a.state {
                SupState::Absent => String::new(),
                SupState::Present => format!("{}: present\n", a.name),
                SupState::Stopped => format!("{}: STOPPED\n", a.name),
                SupState::Started | SupState::Restarted => format!("{}: RUNNING\n", a.name),
            };
            outcome.diff.push(FileDiff {
                path: format!("supervisord program {}", a.name),
                before,
                after,
            });
        }
        if cx.check_mode || cmds.is_empty() {
            return Ok(outcome);
        }
        let out = cx.run(&apply_script(&ctl, &cmds), &[]).await?;
        if out.rc != 0 {
            let mut failed = Outcome::fail(host_error("supervisorctl failed", &out));
            failed.result = outcome.result;
            return Ok(failed);
        }
        Ok(outcome.with("stdout", out.stdout_str()))
    }
}

/// Process states supervisorctl's `status` prints.
const STATES: &[&str] = &[
    "STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN",
];

fn is_running(state: &str) -> bool {
    matches!(state, "RUNNING" | "STARTING")
}

/// `supervisorctl` with its connection options, quoted for sh.
fn ctl(a: &SupervisorctlArgs) -> String {
    let mut s = q(a.supervisorctl_path.as_deref().unwrap_or("supervisorctl"));
    for (flag, v) in [
        ("-c", &a.config),
        ("-s", &a.server_url),
        ("-u", &a.username),
        ("-p", &a.password),
    ] {
        if let Some(v) = v {
            s.push_str(&format!(" {flag} {}", q(v)));
        }
    }
    s
}

/// The processes `status` lists, and any text that is not a process line (errors).
pub fn parse_status(out: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut procs = Vec::new();
    let mut other = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some(n), Some(s)) if STATES.contains(&s) => procs.push((n.to_string(), s.to_string())),
            _ => other.push(line.trim().to_string()),
        }
    }
    (procs, other)
}

/// The processes `name` means: itself, or a group's members for `group:`.
fn matching<'p>(name: &str, procs: &'p [(String, String)]) -> Vec<&'p (String, String)> {
    match name.strip_suffix(':') {
        Some(group) => procs
            .iter()
            .filter(|(p, _)| p.strip_prefix(group).is_some_and(|r| r.starts_with(':')))
            .collect(),
        None => procs.iter().filter(|(p, _)| p == name).collect(),
    }
}

/// What to run (supervisorctl subcommands with their argument), in order.
pub fn plan(
    name: &str,
    state: SupState,
    stop_before_removing: bool,
    procs: &[(String, String)],
) -> Result<Vec<(&'static str, String)>, ModuleError> {
    let base = name.trim_end_matches(':').to_string();
    let found = matching(name, procs);
    let mut cmds = Vec::new();
    let add = |cmds: &mut Vec<(&'static str, String)>| {
        cmds.push(("reread", String::new()));
        cmds.push(("add", base.clone()));
    };
    match state {
        SupState::Present => {
            if found.is_empty() {
                add(&mut cmds);
            }
        }
        SupState::Absent => {
            if !found.is_empty() {
                if stop_before_removing {
                    for (p, s) in &found {
                        if is_running(s) {
                            cmds.push(("stop", p.clone()));
                        }
                    }
                }
                cmds.push(("remove", base));
            }
        }
        SupState::Started => {
            if found.is_empty() {
                add(&mut cmds);
                // `add` starts autostart programs; the script starts the others.
                cmds.push(("ensure_started", name.to_string()));
            }
            for (p, s) in &found {
                if !is_running(s) {
                    cmds.push(("start", p.clone()));
                }
            }
        }
        SupState::Stopped => {
            if found.is_empty() {
                return Err(ModuleError::Failed(format!(
                    "ERROR (no such process): supervisord has no `{name}`"
                )));
            }
            for (p, s) in &found {
                if is_running(s) {
                    cmds.push(("stop", p.clone()));
                }
            }
        }
        SupState::Restarted => {
            if found.is_empty() {
                add(&mut cmds);
                cmds.push(("ensure_started", name.to_string()));
            }
            for (p, _) in &found {
                cmds.push(("restart", p.clone()));
            }
        }
    }
    Ok(cmds)
}

fn apply_script(ctl: &str, cmds: &[(&'static str, String)]) -> String {
    // supervisorctl reports some failures only in its output ("ERROR (spawn error)").
    let mut s = String::from(
        "rm_do() { o=$(\"$@\" 2>&1 </dev/null); r=$?; printf '%s\\n' \"$o\"\n\
         case $o in *ERROR*) r=${r#0}; r=${r:-1};; esac\n\
         [ \"$r\" = 0 ] || { printf '%s\\n' \"$o\" >&2; exit 1; }; }\n",
    );
    for (cmd, arg) in cmds {
        match *cmd {
            "reread" => s.push_str(&format!("rm_do {ctl} reread\n")),
            "ensure_started" => s.push_str(&format!(
                "case $({ctl} status {a} 2>&1) in *RUNNING*|*STARTING*) ;; *) rm_do {ctl} start {a};; esac\n",
                a = q(arg)
            )),
            _ => s.push_str(&format!("rm_do {ctl} {cmd} {}\n", q(arg))),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "cron                             STOPPED   Not started\n\
        web:web_00                       RUNNING   pid 12, uptime 0:01:02\n\
        web:web_01                       FATAL     Exited too quickly (process log may have details)\n\
        webber                           RUNNING   pid 13, uptime 0:01:02\n";

    fn procs() -> Vec<(String, String)> {
        parse_status(STATUS).0
    }

    #[test]
    fn status_lines_and_errors_are_told_apart() {
        let (p, other) = parse_status(STATUS);
        assert_eq!(p.len(), 4);
        assert_eq!(p[2], ("web:web_01".to_string(), "FATAL".to_string()));
        assert!(other.is_empty());
        let (p, other) = parse_status("unix:///var/run/supervisor.sock no such file\n");
        assert!(p.is_empty());
        assert_eq!(other, ["unix:///var/run/supervisor.sock no such file"]);
    }

    #[test]
    fn only_processes_that_differ_get_commands() {
        let p = procs();
        let cmds = |name, state| plan(name, state, false, &p).unwrap();
        assert_eq!(
            cmds("cron", SupState::Started),
            [("start", "cron".to_string())]
        );
        assert!(cmds("webber", SupState::Started).is_empty());
        assert!(cmds("cron", SupState::Present).is_empty());
        assert!(cmds("cron", SupState::Stopped).is_empty());
        // A group is its members only: `webber` is not in `web:`.
        assert_eq!(
            cmds("web:", SupState::Stopped),
            [("stop", "web:web_00".to_string())]
        );
        assert_eq!(
            cmds("web:", SupState::Started),
            [("start", "web:web_01".to_string())]
        );
        assert_eq!(
            cmds("web:", SupState::Restarted).len(),
            2,
            "restart always bounces every member"
        );
        assert_eq!(
            cmds("new", SupState::Present),
            [("reread", String::new()), ("add", "new".to_string())]
        );
        assert_eq!(cmds("new", SupState::Started)[2].0, "ensure_started");
        assert!(cmds("new", SupState::Absent).is_empty());
        assert_eq!(
            cmds("web:", SupState::Absent),
            [("remove", "web".to_string())]
        );
        assert_eq!(
            plan("webber", SupState::Absent, true, &p).unwrap(),
            [
                ("stop", "webber".to_string()),
                ("remove", "webber".to_string())
            ]
        );
        let err = plan("new", SupState::Stopped, false, &p)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such process"), "{err}");
    }

    #[test]
    fn an_error_printed_with_exit_code_zero_fails_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("supervisorctl");
        // supervisorctl 3 prints errors and exits 0.
        std::fs::write(
            &fake,
            "#!/bin/sh\necho \"$2: ERROR (spawn error)\"\nexit 0\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = apply_script(&q(&fake.display().to_string()), &[("start", "x".into())]);
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("x: ERROR (spawn error)"));
    }
}
