//! The operator's hands, end to end through the real binary on local hosts: Ansible's flags
//! (`-c`, `--ssh-common-args`, `--ssh-extra-args`, the password files, `-k/-K` without a
//! terminal, `--force-handlers`, `--step`), the `ANSIBLE_*` environment and ansible.cfg with
//! Ansible's precedence (command line > environment > file > default), the callback keys, the
//! magic variables templates use, and the implicit localhost. The SSH side of the same
//! settings (user, port, passwords from files and stdin, become) is in tests/play_ssh.rs.
//!
//! Each run has a scratch directory as its working directory and HOME, and an environment
//! without any `ANSIBLE_*` variable but the test's; it runs under `setsid`, so it has no
//! controlling terminal unless the test gives it one (`script`).

use serde_json::Value;

#[path = "support/json_events.rs"]
mod json_events;
#[path = "support/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON events on stdout (lines that are JSON: a terminal mixes in the `--step`
    /// questions), each checked against the schema.
    fn events(&self) -> Vec<Value> {
        let events: Vec<Value> = self
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        events.iter().for_each(json_events::check_event);
        events
    }

    /// Whether the stream says nothing ran: only its opening and an error, if anything.
    fn ran_nothing(&self) -> bool {
        self.events()
            .iter()
            .all(|e| e["event"] == "stream_start" || e["event"] == "error")
    }

    /// The `msg` of each debug result, in order.
    fn msgs(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "host_result")
            .filter(|e| !e["result"]["msg"].is_null())
            .map(|e| match &e["result"]["msg"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    /// The names of the tasks that started.
    fn tasks(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "task_start")
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    }

    fn dump(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("rmesos-flags-")
                .tempdir()
                .unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `rmesos ARGS` here, with `env` as the only `ANSIBLE_*` variables and `stdin` as input.
    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
        let mut cmd = Command::new("setsid");
        cmd.arg("-w")
            .arg(env!("CARGO_BIN_EXE_rmesos"))
            .args(args)
            .current_dir(self.path())
            .env("HOME", self.path())
            .env_remove("NO_COLOR");
        process::isolated(&mut cmd).stdin(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("setsid and the binary run");
        if let Some(mut input) = child.stdin.take() {
            std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}

/// A play on `hosts` printing each of `exprs` with debug.
fn debug_play(hosts: &str, exprs: &[&str]) -> String {
    let mut s = format!("- hosts: {hosts}\n  tasks:\n");
    for e in exprs {
        s.push_str(&format!("    - debug:\n        msg: \"{{{{ {e} }}}}\"\n"));
    }
    s
}

#[test]
fn command_line_beats_environment_beats_ansible_cfg_beats_default() {
    let s = Scratch::new();
    s.write("hosts", "web1 ansible_connection=local\n");
    s.write("other", "db1 ansible_connection=local\n");
    s.write(
        "ansible.cfg",
        "[defaults]\ninventory = hosts\nforks = 3\ngathering = explicit\n[diff]\nalways = True\n",
    );
    let pb = debug_play(
        "all",
        &[
            "ansible_forks",
            "ansible_diff_mode",
            "inventory_hostname",
            "ansible_config_file",
        ],
    );
    s.write("pb.yml", &pb);
    let cfg = s.path().join("ansible.cfg").display().to_string();
    let json = ["play", "pb.yml", "--output", "json"];

    let r = s.run(&json, &[], "");
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(
        r.msgs(),
        ["3", "true", "web1", cfg.as_str()],
        "{}",
        r.dump()
    );
    // gathering = explicit: a play that does not ask for facts gathers none.
    assert!(
        !r.tasks().iter().any(|t| t == "Gathering Facts"),
        "{}",
        r.dump()
    );

    let env = [
        ("ANSIBLE_FORKS", "4"),
        ("ANSIBLE_INVENTORY", "other"),
        ("ANSIBLE_DIFF_ALWAYS", "no"),
        ("ANSIBLE_GATHERING", "implicit"),
    ];
    let r = s.run(&json, &env, "");
    assert_eq!(
        r.msgs(),
        ["4", "false", "db1", cfg.as_str()],
        "{}",
        r.dump()
    );
    assert!(
        r.tasks().iter().any(|t| t == "Gathering Facts"),
        "{}",
        r.dump()
    );

    let mut args = json.to_vec();
    args.extend(["-f", "5", "-i", "hosts", "--diff"]);
    let r = s.run(&args, &env, "");
    assert_eq!(r.msgs()[..3], ["5", "true", "web1"], "{}", r.dump());

    // No ansible.cfg: the defaults (50 forks in rmesos).
    std::fs::remove_file(s.path().join("ansible.cfg")).unwrap();
    let mut args = json.to_vec();
    args.extend(["-i", "hosts"]);
    let r = s.run(&args, &[], "");
    assert_eq!(r.msgs()[0], "50", "{}", r.dump());
}

#[test]
fn environment_reaches_connection_become_colour_and_verbosity() {
    let s = Scratch::new();
    // No ansible_connection: ANSIBLE_TRANSPORT=local is what makes them run here.
    s.write("hosts", "web1\nweb2\n");
    s.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: who\n      command: id -un\n",
    );
    let env = [
        ("ANSIBLE_TRANSPORT", "local"),
        ("ANSIBLE_BECOME", "true"),
        ("ANSIBLE_BECOME_USER", "nobody"),
        ("ANSIBLE_BECOME_METHOD", "sudo"),
    ];
    let r = s.run(
        &["play", "-i", "hosts", "pb.yml", "--output", "json"],
        &env,
        "",
    );
    assert_eq!(r.code, 0, "{}", r.dump());
    let users: Vec<_> = r
        .events()
        .iter()
        .filter(|e| e["event"] == "host_result")
        .map(|e| e["result"]["stdout"].clone())
        .collect();
    assert_eq!(users, ["nobody", "nobody"], "{}", r.dump());
    // The flags sudo is given come from ANSIBLE_BECOME_FLAGS.
    let mut bad = env.to_vec();
    bad.push(("ANSIBLE_BECOME_FLAGS", "--bogus-flag"));
    let r = s.run(
        &["play", "-i", "hosts", "pb.yml", "--output", "json"],
        &bad,
        "",
    );
    assert_eq!(r.code, 2, "{}", r.dump());
    assert!(
        r.stdout.contains("unrecognized option '--bogus-flag'"),
        "{}",
        r.dump()
    );

    // Human output: colours forced into a pipe, unless NOCOLOR says otherwise; verbosity from
    // the environment shows the command's output.
    let human = ["play", "-i", "hosts", "pb.yml"];
    let base = [("ANSIBLE_TRANSPORT", "local")];
    let r = s.run(&human, &[base[0], ("ANSIBLE_FORCE_COLOR", "1")], "");
    assert!(r.stdout.contains("\x1b["), "{}", r.dump());
    let r = s.run(
        &human,
        &[
            base[0],
            ("ANSIBLE_FORCE_COLOR", "1"),
            ("ANSIBLE_NOCOLOR", "1"),
        ],
        "",
    );
    assert!(!r.stdout.contains("\x1b["), "{}", r.dump());
    let r = s.run(&human, &base, "");
    assert!(!r.stdout.contains("\"stdout\": \"root\""), "{}", r.dump());
    let r = s.run(&human, &[base[0], ("ANSIBLE_VERBOSITY", "1")], "");
    assert!(r.stdout.contains("\"stdout\": \"root\""), "{}", r.dump());
}

#[test]
fn callback_keys_are_honoured_or_refused_loudly() {
    let s = Scratch::new();
    s.write("hosts", "web1 ansible_connection=local\n");
    s.write("pb.yml", &debug_play("all", &["inventory_hostname"]));
    s.write(
        "ansible.cfg",
        "[defaults]\nstdout_callback = json\ncallbacks_enabled = timer, mail, profile_tasks\nlog_path = /x.log\n",
    );
    let args = ["play", "-i", "hosts", "pb.yml"];
    // No -v: the warnings are shown all the same.
    let r = s.run(&args, &[], "");
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(
        r.msgs(),
        ["web1"],
        "stdout_callback = json gives JSON\n{}",
        r.dump()
    );
    // timer and profile_tasks are built in (the recap's total time, --profile): no warning.
    assert!(!r.stderr.contains("callback \"timer\""), "{}", r.dump());
    assert!(
        !r.stderr.contains("callback \"profile_tasks\""),
        "{}",
        r.dump()
    );
    for w in ["callback \"mail\"", "log_path is not supported"] {
        assert!(r.stderr.contains(w), "{w}\n{}", r.dump());
    }
    // The environment over the file; the command line over both.
    let r = s.run(&args, &[("ANSIBLE_STDOUT_CALLBACK", "yaml")], "");
    assert!(r.stdout.contains("PLAY [all]"), "{}", r.dump());
    let mut human = args.to_vec();
    human.extend(["--output", "human"]);
    let r = s.run(&human, &[], "");
    assert!(r.stdout.contains("PLAY [all]"), "{}", r.dump());
    let r = s.run(&args, &[("ANSIBLE_STDOUT_CALLBACK", "dense")], "");
    assert!(r.stdout.contains("PLAY [all]"), "{}", r.dump());
    assert!(
        r.stderr
            .contains("stdout_callback \"dense\" is not available"),
        "{}",
        r.dump()
    );
    // A refused setting from the environment is said as well; a bad value stops the run.
    let r = s.run(&args, &[("ANSIBLE_STRATEGY", "mitogen_linear")], "");
    assert_eq!(r.code, 0, "{}", r.dump());
    assert!(
        r.stderr
            .contains("ANSIBLE_STRATEGY: [defaults] strategy is not supported"),
        "{}",
        r.dump()
    );
    let r = s.run(&args, &[("ANSIBLE_FORKS", "many")], "");
    assert_eq!(r.code, 1, "{}", r.dump());
    assert!(
        r.stderr
            .contains("ANSIBLE_FORKS: forks must be a number, got \"many\""),
        "{}",
        r.dump()
    );
    assert!(r.ran_nothing(), "nothing ran\n{}", r.dump());
}

#[test]
fn connection_flag_runs_local_treats_paramiko_as_ssh_and_refuses_others() {
    let s = Scratch::new();
    s.write("hosts", "web1\nweb2\n");
    s.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo {{ inventory_hostname }}\n",
    );
    let base = ["play", "-i", "hosts", "pb.yml", "--output", "json"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        s.run(&a, &[], "")
    };
    let r = with(&["-c", "local"]);
    assert_eq!(r.code, 0, "{}", r.dump());
    let stats = &r.events().last().cloned().unwrap()["stats"];
    assert_eq!(stats["web1"]["changed"], 1, "{}", r.dump());
    assert_eq!(stats["web2"]["changed"], 1, "{}", r.dump());
    // paramiko means ssh here: web1 is not a host that answers SSH.
    let r = with(&[
        "--connection",
        "paramiko",
        "-T",
        "1",
        "-e",
        "ansible_port=1",
    ]);
    assert!(
        r.stderr.contains("-c/--connection paramiko"),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("treated as ssh"), "{}", r.dump());
    let stats = &r.events().last().cloned().unwrap()["stats"];
    assert_eq!(stats["web1"]["unreachable"], 1, "{}", r.dump());
    let r = with(&["-c", "docker"]);
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr
            .contains("connection type \"docker\" is not supported"),
        "{}",
        r.dump()
    );
    assert!(r.ran_nothing(), "{}", r.dump());
    let r = s.run(&base, &[("ANSIBLE_TRANSPORT", "winrm")], "");
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(r.stderr.contains("transport"), "{}", r.dump());
}

#[test]
fn ssh_argument_flags_are_parsed_before_any_host_and_unsupported_options_refused() {
    let s = Scratch::new();
    s.write("hosts", "web1\n");
    s.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    let base = ["play", "-i", "hosts", "pb.yml", "--output", "json"];
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        s.run(&a, env, "")
    };
    // Options rmesos has: the run goes on (here to a port nobody listens on).
    let r = run(
        &[
            "--ssh-common-args",
            "-o ConnectTimeout=2 -o ConnectionAttempts=1 -C",
            "--ssh-extra-args",
            "-p 1",
        ],
        &[],
    );
    assert_eq!(r.code, 4, "unreachable on port 1\n{}", r.dump());
    let unreachable = r
        .events()
        .into_iter()
        .find(|e| e["status"] == "unreachable")
        .unwrap_or_else(|| panic!("{}", r.dump()));
    assert!(
        unreachable["msg"].to_string().contains(":1"),
        "{}",
        r.dump()
    );
    // Options it has not: refused, naming the option, before any host.
    for (extra, env, named) in [
        (vec!["--ssh-extra-args", "-L 8080:db:80"], vec![], "-L"),
        (vec!["--ssh-common-args", "-R 9000:x:9000"], vec![], "-R"),
        (vec![], vec![("ANSIBLE_SSH_ARGS", "-D 1080")], "-D"),
        (
            vec![],
            vec![("ANSIBLE_SSH_COMMON_ARGS", "-M -S /tmp/ctl")],
            "-M",
        ),
    ] {
        let r = run(&extra, &env);
        assert_eq!(r.code, 5, "{}", r.dump());
        assert!(
            r.stderr
                .contains(&format!("ssh option {named} is not supported")),
            "{}",
            r.dump()
        );
        assert!(r.ran_nothing(), "{}", r.dump());
    }
}

#[test]
fn password_files_and_passwords_without_a_terminal() {
    let s = Scratch::new();
    s.write("hosts", "web1 ansible_connection=local\n");
    s.write("pb.yml", &debug_play("all", &["inventory_hostname"]));
    s.write("pw", "s3cret\n");
    s.write("empty", "");
    let base = ["play", "-i", "hosts", "pb.yml", "--output", "json"];
    let run = |extra: &[&str], stdin: &str| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        s.run(&a, &[], stdin)
    };
    for extra in [
        ["--become-password-file", "pw"],
        ["--become-pass-file", "pw"],
        ["--connection-password-file", "pw"],
        ["--conn-pass-file", "-"],
    ] {
        let r = run(&extra, "from-stdin\n");
        assert_eq!(r.code, 0, "{extra:?}\n{}", r.dump());
        assert_eq!(r.msgs(), ["web1"]);
    }
    let r = run(&["--become-password-file", "missing"], "");
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr
            .contains("--become-password-file missing: the password file was not found")
    );
    let r = run(&["--connection-password-file", "empty"], "");
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(r.stderr.contains("empty password"), "{}", r.dump());
    // No terminal: -k/-K read a line from stdin, saying so on stderr, as ansible-playbook.
    let r = run(&["-k", "-K"], "ssh-pw\n\n");
    assert_eq!(r.code, 0, "{}", r.dump());
    assert!(r.stderr.contains("SSH password: "), "{}", r.dump());
    assert!(
        r.stderr
            .contains("BECOME password[defaults to SSH password]: "),
        "{}",
        r.dump()
    );
    assert!(
        r.stderr.contains("Password input may be echoed"),
        "{}",
        r.dump()
    );
    assert!(!r.stderr.contains("ssh-pw") && !r.stdout.contains("ssh-pw"));
    // Input that ends first: no password, and the run goes on (as Ansible's EOFError).
    let r = run(&["-K"], "");
    assert_eq!(r.code, 0, "{}", r.dump());
    let r = s.run(&base, &[("ANSIBLE_ASK_PASS", "1")], "pw\n");
    assert!(r.stderr.contains("SSH password: "), "{}", r.dump());
    // ansible.cfg's ask keys ask the same way.
    s.write(
        "ansible.cfg",
        "[privilege_escalation]\nbecome_ask_pass = True\n",
    );
    let r = run(&[], "pw\n");
    assert!(r.stderr.contains("BECOME password: "), "{}", r.dump());
}

#[test]
fn force_handlers_runs_notified_handlers_on_a_failed_host() {
    let s = Scratch::new();
    s.write("hosts", "web1 ansible_connection=local\n");
    s.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: change\n      command: 'true'\n      notify: restart\n    - name: break\n      command: 'false'\n  handlers:\n    - name: restart\n      command: 'true'\n",
    );
    let base = ["play", "-i", "hosts", "pb.yml", "--output", "json"];
    let r = s.run(&base, &[], "");
    assert_eq!(r.code, 2, "{}", r.dump());
    assert!(!r.tasks().contains(&"restart".to_string()), "{}", r.dump());
    let mut forced = base.to_vec();
    forced.push("--force-handlers");
    let r = s.run(&forced, &[], "");
    assert_eq!(r.code, 2, "{}", r.dump());
    assert!(r.tasks().contains(&"restart".to_string()), "{}", r.dump());
    let env = [
        ("ANSIBLE_FORCE_HANDLERS", "yes"),
        ("ANSIBLE_RETRY_FILES_ENABLED", "true"),
        ("ANSIBLE_RETRY_FILES_SAVE_PATH", "retries"),
    ];
    let r = s.run(&base, &env, "");
    assert!(r.tasks().contains(&"restart".to_string()), "{}", r.dump());
    let retry = std::fs::read_to_string(s.path().join("retries/pb.retry"));
    assert_eq!(retry.unwrap_or_default().trim(), "web1", "{}", r.dump());
}

#[test]
fn step_is_refused_without_a_terminal_and_asks_before_each_task_on_one() {
    let s = Scratch::new();
    s.write("hosts", "web1 ansible_connection=local\n");
    let mut pb = "- hosts: all\n  gather_facts: false\n  tasks:\n".to_string();
    for t in ["one", "two", "three", "four"] {
        pb.push_str(&format!("    - name: {t}\n      command: echo {t}\n"));
    }
    // `two` is an include: answered no, nothing it holds runs.
    let pb = pb.replace("command: echo two", "include_tasks: more.yml");
    s.write("more.yml", "- name: inner\n  command: echo inner\n");
    s.write("pb.yml", &pb);
    let args = [
        "play", "-i", "hosts", "pb.yml", "--output", "json", "--step",
    ];
    let r = s.run(&args, &[], "y\n");
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr
            .contains("--step asks before each task and needs a terminal"),
        "{}",
        r.dump()
    );
    assert!(r.ran_nothing(), "{}", r.dump());
    // On a terminal (script(1) gives the run a pseudo-terminal): yes, no, continue.
    let line = format!("{} {}", env!("CARGO_BIN_EXE_rmesos"), args.join(" "));
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(s.path())
        .env("HOME", s.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"y\nn\nc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    // The questions (stderr) and the events (stdout) share the terminal: one per line.
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout)
            .replace('\r', "")
            .replace("(c)ontinue: ", "(c)ontinue: \n"),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    };
    assert_eq!(r.code, 0, "{}", r.dump());
    assert_eq!(r.tasks(), ["one", "three", "four"], "{}", r.dump());
    // Asked for one, two and three; after `c`, four ran unasked.
    assert_eq!(
        r.stdout.matches("Perform task: TASK: ").count(),
        3,
        "{}",
        r.dump()
    );
    assert!(
        r.stdout
            .contains("Perform task: TASK: two (N)o/(y)es/(c)ontinue:"),
        "{}",
        r.dump()
    );
}

#[test]
fn without_an_inventory_only_the_implicit_localhost_is_there() {
    let s = Scratch::new();
    s.write(
        "pb.yml",
        &format!(
            "{}{}",
            debug_play("all", &["inventory_hostname"]),
            debug_play("localhost", &["ansible_connection", "groups.all | length"]).replace(
                "- hosts: localhost\n",
                "- hosts: localhost\n  gather_facts: false\n"
            )
        ),
    );
    assert!(
        !Path::new("/etc/ansible/hosts").exists(),
        "this test needs a machine without /etc/ansible/hosts"
    );
    let r = s.run(&["play", "pb.yml", "--output", "json"], &[], "");
    assert_eq!(r.code, 0, "{}", r.dump());
    assert!(
        r.stderr
            .contains("No inventory was parsed, only implicit localhost is available")
    );
    assert!(r.stderr.contains(
        "provided hosts list is empty, only localhost is available. Note that the implicit \
         localhost does not match 'all'"
    ));
    // `all` has no host; localhost runs locally.
    assert_eq!(r.msgs(), ["local", "0"], "{}", r.dump());
    // An inventory named by the environment is an inventory: no warning.
    s.write("hosts", "web1 ansible_connection=local\n");
    let r = s.run(
        &["play", "pb.yml", "--output", "json"],
        &[("ANSIBLE_INVENTORY", "hosts")],
        "",
    );
    assert!(!r.stderr.contains("implicit localhost"), "{}", r.dump());
    assert_eq!(r.msgs()[0], "web1", "{}", r.dump());
}

#[test]
fn magic_variables_templates_use() {
    let s = Scratch::new();
    let inv = s.write("inv/hosts", "web1.example.com ansible_connection=local\n");
    s.write("ansible.cfg", "[defaults]\nforks = 7\n");
    s.write(
        "roles/app/tasks/main.yml",
        "- debug:\n    msg: \"{{ role_name }} {{ ansible_search_path | join(',') }}\"\n",
    );
    s.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [app]\n  tasks:\n    - debug:\n        msg: \"{{ [ansible_forks, ansible_limit, ansible_play_hosts, ansible_play_batch, ansible_role_names, inventory_hostname_short, ansible_check_mode, ansible_run_tags, ansible_skip_tags, group_names, ansible_version.major] | to_json }}\"\n    - debug:\n        msg: \"{{ [playbook_dir, inventory_dir, inventory_file, ansible_inventory_sources, ansible_config_file] | to_json }}\"\n    - debug:\n        msg: \"{{ ansible_index_var }}={{ i }} {{ ansible_loop_var }}={{ x }}\"\n      loop: [a]\n      loop_control: {index_var: i, loop_var: x}\n    - debug:\n        msg: \"{{ ansible_loop.previtem | default('-') }}<{{ item }}>{{ ansible_loop.nextitem | default('-') }} {{ ansible_loop.allitems | join }}\"\n      loop: [a, b, c]\n      loop_control: {extended: true}\n",
    );
    let r = s.run(
        &[
            "play",
            "-i",
            "inv/hosts",
            "pb.yml",
            "--output",
            "json",
            "-l",
            "web*",
            "-C",
            "--skip-tags",
            "slow",
        ],
        &[],
        "",
    );
    let dir = s.path().display().to_string();
    let msgs = r.msgs();
    assert!(msgs.len() >= 4, "{}", r.dump());
    assert_eq!(
        msgs[0],
        format!("app {dir}/roles/app,{dir}"),
        "{}",
        r.dump()
    );
    let v: Value = serde_json::from_str(&msgs[1]).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            7,
            "web*",
            ["web1.example.com"],
            ["web1.example.com"],
            ["app"],
            "web1",
            true,
            ["all"],
            ["slow"],
            [],
            2
        ])
    );
    let v: Value = serde_json::from_str(&msgs[2]).unwrap();
    let hosts = inv.display().to_string();
    assert_eq!(
        v,
        serde_json::json!([
            dir,
            format!("{dir}/inv"),
            hosts,
            [hosts],
            format!("{dir}/ansible.cfg")
        ])
    );
    assert!(msgs.contains(&"i=0 x=a".to_string()), "{}", r.dump());
    let tail: Vec<&str> = msgs[msgs.len() - 3..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        ["-<a>b abc", "a<b>c abc", "b<c>- abc"],
        "{}",
        r.dump()
    );
}

#[test]
fn doc_shows_types_defaults_and_returns_and_suggests_a_misspelled_module() {
    let s = Scratch::new();
    let r = s.run(&["doc", "lineinfile"], &[], "");
    assert_eq!(r.code, 0, "{}", r.dump());
    for want in [
        "  path\n",
        "type: str; required; aliases: dest, destfile, name",
        "type: str; default: present; choices: present, absent",
        "type: bool; default: no",
        "RETURNS:\n",
        "backup_file",
        "(every result: changed, failed",
    ] {
        assert!(r.stdout.contains(want), "{want:?}\n{}", r.dump());
    }
    let r = s.run(&["doc", "ansible.builtin.lineinfle"], &[], "");
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr
            .contains("unknown module \"ansible.builtin.lineinfle\"; did you mean `lineinfile`?"),
        "{}",
        r.dump()
    );
    let r = s.run(&["doc", "kubernetes_thing"], &[], "");
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr.contains("rmesos doc lists the modules"),
        "{}",
        r.dump()
    );
}

/// `ANSIBLE_TIMEOUT` bounds the connection (a loopback listener that accepts and never speaks
/// SSH); `-T` wins over it.
#[test]
fn timeout_from_the_environment_and_the_command_line() {
    let s = Scratch::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // Accepts and holds every connection, silent.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    s.write("hosts", "mute ansible_host=127.0.0.1\n");
    s.write(
        "pb.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: 'true'\n",
    );
    let env = [
        ("ANSIBLE_REMOTE_PORT", port.as_str()),
        ("ANSIBLE_SSH_COMMON_ARGS", "-o ConnectionAttempts=1"),
        ("ANSIBLE_HOST_KEY_CHECKING", "false"),
        ("ANSIBLE_TIMEOUT", "1"),
    ];
    let base = ["play", "-i", "hosts", "pb.yml", "--output", "json"];
    let msg = |r: &Run| {
        r.events()
            .into_iter()
            .find(|e| e["status"] == "unreachable")
            .map(|e| e["msg"].to_string())
            .unwrap_or_else(|| panic!("{}", r.dump()))
    };
    let r = s.run(&base, &env, "");
    assert_eq!(r.code, 4, "{}", r.dump());
    assert!(msg(&r).contains("timed out after 1s"), "{}", r.dump());
    let mut args = base.to_vec();
    args.extend(["-T", "2"]);
    let r = s.run(&args, &env, "");
    assert!(msg(&r).contains("timed out after 2s"), "{}", r.dump());
}
