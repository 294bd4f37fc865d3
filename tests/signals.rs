//! SIGINT, SIGTERM and a task's `timeout:` stop the commands a run started, over real SSH (the
//! loopback sshd of src/testbed/loopback.rs, with and without sudo) and with the local
//! connection: the real `rmesos` binary is signalled while a task runs `sh -c 'sleep A & sleep
//! B'` (a child and a grandchild), and the test then reads /proc itself: no `sleep A` or `sleep
//! B` may be left. Every test uses its own sleep lengths, so tests running at once do not see
//! each other's processes. Tests whose names end in `_needs_root` start sshd and create users.
//!
//! The binary is `CARGO_BIN_EXE_rmesos`, or `RMESOS_BIN` when set.

use rmesos::testbed::loopback::{
    LoopbackSshd, SUDO_USER, TEST_USER, ensure_sudo_user, loopback_addrs,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;

fn rmesos() -> PathBuf {
    std::env::var_os("RMESOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rmesos")))
}

/// The pids of the processes whose argv is exactly `sleep SECS`.
fn sleeping(secs: u32) -> Vec<u32> {
    let want = format!("sleep\0{secs}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|p| std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
        .filter_map(|p| p.file_name().to_str()?.parse().ok())
        .collect()
}

/// Kills what a failed test left behind (only this test's own sleeps).
struct Leftovers(Vec<u32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for secs in &self.0 {
            for pid in sleeping(*secs) {
                // SAFETY: kill has no memory preconditions; pid is a listed process.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// `rmesos play --output json` of `playbook` on `inventory`, in `dir`.
fn start(dir: &Path, playbook: &str, inventory: &str) -> Child {
    start_as(dir, playbook, inventory, "json", Command::new(rmesos()))
}

/// `program` (rmesos, or a wrapper that runs it) with `play`'s arguments.
fn start_as(
    dir: &Path,
    playbook: &str,
    inventory: &str,
    output: &str,
    mut program: Command,
) -> Child {
    std::fs::write(dir.join("pb.yml"), playbook).unwrap();
    std::fs::write(dir.join("hosts.ini"), inventory).unwrap();
    program
        .args(["play", "pb.yml", "-i", "hosts.ini", "--output", output])
        .current_dir(dir);
    process::isolated(&mut program).spawn().unwrap()
}

/// Waits until `count` processes `sleep SECS` run (the task has started everywhere).
fn wait_for(secs: u32, count: usize, play: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sleeping(secs).len() < count {
        assert!(Instant::now() < deadline, "sleep {secs} never started");
        assert!(play.try_wait().unwrap().is_none(), "the play ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(play: &Child, sig: i32) {
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(play.id() as i32, sig) }, 0);
}

/// A finished run: exit code, JSON events, stderr, and how long it took to end after `since`.
struct Ended {
    code: i32,
    stdout: String,
    events: Vec<Value>,
    stderr: String,
    after: Duration,
}

impl Ended {
    fn dump(&self) -> String {
        let events: Vec<String> = self.events.iter().map(Value::to_string).collect();
        format!(
            "exit {}\n{}\nstderr:\n{}",
            self.code,
            events.join("\n"),
            self.stderr
        )
    }

    fn event(&self, kind: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["event"] == kind)
    }

    fn results(&self, host: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event"] == "host_result" && e["host"] == host)
            .collect()
    }
}

fn finish(mut play: Child, since: Instant) -> Ended {
    let mut out = play.stdout.take().unwrap();
    let mut err = play.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = play.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = play.kill();
            panic!("the run did not end within a minute of the signal");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let after = since.elapsed();
    let stdout = reader.join().unwrap();
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ended {
        code: status.code().unwrap_or(-1),
        events,
        stdout,
        stderr: err_reader.join().unwrap(),
        after,
    }
}

/// No `sleep` of `secs` is left (a process SIGKILLed a moment ago may take a few ms to go).
fn assert_none_left(secs: &[u32], run: &Ended) {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let left: Vec<u32> = secs.iter().flat_map(|s| sleeping(*s)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still running after the run ended: {left:?}\n{}",
            run.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A play whose first task runs a child and a grandchild that would sleep for `a` and `b`
/// seconds, then a task that must not start.
fn nap_play(a: u32, b: u32, extra: &str) -> String {
    format!(
        "- hosts: all\n  gather_facts: false\n{extra}  tasks:\n    - name: Nap\n      \
         shell: sh -c 'sleep {a} & sleep {b}'\n    - name: After\n      command: echo after\n"
    )
}

/// The run was interrupted with the recap, the documented code, and the stop named.
fn assert_interrupted(run: &Ended, code: i32, hosts: &[&str]) {
    assert_eq!(run.code, code, "{}", run.dump());
    // The commands end on SIGTERM: no grace is waited out (a round trip and a kill per host).
    eprintln!("ended {:?} after the signal", run.after);
    assert!(run.after < Duration::from_millis(1500), "{:?}", run.after);
    let recap = run
        .event("recap")
        .unwrap_or_else(|| panic!("no recap\n{}", run.dump()));
    let why = run.event("play_aborted").map(|e| e["reason"].to_string());
    let why = why.unwrap_or_else(|| panic!("no play_aborted\n{}", run.dump()));
    assert!(why.contains("interrupted: stopped 'Nap' on"), "{why}");
    for h in hosts {
        assert!(why.contains(h), "{why}");
        assert_eq!(recap["stats"][h]["failed"], 1, "{}", run.dump());
        let results = run.results(h);
        assert_eq!(results.len(), 1, "only Nap ran on {h}\n{}", run.dump());
        let msg = results[0]["msg"].as_str().unwrap_or("");
        assert!(msg.contains("interrupted"), "{msg}");
    }
    let name = if code == 130 { "SIGINT" } else { "SIGTERM" };
    assert!(
        run.stderr
            .contains(&format!("interrupted by {name}: exit code {code}")),
        "{}",
        run.stderr
    );
}

fn ssh_line(name: &str, sshd: &LoopbackSshd, i: usize, user: &str, vars: &str) -> String {
    format!(
        "{name} ansible_host={addr} ansible_port={port} ansible_user={user} \
         ansible_ssh_private_key_file={key} \
         ansible_ssh_common_args='-o UserKnownHostsFile={kh}' {vars}\n",
        addr = sshd.addrs()[i],
        port = sshd.port(),
        key = sshd.client_key().display(),
        kh = sshd.known_hosts().display(),
    )
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rmesos-signals-")
        .tempdir()
        .unwrap()
}

/// Runs `play` on `hosts` (of `inventory`), and once the naps run on all of them, calls
/// `check`, sends `sig` and checks the run was interrupted (code, recap, what was stopped)
/// and no nap is left.
fn assert_interrupt_stops(
    play: &str,
    inventory: &str,
    hosts: &[&str],
    (a, b): (u32, u32),
    (sig, code): (i32, i32),
    check: impl FnOnce(),
) {
    let dir = scratch();
    let mut child = start(dir.path(), play, inventory);
    wait_for(b, hosts.len(), &mut child);
    wait_for(a, hosts.len(), &mut child);
    check();
    let sent = Instant::now();
    signal(&child, sig);
    let run = finish(child, sent);
    assert_interrupted(&run, code, hosts);
    assert_none_left(&[a, b], &run);
}

/// Two SSH hosts, each in the long-lived shell, stopped by `sig`: both hosts' groups go.
fn interrupt_over_ssh(net: u8, naps: (u32, u32), sig: (i32, i32)) {
    let _clean = Leftovers(vec![naps.0, naps.1]);
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, net], 2)).unwrap();
    let inv = ssh_line("h1", &sshd, 0, TEST_USER, "") + &ssh_line("h2", &sshd, 1, TEST_USER, "");
    let play = nap_play(naps.0, naps.1, "");
    assert_interrupt_stops(&play, &inv, &["h1", "h2"], naps, sig, || {});
}

#[test]
fn sigint_over_ssh_stops_the_remote_process_groups_and_prints_the_recap_needs_root() {
    interrupt_over_ssh(91, (3101, 3102), (libc::SIGINT, 130));
}

#[test]
fn sigterm_over_ssh_stops_the_remote_process_groups_and_prints_the_recap_needs_root() {
    interrupt_over_ssh(92, (3111, 3112), (libc::SIGTERM, 143));
}

#[test]
fn sigint_under_sudo_with_a_password_stops_root_s_processes_needs_root() {
    let naps = (3121, 3122);
    let _clean = Leftovers(vec![naps.0, naps.1]);
    let user = ensure_sudo_user().unwrap();
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 93], 1)).unwrap();
    let vars = format!("ansible_become_password={}", user.password);
    let inv = ssh_line("s1", &sshd, 0, SUDO_USER, &vars);
    let play = nap_play(naps.0, naps.1, "  become: true\n");
    // They run as root, under sudo: only a kill as root can stop them.
    let as_root = || {
        for pid in sleeping(naps.0) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let root = status.lines().any(|l| l.starts_with("Uid:\t0\t"));
            assert!(root, "{status}");
        }
    };
    assert_interrupt_stops(&play, &inv, &["s1"], naps, (libc::SIGINT, 130), as_root);
}

/// `nap_play` with `timeout: T` on the nap (errors ignored, so the next task runs): the nap
/// fails as timed out after T seconds, its group is stopped, and the next task runs.
fn assert_timeout_stops(dir: &Path, (a, b): (u32, u32), t: u32, inventory: &str, host: &str) {
    let play = nap_play(a, b, "").replace(
        &format!("sleep {b}'\n"),
        &format!("sleep {b}'\n      timeout: {t}\n      ignore_errors: true\n"),
    );
    let started = Instant::now();
    let run = finish(start(dir, &play, inventory), started);
    assert_eq!(run.code, 0, "{}", run.dump());
    let results = run.results(host);
    assert_eq!(results.len(), 2, "the next task ran\n{}", run.dump());
    let msg = results[0]["msg"].as_str().unwrap_or("");
    let want = format!("timed out after {t}s; its processes on the host were stopped");
    assert!(msg.contains(&want), "{msg}");
    assert_eq!(results[1]["result"]["stdout"], "after", "{}", run.dump());
    assert!(
        run.after < Duration::from_secs(u64::from(t) + 5),
        "{:?}",
        run.after
    );
    assert_none_left(&[a, b], &run);
}

#[test]
fn task_timeout_over_ssh_stops_the_remote_process_group_needs_root() {
    let naps = (3131, 3132);
    let _clean = Leftovers(vec![naps.0, naps.1]);
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 94], 1)).unwrap();
    let inv = ssh_line("h1", &sshd, 0, TEST_USER, "");
    assert_timeout_stops(scratch().path(), naps, 2, &inv, "h1");
}

/// localhost with the local connection.
const LOCAL: &str = "localhost ansible_connection=local\n";

#[test]
fn sigint_with_the_local_connection_stops_the_command_s_process_group() {
    let naps = (3141, 3142);
    let _clean = Leftovers(vec![naps.0, naps.1]);
    let play = nap_play(naps.0, naps.1, "");
    assert_interrupt_stops(
        &play,
        LOCAL,
        &["localhost"],
        naps,
        (libc::SIGINT, 130),
        || {},
    );
}

#[test]
fn task_timeout_with_the_local_connection_stops_the_process_group() {
    let naps = (3151, 3152);
    let _clean = Leftovers(vec![naps.0, naps.1]);
    assert_timeout_stops(scratch().path(), naps, 1, LOCAL, "localhost");
}

#[test]
fn a_second_sigint_exits_at_once_without_the_recap() {
    let (a, b) = (3161, 3162);
    let _clean = Leftovers(vec![a, b]);
    let dir = scratch();
    // The command ignores SIGTERM, so the first interrupt's stop waits out its grace.
    let play = nap_play(a, b, "").replace("shell: sh -c", "shell: trap '' TERM; sh -c");
    let mut play = start(dir.path(), &play, LOCAL);
    wait_for(b, 1, &mut play);
    wait_for(a, 1, &mut play);
    signal(&play, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    let again = Instant::now();
    signal(&play, libc::SIGINT);
    let run = finish(play, again);
    assert_eq!(run.code, 130, "{}", run.dump());
    assert!(run.after < Duration::from_secs(1), "{:?}", run.after);
    assert!(run.event("recap").is_none(), "{}", run.dump());
    assert!(
        run.stderr.contains("SIGINT again: exiting at once"),
        "{}",
        run.stderr
    );
    // The local commands are killed on the way out.
    assert_none_left(&[a, b], &run);
}

#[test]
fn sigterm_in_human_output_prints_what_was_stopped_and_the_recap() {
    let (a, b) = (3181, 3182);
    let _clean = Leftovers(vec![a, b]);
    let dir = scratch();
    let rmesos = Command::new(rmesos());
    let mut play = start_as(dir.path(), &nap_play(a, b, ""), LOCAL, "human", rmesos);
    wait_for(b, 1, &mut play);
    let sent = Instant::now();
    signal(&play, libc::SIGTERM);
    let run = finish(play, sent);
    assert_eq!(run.code, 143, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    for want in [
        "fatal: [localhost]: FAILED!",
        "interrupted: the command was stopped on the host",
        "interrupted: stopped 'Nap' on localhost",
        "PLAY RECAP",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    assert!(!out.contains("TASK [After]"), "{out}");
    assert!(
        run.stderr.contains("SIGTERM: stopping the commands"),
        "{}",
        run.stderr
    );
    assert_none_left(&[a, b], &run);
}

#[test]
fn sigint_ignored_when_rmesos_starts_stays_ignored_and_sigterm_still_stops() {
    let (a, b) = (3191, 3192);
    let _clean = Leftovers(vec![a, b]);
    let dir = scratch();
    // As a shell starts a script's background job: SIGINT ignored, then exec.
    let mut wrapper = Command::new("/bin/sh");
    wrapper
        .arg("-c")
        .arg("trap '' INT; exec \"$0\" \"$@\"")
        .arg(rmesos());
    let mut play = start_as(dir.path(), &nap_play(a, b, ""), LOCAL, "json", wrapper);
    wait_for(b, 1, &mut play);
    signal(&play, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(700));
    assert!(play.try_wait().unwrap().is_none(), "SIGINT ended the run");
    assert_eq!(sleeping(b).len(), 1, "SIGINT stopped the command");
    let sent = Instant::now();
    signal(&play, libc::SIGTERM);
    let run = finish(play, sent);
    assert_interrupted(&run, 143, &["localhost"]);
    assert_none_left(&[a, b], &run);
}

/// A connection that reports the run interrupted while its first command runs (as a signal
/// arriving then would), and lets that command end well.
struct InterruptingConn(rmesos::exec::CancellationToken);

impl rmesos::connection::Connection for InterruptingConn {
    fn exec<'a>(
        &'a self,
        _: rmesos::connection::ExecRequest<'a>,
    ) -> rmesos::connection::BoxFuture<
        'a,
        Result<rmesos::connection::ExecOutput, rmesos::connection::ConnError>,
    > {
        self.0.cancel();
        Box::pin(async { Ok(rmesos::connection::ExecOutput::default()) })
    }
}

impl rmesos::exec::Connector for InterruptingConn {
    fn connect<'a>(
        &'a self,
        _: &'a rmesos::exec::ConnTarget,
        _: &'a rmesos::exec::ConnDefaults,
    ) -> rmesos::connection::BoxFuture<
        'a,
        Result<std::sync::Arc<dyn rmesos::connection::Connection>, rmesos::connection::ConnError>,
    > {
        let conn = InterruptingConn(self.0.clone());
        Box::pin(async move { Ok(std::sync::Arc::new(conn) as _) })
    }
}

/// Where a run's JSON lines go, readable after.
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_task_handler_or_play_starts_after_the_interrupt() {
    let dir = scratch();
    let d = dir.path();
    std::fs::write(d.join("hosts"), "a\nb\n").unwrap();
    std::fs::write(
        d.join("site.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: First\n      \
         command: 'true'\n      notify: H\n    - name: Second\n      command: 'true'\n  \
         handlers:\n    - name: H\n      command: 'true'\n\
         - hosts: all\n  gather_facts: false\n  tasks:\n    - name: Third\n      \
         command: 'true'\n",
    )
    .unwrap();
    let opts = rmesos::exec::RunOptions::default();
    let pb = rmesos::plan::load_playbook(&d.join("site.yml"), &opts.load).unwrap();
    let inv = rmesos::inventory::Inventory::load(&[d.join("hosts")]).unwrap();
    let lines = Lines::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let summary = rt.block_on(rmesos::exec::run_playbook(
        &pb,
        std::sync::Arc::new(inv),
        opts.clone(),
        Box::new(rmesos::report::json::JsonLines::new(lines.clone())),
        Box::new(InterruptingConn(opts.cancel.clone())),
    ));
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let started: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "task_start")
        .map(|e| &e["name"])
        .collect();
    assert_eq!(started, ["First"], "{text}");
    let plays = events.iter().filter(|e| e["event"] == "play_start").count();
    assert_eq!(plays, 1, "{text}");
    let why = events.iter().find(|e| e["event"] == "play_aborted");
    let why = why
        .map(|e| e["reason"].as_str().unwrap_or(""))
        .unwrap_or("");
    // The command ended well before it could be stopped: nothing is named as stopped.
    assert_eq!(
        why, "interrupted: no command had to be stopped; no task started after",
        "{text}"
    );
    assert!(events.iter().any(|e| e["event"] == "recap"), "{text}");
    assert_eq!(summary.exit_code, 0);
}
