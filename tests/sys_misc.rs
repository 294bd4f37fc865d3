//! Files from elsewhere and system settings (get_url, unarchive, fetch, script, cron, sysctl,
//! mount, ini_file, hostname, selinux, seboolean, pam_limits, modprobe, synchronize) on
//! container hosts, through the real binary over SSH. Each module: apply, look at the host from
//! outside (docker exec), apply again for changed=0, and `--check` on a host that never got it
//! (nothing changes there, yet it reports changed). Needs Docker.

#[path = "support/json_events.rs"]
mod json_events;

use rmesos::lab::ContainerHosts;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::{OnceLock, RwLock};

/// host1 and host2 get tasks applied, host3 only sees `--check` runs (a fresh host), host4
/// serves HTTP for get_url. Set by the one test below, which also removes it.
static LAB: RwLock<Option<ContainerHosts>> = RwLock::new(None);

fn with_lab<T>(f: impl FnOnce(&ContainerHosts) -> T) -> T {
    let guard = LAB.read().unwrap_or_else(|e| e.into_inner());
    f(guard.as_ref().expect("the lab is up"))
}

fn sh(host: &str, cmd: &str) -> String {
    let out = with_lab(|l| l.exec(host, cmd)).expect("docker exec");
    assert_eq!(out.rc, 0, "{cmd} on {host}: {}", out.stderr_str());
    out.stdout_str()
}

fn sh_rc(host: &str, cmd: &str) -> i32 {
    with_lab(|l| l.exec(host, cmd)).expect("docker exec").rc
}

/// The binary under test; RMESOS_BIN overrides it (worktrees sharing one target dir overwrite
/// each other's binary between build and test).
fn rmesos_bin() -> String {
    std::env::var("RMESOS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rmesos").to_string())
}

/// One host's result of one task.
struct TaskResult {
    status: String,
    msg: String,
    result: Value,
}

/// Runs `tasks` on `hosts` and returns every host result, in order.
fn play(hosts: &str, tasks: &str, extra: &[&str]) -> Vec<TaskResult> {
    let dir = tempfile::tempdir().unwrap();
    play_in(dir.path(), hosts, tasks, extra)
}

fn play_in(dir: &Path, hosts: &str, tasks: &str, extra: &[&str]) -> Vec<TaskResult> {
    let pb = dir.join("play.yml");
    let indented: String = tasks.lines().map(|l| format!("    {l}\n")).collect();
    std::fs::write(
        &pb,
        format!("- hosts: {hosts}\n  gather_facts: no\n  tasks:\n{indented}"),
    )
    .unwrap();
    let out = Command::new(rmesos_bin())
        .arg("play")
        .arg(&pb)
        .arg("-i")
        .arg(with_lab(|l| l.inventory_path()))
        .args(["--output", "json"])
        .args(extra)
        .output()
        .expect("run rmesos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: Vec<TaskResult> = json_events::check_stream(&stdout)
        .into_iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| TaskResult {
            status: e["status"].as_str().unwrap_or_default().to_string(),
            msg: e["msg"].as_str().unwrap_or_default().to_string(),
            result: e["result"].clone(),
        })
        .collect();
    assert!(
        !results.is_empty(),
        "no results: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    results
}

fn statuses(r: &[TaskResult]) -> Vec<&str> {
    r.iter().map(|t| t.status.as_str()).collect()
}

/// Applies on `host`, checks with `verify`, applies again (all ok), then `--check` on host3
/// reports changed and `untouched` confirms host3 is as before.
fn apply_twice_then_check(host: &str, tasks: &str, verify: impl Fn(), untouched: impl Fn()) {
    let first = play(host, tasks, &[]);
    assert!(
        first.iter().all(|t| t.status == "changed"),
        "first run on {host}: {:?} {:?}",
        statuses(&first),
        first.iter().map(|t| &t.msg).collect::<Vec<_>>()
    );
    verify();
    let second = play(host, tasks, &[]);
    assert!(
        second.iter().all(|t| t.status == "ok"),
        "second run on {host}: {:?} {:?}",
        statuses(&second),
        second.iter().map(|t| &t.msg).collect::<Vec<_>>()
    );
    let check = play("host3", tasks, &["--check"]);
    assert!(
        check.iter().all(|t| t.status == "changed"),
        "check run on host3: {:?} {:?}",
        statuses(&check),
        check.iter().map(|t| &t.msg).collect::<Vec<_>>()
    );
    untouched();
}

fn cron_jobs_env_and_cron_file() {
    let tasks = "- cron: {name: nightly, minute: '5', hour: '3', job: /usr/local/bin/backup, user: root}\n\
                 - cron: {name: MAILTO, env: yes, job: ops@example.com, user: root}\n\
                 - cron: {name: tick, special_time: hourly, job: date, cron_file: rmesos-tick, user: nobody}";
    apply_twice_then_check(
        "host1",
        tasks,
        || {
            assert_eq!(
                sh("host1", "crontab -l -u root"),
                "MAILTO=ops@example.com\n#Ansible: nightly\n5 3 * * * /usr/local/bin/backup\n"
            );
            assert_eq!(
                sh("host1", "cat /etc/cron.d/rmesos-tick"),
                "#Ansible: tick\n@hourly nobody date\n"
            );
        },
        || {
            assert_ne!(sh_rc("host3", "crontab -l -u root"), 0);
            assert_ne!(sh_rc("host3", "test -e /etc/cron.d/rmesos-tick"), 0);
        },
    );
    let removed = play(
        "host1",
        "- cron: {name: nightly, state: absent, user: root}\n- cron: {cron_file: rmesos-tick, state: absent}",
        &[],
    );
    assert_eq!(statuses(&removed), ["changed", "changed"]);
    assert_eq!(
        sh("host1", "crontab -l -u root"),
        "MAILTO=ops@example.com\n"
    );
    assert_ne!(sh_rc("host1", "test -e /etc/cron.d/rmesos-tick"), 0);
}

fn ini_file_and_pam_limits() {
    let tasks = "- ini_file: {path: /etc/rmesos.ini, section: agent, option: work_dir, value: /var/lib/mesos, mode: '0600'}\n\
                 - community.general.ini_file: {path: /etc/rmesos.ini, option: top, value: '1', no_extra_spaces: yes}\n\
                 - pam_limits: {domain: mesos, limit_type: '-', limit_item: nofile, value: '65536', dest: /etc/security/limits.d/mesos.conf}";
    apply_twice_then_check(
        "host1",
        tasks,
        || {
            assert_eq!(
                sh("host1", "cat /etc/rmesos.ini"),
                "top=1\n[agent]\nwork_dir = /var/lib/mesos\n"
            );
            assert_eq!(sh("host1", "stat -c %a /etc/rmesos.ini"), "600\n");
            assert_eq!(
                sh("host1", "cat /etc/security/limits.d/mesos.conf"),
                "mesos\t-\tnofile\t65536\n"
            );
        },
        || {
            assert_ne!(sh_rc("host3", "test -e /etc/rmesos.ini"), 0);
            assert_ne!(
                sh_rc("host3", "test -e /etc/security/limits.d/mesos.conf"),
                0
            );
        },
    );
}

fn sysctl_writes_the_file_and_reports_read_only_proc() {
    let tasks = "- ansible.posix.sysctl: {name: vm.swappiness, value: '10', sysctl_file: /etc/sysctl.d/60-rmesos.conf, reload: no}";
    apply_twice_then_check(
        "host1",
        tasks,
        || {
            assert_eq!(
                sh("host1", "cat /etc/sysctl.d/60-rmesos.conf"),
                "vm.swappiness=10\n"
            );
        },
        || assert_ne!(sh_rc("host3", "test -e /etc/sysctl.d/60-rmesos.conf"), 0),
    );
    // Applying it needs a writable /proc/sys, which a container does not have.
    let applied = play(
        "host2",
        "- sysctl: {name: vm.swappiness, value: '11', sysctl_file: /etc/sysctl.d/61-rmesos.conf, sysctl_set: yes}",
        &[],
    );
    assert_eq!(statuses(&applied), ["failed"]);
    assert!(
        applied[0].msg.contains("read-only in containers"),
        "{}",
        applied[0].msg
    );
    assert_eq!(
        sh("host2", "cat /etc/sysctl.d/61-rmesos.conf"),
        "vm.swappiness=11\n"
    );
}

fn mount_edits_fstab_and_cannot_mount_in_a_container() {
    let tasks = "- ansible.posix.mount: {path: /srv/data, src: tmpfs, fstype: tmpfs, opts: size=1m, state: present}";
    apply_twice_then_check(
        "host1",
        tasks,
        || {
            assert!(sh("host1", "cat /etc/fstab").contains("tmpfs /srv/data tmpfs size=1m 0 0\n"));
        },
        || assert_ne!(sh_rc("host3", "grep -q /srv/data /etc/fstab"), 0),
    );
    let mounted = play(
        "host2",
        "- mount: {path: /srv/m, src: tmpfs, fstype: tmpfs, state: mounted}",
        &[],
    );
    assert_eq!(statuses(&mounted), ["failed"]);
    assert!(
        mounted[0].msg.contains("cannot mount /srv/m"),
        "{}",
        mounted[0].msg
    );
    let absent = play("host1", "- mount: {path: /srv/data, state: absent}", &[]);
    assert_eq!(statuses(&absent), ["changed"]);
    assert_ne!(sh_rc("host1", "grep -q /srv/data /etc/fstab"), 0);
}

fn selinux_seboolean_modprobe_hostname_on_debian() {
    let ok = play(
        "host1",
        "- ansible.posix.selinux: {state: disabled}\n- ansible.posix.seboolean: {name: httpd_can_network_connect, state: yes, persistent: yes}",
        &[],
    );
    assert_eq!(statuses(&ok), ["ok", "ok"]);
    assert!(
        ok.iter()
            .all(|t| t.msg == "SELinux is not available on this host")
    );
    let enforcing = play(
        "host1",
        "- selinux: {state: enforcing, policy: targeted}",
        &[],
    );
    assert_eq!(statuses(&enforcing), ["failed"]);
    assert!(enforcing[0].msg.contains("not available"));

    let module = play(
        "host1",
        "- community.general.modprobe: {name: rmesos_dummy_mod}",
        &[],
    );
    assert_eq!(statuses(&module), ["failed"]);
    assert!(
        module[0]
            .msg
            .contains("cannot load kernel module rmesos_dummy_mod"),
        "{}",
        module[0].msg
    );

    let same = play("host1", "- hostname: {name: host1}", &[]);
    assert_eq!(statuses(&same), ["ok"], "{}", same[0].msg);
    let check = play("host3", "- hostname: {name: renamed}", &["--check"]);
    assert_eq!(statuses(&check), ["changed"]);
    assert_eq!(sh("host3", "hostname"), "host3\n");
}

fn script_and_fetch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    std::fs::write(
        dir.path().join("files/setup.sh"),
        "#!/bin/sh\necho \"hello $1\" > /tmp/rmesos-script-out\n",
    )
    .unwrap();
    let tasks = "- script: setup.sh world creates=/tmp/rmesos-script-out";
    let first = play_in(dir.path(), "host1", tasks, &[]);
    assert_eq!(statuses(&first), ["changed"], "{}", first[0].msg);
    assert_eq!(sh("host1", "cat /tmp/rmesos-script-out"), "hello world\n");
    assert_eq!(
        sh("host1", "ls /tmp | grep -c '^rmesos-script\\.' || true"),
        "0\n"
    );
    assert_eq!(statuses(&play_in(dir.path(), "host1", tasks, &[])), ["ok"]);
    let check = play_in(dir.path(), "host3", tasks, &["--check"]);
    assert_eq!(statuses(&check), ["skipped"]);
    assert_ne!(sh_rc("host3", "test -e /tmp/rmesos-script-out"), 0);

    sh("host1", "echo fetched-content > /etc/rmesos-fetch.txt");
    let tasks = "- fetch: {src: /etc/rmesos-fetch.txt, dest: out}";
    let got = dir.path().join("out/host1/etc/rmesos-fetch.txt");
    assert_eq!(
        statuses(&play_in(dir.path(), "host1", tasks, &[])),
        ["changed"]
    );
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "fetched-content\n");
    assert_eq!(statuses(&play_in(dir.path(), "host1", tasks, &[])), ["ok"]);
    let missing = play_in(dir.path(), "host3", tasks, &["--check"]);
    assert_eq!(statuses(&missing), ["failed"]);
}

fn unarchive_from_controller_and_remote() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree/app");
    std::fs::create_dir_all(tree.join("conf")).unwrap();
    std::fs::write(tree.join("conf/app.conf"), "port=1\n").unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::create_dir(dir.path().join("files")).unwrap();
    let st = Command::new("tar")
        .arg("-czf")
        .arg(dir.path().join("files/app.tar.gz"))
        .arg("-C")
        .arg(dir.path().join("tree"))
        .arg("app")
        .status()
        .unwrap();
    assert!(st.success());
    let tasks = "- file: {path: /opt/app, state: directory}\n\
                 - unarchive: {src: app.tar.gz, dest: /opt/app, extra_opts: ['--strip-components=1'], owner: nobody}";
    let first = play_in(dir.path(), "host1", tasks, &[]);
    assert_eq!(statuses(&first), ["changed", "changed"], "{}", first[1].msg);
    assert_eq!(sh("host1", "cat /opt/app/conf/app.conf"), "port=1\n");
    assert_eq!(sh("host1", "stat -c %U /opt/app/run.sh"), "nobody\n");
    let second = play_in(dir.path(), "host1", tasks, &[]);
    assert_eq!(statuses(&second), ["ok", "ok"], "{}", second[1].msg);
    sh("host3", "mkdir -p /opt/app");
    let check = play_in(
        dir.path(),
        "host3",
        "- unarchive: {src: app.tar.gz, dest: /opt/app}",
        &["--check"],
    );
    assert_eq!(statuses(&check), ["changed"]);
    assert_eq!(sh("host3", "ls -A /opt/app"), "");

    // remote_src, zip: a file already on the host.
    sh(
        "host2",
        "mkdir -p /tmp/z/d && echo zipped > /tmp/z/d/f && cd /tmp/z && tar -cf /tmp/z.tar d && mkdir -p /opt/z",
    );
    let tasks = "- unarchive: {src: /tmp/z.tar, dest: /opt/z, remote_src: yes, list_files: yes}";
    let r = play("host2", tasks, &[]);
    assert_eq!(statuses(&r), ["changed"], "{}", r[0].msg);
    assert_eq!(r[0].result["files"], serde_json::json!(["d/", "d/f"]));
    assert_eq!(sh("host2", "cat /opt/z/d/f"), "zipped\n");
    assert_eq!(statuses(&play("host2", tasks, &[])), ["ok"]);
}

/// busybox httpd on host4 serving /srv/www, reachable as `http://host4-ip:8080/`.
fn http_server() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        sh(
            "host4",
            "DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox >/dev/null",
        );
        sh(
            "host4",
            "mkdir -p /srv/www && printf 'release-1.0\\n' > /srv/www/pkg.tgz && \
             (cd /srv/www && sha256sum pkg.tgz > pkg.tgz.sha256) && \
             busybox httpd -p 8080 -h /srv/www",
        );
        let ip = sh("host4", "hostname -i | cut -d' ' -f1")
            .trim()
            .to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while sh_rc("host1", &format!("curl -fsS http://{ip}:8080/pkg.tgz")) != 0 {
            assert!(std::time::Instant::now() < deadline, "httpd never answered");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        format!("http://{ip}:8080")
    })
    .clone()
}

fn get_url_from_a_test_host_with_checksums() {
    let base = http_server();
    let sum = sh("host4", "cut -d' ' -f1 /srv/www/pkg.tgz.sha256")
        .trim()
        .to_string();
    let tasks = format!(
        "- get_url: {{url: '{base}/pkg.tgz', dest: /opt/, checksum: 'sha256:{sum}', mode: '0640'}}\n\
         - get_url: {{url: '{base}/pkg.tgz', dest: /opt/pkg2.tgz, checksum: 'sha256:{base}/pkg.tgz.sha256'}}"
    );
    apply_twice_then_check(
        "host1",
        &tasks,
        || {
            assert_eq!(sh("host1", "cat /opt/pkg.tgz"), "release-1.0\n");
            assert_eq!(sh("host1", "stat -c %a /opt/pkg.tgz"), "640\n");
            assert_eq!(sh("host1", "cat /opt/pkg2.tgz"), "release-1.0\n");
        },
        || {
            let left = sh(
                "host3",
                "find /opt -maxdepth 1 -name '*pkg*' -o -maxdepth 1 -name '.rmesos*'",
            );
            assert_eq!(left, "");
        },
    );
    // A wrong checksum fails and leaves neither the file nor a temp file.
    let bad = play(
        "host1",
        &format!(
            "- get_url: {{url: '{base}/pkg.tgz', dest: /srv/bad.tgz, checksum: 'sha256:{}'}}",
            "0".repeat(64)
        ),
        &[],
    );
    assert_eq!(statuses(&bad), ["failed"]);
    assert!(bad[0].msg.contains("did not match"), "{}", bad[0].msg);
    assert_eq!(sh("host1", "ls -A /srv"), "");
}

fn get_url_through_the_controller_when_the_host_has_no_curl() {
    let base = http_server();
    sh("host2", "rm -f /usr/bin/curl /usr/bin/wget");
    let tasks = format!("- get_url: {{url: '{base}/pkg.tgz', dest: /opt/pkg.tgz}}");
    let r = play("host2", &tasks, &[]);
    assert_eq!(statuses(&r), ["changed"], "{}", r[0].msg);
    assert_eq!(r[0].result["via_controller"], Value::Bool(true));
    assert_eq!(sh("host2", "cat /opt/pkg.tgz"), "release-1.0\n");
    assert_eq!(statuses(&play("host2", &tasks, &[])), ["ok"]);
}

fn synchronize_pushes_a_tree_and_then_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files/conf/sub")).unwrap();
    std::fs::write(dir.path().join("files/conf/a.conf"), "a=1\n").unwrap();
    std::fs::write(dir.path().join("files/conf/sub/b.conf"), "b=2\n").unwrap();
    let tasks = "- ansible.posix.synchronize: {src: conf/, dest: /etc/rmesos-sync/, delete: yes}";
    let first = play_in(dir.path(), "host1", tasks, &[]);
    assert_eq!(statuses(&first), ["changed"], "{}", first[0].msg);
    assert_eq!(sh("host1", "cat /etc/rmesos-sync/sub/b.conf"), "b=2\n");
    assert_eq!(statuses(&play_in(dir.path(), "host1", tasks, &[])), ["ok"]);
    let check = play_in(dir.path(), "host3", tasks, &["--check"]);
    assert_eq!(statuses(&check), ["changed"]);
    assert_ne!(sh_rc("host3", "test -e /etc/rmesos-sync"), 0);
}

#[test]
fn system_settings_and_downloads_on_container_hosts_needs_docker() {
    *LAB.write().unwrap() = Some(ContainerHosts::start(4).expect("start container hosts"));
    let parts: &[(&str, fn())] = &[
        ("cron_jobs_env_and_cron_file", cron_jobs_env_and_cron_file),
        ("ini_file_and_pam_limits", ini_file_and_pam_limits),
        (
            "sysctl_writes_the_file_and_reports_read_only_proc",
            sysctl_writes_the_file_and_reports_read_only_proc,
        ),
        (
            "mount_edits_fstab_and_cannot_mount_in_a_container",
            mount_edits_fstab_and_cannot_mount_in_a_container,
        ),
        (
            "selinux_seboolean_modprobe_hostname_on_debian",
            selinux_seboolean_modprobe_hostname_on_debian,
        ),
        ("script_and_fetch", script_and_fetch),
        (
            "unarchive_from_controller_and_remote",
            unarchive_from_controller_and_remote,
        ),
        (
            "get_url_from_a_test_host_with_checksums",
            get_url_from_a_test_host_with_checksums,
        ),
        (
            "get_url_through_the_controller_when_the_host_has_no_curl",
            get_url_through_the_controller_when_the_host_has_no_curl,
        ),
        (
            "synchronize_pushes_a_tree_and_then_changes_nothing",
            synchronize_pushes_a_tree_and_then_changes_nothing,
        ),
    ];
    // Every part runs even when one fails, so one run shows every broken module.
    let failed: Vec<&str> = parts
        .iter()
        .filter(|(_, part)| std::panic::catch_unwind(part).is_err())
        .map(|(name, _)| *name)
        .collect();
    drop(LAB.write().unwrap_or_else(|e| e.into_inner()).take());
    assert!(failed.is_empty(), "failed parts: {failed:?}");
}
