//! `hostname`: sets the running and the permanent hostname. One script reads both and which
//! strategy fits (systemd's hostnamectl when systemd runs, else /etc/hostname plus `hostname`);
//! a second one changes what differs. Containers usually may not change their running hostname:
//! that fails with the tool's own words.

use crate::modules::doc::{dflt, one_of, req};
use crate::modules::remote::{Attrs, host_error, parse_kv, q, write_step};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Hostname;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    Detect,
    Systemd,
    Debian,
    Alpine,
    Generic,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct HostnameArgs {
    name: String,
    #[serde(default, rename = "use")]
    strategy: Strategy,
}

const ARGS: &[ArgDoc] = &[
    req("name", "The hostname."),
    one_of(
        dflt(
            "use",
            "detect",
            "How to set it: systemd (hostnamectl), or debian/alpine/generic (/etc/hostname and the `hostname` command); detect picks systemd when it runs.",
        ),
        &["detect", "systemd", "debian", "alpine", "generic"],
    ),
];

impl Module for Hostname {
    const NAME: &'static str = "hostname";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "the host name"),
            ("ansible_facts", "ansible_hostname, ansible_nodename"),
        ],
        summary: "Set the host's running and permanent hostname.",
        args: ARGS,
        example: "- hostname:\n    name: '{{ inventory_hostname }}'\n",
    };
    type Args = HostnameArgs;

    async fn run(&self, a: HostnameArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let name = a.name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(ModuleError::Failed(format!(
                "invalid hostname {:?}",
                a.name
            )));
        }
        let out = cx.run(PROBE, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot read the hostname", &out)));
        }
        let kv = parse_kv(&out.stdout_str());
        let current = kv.get("current").cloned().unwrap_or_default();
        let permanent = kv.get("permanent").cloned().unwrap_or_default();
        let systemd = match a.strategy {
            Strategy::Detect => kv.contains_key("systemd"),
            Strategy::Systemd => true,
            _ => false,
        };
        let changed = current != name || permanent.trim() != name;
        let short = name.split('.').next().unwrap_or(name);
        let mut res = Outcome::changed(changed).with("name", name);
        res.facts
            .insert("ansible_hostname".into(), Value::from(short));
        res.facts
            .insert("ansible_nodename".into(), Value::from(name));
        if changed && cx.diff {
            res.diff.push(crate::modules::FileDiff {
                path: "hostname".into(),
                before: format!("hostname = {current}\n"),
                after: format!("hostname = {name}\n"),
            });
        }
        if !changed || cx.check_mode {
            return Ok(res);
        }
        let script = if systemd {
            format!("hostnamectl set-hostname {}\n", q(name))
        } else {
            let mut s = String::new();
            if permanent.trim() != name {
                s.push_str(&write_step(
                    "/etc/hostname",
                    name.len() + 1,
                    Attrs::default(),
                    false,
                ));
            }
            if current != name {
                s.push_str(&format!("hostname {} || exit 81\n", q(name)));
            }
            s
        };
        let w = cx.run(&script, format!("{name}\n").as_bytes()).await?;
        if w.rc != 0 {
            let mut msg = host_error(&format!("cannot set the hostname to {name}"), &w);
            if w.rc == 81 {
                msg.push_str(
                    " (/etc/hostname was written; containers need CAP_SYS_ADMIN to change the running hostname)",
                );
            }
            return Ok(Outcome::fail(msg));
        }
        Ok(res)
    }
}

const PROBE: &str = "printf 'current=%s\\n' \"$(hostname)\"\n\
    if [ -r /etc/hostname ]; then printf 'permanent=%s\\n' \"$(head -n 1 /etc/hostname)\"; fi\n\
    if [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null; then echo systemd=1; fi\n";
