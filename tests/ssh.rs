//! The SSH transport against real OpenSSH servers on loopback addresses (see
//! src/testbed/loopback.rs). Every test here needs root: the harness creates test users and
//! starts sshd.

use indexmap::IndexMap;
use minijinja::Value;
use rmesos::connection::local::LocalConnection;
use rmesos::connection::ssh::{self, HostKeyMode, KnownHostsPolicy, SshConnection, SshDefaults};
use rmesos::connection::{BecomeMethod, BecomeSpec, ConnError, Connection, ExecRequest};
use rmesos::testbed::loopback::{
    self, LoopbackSshd, SshdOptions, TEST_USER, ensure_sudo_user, loopback_addrs,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn run(
    conn: &SshConnection,
    script: &str,
    stdin: &[u8],
) -> Result<rmesos::connection::ExecOutput, ConnError> {
    let mut req = ExecRequest::new(script);
    req.stdin = stdin;
    conn.exec(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_exec_on_ten_hosts_one_connection_each_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 31], 10)).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for addr in sshd.addrs().to_vec() {
        let target = sshd.target(addr);
        tasks.spawn(async move {
            let conn = Arc::new(ssh::connect(&target).await.unwrap());
            let mut execs = tokio::task::JoinSet::new();
            for i in 0..20 {
                let conn = conn.clone();
                execs.spawn(async move {
                    let stdin = format!("in-{i}");
                    let out = run(
                        &conn,
                        "cat; echo \"err-$SSH_CONNECTION\" >&2; exit 7",
                        stdin.as_bytes(),
                    )
                    .await
                    .unwrap();
                    (i, out)
                });
            }
            while let Some(done) = execs.join_next().await {
                let (i, out) = done.unwrap();
                assert_eq!(out.rc, 7);
                assert_eq!(out.stdout_str(), format!("in-{i}"));
                // SSH_CONNECTION names the server address: each exec ran on its own host.
                assert!(
                    out.stderr_str().contains(&format!(" {} ", addr)),
                    "{}",
                    out.stderr_str()
                );
            }
            conn.close().await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        sshd.accepted_logins(),
        10,
        "one SSH connection per host:\n{}",
        sshd.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mebibytes_of_stdin_round_trip_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 32], 1)).unwrap();
    let conn = ssh::connect(&sshd.target(sshd.addrs()[0])).await.unwrap();
    let data: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let out = run(&conn, "cat", &data).await.unwrap();
    assert_eq!(out.rc, 0);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "bytes differ after the round trip");
}

/// Modules send content with a script that may decide not to read it (the file is unchanged):
/// the exec must end normally whatever the size, and the connection stay usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_exiting_without_reading_stdin_is_fine_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 61], 1)).unwrap();
    let conn = ssh::connect(&sshd.target(sshd.addrs()[0])).await.unwrap();
    for size in [10, 200 * 1024, 4 * 1024 * 1024] {
        let data = vec![b'x'; size];
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            run(&conn, "echo unread; exit 3", &data),
        )
        .await
        .unwrap_or_else(|_| panic!("exec with {size} unread bytes hung"))
        .unwrap();
        assert_eq!(
            (out.rc, out.stdout_str().as_str()),
            (3, "unread\n"),
            "{size}"
        );
    }
    let out = run(&conn, "head -c 5", b"abcdefgh").await.unwrap();
    assert_eq!(out.stdout_str(), "abcde", "partly read stdin");
    assert_eq!(
        run(&conn, "cat", b"next").await.unwrap().stdout_str(),
        "next"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_is_refused_in_strict_mode_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 33], 1)).unwrap();
    let empty = sshd.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let mut target = sshd.target(sshd.addrs()[0]);
    target.known_hosts.files = vec![empty.clone()];
    let err = ssh::connect(&target).await.err().expect("must be refused");
    let msg = err.to_string();
    assert!(matches!(err, ConnError::Unreachable(_)), "{msg}");
    assert!(msg.contains("not known"), "{msg}");
    assert!(
        msg.contains(&empty.display().to_string()),
        "names the file: {msg}"
    );
    assert!(msg.contains("SHA256:"), "gives the fingerprint: {msg}");
    assert_eq!(sshd.accepted_logins(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_new_records_the_key_and_strict_then_accepts_it_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 34], 1)).unwrap();
    let file = sshd.dir().join("new_known_hosts");
    let mut target = sshd.target(sshd.addrs()[0]);
    target.known_hosts = KnownHostsPolicy {
        files: vec![file.clone()],
        mode: HostKeyMode::AcceptNew,
    };
    let conn = ssh::connect(&target).await.unwrap();
    assert_eq!(
        run(&conn, "echo ok", b"").await.unwrap().stdout_str(),
        "ok\n"
    );
    let recorded = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        recorded,
        format!(
            "[{}]:{} {}\n",
            sshd.addrs()[0],
            sshd.port(),
            sshd.host_key_line()
        )
    );
    target.known_hosts.mode = HostKeyMode::Strict;
    ssh::connect(&target).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_naming_file_and_line_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 35], 1)).unwrap();
    let other = sshd.dir().join("other_key");
    loopback::keygen(&other, "old-host-key", None).unwrap();
    let file = sshd.dir().join("stale_known_hosts");
    let label = format!("[{}]:{}", sshd.addrs()[0], sshd.port());
    std::fs::write(
        &file,
        format!(
            "# previous install\n{label} {}\n",
            loopback::public_key_line(&other).unwrap()
        ),
    )
    .unwrap();
    for mode in [HostKeyMode::Strict, HostKeyMode::AcceptNew] {
        let mut target = sshd.target(sshd.addrs()[0]);
        target.known_hosts = KnownHostsPolicy {
            files: vec![file.clone()],
            mode,
        };
        let msg = ssh::connect(&target)
            .await
            .err()
            .expect("must be refused")
            .to_string();
        assert!(
            msg.contains(&format!("{}:2", file.display())),
            "{mode:?}: {msg}"
        );
        assert!(msg.contains("ssh-keygen"), "{msg}");
    }
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().lines().count(),
        2,
        "file untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_known_hosts_entry_is_accepted_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 36], 1)).unwrap();
    let file = sshd.dir().join("hashed_known_hosts");
    std::fs::copy(sshd.known_hosts(), &file).unwrap();
    // OpenSSH's own hashing, so the format is the real one.
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.36.1"),
        "{text}"
    );
    let mut target = sshd.target(sshd.addrs()[0]);
    target.known_hosts.files = vec![file];
    let conn = ssh::connect(&target).await.unwrap();
    assert_eq!(run(&conn, "echo ok", b"").await.unwrap().rc, 0);
}

/// True while some process runs exactly `argv`.
fn process_running(argv: &[&str]) -> bool {
    let want = argv.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|p| std::fs::read(p.path().join("cmdline")).is_ok_and(|c| c == want.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sshd_mid_exec_is_unreachable_quickly_and_others_unaffected_needs_root() {
    let mut doomed = LoopbackSshd::start(loopback_addrs([127, 0, 37], 1)).unwrap();
    let healthy = LoopbackSshd::start(loopback_addrs([127, 0, 38], 1)).unwrap();
    let conn = Arc::new(
        ssh::connect(&doomed.target(doomed.addrs()[0]))
            .await
            .unwrap(),
    );
    let other = ssh::connect(&healthy.target(healthy.addrs()[0]))
        .await
        .unwrap();
    let long = {
        let conn = conn.clone();
        tokio::spawn(async move { run(&conn, "exec sleep 3117", b"").await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process_running(&["sleep", "3117"]) {
        assert!(
            Instant::now() < deadline,
            "the remote command never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill();
    let killed_at = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(10), long)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(res, Err(ConnError::Unreachable(_))), "{res:?}");
    assert!(
        killed_at.elapsed() < Duration::from_secs(3),
        "took {:?}",
        killed_at.elapsed()
    );
    let again = Instant::now();
    let res = run(&conn, "echo hi", b"").await;
    assert!(matches!(res, Err(ConnError::Unreachable(_))), "{res:?}");
    assert!(
        again.elapsed() < Duration::from_millis(500),
        "later execs fail fast"
    );
    assert_eq!(
        run(&other, "echo fine", b"").await.unwrap().stdout_str(),
        "fine\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_stops_the_command_and_keeps_the_connection_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 39], 1)).unwrap();
    let conn = ssh::connect(&sshd.target(sshd.addrs()[0])).await.unwrap();
    let mut req = ExecRequest::new("sleep 3119");
    req.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let res = conn.exec(req).await;
    assert!(matches!(res, Err(ConnError::Timeout(_))), "{res:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_running(&["sleep", "3119"]) {
        assert!(
            Instant::now() < deadline,
            "the timed-out command is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        run(&conn, "echo still-here", b"")
            .await
            .unwrap()
            .stdout_str(),
        "still-here\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_needs_its_passphrase_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 40], 1)).unwrap();
    let key = sshd.dir().join("locked_key");
    loopback::keygen(&key, "locked", Some("open sesame")).unwrap();
    sshd.authorize(&loopback::public_key_line(&key).unwrap())
        .unwrap();
    let mut target = sshd.target(sshd.addrs()[0]);
    target.identity_files = vec![key];
    let msg = ssh::connect(&target)
        .await
        .err()
        .expect("no passphrase")
        .to_string();
    assert!(
        msg.contains("Permission denied") && msg.contains("encrypted"),
        "{msg}"
    );
    target.key_passphrase = Some("open sesame".into());
    let conn = ssh::connect(&target).await.unwrap();
    assert_eq!(
        run(&conn, "id -un", b"").await.unwrap().stdout_str(),
        format!("{TEST_USER}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_authentication_needs_root() {
    let user = ensure_sudo_user().unwrap();
    let sshd = LoopbackSshd::start_with(
        loopback_addrs([127, 0, 41], 1),
        SshdOptions {
            password_auth: true,
            ..SshdOptions::default()
        },
    )
    .unwrap();
    let mut target = sshd.target(sshd.addrs()[0]);
    target.user = user.name.clone();
    target.identity_files.clear();
    target.password = Some("wrong".into());
    let msg = ssh::connect(&target)
        .await
        .err()
        .expect("wrong password")
        .to_string();
    assert!(
        msg.contains("Permission denied") && msg.contains("password"),
        "{msg}"
    );
    target.password = Some(user.password.clone());
    let conn = ssh::connect(&target).await.unwrap();
    assert_eq!(
        run(&conn, "id -un", b"").await.unwrap().stdout_str(),
        format!("{}\n", user.name)
    );
}

/// The target sshd runs in a network namespace of its own, so the test process cannot reach
/// it at all; the bastion is a real `sshd -i` whose sessions run inside that namespace. Only a
/// connection tunnelled through the bastion (direct-tcpip) can log in to the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_jump_reaches_a_host_only_the_bastion_can_reach_needs_root() {
    let hidden =
        LoopbackSshd::start_isolated(loopback_addrs([127, 0, 42], 1), SshdOptions::default())
            .unwrap();
    let bastion = hidden.bastion("127.0.43.1".parse().unwrap()).unwrap();
    let addr = hidden.addrs()[0];
    assert!(
        std::net::TcpStream::connect((addr, hidden.port())).is_err(),
        "the target must not be reachable directly"
    );
    let known = hidden.dir().join("jump_known_hosts");
    std::fs::write(
        &known,
        format!(
            "{}\n{}",
            bastion.known_hosts_entry(),
            std::fs::read_to_string(hidden.known_hosts()).unwrap()
        ),
    )
    .unwrap();
    // Built the way a playbook run builds it: from the host's connection variables.
    let mut vars: IndexMap<String, Value> = IndexMap::new();
    vars.insert("ansible_host".into(), Value::from(addr.to_string()));
    vars.insert("ansible_port".into(), Value::from(hidden.port()));
    vars.insert("ansible_user".into(), Value::from(TEST_USER));
    vars.insert(
        "ansible_ssh_private_key_file".into(),
        Value::from(hidden.client_key().display().to_string()),
    );
    vars.insert(
        "ansible_ssh_common_args".into(),
        Value::from(format!(
            "-o ProxyJump={TEST_USER}@{}:{} -o UserKnownHostsFile={} -o IdentitiesOnly=yes",
            bastion.addr(),
            bastion.port(),
            known.display()
        )),
    );
    let defaults = SshDefaults {
        ssh_config: Some(hidden.dir().join("no_ssh_config")),
        ..SshDefaults::default()
    };
    let target = ssh::from_vars("hidden", &vars, &defaults).unwrap();
    assert_eq!(target.proxy_jump.len(), 1);
    let conn = ssh::connect(&target).await.unwrap();
    let out = run(&conn, "echo $SSH_CONNECTION", b"").await.unwrap();
    // SSH_CONNECTION = client-ip client-port server-ip server-port, as the target saw it.
    let fields: Vec<String> = out
        .stdout_str()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(fields[2..], [addr.to_string(), hidden.port().to_string()]);
    assert_eq!(bastion.accepted_logins(), 1);
    assert_eq!(hidden.accepted_logins(), 1);
}

fn sudo_to_root(password: &str) -> BecomeSpec {
    BecomeSpec {
        method: BecomeMethod::Sudo,
        user: "root".into(),
        flags: None,
        password: Some(password.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn become_sudo_with_password_keeps_it_out_of_argv_and_output_needs_root() {
    let user = ensure_sudo_user().unwrap();
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 44], 1)).unwrap();
    let mut target = sshd.target(sshd.addrs()[0]);
    target.user = user.name.clone();
    let conn = Arc::new(ssh::connect(&target).await.unwrap());

    // The script waits for a flag file, so the test can inspect every process while sudo and
    // the escalated shell are alive.
    let flag = sshd.dir().join("release");
    let script = format!(
        "id -u; cat; echo to-stderr >&2; while [ ! -e {} ]; do sleep 0.02; done",
        flag.display()
    );
    let spec = sudo_to_root(&user.password);
    let running = {
        let (conn, script, spec) = (conn.clone(), script.clone(), spec.clone());
        tokio::spawn(async move {
            let mut req = ExecRequest::new(&script);
            req.stdin = b"piped-data\n";
            req.become_ = Some(&spec);
            conn.exec(req).await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut saw_sudo = false;
    while !saw_sudo {
        assert!(Instant::now() < deadline, "sudo never ran");
        for p in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let text = String::from_utf8_lossy(&cmdline);
            assert!(!text.contains(&user.password), "password in argv: {text}");
            saw_sudo |= text.starts_with("sudo\0") && text.contains("RMESOS-BECOME-OK");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    std::fs::write(&flag, "").unwrap();
    let out = running.await.unwrap().unwrap();
    assert_eq!(out.rc, 0);
    assert_eq!(out.stdout_str(), "0\npiped-data\n");
    assert_eq!(
        out.stderr_str(),
        "to-stderr\n",
        "no prompt, marker or password"
    );

    let mut req = ExecRequest::new("id -u");
    let wrong = sudo_to_root("not-the-password");
    req.become_ = Some(&wrong);
    match conn.exec(req).await {
        Err(ConnError::Become(msg)) => {
            assert!(msg.contains("incorrect") || msg.contains("Sorry"), "{msg}");
            assert!(!msg.contains("not-the-password"), "{msg}");
        }
        other => panic!("expected a become failure, got {other:?}"),
    }
    // The connection survives a failed escalation.
    assert_eq!(
        run(&conn, "echo ok", b"").await.unwrap().stdout_str(),
        "ok\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_become_with_password_runs_as_the_user_needs_root() {
    let user = ensure_sudo_user().unwrap();
    let spec = BecomeSpec {
        method: BecomeMethod::Sudo,
        user: user.name.clone(),
        flags: None,
        password: Some(user.password.clone()),
    };
    let mut req = ExecRequest::new("id -un; cat");
    req.stdin = b"x";
    req.become_ = Some(&spec);
    let out = LocalConnection::default().exec(req).await.unwrap();
    assert_eq!(out.stdout_str(), format!("{}\nx", user.name));
    assert_eq!(out.stderr_str(), "");
}

#[tokio::test]
async fn refused_connection_is_retried_then_unreachable() {
    // Nothing listens on this port of this address: every attempt is refused.
    let port = std::net::TcpListener::bind("127.0.45.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut target = ssh::SshTarget::new("127.0.45.1", port, TEST_USER);
    target.connect_retries = 1;
    let started = Instant::now();
    let err = ssh::connect(&target).await.err().expect("nothing listens");
    let msg = err.to_string();
    assert!(matches!(err, ConnError::Unreachable(_)), "{msg}");
    assert!(
        msg.contains("refused") && msg.contains(&format!("[127.0.45.1]:{port}")),
        "{msg}"
    );
    // One retry after a one-second backoff.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_and_ecdsa_key_files_authenticate_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 46], 1)).unwrap();
    for kind in ["rsa", "ecdsa"] {
        let key = sshd.dir().join(format!("{kind}_key"));
        loopback::keygen_typed(&key, kind, kind, None).unwrap();
        sshd.authorize(&loopback::public_key_line(&key).unwrap())
            .unwrap();
        let mut target = sshd.target(sshd.addrs()[0]);
        target.identity_files = vec![key];
        let conn = ssh::connect(&target)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(
            run(&conn, "echo ok", b"").await.unwrap().stdout_str(),
            "ok\n"
        );
    }
    // sshd logs the key type it accepted. OpenSSH 9 refuses SHA-1 `ssh-rsa` signatures by
    // default, so the RSA login proves rsa-sha2-256/512 was used.
    let log = sshd.log_text();
    assert!(
        log.contains("Accepted publickey for rmtest") && log.contains(" RSA SHA256:"),
        "{log}"
    );
    assert!(log.contains(" ECDSA SHA256:"), "{log}");
}

/// A real ssh-agent started by the test; killed (by its PID) on drop.
struct Agent {
    child: std::process::Child,
    socket: std::path::PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_agent_keys_authenticate_needs_root() {
    let sshd = LoopbackSshd::start(loopback_addrs([127, 0, 47], 1)).unwrap();
    let socket = sshd.dir().join("agent.sock");
    let mut agent = Agent {
        child: std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        socket,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.socket.exists() {
        assert!(
            Instant::now() < deadline,
            "ssh-agent never created its socket"
        );
        assert!(
            agent.child.try_wait().unwrap().is_none(),
            "ssh-agent exited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let added = std::process::Command::new("ssh-add")
        .arg(sshd.client_key())
        .env("SSH_AUTH_SOCK", &agent.socket)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());
    let mut target = sshd.target(sshd.addrs()[0]);
    target.identity_files.clear();
    target.identities_only = false;
    target.identity_agent = Some(agent.socket.clone());
    let conn = ssh::connect(&target).await.unwrap();
    assert_eq!(
        run(&conn, "echo ok", b"").await.unwrap().stdout_str(),
        "ok\n"
    );
    // Without the agent (and no key files) the same login is refused.
    target.identity_agent = None;
    target.identities_only = true;
    let msg = ssh::connect(&target)
        .await
        .err()
        .expect("no keys")
        .to_string();
    assert!(msg.contains("Permission denied"), "{msg}");
}

fn verbose_sshd(octet: u8, hosts: u8) -> LoopbackSshd {
    LoopbackSshd::start_with(
        loopback_addrs([127, 0, octet], hosts),
        SshdOptions {
            log_level: Some("VERBOSE".into()),
            ..SshdOptions::default()
        },
    )
    .unwrap()
}

/// The long-lived shell: many scripts, one session, and each script still behaves as if it
/// had a session of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_share_one_session_and_keep_their_own_semantics_needs_root() {
    let sshd = verbose_sshd(81, 1);
    let conn = ssh::connect(&sshd.target(sshd.addrs()[0])).await.unwrap();
    let ok = |out: rmesos::connection::ExecOutput| (out.rc, out.stdout_str(), out.stderr_str());

    // Exit codes, separate streams, output without a final newline.
    let out = run(&conn, "printf abc; printf err >&2; exit 3", b"")
        .await
        .unwrap();
    assert_eq!(ok(out), (3, "abc".into(), "err".into()));
    // Each script is a process of its own: $$ differs, and cd, variables and `exit` stay in it.
    let pid1 = run(&conn, "echo $$", b"").await.unwrap().stdout_str();
    let pid2 = run(&conn, "echo $$", b"").await.unwrap().stdout_str();
    assert_ne!(pid1, pid2, "each script is its own process");
    let home = run(&conn, "pwd", b"").await.unwrap().stdout_str();
    run(&conn, "cd /tmp; FOO=leak; export BAR=leak; exit 0", b"")
        .await
        .unwrap();
    let after = run(&conn, "pwd; echo \"${FOO-}${BAR-}\"", b"")
        .await
        .unwrap();
    assert_eq!(after.stdout_str(), format!("{home}\n"));
    // A syntax error fails that script only.
    let out = run(&conn, "if then fi 'unterminated", b"").await.unwrap();
    assert_eq!(out.rc, 2, "{}", out.stderr_str());
    assert!(!out.stderr_str().is_empty());
    // Stdin: none, text, bytes with NUL and no final newline, text holding the delimiter's
    // prefix, 200 KiB of binary.
    assert_eq!(ok(run(&conn, "cat", b"").await.unwrap()).1, "");
    assert_eq!(
        ok(run(&conn, "cat", b"line 1\n$HOME `x` '\\\n").await.unwrap()).1,
        "line 1\n$HOME `x` '\\\n"
    );
    for data in [
        &b"\0\x01\xff no newline"[..],
        b"RMESOS_STDIN_\nRMESOS_STDIN_0123\n",
        b"\n",
    ] {
        assert_eq!(run(&conn, "cat", data).await.unwrap().stdout, data);
    }
    let binary: Vec<u8> = (0..200 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    assert!(run(&conn, "cat", &binary).await.unwrap().stdout == binary);
    // A large output, and a marker-like line in it.
    let out = run(
        &conn,
        "head -c 3000000 /dev/zero; echo RMESOS-0-1:0; echo RMESOS-0-1 >&2",
        b"",
    )
    .await
    .unwrap();
    assert_eq!(out.stdout.len(), 3_000_000 + "RMESOS-0-1:0\n".len());
    assert_eq!(out.stderr_str(), "RMESOS-0-1\n");
    assert_eq!(
        sshd.sessions_started(""),
        1,
        "all of it in one session\n{}",
        sshd.log_text()
    );

    // A script that kills the shell fails; the next one gets a new shell.
    let res = run(&conn, "kill -9 $PPID; sleep 5", b"").await;
    assert!(matches!(res, Err(ConnError::Other(_))), "{res:?}");
    assert_eq!(
        run(&conn, "echo again", b"").await.unwrap().stdout_str(),
        "again\n"
    );
    assert_eq!(sshd.sessions_started(""), 2, "{}", sshd.log_text());
}

/// Concurrent scripts on one host do not queue behind the shell: the ones that find it busy
/// get a session each, and every answer goes to the script that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_shell_sends_other_scripts_to_sessions_of_their_own_needs_root() {
    let sshd = verbose_sshd(82, 1);
    let conn = Arc::new(ssh::connect(&sshd.target(sshd.addrs()[0])).await.unwrap());
    let started = Instant::now();
    let mut execs = tokio::task::JoinSet::new();
    for i in 0..6 {
        let conn = conn.clone();
        execs.spawn(async move {
            let out = run(&conn, "sleep 1; cat", format!("{i}\n").as_bytes()).await;
            (i, out.unwrap())
        });
    }
    while let Some(done) = execs.join_next().await {
        let (i, out) = done.unwrap();
        assert_eq!(out.stdout_str(), format!("{i}\n"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the six ran at once: {:?}",
        started.elapsed()
    );
    assert_eq!(sshd.sessions_started(""), 6, "{}", sshd.log_text());
}

/// Become gets a shell of its own: sudo (and its password prompt) once, then every script as
/// root on that shell; another identity or a wrong password does not disturb it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn become_scripts_share_one_sudo_shell_needs_root() {
    let user = ensure_sudo_user().unwrap();
    let sshd = verbose_sshd(83, 1);
    let mut target = sshd.target(sshd.addrs()[0]);
    target.user = user.name.clone();
    let conn = ssh::connect(&target).await.unwrap();
    let spec = sudo_to_root(&user.password);
    for i in 0..5 {
        let mut req = ExecRequest::new("id -u; cat");
        let stdin = format!("{i}\n");
        req.stdin = stdin.as_bytes();
        req.become_ = Some(&spec);
        let out = conn.exec(req).await.unwrap();
        assert_eq!((out.rc, out.stdout_str()), (0, format!("0\n{i}\n")));
        assert_eq!(out.stderr_str(), "", "no prompt or marker in stderr");
    }
    assert_eq!(sshd.sessions_started(""), 1, "{}", sshd.log_text());
    let uid = run(&conn, "id -u", b"").await.unwrap().stdout_str();
    assert_ne!(uid, "0\n", "the login user's shell is another shell");
    assert_eq!(sshd.sessions_started(""), 2);

    let wrong = sudo_to_root("not-the-password");
    let mut req = ExecRequest::new("id -u");
    req.become_ = Some(&wrong);
    assert!(matches!(conn.exec(req).await, Err(ConnError::Become(_))));
    let mut req = ExecRequest::new("id -u");
    req.become_ = Some(&spec);
    assert_eq!(conn.exec(req).await.unwrap().stdout_str(), "0\n");
}

/// `rmesos_persistent_shell: false` gives every script a session of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_shell_off_means_a_session_per_script_needs_root() {
    let sshd = verbose_sshd(84, 1);
    let mut vars = IndexMap::new();
    vars.insert(
        "ansible_host".to_string(),
        Value::from(sshd.addrs()[0].to_string()),
    );
    vars.insert("rmesos_persistent_shell".to_string(), Value::from(false));
    let from_vars = ssh::from_vars("h1", &vars, &SshDefaults::default()).unwrap();
    assert!(!from_vars.persistent_shell);
    let mut target = sshd.target(sshd.addrs()[0]);
    target.persistent_shell = from_vars.persistent_shell;
    let conn = ssh::connect(&target).await.unwrap();
    for _ in 0..3 {
        assert_eq!(run(&conn, "echo x", b"").await.unwrap().stdout_str(), "x\n");
    }
    assert_eq!(sshd.sessions_started(""), 3, "{}", sshd.log_text());
}

/// An exec whose future is dropped half-way (a caller's own timeout, as `setup`'s
/// `gather_timeout`; a cancelled task) leaves the long-lived shell in the middle of a script:
/// the next script must not read that script's output as its own, nor have its text taken
/// as the rest of the first one's here-document (its stdin): it gets a new shell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_dropped_half_way_does_not_leak_into_the_next_needs_root() {
    let sshd = verbose_sshd(116, 1);
    let conn = ssh::connect(&sshd.target(sshd.addrs()[0])).await.unwrap();
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        run(&conn, "sleep 1; echo first; cat", b"stdin of the first\n"),
    )
    .await;
    assert!(dropped.is_err(), "the first exec was still running");
    let out = run(&conn, "echo second", b"").await.unwrap();
    assert_eq!(
        (out.rc, out.stdout_str(), out.stderr_str()),
        (0, "second\n".into(), String::new())
    );
    let out = run(&conn, "echo third; cat", b"x\n").await.unwrap();
    assert_eq!(out.stdout_str(), "third\nx\n");
}
