//! `cron`: manages one job (under Ansible's `#Ansible: NAME` marker line) or one environment
//! variable in a user's crontab or in a file under /etc/cron.d. One script reads the crontab,
//! the controller computes the new one with Ansible's rules, and a second script installs it
//! (`crontab -u USER -`, or an atomic write for cron_file) only when it differs.

use super::syskit::{join_lines, text_lines};
use crate::modules::FileMode;
use crate::modules::doc::{aka, arg, dflt, one_of};
use crate::modules::remote::{Attrs, q, write_step};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Cron;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Special {
    Annually,
    Daily,
    Hourly,
    Monthly,
    Reboot,
    Weekly,
    Yearly,
}

impl Special {
    fn as_str(self) -> &'static str {
        match self {
            Special::Annually => "annually",
            Special::Daily => "daily",
            Special::Hourly => "hourly",
            Special::Monthly => "monthly",
            Special::Reboot => "reboot",
            Special::Weekly => "weekly",
            Special::Yearly => "yearly",
        }
    }
}

fn star() -> String {
    "*".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CronArgs {
    name: Option<String>,
    #[serde(alias = "value")]
    job: Option<String>,
    #[serde(default = "star")]
    minute: String,
    #[serde(default = "star")]
    hour: String,
    #[serde(default = "star", alias = "dom")]
    day: String,
    #[serde(default = "star")]
    month: String,
    #[serde(default = "star", alias = "dow")]
    weekday: String,
    special_time: Option<Special>,
    user: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    env: bool,
    #[serde(alias = "cron_file_name")]
    cron_file: Option<String>,
    #[serde(default)]
    backup: bool,
    insertafter: Option<String>,
    insertbefore: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    arg(
        "name",
        "The job's name, kept in the `#Ansible: NAME` line above it (the variable's name with env=yes).",
    ),
    aka(
        arg(
            "job",
            "The command to run (the variable's value with env=yes). Required with state=present.",
        ),
        &["value"],
    ),
    dflt("minute", "*", "Minute (0-59, */5, 1,31, ...)."),
    dflt("hour", "*", "Hour (0-23, ...)."),
    aka(dflt("day", "*", "Day of the month (1-31, ...)."), &["dom"]),
    dflt("month", "*", "Month (1-12, ...)."),
    aka(
        dflt("weekday", "*", "Day of the week (0-6, ...)."),
        &["dow"],
    ),
    one_of(
        arg(
            "special_time",
            "A special time (`@daily`) instead of the five time fields.",
        ),
        &[
            "annually", "daily", "hourly", "monthly", "reboot", "weekly", "yearly",
        ],
    ),
    arg(
        "user",
        "Whose crontab to manage (default: the connecting or become user); the user field of a cron_file line (default root).",
    ),
    one_of(
        dflt("state", "present", "present or absent."),
        &["present", "absent"],
    ),
    dflt(
        "disabled",
        "no",
        "Keep the job but commented out (`#` before the job line).",
    ),
    dflt(
        "env",
        "no",
        "Manage an environment variable line `NAME=job` instead of a job.",
    ),
    aka(
        arg(
            "cron_file",
            "A file under /etc/cron.d (or an absolute path) instead of a user's crontab; removed when state=absent and no name is given.",
        ),
        &["cron_file_name"],
    ),
    dflt(
        "backup",
        "no",
        "Save the old crontab in a temporary file on the host and return its path as backup_file.",
    ),
    arg(
        "insertafter",
        "With env=yes: put a new variable after the declaration of this variable.",
    ),
    arg(
        "insertbefore",
        "With env=yes: put a new variable before the declaration of this variable.",
    ),
];

impl Module for Cron {
    const NAME: &'static str = "cron";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("jobs", "the job names (or envs for env: true)"),
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Manage cron jobs and crontab environment variables, with Ansible's `#Ansible: NAME` markers.",
        args: ARGS,
        example: "- cron:\n    name: purge mesos sandboxes\n    minute: '0'\n    hour: '3'\n    job: find /var/lib/mesos/slaves -mtime +7 -delete\n    user: root\n",
    };
    type Args = CronArgs;

    async fn run(&self, a: CronArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        a.check()?;
        let out = cx.run(&read_script(&a), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(format!(
                "cannot read the crontab: {}",
                out.stderr_str().trim()
            )));
        }
        let stdout = out.stdout_str();
        let (exists, text) = match stdout.strip_prefix("exists\n") {
            Some(t) => (true, t.to_string()),
            None => (false, String::new()),
        };
        let lines = text_lines(text.as_bytes());
        let (new_lines, remove_file) = match &a.name {
            None => (vec![], exists),
            Some(name) if a.env => (edit_env(&a, &lines, name)?, false),
            Some(name) => (edit_job(&a, &lines, name), false),
        };
        // An emptied cron_file goes away, as Ansible does.
        let remove_file = remove_file || (a.cron_file.is_some() && exists && new_lines.is_empty());
        let new_text = String::from_utf8_lossy(&join_lines(&new_lines)).into_owned();
        let old_text = String::from_utf8_lossy(&join_lines(&lines)).into_owned();
        let changed = if a.cron_file.is_some() {
            remove_file || (new_text != text && !new_lines.is_empty())
        } else {
            new_lines != lines
        };
        let mut res = Outcome::changed(changed);
        if let Some(n) = &a.name {
            let key = if a.env { "envs" } else { "jobs" };
            res.result.insert(key.into(), Value::from(vec![n.clone()]));
        }
        if changed && cx.diff {
            res.diff.push(FileDiff {
                path: a.cron_path().unwrap_or_else(|| {
                    format!(
                        "crontab of {}",
                        a.user.as_deref().unwrap_or("the login user")
                    )
                }),
                before: old_text,
                after: if remove_file {
                    String::new()
                } else {
                    new_text.clone()
                },
            });
        }
        if changed && !cx.check_mode {
            let w = cx
                .run(
                    &write_script(&a, remove_file, a.backup, new_text.len()),
                    new_text.as_bytes(),
                )
                .await?;
            if w.rc != 0 {
                return Ok(Outcome::fail(format!(
                    "cannot install the crontab: {}",
                    w.stderr_str().trim()
                )));
            }
            if let Some(b) = crate::modules::remote::parse_kv(&w.stdout_str()).get("backup_file") {
                res.result
                    .insert("backup_file".into(), Value::from(b.as_str()));
            }
        }
        Ok(res)
    }
}

impl CronArgs {
    fn cron_path(&self) -> Option<String> {
        self.cron_file.as_ref().map(|f| {
            if f.starts_with('/') {
                f.clone()
            } else {
                format!("/etc/cron.d/{f}")
            }
        })
    }

    /// The job line as Ansible writes it.
    fn job_line(&self, job: &str) -> String {
        let job = job.trim_matches(['\r', '\n']);
        let prefix = if self.disabled { "#" } else { "" };
        let user = match &self.cron_file {
            Some(_) => format!("{} ", self.user.as_deref().unwrap_or("root")),
            None => String::new(),
        };
        match self.special_time {
            Some(s) => format!("{prefix}@{} {user}{job}", s.as_str()),
            None => format!(
                "{prefix}{} {} {} {} {} {user}{job}",
                self.minute, self.hour, self.day, self.month, self.weekday
            ),
        }
    }

    fn check(&self) -> Result<(), ModuleError> {
        let times_set = [
            &self.minute,
            &self.hour,
            &self.day,
            &self.month,
            &self.weekday,
        ]
        .iter()
        .any(|f| f.as_str() != "*");
        if self.special_time.is_some() && times_set {
            return Err(ModuleError::failed(
                "You must specify time and date fields or special time.",
            ));
        }
        if self.insertafter.is_some() && self.insertbefore.is_some() {
            return Err(ModuleError::failed(
                "insertafter and insertbefore are mutually exclusive",
            ));
        }
        if (self.insertafter.is_some() || self.insertbefore.is_some()) && !self.env {
            return Err(ModuleError::failed(
                "insertafter and insertbefore need env=yes",
            ));
        }
        if self.state == State::Present {
            if self.name.is_none() {
                return Err(ModuleError::failed("name is required with state=present"));
            }
            if self.job.is_none() {
                return Err(ModuleError::failed("job is required with state=present"));
            }
        }
        if self.env && self.name.is_none() {
            return Err(ModuleError::failed("name is required with env=yes"));
        }
        if self.name.is_none() && self.cron_file.is_none() {
            return Err(ModuleError::failed(
                "name is required (or cron_file, to remove a whole file)",
            ));
        }
        Ok(())
    }
}

/// The new crontab lines for a job.
fn edit_job(a: &CronArgs, lines: &[String], name: &str) -> Vec<String> {
    let marker = format!("#Ansible: {name}");
    let mut out = Vec::with_capacity(lines.len() + 2);
    let mut found = false;
    let mut i = 0;
    while i < lines.len() {
        if lines[i] == marker {
            let has_job = i + 1 < lines.len();
            if a.state == State::Present && !found {
                out.push(marker.clone());
                out.push(a.job_line(a.job.as_deref().unwrap_or_default()));
            }
            found = true;
            i += if has_job { 2 } else { 1 };
            continue;
        }
        out.push(lines[i].clone());
        i += 1;
    }
    if !found && a.state == State::Present {
        out.push(marker);
        out.push(a.job_line(a.job.as_deref().unwrap_or_default()));
    }
    out
}

/// The new crontab lines for an environment variable.
fn edit_env(a: &CronArgs, lines: &[String], name: &str) -> Result<Vec<String>, ModuleError> {
    let is_decl = |l: &str, n: &str| {
        l.trim_start()
            .strip_prefix(n)
            .is_some_and(|r| r.trim_start().starts_with('='))
    };
    let decl = format!("{name}={}", a.job.as_deref().unwrap_or_default());
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 1);
    let mut found = false;
    for l in lines {
        if is_decl(l, name) {
            if a.state == State::Present && !found {
                out.push(decl.clone());
            }
            found = true;
        } else {
            out.push(l.clone());
        }
    }
    if !found && a.state == State::Present {
        let at = if let Some(after) = &a.insertafter {
            out.iter()
                .position(|l| is_decl(l, after))
                .map(|i| i + 1)
                .ok_or_else(|| {
                    ModuleError::Failed(format!("Variable named '{after}' not found."))
                })?
        } else if let Some(before) = &a.insertbefore {
            out.iter().position(|l| is_decl(l, before)).ok_or_else(|| {
                ModuleError::Failed(format!("Variable named '{before}' not found."))
            })?
        } else {
            0
        };
        out.insert(at, decl);
    }
    Ok(out)
}

const RC_NO_CRONTAB: i32 = 3;

fn read_script(a: &CronArgs) -> String {
    match a.cron_path() {
        Some(p) => format!(
            "if [ -e {p} ]; then echo exists; cat {p} || exit 1; fi",
            p = q(&p)
        ),
        None => {
            let u = a
                .user
                .as_deref()
                .map(|u| format!(" -u {}", q(u)))
                .unwrap_or_default();
            format!(
                "command -v crontab >/dev/null || {{ echo 'crontab is not installed on this host (install the cron package)' >&2; exit {RC_NO_CRONTAB}; }}\n\
                 echo exists\n\
                 if out=$(crontab -l{u} 2>&1); then printf '%s\\n' \"$out\"; else\n\
                 case \"$out\" in *'no crontab for'*) ;; *) printf '%s\\n' \"$out\" >&2; exit 1;; esac\nfi"
            )
        }
    }
}

fn write_script(a: &CronArgs, remove_file: bool, backup: bool, len: usize) -> String {
    let mut s = String::new();
    if backup {
        s.push_str("b=$(mktemp /tmp/crontab.XXXXXX) || exit 1\n");
        match a.cron_path() {
            Some(p) => s.push_str(&format!("cat {} > \"$b\" 2>/dev/null\n", q(&p))),
            None => {
                let u = a
                    .user
                    .as_deref()
                    .map(|u| format!(" -u {}", q(u)))
                    .unwrap_or_default();
                s.push_str(&format!("crontab -l{u} > \"$b\" 2>/dev/null\n"));
            }
        }
        s.push_str("printf 'backup_file=%s\\n' \"$b\"\n");
    }
    match a.cron_path() {
        Some(p) if remove_file => s.push_str(&format!("rm -f {}\n", q(&p))),
        Some(p) => {
            let attrs = Attrs {
                mode: Some(&FileMode::Octal(0o644)),
                ..Attrs::default()
            };
            s.push_str(&write_step(&p, len, attrs, false));
        }
        None => {
            let u = a
                .user
                .as_deref()
                .map(|u| format!(" -u {}", q(u)))
                .unwrap_or_default();
            s.push_str(&format!("crontab{u} - || exit 1\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    fn args(v: serde_json::Value) -> CronArgs {
        crate::modules::decode(
            &Value::from(minijinja::value::Serde(v)),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap()
    }

    fn lines(s: &str) -> Vec<String> {
        text_lines(s.as_bytes())
    }

    #[test]
    fn job_lines_as_ansible_writes_them() {
        let a = args(json!({"name": "x", "job": "run.sh\n", "minute": "5", "hour": "*/2"}));
        assert_eq!(a.job_line("run.sh\n"), "5 */2 * * * run.sh");
        let a = args(
            json!({"name": "x", "job": "j", "special_time": "reboot", "cron_file": "f", "disabled": true}),
        );
        assert_eq!(a.job_line("j"), "#@reboot root j");
        let a = args(json!({"name": "x", "job": "j", "cron_file": "f", "user": "app"}));
        assert_eq!(a.job_line("j"), "* * * * * app j");
    }

    #[test]
    fn jobs_are_added_replaced_and_removed_by_marker() {
        let old = lines("MAILTO=x\n#Ansible: a\n1 * * * * old\n#Ansible: b\n2 * * * * keep\n");
        let a = args(json!({"name": "a", "job": "new", "minute": "3"}));
        assert_eq!(
            edit_job(&a, &old, "a"),
            lines("MAILTO=x\n#Ansible: a\n3 * * * * new\n#Ansible: b\n2 * * * * keep\n")
        );
        let a = args(json!({"name": "c", "job": "added"}));
        assert_eq!(
            edit_job(&a, &old, "c")[5..],
            lines("#Ansible: c\n* * * * * added\n")
        );
        let a = args(json!({"name": "a", "state": "absent"}));
        assert_eq!(
            edit_job(&a, &old, "a"),
            lines("MAILTO=x\n#Ansible: b\n2 * * * * keep\n")
        );
    }

    #[test]
    fn env_goes_on_top_or_after_a_variable() {
        let old = lines("A=1\n#Ansible: j\n* * * * * x\n");
        let a = args(json!({"name": "B", "job": "2", "env": true}));
        assert_eq!(edit_env(&a, &old, "B").unwrap()[0], "B=2");
        let a = args(json!({"name": "B", "job": "2", "env": true, "insertafter": "A"}));
        assert_eq!(edit_env(&a, &old, "B").unwrap()[1], "B=2");
        let a = args(json!({"name": "A", "job": "9", "env": true}));
        assert_eq!(edit_env(&a, &old, "A").unwrap()[0], "A=9");
        let a = args(json!({"name": "A", "env": true, "state": "absent"}));
        assert_eq!(edit_env(&a, &old, "A").unwrap().len(), 2);
    }

    #[test]
    fn special_time_with_fields_is_refused() {
        let a = args(json!({"name": "x", "job": "j", "special_time": "daily", "hour": "3"}));
        assert!(a.check().unwrap_err().to_string().contains("special time"));
    }

    #[tokio::test]
    async fn cron_file_round_trip() {
        let h = Harness::new();
        let f = h.path("cron.d/job");
        std::fs::create_dir_all(h.path("cron.d")).unwrap();
        let a =
            json!({"name": "tick", "job": "date", "minute": "*/5", "cron_file": f, "user": "root"});
        let r = h.run(&Cron, a.clone(), true, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert!(!std::path::Path::new(&f).exists());
        let r = h.run(&Cron, a.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(
            h.read("cron.d/job"),
            "#Ansible: tick\n*/5 * * * * root date\n"
        );
        assert_eq!(h.mode("cron.d/job"), 0o644);
        let r = h.run(&Cron, a, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        let r = h
            .run(
                &Cron,
                json!({"name": "tick", "cron_file": f, "state": "absent"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert!(!std::path::Path::new(&f).exists());
    }
}
