use super::backend::{Action, Mgr, apply_script, parse_probe, plan, probe_script};
use super::*;

fn spec(name: &str) -> Spec {
    Spec {
        name: Some(name.into()),
        runlevel: "default".into(),
        ..Default::default()
    }
}

fn sysv(extra: &str) -> backend::Probe {
    parse_probe(&format!(
        "mgr=sysvinit\nhas_service=1\nhas_update_rc_d=1\nfound=1\n{extra}"
    ))
}

/// Runs a script with `sh`, with `dir` first on PATH (for stand-in commands).
fn sh(script: &str, dir: &std::path::Path) -> std::process::Output {
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    std::process::Command::new("sh")
        .args(["-c", script])
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
fn systemd_show_output_reads_as_running_enabled_or_missing() {
    let p = parse_probe(
        "mgr=systemd\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nis_enabled=enabled\n",
    );
    assert_eq!(p.mgr, Some(Mgr::Systemd));
    assert!(p.found);
    assert_eq!(p.running, Some(true));
    assert_eq!(p.enabled, Some(true));
    assert!(!p.masked);
    assert_eq!(p.systemd["SubState"], "running");

    let p = parse_probe(
        "mgr=systemd\nLoadState=masked\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\nis_enabled=masked\n",
    );
    assert!(p.found && p.masked);
    assert_eq!((p.running, p.enabled), (Some(false), Some(false)));

    let p = parse_probe(
        "mgr=systemd\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nis_enabled=\n",
    );
    assert!(!p.found);
    let err = plan(&spec("nosuch"), &p).unwrap_err().to_string();
    assert!(
        err.contains("`nosuch`") && err.contains("no such unit"),
        "{err}"
    );
}

#[test]
fn sysvinit_status_codes_and_rc_links_read_as_state() {
    let p = sysv("status_rc=0\nenabled=1\nhas_links=1\n");
    assert_eq!((p.running, p.enabled), (Some(true), Some(true)));
    let p = sysv("status_rc=3\n");
    assert_eq!((p.running, p.enabled), (Some(false), Some(false)));
    // Status 4 means the script cannot tell: the probe's process scan decides.
    let p = sysv("status_rc=4\nrunning=1\n");
    assert_eq!(p.running, Some(true));
}

#[test]
fn only_what_differs_is_planned() {
    let stopped = sysv("status_rc=3\nenabled=1\nhas_links=1\n");
    let running = sysv("status_rc=0\nenabled=1\nhas_links=1\n");
    let with = |state, enabled| Spec {
        state: Some(state),
        enabled,
        ..spec("cron")
    };
    assert_eq!(
        plan(&with(State::Started, Some(true)), &running)
            .unwrap()
            .actions,
        vec![]
    );
    assert_eq!(
        plan(&with(State::Started, Some(false)), &stopped)
            .unwrap()
            .actions,
        vec![Action::Enable(false), Action::Start]
    );
    assert_eq!(
        plan(&with(State::Stopped, None), &stopped).unwrap().actions,
        vec![]
    );
    assert_eq!(
        plan(&with(State::Stopped, None), &running).unwrap().actions,
        vec![Action::Stop]
    );
    assert_eq!(
        plan(&with(State::Restarted, None), &running)
            .unwrap()
            .actions,
        vec![Action::Restart]
    );
    assert_eq!(
        plan(&with(State::Reloaded, None), &stopped)
            .unwrap()
            .actions,
        vec![Action::Start]
    );
    assert_eq!(
        plan(&with(State::Reloaded, None), &running)
            .unwrap()
            .actions,
        vec![Action::Reload]
    );
}

#[test]
fn hosts_without_a_usable_manager_fail_naming_what_was_tried() {
    let err = plan(&spec("cron"), &parse_probe("mgr=none\n"))
        .unwrap_err()
        .to_string();
    for tried in ["systemd", "OpenRC", "sysvinit", "/etc/init.d"] {
        assert!(err.contains(tried), "{err}");
    }
    let missing = parse_probe("mgr=sysvinit\nhas_service=1\n");
    let err = plan(&spec("zookeeper"), &missing).unwrap_err().to_string();
    assert!(err.contains("/etc/init.d/zookeeper"), "{err}");

    let no_tools = parse_probe("mgr=sysvinit\nfound=1\nstatus_rc=0\n");
    let enable = Spec {
        enabled: Some(true),
        ..spec("cron")
    };
    let err = plan(&enable, &no_tools).unwrap_err().to_string();
    assert!(
        err.contains("update-rc.d") && err.contains("chkconfig"),
        "{err}"
    );
}

#[test]
fn systemd_only_options_on_other_hosts_are_noted_or_refused() {
    let running = sysv("status_rc=0\n");
    let reload = Spec {
        daemon_reload: true,
        state: Some(State::Started),
        ..spec("cron")
    };
    let p = plan(&reload, &running).unwrap();
    assert!(p.actions.is_empty());
    assert!(p.notes[0].contains("no systemd"), "{:?}", p.notes);
    let mask = Spec {
        masked: Some(true),
        ..spec("cron")
    };
    assert!(
        plan(&mask, &running)
            .unwrap_err()
            .to_string()
            .contains("needs systemd")
    );

    let on_systemd =
        parse_probe("mgr=systemd\nLoadState=loaded\nActiveState=active\nis_enabled=enabled\n");
    let p = plan(&reload, &on_systemd).unwrap();
    assert_eq!(p.actions, vec![Action::DaemonReload]);
    assert!(!p.actions.iter().any(Action::is_change));
}

#[test]
fn probe_finds_a_process_by_pattern_but_not_itself() {
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("{}.{}", std::process::id(), 271828);
    let pattern = Spec {
        pattern: Some(format!("sleep {marker}")),
        ..spec("rmesos-no-such-service")
    };
    // The script's own text holds the pattern: it must not count as the process.
    let script = probe_script(&pattern, Some(Mgr::Sysvinit));
    let out = sh(&script, dir.path());
    let p = parse_probe(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(p.mgr, Some(Mgr::Sysvinit));
    assert!(!p.found, "no /etc/init.d/rmesos-no-such-service");

    let found_script = script.replace(
        "if [ -f \"/etc/init.d/$n\" ]; then echo found=1",
        "if true; then echo found=1",
    );
    let before = parse_probe(&String::from_utf8_lossy(
        &sh(&found_script, dir.path()).stdout,
    ));
    assert_eq!(before.running, Some(false));
    let mut child = std::process::Command::new("sleep")
        .arg(&marker)
        .spawn()
        .unwrap();
    let during = parse_probe(&String::from_utf8_lossy(
        &sh(&found_script, dir.path()).stdout,
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(during.running, Some(true));
}

#[test]
fn apply_runs_commands_in_order_and_reports_a_failing_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let stub = |name: &str, rc: i32| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> '{}'\necho \"{name} says $2\"\nexit {rc}\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub("service", 0);
    stub("update-rc.d", 0);
    let probe = sysv("status_rc=3\n");
    let s = Spec {
        arguments: "--fast 'x".into(),
        ..spec("my svc")
    };
    let script = apply_script(&s, &probe, &[Action::Enable(true), Action::Start]);
    let out = sh(&script, dir.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "update-rc.d my svc defaults\nupdate-rc.d my svc enable\nservice my svc start --fast 'x\n"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("service says start"));

    std::fs::remove_file(&log).unwrap();
    stub("service", 3);
    let out = sh(
        &apply_script(&s, &probe, &[Action::Stop, Action::Start]),
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("service says stop") && err.contains("exited 3"),
        "{err}"
    );
    // The first failure stops the script.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "service my svc stop --fast 'x\n"
    );
}

#[test]
fn service_names_resolve_and_unknown_arguments_are_refused() {
    for name in [
        "service",
        "ansible.builtin.service",
        "systemd",
        "systemd_service",
        "ansible.builtin.systemd_service",
        "ansible.builtin.systemd",
    ] {
        assert!(crate::modules::lookup(name).is_some(), "{name}");
    }
    let m = crate::modules::lookup("service").unwrap();
    let args = |j: serde_json::Value| minijinja::Value::from(minijinja::value::Serde(j));
    assert!(
        m.check_args(&args(
            serde_json::json!({"name": "x", "state": "started", "daemon_reload": "yes"})
        ))
        .is_ok()
    );
    let e = m
        .check_args(&args(serde_json::json!({"name": "x", "masked": true})))
        .unwrap_err();
    assert!(e.to_string().contains("masked"), "{e}");
    let e = m
        .check_args(&args(serde_json::json!({"name": "x", "state": "running"})))
        .unwrap_err();
    assert!(e.to_string().contains("started"), "{e}");
    let s = crate::modules::lookup("systemd").unwrap();
    assert!(
        s.check_args(&args(
            serde_json::json!({"unit": "x", "masked": "no", "daemon-reload": true})
        ))
        .is_ok()
    );
}

#[test]
fn openrc_and_systemd_get_their_own_commands() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    for name in ["rc-service", "rc-update", "systemctl", "sleep"] {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let openrc = parse_probe("mgr=openrc\nfound=1\nstatus_rc=0\n");
    let s = Spec {
        sleep: Some(2),
        runlevel: "boot".into(),
        ..spec("sshd")
    };
    let out = sh(
        &apply_script(&s, &openrc, &[Action::Enable(true), Action::Restart]),
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "rc-update add sshd boot\nrc-service sshd stop\nsleep 2\nrc-service sshd start\n"
    );
    std::fs::remove_file(&log).unwrap();
    let systemd =
        parse_probe("mgr=systemd\nLoadState=loaded\nActiveState=inactive\nis_enabled=disabled\n");
    let s = Spec {
        scope: Scope::User,
        no_block: true,
        ..spec("app")
    };
    let actions = [
        Action::DaemonReload,
        Action::Mask(false),
        Action::Enable(true),
        Action::Start,
    ];
    let out = sh(&apply_script(&s, &systemd, &actions), dir.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "systemctl --user daemon-reload\nsystemctl --user unmask app\nsystemctl --user enable app\nsystemctl --user --no-block start app\n"
    );
}

#[test]
fn probe_scripts_succeed_for_every_manager_on_a_host_without_them() {
    let dir = tempfile::tempdir().unwrap();
    for mgr in [Mgr::Systemd, Mgr::Openrc, Mgr::Sysvinit] {
        let out = sh(
            &probe_script(&spec("rmesos-no-such-service"), Some(mgr)),
            dir.path(),
        );
        assert!(out.status.success(), "{mgr:?}: {out:?}");
        let p = parse_probe(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(p.mgr, Some(mgr));
        assert!(!p.found, "{mgr:?}");
    }
}

/// A service that an earlier (check-mode) task would have installed: --check reports the
/// change, a real run fails naming the service.
#[tokio::test]
async fn missing_service_is_a_would_be_change_in_check_mode_only() {
    let h = crate::modules::testutil::Harness::new();
    let args = serde_json::json!({"name": "rmesos-not-installed-xyz", "state": "started", "use": "service"});
    let checked = h.run(&super::Service, args.clone(), true, false).await;
    assert!(!checked.outcome.failed, "{:?}", checked.outcome.msg);
    assert!(checked.outcome.changed);
    assert!(
        checked
            .outcome
            .msg
            .unwrap_or_default()
            .contains("not installed yet")
    );
    let real = h.run(&super::Service, args, false, false).await;
    assert!(real.outcome.failed);
    assert!(
        real.outcome
            .msg
            .unwrap_or_default()
            .contains("rmesos-not-installed-xyz")
    );
}
