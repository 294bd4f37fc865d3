//! Whole plays through the real `rmesos` binary over SSH, against real OpenSSH servers
//! (loopback hosts from src/testbed/loopback.rs, container hosts from src/lab). Results are
//! read from `--output json`, from the files the plays write and from sshd's logs. Tests whose
//! names end in `_needs_root` create users and start sshd; `_needs_docker` ones start
//! containers.
//!
//! The binary is `CARGO_BIN_EXE_rmesos`, or `RMESOS_BIN` when set (the build directory may be
//! shared with other checkouts that overwrite the uplifted binary).

#[path = "support/json_events.rs"]
mod json_events;
#[path = "support/process.rs"]
mod process;

use rmesos::lab::{ContainerHosts, HostSpec};
use rmesos::testbed::loopback::{
    self, LoopbackSshd, SUDO_USER, SshdOptions, TEST_USER, ensure_sudo_user, loopback_addrs,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ssh_site/site.yml"
);
const PLAY_DEADLINE: Duration = Duration::from_secs(60);

fn rmesos() -> PathBuf {
    std::env::var_os("RMESOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rmesos")))
}

/// One finished `rmesos play --output json`.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    events: Vec<Value>,
}

impl Run {
    fn recap_event(&self) -> &Value {
        self.events
            .iter()
            .find(|e| e["event"] == "recap")
            .unwrap_or_else(|| panic!("no recap:\n{}", self.dump()))
    }

    fn recap(&self) -> &serde_json::Map<String, Value> {
        self.recap_event()["stats"]
            .as_object()
            .unwrap_or_else(|| panic!("no stats in the recap:\n{}", self.dump()))
    }

    /// Scripts run and SSH sessions opened on `host` (the recap's `wire`).
    fn wire(&self, host: &str) -> (u64, u64) {
        let w = &self.recap_event()["wire"][host];
        match (w["scripts"].as_u64(), w["sessions"].as_u64()) {
            (Some(s), Some(n)) => (s, n),
            _ => panic!("no wire figures for {host}:\n{}", self.dump()),
        }
    }

    fn stat(&self, host: &str, key: &str) -> u64 {
        self.recap()
            .get(host)
            .and_then(|s| s[key].as_u64())
            .unwrap_or_else(|| panic!("no {key} for {host} in the recap:\n{}", self.dump()))
    }

    /// One host_result per host for the task (or handler) named `task`, with or without its
    /// `role : ` prefix (a loop's summary, not its items), in order.
    fn results(&self, task: &str) -> Vec<&Value> {
        let mut current = None;
        let mut out = Vec::new();
        for e in &self.events {
            match e["event"].as_str() {
                Some("task_start") => current = e["name"].as_str(),
                Some("host_result")
                    if current.is_some_and(|c| c == task || c.ends_with(&format!(" : {task}")))
                        && e["item"].is_null() =>
                {
                    out.push(e)
                }
                _ => {}
            }
        }
        out
    }

    /// The one result of `task` on `host`.
    fn result(&self, task: &str, host: &str) -> &Value {
        let found: Vec<_> = self
            .results(task)
            .into_iter()
            .filter(|e| e["host"] == host)
            .collect();
        assert_eq!(found.len(), 1, "{task} on {host}:\n{}", self.dump());
        found[0]
    }

    fn play_hosts(&self) -> Vec<Vec<String>> {
        self.events
            .iter()
            .filter(|e| e["event"] == "play_start")
            .map(|e| {
                e["hosts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect()
            })
            .collect()
    }

    fn dump(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A scratch directory for one test: inventory, playbooks, ansible.cfg (the run's working
/// directory) and a `work` directory every test user may write.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("rmesos-play-ssh-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Scratch { dir };
        std::fs::create_dir(s.work()).unwrap();
        // Shared by the login users of the loopback hosts (and root for local runs).
        std::fs::set_permissions(s.work(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts `rmesos play --output json PLAYBOOK -i INVENTORY ARGS...` in this directory.
    fn start(&self, playbook: &Path, inventory: &Path, args: &[&str]) -> Child {
        let mut cmd = Command::new(rmesos());
        cmd.arg("play")
            .arg(playbook)
            .arg("-i")
            .arg(inventory)
            .args(["--output", "json"])
            .args(args)
            .current_dir(self.path());
        process::isolated(&mut cmd).spawn().unwrap()
    }

    fn play(&self, playbook: &Path, inventory: &Path, args: &[&str]) -> Run {
        finish(self.start(playbook, inventory, args))
    }
}

/// Waits for the run (with a deadline: a hung run fails the test instead of hanging it),
/// reading its output meanwhile so a full pipe cannot stall it.
fn finish(mut child: Child) -> Run {
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + PLAY_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the play did not finish within {PLAY_DEADLINE:?}:\n{}",
                stdout.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap();
    // Every line is an event of docs/schema/events-v1.json.
    let events = json_events::check_stream(&stdout);
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: stderr.join().unwrap(),
        events,
    }
}

/// A port nothing listens on at `ip`, and an INI line for host `ghost` there, tried
/// `attempts` times.
fn ghost_host(ip: &str, attempts: u32, vars: &str) -> (u16, String) {
    let port = std::net::TcpListener::bind(format!("{ip}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let line = format!(
        "ghost ansible_host={ip} ansible_port={port} ansible_user={TEST_USER} \
         ansible_ssh_common_args='-o ConnectionAttempts={attempts}' {vars}\n"
    );
    (port, line)
}

/// An INI host line reaching `addr` on `sshd` as `user`, with the server's known_hosts.
fn ssh_host(name: &str, sshd: &LoopbackSshd, addr: Ipv4Addr, vars: &str) -> String {
    ssh_host_as(name, sshd, addr, TEST_USER, sshd.known_hosts(), vars)
}

fn ssh_host_as(
    name: &str,
    sshd: &LoopbackSshd,
    addr: Ipv4Addr,
    user: &str,
    known_hosts: &Path,
    vars: &str,
) -> String {
    format!(
        "{name} ansible_host={addr} ansible_port={port} ansible_user={user} \
         ansible_ssh_private_key_file={key} \
         ansible_ssh_common_args='-o UserKnownHostsFile={kh} -o ConnectionAttempts=1' {vars}\n",
        port = sshd.port(),
        key = sshd.client_key().display(),
        kh = known_hosts.display(),
    )
}

/// Path, kind, mode and content of every entry under `root` (owners differ between a local
/// run as root and a run as the SSH user, so they are left out).
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.is_dir() {
                stack.push(p.clone());
                format!("dir {mode:o}")
            } else {
                format!(
                    "file {mode:o} {}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

fn assert_same_tree(expected: &Path, actual: &Path) {
    let (want, got) = (tree(expected), tree(actual));
    assert!(!want.is_empty(), "nothing under {}", expected.display());
    let keys: Vec<_> = want.keys().chain(got.keys()).collect();
    for k in keys {
        assert_eq!(
            want.get(k),
            got.get(k),
            "{k}: {} vs {}",
            expected.display(),
            actual.display()
        );
    }
}

fn chown_to(user: &str, path: &Path) {
    let ok = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The site's hosts: `web` is the first half, `db` the rest; node ids 1..n.
fn site_inventory(names: &[String], line: impl Fn(usize, &str) -> String) -> String {
    let half = names.len().div_ceil(2);
    let mut text = String::from("[web]\n");
    for (i, n) in names.iter().enumerate() {
        if i == half {
            text.push_str("[db]\n");
        }
        text.push_str(&line(i, n));
    }
    text
}

fn local_site_run(scratch: &Scratch, names: &[String]) -> PathBuf {
    let inv = scratch.write(
        "local.ini",
        &site_inventory(names, |i, n| {
            format!("{n} node_id={} ansible_connection=local\n", i + 1)
        }),
    );
    let root = scratch.path().join("local");
    let run = scratch.play(
        Path::new(SITE),
        &inv,
        &["-e", &format!("site_root={}", root.display())],
    );
    assert_eq!(run.code, 0, "{}", run.dump());
    root
}

/// Every handler ran once per host that notified it, and wrote one line.
fn assert_handlers_once(run: &Run, names: &[String]) {
    let web = &names[..names.len().div_ceil(2)];
    for n in names {
        let restarts = run
            .results("record restart")
            .iter()
            .filter(|e| e["host"] == n.as_str())
            .count();
        assert_eq!(restarts, 1, "record restart on {n}:\n{}", run.dump());
        let reloads = run
            .results("reload web")
            .iter()
            .filter(|e| e["host"] == n.as_str())
            .count();
        assert_eq!(reloads, usize::from(web.contains(n)), "reload web on {n}");
    }
}

#[test]
fn site_on_eighteen_loopback_hosts_matches_the_local_run_and_converges_needs_root() {
    // 18 addresses: two sshd processes (16 addresses each at most).
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 61], 18)).unwrap();
    let scratch = Scratch::new();
    let names: Vec<String> = (1..=18).map(|i| format!("h{i:02}")).collect();
    let local = local_site_run(&scratch, &names);

    let inv = scratch.write(
        "ssh.ini",
        &site_inventory(&names, |i, n| {
            ssh_host(n, &sshd, sshd.addrs()[i], &format!("node_id={}", i + 1))
        }),
    );
    let remote = scratch.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    chown_to(TEST_USER, &remote);
    let root_arg = format!("site_root={}", remote.display());
    let first = scratch.play(Path::new(SITE), &inv, &["-e", &root_arg]);
    assert_eq!(first.code, 0, "{}", first.dump());
    assert_same_tree(&local, &remote);
    assert_handlers_once(&first, &names);
    assert_eq!(
        sshd.accepted_logins(),
        names.len(),
        "one SSH connection per host for the whole run"
    );

    let second = scratch.play(Path::new(SITE), &inv, &["-e", &root_arg]);
    assert_eq!(second.code, 0, "{}", second.dump());
    for n in &names {
        assert_eq!(second.stat(n, "changed"), 0, "{n}:\n{}", second.dump());
        assert!(second.stat(n, "ok") > 5);
    }
    assert_same_tree(&local, &remote);
}

#[test]
fn site_on_three_container_hosts_matches_the_local_run_and_converges_needs_docker() {
    let names: Vec<String> = (1..=3).map(|i| format!("host{i}")).collect();
    let hosts = ContainerHosts::start_hosts(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| HostSpec::new(n.clone()).in_groups(&[if i < 2 { "web" } else { "db" }]))
            .collect(),
    )
    .unwrap();
    let scratch = Scratch::new();
    let local = local_site_run(&scratch, &names);
    let mut inventory = std::fs::read_to_string(hosts.inventory_path()).unwrap();
    inventory.push_str("\n[nodes]\n");
    for (i, n) in names.iter().enumerate() {
        inventory.push_str(&format!("{n} node_id={}\n", i + 1));
    }
    let inv = scratch.write("lab.ini", &inventory);
    let args = ["-e", "site_root=/srv/site"];
    let first = scratch.play(Path::new(SITE), &inv, &args);
    assert_eq!(first.code, 0, "{}", first.dump());
    assert_handlers_once(&first, &names);
    for n in &names {
        // The host's tree, copied out of the container (not through rmesos).
        let tar = hosts.exec(n, "tar -C /srv/site -cf - .").unwrap();
        assert_eq!(tar.rc, 0, "{}", tar.stderr_str());
        let copy = scratch.path().join(format!("from-{n}"));
        std::fs::create_dir(&copy).unwrap();
        let mut untar = Command::new("tar")
            .arg("-C")
            .arg(&copy)
            .args(["-xpf", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut untar.stdin.take().unwrap(), &tar.stdout).unwrap();
        assert!(untar.wait().unwrap().success());
        assert_same_tree(&local.join(n), &copy.join(n));
        let hostname = hosts.exec(n, "hostname").unwrap();
        assert_eq!(
            hostname.stdout_str().trim(),
            n.as_str(),
            "a host of its own"
        );
    }
    let second = scratch.play(Path::new(SITE), &inv, &args);
    assert_eq!(second.code, 0, "{}", second.dump());
    for n in &names {
        assert_eq!(second.stat(n, "changed"), 0, "{n}:\n{}", second.dump());
    }
}

/// True while some process runs exactly `argv`.
fn process_running(argv: &[&str]) -> bool {
    let want = argv.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|p| std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
}

fn wait_for_process(argv: &[&str], play: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !process_running(argv) {
        assert!(Instant::now() < deadline, "{argv:?} never started");
        assert!(play.try_wait().unwrap().is_none(), "the play ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const NAP_THEN_ECHO: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: Nap
      command: sleep {{ nap }}
    - name: After
      command: echo after
";

#[test]
fn host_whose_sshd_dies_mid_play_is_unreachable_and_the_others_finish_needs_root() {
    let mut doomed = LoopbackSshd::start(loopback_addrs([127, 0, 62], 1)).unwrap();
    let healthy = LoopbackSshd::start(loopback_addrs([127, 0, 63], 3)).unwrap();
    let scratch = Scratch::new();
    let mut inv = ssh_host("doomed", &doomed, doomed.addrs()[0], "nap=3062");
    for (i, a) in healthy.addrs().iter().enumerate() {
        inv.push_str(&ssh_host(&format!("ok{i}"), &healthy, *a, "nap=1"));
    }
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write("nap.yml", NAP_THEN_ECHO);
    let mut play = scratch.start(&pb, &inv, &[]);
    wait_for_process(&["sleep", "3062"], &mut play);
    doomed.kill();
    let run = finish(play);
    assert_eq!(run.code, 4, "{}", run.dump());
    assert_eq!(run.stat("doomed", "unreachable"), 1, "{}", run.dump());
    assert_eq!(run.result("Nap", "doomed")["status"], "unreachable");
    assert!(run.results("After").iter().all(|e| e["host"] != "doomed"));
    for i in 0..3 {
        let h = format!("ok{i}");
        assert_eq!(run.stat(&h, "ok"), 2, "{}", run.dump());
        assert_eq!(run.stat(&h, "failed") + run.stat(&h, "unreachable"), 0);
        assert_eq!(run.result("After", &h)["result"]["stdout"], "after");
    }
}

#[test]
fn host_unreachable_from_the_start_leaves_the_others_running_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 64], 2)).unwrap();
    let scratch = Scratch::new();
    let (port, ghost) = ghost_host("127.0.64.9", 1, "nap=0");
    let mut inv = ghost;
    for (i, a) in sshd.addrs().iter().enumerate() {
        inv.push_str(&ssh_host(&format!("ok{i}"), &sshd, *a, "nap=0"));
    }
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write("nap.yml", NAP_THEN_ECHO);
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 4, "{}", run.dump());
    assert_eq!(run.stat("ghost", "unreachable"), 1);
    let msg = run.result("Nap", "ghost")["msg"].as_str().unwrap_or("");
    assert!(
        msg.contains("refused") && msg.contains(&format!("127.0.64.9]:{port}")),
        "{msg}"
    );
    for h in ["ok0", "ok1"] {
        assert_eq!(run.stat(h, "ok"), 2, "{}", run.dump());
    }
}

#[test]
fn command_hanging_past_its_timeout_fails_that_host_only_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 65], 3)).unwrap();
    let scratch = Scratch::new();
    let mut inv = String::new();
    for (i, a) in sshd.addrs().iter().enumerate() {
        let nap = if i == 0 { "nap=3065" } else { "nap=0" };
        inv.push_str(&ssh_host(&format!("h{i}"), &sshd, *a, nap));
    }
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write(
        "hang.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Nap\n      \
         command: sleep {{ nap }}\n      timeout: 1\n    - name: After\n      \
         command: echo after\n",
    );
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 2, "{}", run.dump());
    let hung = run.result("Nap", "h0");
    assert_eq!(hung["status"], "failed");
    let msg = hung["msg"].as_str().unwrap_or("").to_lowercase();
    assert!(
        msg.contains("timed out") || msg.contains("timeout"),
        "{msg}"
    );
    assert!(
        !process_running(&["sleep", "3065"]),
        "the command was stopped"
    );
    for h in ["h1", "h2"] {
        assert_eq!(run.stat(h, "ok"), 2, "{}", run.dump());
    }
}

#[test]
fn changed_host_key_is_refused_naming_the_known_hosts_line_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 66], 2)).unwrap();
    let scratch = Scratch::new();
    let old_key = scratch.path().join("old_host_key");
    loopback::keygen(&old_key, "previous-install", None).unwrap();
    let moved = sshd.addrs()[0];
    let stale = scratch.write(
        "stale_known_hosts",
        &format!(
            "# the host was reinstalled since\n[{moved}]:{} {}\n",
            sshd.port(),
            loopback::public_key_line(&old_key).unwrap()
        ),
    );
    let inv = ssh_host_as("moved", &sshd, moved, TEST_USER, &stale, "nap=0")
        + &ssh_host("same", &sshd, sshd.addrs()[1], "nap=0");
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write("nap.yml", NAP_THEN_ECHO);
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 4, "{}", run.dump());
    let msg = run.result("Nap", "moved")["msg"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        msg.contains(&format!("{}:2", stale.display())),
        "names file:line: {msg}"
    );
    assert_eq!(run.stat("same", "ok"), 2, "{}", run.dump());
    assert_eq!(sshd.accepted_logins(), 1, "no login on the changed host");
}

#[test]
fn bastion_reaches_hosts_that_are_not_reachable_directly_needs_root() {
    let hidden =
        LoopbackSshd::start_isolated(loopback_addrs([127, 0, 67], 2), SshdOptions::default())
            .unwrap();
    let bastion = hidden.bastion("127.0.68.1".parse().unwrap()).unwrap();
    assert!(
        std::net::TcpStream::connect((hidden.addrs()[0], hidden.port())).is_err(),
        "the hosts must not be reachable directly"
    );
    let scratch = Scratch::new();
    let known = scratch.write(
        "known_hosts",
        &format!(
            "{}\n{}",
            bastion.known_hosts_entry(),
            std::fs::read_to_string(hidden.known_hosts()).unwrap()
        ),
    );
    let mut inv = String::new();
    for (i, a) in hidden.addrs().iter().enumerate() {
        inv.push_str(&format!(
            "in{i} ansible_host={a} ansible_port={port} ansible_user={TEST_USER} \
             ansible_ssh_private_key_file={key} \
             ansible_ssh_common_args='-o ProxyJump={TEST_USER}@{b}:{bp} \
             -o UserKnownHostsFile={kh} -o IdentitiesOnly=yes'\n",
            port = hidden.port(),
            key = hidden.client_key().display(),
            b = bastion.addr(),
            bp = bastion.port(),
            kh = known.display(),
        ));
    }
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write(
        "where.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Where\n      \
         shell: echo $SSH_CONNECTION\n",
    );
    let run = scratch.play(&pb, &inv, &["-vvv"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    // -vvv names the jump host and that only the given key is offered.
    let jump = format!(
        "jump hosts: {TEST_USER}@{}:{}",
        bastion.addr(),
        bastion.port()
    );
    assert!(
        run.events.iter().any(|e| e["event"] == "verbose"
            && e["host"] == "in0"
            && e["msg"]
                .as_str()
                .is_some_and(|m| m.contains(&jump) && m.contains("(identities only)"))),
        "{}",
        run.dump()
    );
    for (i, a) in hidden.addrs().iter().enumerate() {
        let out = run.result("Where", &format!("in{i}"))["result"]["stdout"]
            .as_str()
            .unwrap_or("")
            .to_string();
        // SSH_CONNECTION = client-ip client-port server-ip server-port, as the host saw it.
        let fields: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(
            fields[2..],
            [a.to_string(), hidden.port().to_string()],
            "{out}"
        );
    }
    assert!(bastion.accepted_logins() >= 1);
    assert_eq!(hidden.accepted_logins(), 2);
}

#[test]
fn become_with_a_sudo_password_runs_as_root_and_never_shows_the_password_needs_root() {
    let user = ensure_sudo_user().unwrap();
    // DEBUG1: sshd logs each request of each channel (environment, exec).
    let sshd = LoopbackSshd::start_with(
        loopback_addrs([127, 0, 69], 2),
        SshdOptions {
            log_level: Some("DEBUG1".into()),
            ..SshdOptions::default()
        },
    )
    .unwrap();
    let scratch = Scratch::new();
    let flag = scratch.work().join("release");
    let mut inv = String::new();
    for (i, a) in sshd.addrs().iter().enumerate() {
        inv.push_str(&ssh_host_as(
            &format!("s{i}"),
            &sshd,
            *a,
            SUDO_USER,
            sshd.known_hosts(),
            &format!("ansible_become_password={}", user.password),
        ));
    }
    let inv = scratch.write("hosts.ini", &inv);
    // The task waits for a flag file, so the test can read every process's argv while sudo
    // and the escalated shell are alive.
    let pb = scratch.write(
        "become.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  become: true\n  tasks:\n    \
             - name: Who\n      shell: whoami; while [ ! -e {} ]; do sleep 0.05; done\n    \
             - name: Login user\n      command: whoami\n      become: false\n",
            flag.display()
        ),
    );
    let mut play = scratch.start(&pb, &inv, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sudo_seen = 0;
    while sudo_seen < 2 {
        assert!(Instant::now() < deadline, "sudo never ran on both hosts");
        assert!(play.try_wait().unwrap().is_none(), "the play ended early");
        sudo_seen = 0;
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline);
            assert!(!text.contains(&user.password), "password in argv: {text}");
            sudo_seen += usize::from(text.starts_with("sudo\0"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(&flag, "").unwrap();
    let run = finish(play);
    assert_eq!(run.code, 0, "{}", run.dump());
    for h in ["s0", "s1"] {
        assert_eq!(run.result("Who", h)["result"]["stdout"], "root");
        assert_eq!(run.result("Login user", h)["result"]["stdout"], SUDO_USER);
    }
    assert!(
        !run.stdout.contains(&user.password),
        "password in the JSON output"
    );
    assert!(!run.stderr.contains(&user.password), "password on stderr");
    let log = sshd.log_text();
    assert!(log.contains("req exec"), "sshd logged the requests: {log}");
    assert!(!log.contains(&user.password), "password in sshd's log");
}

/// `n` loopback hosts `h1`..`hn` on one sshd, with `vars` on every host line.
fn loopback_inventory(scratch: &Scratch, sshd: &LoopbackSshd, vars: &str) -> PathBuf {
    let mut inv = String::new();
    for (i, a) in sshd.addrs().iter().enumerate() {
        inv.push_str(&ssh_host(&format!("h{}", i + 1), sshd, *a, vars));
    }
    scratch.write("hosts.ini", &inv)
}

/// Nanoseconds since the epoch, as `date +%s%N` wrote them to `path`.
fn stamp(path: &Path) -> u128 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap()
}

fn stamps(dir: &Path, host: &str, what: &str) -> u128 {
    stamp(&dir.join(format!("{host}.{what}")))
}

#[test]
fn forks_bound_how_many_hosts_run_at_once_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 71], 6)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    let pb = scratch.write(
        "forks.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Busy\n      \
             shell: date +%s%N > {w}/{{{{ inventory_hostname }}}}.start; sleep 1; \
             date +%s%N > {w}/{{{{ inventory_hostname }}}}.end\n",
            w = scratch.work().display()
        ),
    );
    let run = scratch.play(&pb, &inv, &["--forks", "2"]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let w = scratch.work();
    let spans: Vec<(u128, u128)> = (1..=6)
        .map(|i| {
            let h = format!("h{i}");
            (stamps(&w, &h, "start"), stamps(&w, &h, "end"))
        })
        .collect();
    let most = spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most, 2, "at most two hosts at once: {spans:?}");
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    assert!(last - first >= 3_000_000_000, "three rounds of one second");
}

#[test]
fn strategy_free_lets_a_fast_host_finish_before_a_slow_one_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 72], 2)).unwrap();
    let scratch = Scratch::new();
    let mut inv = ssh_host("slow", &sshd, sshd.addrs()[0], "nap=2");
    inv.push_str(&ssh_host("fast", &sshd, sshd.addrs()[1], "nap=0"));
    let inv = scratch.write("hosts.ini", &inv);
    let mut pb = String::from("- hosts: all\n  gather_facts: false\n  strategy: free\n  tasks:\n");
    for t in 1..=3 {
        pb.push_str(&format!(
            "    - name: Step {t}\n      shell: sleep {{{{ nap }}}}; date +%s%N > \
             {w}/{{{{ inventory_hostname }}}}.{t}\n",
            w = scratch.work().display()
        ));
    }
    let pb = scratch.write("free.yml", &pb);
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let w = scratch.work();
    assert!(
        stamps(&w, "fast", "3") < stamps(&w, "slow", "1"),
        "fast finished its three steps before slow finished its first"
    );
}

#[test]
fn serial_by_percent_and_by_list_runs_the_play_in_batches_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 73], 5)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    let play = |name: &str, serial: &str| {
        format!(
            "- name: {name}\n  hosts: all\n  gather_facts: false\n  serial: {serial}\n  tasks:\n    \
             - name: Batch\n      copy:\n        content: \"{{{{ ansible_play_batch | join(',') }}}}\"\n        \
             dest: {w}/{name}.{{{{ inventory_hostname }}}}\n",
            w = scratch.work().display()
        )
    };
    let pb = scratch.write(
        "serial.yml",
        &(play("pct", "\"40%\"") + &play("list", "[1, 2]")),
    );
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    let batch_of = |play: &str, host: &str| {
        std::fs::read_to_string(scratch.work().join(format!("{play}.{host}"))).unwrap()
    };
    for (play, batches) in [
        ("pct", vec!["h1,h2", "h3,h4", "h5"]),
        ("list", vec!["h1", "h2,h3", "h4,h5"]),
    ] {
        for batch in batches {
            for host in batch.split(',') {
                assert_eq!(batch_of(play, host), batch, "{play} {host}");
            }
        }
    }
}

#[test]
fn run_once_and_delegate_to_localhost_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 74], 3)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    let w = scratch.work();
    let pb = scratch.write(
        "once.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    \
             - name: Once\n      shell: echo {{{{ inventory_hostname }}}} >> {w}/once; id -un\n      \
             run_once: true\n      register: once\n    \
             - name: Delegated\n      command: id -un\n      delegate_to: localhost\n      \
             register: here\n    \
             - name: Report\n      copy:\n        \
             content: \"{{{{ once.stdout }}}} {{{{ here.stdout }}}}\"\n        \
             dest: {w}/{{{{ inventory_hostname }}}}.report\n",
            w = w.display()
        ),
    );
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(std::fs::read_to_string(w.join("once")).unwrap(), "h1\n");
    for h in ["h1", "h2", "h3"] {
        // The run_once result is registered on every host; the delegated command ran here.
        let report = std::fs::read_to_string(w.join(format!("{h}.report"))).unwrap();
        assert_eq!(report, format!("{TEST_USER} root"), "{h}");
        assert_eq!(run.result("Delegated", h)["delegated_to"], "localhost");
    }
    assert_eq!(run.results("Once").len(), 1);
}

/// Hosts in `failing` fail the first task; every host that gets there touches `NAME.after`.
fn fail_some_play(scratch: &Scratch, name: &str, header: &str) -> PathBuf {
    scratch.write(
        &format!("{name}.yml"),
        &format!(
            "- hosts: all\n  gather_facts: false\n{header}  tasks:\n    \
             - name: Maybe fail\n      fail:\n        msg: failing on purpose\n      \
             when: inventory_hostname in failing.split(',')\n    \
             - name: After\n      file:\n        path: {w}/{{{{ inventory_hostname }}}}.after\n        \
             state: touch\n",
            w = scratch.work().display()
        ),
    )
}

fn after_files(scratch: &Scratch) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(scratch.work())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".after"))
        .collect();
    v.sort();
    v
}

#[test]
fn max_fail_percentage_and_any_errors_fatal_stop_the_play_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 75], 4)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    let pct = fail_some_play(&scratch, "pct", "  max_fail_percentage: 25\n");
    // One of four (25%) is not more than 25%: the others go on.
    let run = scratch.play(&pct, &inv, &["-e", "failing=h1"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert_eq!(after_files(&scratch), ["h2.after", "h3.after", "h4.after"]);
    // Two of four is: nobody reaches the next task.
    for f in after_files(&scratch) {
        std::fs::remove_file(scratch.work().join(f)).unwrap();
    }
    let run = scratch.play(&pct, &inv, &["-e", "failing=h1,h2"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(after_files(&scratch).is_empty(), "{}", run.dump());
    assert!(run.events.iter().any(|e| e["event"] == "play_aborted"));

    let fatal = fail_some_play(&scratch, "fatal", "  any_errors_fatal: true\n");
    let run = scratch.play(&fatal, &inv, &["-e", "failing=h3"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    assert!(after_files(&scratch).is_empty(), "{}", run.dump());
    assert!(run.results("After").is_empty());
}

#[test]
fn retry_file_lists_failed_hosts_and_limit_at_file_reruns_them_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 76], 4)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    let retry_dir = scratch.path().join("retries");
    scratch.write(
        "ansible.cfg",
        &format!(
            "[defaults]\nretry_files_enabled = True\nretry_files_save_path = {}\n",
            retry_dir.display()
        ),
    );
    let pb = fail_some_play(&scratch, "site", "");
    let run = scratch.play(&pb, &inv, &["-e", "failing=h2,h4"]);
    assert_eq!(run.code, 2, "{}", run.dump());
    let retry = retry_dir.join("site.retry");
    assert_eq!(std::fs::read_to_string(&retry).unwrap(), "h2\nh4\n");

    let limit = format!("@{}", retry.display());
    let run = scratch.play(&pb, &inv, &["-e", "failing=none", "--limit", &limit]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert_eq!(run.play_hosts(), [["h2", "h4"]]);
}

#[test]
fn each_task_costs_one_script_and_the_run_one_session_per_host_needs_root() {
    let sshd = LoopbackSshd::start_with(
        loopback_addrs([127, 0, 77], 4),
        SshdOptions {
            log_level: Some("VERBOSE".into()),
            ..SshdOptions::default()
        },
    )
    .unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    // The workload's kinds of task: a copy, a template, a directory, a line edit, a command.
    scratch.write("t.j2", "{{ body }} on {{ inventory_hostname }}\n");
    let pb = scratch.write(
        "copy.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Config\n      copy:\n        \
             content: \"{{{{ body }}}}\\n\"\n        dest: {w}/{{{{ inventory_hostname }}}}.conf\n\
             \x20   - template:\n        src: t.j2\n        dest: {w}/{{{{ inventory_hostname }}}}.t\n\
             \x20   - file:\n        path: {w}/{{{{ inventory_hostname }}}}.d\n        state: directory\n        mode: \"0750\"\n\
             \x20   - lineinfile:\n        path: {w}/{{{{ inventory_hostname }}}}.lines\n        line: \"extra\"\n        create: true\n\
             \x20   - command: \"true\"\n      changed_when: false\n",
            w = scratch.work().display()
        ),
    );
    // Each host's sessions (exec channels and SFTP subsystems) during one run.
    let sessions = |args: &[&str]| {
        let before = sshd.sessions_started("");
        let run = scratch.play(&pb, &inv, args);
        assert_eq!(run.code, 0, "{}", run.dump());
        (run, sshd.sessions_started("") - before)
    };
    let (run, first) = sessions(&["-e", "body=one"]);
    assert_eq!(run.stat("h1", "changed"), 4);
    // Small content travels with the probe: the script writes only if the file differs; and
    // all of a host's scripts go through one long-lived shell.
    assert_eq!(run.wire("h1"), (5, 1), "one script per task, one session");
    assert_eq!(first, 4, "one session per host\n{}", sshd.log_text());
    let (run, again) = sessions(&["-e", "body=one"]);
    assert_eq!(run.stat("h1", "changed"), 0);
    assert_eq!(run.wire("h2"), (5, 1));
    assert_eq!(again, 4, "one session per host\n{}", sshd.log_text());
    let (run, changed) = sessions(&["-e", "body=two"]);
    assert_eq!(run.stat("h1", "changed"), 2);
    assert_eq!(run.wire("h3"), (5, 1));
    assert_eq!(changed, 4, "one session per host");
    // Without the long-lived shell, each script has a session of its own.
    let (run, off) = sessions(&["-e", "body=three", "-e", "rmesos_persistent_shell=false"]);
    assert_eq!(run.wire("h4"), (5, 5));
    assert_eq!(off, 20);
}

const ASYNC_PLAY: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: Start
      shell: sleep 2; echo finished
      async: 30
      poll: 0
      register: job
    - name: Collect
      async_status:
        jid: \"{{ job.ansible_job_id }}\"
      register: st
      until: st.finished
      retries: 30
      delay: 1
    - name: Polled
      command: echo polled
      async: 20
      poll: 1
    - name: Too long
      command: sleep 3091
      async: 2
      poll: 1
";

const FIRE_AND_FORGET: &str = "\
- hosts: all
  gather_facts: false
  tasks:
    - name: Detach
      shell: sleep 3; echo survived > {{ work }}/survived
      async: 60
      poll: 0
";

#[test]
fn async_jobs_poll_collect_time_out_and_outlive_the_session_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 91], 1)).unwrap();
    let scratch = Scratch::new();
    let work = scratch.work().display().to_string();
    let inv = ssh_host("h", &sshd, sshd.addrs()[0], &format!("work={work}"));
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write("async.yml", ASYNC_PLAY);
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 2, "{}", run.dump());
    let start = &run.result("Start", "h")["result"];
    assert_eq!(start["finished"], 0, "{}", run.dump());
    assert_eq!(start["started"], 1);
    assert!(
        start["ansible_job_id"]
            .as_str()
            .is_some_and(|j| j.starts_with('j'))
    );
    let got = &run.result("Collect", "h")["result"];
    assert_eq!(got["finished"], 1, "{}", run.dump());
    assert_eq!(got["stdout"], "finished");
    assert_eq!(got["rc"], 0);
    let polled = &run.result("Polled", "h")["result"];
    assert_eq!(
        (polled["stdout"].as_str(), polled["finished"].as_i64()),
        (Some("polled"), Some(1))
    );
    let late = run.result("Too long", "h");
    assert_eq!(late["status"], "failed", "{}", run.dump());
    let msg = late["result"]["msg"].as_str().unwrap_or("");
    assert!(
        msg.contains("did not complete within the requested time - 2s"),
        "{msg}"
    );
    assert!(
        !process_running(&["sleep", "3091"]),
        "the timed-out job still runs"
    );

    // poll: 0 returns at once; the job goes on after rmesos has closed its session.
    let pb = scratch.write("detach.yml", FIRE_AND_FORGET);
    let t0 = Instant::now();
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "poll: 0 waited for the job"
    );
    let out = scratch.work().join("survived");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !out.exists() {
        assert!(
            Instant::now() < deadline,
            "the job did not outlive the session"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(std::fs::read_to_string(out).unwrap(), "survived\n");
}

/// SIGKILL of the controller at ten points of a run of `pb`, which writes `dest` (issue 14):
/// the destination is always the old content or the whole new one (what a run left alone
/// writes), never a cut file, and no temp file is left beside it once the host's side has seen
/// its stream end. The kill points are while the new content arrives: when the temp file
/// beside `dest` holds 1/11, 2/11 ... 10/11 of it (or as soon after as the file is seen), so
/// each kill cuts the stream (at least one must leave the old file: else every kill came too
/// late to test anything).
fn killed_runs_leave_the_old_or_the_new_file(
    scratch: &Scratch,
    pb: &Path,
    inv: &Path,
    dest: &Path,
    owner: Option<&str>,
) {
    let old = b"the old content\n";
    let put_old = || {
        std::fs::write(dest, old).unwrap();
        if let Some(user) = owner {
            chown_to(user, dest);
        }
    };
    let dir = dest.parent().unwrap();
    // The temp files beside `dest`, and the size of the largest.
    let temps = || {
        let mut n = 0;
        let mut size = 0;
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with(".rmesos.") {
                n += 1;
                size = size.max(e.metadata().map(|m| m.len()).unwrap_or(0));
            }
        }
        (n, size)
    };
    put_old();
    let started = Instant::now();
    let run = scratch.play(pb, inv, &[]);
    let whole = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.dump());
    let new = std::fs::read(dest).unwrap();
    assert!(new.len() > 1 << 20, "a large file: {} bytes", new.len());
    let mut outcomes = BTreeMap::new();
    for step in 1..=10u64 {
        put_old();
        let mut play = scratch.start(pb, inv, &[]);
        let want = new.len() as u64 * step / 11;
        let deadline = Instant::now() + whole * 3 + Duration::from_secs(10);
        let mut seen = 0;
        while Instant::now() < deadline && play.try_wait().unwrap().is_none() {
            let (n, size) = temps();
            // Once the temp file was seen and is gone, it was renamed (or the write failed).
            if size >= want || (seen > 0 && n == 0) {
                break;
            }
            seen += n;
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = play.kill();
        let _ = play.wait();
        // The host's side ends when its stream does; give it a moment to clean up.
        let deadline = Instant::now() + Duration::from_secs(10);
        while temps().0 > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let got = std::fs::read(dest).unwrap();
        let kind = if got == old {
            "old"
        } else if got == new {
            "new"
        } else {
            panic!("step {step}: a cut file of {} bytes", got.len())
        };
        *outcomes.entry(kind).or_insert(0) += 1;
        assert_eq!(temps().0, 0, "step {step}: a temp file was left");
    }
    eprintln!(
        "{}: a whole run took {whole:?}; kills left {outcomes:?}",
        pb.display()
    );
    assert!(
        outcomes.contains_key("old"),
        "{}: no kill cut the stream: {outcomes:?}",
        pb.display()
    );
}

/// A play writing DEST with one task, `copy` of SRC or `template` of SRC.
fn write_play(scratch: &Scratch, module: &str, src: &Path, dest: &Path) -> PathBuf {
    scratch.write(
        &format!("{module}.yml"),
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - {module}:\n        src: {}\n        dest: {}\n",
            src.display(),
            dest.display()
        ),
    )
}

/// 24 MB of bytes that are not text (more than the long-lived shell takes as a
/// here-document: it goes on a channel of its own).
fn big_binary(scratch: &Scratch) -> PathBuf {
    let new: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    let src = scratch.path().join("big.bin");
    std::fs::write(&src, &new).unwrap();
    src
}

/// A template rendering to about 12 MB of text: a variable, then lines with no Jinja in them.
fn big_template(scratch: &Scratch) -> PathBuf {
    let mut text = String::from("{{ inventory_hostname }} says hello\n");
    for i in 0..200_000u32 {
        text.push_str(&format!(
            "line {i:>8} of a large rendered file ........................\n"
        ));
    }
    scratch.write("big.j2", &text)
}

/// [`killed_runs_leave_the_old_or_the_new_file`] for `module` writing `dest_name` from `src`
/// on a loopback host over SSH (subnet 127.0.`net`).
fn killed_over_ssh(net: u8, module: &str, src: fn(&Scratch) -> PathBuf, dest_name: &str) {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, net], 1)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    let dest = scratch.work().join(dest_name);
    let pb = write_play(&scratch, module, &src(&scratch), &dest);
    killed_runs_leave_the_old_or_the_new_file(&scratch, &pb, &inv, &dest, Some(TEST_USER));
}

/// SIGKILL of the controller at many points while `copy` sends a large file over SSH (issue
/// 14): the destination is always the old content or the whole new one, never a cut file,
/// and no temp file is left beside it once the host's shell has seen the stream end.
#[test]
fn controller_killed_mid_copy_leaves_the_old_or_the_new_file_needs_root() {
    killed_over_ssh(71, "copy", big_binary, "dest.bin");
}

/// The same for `template` over SSH: the rendered text travels the same way as copy's bytes.
#[test]
fn controller_killed_mid_template_leaves_the_old_or_the_new_file_needs_root() {
    killed_over_ssh(114, "template", big_template, "dest.txt");
}

/// The same for `copy` and `template` on the local connection: the script is a child of the
/// controller, fed through a pipe that closes when the controller dies.
#[test]
fn controller_killed_mid_local_copy_or_template_leaves_the_old_or_the_new_file() {
    let scratch = Scratch::new();
    let inv = scratch.write("local.ini", "localhost ansible_connection=local\n");
    for (module, src, dest) in [
        ("copy", big_binary(&scratch), "dest.bin"),
        ("template", big_template(&scratch), "dest.txt"),
    ] {
        let dest = scratch.work().join(dest);
        let pb = write_play(&scratch, module, &src, &dest);
        killed_runs_leave_the_old_or_the_new_file(&scratch, &pb, &inv, &dest, None);
    }
}

/// A command printing far more than the output limit over SSH (issue 14): in the host's
/// long-lived shell (whose frame markers come after the output) and in a session of its own (a
/// task with a timeout), stdout and stderr keep their start and end with a line for the rest,
/// and the shell still frames the next task's output. The limit comes from ansible.cfg.
#[test]
fn large_output_over_ssh_keeps_its_head_and_tail_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 113], 1)).unwrap();
    let scratch = Scratch::new();
    let inv = loopback_inventory(&scratch, &sshd, "");
    scratch.write("ansible.cfg", "[rmesos]\noutput_limit = 64K\n");
    let big = "seq 1 300000; seq 1 100000 >&2";
    let pb = scratch.write(
        "big.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: in the shell\n      shell: {big}\n\
             \x20   - name: in a session\n      shell: {big}\n      timeout: 60\n\
             \x20   - name: after\n      command: echo after\n"
        ),
    );
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    for task in ["in the shell", "in a session"] {
        let r = &run.result(task, "h1")["result"];
        assert_eq!(r["output_truncated"], true, "{task}");
        for (stream, last) in [("stdout", "300000"), ("stderr", "100000")] {
            let text = r[stream].as_str().unwrap();
            assert!(text.len() < 70_000, "{task} {stream}: {} bytes", text.len());
            assert!(text.starts_with("1\n2\n3\n"), "{task} {stream}");
            assert!(text.ends_with(&format!("\n{last}")), "{task} {stream}");
            let note = text.lines().find(|l| l.starts_with("[… ")).unwrap();
            assert!(note.contains("of output omitted"), "{note}");
            assert!(
                !text.contains("RMESOS-"),
                "a frame marker leaked: {task} {stream}"
            );
            assert!(r[format!("{stream}_omitted_bytes")].as_u64().unwrap() > 100_000);
        }
    }
    let after = &run.result("after", "h1")["result"];
    assert_eq!(after["stdout"], "after");
    assert_eq!(after["stderr"], "");
    assert!(after.get("output_truncated").is_none());
    assert_eq!(
        run.wire("h1").1,
        2,
        "the shell, and the timed task's session"
    );
    // The smallest limit, below one SSH data packet (32 KiB): a chunk larger than all that is
    // kept must still let the frame marker be found.
    scratch.write("ansible.cfg", "[rmesos]\noutput_limit = 2K\n");
    let run = scratch.play(&pb, &inv, &[]);
    assert_eq!(run.code, 0, "{}", run.dump());
    for task in ["in the shell", "in a session"] {
        let r = &run.result(task, "h1")["result"];
        assert_eq!(r["output_truncated"], true, "{task}");
        let text = r["stdout"].as_str().unwrap();
        assert!(text.ends_with("\n300000"), "{task}: {text}");
        assert!(!text.contains("RMESOS-"), "a frame marker leaked: {task}");
    }
}

#[test]
fn vvv_shows_how_hosts_are_reached_and_vvvv_the_scripts_but_no_no_log_secret_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 81], 1)).unwrap();
    let scratch = Scratch::new();
    // Nothing listens there: two attempts, the retry told with its reason.
    let mut inv = ssh_host("h1", &sshd, sshd.addrs()[0], "");
    inv.push_str(&ghost_host("127.0.81.9", 2, "").1);
    let inv = scratch.write("hosts.ini", &inv);
    let pb = scratch.write(
        "secret.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n\
         \x20   - name: Public\n      command: echo visible-word\n\
         \x20   - name: Secret\n      command: echo {{ pw }}\n      no_log: true\n",
    );
    let secret = "pw=s3cr3t-Value-42";
    let run = scratch.play(&pb, &inv, &["-vvvv", "-e", secret]);
    assert_eq!(run.code, 4, "{}", run.dump());
    let verbose = |level: u64, host: &str| -> Vec<String> {
        run.events
            .iter()
            .filter(|e| e["event"] == "verbose" && e["level"] == level && e["host"] == host)
            .filter_map(|e| e["msg"].as_str().map(str::to_string))
            .collect()
    };
    let how = verbose(3, "h1").join("\n");
    for part in [
        format!("user {TEST_USER}"),
        format!("port {}", sshd.port()),
        sshd.client_key().display().to_string(),
        sshd.known_hosts().display().to_string(),
    ] {
        assert!(how.contains(&part), "-vvv lacks {part:?}: {how}");
    }
    let ghost = verbose(3, "ghost").join("\n");
    assert!(
        ghost.contains("attempt 1 of 2 failed") && ghost.contains("refused"),
        "{ghost}"
    );
    let scripts = verbose(4, "h1");
    assert!(
        scripts
            .iter()
            .any(|s| s.starts_with("SCRIPT") && s.contains("echo visible-word")),
        "{scripts:?}"
    );
    assert!(!run.stdout.contains("s3cr3t-Value-42"), "{}", run.dump());
    assert!(!run.stderr.contains("s3cr3t-Value-42"), "{}", run.dump());
    // The human output at -vvv names the same, at -vvvv shows the script, never the secret.
    let human = Command::new(rmesos())
        .arg("play")
        .arg(&pb)
        .arg("-i")
        .arg(&inv)
        .args(["-vvvv", "-l", "h1", "-e", secret])
        .current_dir(scratch.path())
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert_eq!(human.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("<h1> SSH: user {TEST_USER}, host ")),
        "{text}"
    );
    assert!(text.contains("<h1> SCRIPT"), "{text}");
    assert!(text.contains("echo visible-word"), "{text}");
    assert!(!text.contains("s3cr3t-Value-42"), "{text}");
}

/// Issue 13 item 5 over real SSH: the login user and port from `ANSIBLE_REMOTE_USER` and
/// `ANSIBLE_REMOTE_PORT`, become from `ANSIBLE_BECOME`, `--ssh-common-args` for the known
/// hosts, and the login and sudo passwords from files (named by the environment or the flags,
/// `-` for stdin) or typed on stdin without a terminal (`-k`, then `-K` whose empty answer means
/// the SSH password, as ansible-playbook). The host line names only its address.
#[test]
fn passwords_from_files_and_stdin_and_settings_from_the_environment_reach_ssh_needs_root() {
    use std::io::Write;
    let user = ensure_sudo_user().unwrap();
    let sshd = LoopbackSshd::start_with(
        loopback_addrs([127, 0, 113], 1),
        SshdOptions {
            password_auth: true,
            ..SshdOptions::default()
        },
    )
    .unwrap();
    let scratch = Scratch::new();
    let inv = scratch.write(
        "hosts.ini",
        &format!("s0 ansible_host={}\n", sshd.addrs()[0]),
    );
    let pb = scratch.write(
        "who.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Root\n      command: whoami\n    \
         - name: Login\n      command: whoami\n      become: false\n",
    );
    scratch.write("pw", &format!("{}\n", user.password));
    let common = format!(
        "-o UserKnownHostsFile={} -o ConnectionAttempts=1",
        sshd.known_hosts().display()
    );
    let port = sshd.port().to_string();
    let run = |args: &[&str], env: &[(&str, &str)], stdin: &str| -> Run {
        // setsid: no controlling terminal, as in CI.
        let mut child = Command::new("setsid")
            .arg("-w")
            .arg(rmesos())
            .arg("play")
            .arg(&pb)
            .arg("-i")
            .arg(&inv)
            .args(["--output", "json", "--ssh-common-args", &common])
            .args(args)
            .current_dir(scratch.path())
            .env("HOME", scratch.path())
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_HOST_KEY_CHECKING")
            .env_remove("SSH_AUTH_SOCK")
            .env("ANSIBLE_REMOTE_USER", SUDO_USER)
            .env("ANSIBLE_REMOTE_PORT", &port)
            .env("ANSIBLE_BECOME", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        finish(child)
    };
    let answer = format!("{}\n\n", user.password);
    /// Flags, environment, stdin.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (
            &[],
            &[
                ("ANSIBLE_CONNECTION_PASSWORD_FILE", "pw"),
                ("ANSIBLE_BECOME_PASSWORD_FILE", "pw"),
            ],
            "",
        ),
        (
            &["--conn-pass-file", "-", "--become-password-file", "pw"],
            &[],
            &answer,
        ),
        (&["-k", "-K"], &[], &answer),
    ];
    for (args, env, stdin) in cases {
        let r = run(args, env, stdin);
        assert_eq!(r.code, 0, "{args:?} {env:?}\n{}", r.dump());
        assert_eq!(r.result("Root", "s0")["result"]["stdout"], "root");
        assert_eq!(r.result("Login", "s0")["result"]["stdout"], SUDO_USER);
        assert!(!r.stdout.contains(&user.password), "password in the output");
        assert!(!r.stderr.contains(&user.password), "password on stderr");
    }
    // Without a password the login is refused: the settings above were what made it.
    let r = run(&[], &[], "");
    assert_eq!(r.code, 4, "{}", r.dump());
}

/// `ANSIBLE_PRIVATE_KEY_FILE`, `ANSIBLE_HOST_KEY_CHECKING` and `ANSIBLE_SSH_EXTRA_ARGS` reach a
/// host whose line names only its address (user and port from `ANSIBLE_REMOTE_USER` and
/// `ANSIBLE_REMOTE_PORT`); HOME is empty, so no key, known host or ssh config comes from it.
#[test]
fn key_and_host_key_settings_from_the_environment_reach_ssh_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 114], 1)).unwrap();
    let scratch = Scratch::new();
    let inv = scratch.write(
        "hosts.ini",
        &format!("k0 ansible_host={}\n", sshd.addrs()[0]),
    );
    let pb = scratch.write(
        "who.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: Login\n      command: whoami\n",
    );
    let port = sshd.port().to_string();
    let key = sshd.client_key().display().to_string();
    let known = format!(
        "-o UserKnownHostsFile={} -o ConnectionAttempts=1",
        sshd.known_hosts().display()
    );
    let run = |env: &[(&str, &str)]| -> Run {
        let child = Command::new(rmesos())
            .arg("play")
            .arg(&pb)
            .arg("-i")
            .arg(&inv)
            .args(["--output", "json"])
            .current_dir(scratch.path())
            .env("HOME", scratch.path())
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_HOST_KEY_CHECKING")
            .env_remove("SSH_AUTH_SOCK")
            .env("ANSIBLE_REMOTE_USER", TEST_USER)
            .env("ANSIBLE_REMOTE_PORT", &port)
            .env("ANSIBLE_SSH_COMMON_ARGS", "-o ConnectionAttempts=1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish(child)
    };
    // Host key unknown and checked: refused.
    let r = run(&[("ANSIBLE_PRIVATE_KEY_FILE", &key)]);
    assert_eq!(r.stat("k0", "unreachable"), 1, "{}", r.dump());
    // Not checked, from the environment: in, as the user of ANSIBLE_REMOTE_USER.
    let r = run(&[
        ("ANSIBLE_PRIVATE_KEY_FILE", &key),
        ("ANSIBLE_HOST_KEY_CHECKING", "False"),
    ]);
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.result("Login", "k0")["result"]["stdout"], TEST_USER);
    // Checked against the known_hosts ANSIBLE_SSH_EXTRA_ARGS names: in.
    let r = run(&[
        ("ANSIBLE_PRIVATE_KEY_FILE", &key),
        ("ANSIBLE_SSH_EXTRA_ARGS", &known),
    ]);
    assert_eq!(r.code, 0, "{}", r.dump());
    // Without the key: no way in.
    let r = run(&[("ANSIBLE_HOST_KEY_CHECKING", "False")]);
    assert_eq!(r.stat("k0", "unreachable"), 1, "{}", r.dump());
}
