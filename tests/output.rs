//! What an operator reads, from the real binary on local hosts: progress in a pipe (the task
//! header when the task starts, "still running" lines while it runs, the total time, the
//! `--profile` report) and `--output json` as a contract (stdout carries only events of
//! docs/schema/events-v1.json, load errors and `-v` included).

#[path = "support/json_events.rs"]
mod json_events;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rmesos() -> PathBuf {
    std::env::var_os("RMESOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rmesos")))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// `rmesos play ARGS` in `dir`, with no ansible.cfg from elsewhere.
fn play(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(rmesos());
    c.arg("play")
        .args(args)
        .current_dir(dir)
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("RMESOS_PROGRESS_INTERVAL")
        .stdin(Stdio::null());
    c
}

const LOCAL: &str = "h1 ansible_connection=local\n";

#[test]
fn a_pipe_sees_the_header_and_still_running_lines_before_a_long_task_ends() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hosts", LOCAL);
    // ansible.cfg turns on the profile report as Ansible's callback does.
    write(
        dir.path(),
        "ansible.cfg",
        "[defaults]\ncallbacks_enabled = timer, ansible.posix.profile_tasks\n",
    );
    write(
        dir.path(),
        "roles/napper/tasks/main.yml",
        "- name: Nap twenty seconds\n  command: sleep 20\n",
    );
    let pb = write(
        dir.path(),
        "long.yml",
        "- hosts: h1\n  gather_facts: false\n  roles: [napper]\n  tasks:\n    - name: Quick\n      command: 'true'\n",
    );
    let mut child = play(dir.path(), &["-i", "hosts", pb.to_str().unwrap()])
        .env("ANSIBLE_CONFIG", dir.path().join("ansible.cfg"))
        .env("RMESOS_PROGRESS_INTERVAL", "4")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Each stdout line with when it arrived.
    let mut lines: Vec<(Duration, String)> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        lines.push((start.elapsed(), line.unwrap()));
    }
    let status = child.wait().unwrap();
    let dump = lines
        .iter()
        .map(|(t, l)| format!("{:6.2}s {l}", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(status.code(), Some(0), "{dump}");
    let at = |pred: &dyn Fn(&str) -> bool| -> Duration {
        lines
            .iter()
            .find(|(_, l)| pred(l))
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("no such line:\n{dump}"))
    };
    let header = at(&|l| l.starts_with("TASK [napper : Nap twenty seconds]"));
    let note = at(&|l| {
        l.starts_with("still running: napper : Nap twenty seconds on 1 host (")
            && l.ends_with("): h1")
    });
    let done = at(&|l| l == "changed: [h1]");
    assert!(done >= Duration::from_secs(19), "{dump}");
    // The header as the task starts, a "still running" line while it runs.
    assert!(header < Duration::from_secs(5), "{dump}");
    assert!(note < done - Duration::from_secs(5), "{dump}");
    let notes = lines
        .iter()
        .filter(|(_, l)| l.starts_with("still running"))
        .count();
    assert!((3..=5).contains(&notes), "every 4 s for 20 s: {dump}");
    // The recap ends with the total time; the profile lists the nap first, then the role.
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    let recap_end = text
        .iter()
        .position(|l| l.starts_with("finished in "))
        .expect(&dump);
    let secs: f64 = text[recap_end]["finished in ".len()..]
        .trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("{dump}"));
    assert!((19.0..40.0).contains(&secs), "{dump}");
    let tasks = text
        .iter()
        .position(|l| l.starts_with("TASKS BY TIME"))
        .expect(&dump);
    assert!(tasks > recap_end, "{dump}");
    assert!(
        text[tasks + 1].ends_with("s  napper : Nap twenty seconds"),
        "{dump}"
    );
    let roles = text
        .iter()
        .position(|l| l.starts_with("ROLES BY TIME"))
        .expect(&dump);
    assert!(text[roles + 1].ends_with("s  napper"), "{dump}");
}

#[test]
fn profile_flag_and_no_profile_by_default() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hosts", LOCAL);
    let pb = write(
        dir.path(),
        "quick.yml",
        "- hosts: h1\n  gather_facts: false\n  tasks:\n    - name: Quick\n      command: 'true'\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["-i", "hosts", pb.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = play(dir.path(), &args).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let plain = run(&[]);
    assert!(plain.contains("\nfinished in "), "{plain}");
    assert!(!plain.contains("TASKS BY TIME"), "{plain}");
    let profiled = run(&["--profile"]);
    assert!(profiled.contains("TASKS BY TIME"), "{profiled}");
    assert!(profiled.contains("s  Quick\n"), "{profiled}");
    assert!(profiled.contains("s  (play tasks)\n"), "{profiled}");
}

/// Runs `play` with `--output json`; checks that stdout is only schema events and returns
/// them with the exit code and stderr.
fn json_run(dir: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = play(dir, args).args(["--output", "json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events = json_events::check_stream(&stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), events, stderr)
}

const REPRESENTATIVE: &str = r#"
- name: Every kind of result
  hosts: all
  gather_facts: false
  tasks:
    - name: Ok
      debug: msg=hello
    - name: Changed
      copy: content="x\n" dest={{ out }}/f.txt
      notify: Done
    - name: Skipped
      debug: msg=never
      when: false
    - name: Loop
      command: echo {{ item }}
      loop: [a, b]
    - name: Ignored failure
      command: /bin/false
      ignore_errors: true
    - name: Secret
      command: echo {{ pw }}
      no_log: true
    - name: Failure
      fail: msg=boom
      when: inventory_hostname == 'h2'
  handlers:
    - name: Done
      debug: msg=handled
"#;

#[test]
fn json_stdout_is_only_schema_events_for_every_kind_of_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write(
        d,
        "hosts",
        &format!(
            "h1 ansible_connection=local\nh2 ansible_connection=local\n\
             gone ansible_host=127.0.0.1 ansible_port={refused} ansible_user=nobody \
             ansible_ssh_common_args='-o ConnectionAttempts=2'\n"
        ),
    );
    write(d, "ansible.cfg", "[defaults]\nforks = 5\n");
    let out = d.join("out");
    std::fs::create_dir(&out).unwrap();
    let out_var = format!("out={}", out.display());
    write(d, "site.yml", REPRESENTATIVE);
    let secret = "pw=hunter2-Secret";
    // -vvvv: verbose events (connections, scripts), and -v's "Using ... as config file" on
    // stderr, not stdout.
    let (code, events, stderr) = json_run(
        d,
        &[
            "-i", "hosts", "site.yml", "-vvvv", "-e", &out_var, "-e", secret,
        ],
    );
    // A host failed (2) and one was unreachable (4): the run reports one of them.
    assert!(matches!(code, 2 | 4), "{code}: {stderr}");
    assert!(stderr.contains("as config file"), "{stderr}");
    let kinds = |key: &str| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| e[key].as_str().map(str::to_string))
            .collect()
    };
    let statuses = kinds("status");
    for s in ["ok", "changed", "skipped", "failed", "unreachable"] {
        assert!(statuses.iter().any(|x| x == s), "no {s}: {events:?}");
    }
    let names = kinds("event");
    for e in [
        "stream_start",
        "playbook_start",
        "play_start",
        "task_start",
        "host_result",
        "task_timing",
        "verbose",
        "recap",
    ] {
        assert!(names.iter().any(|x| x == e), "no {e} event: {names:?}");
    }
    assert!(events.iter().any(|e| e["handler"] == true), "{events:?}");
    assert!(events.iter().any(|e| e["item"] == "b"), "{events:?}");
    assert!(
        events.iter().any(|e| e["event"] == "verbose"
            && e["host"] == "gone"
            && e["msg"]
                .as_str()
                .unwrap_or("")
                .contains("attempt 1 of 2 failed")),
        "{events:?}"
    );
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains("hunter2-Secret"), "{all}");
    assert!(events.last().unwrap()["elapsed_ms"].is_u64(), "{events:?}");

    // --check --diff: the diff in the events, nothing written.
    std::fs::remove_file(out.join("f.txt")).unwrap();
    let (code, events, stderr) = json_run(
        d,
        &[
            "-i", "hosts", "site.yml", "-l", "h1", "--check", "--diff", "-e", &out_var, "-e",
            secret,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        events.iter().any(|e| e["diff"][0]["after"] == "x\n"),
        "{events:?}"
    );
    assert!(!out.join("f.txt").exists());

    // A load error is the stream's last event, with its exit code; stderr says it too.
    write(
        d,
        "bad.yml",
        "- hosts: all\n  tasks:\n    - frobnicate: {}\n",
    );
    let (code, events, stderr) = json_run(d, &["-i", "hosts", "bad.yml"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("frobnicate"), "{stderr}");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error", "{events:?}");
    assert_eq!(last["exit_code"], 1);
    assert!(
        last["msg"].as_str().unwrap().contains("bad.yml:3:"),
        "{last}"
    );
    assert_eq!(events.len(), 2, "stream_start, error: {events:?}");

    // The ad hoc command's stream is the same contract.
    let out = Command::new(rmesos())
        .args([
            "run", "h1", "-i", "hosts", "-m", "command", "-a", "echo hi", "--output", "json",
        ])
        .current_dir(d)
        .env_remove("ANSIBLE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let events = json_events::check_stream(&String::from_utf8_lossy(&out.stdout));
    assert!(
        events.iter().any(|e| e["result"]["stdout"] == "hi"),
        "{events:?}"
    );

    // The listings are events too.
    let (code, events, _) = json_run(
        d,
        &["-i", "hosts", "site.yml", "--list-tasks", "--list-hosts"],
    );
    assert_eq!(code, 0);
    let text = events.last().unwrap()["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        text.contains("Ignored failure") && text.contains("hosts (3):"),
        "{events:?}"
    );

    // --syntax-check leaves stdout to JSON too.
    let (code, events, _) = json_run(d, &["-i", "hosts", "site.yml", "--syntax-check"]);
    assert_eq!(code, 0);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_terminal_shows_the_elapsed_time_and_the_hosts_still_working() {
    // `script` gives the run a terminal (util-linux); without it there is nothing to see.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no `script` command");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hosts", LOCAL);
    write(
        dir.path(),
        "nap.yml",
        "- hosts: h1\n  gather_facts: false\n  tasks:\n    - name: Nap\n      command: sleep 3\n",
    );
    let bin = rmesos();
    let out = Command::new("script")
        .args([
            "-qec",
            &format!("{} play -i hosts nap.yml", bin.display()),
            "/dev/null",
        ])
        .current_dir(dir.path())
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("  [Nap] 1 s, 0/1 done, waiting on h1"),
        "{text:?}"
    );
    assert!(
        text.contains("  [Nap] 2 s, 0/1 done, waiting on h1"),
        "{text:?}"
    );
    // A terminal gets the live line, not the pipe's "still running" lines.
    assert!(!text.contains("still running"), "{text:?}");
}
