//! `service`/`systemd` and `supervisorctl` on container hosts (Debian, no systemd: sysvinit
//! scripts and supervisord), driven through the real binary over SSH and checked from outside
//! with docker exec. Needs Docker.

mod sys_svc_util;

use sys_svc_util::Hosts;

/// A tiny LSB init script running `sleep infinity` under start-stop-daemon with a pidfile.
const SLEEPER: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          rmesos-sleeper
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: test daemon
### END INIT INFO
PID=/run/rmesos-sleeper.pid
case "$1" in
  start) start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PID --exec /bin/sleep -- infinity ;;
  stop) start-stop-daemon --stop --quiet --remove-pidfile --pidfile $PID --exec /bin/sleep ;;
  restart) "$0" stop; "$0" start ;;
  status) start-stop-daemon --status --pidfile $PID --exec /bin/sleep ;;
  *) echo "usage: $0 start|stop|restart|status"; exit 2 ;;
esac
"#;

fn cron_pid(h: &Hosts, host: &str) -> Option<String> {
    let (rc, out) = h.sh_rc(
        host,
        "p=$(cat /run/crond.pid 2>/dev/null) && [ -d /proc/$p ] && echo $p",
    );
    (rc == 0).then(|| out.trim().to_string())
}

fn cron_enabled(h: &Hosts, host: &str) -> bool {
    h.sh_rc(host, "ls /etc/rc2.d/S*cron").0 == 0
}

fn task(module: &str) -> String {
    format!("- hosts: host1\n  gather_facts: no\n  tasks:\n    - {module}\n")
}

#[test]
fn sysvinit_services_start_stop_restart_and_enable_needs_docker() {
    let h = Hosts::start(2, &["service", "systemd"]);
    assert_eq!(
        cron_pid(&h, "host1"),
        None,
        "cron is not running in a fresh host"
    );
    assert!(cron_enabled(&h, "host1"));

    // Check mode on a fresh host: reports the change, changes nothing.
    let check = "- hosts: host2\n  gather_facts: no\n  tasks:\n    - service: name=cron state=started enabled=no\n";
    let r = h.play(check, &["--check"]);
    r.assert_ok();
    assert_eq!(r.changed("host2"), 1, "{}", r.output);
    assert_eq!(cron_pid(&h, "host2"), None);
    assert!(cron_enabled(&h, "host2"));

    // With facts gathered, the backend comes from ansible_service_mgr.
    let start =
        task("service: name=cron state=started").replace("gather_facts: no", "gather_facts: yes");
    let r = h.play(&start, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1, "{}", r.output);
    let facts = &r.of("host1")[0]["result"]["ansible_facts"];
    assert_eq!(facts["service_mgr"], "sysvinit", "{facts}");
    assert_eq!(r.of("host1")[1]["result"]["service_mgr"], "sysvinit");
    let pid = cron_pid(&h, "host1").expect("cron runs");
    let r = h.play(&start, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0, "{}", r.output);

    let r = h.play(&task("service: name=cron state=restarted"), &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1);
    let restarted = cron_pid(&h, "host1").expect("cron runs after restart");
    assert_ne!(pid, restarted, "a restart makes a new process");

    let stop = task("service: name=cron state=stopped enabled=no");
    let r = h.play(&stop, &["--diff"]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1);
    let diff = &r.of("host1")[0]["diff"][0];
    assert_eq!(diff["before"], "running: true\nenabled: true\n", "{diff}");
    assert_eq!(diff["after"], "running: false\nenabled: false\n", "{diff}");
    assert_eq!(cron_pid(&h, "host1"), None);
    assert!(!cron_enabled(&h, "host1"));
    let r = h.play(&stop, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0, "{}", r.output);

    // A custom init script that update-rc.d has never seen.
    h.sh("host1", &format!("cat > /etc/init.d/rmesos-sleeper <<'EOF'\n{SLEEPER}EOF\nchmod 755 /etc/init.d/rmesos-sleeper"));
    let sleeper = task(
        "systemd:\n        name: rmesos-sleeper\n        state: started\n        enabled: yes\n        daemon_reload: yes",
    );
    let r = h.play(&sleeper, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1, "{}", r.output);
    let msg = r.of("host1")[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("no systemd"), "daemon_reload is noted: {msg}");
    let pid = h.sh("host1", "cat /run/rmesos-sleeper.pid");
    let cmdline = h.sh(
        "host1",
        &format!("tr '\\0' ' ' < /proc/{}/cmdline", pid.trim()),
    );
    assert_eq!(cmdline, "/bin/sleep infinity ");
    h.sh("host1", "ls /etc/rc2.d/S*rmesos-sleeper");
    let r = h.play(&sleeper, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0, "{}", r.output);
    let r = h.play(&task("service: name=rmesos-sleeper state=stopped"), &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1);
    assert_ne!(
        h.sh_rc("host1", &format!("[ -d /proc/{} ]", pid.trim())).0,
        0,
        "stopped"
    );

    // The fact decides over the probe: told the host runs OpenRC, the module drives rc-service
    // (absent here, so the task fails saying so) instead of the sysvinit script.
    let openrc = "- hosts: host1\n  gather_facts: no\n  vars:\n    ansible_service_mgr: openrc\n  tasks:\n    - service: name=cron state=started\n";
    let r = h.play(openrc, &[]);
    assert_eq!(r.failed("host1"), 1, "{}", r.output);
    assert_eq!(
        r.of("host1")[0]["result"]["service_mgr"],
        "openrc",
        "{}",
        r.output
    );
    assert_eq!(cron_pid(&h, "host1"), None);

    // No manager knows it: a clear failure, not a silent success.
    let r = h.play(&task("service: name=rmesos-nosuch state=started"), &[]);
    assert_eq!(r.failed("host1"), 1, "{}", r.output);
    let msg = r.of("host1")[0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("/etc/init.d/rmesos-nosuch"), "{msg}");
}

/// `supervisorctl status sleeper` from outside: (state word, pid) or None when unknown.
fn sleeper(h: &Hosts) -> Option<(String, String)> {
    let (_, out) = h.sh_rc("host1", "supervisorctl status sleeper");
    let mut f = out.split_whitespace();
    let state = f.nth(1)?.to_string();
    if !matches!(
        state.as_str(),
        "RUNNING" | "STOPPED" | "STARTING" | "EXITED"
    ) {
        return None;
    }
    let pid = f.nth(1).unwrap_or("").trim_end_matches(',').to_string();
    Some((state, pid))
}

#[test]
fn supervisord_programs_added_started_restarted_stopped_and_removed_needs_docker() {
    let h = Hosts::start(1, &["supervisorctl", "service"]);
    h.sh(
        "host1",
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends supervisor >/dev/null",
    );
    // supervisord itself through its sysvinit script.
    h.play(&task("service: name=supervisor state=started"), &[])
        .assert_ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !matches!(h.sh_rc("host1", "supervisorctl status").0, 0 | 3) {
        assert!(
            std::time::Instant::now() < deadline,
            "supervisord did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Written after supervisord started: it knows the program only once reread and added.
    h.sh(
        "host1",
        "printf '[program:sleeper]\\ncommand=/bin/sleep infinity\\nautostart=false\\n' > /etc/supervisor/conf.d/sleeper.conf",
    );
    let started = task("supervisorctl: name=sleeper state=started");
    let r = h.play(&started, &["--check"]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1, "{}", r.output);
    assert_eq!(sleeper(&h), None, "check mode added nothing");

    let present = task("supervisorctl: name=sleeper state=present");
    let r = h.play(&present, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1, "{}", r.output);
    assert_eq!(sleeper(&h).map(|s| s.0).as_deref(), Some("STOPPED"));

    let r = h.play(&started, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1, "{}", r.output);
    let (state, pid) = sleeper(&h).unwrap();
    assert_eq!(state, "RUNNING");
    assert_eq!(
        h.sh("host1", &format!("tr '\\0' ' ' < /proc/{pid}/cmdline")),
        "/bin/sleep infinity "
    );
    let r = h.play(&started, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0, "{}", r.output);

    let r = h.play(&task("supervisorctl: name=sleeper state=restarted"), &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1);
    let (state, new_pid) = sleeper(&h).unwrap();
    assert_eq!(state, "RUNNING");
    assert_ne!(pid, new_pid, "restart makes a new process");

    let stopped = task("supervisorctl: name=sleeper state=stopped");
    let r = h.play(&stopped, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1);
    assert_eq!(sleeper(&h).map(|s| s.0).as_deref(), Some("STOPPED"));
    let r = h.play(&stopped, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0);

    let absent = task("supervisorctl: name=sleeper state=absent");
    let r = h.play(&absent, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 1);
    assert_eq!(sleeper(&h), None);
    let r = h.play(&absent, &[]);
    r.assert_ok();
    assert_eq!(r.changed("host1"), 0);

    let r = h.play(&stopped, &[]);
    assert_eq!(
        r.failed("host1"),
        1,
        "stopping an unknown program fails: {}",
        r.output
    );
}
