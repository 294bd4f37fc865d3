//! `sysctl`: keeps a kernel parameter in a sysctl file and, optionally, in the running kernel.
//! One script reads the file and the live value from /proc/sys; the controller decides with
//! Ansible's rules (a key's lines are rewritten as `key=value`, duplicates dropped); a second
//! script writes the file atomically, sets the live value (`sysctl -w`) and reloads the file
//! (`sysctl -p`) as asked. In containers /proc/sys is read-only: the file is still written, and
//! setting or reloading fails with that reason.

use super::syskit::{join_lines, text_lines};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::files::filekit::DIFF_MAX;
use crate::modules::remote::{Attrs, host_error, parse_kv, q, write_step};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Sysctl;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

fn yes() -> bool {
    true
}

fn default_file() -> String {
    "/etc/sysctl.conf".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SysctlArgs {
    #[serde(alias = "key")]
    name: String,
    #[serde(alias = "val")]
    value: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default)]
    ignoreerrors: bool,
    #[serde(default = "yes")]
    reload: bool,
    #[serde(default = "default_file")]
    sysctl_file: String,
    #[serde(default)]
    sysctl_set: bool,
}

const ARGS: &[ArgDoc] = &[
    aka(
        req("name", "The parameter, dotted (`vm.swappiness`)."),
        &["key"],
    ),
    aka(
        arg(
            "value",
            "Its value (required with state=present); yes/no/true/false become 1/0.",
        ),
        &["val"],
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present keeps `name=value` in the file; absent removes the name's lines.",
        ),
        &["present", "absent"],
    ),
    dflt(
        "ignoreerrors",
        "no",
        "Ignore unknown keys (the key missing from /proc/sys, `sysctl -p -e`).",
    ),
    dflt(
        "reload",
        "yes",
        "Run `sysctl -p FILE` when the file changed.",
    ),
    dflt(
        "sysctl_file",
        "/etc/sysctl.conf",
        "The file to keep the setting in.",
    ),
    dflt(
        "sysctl_set",
        "no",
        "Also set the live value with `sysctl -w` when it differs (compared through /proc/sys).",
    ),
];

impl Module for Sysctl {
    const NAME: &'static str = "sysctl";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[],
        summary: "Keep kernel parameters in a sysctl file and optionally in the running kernel.",
        args: ARGS,
        example: "- sysctl:\n    name: vm.swappiness\n    value: '1'\n    sysctl_file: /etc/sysctl.d/60-mesos.conf\n    sysctl_set: yes\n",
    };
    type Args = SysctlArgs;

    async fn run(&self, a: SysctlArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let want = match (a.state, &a.value) {
            (State::Present, None) => {
                return Err(ModuleError::Failed(
                    "value is required with state=present".into(),
                ));
            }
            (State::Present, Some(v)) => Some(normalize(v)),
            (State::Absent, _) => None,
        };
        let probe = format!(
            "if [ -r {p} ]; then printf 'live=%s\\n' \"$(tr '\\t' ' ' < {p})\"; fi\n\
             if [ -e {f} ]; then printf '{MARK}'; cat {f} || exit 1; fi",
            p = q(&proc_path(&a.name)),
            f = q(&a.sysctl_file)
        );
        let out = cx.run(&probe, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot read {}", a.sysctl_file),
                &out,
            )));
        }
        let stdout = out.stdout_str();
        let (report, file) = match stdout.split_once(MARK) {
            Some((r, f)) => (r.to_string(), Some(f.to_string())),
            None => (stdout.clone(), None),
        };
        let live = parse_kv(&report).get("live").map(|v| normalize(v));
        if live.is_none() && a.state == State::Present && !a.ignoreerrors {
            return Ok(Outcome::fail(format!(
                "Invalid sysctl key: {} (no {}; set ignoreerrors to keep it anyway)",
                a.name,
                proc_path(&a.name)
            )));
        }
        let lines = text_lines(file.as_deref().unwrap_or_default().as_bytes());
        let current = file_value(&lines, &a.name).map(|v| normalize(&v));
        let file_changes = current != want;
        let set_live = a.sysctl_set && want.is_some() && live.is_some() && live != want;
        let mut res = Outcome::changed(file_changes || set_live);
        let new_lines = fix_lines(&lines, &a.name, want.as_deref());
        let new_text = join_lines(&new_lines);
        if file_changes
            && cx.diff
            && let Some(old) = &file
            && (old.len() as u64) < DIFF_MAX
        {
            res.diff.push(FileDiff {
                path: a.sysctl_file.clone(),
                before: old.clone(),
                after: String::from_utf8_lossy(&new_text).into_owned(),
            });
        }
        if !cx.check_mode && res.changed {
            let mut s = String::new();
            if file_changes {
                s.push_str(&write_step(
                    &a.sysctl_file,
                    new_text.len(),
                    Attrs::default(),
                    false,
                ));
            }
            if set_live && let Some(w) = &want {
                s.push_str(&format!(
                    "sysctl -w {} >/dev/null || exit {RC_SET}\n",
                    q(&format!("{}={}", a.name, w))
                ));
            }
            if file_changes && a.reload {
                let e = if a.ignoreerrors { "-e " } else { "" };
                s.push_str(&format!(
                    "sysctl {e}-p {} >/dev/null || exit {RC_RELOAD}\n",
                    q(&a.sysctl_file)
                ));
            }
            let w = cx.run(&s, &new_text).await?;
            if w.rc != 0 {
                let what = match w.rc {
                    RC_SET => format!("cannot set {} in the running kernel", a.name),
                    RC_RELOAD => format!("wrote {} but cannot reload it", a.sysctl_file),
                    _ => format!("cannot write {}", a.sysctl_file),
                };
                let mut msg = host_error(&what, &w);
                if matches!(w.rc, RC_SET | RC_RELOAD) {
                    msg.push_str(
                        " (/proc/sys is read-only in containers: set sysctl_set: no and reload: no to only keep the file)",
                    );
                }
                return Ok(Outcome::fail(msg));
            }
        }
        Ok(res)
    }
}

/// Ansible compares values with whitespace runs collapsed and booleans as 1/0.
fn normalize(v: &str) -> String {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => "1".into(),
        "no" | "false" | "off" => "0".into(),
        _ => v.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn proc_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// A setting line's key and value; blanks, comments and lines without `=` have none.
fn setting(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with(['#', ';']) {
        return None;
    }
    let (k, v) = t.split_once('=')?;
    Some((k.trim().to_string(), v.trim().to_string()))
}

/// The file's value for `name` (the last one wins, as sysctl reads it).
fn file_value(lines: &[String], name: &str) -> Option<String> {
    lines
        .iter()
        .filter_map(|l| setting(l))
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .next_back()
}

/// Ansible's rewrite: setting lines as `key=value`, each key once, the managed key set or
/// dropped, appended when new.
fn fix_lines(lines: &[String], name: &str, value: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len() + 1);
    let mut seen: Vec<String> = Vec::new();
    for l in lines {
        let Some((k, v)) = setting(l) else {
            out.push(l.clone());
            continue;
        };
        if seen.contains(&k) {
            continue;
        }
        seen.push(k.clone());
        if k == name {
            if let Some(value) = value {
                out.push(format!("{k}={value}"));
            }
        } else {
            out.push(format!("{k}={v}"));
        }
    }
    if let Some(value) = value
        && !seen.iter().any(|k| k == name)
    {
        out.push(format!("{name}={value}"));
    }
    out
}

const MARK: &str = "rmesos_file_follows=1\n";
const RC_SET: i32 = 81;
const RC_RELOAD: i32 = 82;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    fn lines(s: &str) -> Vec<String> {
        text_lines(s.as_bytes())
    }

    #[test]
    fn rewrite_follows_ansible() {
        let old = lines("# c\nvm.swappiness = 60\nnet.x=1\nvm.swappiness=10\n");
        assert_eq!(file_value(&old, "vm.swappiness").as_deref(), Some("10"));
        assert_eq!(
            fix_lines(&old, "vm.swappiness", Some("1")),
            lines("# c\nvm.swappiness=1\nnet.x=1\n")
        );
        assert_eq!(
            fix_lines(&old, "vm.swappiness", None),
            lines("# c\nnet.x=1\n")
        );
        assert_eq!(
            fix_lines(&old, "kernel.pid_max", Some("65536"))[3],
            "kernel.pid_max=65536"
        );
    }

    #[test]
    fn values_compare_normalised() {
        assert_eq!(normalize("4096\t87380   6291456"), "4096 87380 6291456");
        assert_eq!(normalize("yes"), "1");
        assert_eq!(
            proc_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
    }

    #[tokio::test]
    async fn file_only_round_trip() {
        let h = Harness::new();
        let f = h.write("sysctl.conf", "# kept\nkernel.pid_max = 1000\n");
        // A key every Linux has, so the /proc/sys lookup succeeds.
        let a =
            json!({"name": "kernel.pid_max", "value": "65536", "sysctl_file": f, "reload": false});
        let r = h.run(&Sysctl, a.clone(), true, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.outcome.diff[0].after, "# kept\nkernel.pid_max=65536\n");
        assert_eq!(h.read("sysctl.conf"), "# kept\nkernel.pid_max = 1000\n");
        let r = h.run(&Sysctl, a.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("sysctl.conf"), "# kept\nkernel.pid_max=65536\n");
        let r = h.run(&Sysctl, a, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn unknown_key_fails_unless_ignored() {
        let h = Harness::new();
        let f = h.path("s.conf");
        let r = h
            .run(
                &Sysctl,
                json!({"name": "no.such.key", "value": "1", "sysctl_file": f, "reload": false}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(r.outcome.msg.unwrap().contains("Invalid sysctl key"));
        let r = h
            .run(
                &Sysctl,
                json!({"name": "no.such.key", "value": "1", "sysctl_file": f, "reload": false, "ignoreerrors": true}),
                false,
                false,
            )
            .await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("s.conf"), "no.such.key=1\n");
    }
}
