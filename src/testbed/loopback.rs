//! Loopback test hosts: a real OpenSSH `sshd -D -e` with its own config, host key, authorized
//! key and port, listening on 127.x.y.z addresses (one sshd per 16 addresses, OpenSSH's
//! limit), logging in a dedicated user with shell /bin/sh and an empty home. Needs root (it
//! creates users and starts sshd) and Debian's openssh-server. Stops exactly the processes it
//! started, on Drop, and waits for servers by polling their logs with a deadline.
//!
//! An isolated server ([`LoopbackSshd::start_isolated`]) runs in a network namespace of its
//! own, so nothing on the host can reach it; [`LoopbackSshd::bastion`] then serves SSH on a
//! host address by running `sshd -i` inside that namespace for each connection: a real
//! bastion that can reach the isolated hosts when nothing else can.

use crate::connection::ssh::{HostKeyMode, KnownHostsPolicy, SshTarget};
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The unprivileged user tests log in as (shell /bin/sh, empty home, no password).
pub const TEST_USER: &str = "rmtest";
/// A user with a password and password-protected sudo, for become tests.
pub const SUDO_USER: &str = "rmsudo";

const SSHD: &str = "/usr/sbin/sshd";
/// OpenSSH serves at most this many ListenAddress sockets per sshd.
const MAX_LISTEN: usize = 16;
const START_DEADLINE: Duration = Duration::from_secs(15);

/// `net.1` .. `net.n`: n distinct loopback hosts.
pub fn loopback_addrs(net: [u8; 3], n: u8) -> Vec<Ipv4Addr> {
    (1..=n)
        .map(|i| Ipv4Addr::new(net[0], net[1], net[2], i))
        .collect()
}

static USERS: Mutex<()> = Mutex::new(());

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Creates `name` (shell /bin/sh, empty home under /tmp) unless it exists. Needs root.
fn ensure_user(name: &str) -> io::Result<PathBuf> {
    let _guard = USERS.lock().unwrap_or_else(|p| p.into_inner());
    let home = PathBuf::from("/tmp/rmesos-test-home").join(name);
    if !user_exists(name) {
        let made = run(Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", "-d"])
            .arg(&home)
            .arg(name));
        // Another test process may have created it meanwhile.
        if made.is_err() && !user_exists(name) {
            made?;
        }
    }
    fs::create_dir_all(&home)?;
    run(Command::new("chown").arg(format!("{name}:")).arg(&home))?;
    Ok(home)
}

/// The login user for loopback hosts. With `UsePAM no`, sshd refuses accounts whose password
/// field is locked (`!`), so it is set to `*`: no password, not locked.
pub fn ensure_test_user() -> io::Result<()> {
    ensure_user(TEST_USER)?;
    run(Command::new("usermod").args(["-p", "*", TEST_USER]))
}

/// A login user whose sudo asks for a password.
pub struct SudoUser {
    pub name: String,
    /// Random per test process; given to chpasswd on stdin, never on a command line.
    pub password: String,
}

/// Creates [`SUDO_USER`] with a fresh password and a sudoers rule `ALL=(ALL:ALL) ALL` that
/// asks for it (no lecture, so stderr stays clean). Needs root and the sudo package.
pub fn ensure_sudo_user() -> io::Result<&'static SudoUser> {
    static USER: OnceLock<SudoUser> = OnceLock::new();
    if let Some(u) = USER.get() {
        return Ok(u);
    }
    ensure_user(SUDO_USER)?;
    let password = format!("pw-{}", random_hex());
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{}:{}", SUDO_USER, password)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "chpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let rule = format!("{SUDO_USER} ALL=(ALL:ALL) ALL\nDefaults:{SUDO_USER} lecture=never\n");
    let path = Path::new("/etc/sudoers.d/rmesos-test");
    fs::write(path, rule)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o440))?;
    Ok(USER.get_or_init(|| SudoUser {
        name: SUDO_USER.into(),
        password,
    }))
}

fn random_hex() -> String {
    let mut buf = [0u8; 12];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    hex::encode(buf)
}

/// How to start a test sshd.
#[derive(Clone, Debug, Default)]
pub struct SshdOptions {
    /// Allow password logins (for [`SUDO_USER`]).
    pub password_auth: bool,
    /// Extra sshd_config lines, appended.
    pub extra_config: Vec<String>,
    /// sshd's `LogLevel`; None = INFO. VERBOSE logs every session a client starts
    /// ([`LoopbackSshd::sessions_started`]).
    pub log_level: Option<String>,
}

/// One or more sshd processes serving `addrs` on one port.
pub struct LoopbackSshd {
    dir: tempfile::TempDir,
    port: u16,
    addrs: Vec<Ipv4Addr>,
    servers: Vec<Child>,
    logs: Vec<PathBuf>,
    client_key: PathBuf,
    host_key_line: String,
    known_hosts: PathBuf,
    /// The server runs in its own network namespace (see `start_isolated`).
    isolated: bool,
}

impl LoopbackSshd {
    /// Serves `addrs` (127.0.0.0/8 only) with default options.
    pub fn start(addrs: Vec<Ipv4Addr>) -> io::Result<Self> {
        Self::start_with(addrs, SshdOptions::default())
    }

    pub fn start_with(addrs: Vec<Ipv4Addr>, opts: SshdOptions) -> io::Result<Self> {
        Self::launch(addrs, opts, false)
    }

    /// Serves `addrs` inside a new network namespace with only a loopback interface: no
    /// process outside it can connect. Reach it through [`LoopbackSshd::bastion`].
    pub fn start_isolated(addrs: Vec<Ipv4Addr>, opts: SshdOptions) -> io::Result<Self> {
        Self::launch(addrs, opts, true)
    }

    fn launch(addrs: Vec<Ipv4Addr>, opts: SshdOptions, isolated: bool) -> io::Result<Self> {
        if addrs.is_empty() || addrs.iter().any(|a| a.octets()[0] != 127) {
            return Err(io::Error::other(
                "test sshd addresses must be in 127.0.0.0/8",
            ));
        }
        if isolated && addrs.len() > MAX_LISTEN {
            return Err(io::Error::other(
                "an isolated test sshd serves at most 16 addresses",
            ));
        }
        ensure_test_user()?;
        // sshd refuses to start without its privilege separation directory.
        fs::create_dir_all("/run/sshd")?;
        let dir = tempfile::Builder::new().prefix("rmesos-sshd-").tempdir()?;
        // sshd reads authorized_keys as the logging-in user: the directory must be readable.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let host_key = dir.path().join("host_ed25519");
        keygen(&host_key, "rmesos-test-host", None)?;
        let client_key = dir.path().join("client_ed25519");
        keygen(&client_key, "rmesos-test-client", None)?;
        let authorized = dir.path().join("authorized_keys");
        fs::copy(client_key.with_extension("pub"), &authorized)?;
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o644))?;
        let host_key_line = public_key_line(&host_key)?;
        let port = if isolated { 2222 } else { free_port(addrs[0])? };

        let mut sshd = LoopbackSshd {
            dir,
            port,
            addrs: addrs.clone(),
            servers: Vec::new(),
            logs: Vec::new(),
            client_key,
            host_key_line,
            known_hosts: PathBuf::new(),
            isolated,
        };
        sshd.known_hosts = sshd.dir.path().join("known_hosts");
        let entries: String = addrs
            .iter()
            .map(|a| format!("[{}]:{} {}\n", a, port, sshd.host_key_line))
            .collect();
        fs::write(&sshd.known_hosts, entries)?;

        for (idx, chunk) in addrs.chunks(MAX_LISTEN).enumerate() {
            let listen: String = chunk
                .iter()
                .map(|a| format!("ListenAddress {}\n", a))
                .collect();
            let conf = sshd.dir.path().join(format!("sshd_{idx}.conf"));
            fs::write(
                &conf,
                sshd_config(sshd.dir.path(), &host_key, port, &listen, &opts),
            )?;
            let log = sshd.dir.path().join(format!("sshd_{idx}.log"));
            let log_file = fs::File::create(&log)?;
            let mut cmd = if isolated {
                let mut c = Command::new("unshare");
                c.args(["--net", "--", "/bin/sh", "-c"]).arg(format!(
                    "ip link set lo up && exec {} -D -e -f {}",
                    SSHD,
                    conf.display()
                ));
                c
            } else {
                let mut c = Command::new(SSHD);
                c.args(["-D", "-e", "-f"]).arg(&conf);
                c
            };
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log_file))
                .spawn()?;
            sshd.servers.push(child);
            sshd.logs.push(log.clone());
            sshd.wait_listening(sshd.servers.len() - 1, &log, chunk)?;
        }
        Ok(sshd)
    }

    /// Polls the log until sshd reports every socket listening, or fails with its log.
    fn wait_listening(&mut self, idx: usize, log: &Path, addrs: &[Ipv4Addr]) -> io::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let text = fs::read_to_string(log).unwrap_or_default();
            let up = addrs
                .iter()
                .all(|a| text.contains(&format!("Server listening on {} port {}", a, self.port)));
            if up {
                return Ok(());
            }
            if let Some(status) = self.servers[idx].try_wait()? {
                return Err(io::Error::other(format!(
                    "sshd exited ({status}) before listening:\n{text}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "sshd not listening after {START_DEADLINE:?}:\n{text}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addrs(&self) -> &[Ipv4Addr] {
        &self.addrs
    }

    /// The private key authorized for every test user on this server.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// `ssh-ed25519 AAAA...`: the server's host key as known_hosts lists it.
    pub fn host_key_line(&self) -> &str {
        &self.host_key_line
    }

    /// A known_hosts file listing this server's key for each of its addresses.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// Scratch directory owned by this server (deleted on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Authorizes another public key (a `.pub` line) for the test users.
    pub fn authorize(&self, public_key_line: &str) -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))?;
        writeln!(f, "{}", public_key_line.trim())
    }

    /// A target for `addr` as [`TEST_USER`] with this server's key and known_hosts (strict).
    pub fn target(&self, addr: Ipv4Addr) -> SshTarget {
        let mut t = SshTarget::new(addr.to_string(), self.port, TEST_USER);
        t.identity_files = vec![self.client_key.clone()];
        t.identities_only = true;
        t.known_hosts = KnownHostsPolicy {
            files: vec![self.known_hosts.clone()],
            mode: HostKeyMode::Strict,
        };
        t.connect_timeout = Duration::from_secs(5);
        t.connect_retries = 0;
        t
    }

    /// Successful logins so far (sshd's `Accepted ...` log lines), one per SSH connection.
    pub fn accepted_logins(&self) -> usize {
        self.logs
            .iter()
            .map(|l| {
                fs::read_to_string(l)
                    .unwrap_or_default()
                    .matches("Accepted ")
                    .count()
            })
            .sum()
    }

    /// Sessions started so far of `kind`: `command` (an exec) or `subsystem` (SFTP), from
    /// sshd's `Starting session:` lines. Needs `log_level` VERBOSE or more. Every client
    /// connects from 127.0.0.1, so the count is for all of this server's addresses.
    pub fn sessions_started(&self, kind: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| {
                l.strip_prefix("Starting session: ")
                    .is_some_and(|rest| rest.starts_with(kind))
            })
            .count()
    }

    /// Everything the servers logged (for assertion messages).
    pub fn log_text(&self) -> String {
        self.logs
            .iter()
            .map(|l| fs::read_to_string(l).unwrap_or_default())
            .collect()
    }

    /// Kills the servers and every session process under them with SIGKILL, as a crash
    /// would: clients see their TCP connections drop.
    pub fn kill(&mut self) {
        for server in &mut self.servers {
            kill_tree(server);
        }
        self.servers.clear();
    }

    /// Serves SSH on `addr` (host namespace, a free port) with `sshd -i` run inside this
    /// isolated server's namespace for each connection. The bastion has its own host key;
    /// the same users and keys log in.
    pub fn bastion(&self, addr: Ipv4Addr) -> io::Result<Bastion> {
        let Some(server) = self.servers.first().filter(|_| self.isolated) else {
            return Err(io::Error::other(
                "a bastion needs a server started with start_isolated",
            ));
        };
        let netns = format!("/proc/{}/ns/net", server.id());
        let dir = self.dir.path();
        let host_key = dir.join("bastion_ed25519");
        keygen(&host_key, "rmesos-test-bastion", None)?;
        let conf = dir.join("bastion.conf");
        let port = free_port(addr)?;
        let opts = SshdOptions {
            extra_config: vec!["AllowTcpForwarding yes".into()],
            ..SshdOptions::default()
        };
        fs::write(&conf, sshd_config(dir, &host_key, port, "", &opts))?;
        let log = dir.join("bastion.log");
        fs::File::create(&log)?;
        let listener = TcpListener::bind((addr, port))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sessions: Arc<Mutex<Vec<Child>>> = Arc::default();
        let acceptor = {
            let (stop, sessions, log) = (stop.clone(), sessions.clone(), log.clone());
            std::thread::spawn(move || accept_loop(listener, &netns, &conf, &log, &stop, &sessions))
        };
        Ok(Bastion {
            addr,
            port,
            host_key_line: public_key_line(&host_key)?,
            log,
            stop,
            sessions,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for LoopbackSshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An SSH bastion on a host address whose sessions run inside an isolated namespace.
pub struct Bastion {
    addr: Ipv4Addr,
    port: u16,
    host_key_line: String,
    log: PathBuf,
    stop: Arc<AtomicBool>,
    sessions: Arc<Mutex<Vec<Child>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Bastion {
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `[addr]:port ssh-ed25519 AAAA...`: the bastion's known_hosts entry.
    pub fn known_hosts_entry(&self) -> String {
        format!("[{}]:{} {}", self.addr, self.port, self.host_key_line)
    }
    /// Successful logins on the bastion.
    pub fn accepted_logins(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("Accepted ")
            .count()
    }
}

impl Drop for Bastion {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for child in sessions.iter_mut() {
            kill_tree(child);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    netns: &str,
    conf: &Path,
    log: &Path,
    stop: &AtomicBool,
    sessions: &Mutex<Vec<Child>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(_) => return,
        };
        let spawned = (|| -> io::Result<Child> {
            stream.set_nonblocking(false)?;
            let fd = OwnedFd::from(stream);
            let log_file = fs::OpenOptions::new().append(true).open(log)?;
            Command::new("nsenter")
                .arg(format!("--net={}", netns))
                .args(["--", SSHD, "-i", "-e", "-f"])
                .arg(conf)
                .stdin(Stdio::from(fd.try_clone()?))
                .stdout(Stdio::from(fd))
                .stderr(Stdio::from(log_file))
                .spawn()
        })();
        if let Ok(child) = spawned {
            sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(child);
        }
    }
}

fn sshd_config(dir: &Path, host_key: &Path, port: u16, listen: &str, opts: &SshdOptions) -> String {
    let mut c = format!(
        "Port {port}\n{listen}HostKey {hk}\nPidFile none\nAuthorizedKeysFile {dir}/authorized_keys\n\
         # the key files live under /tmp (world-writable parent): skip the path checks\n\
         StrictModes no\nPermitRootLogin no\nAllowUsers {TEST_USER} {SUDO_USER}\n\
         PubkeyAuthentication yes\nPasswordAuthentication {pw}\nKbdInteractiveAuthentication no\n\
         UsePAM no\nMaxStartups 1000:30:2000\nMaxSessions 1000\nLoginGraceTime 30\nUseDNS no\n\
         PrintMotd no\nPrintLastLog no\nX11Forwarding no\nLogLevel {level}\n",
        hk = host_key.display(),
        dir = dir.display(),
        pw = if opts.password_auth { "yes" } else { "no" },
        level = opts.log_level.as_deref().unwrap_or("INFO"),
    );
    for line in &opts.extra_config {
        c.push_str(line);
        c.push('\n');
    }
    c
}

/// Generates an ed25519 key pair with ssh-keygen (passphrase on its command line: test keys
/// only).
pub fn keygen(path: &Path, comment: &str, passphrase: Option<&str>) -> io::Result<()> {
    keygen_typed(path, "ed25519", comment, passphrase)
}

/// Generates a key pair of `kind` (`ed25519`, `rsa`, `ecdsa`) with ssh-keygen.
pub fn keygen_typed(
    path: &Path,
    kind: &str,
    comment: &str,
    passphrase: Option<&str>,
) -> io::Result<()> {
    let pass = passphrase.unwrap_or("");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-C", comment, "-N", pass, "-f"])
        .arg(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// `type base64` of a key pair's public half.
pub fn public_key_line(private_key: &Path) -> io::Result<String> {
    let text = fs::read_to_string(private_key.with_extension("pub"))?;
    let mut fields = text.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(t), Some(k)) => Ok(format!("{t} {k}")),
        _ => Err(io::Error::other("malformed public key file")),
    }
}

fn free_port(addr: Ipv4Addr) -> io::Result<u16> {
    Ok(TcpListener::bind((addr, 0))?.local_addr()?.port())
}

/// Descendants of `pid`, children first listed before their own children.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let tasks = fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for task in tasks.flatten() {
        let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            out.push(child);
            out.extend(descendants(child));
        }
    }
    out
}

/// SIGKILLs a process we started and everything under it, then reaps it.
fn kill_tree(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let below = descendants(child.id());
    let _ = child.kill();
    for pid in below {
        // SAFETY: kill(2) with a pid read from /proc; a stale pid fails harmlessly (ESRCH).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}
