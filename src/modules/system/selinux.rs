//! `selinux` and `seboolean` (ansible.posix): the SELinux mode and policy in its config file
//! and in the running kernel, and SELinux booleans. On hosts without SELinux (no
//! /sys/fs/selinux and no config file: Debian, Ubuntu, containers) asking for `disabled` or
//! `permissive`, or for a boolean, is already true in effect: the task is ok with a message
//! saying so, as roles written for SELinux distributions expect. Asking for `enforcing` there
//! fails, because it cannot be honoured.

use super::syskit::{join_lines, text_lines};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::{Attrs, host_error, parse_kv, q, write_step};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub const NOT_AVAILABLE: &str = "SELinux is not available on this host";

pub struct Selinux;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforcing,
    Permissive,
    Disabled,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Enforcing => "enforcing",
            Mode::Permissive => "permissive",
            Mode::Disabled => "disabled",
        }
    }
}

fn default_config() -> String {
    "/etc/selinux/config".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SelinuxArgs {
    state: Mode,
    policy: Option<String>,
    #[serde(default = "default_config", alias = "conf", alias = "file")]
    configfile: String,
}

const SELINUX_ARGS: &[ArgDoc] = &[
    one_of(
        req("state", "The SELinux mode."),
        &["enforcing", "permissive", "disabled"],
    ),
    arg(
        "policy",
        "The policy (`targeted`, ...); kept as SELINUXTYPE in the config file.",
    ),
    aka(
        dflt(
            "configfile",
            "/etc/selinux/config",
            "The SELinux config file.",
        ),
        &["conf", "file"],
    ),
];

impl Module for Selinux {
    const NAME: &'static str = "selinux";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("state", "the state"),
            ("policy", "the policy"),
            ("configfile", "the config file"),
            ("reboot_required", "whether a reboot is needed"),
        ],
        summary: "Set the SELinux mode and policy (ok with a message on hosts without SELinux unless enforcing is asked for).",
        args: SELINUX_ARGS,
        example: "- ansible.posix.selinux:\n    state: permissive\n    policy: targeted\n",
    };
    type Args = SelinuxArgs;

    async fn run(&self, a: SelinuxArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let probe = format!(
            "if [ -r /sys/fs/selinux/enforce ]; then printf 'enforce=%s\\n' \"$(cat /sys/fs/selinux/enforce)\"; fi\n\
             if [ -e {f} ]; then printf '{MARK}'; cat {f} || exit 1; fi",
            f = q(&a.configfile)
        );
        let out = cx.run(&probe, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                "cannot read the SELinux state",
                &out,
            )));
        }
        let stdout = out.stdout_str();
        let (report, file) = match stdout.split_once(MARK) {
            Some((r, f)) => (r.to_string(), Some(f.to_string())),
            None => (stdout.clone(), None),
        };
        let runtime = parse_kv(&report).get("enforce").cloned();
        let Some(file) = file.or_else(|| runtime.as_ref().map(|_| String::new())) else {
            return Ok(if a.state == Mode::Enforcing {
                Outcome::fail(format!("{NOT_AVAILABLE}: cannot make it enforcing"))
            } else {
                Outcome::ok()
                    .msg(NOT_AVAILABLE)
                    .with("state", a.state.as_str())
            });
        };
        let lines = text_lines(file.as_bytes());
        let mut new = lines.clone();
        set_key(&mut new, "SELINUX", a.state.as_str());
        if let Some(p) = &a.policy {
            set_key(&mut new, "SELINUXTYPE", p);
        }
        let file_changes = new != lines;
        let want_enforce = match a.state {
            Mode::Enforcing => Some("1"),
            Mode::Permissive => Some("0"),
            Mode::Disabled => None,
        };
        let set_runtime = match (&runtime, want_enforce) {
            (Some(cur), Some(w)) => cur.trim() != w,
            _ => false,
        };
        // Turning SELinux on or off entirely takes a reboot.
        let reboot_required = (runtime.is_some() && a.state == Mode::Disabled)
            || (runtime.is_none() && a.state != Mode::Disabled);
        let mut res = Outcome::changed(file_changes || set_runtime)
            .with("state", a.state.as_str())
            .with("configfile", a.configfile.as_str())
            .with("reboot_required", reboot_required && file_changes);
        if let Some(p) = a
            .policy
            .as_deref()
            .or(key_value(&lines, "SELINUXTYPE").as_deref())
        {
            res.result.insert("policy".into(), Value::from(p));
        }
        if file_changes && cx.diff {
            res.diff.push(FileDiff {
                path: a.configfile.clone(),
                before: file.clone(),
                after: String::from_utf8_lossy(&join_lines(&new)).into_owned(),
            });
        }
        if !res.changed || cx.check_mode {
            return Ok(res);
        }
        let mut s = String::new();
        if file_changes {
            s.push_str(&write_step(
                &a.configfile,
                join_lines(&new).len(),
                Attrs::default(),
                true,
            ));
        }
        if set_runtime && let Some(w) = want_enforce {
            s.push_str(&format!("setenforce {w} || exit 81\n"));
        }
        let w = cx.run(&s, &join_lines(&new)).await?;
        if w.rc != 0 {
            return Ok(Outcome::fail(host_error(
                "cannot change the SELinux mode",
                &w,
            )));
        }
        if reboot_required && file_changes {
            res.msg = Some(format!(
                "config set to {}; a reboot is required for it to take effect",
                a.state.as_str()
            ));
        }
        Ok(res)
    }
}

const MARK: &str = "rmesos_file_follows=1\n";

/// Sets `KEY=value` in the config lines (replacing the active line, else appending).
fn set_key(lines: &mut Vec<String>, key: &str, value: &str) {
    let new = format!("{key}={value}");
    match lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{key}=")))
    {
        Some(i) => lines[i] = new,
        None => lines.push(new),
    }
}

fn key_value(lines: &[String], key: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        l.trim_start()
            .strip_prefix(&format!("{key}="))
            .map(|v| v.trim().to_string())
    })
}

pub struct Seboolean;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SebooleanArgs {
    name: String,
    state: bool,
    #[serde(default)]
    persistent: bool,
    #[serde(default)]
    ignore_selinux_state: bool,
}

const SEBOOLEAN_ARGS: &[ArgDoc] = &[
    req("name", "The boolean's name."),
    req("state", "yes turns it on, no off."),
    dflt(
        "persistent",
        "no",
        "Keep the value across reboots (setsebool -P).",
    ),
    dflt(
        "ignore_selinux_state",
        "no",
        "Change the boolean even when SELinux is disabled (getsebool still has to work).",
    ),
];

impl Module for Seboolean {
    const NAME: &'static str = "seboolean";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("state", "the state"),
            ("policy", "the policy"),
            ("configfile", "the config file"),
            ("reboot_required", "whether a reboot is needed"),
        ],
        summary: "Set an SELinux boolean (ok with a message on hosts without SELinux).",
        args: SEBOOLEAN_ARGS,
        example: "- ansible.posix.seboolean:\n    name: httpd_can_network_connect\n    state: yes\n    persistent: yes\n",
    };
    type Args = SebooleanArgs;

    async fn run(&self, a: SebooleanArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let enabled_test = if a.ignore_selinux_state {
            "true"
        } else {
            "[ -r /sys/fs/selinux/enforce ]"
        };
        let probe = format!(
            "if {enabled_test} && command -v getsebool >/dev/null; then\n\
             v=$(getsebool {n}) || exit 1\n\
             printf 'value=%s\\n' \"${{v##* }}\"\nfi",
            n = q(&a.name)
        );
        let out = cx.run(&probe, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot read SELinux boolean {}", a.name),
                &out,
            )));
        }
        let Some(cur) = parse_kv(&out.stdout_str()).get("value").cloned() else {
            return Ok(Outcome::ok()
                .msg(NOT_AVAILABLE)
                .with("name", a.name.as_str()));
        };
        let want = if a.state { "on" } else { "off" };
        let res = Outcome::changed(cur != want)
            .with("name", a.name.as_str())
            .with("state", a.state)
            .with("persistent", a.persistent);
        if res.changed && !cx.check_mode {
            let p = if a.persistent { "-P " } else { "" };
            let w = cx
                .run(&format!("setsebool {p}{} {want}", q(&a.name)), &[])
                .await?;
            if w.rc != 0 {
                return Ok(Outcome::fail(host_error(
                    &format!("cannot set SELinux boolean {}", a.name),
                    &w,
                )));
            }
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[test]
    fn config_keys_are_replaced_or_added() {
        let mut l = text_lines(b"# c\nSELINUX=enforcing\n");
        set_key(&mut l, "SELINUX", "permissive");
        set_key(&mut l, "SELINUXTYPE", "targeted");
        assert_eq!(
            l,
            text_lines(b"# c\nSELINUX=permissive\nSELINUXTYPE=targeted\n")
        );
        assert_eq!(key_value(&l, "SELINUXTYPE").as_deref(), Some("targeted"));
    }

    #[tokio::test]
    async fn edits_an_existing_config_file() {
        let h = Harness::new();
        let f = h.write("config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n");
        let a = json!({"state": "permissive", "configfile": f});
        let r = h.run(&Selinux, a.clone(), false, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(
            h.read("config"),
            "SELINUX=permissive\nSELINUXTYPE=targeted\n"
        );
        let r = h.run(&Selinux, a, false, false).await;
        assert!(!r.outcome.changed, "{:?}", r.outcome.msg);
    }

    #[tokio::test]
    async fn without_selinux_permissive_is_ok_and_enforcing_fails() {
        if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
            return; // this machine has SELinux: the case does not arise
        }
        let h = Harness::new();
        let f = h.path("missing-config");
        let r = h
            .run(
                &Selinux,
                json!({"state": "disabled", "configfile": f}),
                false,
                false,
            )
            .await;
        assert!(!r.outcome.failed && !r.outcome.changed);
        assert_eq!(r.outcome.msg.as_deref(), Some(NOT_AVAILABLE));
        let r = h
            .run(
                &Selinux,
                json!({"state": "enforcing", "configfile": f}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(r.outcome.msg.unwrap().contains(NOT_AVAILABLE));
        let r = h
            .run(
                &Seboolean,
                json!({"name": "httpd_can_network_connect", "state": true}),
                false,
                false,
            )
            .await;
        assert!(!r.outcome.failed && !r.outcome.changed);
        assert_eq!(r.outcome.msg.as_deref(), Some(NOT_AVAILABLE));
    }
}
