//! Package modules on container hosts (Debian bookworm, the Debian mirror reachable), driven
//! through the real binary over SSH. Each test applies a module, checks the host's real state
//! with `docker exec` (dpkg, files), runs it again for `changed=0`, and runs it in `--check`
//! mode on a fresh host to show nothing changed there. Needs Docker.
//! yum and dnf are tested on canned output only (src/modules/packages/yum.rs): there are no RPM hosts here.

#[path = "support/json_events.rs"]
mod json_events;

use base64::Engine;
use rmesos::lab::ContainerHosts;
use serde_json::Value;
use std::process::Command;

/// What one `rmesos play --output json` run printed.
struct PlayRun {
    events: Vec<Value>,
    code: i32,
    stderr: String,
}

impl PlayRun {
    fn stats(&self, host: &str) -> &Value {
        let recap = self
            .events
            .iter()
            .rev()
            .find(|e| e["event"] == "recap")
            .unwrap_or_else(|| panic!("no recap; stderr: {}", self.stderr));
        &recap["stats"][host]
    }
    fn changed(&self, host: &str) -> u64 {
        self.stats(host)["changed"].as_u64().unwrap_or(0)
    }
    fn failed(&self, host: &str) -> u64 {
        self.stats(host)["failed"].as_u64().unwrap_or(0)
    }
    /// The registered results of `host`'s tasks, in order.
    fn results(&self, host: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["host"] == host)
            .collect()
    }
    fn dump(&self) -> String {
        format!(
            "rc={} stderr={}\n{}",
            self.code,
            self.stderr,
            self.events
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// The binary under test; `RMESOS_BIN` overrides cargo's path (a shared target directory
/// may hold another checkout's build by the time the test runs).
fn rmesos_bin() -> String {
    std::env::var("RMESOS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rmesos").to_string())
}

/// Runs `tasks` (YAML, indented as a play's task list) on `limit`.
fn play(hosts: &ContainerHosts, limit: &str, tasks: &str, extra: &[&str]) -> PlayRun {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("play.yml");
    std::fs::write(
        &book,
        format!("- hosts: all\n  gather_facts: no\n  tasks:\n{tasks}"),
    )
    .unwrap();
    let out = Command::new(rmesos_bin())
        .arg("play")
        .arg("-i")
        .arg(hosts.inventory_path())
        .args(["-l", limit, "--output", "json"])
        .args(extra)
        .arg(&book)
        .output()
        .unwrap();
    let events = json_events::check_stream(&String::from_utf8_lossy(&out.stdout));
    PlayRun {
        events,
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `docker exec` on a host: (rc, stdout).
fn sh(hosts: &ContainerHosts, host: &str, cmd: &str) -> (i32, String) {
    let out = hosts.exec(host, cmd).unwrap();
    (out.rc, out.stdout_str())
}

fn dpkg_installed(hosts: &ContainerHosts, host: &str, pkg: &str) -> bool {
    let (_, out) = sh(
        hosts,
        host,
        &format!("dpkg-query -W -f='${{db:Status-Status}}' {pkg} 2>/dev/null"),
    );
    out == "installed"
}

#[test]
fn apt_and_package_install_and_remove_real_packages_needs_docker() {
    let hosts = ContainerHosts::start(3).unwrap();

    // Install from Debian's mirror, with a version glob.
    let install = "    - apt:\n        name: [tree, jq=1.6*]\n        update_cache: yes\n        cache_valid_time: 3600\n        install_recommends: no\n";
    let r = play(&hosts, "host1", install, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    let result = &r.results("host1")[0]["result"];
    let packages: Vec<&str> = result["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        packages.contains(&"tree") && packages.contains(&"jq"),
        "{result}"
    );
    assert_eq!(result["cache_updated"], true);
    assert!(dpkg_installed(&hosts, "host1", "tree"));
    let (_, jq) = sh(&hosts, "host1", "dpkg-query -W -f='${Version}' jq");
    assert!(jq.starts_with("1.6"), "{jq}");

    // Again: the cache is fresh and everything is installed.
    let r = play(&hosts, "host1", install, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );
    assert_eq!(r.results("host1")[0]["result"]["cache_updated"], false);

    // Remove with purge, twice.
    let remove = "    - apt: name=tree state=absent purge=yes\n";
    let r = play(&hosts, "host1", remove, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert!(!dpkg_installed(&hosts, "host1", "tree"));
    let (rc, _) = sh(&hosts, "host1", "dpkg -s tree >/dev/null 2>&1");
    assert_ne!(rc, 0, "purged packages leave no dpkg record");
    let r = play(&hosts, "host1", remove, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );

    // A .deb file on the host.
    let (rc, _) = sh(
        &hosts,
        "host1",
        "cd /root && apt-get download -q tree >/dev/null 2>&1 && mv tree_*.deb tree.deb",
    );
    assert_eq!(rc, 0);
    let deb = "    - apt: deb=/root/tree.deb\n";
    let r = play(&hosts, "host1", deb, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert!(dpkg_installed(&hosts, "host1", "tree"));
    let r = play(&hosts, "host1", deb, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );

    // A package that does not exist fails with apt's words, and changes nothing.
    let r = play(
        &hosts,
        "host1",
        "    - apt: name=no-such-package-rmesos\n",
        &[],
    );
    assert_eq!(r.failed("host1"), 1, "{}", r.dump());
    let msg = r.results("host1")[0]["msg"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("no-such-package-rmesos"), "{msg}");

    // --check on a fresh host (its lists fetched out of band: check mode never updates them):
    // reported as changed, nothing installed.
    let (rc, _) = sh(&hosts, "host2", "apt-get -q update >/dev/null 2>&1");
    assert_eq!(rc, 0);
    let r = play(
        &hosts,
        "host2",
        "    - apt: name=tree\n    - package: name=jq\n",
        &["--check"],
    );
    assert_eq!(
        (r.changed("host2"), r.failed("host2")),
        (2, 0),
        "{}",
        r.dump()
    );
    let res = r.results("host2");
    assert_eq!(res[0]["result"]["packages"], serde_json::json!(["tree"]));
    assert!(!dpkg_installed(&hosts, "host2", "tree"));
    assert!(!dpkg_installed(&hosts, "host2", "jq"));

    // package: the manager comes from gathered facts.
    let pkg = "    - setup:\n    - package:\n        name: tree\n        update_cache: yes\n";
    let r = play(&hosts, "host3", pkg, &[]);
    assert_eq!(
        (r.changed("host3"), r.failed("host3")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert_eq!(r.results("host3")[1]["result"]["ansible_pkg_mgr"], "apt");
    assert!(dpkg_installed(&hosts, "host3", "tree"));
    let pkg_again = "    - setup:\n    - package: name=tree\n";
    let r = play(&hosts, "host3", pkg_again, &[]);
    assert_eq!(
        (r.changed("host3"), r.failed("host3")),
        (0, 0),
        "{}",
        r.dump()
    );
    let r = play(
        &hosts,
        "host3",
        "    - package: name=tree state=absent\n",
        &[],
    );
    assert_eq!(
        (r.changed("host3"), r.failed("host3")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert!(!dpkg_installed(&hosts, "host3", "tree"));
}

#[test]
fn repositories_and_keys_needs_docker() {
    let hosts = ContainerHosts::start(2).unwrap();
    let file_text = |host: &str, path: &str| sh(&hosts, host, &format!("cat {path}")).1;
    let exists = |host: &str, path: &str| sh(&hosts, host, &format!("test -e {path}")).0 == 0;

    // apt_repository: added once (with the cache updated), then removed.
    let line = "deb http://deb.debian.org/debian bookworm-backports main";
    let add = format!("    - apt_repository:\n        repo: {line}\n        filename: backports\n");
    let r = play(&hosts, "host1", &add, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    let list = "/etc/apt/sources.list.d/backports.list";
    assert_eq!(file_text("host1", list), format!("{line}\n"));
    assert_eq!(
        sh(&hosts, "host1", &format!("stat -c %a {list}")).1.trim(),
        "644"
    );
    let (_, policy) = sh(
        &hosts,
        "host1",
        "apt-cache policy | grep -c bookworm-backports",
    );
    assert_ne!(
        policy.trim(),
        "0",
        "the cache was updated with the new source"
    );
    let r = play(&hosts, "host1", &add, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );
    let remove = format!(
        "    - apt_repository:\n        repo: {line}\n        state: absent\n        update_cache: no\n"
    );
    let r = play(&hosts, "host1", &remove, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert!(!exists("host1", list));
    let r = play(&hosts, "host1", &remove, &[]);
    assert_eq!(r.changed("host1"), 0, "{}", r.dump());

    // apt_key: Debian's automatic signing key copied into a binary keyring, once.
    let src = "/etc/apt/trusted.gpg.d/debian-archive-bookworm-automatic.asc";
    let key = format!(
        "    - apt_key:\n        file: {src}\n        keyring: /etc/apt/keyrings/auto.gpg\n"
    );
    let r = play(&hosts, "host1", &key, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    let (rc, head) = sh(
        &hosts,
        "host1",
        "head -c 1 /etc/apt/keyrings/auto.gpg | od -An -tx1",
    );
    assert_eq!((rc, head.trim()), (0, "99"), "a binary public-key packet");
    let r = play(&hosts, "host1", &key, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );

    // deb822_repository signed by that keyring: apt verifies the repository with it.
    let repo = "    - deb822_repository:\n        name: Bookworm Backports\n        uris: http://deb.debian.org/debian\n        suites: bookworm-backports\n        components: [main]\n        signed_by: /etc/apt/keyrings/auto.gpg\n";
    let r = play(&hosts, "host1", repo, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    let sources = "/etc/apt/sources.list.d/bookworm-backports.sources";
    assert!(file_text("host1", sources).contains("Signed-By: /etc/apt/keyrings/auto.gpg\n"));
    let out = hosts.exec("host1", "apt-get update 2>&1").unwrap();
    let text = out.stdout_str();
    assert_eq!(out.rc, 0, "{text}");
    assert!(
        !text.contains("NO_PUBKEY") && !text.contains("not signed"),
        "{text}"
    );
    assert!(text.contains("bookworm-backports"), "{text}");
    let r = play(&hosts, "host1", repo, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );

    // Removing the key and the source.
    let gone = "    - apt_key: id=0xB7C5D7D6350947F8 keyring=/etc/apt/keyrings/auto.gpg state=absent\n    - deb822_repository: name='Bookworm Backports' state=absent\n";
    let r = play(&hosts, "host1", gone, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (2, 0),
        "{}",
        r.dump()
    );
    assert!(!exists("host1", sources));
    assert!(!exists("host1", "/etc/apt/keyrings/auto.gpg"));
    let r = play(&hosts, "host1", gone, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );

    // --check on a fresh host: everything reported, nothing written.
    let all = format!("{add}{key}{repo}");
    let r = play(&hosts, "host2", &all, &["--check"]);
    assert_eq!(
        (r.changed("host2"), r.failed("host2")),
        (3, 0),
        "{}",
        r.dump()
    );
    assert!(!exists("host2", list));
    assert!(!exists("host2", "/etc/apt/keyrings/auto.gpg"));
    assert!(!exists("host2", sources));
}

/// Writes two versions of a tiny wheel to /srv/wheels.
const WHEELS_PY: &str = r#"
import zipfile
for v in ('1.0', '2.0'):
    d = 'rmesos_demo-%s.dist-info' % v
    files = {
        'rmesos_demo/__init__.py': "VERSION = '%s'\n" % v,
        d + '/METADATA': 'Metadata-Version: 2.1\nName: rmesos-demo\nVersion: %s\n' % v,
        d + '/WHEEL': 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    }
    with zipfile.ZipFile('/srv/wheels/rmesos_demo-%s-py3-none-any.whl' % v, 'w') as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr(d + '/RECORD', ''.join(n + ',,\n' for n in files) + d + '/RECORD,,\n')
"#;

#[test]
fn pip_into_a_virtualenv_needs_docker() {
    let hosts = ContainerHosts::start(2).unwrap();

    // No Python on a fresh host: a clear failure.
    let r = play(&hosts, "host2", "    - pip: name=six\n", &[]);
    assert_eq!(r.failed("host2"), 1, "{}", r.dump());
    let msg = r.results("host2")[0]["msg"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        msg.contains("pip needs Python on the target: install python3-pip first"),
        "{msg}"
    );

    let r = play(
        &hosts,
        "host1",
        "    - apt: name=python3-pip,python3-venv install_recommends=no update_cache=yes\n",
        &[],
    );
    assert_eq!(r.failed("host1"), 0, "{}", r.dump());
    // Two versions of a tiny wheel in a local directory: no package index needed.
    let script = base64::engine::general_purpose::STANDARD.encode(WHEELS_PY);
    let (rc, out) = sh(
        &hosts,
        "host1",
        &format!("mkdir -p /srv/wheels && echo {script} | base64 -d | python3 2>&1"),
    );
    assert_eq!(rc, 0, "{out}");
    let pip = |spec: &str, venv: &str, state: &str| {
        format!(
            "    - pip:\n        name: '{spec}'\n        state: {state}\n        virtualenv: {venv}\n        virtualenv_command: python3 -m venv\n        extra_args: --no-index --find-links /srv/wheels\n"
        )
    };
    let version = |venv: &str| {
        sh(
            &hosts,
            "host1",
            &format!("{venv}/bin/python -c 'import rmesos_demo; print(rmesos_demo.VERSION)' 2>&1"),
        )
        .1
        .trim()
        .to_string()
    };

    let v1 = pip("rmesos-demo==1.0", "/opt/venv", "present");
    let r = play(&hosts, "host1", &v1, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert_eq!(version("/opt/venv"), "1.0");
    let r = play(&hosts, "host1", &v1, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (0, 0),
        "{}",
        r.dump()
    );

    // A specifier the installed version does not meet upgrades it.
    let v2 = pip("rmesos_demo>=2", "/opt/venv", "present");
    let r = play(&hosts, "host1", &v2, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert_eq!(version("/opt/venv"), "2.0");
    let r = play(&hosts, "host1", &v2, &[]);
    assert_eq!(r.changed("host1"), 0, "{}", r.dump());

    let gone = pip("rmesos-demo", "/opt/venv", "absent");
    let r = play(&hosts, "host1", &gone, &[]);
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert!(version("/opt/venv").contains("No module named"));
    let r = play(&hosts, "host1", &gone, &[]);
    assert_eq!(r.changed("host1"), 0, "{}", r.dump());

    // --check with a virtualenv that does not exist yet: reported, not created.
    let r = play(
        &hosts,
        "host1",
        &pip("rmesos-demo", "/opt/fresh", "present"),
        &["--check"],
    );
    assert_eq!(
        (r.changed("host1"), r.failed("host1")),
        (1, 0),
        "{}",
        r.dump()
    );
    assert_ne!(sh(&hosts, "host1", "test -e /opt/fresh").0, 0);
}
