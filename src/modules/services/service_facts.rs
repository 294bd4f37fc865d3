//! `service_facts`: the host's services as `ansible_facts.services`, shaped as Ansible shapes
//! them: `{"cron.service": {name, state, status, source: systemd}}` from systemctl when systemd
//! runs, and `{"cron": {name, state, source: sysv}}` from `service --status-all` (sysvinit
//! hosts, containers). One script prints both listings in sections; the controller parses
//! them, systemd's entries overriding sysv's as in Ansible. Nothing on the host changes.

use crate::modules::packages::pkgkit::sections;
use crate::modules::remote::host_error;
use crate::modules::{Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use indexmap::IndexMap;
use minijinja::Value;
use serde::Deserialize;

pub struct ServiceFacts;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ServiceFactsArgs {}

/// sysv only when `service` exists and neither chkconfig nor OpenRC does (Ansible's rule);
/// systemd only when it is the running init. For unit files that list-units does not show, one
/// `systemctl show` gives their ActiveState (Ansible asks once per unit).
const SCRIPT: &str = r#"export LC_ALL=C
if command -v service >/dev/null 2>&1 && ! command -v chkconfig >/dev/null 2>&1 && ! command -v rc-status >/dev/null 2>&1; then
  echo @@sysv; service --status-all 2>/dev/null
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo @@units; systemctl list-units --no-pager --type service --all --plain
  echo @@files; systemctl list-unit-files --no-pager --type service --all
  echo @@show
  n=$(systemctl list-unit-files --no-pager --type service --all --no-legend 2>/dev/null | awk '$1 ~ /\.service$/ && $1 !~ /@\.service$/ {print $1}')
  [ -z "$n" ] || systemctl show --property=Id,ActiveState $n
fi
exit 0
"#;

const BAD_STATES: &[&str] = &["not-found", "masked", "failed"];

fn entry(name: &str, state: &str, status: Option<&str>, source: &str) -> IndexMap<String, Value> {
    let mut m = IndexMap::new();
    m.insert("name".to_string(), Value::from(name));
    m.insert("state".to_string(), Value::from(state));
    if let Some(s) = status {
        m.insert("status".to_string(), Value::from(s));
    }
    m.insert("source".to_string(), Value::from(source));
    m
}

/// `service --status-all`: ` [ + ]  cron` is running, ` [ - ]` stopped; `[ ? ]` is left out.
fn parse_sysv(text: &str, out: &mut IndexMap<String, IndexMap<String, Value>>) {
    for line in text.lines() {
        let l = line.trim_start();
        let (state, rest) = if let Some(r) = l.strip_prefix("[ + ]") {
            ("running", r)
        } else if let Some(r) = l.strip_prefix("[ - ]") {
            ("stopped", r)
        } else {
            continue;
        };
        let name = rest.trim();
        if !name.is_empty() {
            out.insert(name.to_string(), entry(name, state, None, "sysv"));
        }
    }
}

/// `systemctl list-units --plain`: UNIT LOAD ACTIVE SUB DESCRIPTION.
fn parse_units(text: &str, out: &mut IndexMap<String, IndexMap<String, Value>>) {
    for line in text.lines().filter(|l| l.contains(".service")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        // As Ansible: a bad state anywhere but the last word (of the description).
        let status = BAD_STATES
            .iter()
            .find(|b| f[..f.len() - 1].contains(b))
            .copied()
            .unwrap_or(f[2]);
        let state = if f[3] == "running" {
            "running"
        } else {
            "stopped"
        };
        out.insert(
            f[0].to_string(),
            entry(f[0], state, Some(status), "systemd"),
        );
    }
}

/// `systemctl list-unit-files`: UNIT STATE [PRESET]; the state becomes `status` unless
/// list-units found a bad one; units list-units did not show take their ActiveState.
fn parse_files(
    text: &str,
    show: &IndexMap<String, String>,
    out: &mut IndexMap<String, IndexMap<String, Value>>,
) {
    for line in text.lines().filter(|l| l.contains(".service")) {
        let mut f = line.split_whitespace();
        let (Some(name), Some(status)) = (f.next(), f.next()) else {
            continue;
        };
        match out.get_mut(name) {
            None => {
                let state = show.get(name).map(String::as_str).unwrap_or("unknown");
                out.insert(
                    name.to_string(),
                    entry(name, state, Some(status), "systemd"),
                );
            }
            Some(e) => {
                let bad = e
                    .get("status")
                    .and_then(|v| v.as_str().map(|s| BAD_STATES.contains(&s)))
                    .unwrap_or(false);
                if !bad {
                    e.insert("status".to_string(), Value::from(status));
                }
            }
        }
    }
}

/// `systemctl show --property=Id,ActiveState A B ...`: blocks of `Id=`/`ActiveState=` lines.
fn parse_show(text: &str) -> IndexMap<String, String> {
    let mut m = IndexMap::new();
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Id=") {
            id = Some(v.to_string());
        } else if let (Some(v), Some(i)) = (line.strip_prefix("ActiveState="), id.take()) {
            m.insert(i, v.to_string());
        }
    }
    m
}

pub fn parse(out: &str) -> IndexMap<String, IndexMap<String, Value>> {
    let s = sections(out);
    let mut services = IndexMap::new();
    if let Some(t) = s.get("sysv") {
        parse_sysv(t, &mut services);
    }
    if let Some(t) = s.get("units") {
        parse_units(t, &mut services);
    }
    if let Some(t) = s.get("files") {
        let show = s.get("show").map(|t| parse_show(t)).unwrap_or_default();
        parse_files(t, &show, &mut services);
    }
    services
}

impl Module for ServiceFacts {
    const NAME: &'static str = "service_facts";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[(
            "ansible_facts.services",
            "services by name: {name, state, status, source}",
        )],
        summary: "Gather the host's services (systemd units or sysv init scripts) into ansible_facts.services.",
        args: &[],
        example: "- service_facts:\n- debug:\n    var: ansible_facts.services['cron.service'].state\n",
    };
    type Args = ServiceFactsArgs;

    async fn run(&self, _: ServiceFactsArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let out = cx.run(SCRIPT, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot list services", &out)));
        }
        let services = parse(&out.stdout_str());
        if services.is_empty() {
            let mut o = Outcome::ok().msg(
                "Failed to find any services. This can be due to privileges or some other configuration issue.",
            );
            o.skipped = true;
            return Ok(o);
        }
        let value = Value::from_pairs(services.into_iter().map(|(k, v)| (k, Value::from_pairs(v))));
        let mut o = Outcome::ok();
        o.facts.insert("services".into(), value);
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_entries_take_unit_file_status_and_override_sysv() {
        let out = "@@sysv\n [ + ]  cron\n [ - ]  nginx\n [ ? ]  hwclock.sh\n\
            @@units\n\
            cron.service loaded active running Regular background program processing daemon\n\
            ssh.service loaded failed failed OpenBSD Secure Shell server\n\
            nope.service not-found inactive dead nope.service\n\
            @@files\nUNIT FILE STATE VENDOR PRESET\n\
            cron.service enabled enabled\nssh.service enabled enabled\n\
            rsync.service disabled enabled\n\n3 unit files listed.\n\
            @@show\nId=rsync.service\nActiveState=inactive\n\n";
        let s = parse(out);
        let get = |n: &str, k: &str| s[n][k].to_string();
        assert_eq!(get("cron", "state"), "running");
        assert_eq!(get("cron", "source"), "sysv");
        assert!(!s["cron"].contains_key("status"));
        assert_eq!(get("nginx", "state"), "stopped");
        assert!(!s.contains_key("hwclock.sh"));
        assert_eq!(get("cron.service", "state"), "running");
        assert_eq!(get("cron.service", "status"), "enabled");
        assert_eq!(get("ssh.service", "status"), "failed");
        assert_eq!(get("ssh.service", "state"), "stopped");
        assert_eq!(get("nope.service", "status"), "not-found");
        assert_eq!(get("rsync.service", "state"), "inactive");
        assert_eq!(get("rsync.service", "status"), "disabled");
        assert_eq!(get("rsync.service", "source"), "systemd");
    }

    #[tokio::test]
    async fn the_local_host_has_services_or_the_task_is_skipped() {
        let h = crate::modules::testutil::Harness::new();
        let r = h
            .run(&ServiceFacts, serde_json::json!({}), false, false)
            .await;
        assert!(
            !r.outcome.failed && !r.outcome.changed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.execs, 1);
        assert!(r.outcome.skipped || r.outcome.facts.contains_key("services"));
    }
}
