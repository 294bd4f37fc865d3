//! Container hosts for tests: the lab's image, containers, key and inventory, checked with the
//! system OpenSSH client and the Docker CLI. Needs Docker, and root the first time (to build the
//! image with debootstrap).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use rmesos::lab::{ContainerHosts, HostSpec, LAB_LABEL, Lab, LabSpec};

/// `docker ps -a` and `docker network ls` entries carrying the lab's label.
fn labelled_leftovers(lab: &str) -> Vec<String> {
    let filter = format!("label={LAB_LABEL}={lab}");
    let mut left = Vec::new();
    for args in [
        vec![
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "container {{.Names}}",
        ],
        vec![
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "network {{.Name}}",
        ],
    ] {
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        left.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    left
}

/// Inventory host lines as name -> variables (values may be single-quoted).
fn inventory_hosts(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut hosts = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('[') || !line.contains('=') {
            continue;
        }
        let (name, mut rest) = line.split_once(' ').unwrap();
        let mut vars = BTreeMap::new();
        while let Some((key, after)) = rest.trim_start().split_once('=') {
            let (value, tail) = match after.strip_prefix('\'') {
                Some(quoted) => quoted.split_once('\'').unwrap(),
                None => after.split_once(' ').unwrap_or((after, "")),
            };
            vars.insert(key.to_string(), value.to_string());
            rest = tail;
        }
        hosts.insert(name.to_string(), vars);
    }
    hosts
}

#[test]
fn three_hosts_answer_system_ssh_with_distinct_hostnames_and_no_python_needs_docker() {
    let hosts = ContainerHosts::start(3).unwrap();
    let lab_name = hosts.lab().name().to_string();
    let inventory = std::fs::read_to_string(hosts.inventory_path()).unwrap();
    let entries = inventory_hosts(&inventory);
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        ["host1", "host2", "host3"],
        "{inventory}"
    );
    assert!(
        inventory.contains("\n[lab]\nhost1\nhost2\nhost3\n"),
        "{inventory}"
    );

    let mut seen = BTreeSet::new();
    for (name, vars) in &entries {
        let started = hosts.hosts().iter().find(|h| &h.name == name).unwrap();
        assert_eq!(vars["ansible_host"], started.ip.to_string());
        assert_eq!(vars["ansible_user"], "root");
        let out = Command::new("ssh")
            .args(["-i", &vars["ansible_ssh_private_key_file"]])
            .args(vars["ansible_ssh_common_args"].split_whitespace())
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"])
            .arg(format!("{}@{}", vars["ansible_user"], vars["ansible_host"]))
            .arg(
                "hostname; if [ -e /usr/bin/python3 ]; then echo python3; else echo no-python3; fi",
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ssh to {name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines, [name.as_str(), "no-python3"], "on {name}");
        seen.insert(lines[0].to_string());
    }
    assert_eq!(seen.len(), 3, "hostnames {seen:?}");

    // accept-new recorded each host's key in the lab's own known_hosts.
    // (Debian's client hashes the names, so ask ssh-keygen to look them up.)
    let known_hosts = hosts.lab().known_hosts_path();
    for h in hosts.hosts() {
        let found = Command::new("ssh-keygen")
            .args(["-F", &h.ip.to_string(), "-f"])
            .arg(&known_hosts)
            .output()
            .unwrap();
        assert!(
            found.status.success(),
            "{} not in {}",
            h.ip,
            known_hosts.display()
        );
    }
    // Out of band, the same host answers as itself.
    let out = hosts.exec("host2", "hostname").unwrap();
    assert_eq!((out.rc, out.stdout_str().trim()), (0, "host2"));

    assert_eq!(labelled_leftovers(&lab_name).len(), 4);
    drop(hosts);
    assert_eq!(labelled_leftovers(&lab_name), Vec::<String>::new());
}

#[test]
fn hosts_have_their_own_host_keys_and_groups_reach_the_inventory_needs_docker() {
    let hosts = ContainerHosts::start_hosts(vec![
        HostSpec::new("master1").in_groups(&["masters", "zookeeper"]),
        HostSpec::new("slave1").in_groups(&["slaves"]),
    ])
    .unwrap();
    let inventory = std::fs::read_to_string(hosts.inventory_path()).unwrap();
    assert!(inventory.contains("\n[masters]\nmaster1\n"), "{inventory}");
    assert!(
        inventory.contains("\n[zookeeper]\nmaster1\n"),
        "{inventory}"
    );
    assert!(inventory.contains("\n[slaves]\nslave1\n"), "{inventory}");

    let key_of = |host: &str| {
        let out = hosts
            .exec(host, "cat /etc/ssh/ssh_host_ed25519_key.pub")
            .unwrap();
        assert_eq!(out.rc, 0, "{}", out.stderr_str());
        out.stdout_str()
    };
    assert_ne!(key_of("master1"), key_of("slave1"));
    // Hosts find each other by name on the lab network (cluster roles address peers by name).
    let out = hosts.exec("slave1", "getent hosts master1").unwrap();
    let master_ip = hosts.lab().host("master1").unwrap().ip.to_string();
    assert!(
        out.stdout_str().starts_with(&master_ip),
        "{}",
        out.stdout_str()
    );
}

#[test]
fn apt_in_a_container_installs_from_the_debian_mirror_needs_docker() {
    let hosts = ContainerHosts::start(1).unwrap();
    let out = hosts
        .exec(
            "host1",
            "apt-get update -q && DEBIAN_FRONTEND=noninteractive \
             apt-get install -q -y --no-install-recommends tree && tree -d /etc/ssh",
        )
        .unwrap();
    assert_eq!(out.rc, 0, "{}{}", out.stdout_str(), out.stderr_str());
    assert!(
        out.stdout_str().contains("sshd_config.d"),
        "{}",
        out.stdout_str()
    );
}

#[test]
fn a_failed_start_removes_what_it_created_needs_docker() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("fail{}", std::process::id());
    let mut spec = LabSpec::new(&name, dir.path(), "rmesos/testhost:no-such-tag");
    spec.hosts = vec![HostSpec::new("a"), HostSpec::new("b")];
    let err = Lab::up(&spec).unwrap_err().to_string();
    assert!(err.contains("no-such-tag"), "{err}");
    assert_eq!(labelled_leftovers(&name), Vec::<String>::new());
}

#[test]
fn the_image_is_built_at_most_once_for_parallel_callers_needs_docker() {
    let recipe = rmesos::lab::Recipe::from_host().unwrap();
    let images: Vec<_> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| s.spawn(|| rmesos::lab::ensure_image(&recipe).unwrap()))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(images.iter().all(|i| i.tag == recipe.tag()), "{images:?}");
    let builds = images.iter().filter(|i| i.build_time.is_some()).count();
    assert!(builds <= 1, "{images:?}");
    // Same recipe, no rebuild.
    let again = rmesos::lab::ensure_image(&recipe).unwrap();
    assert_eq!(again.build_time, None);
}

#[test]
fn labs_of_dead_test_processes_are_swept_on_start_needs_docker() {
    // No process has this pid (above Linux's pid_max), as if a killed test had left its lab.
    let orphan = "t4000000000-0-0";
    let label = format!("{LAB_LABEL}={orphan}");
    let network = format!("rmesos-{orphan}");
    let created = Command::new("docker")
        .args(["network", "create", "--label", &label, &network])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");

    let _hosts = ContainerHosts::start(1).unwrap();
    assert_eq!(labelled_leftovers(orphan), Vec::<String>::new());
}
