//! `rmesos lab`: the README's quick start for real. One lab (3 masters, 2 slaves) for the
//! whole file, because a deploy installs Java, ZooKeeper and Spark: up, deploy, check the
//! ZooKeeper ensemble and the SparkPi run from this machine, deploy again (nothing changes),
//! partial runs by tag, down. Needs Docker (and root the first time, to build the image).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rmesos::lab::{LAB_LABEL, list_members, remove_lab};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run in `dir` (where the lab keeps `.rmesos/lab/NAME`). A copy taken when the
/// test starts: the test runs for minutes, and builds sharing the target directory may
/// replace the original meanwhile.
fn rmesos(dir: &Path, args: &[&str]) -> Output {
    let copy = dir.join("rmesos-under-test");
    if !copy.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_rmesos"), &copy).unwrap();
    }
    // Another test thread that forks while the copy is being written holds it open for
    // writing until its child execs: exec then fails with ETXTBSY for a moment. Retry.
    for _ in 0..100 {
        match Command::new(&copy).args(args).current_dir(dir).output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other.unwrap(),
        }
    }
    panic!("{} stayed busy (ETXTBSY) for 5 s", copy.display());
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Removes the lab however the test ends.
struct LabGuard(String);

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = remove_lab(&self.0) {
            eprintln!("removing lab {}: {e}", self.0);
        }
    }
}

/// One deploy's JSON events, grouped the way the assertions read them.
struct Deploy {
    events: Vec<Value>,
    took: Duration,
}

impl Deploy {
    /// `rmesos lab deploy` in `dir`, which is not a checkout: it runs the stack the binary
    /// carries (written to .rmesos/lab/NAME/stack).
    fn run(dir: &Path, lab: &str, extra: &[&str]) -> Deploy {
        let mut args = vec!["lab", "deploy", "--name", lab, "--output", "json"];
        args.extend(extra);
        Deploy::run_args(dir, &args, &format!("deploy {extra:?}"))
    }

    /// `rmesos ARGS` (ending in `--output json`), which must succeed with no failed task.
    fn run_args(dir: &Path, args: &[&str], what: &str) -> Deploy {
        let started = Instant::now();
        let out = rmesos(dir, args);
        let took = started.elapsed();
        let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let failures: Vec<&Value> = events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["status"] == "failed")
            .collect();
        assert!(
            out.status.success() && failures.is_empty(),
            "{what} failed ({}): {failures:#?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{what}: {:.1}s", took.as_secs_f64());
        Deploy { events, took }
    }

    /// (task location, host, status) of every host result, each under the task it belongs to.
    fn results(&self) -> Vec<(String, String, String)> {
        let mut location = String::new();
        let mut out = Vec::new();
        for e in &self.events {
            match e["event"].as_str() {
                Some("task_start") => location = e["location"].as_str().unwrap().to_string(),
                Some("host_result") => out.push((
                    location.clone(),
                    e["host"].as_str().unwrap().to_string(),
                    e["status"].as_str().unwrap().to_string(),
                )),
                _ => {}
            }
        }
        out
    }

    /// Names of the tasks that started (fact gathering aside).
    fn task_names(&self) -> BTreeSet<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "task_start")
            .map(|e| e["name"].as_str().unwrap().to_string())
            .filter(|n| n != "Gathering Facts")
            .collect()
    }

    fn recap(&self) -> BTreeMap<String, Value> {
        let recap = self
            .events
            .iter()
            .rfind(|e| e["event"] == "recap")
            .expect("a recap event");
        recap["stats"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(h, s)| (h.clone(), s.clone()))
            .collect()
    }

    /// The statuses of the task whose name ends with `name` on `host` (one per loop item).
    fn results_of(&self, name: &str, host: &str) -> Vec<String> {
        let statuses: Vec<String> = self
            .results_named()
            .into_iter()
            .filter(|(task, h, _)| task.ends_with(name) && h == host)
            .map(|(_, _, status)| status)
            .collect();
        assert!(!statuses.is_empty(), "no result of `{name}` on {host}");
        statuses
    }

    /// (task name, host, status) of every host result.
    fn results_named(&self) -> Vec<(String, String, String)> {
        let mut name = String::new();
        let mut out = Vec::new();
        for e in &self.events {
            match e["event"].as_str() {
                Some("task_start") => name = e["name"].as_str().unwrap().to_string(),
                Some("host_result") => out.push((
                    name.clone(),
                    e["host"].as_str().unwrap().to_string(),
                    e["status"].as_str().unwrap().to_string(),
                )),
                _ => {}
            }
        }
        out
    }

    /// The result of the task whose name ends with `name` on `host`.
    fn result_of(&self, name: &str, host: &str) -> Value {
        let mut current = String::new();
        for e in &self.events {
            match e["event"].as_str() {
                Some("task_start") => current = e["name"].as_str().unwrap().to_string(),
                Some("host_result") if current.ends_with(name) && e["host"] == host => {
                    return e["result"].clone();
                }
                _ => {}
            }
        }
        panic!("no result of `{name}` on {host}");
    }
}

/// (task name, host).
type TaskOnHost<'a> = (&'a str, &'a str);
/// A playbook run with --check on the lab: its extra variables, then the tasks whose result
/// must be `ok` (deployed for real) and those that must be `changed` (new here).
type CheckRun<'a> = (
    &'a str,
    Vec<&'a str>,
    &'a [TaskOnHost<'a>],
    &'a [TaskOnHost<'a>],
);

/// Sends a ZooKeeper four-letter word from this machine and returns the answer.
fn four_letter_word(ip: &str, word: &str) -> String {
    let addr: SocketAddr = format!("{ip}:2181").parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(word.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// GET over plain HTTP/1.0 from this machine; returns the body.
fn http_get(ip: &str, port: u16, path: &str) -> String {
    let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

fn in_role(location: &str, role: &str) -> bool {
    location.contains(&format!("roles/{role}/"))
}

#[test]
fn lab_up_deploy_runs_a_zookeeper_ensemble_and_sparkpi_then_down_needs_docker() {
    let dir = tempfile::tempdir().unwrap();
    // `t<pid>-…`: the lab fixture sweeps such labs if this process dies without cleaning up.
    let lab = format!("t{}-0-stack", std::process::id());
    let _guard = LabGuard(lab.clone());

    let started = Instant::now();
    let out = rmesos(dir.path(), &["lab", "up", "--name", &lab]);
    assert!(out.status.success(), "{}", text(&out));
    eprintln!("lab up: {:.1}s", started.elapsed().as_secs_f64());
    let inventory = std::fs::read_to_string(
        dir.path()
            .join(".rmesos/lab")
            .join(&lab)
            .join("inventory.ini"),
    )
    .unwrap();
    assert!(
        inventory.contains("\n[mesos-master]\nmaster1\nmaster2\nmaster3\n"),
        "{inventory}"
    );
    assert!(
        inventory.contains("\n[zookeeper]\nmaster1\nmaster2\nmaster3\n"),
        "{inventory}"
    );
    assert!(
        inventory.contains("\n[mesos-slave]\nslave1\nslave2\n"),
        "{inventory}"
    );
    let ips: BTreeMap<String, String> = list_members(Some(&lab))
        .unwrap()
        .into_iter()
        .map(|m| (m.host, m.ip.unwrap().to_string()))
        .collect();
    assert_eq!(ips.len(), 5, "{ips:?}");
    let status = rmesos(dir.path(), &["lab", "status", "--name", &lab]);
    assert!(
        text(&status).contains(&format!("http://{}:8090/", ips["master1"])),
        "{}",
        text(&status)
    );

    // --- the first deploy installs everything, from the stack the binary carries ---
    let first = Deploy::run(dir.path(), &lab, &[]);
    let stack = dir.path().join(".rmesos/lab").join(&lab).join("stack");
    assert!(stack.join("playbooks/lab.yml").is_file());
    assert!(
        stack
            .join("playbooks/roles/zookeeper/tasks/main.yml")
            .is_file()
    );

    // ZooKeeper: one leader and two followers, asked from this machine.
    let mut modes = Vec::new();
    for m in ["master1", "master2", "master3"] {
        let srvr = four_letter_word(&ips[m], "srvr");
        let mode = srvr
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .unwrap_or_else(|| panic!("{m}: {srvr}"))
            .to_string();
        modes.push(mode);
    }
    modes.sort();
    assert_eq!(modes, ["follower", "follower", "leader"]);

    // Spark: both workers registered, SparkPi ran to the end on the cluster.
    let state: Value = serde_json::from_str(&http_get(&ips["master1"], 8090, "/json/")).unwrap();
    let alive = state["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["state"] == "ALIVE")
        .count();
    assert_eq!(alive, 2, "{state:#}");
    let pi = first.result_of("Run SparkPi on the cluster", "master1");
    let stdout = pi["stdout"].as_str().unwrap();
    let estimate: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Pi is roughly "))
        .unwrap_or_else(|| panic!("no SparkPi result in {pi:#}"))
        .trim()
        .parse()
        .unwrap();
    // A Monte Carlo estimate: close to pi, not equal to it.
    assert!((estimate - std::f64::consts::PI).abs() < 0.05, "{estimate}");
    assert_eq!(pi["rc"], 0);
    // Docker cannot run in these containers: the role says so rather than failing.
    let skip = first.result_of(
        "Skip Docker on this host (a container without what an engine needs)",
        "slave1",
    );
    assert!(
        skip["msg"].as_str().unwrap().contains("cannot run"),
        "{skip:#}"
    );

    // --- JAVA_HOME: every configuration that names one, and login shells, on every host ---
    java_homes_exist(dir.path(), &lab, &ips);

    // --- the second deploy finds everything in place ---
    let second = Deploy::run(dir.path(), &lab, &[]);
    let recap = second.recap();
    assert_eq!(recap.len(), 5, "{recap:?}");
    for (host, stats) in &recap {
        assert_eq!(stats["changed"], 0, "{host}: {stats}");
        assert_eq!(stats["failed"], 0, "{host}: {stats}");
    }
    let changed: Vec<_> = second
        .results()
        .into_iter()
        .filter(|(_, _, status)| status == "changed")
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");

    // --- --tags zookeeper runs the zookeeper role's tasks only, on the ensemble only ---
    let zk = Deploy::run(dir.path(), &lab, &["--tags", "zookeeper"]);
    let ran = zk.results();
    let tasks: BTreeSet<&str> = ran
        .iter()
        .filter(|(loc, _, _)| !loc.is_empty())
        .map(|(loc, _, _)| loc.as_str())
        .collect();
    // The zookeeper role and what it needs: the platform check, the java role (Java 17).
    let outside: Vec<&&str> = tasks
        .iter()
        .filter(|loc| {
            !["zookeeper", "java", "platform"]
                .iter()
                .any(|r| in_role(loc, r))
                && !loc.contains("playbooks/lab.yml")
        })
        .collect();
    assert!(
        outside.is_empty(),
        "tasks outside the role ran: {outside:?}"
    );
    assert!(
        zk.task_names()
            .iter()
            .any(|n| n.ends_with("Write zoo.cfg (one server line per ensemble member)")),
        "{:?}",
        zk.task_names()
    );
    let zk_hosts: BTreeSet<&str> = ran
        .iter()
        .filter(|(loc, _, _)| in_role(loc, "zookeeper"))
        .map(|(_, h, _)| h.as_str())
        .collect();
    assert_eq!(zk_hosts, BTreeSet::from(["master1", "master2", "master3"]));
    assert!(zk.recap().values().all(|s| s["changed"] == 0));

    // --- --skip-tags install: configuration and services only ---
    let no_install = Deploy::run(dir.path(), &lab, &["--skip-tags", "install"]);
    let names = no_install.task_names();
    for install_task in [
        "Install base packages",
        "Install OpenJDK 17",
        "Install ZooKeeper from the distribution's packages",
        "Install Python for PySpark jobs",
        "Download Spark on the controller",
        "Unpack Spark",
    ] {
        assert!(
            !names.iter().any(|n| n.ends_with(install_task)),
            "`{install_task}` ran: {names:?}"
        );
    }
    for kept in [
        "Write zoo.cfg (one server line per ensemble member)",
        "Write spark-env.sh",
        "Run SparkPi on the cluster",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(kept)),
            "`{kept}` did not run: {names:?}"
        );
    }
    assert!(no_install.recap().values().all(|s| s["changed"] == 0));
    eprintln!(
        "timings: first deploy {:.0}s, second {:.0}s, --tags zookeeper {:.0}s, --skip-tags install {:.0}s",
        first.took.as_secs_f64(),
        second.took.as_secs_f64(),
        zk.took.as_secs_f64(),
        no_install.took.as_secs_f64()
    );

    // --- a service that is down when its health check runs fails its host with its log ---
    zookeeper_down_fails_with_its_log(dir.path(), &lab, &stack);

    // --- Mesos, Marathon and HDFS: their artifacts cannot be downloaded here, so their
    // playbooks run in check mode on the deployed hosts, and must pass without a failure.
    // Debian has no Mesos package: an operator without a Mesos repository points the tarball
    // method at a mirror. The mirror URLs are on each host's loopback, where nothing listens,
    // so a download that check mode should not attempt fails rather than leave the machine.
    let inventory = dir
        .path()
        .join(".rmesos/lab")
        .join(&lab)
        .join("inventory.ini");
    let inventory = inventory.to_str().unwrap();
    let mirror = "http://127.0.0.1:9/mirror";
    let mesos_url = format!("mesos_tarball_url={mirror}/mesos-1.11.0.tar.gz");
    let marathon_url = format!("marathon_tarball_url={mirror}/marathon-1.4.13.tgz");
    let hadoop_url = format!("hdfs_tarball_url={mirror}/hadoop-3.3.6.tar.gz");
    // Per playbook: its variables, tasks deployed for real (unchanged), tasks that are new
    // (they would change).
    let checks: [CheckRun; 2] = [
        (
            "playbooks/mesos.yml",
            vec!["mesos_install_method=tarball", &mesos_url, &marathon_url],
            &[
                ("Install base packages", "slave1"),
                (
                    "Write zoo.cfg (one server line per ensemble member)",
                    "master1",
                ),
            ],
            &[
                ("Write the master's settings", "master2"),
                ("Write the slave's settings", "slave2"),
                ("Write Marathon's settings", "master3"),
            ],
        ),
        (
            "playbooks/hdfs.yml",
            vec![&hadoop_url],
            &[],
            &[("Write the Hadoop configuration", "slave1")],
        ),
    ];
    for (playbook, vars, unchanged, would_change) in checks {
        let playbook = repo().join(playbook);
        let mut args = vec![
            "play",
            playbook.to_str().unwrap(),
            "-i",
            inventory,
            "--check",
        ];
        for v in &vars {
            args.extend(["-e", v]);
        }
        args.extend(["--output", "json"]);
        let what = format!("{} --check", playbook.display());
        let check = Deploy::run_args(dir.path(), &args, &what);
        assert_eq!(check.recap().len(), 5, "{what}: {:?}", check.recap());
        for (task, host) in unchanged {
            let r = check.results_of(task, host);
            assert!(r.iter().all(|s| s == "ok"), "{task} on {host}: {r:?}");
        }
        for (task, host) in would_change {
            let r = check.results_of(task, host);
            assert!(r.iter().any(|s| s == "changed"), "{task} on {host}: {r:?}");
        }
    }
    // Check mode wrote nothing.
    for (host, path) in [
        ("master2", "/etc/mesos"),
        ("slave2", "/etc/mesos"),
        ("master3", "/etc/marathon"),
        ("slave1", "/etc/hadoop"),
        ("master1", "/opt/hadoop"),
    ] {
        let out = rmesos(
            dir.path(),
            &[
                "lab", "ssh", host, "--name", &lab, "--", "test", "!", "-e", path,
            ],
        );
        assert!(out.status.success(), "check mode created {path} on {host}");
    }

    // --- down removes the containers, the network and the lab's directory ---
    let out = rmesos(dir.path(), &["lab", "down", "--name", &lab]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(list_members(Some(&lab)).unwrap().is_empty());
    let networks = Command::new("docker")
        .args([
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label={LAB_LABEL}={lab}"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&networks.stdout).trim(), "");
    assert!(!dir.path().join(".rmesos/lab").join(&lab).exists());
}

/// Runs `script` on a lab host as root; returns its stdout (it must succeed).
fn on_host(dir: &Path, lab: &str, host: &str, script: &str) -> String {
    let out = rmesos(dir, &["lab", "ssh", host, "--name", lab, "--", script]);
    assert!(out.status.success(), "{host}: {script}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every JAVA_HOME a deployed configuration names is a JDK (bin/java runs), on every host of
/// every role, and login shells get JAVA_HOME, SPARK_HOME and the Spark commands.
fn java_homes_exist(dir: &Path, lab: &str, ips: &BTreeMap<String, String>) {
    let script = r#"set -e
for f in /etc/zookeeper/conf/environment /opt/spark/*/deps/conf/spark-env.sh /etc/hadoop/hdfs.env /etc/marathon/marathon.env; do
  [ -f "$f" ] || continue
  h=$(sed -n 's/^\(export \)\{0,1\}JAVA_HOME="\{0,1\}\([^"]*\)"\{0,1\}$/\2/p' "$f")
  "$h/bin/java" -version 2>&1 | head -n 1 | sed "s|^|$f $h |"
done
bash -lc 'echo "login $JAVA_HOME $SPARK_HOME $(command -v spark-submit)"; "$JAVA_HOME/bin/java" -version 2>&1 | head -n 1'
"#;
    for host in ips.keys() {
        let out = on_host(dir, lab, host, script);
        let lines: Vec<&str> = out.lines().collect();
        let named = |file: &str| {
            lines
                .iter()
                .any(|l| l.starts_with(file) && l.contains("version \"17"))
        };
        // ZooKeeper on the masters, Spark on master1 and the slaves: each on a real Java 17.
        if host.starts_with("master") {
            assert!(named("/etc/zookeeper/conf/environment"), "{host}: {out}");
        }
        if host == "master1" || host.starts_with("slave") {
            assert!(named("/opt/spark/"), "{host}: {out}");
        }
        let login = lines.iter().find(|l| l.starts_with("login ")).unwrap();
        let words: Vec<&str> = login.split_whitespace().collect();
        assert!(
            words
                .get(1)
                .is_some_and(|h| h.starts_with("/usr/lib/jvm/java-17-openjdk-")),
            "{host}: login shells get no JAVA_HOME: {out}"
        );
        if host == "master1" || host.starts_with("slave") {
            assert!(
                words.len() == 4 && words[3].ends_with("/bin/spark-submit"),
                "{host}: login shells get no SPARK_HOME or spark-submit: {out}"
            );
        }
        assert!(out.contains("version \"17"), "{host}: {out}");
    }
}

/// ZooKeeper stopped on master2, then the role run from its health check on (as if the
/// member had died right after its start): master2 fails, with ZooKeeper's own last log lines
/// in the message. A deploy of the role brings the member back.
fn zookeeper_down_fails_with_its_log(dir: &Path, lab: &str, stack: &Path) {
    // Wait until the port is closed; end the member if the init script's stop did not (the
    // pattern `quorum[.]QuorumPeerMain` does not match this script's own command line).
    let how = on_host(
        dir,
        lab,
        "master2",
        "service zookeeper stop >/tmp/zk-stop.log 2>&1; bash -c 'for i in $(seq 40); do \
           [ $i = 15 ] && { echo killed; pkill -f \"quorum[.]QuorumPeerMain\"; }; \
           (exec 3<>/dev/tcp/127.0.0.1/2181) 2>/dev/null || { echo stopped; exit 0; }; \
           sleep 1; done; ps -ef; exit 1'",
    );
    eprintln!("zookeeper on master2: {}", how.trim());
    let inventory = dir.join(".rmesos/lab").join(lab).join("inventory.ini");
    let playbook = stack.join("playbooks/lab.yml");
    let out = rmesos(
        dir,
        &[
            "play",
            playbook.to_str().unwrap(),
            "-i",
            inventory.to_str().unwrap(),
            "--tags",
            "zookeeper",
            "-l",
            "master2",
            "--start-at-task",
            "Wait until this member is the ensemble's leader or a follower",
            "-e",
            "zookeeper_health_retries=3",
            "-e",
            "zookeeper_health_delay=1",
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let failed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "host_result" && e["status"] == "failed")
        .collect();
    let last = failed
        .last()
        .unwrap_or_else(|| panic!("no failure: {}", text(&out)));
    assert_eq!(last["host"], "master2");
    let msg = last["msg"].as_str().unwrap();
    assert!(
        msg.contains("ZooKeeper on master2 did not join the ensemble"),
        "{msg}"
    );
    // ZooKeeper's log section: Debian's ZooKeeper 3.8 package writes no log file on these
    // hosts (no logging backend on its class path), so the rescue says so instead of lines.
    let with_lines = msg.contains("== /var/log/zookeeper/") && msg.lines().count() > 5;
    assert!(
        with_lines || msg.contains("(no log in /var/log/zookeeper)"),
        "{msg}"
    );
    eprintln!("health check failure on master2: {msg}");
    // The rescue ran the health check's own failure: the recap counts master2 failed.
    // Without -l: zoo.cfg names every member by its facts, which a limited run does not gather.
    let back = Deploy::run(dir, lab, &["--tags", "zookeeper"]);
    assert_eq!(back.results_of("Start ZooKeeper", "master2"), ["changed"]);
}

/// `rmesos lab up --docker`: hosts that can run a Docker engine of their own (not privileged:
/// this machine's engine refuses that). The docker role installs Debian's docker.io, and
/// `docker run` of an image made from the host's own files prints its output.
#[test]
fn lab_up_docker_runs_the_docker_role_for_real_needs_docker() {
    let dir = tempfile::tempdir().unwrap();
    let lab = format!("t{}-1-docker", std::process::id());
    let _guard = LabGuard(lab.clone());
    let out = rmesos(
        dir.path(),
        &[
            "lab",
            "up",
            "--name",
            &lab,
            "--masters",
            "1",
            "--slaves",
            "1",
            "--docker",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let deploy = Deploy::run(dir.path(), &lab, &["--tags", "common,docker"]);
    for host in ["master1", "slave1"] {
        let shown = deploy.result_of("Show the container's output", host);
        assert_eq!(
            shown["msg"],
            format!("docker run works on {host}"),
            "{host}: {shown:#}"
        );
        let info = on_host(
            dir.path(),
            &lab,
            host,
            "docker info --format '{{.Driver}} {{.ServerVersion}}'",
        );
        assert!(info.starts_with("vfs "), "{host}: {info}");
    }
    // Again: nothing to change, the container still runs.
    let again = Deploy::run(dir.path(), &lab, &["--tags", "common,docker"]);
    for (host, stats) in again.recap() {
        assert_eq!(stats["changed"], 0, "{host}: {stats}");
    }
    eprintln!(
        "docker lab: first deploy {:.0}s, second {:.0}s",
        deploy.took.as_secs_f64(),
        again.took.as_secs_f64()
    );
    let out = rmesos(dir.path(), &["lab", "down", "--name", &lab]);
    assert!(out.status.success(), "{}", text(&out));
}
