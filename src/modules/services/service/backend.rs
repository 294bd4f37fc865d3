//! The three managers: the probe script (which manager, does it know the service, is it
//! running, is it enabled), the decision what to change, and the script that changes it.

use super::{Scope, Spec, State};
use crate::modules::ModuleError;
use crate::modules::remote::{parse_kv, q};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mgr {
    Systemd,
    Openrc,
    Sysvinit,
}

impl Mgr {
    pub fn name(self) -> &'static str {
        match self {
            Mgr::Systemd => "systemd",
            Mgr::Openrc => "openrc",
            Mgr::Sysvinit => "sysvinit",
        }
    }

    /// The managers an `ansible_service_mgr` fact may name that this module drives; other
    /// values (`service`, `runit`, a container's PID 1) leave the choice to the probe.
    pub fn from_fact(fact: &str) -> Option<Mgr> {
        match fact {
            "systemd" => Some(Mgr::Systemd),
            "openrc" => Some(Mgr::Openrc),
            "sysvinit" => Some(Mgr::Sysvinit),
            _ => None,
        }
    }
}

/// What the probe found.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// None: the probe found no manager at all.
    pub mgr: Option<Mgr>,
    /// The manager knows the service (unit loaded, init script present).
    pub found: bool,
    /// None when the manager cannot tell (systemd `--global` scope).
    pub running: Option<bool>,
    pub enabled: Option<bool>,
    pub masked: bool,
    pub has_service: bool,
    pub has_update_rc_d: bool,
    pub has_chkconfig: bool,
    /// sysvinit: some rc?.d link exists, so update-rc.d need not install the defaults first.
    pub has_links: bool,
    /// systemd's LoadState, ActiveState, SubState and UnitFileState.
    pub systemd: BTreeMap<String, String>,
    pub is_enabled: String,
}

/// What to run, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    DaemonReexec,
    DaemonReload,
    Mask(bool),
    Enable(bool),
    Start,
    Stop,
    Restart,
    Reload,
}

impl Action {
    /// daemon-reload changes what systemd knows, not the service: Ansible does not report it.
    pub fn is_change(&self) -> bool {
        !matches!(self, Action::DaemonReload | Action::DaemonReexec)
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub notes: Vec<String>,
}

fn scope_flag(scope: Scope) -> &'static str {
    match scope {
        Scope::System => "",
        Scope::User => " --user",
        Scope::Global => " --global",
    }
}

/// One script: picks the manager (unless `forced`) and queries the service with it.
pub fn probe_script(spec: &Spec, forced: Option<Mgr>) -> String {
    let mut s = format!(
        "# rmesos_svc_probe\nn={}\nmgr={}\n",
        q(spec.name.as_deref().unwrap_or_default()),
        forced.map(Mgr::name).unwrap_or_default()
    );
    s.push_str(
        "if [ -z \"$mgr\" ]; then\n\
         if [ -d /run/systemd/system ]; then mgr=systemd\n\
         elif [ -x /sbin/openrc-run ] || [ -x /usr/sbin/openrc-run ]; then mgr=openrc\n\
         elif [ -d /etc/init.d ]; then mgr=sysvinit\n\
         else mgr=none; fi\nfi\n\
         echo mgr=$mgr\n[ -n \"$n\" ] || exit 0\n",
    );
    // A process whose command line holds the pattern; our own shells (whose command line may
    // hold this very script) carry the marker and are skipped.
    s.push_str(
        "rm_ps() { for d in /proc/[0-9]*; do c=$(tr '\\0' ' ' < \"$d/cmdline\" 2>/dev/null) || continue\n\
         case $c in ''|*rmesos_svc_*) ;; *\"$1\"*) return 0;; esac; done; return 1; }\n",
    );
    s.push_str(&format!(
        "case $mgr in\n\
         systemd)\n\
         sc='systemctl{scope}'\n",
        scope = scope_flag(spec.scope)
    ));
    if spec.scope != Scope::Global {
        s.push_str(
            "$sc show \"$n\" -p LoadState -p ActiveState -p SubState -p UnitFileState 2>/dev/null\n",
        );
    }
    s.push_str("echo \"is_enabled=$($sc is-enabled \"$n\" 2>/dev/null)\";;\n");
    s.push_str(&format!(
        "openrc)\n\
         if [ -e \"/etc/init.d/$n\" ]; then echo found=1; rc-service \"$n\" status >/dev/null 2>&1; echo status_rc=$?; fi\n\
         if [ -e /etc/runlevels/{rl}/\"$n\" ]; then echo enabled=1; fi;;\n",
        rl = q(&spec.runlevel)
    ));
    s.push_str(
        "sysvinit)\n\
         command -v service >/dev/null 2>&1 && echo has_service=1\n\
         command -v update-rc.d >/dev/null 2>&1 && echo has_update_rc_d=1\n\
         command -v chkconfig >/dev/null 2>&1 && echo has_chkconfig=1\n\
         for f in /etc/rc[0-6S].d/[SK][0-9][0-9]\"$n\" /etc/rc.d/rc[0-6].d/[SK][0-9][0-9]\"$n\"; do [ -e \"$f\" ] && echo has_links=1 && break; done\n\
         for f in /etc/rc[2345].d/S[0-9][0-9]\"$n\" /etc/rc.d/rc[2345].d/S[0-9][0-9]\"$n\"; do [ -e \"$f\" ] && echo enabled=1 && break; done\n\
         if [ -f \"/etc/init.d/$n\" ]; then echo found=1\n",
    );
    match &spec.pattern {
        Some(p) => s.push_str(&format!(
            "if rm_ps {}; then echo running=1; else echo running=0; fi\n",
            q(p)
        )),
        None => s.push_str(
            "if command -v service >/dev/null 2>&1; then service \"$n\" status; else \"/etc/init.d/$n\" status; fi >/dev/null 2>&1 </dev/null\n\
             r=$?; echo status_rc=$r\n\
             if [ $r -gt 3 ]; then if rm_ps \"$n\"; then echo running=1; else echo running=0; fi; fi\n",
        ),
    }
    s.push_str("fi;;\nesac\n");
    s
}

/// Reads the probe's `key=value` report.
pub fn parse_probe(out: &str) -> Probe {
    let kv = parse_kv(out);
    let flag = |k: &str| kv.get(k).is_some_and(|v| v == "1");
    let mgr = match kv.get("mgr").map(String::as_str) {
        Some("systemd") => Some(Mgr::Systemd),
        Some("openrc") => Some(Mgr::Openrc),
        Some("sysvinit") => Some(Mgr::Sysvinit),
        _ => None,
    };
    let mut p = Probe {
        mgr,
        has_service: flag("has_service"),
        has_update_rc_d: flag("has_update_rc_d"),
        has_chkconfig: flag("has_chkconfig"),
        has_links: flag("has_links"),
        is_enabled: kv.get("is_enabled").cloned().unwrap_or_default(),
        ..Default::default()
    };
    match mgr {
        Some(Mgr::Systemd) => {
            for k in ["LoadState", "ActiveState", "SubState", "UnitFileState"] {
                if let Some(v) = kv.get(k) {
                    p.systemd.insert(k.to_string(), v.clone());
                }
            }
            let load = p.systemd.get("LoadState").map(String::as_str);
            p.found = match load {
                Some(l) => l != "not-found",
                // --global scope shows no LoadState: is-enabled answers for known units only.
                None => !p.is_enabled.is_empty(),
            };
            p.masked = p.is_enabled.starts_with("masked") || load == Some("masked");
            p.running = p
                .systemd
                .get("ActiveState")
                .map(|a| matches!(a.as_str(), "active" | "activating" | "reloading"));
            let e = p.is_enabled.as_str();
            p.enabled = Some(
                ["enabled", "static", "alias", "indirect", "generated"]
                    .iter()
                    .any(|w| e.starts_with(w)),
            );
        }
        Some(Mgr::Openrc) | Some(Mgr::Sysvinit) => {
            p.found = flag("found");
            p.enabled = Some(flag("enabled"));
            // LSB: 0 running, 1-3 not running; beyond that the script cannot tell and the
            // probe looked for a process instead.
            p.running = match (kv.get("running"), kv.get("status_rc")) {
                (Some(r), _) => Some(r == "1"),
                (None, Some(rc)) => Some(rc == "0"),
                (None, None) => None,
            };
        }
        None => {}
    }
    p
}

const NO_MANAGER: &str = "no service manager on this host: tried systemd (no /run/systemd/system), OpenRC (no /sbin/openrc-run) and sysvinit (no /etc/init.d)";

/// Decides what to run; an error is the task's failure message.
pub fn plan(spec: &Spec, p: &Probe) -> Result<Plan, ModuleError> {
    let mut plan = Plan::default();
    let Some(mgr) = p.mgr else {
        return Err(ModuleError::failed(NO_MANAGER));
    };
    if mgr == Mgr::Systemd {
        if spec.daemon_reexec {
            plan.actions.push(Action::DaemonReexec);
        }
        if spec.daemon_reload {
            plan.actions.push(Action::DaemonReload);
        }
    } else {
        if spec.daemon_reload || spec.daemon_reexec {
            plan.notes.push(format!(
                "daemon_reload/daemon_reexec skipped: this host has no systemd (service manager: {})",
                mgr.name()
            ));
        }
        if spec.masked == Some(true) {
            return Err(ModuleError::Failed(format!(
                "masked=yes needs systemd; this host's service manager is {}",
                mgr.name()
            )));
        }
        if spec.scope != Scope::System {
            return Err(ModuleError::Failed(
                format!(
                    "scope={:?} needs systemd; this host's service manager is {}",
                    spec.scope,
                    mgr.name()
                )
                .to_lowercase(),
            ));
        }
    }
    let Some(name) = spec.name.as_deref() else {
        return Ok(plan);
    };
    if !p.found {
        return Err(ModuleError::Failed(match mgr {
            Mgr::Systemd => {
                format!("could not find the requested service `{name}`: systemd has no such unit")
            }
            Mgr::Openrc => format!(
                "could not find the requested service `{name}`: OpenRC has no /etc/init.d/{name}"
            ),
            Mgr::Sysvinit => format!(
                "could not find the requested service `{name}`: no /etc/init.d/{name} (sysvinit host: no /run/systemd/system, no /sbin/openrc-run)"
            ),
        }));
    }
    if let Some(m) = spec.masked
        && m != p.masked
    {
        plan.actions.push(Action::Mask(m));
    }
    if let Some(e) = spec.enabled
        && p.enabled != Some(e)
    {
        if mgr == Mgr::Sysvinit && !p.has_update_rc_d && !p.has_chkconfig {
            return Err(ModuleError::Failed(format!(
                "cannot {} `{name}` at boot: neither update-rc.d nor chkconfig is on this sysvinit host",
                if e { "enable" } else { "disable" }
            )));
        }
        plan.actions.push(Action::Enable(e));
    }
    if let Some(state) = spec.state {
        if spec.scope == Scope::Global {
            return Err(ModuleError::failed(
                "scope=global manages enabled and masked only, not state",
            ));
        }
        let running = p.running.unwrap_or(false);
        match state {
            State::Started if !running => plan.actions.push(Action::Start),
            State::Stopped if running => plan.actions.push(Action::Stop),
            State::Restarted => plan.actions.push(Action::Restart),
            State::Reloaded if running => plan.actions.push(Action::Reload),
            State::Reloaded => plan.actions.push(Action::Start),
            _ => {}
        }
    }
    Ok(plan)
}

/// The script that carries out `actions`. Command output goes to a temp file, not the
/// channel: a daemon that keeps its parent's stdout would otherwise hold the exec open.
pub fn apply_script(spec: &Spec, p: &Probe, actions: &[Action]) -> String {
    let name = q(spec.name.as_deref().unwrap_or_default());
    // Words, as Ansible splits them onto the init script's command line.
    let args: String = spec
        .arguments
        .split_whitespace()
        .map(|w| format!(" {}", q(w)))
        .collect();
    let mut s = String::from(
        "rm_out=$(mktemp) || exit 70\ntrap 'rm -f \"$rm_out\"' EXIT\n\
         rm_do() { \"$@\" >>\"$rm_out\" 2>&1 </dev/null || { r=$?; cat \"$rm_out\" >&2; echo \"($* exited $r)\" >&2; exit 1; }; }\n",
    );
    let mut line = |cmd: String| s.push_str(&format!("rm_do {cmd}\n"));
    let sleep = spec.sleep.filter(|n| *n > 0);
    match p.mgr {
        Some(Mgr::Systemd) => {
            let sc = format!("systemctl{}", scope_flag(spec.scope));
            let nb = if spec.no_block { " --no-block" } else { "" };
            for a in actions {
                match a {
                    Action::DaemonReexec => line(format!("{sc} daemon-reexec")),
                    Action::DaemonReload => line(format!("{sc} daemon-reload")),
                    Action::Mask(m) => line(format!(
                        "{sc} {} {name}",
                        if *m { "mask" } else { "unmask" }
                    )),
                    Action::Enable(e) => line(format!(
                        "{sc} {} {name}",
                        if *e { "enable" } else { "disable" }
                    )),
                    Action::Start => line(format!("{sc}{nb} start {name}")),
                    Action::Stop => line(format!("{sc}{nb} stop {name}")),
                    Action::Restart => line(format!("{sc}{nb} restart {name}")),
                    Action::Reload => line(format!("{sc}{nb} reload {name}")),
                }
            }
        }
        Some(Mgr::Openrc) => {
            let rc = format!("rc-service {name}");
            let rl = q(&spec.runlevel);
            for a in actions {
                match a {
                    Action::Enable(true) => line(format!("rc-update add {name} {rl}")),
                    Action::Enable(false) => line(format!("rc-update del {name} {rl}")),
                    Action::Start => line(format!("{rc} start{args}")),
                    Action::Stop => line(format!("{rc} stop{args}")),
                    Action::Restart => match sleep {
                        Some(n) => {
                            line(format!("{rc} stop{args}"));
                            line(format!("sleep {n}"));
                            line(format!("{rc} start{args}"));
                        }
                        None => line(format!("{rc} restart{args}")),
                    },
                    Action::Reload => line(format!("{rc} reload{args}")),
                    Action::DaemonReexec | Action::DaemonReload | Action::Mask(_) => {}
                }
            }
        }
        Some(Mgr::Sysvinit) => {
            let svc = if p.has_service {
                format!("service {name}")
            } else {
                format!("/etc/init.d/{name}")
            };
            for a in actions {
                match a {
                    Action::Enable(e) if p.has_update_rc_d => {
                        if !p.has_links {
                            line(format!("update-rc.d {name} defaults"));
                        }
                        let verb = if *e { "enable" } else { "disable" };
                        line(format!("update-rc.d {name} {verb}"));
                    }
                    Action::Enable(e) => {
                        line(format!("chkconfig --add {name}"));
                        line(format!(
                            "chkconfig {name} {}",
                            if *e { "on" } else { "off" }
                        ));
                    }
                    Action::Start => line(format!("{svc} start{args}")),
                    Action::Stop => line(format!("{svc} stop{args}")),
                    Action::Restart => match sleep {
                        Some(n) => {
                            line(format!("{svc} stop{args}"));
                            line(format!("sleep {n}"));
                            line(format!("{svc} start{args}"));
                        }
                        None => line(format!("{svc} restart{args}")),
                    },
                    Action::Reload => line(format!("{svc} reload{args}")),
                    Action::DaemonReexec | Action::DaemonReload | Action::Mask(_) => {}
                }
            }
        }
        None => {}
    }
    s.push_str("cat \"$rm_out\"\n");
    s
}
