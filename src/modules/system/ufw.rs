//! `ufw` (community.general): the uncomplicated firewall's state, default policies, logging
//! and rules. As Ansible does, one script snapshots `ufw status verbose` and the rule tuples
//! of the user rules files, runs the `ufw` commands the task asks for, and compares the
//! snapshot after: changed when it differs (`reloaded` and `reset` always change). In check
//! mode rules go through `ufw --dry-run` and their tuples are compared with the current ones;
//! state, defaults and logging are compared with `ufw status verbose`.

use crate::modules::doc::{aka, arg, dflt, one_of};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Ufw;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum UfwState {
    Enabled,
    Disabled,
    Reloaded,
    Reset,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct UfwArgs {
    state: Option<UfwState>,
    #[serde(alias = "policy")]
    default: Option<String>,
    direction: Option<String>,
    logging: Option<String>,
    rule: Option<String>,
    #[serde(alias = "if")]
    interface: Option<String>,
    #[serde(alias = "if_in")]
    interface_in: Option<String>,
    #[serde(alias = "if_out")]
    interface_out: Option<String>,
    #[serde(default)]
    log: bool,
    #[serde(alias = "from", alias = "src")]
    from_ip: Option<String>,
    from_port: Option<String>,
    #[serde(alias = "to", alias = "dest")]
    to_ip: Option<String>,
    #[serde(alias = "port")]
    to_port: Option<String>,
    #[serde(alias = "protocol")]
    proto: Option<String>,
    #[serde(alias = "app")]
    name: Option<String>,
    comment: Option<String>,
    #[serde(default)]
    delete: bool,
    insert: Option<u32>,
    #[serde(default)]
    route: bool,
}

const ARGS: &[ArgDoc] = &[
    one_of(
        arg(
            "state",
            "enabled/disabled the firewall; reloaded and reset always change.",
        ),
        &["enabled", "disabled", "reloaded", "reset"],
    ),
    one_of(
        aka(arg("default", "Default policy for direction."), &["policy"]),
        &["allow", "deny", "reject"],
    ),
    one_of(
        arg(
            "direction",
            "incoming, outgoing or routed (for default); in or out (for a rule).",
        ),
        &["in", "out", "incoming", "outgoing", "routed"],
    ),
    one_of(
        arg("logging", "Firewall logging level."),
        &["on", "off", "low", "medium", "high", "full"],
    ),
    one_of(
        arg("rule", "A rule's action."),
        &["allow", "deny", "limit", "reject"],
    ),
    aka(arg("interface", "`on IFACE`."), &["if"]),
    aka(
        arg("interface_in", "`in on IFACE` (route rules)."),
        &["if_in"],
    ),
    aka(
        arg("interface_out", "`out on IFACE` (route rules)."),
        &["if_out"],
    ),
    dflt("log", "no", "Log new connections matching the rule."),
    aka(
        dflt("from_ip", "any", "Source address or network."),
        &["from", "src"],
    ),
    arg("from_port", "Source port."),
    aka(
        dflt("to_ip", "any", "Destination address or network."),
        &["to", "dest"],
    ),
    aka(
        arg("to_port", "Destination port (or range `6000:6007`)."),
        &["port"],
    ),
    aka(arg("proto", "tcp, udp, ..., or any."), &["protocol"]),
    aka(arg("name", "An application profile (`OpenSSH`)."), &["app"]),
    arg("comment", "The rule's comment."),
    dflt("delete", "no", "Delete the rule instead."),
    arg("insert", "Insert the rule at this position."),
    dflt("route", "no", "A routed (forwarding) rule."),
];

/// The words after `ufw` for the task's rule, in Ansible's order.
pub fn rule_words(a: &UfwArgs, action: &str) -> Vec<String> {
    let mut w = Vec::new();
    let mut push = |on: bool, s: String| {
        if on {
            w.push(s);
        }
    };
    push(a.delete, "delete".into());
    push(a.route, "route".into());
    if let Some(n) = a.insert {
        push(true, format!("insert {n}"));
    }
    push(true, action.into());
    if let Some(d) = &a.direction {
        push(true, d.clone());
    }
    for (v, t) in [
        (&a.interface, "on"),
        (&a.interface_in, "in on"),
        (&a.interface_out, "out on"),
    ] {
        if let Some(v) = v {
            push(true, format!("{t} {}", q(v)));
        }
    }
    push(a.log, "log".into());
    let from = a.from_ip.clone().unwrap_or_else(|| "any".into());
    let to = a.to_ip.clone().unwrap_or_else(|| "any".into());
    push(true, format!("from {}", q(&from)));
    if let Some(p) = &a.from_port {
        push(true, format!("port {}", q(p)));
    }
    push(true, format!("to {}", q(&to)));
    if let Some(p) = &a.to_port {
        push(true, format!("port {}", q(p)));
    }
    if let Some(p) = &a.proto {
        push(true, format!("proto {}", q(p)));
    }
    if let Some(n) = &a.name {
        push(true, format!("app {}", q(n)));
    }
    if let Some(c) = &a.comment {
        push(true, format!("comment {}", q(c)));
    }
    w
}

const SNAPSHOT: &str = "snap() { ufw status verbose 2>/dev/null; grep -h '^### tuple' /lib/ufw/user.rules /lib/ufw/user6.rules /etc/ufw/user.rules /etc/ufw/user6.rules /var/lib/ufw/user.rules /var/lib/ufw/user6.rules 2>/dev/null; }\n\
    rules() { grep -h '^### tuple' /lib/ufw/user.rules /lib/ufw/user6.rules /etc/ufw/user.rules /etc/ufw/user6.rules /var/lib/ufw/user.rules /var/lib/ufw/user6.rules 2>/dev/null; }\n";

fn script(a: &UfwArgs, check: bool) -> Result<String, String> {
    let mut s = String::from(
        "command -v ufw >/dev/null 2>&1 || { echo 'ufw is not installed' >&2; exit 80; }\nexport LC_ALL=C\n",
    );
    s.push_str(SNAPSHOT);
    s.push_str("before=$(snap)\nc=0\n");
    if let Some(st) = a.state {
        let (word, active) = match st {
            UfwState::Enabled => ("--force enable", Some("active")),
            UfwState::Disabled => ("disable", Some("inactive")),
            UfwState::Reloaded => ("reload", None),
            UfwState::Reset => ("--force reset", None),
        };
        match (active, check) {
            (Some(want), true) => {
                s.push_str(&format!("ufw status | grep -q '^Status: {want}$' || c=1\n"))
            }
            (None, true) => s.push_str("c=1\n"),
            (Some(_), false) => s.push_str(&format!("ufw {word} >&2 || exit 81\n")),
            (None, false) => s.push_str(&format!("ufw {word} >&2 || exit 81\nc=1\n")),
        }
    }
    if let Some(d) = &a.default {
        let dir = a.direction.as_deref().unwrap_or("incoming");
        if check {
            s.push_str(&format!(
                "ufw status verbose | grep '^Default:' | grep -q {} || c=1\n",
                q(&format!("{d} ({dir})"))
            ));
        } else {
            s.push_str(&format!("ufw default {} {} >&2 || exit 82\n", q(d), q(dir)));
        }
    }
    if let Some(l) = &a.logging {
        if check {
            s.push_str(&format!(
                "ufw status verbose | grep '^Logging:' | grep -q {} || c=1\n",
                q(&format!(
                    "Logging: {}",
                    if l == "off" { "off" } else { "on" }
                ))
            ));
        } else {
            s.push_str(&format!("ufw logging {} >&2 || exit 83\n", q(l)));
        }
    }
    if let Some(r) = &a.rule {
        let words = rule_words(a, r).join(" ");
        if check {
            // What the rules files would hold, from the dry run, against what they hold.
            s.push_str(&format!(
                "dry=$(ufw --dry-run {words} 2>&1)\n\
                 if ! printf '%s\\n' \"$dry\" | grep -v '^$' | grep -qv 'Skipping'; then :; \
                 elif [ \"$(printf '%s\\n' \"$dry\" | grep '^### tuple')\" != \"$(rules)\" ]; then c=1; fi\n"
            ));
        } else {
            s.push_str(&format!("ufw {words} >&2 || exit 84\n"));
        }
    } else if a.state.is_none() && a.default.is_none() && a.logging.is_none() {
        return Err("one of the following is required: state, default, logging, rule".into());
    }
    if !check {
        s.push_str("[ \"$(snap)\" = \"$before\" ] || c=1\n");
    }
    s.push_str("echo changed=$c\n");
    Ok(s)
}

impl Module for Ufw {
    const NAME: &'static str = "ufw";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[],
        summary: "Manage the ufw firewall: state, default policies, logging and rules.",
        args: ARGS,
        example: "- community.general.ufw:\n    rule: allow\n    port: '22'\n    proto: tcp\n- community.general.ufw:\n    state: enabled\n    default: deny\n",
    };
    type Args = UfwArgs;

    async fn run(&self, a: UfwArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let s = script(&a, cx.check_mode).map_err(ModuleError::Failed)?;
        let out = cx.run(&s, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("ufw failed", &out)));
        }
        let changed = parse_kv(&out.stdout_str())
            .get("changed")
            .is_some_and(|c| c == "1");
        Ok(Outcome::changed(changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};
    use minijinja::Value;

    fn args(j: serde_json::Value) -> UfwArgs {
        decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn rule_words_follow_ansible() {
        let a = args(
            serde_json::json!({"rule": "allow", "port": "22", "proto": "tcp", "comment": "ssh"}),
        );
        assert_eq!(
            rule_words(&a, "allow").join(" "),
            "allow from any to any port 22 proto tcp comment ssh"
        );
        let a = args(
            serde_json::json!({"rule": "deny", "src": "10.0.0.0/8", "delete": true, "direction": "in", "if": "eth0"}),
        );
        assert_eq!(
            rule_words(&a, "deny").join(" "),
            "delete deny in on eth0 from 10.0.0.0/8 to any"
        );
    }

    /// The script against a stand-in `ufw` that records its commands: enabling an inactive
    /// firewall changes it; check mode runs nothing.
    #[test]
    fn enabling_changes_once_and_check_mode_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let stub = format!(
            "#!/bin/sh\necho \"$*\" >> {d}/log\ncase \"$*\" in\n\
             'status verbose'|status) if [ -f {d}/on ]; then echo 'Status: active'; else echo 'Status: inactive'; fi ;;\n\
             '--force enable') touch {d}/on ;;\nesac\n"
        );
        std::fs::write(dir.path().join("ufw"), stub).unwrap();
        std::process::Command::new("chmod")
            .args(["+x", &format!("{d}/ufw")])
            .status()
            .unwrap();
        let a = args(serde_json::json!({"state": "enabled"}));
        let run = |check: bool| {
            let s = format!("PATH={d}:$PATH\n{}", script(&a, check).unwrap());
            let out = std::process::Command::new("sh")
                .args(["-c", &s])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run(true), "changed=1\n");
        assert!(!dir.path().join("on").exists());
        assert_eq!(run(false), "changed=1\n");
        assert_eq!(run(false), "changed=0\n");
        assert_eq!(run(true), "changed=0\n");
    }
}
