//! `service` and `systemd` (`systemd_service`): start, stop, restart, reload, enable and mask
//! services through whichever manager the host has — systemd (`systemctl`), OpenRC
//! (`rc-service`, `rc-update`) or sysvinit scripts (`service`, `update-rc.d`/`chkconfig`).
//! The manager comes from the `ansible_service_mgr` fact, else from a probe in the same script
//! that queries the service, so an unchanged service costs one round trip. A host on which no
//! manager knows the service fails, naming what was tried.
//!
//! Knows the three managers' commands and exit codes; knows nothing of facts gathering beyond
//! reading the one fact.

mod backend;
#[cfg(test)]
mod tests;

use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use backend::{Action, Mgr, Probe};
use minijinja::Value;
use serde::Deserialize;

pub struct Service;
pub struct Systemd;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Started,
    Stopped,
    Restarted,
    Reloaded,
}

/// `service`'s `use`: which manager to drive.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Use {
    #[default]
    Auto,
    Systemd,
    Sysvinit,
    Openrc,
    /// Ansible's generic backend: `service NAME ACTION`, as sysvinit.
    Service,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    System,
    User,
    Global,
}

fn default_runlevel() -> String {
    "default".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ServiceArgs {
    name: String,
    state: Option<State>,
    enabled: Option<bool>,
    sleep: Option<u64>,
    pattern: Option<String>,
    #[serde(default, alias = "args")]
    arguments: String,
    #[serde(default = "default_runlevel")]
    runlevel: String,
    #[serde(default, rename = "use")]
    use_: Use,
    // Old roles pass systemd's option through `service`.
    #[serde(default, alias = "daemon-reload")]
    daemon_reload: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SystemdArgs {
    #[serde(alias = "service", alias = "unit")]
    name: Option<String>,
    state: Option<State>,
    enabled: Option<bool>,
    masked: Option<bool>,
    #[serde(default, alias = "daemon-reload")]
    daemon_reload: bool,
    #[serde(default, alias = "daemon-reexec")]
    daemon_reexec: bool,
    #[serde(default)]
    scope: Scope,
    #[serde(default)]
    no_block: bool,
}

/// What either module asks for, in one shape.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub name: Option<String>,
    pub state: Option<State>,
    pub enabled: Option<bool>,
    pub masked: Option<bool>,
    pub daemon_reload: bool,
    pub daemon_reexec: bool,
    pub scope: Scope,
    pub no_block: bool,
    pub sleep: Option<u64>,
    pub pattern: Option<String>,
    pub arguments: String,
    pub runlevel: String,
    pub use_: Use,
}

impl From<ServiceArgs> for Spec {
    fn from(a: ServiceArgs) -> Self {
        Spec {
            name: Some(a.name),
            state: a.state,
            enabled: a.enabled,
            daemon_reload: a.daemon_reload,
            sleep: a.sleep,
            pattern: a.pattern,
            arguments: a.arguments,
            runlevel: a.runlevel,
            use_: a.use_,
            ..Default::default()
        }
    }
}

impl From<SystemdArgs> for Spec {
    fn from(a: SystemdArgs) -> Self {
        Spec {
            name: a.name,
            state: a.state,
            enabled: a.enabled,
            masked: a.masked,
            daemon_reload: a.daemon_reload,
            daemon_reexec: a.daemon_reexec,
            scope: a.scope,
            no_block: a.no_block,
            runlevel: default_runlevel(),
            ..Default::default()
        }
    }
}

const STATE_HELP: &str = "started/stopped: only if not already; restarted: always bounce; reloaded: reload (start if stopped).";

const SERVICE_ARGS: &[ArgDoc] = &[
    req("name", "The service (init script or unit) name."),
    one_of(
        arg("state", STATE_HELP),
        &["started", "stopped", "restarted", "reloaded"],
    ),
    arg(
        "enabled",
        "Start at boot (systemctl enable, update-rc.d/chkconfig, rc-update). At least one of state and enabled is required.",
    ),
    arg(
        "sleep",
        "Seconds to wait between stop and start when restarting (sysvinit and OpenRC).",
    ),
    arg(
        "pattern",
        "Substring of a process command line that means the service runs, instead of the init script's status (sysvinit).",
    ),
    aka(
        dflt(
            "arguments",
            "''",
            "Extra words for the init script's command line (sysvinit and OpenRC).",
        ),
        &["args"],
    ),
    dflt("runlevel", "default", "OpenRC runlevel for enabled."),
    one_of(
        dflt(
            "use",
            "auto",
            "The manager to drive; auto takes the ansible_service_mgr fact, else probes /run/systemd/system, /sbin/openrc-run, /etc/init.d.",
        ),
        &["auto", "systemd", "sysvinit", "openrc", "service"],
    ),
    aka(
        dflt(
            "daemon_reload",
            "no",
            "systemd: run daemon-reload first. Elsewhere a no-op, noted in msg.",
        ),
        &["daemon-reload"],
    ),
];

const SYSTEMD_ARGS: &[ArgDoc] = &[
    aka(
        arg(
            "name",
            "The unit. Required unless only daemon_reload/daemon_reexec is asked for.",
        ),
        &["service", "unit"],
    ),
    one_of(
        arg("state", STATE_HELP),
        &["started", "stopped", "restarted", "reloaded"],
    ),
    arg("enabled", "Start at boot."),
    arg(
        "masked",
        "Mask the unit so nothing can start it (systemd only; masked=yes fails elsewhere).",
    ),
    aka(
        dflt(
            "daemon_reload",
            "no",
            "Run daemon-reload before anything else (not reported as a change). On a host without systemd: a no-op, noted in msg.",
        ),
        &["daemon-reload"],
    ),
    aka(
        dflt(
            "daemon_reexec",
            "no",
            "Run daemon-reexec before anything else. On a host without systemd: a no-op, noted in msg.",
        ),
        &["daemon-reexec"],
    ),
    one_of(
        dflt(
            "scope",
            "system",
            "systemctl --user / --global (global: enabled and masked only).",
        ),
        &["system", "user", "global"],
    ),
    dflt(
        "no_block",
        "no",
        "systemctl --no-block: do not wait for start/stop jobs to finish.",
    ),
];

impl Module for Service {
    const NAME: &'static str = "service";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "the service"),
            ("state", "started, stopped"),
            ("enabled", "enabled at boot"),
            ("service_mgr", "the service manager used"),
        ],
        summary: "Manage services through systemd, OpenRC or sysvinit scripts, whichever the host has.",
        args: SERVICE_ARGS,
        example: "- service:\n    name: zookeeper\n    state: started\n    enabled: yes\n",
    };
    type Args = ServiceArgs;

    async fn run(&self, args: ServiceArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run(args.into(), cx).await
    }
}

impl Module for Systemd {
    const NAME: &'static str = "systemd";
    const ALIASES: &'static [&'static str] = &[
        "systemd_service",
        "ansible.builtin.systemd_service",
        "ansible.legacy.systemd_service",
    ];
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "the service"),
            ("state", "started, stopped"),
            ("enabled", "enabled at boot"),
            ("service_mgr", "the service manager used"),
        ],
        summary: "Manage systemd units (on hosts without systemd, the service through OpenRC or sysvinit).",
        args: SYSTEMD_ARGS,
        example: "- systemd:\n    name: mesos-master\n    state: restarted\n    enabled: yes\n    daemon_reload: yes\n",
    };
    type Args = SystemdArgs;

    async fn run(&self, args: SystemdArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run(args.into(), cx).await
    }
}

/// The manager the `ansible_service_mgr` fact names, if it is one we drive.
fn mgr_from_facts(cx: &TaskContext<'_>) -> Option<Mgr> {
    let v = cx.templating.eval("ansible_service_mgr").ok()?;
    Mgr::from_fact(v.as_str()?)
}

async fn run(spec: Spec, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
    if spec.name.is_none()
        && (spec.state.is_some() || spec.enabled.is_some() || spec.masked.is_some())
    {
        return Ok(Outcome::fail(
            "`name` is required with state, enabled or masked",
        ));
    }
    if spec.name.is_none() && !spec.daemon_reload && !spec.daemon_reexec {
        return Ok(Outcome::fail(
            "nothing to do: give name with state, enabled or masked, or daemon_reload",
        ));
    }
    if spec.name.is_some()
        && spec.state.is_none()
        && spec.enabled.is_none()
        && spec.masked.is_none()
        && !spec.daemon_reload
        && !spec.daemon_reexec
    {
        return Ok(Outcome::fail("one of state, enabled or masked is required"));
    }
    let forced = match spec.use_ {
        Use::Auto => mgr_from_facts(cx),
        Use::Systemd => Some(Mgr::Systemd),
        Use::Openrc => Some(Mgr::Openrc),
        Use::Sysvinit | Use::Service => Some(Mgr::Sysvinit),
    };
    let out = cx.run(&backend::probe_script(&spec, forced), &[]).await?;
    if out.rc != 0 {
        return Ok(Outcome::fail(crate::modules::remote::host_error(
            "cannot query the service",
            &out,
        )));
    }
    let probe = backend::parse_probe(&out.stdout_str());
    let plan = match backend::plan(&spec, &probe) {
        Ok(p) => p,
        // In check mode the unit is usually missing because an earlier task that would
        // install it only pretended to: report the would-be change instead of failing, so
        // `--check` is useful on a fresh host (Ansible fails here; docs/compat.md says so).
        Err(msg) if cx.check_mode && !probe.found && spec.name.is_some() => {
            let name = spec.name.as_deref().unwrap_or_default();
            return Ok(Outcome::changed(true)
                .with("name", name)
                .msg(format!("check mode: `{name}` is not installed yet; assuming an earlier task installs it ({msg})")));
        }
        Err(e) => return Ok(Outcome::fail(e.to_string())),
    };
    let changed = plan.actions.iter().any(|a| a.is_change());
    let mut outcome = Outcome::changed(changed);
    if let Some(name) = &spec.name {
        outcome = outcome.with("name", name.as_str());
    }
    if let Some(state) = spec.state {
        let reported = match state {
            State::Stopped => "stopped",
            _ => "started",
        };
        outcome = outcome.with("state", reported);
    }
    if let Some(enabled) = spec.enabled {
        outcome = outcome.with("enabled", enabled);
    }
    if let Some(mgr) = probe.mgr {
        outcome = outcome.with("service_mgr", mgr.name());
    }
    if probe.mgr == Some(Mgr::Systemd) && spec.name.is_some() {
        outcome = outcome.with(
            "status",
            Value::from(minijinja::value::Serde(&probe.systemd)),
        );
    }
    if !plan.notes.is_empty() {
        outcome = outcome.msg(plan.notes.join("; "));
    }
    if cx.diff && changed {
        outcome.diff.push(FileDiff {
            path: format!("service {}", spec.name.as_deref().unwrap_or_default()),
            before: probe.describe(),
            after: probe.describe_after(&plan.actions),
        });
    }
    if cx.check_mode || plan.actions.is_empty() {
        return Ok(outcome);
    }
    let script = backend::apply_script(&spec, &probe, &plan.actions);
    let out = cx.run(&script, &[]).await?;
    if out.rc != 0 {
        let mut failed = Outcome::fail(crate::modules::remote::host_error(
            &format!(
                "{} `{}` failed",
                probe.mgr.map(Mgr::name).unwrap_or("service"),
                spec.name.as_deref().unwrap_or("daemon-reload")
            ),
            &out,
        ));
        failed.result = outcome.result;
        failed
            .result
            .insert("stdout".into(), Value::from(out.stdout_str()));
        return Ok(failed);
    }
    Ok(outcome)
}

impl Probe {
    /// The state lines a `--diff` shows.
    fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(r) = self.running {
            s.push_str(&format!("running: {r}\n"));
        }
        if let Some(e) = self.enabled {
            s.push_str(&format!("enabled: {e}\n"));
        }
        if self.mgr == Some(Mgr::Systemd) {
            s.push_str(&format!("masked: {}\n", self.masked));
        }
        s
    }

    fn describe_after(&self, actions: &[Action]) -> String {
        let mut after = self.clone();
        for a in actions {
            match a {
                Action::Start | Action::Restart | Action::Reload => after.running = Some(true),
                Action::Stop => after.running = Some(false),
                Action::Enable(e) => after.enabled = Some(*e),
                Action::Mask(m) => after.masked = *m,
                Action::DaemonReload | Action::DaemonReexec => {}
            }
        }
        after.describe()
    }
}
