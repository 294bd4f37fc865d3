//! The Mesos stack (roles/, playbooks/, inventory/static) rendered by the real engine for the
//! example inventory. Mesos, Marathon and Hadoop cannot be downloaded here, so instead of a
//! deploy, `rmesos play --check --diff --tags config` runs the playbooks with every host on the
//! local connection: check mode writes nothing, and each template's or copy's diff carries the
//! exact file the role would write, which is compared byte for byte with
//! tests/fixtures/golden/<host>/<path>. Run with RMESOS_BLESS_GOLDEN=1 to rewrite the golden
//! files after an intended change (and review the git diff).
//!
//! Check mode only reads this machine: nothing is written outside the test's own temp dirs.
//! The common and docker roles are left out: what they would write depends on this machine
//! (its mounts, its /etc/hosts), not on the inventory; tests/lab.rs runs them for real.

#[path = "support/json_events.rs"]
mod json_events;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const INVENTORY: &str = "inventory/static/hosts.ini";
const MASTERS: [&str; 3] = ["master1", "master2", "master3"];
const SLAVES: [&str; 3] = ["slave1", "slave2", "slave3"];
const ZK_MEMBERS: &str = "10.0.1.11:2181,10.0.1.12:2181,10.0.1.13:2181";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rmesos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmesos"))
        .current_dir(repo())
        .env_remove("ANSIBLE_ROLES_PATH")
        .env_remove("ANSIBLE_CONFIG")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What a check-mode run would write: per host, files (path -> content) and directories, and
/// the JAVA_HOME of each Java major version the java role found (or would install).
#[derive(Default)]
struct Rendered {
    files: BTreeMap<String, BTreeMap<String, String>>,
    dirs: BTreeMap<String, BTreeSet<String>>,
    java_homes: BTreeMap<String, BTreeMap<String, String>>,
}

impl Rendered {
    fn file(&self, host: &str, path: &str) -> &str {
        self.files
            .get(host)
            .and_then(|f| f.get(path))
            .unwrap_or_else(|| panic!("{} would not get {}", host, path))
    }

    /// `KEY="value"` lines of an environment file.
    fn env(&self, host: &str, path: &str) -> BTreeMap<String, String> {
        self.file(host, path)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect()
    }
}

/// Runs the playbooks in check mode on local-connection hosts and collects the diffs.
fn render_with(playbooks: &[&str], extra: &[&str]) -> Rendered {
    render_inventory(INVENTORY, playbooks, extra)
}

/// [`render_with`] for another inventory. The agents' cgroup flags are rendered for a
/// cgroup-v2-only host (what this machine has must not change the golden files).
fn render_inventory(inventory: &str, playbooks: &[&str], extra: &[&str]) -> Rendered {
    let mut args: Vec<&str> = vec!["play"];
    args.extend(playbooks);
    args.extend([
        "-e",
        "mesos_slave_cgroups=v2",
        "-i",
        inventory,
        "--check",
        "--diff",
        "--output",
        "json",
        "--tags",
        "config",
        "--skip-tags",
        "common,docker",
        "-e",
        "ansible_connection=local",
        "-e",
        "ansible_become=false",
    ]);
    for e in extra {
        args.extend(["-e", e]);
    }
    let out = rmesos(&args);
    assert!(out.status.success(), "{}", text(&out));
    let mut r = Rendered::default();
    for ev in json_events::check_stream(&String::from_utf8_lossy(&out.stdout)) {
        if ev["event"] != "host_result" {
            continue;
        }
        assert_ne!(ev["status"], "failed", "{}", ev);
        let host = ev["host"].as_str().unwrap().to_string();
        let result = &ev["result"];
        if let Some(homes) = result["ansible_facts"]["java_homes"].as_object() {
            let known = r.java_homes.entry(host.clone()).or_default();
            for (major, home) in homes {
                known.insert(major.clone(), home.as_str().unwrap().to_string());
            }
        }
        // file reports the state it ensures, whether or not this machine has the path.
        if result["state"] == "directory" {
            let path = result["path"].as_str().unwrap().to_string();
            r.dirs.entry(host.clone()).or_default().insert(path);
        }
        // copy and template report the checksum of what they write, the diff its text.
        if result.get("checksum").is_some() {
            for d in ev["diff"].as_array().into_iter().flatten() {
                let path = d["path"].as_str().unwrap().to_string();
                let after = d["after"].as_str().unwrap().to_string();
                r.files.entry(host.clone()).or_default().insert(path, after);
            }
        }
    }
    r
}

fn rendered() -> &'static Rendered {
    static R: OnceLock<Rendered> = OnceLock::new();
    R.get_or_init(|| {
        render_with(
            &[
                "playbooks/mesos.yml",
                "playbooks/hdfs.yml",
                "playbooks/spark.yml",
            ],
            &[],
        )
    })
}

fn golden_dir() -> PathBuf {
    repo().join("tests/fixtures/golden")
}

/// Every file under `dir`, relative to it.
fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, base, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().to_string();
            out.insert(rel, p);
        }
    }
}

/// The golden tree: `<host>/<absolute path>` for each file, `<host>/directories.txt` for the
/// directories the host would get.
fn expected_tree(r: &Rendered) -> BTreeMap<String, String> {
    let mut tree = BTreeMap::new();
    for (host, files) in &r.files {
        for (path, content) in files {
            tree.insert(format!("{}{}", host, path), content.clone());
        }
    }
    for (host, dirs) in &r.dirs {
        let list: String = dirs.iter().map(|d| format!("{}\n", d)).collect();
        tree.insert(format!("{}/directories.txt", host), list);
    }
    tree
}

#[test]
fn rendered_configuration_matches_the_golden_files() {
    let tree = expected_tree(rendered());
    let golden = golden_dir();
    if std::env::var_os("RMESOS_BLESS_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        for (rel, content) in &tree {
            let p = golden.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
        }
    }
    let mut on_disk = BTreeMap::new();
    walk(&golden, &golden, &mut on_disk);
    let rendered_names: BTreeSet<&String> = tree.keys().collect();
    let golden_names: BTreeSet<&String> = on_disk.keys().collect();
    assert_eq!(
        rendered_names, golden_names,
        "the files the roles would write differ from tests/fixtures/golden"
    );
    for (rel, content) in &tree {
        let want = std::fs::read_to_string(&on_disk[rel]).unwrap();
        assert!(
            *content == want,
            "{} differs from its golden file\n--- golden\n{}\n--- rendered\n{}",
            rel,
            want,
            content
        );
    }
}

#[test]
fn every_host_gets_only_its_own_daemons_settings() {
    let r = rendered();
    for m in MASTERS {
        let files: Vec<&str> = r.files[m].keys().map(String::as_str).collect();
        assert!(
            files.contains(&"/etc/mesos/mesos-master.env"),
            "{:?}",
            files
        );
        assert!(files.contains(&"/etc/marathon/marathon.env"), "{:?}", files);
        assert!(
            !files.contains(&"/etc/mesos/mesos-slave.env"),
            "{:?}",
            files
        );
    }
    for s in SLAVES {
        let files: Vec<&str> = r.files[s].keys().map(String::as_str).collect();
        assert!(files.contains(&"/etc/mesos/mesos-slave.env"), "{:?}", files);
        assert!(
            !files.contains(&"/etc/mesos/mesos-master.env"),
            "{:?}",
            files
        );
        assert!(
            !files.contains(&"/etc/marathon/marathon.env"),
            "{:?}",
            files
        );
    }
}

#[test]
fn masters_have_quorum_2_and_the_zk_url_of_all_three_members() {
    let r = rendered();
    let zk = format!("zk://{}/mesos", ZK_MEMBERS);
    for (i, m) in MASTERS.iter().enumerate() {
        let env = r.env(m, "/etc/mesos/mesos-master.env");
        assert_eq!(env["MESOS_QUORUM"], "2");
        assert_eq!(env["MESOS_ZK"], zk);
        assert_eq!(env["MESOS_CLUSTER"], "example");
        assert_eq!(env["MESOS_IP"], format!("10.0.1.1{}", i + 1));
        assert_eq!(env["MESOS_WORK_DIR"], "/mnt/mesos/master");
        assert_eq!(r.file(m, "/etc/mesos/zk"), format!("{}\n", zk));
    }
}

#[test]
fn quorum_is_a_majority_of_the_masters() {
    // The example has 3 masters (quorum 2, checked above); inventories of 1 and 5 masters.
    let dir = tempfile::tempdir().unwrap();
    for (masters, quorum) in [(1, "1"), (5, "3")] {
        let inv = dir.path().join(format!("hosts{}.ini", masters));
        let mut s = String::from("[mesos-master]\n");
        for i in 1..=masters {
            s += &format!("m{} private_ipv4=10.9.0.{}\n", i, i);
        }
        s += "[mesos-slave]\n[zookeeper:children]\nmesos-master\n";
        std::fs::write(&inv, s).unwrap();
        let out = rmesos(&[
            "play",
            "playbooks/mesos.yml",
            "-i",
            inv.to_str().unwrap(),
            "--check",
            "--diff",
            "--output",
            "json",
            "--tags",
            "mesos-master",
            "--skip-tags",
            "service",
            "-l",
            "m1",
            "-e",
            "ansible_connection=local",
            "-e",
            "ansible_become=false",
            // `--tags mesos-master` installs Mesos too, which needs a source (check mode
            // does not read it).
            "-e",
            "mesos_tarball_path=/nonexistent/mesos.tar.gz",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        json_events::check_stream(&stdout);
        let want = format!("MESOS_QUORUM=\\\"{}\\\"", quorum);
        assert!(
            stdout.contains(&want),
            "{} masters: no {} in\n{}",
            masters,
            want,
            stdout
        );
    }
}

#[test]
fn slaves_find_the_masters_through_zookeeper_and_offer_a_port_range() {
    let r = rendered();
    for (i, s) in SLAVES.iter().enumerate() {
        let env = r.env(s, "/etc/mesos/mesos-slave.env");
        assert_eq!(env["MESOS_MASTER"], format!("zk://{}/mesos", ZK_MEMBERS));
        assert_eq!(env["MESOS_CONTAINERIZERS"], "mesos,docker");
        assert_eq!(env["MESOS_RESOURCES"], "ports:[31000-32000]");
        assert_eq!(env["MESOS_IP"], format!("10.0.1.2{}", i + 1));
        assert_eq!(env["MESOS_WORK_DIR"], "/mnt/mesos/slave");
        let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][i];
        assert_eq!(env["MESOS_ATTRIBUTES"], format!("zone:{}", zone));
        assert!(r.dirs[*s].contains("/mnt/mesos/slave"));
    }
}

#[test]
fn marathon_uses_the_mesos_zk_url_and_its_own_zk_path() {
    let r = rendered();
    for (i, m) in MASTERS.iter().enumerate() {
        let opts = &r.env(m, "/etc/marathon/marathon.env")["MARATHON_OPTS"];
        let want = format!(
            "--master zk://{z}/mesos --zk zk://{z}/marathon --hostname 10.0.1.1{n}",
            z = ZK_MEMBERS,
            n = i + 1
        );
        assert!(opts.starts_with(&want), "{}", opts);
    }
}

/// Where the spark role puts its configuration for the default pyspark distribution.
const SPARK_CONF: &str = "/opt/spark/pyspark-3.5.3/deps/conf";

/// `key value` lines of spark-defaults.conf.
fn spark_defaults(r: &Rendered, host: &str) -> BTreeMap<String, String> {
    r.file(host, &format!("{SPARK_CONF}/spark-defaults.conf"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(char::is_whitespace).unwrap();
            (k.to_string(), v.trim().to_string())
        })
        .collect()
}

#[test]
fn zookeeper_members_get_ids_1_to_3_and_one_server_line_each() {
    let r = rendered();
    for (i, m) in MASTERS.iter().enumerate() {
        assert_eq!(
            r.file(m, "/etc/zookeeper/conf/myid"),
            format!("{}\n", i + 1),
            "{m}"
        );
        let cfg = r.file(m, "/etc/zookeeper/conf/zoo.cfg");
        let servers: Vec<&str> = cfg.lines().filter(|l| l.starts_with("server.")).collect();
        assert_eq!(
            servers,
            [
                "server.1=10.0.1.11:2888:3888",
                "server.2=10.0.1.12:2888:3888",
                "server.3=10.0.1.13:2888:3888",
            ],
            "{m}: {cfg}"
        );
        assert!(cfg.contains("\nclientPort=2181\n"), "{cfg}");
        assert!(cfg.contains("\ndataDir=/var/lib/zookeeper\n"), "{cfg}");
    }
    // The ensemble is the masters: slaves get no ZooKeeper.
    for s in SLAVES {
        assert!(
            !r.files[s].keys().any(|p| p.contains("zookeeper")),
            "{s}: {:?}",
            r.files[s].keys()
        );
    }
}

#[test]
fn spark_standalone_points_every_host_at_the_first_master() {
    let r = rendered();
    for h in MASTERS.iter().chain(SLAVES.iter()) {
        let defaults = spark_defaults(r, h);
        assert_eq!(defaults["spark.master"], "spark://10.0.1.11:7077", "{h}");
        assert!(!defaults.contains_key("spark.mesos.executor.home"), "{h}");
        let env = r.file(h, &format!("{SPARK_CONF}/spark-env.sh"));
        assert!(!env.contains("MESOS_NATIVE_JAVA_LIBRARY"), "{h}: {env}");
    }
    // The master daemon on master1 only, a worker on each slave, registering with master1.
    assert!(r.files["master1"].contains_key("/etc/init.d/spark-master"));
    for m in ["master2", "master3"] {
        assert!(!r.files[m].contains_key("/etc/init.d/spark-master"), "{m}");
        assert!(!r.files[m].contains_key("/etc/init.d/spark-worker"), "{m}");
    }
    for (i, s) in SLAVES.iter().enumerate() {
        let env = r.file(s, &format!("{SPARK_CONF}/spark-env.sh"));
        assert!(
            env.contains(&format!("export SPARK_LOCAL_IP=10.0.1.2{}\n", i + 1)),
            "{env}"
        );
        // Scratch space on both ephemeral disks.
        assert!(
            env.contains("export SPARK_LOCAL_DIRS=/mnt/spark,/mnt2/spark\n"),
            "{env}"
        );
        let init = r.file(s, "/etc/init.d/spark-worker");
        assert!(init.contains("spark://10.0.1.11:7077"), "{init}");
        assert!(!r.files[*s].contains_key("/etc/init.d/spark-master"));
    }
}

#[test]
fn spark_on_mesos_finds_the_masters_through_zookeeper_and_runs_no_daemons() {
    let r = render_with(&["playbooks/spark.yml"], &["spark_mode=mesos"]);
    let url = format!("mesos://zk://{}/mesos", ZK_MEMBERS);
    for h in MASTERS.iter().chain(SLAVES.iter()) {
        let defaults = spark_defaults(&r, h);
        assert_eq!(defaults["spark.master"], url, "{h}");
        assert_eq!(
            defaults["spark.mesos.executor.home"], "/opt/spark/pyspark-3.5.3/deps",
            "{h}"
        );
        let env = r.file(h, &format!("{SPARK_CONF}/spark-env.sh"));
        assert!(
            env.contains("\nexport MESOS_NATIVE_JAVA_LIBRARY=/opt/mesos/lib/libmesos.so\n"),
            "{h}: {env}"
        );
        for daemon in ["/etc/init.d/spark-master", "/etc/init.d/spark-worker"] {
            assert!(!r.files[*h].contains_key(daemon), "{h} would get {daemon}");
        }
    }
}

#[test]
fn hdfs_namenode_is_on_the_first_master_and_data_on_the_ephemeral_disks() {
    let r = rendered();
    for h in MASTERS.iter().chain(SLAVES.iter()) {
        let core = r.file(h, "/etc/hadoop/core-site.xml");
        assert!(
            core.contains("<value>hdfs://10.0.1.11:9000</value>"),
            "{}",
            core
        );
        let site = r.file(h, "/etc/hadoop/hdfs-site.xml");
        assert!(site.contains("<value>3</value>"), "replication 3: {}", site);
    }
    assert!(r.dirs["master1"].contains("/mnt/hdfs/name"));
    for m in ["master2", "master3"] {
        assert!(!r.dirs[m].contains("/mnt/hdfs/name"), "{:?}", r.dirs[m]);
    }
    for s in SLAVES {
        let site = r.file(s, "/etc/hadoop/hdfs-site.xml");
        assert!(
            site.contains("<value>file:///mnt/hdfs/data,file:///mnt2/hdfs/data</value>"),
            "{}",
            site
        );
        for d in ["/mnt/hdfs/data", "/mnt2/hdfs/data"] {
            assert!(r.dirs[s].contains(d), "{} lacks {}: {:?}", s, d, r.dirs[s]);
        }
        assert!(!r.dirs[s].contains("/mnt/hdfs/name"));
    }
}

#[test]
fn persistent_hdfs_stores_on_the_ebs_volume() {
    let r = render_with(&["playbooks/hdfs.yml"], &["hdfs_persistent=true"]);
    let site = r.file("slave1", "/etc/hadoop/hdfs-site.xml");
    assert!(
        site.contains("<value>file:///vol/hdfs/data</value>"),
        "{}",
        site
    );
    assert!(r.dirs["slave1"].contains("/vol/hdfs/data"));
    assert!(r.dirs["master1"].contains("/vol/hdfs/name"));
    assert!(!r.dirs["slave1"].iter().any(|d| d.starts_with("/mnt")));
}

#[test]
fn every_playbook_passes_the_syntax_check() {
    for pb in [
        "playbooks/mesos.yml",
        "playbooks/hdfs.yml",
        "playbooks/spark.yml",
        "playbooks/site.yml",
    ] {
        let out = rmesos(&["play", pb, "-i", INVENTORY, "--syntax-check"]);
        assert!(out.status.success(), "{}: {}", pb, text(&out));
        assert!(out.stderr.is_empty(), "{}: warnings: {}", pb, text(&out));
    }
}

/// `rmesos play playbooks/site.yml --list-tasks ARGS`'s listing (no warnings allowed).
fn list_tasks(args: &[&str]) -> String {
    let mut all = vec![
        "play",
        "playbooks/site.yml",
        "-i",
        INVENTORY,
        "--list-tasks",
    ];
    all.extend(args);
    let out = rmesos(&all);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "warnings: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn list_tasks_shows_each_role_with_its_tags() {
    let listing = list_tasks(&[]);
    for (task, tags) in [
        ("mesos : Install the Mesos package", "install"),
        ("mesos-master : Write the master's settings", "mesos-master"),
        ("mesos-slave : Write the slave's settings", "mesos-slave"),
        ("marathon : Unpack Marathon", "install"),
        ("hdfs : Format the namenode (first deploy only)", "service"),
    ] {
        let line = listing
            .lines()
            .find(|l| l.trim_start().starts_with(task))
            .unwrap_or_else(|| panic!("no task {:?} in\n{}", task, listing));
        assert!(line.contains(tags), "{}", line);
    }
    // Every task of these roles carries its role's name and one of install/config/service.
    for line in listing.lines().filter(|l| l.contains("\tTAGS: [")) {
        let Some((name, tags)) = line.trim().split_once("\tTAGS: [") else {
            continue;
        };
        let Some((role, _)) = name.split_once(" : ") else {
            continue;
        };
        if !["mesos", "mesos-master", "mesos-slave", "marathon", "hdfs"].contains(&role) {
            continue;
        }
        let tags: Vec<&str> = tags.trim_end_matches(']').split(", ").collect();
        assert!(tags.contains(&role), "{}", line);
        assert!(
            tags.iter()
                .any(|t| ["install", "config", "service"].contains(t)),
            "{}",
            line
        );
    }
}

// --- every playbook of the repo: ports, paths, tags ---

/// The playbooks of the repo (playbooks/*.yml).
fn all_playbooks() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(repo().join("playbooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .map(|n| format!("playbooks/{n}"))
        .collect();
    out.sort();
    assert!(out.len() >= 5, "{out:?}");
    out
}

/// An inventory with dedicated ZooKeeper nodes (`rmesos ec2 launch --zookeepers 3`'s layout),
/// beside the example's ZooKeeper-on-the-masters.
fn dedicated_zookeeper_inventory(dir: &Path) -> String {
    let mut s = String::from("[mesos-master]\n");
    for i in 1..=3 {
        s += &format!("m{i} private_ipv4=10.8.0.1{i}\n");
    }
    s += "[mesos-slave]\n";
    for i in 1..=2 {
        s += &format!("s{i} private_ipv4=10.8.0.2{i}\n");
    }
    s += "[zookeeper]\n";
    for i in 1..=3 {
        s += &format!("z{i} private_ipv4=10.8.0.3{i}\n");
    }
    let path = dir.join("dedicated-zk.ini");
    std::fs::write(&path, s).unwrap();
    path.to_str().unwrap().to_string()
}

/// `<name>NAME</name><value>V</value>` of a Hadoop XML file.
fn xml_property(xml: &str, name: &str) -> Option<String> {
    let at = xml.find(&format!("<name>{name}</name>"))?;
    let rest = &xml[at..];
    let start = rest.find("<value>")? + "<value>".len();
    let end = rest.find("</value>")?;
    Some(rest[start..end].to_string())
}

/// The port at the end of `host:port` or `scheme://host:port`.
fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// The value after `flag` in a command line.
fn flag_value<'a>(line: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

/// Every TCP port a daemon on `host` would listen on, by the configuration rendered for it
/// (a setting left out counts as the daemon's own default, such as ZooKeeper's AdminServer
/// on 8080).
fn listeners(r: &Rendered, host: &str) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    let Some(files) = r.files.get(host) else {
        return out;
    };
    let none = BTreeSet::new();
    let dirs = r.dirs.get(host).unwrap_or(&none);
    for (path, text) in files {
        let env = || r.env(host, path);
        match path.as_str() {
            "/etc/mesos/mesos-master.env" => {
                out.push((env()["MESOS_PORT"].parse().unwrap(), "mesos-master".into()));
            }
            "/etc/mesos/mesos-slave.env" => {
                let env = env();
                out.push((env["MESOS_PORT"].parse().unwrap(), "mesos-agent".into()));
                let ports = env["MESOS_RESOURCES"].split("ports:[").nth(1).unwrap();
                let (a, b) = ports.trim_end_matches(']').split_once('-').unwrap();
                let (a, b): (u16, u16) = (a.parse().unwrap(), b.parse().unwrap());
                out.extend((a..=b).map(|p| (p, "mesos task ports".to_string())));
            }
            "/etc/marathon/marathon.env" => {
                let opts = &env()["MARATHON_OPTS"];
                let port = flag_value(opts, "--http_port").unwrap();
                out.push((port.parse().unwrap(), "marathon".into()));
            }
            "/etc/init.d/spark-master" | "/etc/init.d/spark-worker" => {
                let args = text.lines().find(|l| l.starts_with("ARGS=")).unwrap();
                let who = path.trim_start_matches("/etc/init.d/");
                for flag in ["--port", "--webui-port"] {
                    if let Some(p) = flag_value(args.trim_matches('"'), flag) {
                        out.push((
                            p.trim_matches('"').parse().unwrap(),
                            format!("{who} {flag}"),
                        ));
                    }
                }
            }
            p if p.ends_with("/zoo.cfg") => {
                let get = |k: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(&format!("{k}=")))
                        .map(str::to_string)
                };
                out.push((
                    get("clientPort").unwrap().parse().unwrap(),
                    "zookeeper".into(),
                ));
                let myid_path = p.replace("zoo.cfg", "myid");
                let myid = files
                    .get(&myid_path)
                    .or_else(|| files.get("/var/lib/zookeeper/myid"))
                    .unwrap()
                    .trim()
                    .to_string();
                let server = get(&format!("server.{myid}")).unwrap();
                let mut parts = server.split(':').skip(1);
                for what in ["zookeeper peer", "zookeeper election"] {
                    out.push((parts.next().unwrap().parse().unwrap(), what.into()));
                }
                if get("admin.enableServer").as_deref() != Some("false") {
                    let port = get("admin.serverPort").unwrap_or_else(|| "8080".into());
                    out.push((port.parse().unwrap(), "zookeeper admin server".into()));
                }
            }
            "/etc/hadoop/hdfs-site.xml" => {
                if dirs.iter().any(|d| d.ends_with("/hdfs/name")) {
                    let core = &files["/etc/hadoop/core-site.xml"];
                    let rpc = xml_property(core, "fs.defaultFS").unwrap();
                    out.push((port_of(&rpc), "namenode rpc".into()));
                    let http = xml_property(text, "dfs.namenode.http-address").unwrap();
                    out.push((port_of(&http), "namenode http".into()));
                }
                if dirs.iter().any(|d| d.ends_with("/hdfs/data")) {
                    for (name, default) in [
                        ("dfs.datanode.address", "0.0.0.0:9866"),
                        ("dfs.datanode.http.address", "0.0.0.0:9864"),
                        ("dfs.datanode.ipc.address", "0.0.0.0:9867"),
                    ] {
                        let addr = xml_property(text, name).unwrap_or_else(|| default.into());
                        out.push((port_of(&addr), name.into()));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn no_playbook_binds_a_port_twice_on_a_host() {
    let dir = tempfile::tempdir().unwrap();
    let dedicated = dedicated_zookeeper_inventory(dir.path());
    let mut checked = 0;
    for inventory in [INVENTORY, dedicated.as_str()] {
        for playbook in all_playbooks() {
            let r = render_inventory(inventory, &[&playbook], &[]);
            for host in r.files.keys() {
                let mut by_port: BTreeMap<u16, Vec<String>> = BTreeMap::new();
                for (port, who) in listeners(&r, host) {
                    by_port.entry(port).or_default().push(who);
                    checked += 1;
                }
                for (port, who) in by_port {
                    assert!(
                        who.len() == 1,
                        "{playbook} with {inventory}: {host} would bind port {port} for {who:?}"
                    );
                }
            }
        }
    }
    // Not vacuous: the site playbook alone binds thousands (the agents' task port range).
    assert!(checked > 3000, "{checked}");
}

#[test]
fn the_port_check_sees_a_clash() {
    // Spark's master UI on Marathon's port, and ZooKeeper's AdminServer left on its default.
    let r = render_with(
        &["playbooks/site.yml"],
        &["spark_master_ui_port=8080", "zookeeper_admin_port=8080"],
    );
    let ports: Vec<(u16, String)> = listeners(&r, "master1")
        .into_iter()
        .filter(|(p, _)| *p == 8080)
        .collect();
    assert_eq!(ports.len(), 3, "{ports:?}");
}

/// The Java homes a host's configuration files name, with the major version each must be.
fn java_homes_named(r: &Rendered, host: &str) -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    let files = &r.files[host];
    for (path, text) in files {
        let env = || r.env(host, path);
        match path.as_str() {
            "/etc/hadoop/hdfs.env" => out.push((path.clone(), "17", env()["JAVA_HOME"].clone())),
            "/etc/marathon/marathon.env" => {
                let env = env();
                let home = env["JAVA_HOME"].clone();
                assert!(
                    env["PATH"].starts_with(&format!("{home}/bin:")),
                    "{host}: {env:?}"
                );
                out.push((path.clone(), "8", home));
            }
            p if p.ends_with("/environment") && p.contains("zookeeper") => {
                let env = env();
                let home = env["JAVA_HOME"].clone();
                assert_eq!(env["JAVA"], format!("{home}/bin/java"), "{host}");
                out.push((path.clone(), "17", home));
            }
            p if p.ends_with("/spark-env.sh") || p == "/etc/profile.d/rmesos-java.sh" => {
                let home = text
                    .lines()
                    .find_map(|l| l.strip_prefix("export JAVA_HOME="))
                    .unwrap()
                    .to_string();
                out.push((path.clone(), "17", home));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_path_a_configuration_names_is_one_the_roles_create_or_install() {
    let r = rendered();
    let mut checked = 0;
    for host in MASTERS.iter().chain(SLAVES.iter()) {
        let dirs = &r.dirs[*host];
        let homes = &r.java_homes[*host];
        // JAVA_HOME: what the java role found on the host (or, on a host without that Java
        // yet, where its install puts it), for the major version the component runs on.
        for (file, major, home) in java_homes_named(r, host) {
            assert_eq!(Some(&home), homes.get(major), "{host}: {file}");
            let installed = Path::new(&home).join("bin/java").exists();
            let planned = home.starts_with(&format!("/usr/lib/jvm/java-{major}-openjdk-"))
                || home.starts_with("/opt/java/");
            assert!(installed || planned, "{host}: {file}: JAVA_HOME {home}");
            assert_ne!(home, "/usr/lib/jvm/default-java", "{host}: {file}");
            checked += 1;
        }
        // Data directories: each one the roles create (file: state=directory).
        let mut data: Vec<(String, String)> = Vec::new();
        let files = &r.files[*host];
        for (path, key) in [
            ("/etc/mesos/mesos-master.env", "MESOS_WORK_DIR"),
            ("/etc/mesos/mesos-master.env", "MESOS_LOG_DIR"),
            ("/etc/mesos/mesos-slave.env", "MESOS_WORK_DIR"),
            ("/etc/mesos/mesos-slave.env", "MESOS_LOG_DIR"),
            ("/etc/hadoop/hdfs.env", "HADOOP_LOG_DIR"),
        ] {
            if files.contains_key(path) {
                data.push((format!("{path} {key}"), r.env(host, path)[key].clone()));
            }
        }
        if let Some(cfg) = files.get("/etc/zookeeper/conf/zoo.cfg") {
            let d = cfg
                .lines()
                .find_map(|l| l.strip_prefix("dataDir="))
                .unwrap();
            data.push(("zoo.cfg dataDir".into(), d.to_string()));
        }
        let site = &files["/etc/hadoop/hdfs-site.xml"];
        let core = &files["/etc/hadoop/core-site.xml"];
        data.push((
            "hadoop.tmp.dir".into(),
            xml_property(core, "hadoop.tmp.dir").unwrap(),
        ));
        let name_dir = xml_property(site, "dfs.namenode.name.dir").unwrap();
        let name_dir = name_dir.trim_start_matches("file://");
        if *host == "master1" {
            data.push(("dfs.namenode.name.dir".into(), name_dir.to_string()));
        }
        if host.starts_with("slave") {
            for d in xml_property(site, "dfs.datanode.data.dir")
                .unwrap()
                .split(',')
            {
                data.push((
                    "dfs.datanode.data.dir".into(),
                    d.trim_start_matches("file://").into(),
                ));
            }
        }
        let spark_env = &files[&format!("{SPARK_CONF}/spark-env.sh")];
        for key in ["SPARK_LOCAL_DIRS", "SPARK_LOG_DIR", "SPARK_PID_DIR"] {
            let v = spark_env
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {key}=")))
                .unwrap();
            for d in v.split(',') {
                data.push((key.into(), d.to_string()));
            }
        }
        if let Some(init) = files.get("/etc/init.d/spark-worker") {
            let args = init.lines().find(|l| l.starts_with("ARGS=")).unwrap();
            let work = flag_value(args, "--work-dir").unwrap();
            data.push(("spark worker --work-dir".into(), work.to_string()));
        }
        for (what, d) in data {
            assert!(
                dirs.contains(&d),
                "{host}: {what} {d} is not created: {dirs:?}"
            );
            checked += 1;
        }
        // libmesos follows the install method: the tarball's tree, which the mesos role
        // links at /opt/mesos ("Point /opt/mesos at this version").
        if let Some(env) = files.get("/etc/marathon/marathon.env") {
            assert!(
                env.contains("MESOS_NATIVE_JAVA_LIBRARY=\"/opt/mesos/lib/libmesos.so\""),
                "{host}: {env}"
            );
        }
    }
    assert!(checked > 60, "{checked}");
    // A package install has libmesos where the package puts it, for Marathon and Spark.
    let pkg = render_with(
        &["playbooks/mesos.yml", "playbooks/spark.yml"],
        &["mesos_install_method=package", "spark_mode=mesos"],
    );
    let marathon = pkg.env("master1", "/etc/marathon/marathon.env");
    assert_eq!(
        marathon["MESOS_NATIVE_JAVA_LIBRARY"],
        "/usr/lib/libmesos.so"
    );
}

/// `rmesos play playbooks/site.yml --list-tasks --tags TAG`: the roles whose tasks it lists,
/// leaving out the `always` tasks that every selection lists (the platform check, the java
/// role's discovery of JAVA_HOME).
fn roles_listed(tag: &str) -> BTreeSet<String> {
    list_tasks(&["--tags", tag])
        .lines()
        .filter(|l| l.contains("\tTAGS: [") && !l.contains("always"))
        .filter_map(|l| l.trim().split_once(" : ").map(|(role, _)| role.to_string()))
        .collect()
}

#[test]
fn each_role_tag_lists_the_tasks_of_the_dependencies_it_needs() {
    // (tag, roles whose tasks must be listed, roles whose tasks must not be).
    let cases: [(&str, &[&str], &[&str]); 8] = [
        ("common", &["common"], &["java", "mesos"]),
        ("docker", &["docker"], &["mesos", "java"]),
        ("zookeeper", &["zookeeper", "java"], &["mesos", "spark"]),
        (
            "mesos-master",
            &["mesos-master", "mesos"],
            &["mesos-slave", "marathon", "zookeeper"],
        ),
        (
            "mesos-slave",
            &["mesos-slave", "mesos"],
            &["mesos-master", "marathon"],
        ),
        (
            "marathon",
            &["marathon", "mesos", "java"],
            &["mesos-master", "mesos-slave"],
        ),
        ("hdfs", &["hdfs", "java"], &["spark", "mesos"]),
        ("spark", &["spark", "java"], &["hdfs", "mesos"]),
    ];
    for (tag, wanted, unwanted) in cases {
        let roles = roles_listed(tag);
        for w in wanted {
            assert!(
                roles.contains(*w),
                "--tags {tag} lists no {w} task: {roles:?}"
            );
        }
        for u in unwanted {
            assert!(
                !roles.contains(*u),
                "--tags {tag} lists {u} tasks: {roles:?}"
            );
        }
    }
}

#[test]
fn without_a_mesos_source_the_mesos_role_stops_and_says_what_to_set() {
    let out = rmesos(&[
        "play",
        "playbooks/mesos.yml",
        "-i",
        INVENTORY,
        "--check",
        "--tags",
        "mesos-slave",
        "-l",
        "slave1",
        "-e",
        "ansible_connection=local",
        "-e",
        "ansible_become=false",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("No Mesos source is configured"), "{all}");
    assert!(all.contains("mesos_tarball_path="), "{all}");
    assert!(all.contains("scripts/build-mesos"), "{all}");
    // Nothing after the check ran on the host.
    assert!(!all.contains("Write the slave's settings"), "{all}");
}
