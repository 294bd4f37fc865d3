//! A lab's hosts: containers on a network of their own, each with its hostname, address, host
//! keys and root's authorized key, answering SSH; and the INI inventory that reaches them.
//! Everything created carries the lab label, so [`remove_lab`] needs only the lab's name.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::LAB_LABEL;
use super::process::{self, LabError, docker};
use crate::connection::ExecOutput;

/// One host to start.
#[derive(Clone, Debug)]
pub struct HostSpec {
    /// Inventory name and hostname (a DNS label: lowercase letters, digits, `-`).
    pub name: String,
    /// Inventory groups the host belongs to, besides `all`.
    pub groups: Vec<String>,
}

impl HostSpec {
    pub fn new(name: impl Into<String>) -> Self {
        HostSpec {
            name: name.into(),
            groups: Vec::new(),
        }
    }

    pub fn in_groups(mut self, groups: &[&str]) -> Self {
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }
}

/// What [`Lab::up`] starts.
#[derive(Clone, Debug)]
pub struct LabSpec {
    /// Names the network (`rmesos-<name>`), the containers and the label value.
    pub name: String,
    /// Where the key, known_hosts and inventory are written (created if missing).
    pub dir: PathBuf,
    /// The image tag, from [`super::ensure_image`].
    pub image: String,
    pub hosts: Vec<HostSpec>,
    /// How long each host may take to answer SSH.
    pub ssh_timeout: Duration,
    /// Linux capabilities added to every container (`docker run --cap-add`), for roles that act
    /// on the kernel: `NET_ADMIN` lets iptables change the container's own network namespace.
    /// None by default: a lab host is an ordinary container.
    pub cap_add: Vec<String>,
    /// Other `docker run` options for every container, such as [`DOCKER_CAPABLE`].
    pub run_options: Vec<String>,
}

/// What a lab host needs to run a Docker engine of its own (this machine's engine refuses
/// `--privileged`): mounts (cgroup hierarchies, the inner containers' /proc) and network
/// namespaces, /proc without Docker's masked paths (a new /proc cannot be mounted over a
/// masked one), and a cgroup namespace of its own so the inner engine sees a cgroup root. The
/// docker role remounts the cgroup hierarchies read-write and runs the engine with the vfs
/// storage driver and no iptables (docs/guide.md, "Docker in the lab").
pub const DOCKER_CAPABLE: &[&str] = &[
    "--cap-add=SYS_ADMIN",
    "--cap-add=NET_ADMIN",
    "--security-opt=systempaths=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=seccomp=unconfined",
    "--cgroupns=private",
];

impl LabSpec {
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>, image: impl Into<String>) -> Self {
        LabSpec {
            name: name.into(),
            dir: dir.into(),
            image: image.into(),
            hosts: Vec::new(),
            ssh_timeout: Duration::from_secs(60),
            cap_add: Vec::new(),
            run_options: Vec::new(),
        }
    }
}

/// A started host.
#[derive(Clone, Debug)]
pub struct LabHost {
    pub name: String,
    /// The container's address on the lab network, reachable from this machine.
    pub ip: IpAddr,
    /// Docker's name for the container (`rmesos-<lab>-<host>`).
    pub container: String,
    pub groups: Vec<String>,
}

/// A running lab. It stays up when dropped (the CLI leaves labs running); [`Lab::down`] or
/// [`remove_lab`] removes it.
#[derive(Debug)]
pub struct Lab {
    name: String,
    dir: PathBuf,
    hosts: Vec<LabHost>,
}

/// Container labels naming the host and its inventory groups, so a running lab can be found
/// again from Docker alone ([`Lab::open`]).
const HOST_LABEL: &str = "rmesos.host";
const GROUPS_LABEL: &str = "rmesos.groups";

const PRIVATE_KEY: &str = "id_ed25519";
const KNOWN_HOSTS: &str = "known_hosts";
const INVENTORY: &str = "inventory.ini";

impl Lab {
    /// Starts the lab's network and containers, waits until every host answers SSH, writes the
    /// inventory. On failure, removes whatever it had started.
    pub fn up(spec: &LabSpec) -> Result<Lab, LabError> {
        validate(spec)?;
        if lab_exists(&spec.name)? {
            return Err(LabError::Invalid(format!(
                "lab `{}` is already up; remove it first (its containers carry the label {LAB_LABEL}={})",
                spec.name, spec.name
            )));
        }
        fs::create_dir_all(&spec.dir)
            .map_err(|e| LabError::io(format!("creating {}", spec.dir.display()), e))?;
        let dir = spec
            .dir
            .canonicalize()
            .map_err(|e| LabError::io(format!("resolving {}", spec.dir.display()), e))?;
        check_inventory_safe_path(&dir)?;
        let public_key = ensure_key(&dir, &spec.name)?;
        // New containers have new host keys: whatever was known before is stale.
        let known_hosts = dir.join(KNOWN_HOSTS);
        fs::write(&known_hosts, "")
            .map_err(|e| LabError::io(format!("writing {}", known_hosts.display()), e))?;

        let lab = start(spec, &public_key).map(|hosts| Lab {
            name: spec.name.clone(),
            dir,
            hosts,
        });
        let lab = lab.and_then(|lab| lab.write_inventory().map(|()| lab));
        if lab.is_err() {
            // The start's error is the one worth reporting; cleanup is best effort.
            let _ = remove_lab(&spec.name);
        }
        lab
    }

    /// The running lab `name` whose key and inventory are in `dir`, found by its labels.
    /// `None` when Docker has no container of that lab; an error when some are not running.
    pub fn open(name: &str, dir: &Path) -> Result<Option<Lab>, LabError> {
        let members = list_members(Some(name))?;
        if members.is_empty() {
            return Ok(None);
        }
        let mut hosts = Vec::new();
        for m in members {
            let Some(ip) = m.ip else {
                return Err(LabError::Invalid(format!(
                    "host `{}` of lab `{name}` is {} (container {}); `rmesos lab down --name \
                     {name}` then `rmesos lab up --name {name}` starts it afresh",
                    m.host, m.state, m.container
                )));
            };
            hosts.push(LabHost {
                name: m.host,
                ip,
                container: m.container,
                groups: m.groups,
            });
        }
        Ok(Some(Lab {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            hosts,
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    pub fn host(&self, name: &str) -> Option<&LabHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn inventory_path(&self) -> PathBuf {
        self.dir.join(INVENTORY)
    }

    pub fn private_key_path(&self) -> PathBuf {
        self.dir.join(PRIVATE_KEY)
    }

    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.join(KNOWN_HOSTS)
    }

    /// Runs `script` with `sh -c` as root in the host's container, outside SSH: for checks and
    /// setup that must not go through the code under test.
    pub fn exec(&self, host: &str, script: &str) -> Result<ExecOutput, LabError> {
        let container = &self
            .host(host)
            .ok_or_else(|| LabError::Invalid(format!("lab `{}` has no host `{host}`", self.name)))?
            .container;
        let out = process::output(
            "docker",
            &["exec", container, "sh", "-c", script],
            process::DOCKER_HINT,
        )?;
        Ok(ExecOutput {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
            ..Default::default()
        })
    }

    /// Removes the lab's containers and network.
    pub fn down(self) -> Result<(), LabError> {
        remove_lab(&self.name)
    }

    /// The inventory: one line per host with how to reach it, then one section per group.
    fn write_inventory(&self) -> Result<(), LabError> {
        let key = self.private_key_path();
        let known_hosts = self.known_hosts_path();
        let mut text = format!(
            "# rmesos lab `{}`: containers labelled {LAB_LABEL}={}\n",
            self.name, self.name
        );
        for h in &self.hosts {
            // Paths were checked to need no quoting (check_inventory_safe_path).
            let _ = writeln!(
                text,
                "{} ansible_host={} ansible_user=root ansible_ssh_private_key_file={} \
                 ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new'",
                h.name,
                h.ip,
                key.display(),
                known_hosts.display()
            );
        }
        let mut groups: Vec<&str> = Vec::new();
        for g in self.hosts.iter().flat_map(|h| &h.groups) {
            if !groups.contains(&g.as_str()) {
                groups.push(g);
            }
        }
        for g in groups {
            let _ = writeln!(text, "\n[{g}]");
            for h in self
                .hosts
                .iter()
                .filter(|h| h.groups.iter().any(|x| x == g))
            {
                let _ = writeln!(text, "{}", h.name);
            }
        }
        let path = self.inventory_path();
        fs::write(&path, text).map_err(|e| LabError::io(format!("writing {}", path.display()), e))
    }
}

/// Removes every container and network labelled with the lab's name; a lab that is not there is
/// not an error.
pub fn remove_lab(name: &str) -> Result<(), LabError> {
    let filter = format!("label={LAB_LABEL}={name}");
    let containers = docker(&["ps", "-aq", "--filter", &filter])?;
    let ids: Vec<&str> = containers.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(&ids);
        docker(&args)?;
    }
    let networks = docker(&["network", "ls", "-q", "--filter", &filter])?;
    for id in networks.split_whitespace() {
        docker(&["network", "rm", id])?;
    }
    Ok(())
}

/// One container of a lab as Docker reports it, running or not.
#[derive(Clone, Debug)]
pub struct LabMember {
    pub lab: String,
    pub host: String,
    pub container: String,
    pub groups: Vec<String>,
    /// Docker's state: `running`, `exited`, ...
    pub state: String,
    /// The address on the lab network, when running.
    pub ip: Option<IpAddr>,
}

/// Every lab container on this machine (all labs, or one), sorted by lab then host name.
pub fn list_members(lab: Option<&str>) -> Result<Vec<LabMember>, LabError> {
    let filter = match lab {
        Some(name) => format!("label={LAB_LABEL}={name}"),
        None => format!("label={LAB_LABEL}"),
    };
    let format = format!(
        "{{{{.Label \"{LAB_LABEL}\"}}}}\t{{{{.Label \"{HOST_LABEL}\"}}}}\t{{{{.Names}}}}\t\
         {{{{.Label \"{GROUPS_LABEL}\"}}}}\t{{{{.State}}}}"
    );
    let out = docker(&["ps", "-a", "--filter", &filter, "--format", &format])?;
    let mut members: Vec<LabMember> = out
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some(LabMember {
                lab: f.next()?.to_string(),
                host: f.next()?.to_string(),
                container: f.next()?.to_string(),
                groups: f
                    .next()?
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect(),
                state: f.next()?.to_string(),
                ip: None,
            })
        })
        .collect();
    for m in members.iter_mut().filter(|m| m.state == "running") {
        m.ip = Some(container_ip(&m.container, &network_name(&m.lab))?);
    }
    members.sort_by(|a, b| (&a.lab, &a.host).cmp(&(&b.lab, &b.host)));
    Ok(members)
}

fn lab_exists(name: &str) -> Result<bool, LabError> {
    let filter = format!("label={LAB_LABEL}={name}");
    let containers = docker(&["ps", "-aq", "--filter", &filter])?;
    let networks = docker(&["network", "ls", "-q", "--filter", &filter])?;
    Ok(!containers.is_empty() || !networks.is_empty())
}

fn network_name(lab: &str) -> String {
    format!("rmesos-{lab}")
}

fn start(spec: &LabSpec, public_key: &str) -> Result<Vec<LabHost>, LabError> {
    let network = network_name(&spec.name);
    let label = format!("{LAB_LABEL}={}", spec.name);
    docker(&["network", "create", "--label", &label, &network])?;

    // Started together: each `docker run` spends most of its time waiting on the engine.
    let key_env = format!("RMESOS_AUTHORIZED_KEYS={public_key}");
    let runs: Vec<(String, Result<Child, std::io::Error>)> = spec
        .hosts
        .iter()
        .map(|h| {
            let container = format!("rmesos-{}-{}", spec.name, h.name);
            let host_label = format!("{HOST_LABEL}={}", h.name);
            let groups_label = format!("{GROUPS_LABEL}={}", h.groups.join(","));
            let mut run = Command::new("docker");
            run.arg("run");
            for cap in &spec.cap_add {
                run.args(["--cap-add", cap]);
            }
            run.args(&spec.run_options);
            let child = run
                .args([
                    "--detach",
                    // Lab images are built here; a missing one must not become a registry pull.
                    "--pull",
                    "never",
                    // A real PID 1 reaps daemons that `service` starts and sshd then orphans.
                    "--init",
                    "--name",
                    &container,
                    "--hostname",
                    &h.name,
                    "--network",
                    &network,
                    "--network-alias",
                    &h.name,
                    "--label",
                    &label,
                    "--label",
                    &host_label,
                    "--label",
                    &groups_label,
                    "--env",
                    &key_env,
                    &spec.image,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            (container, child)
        })
        .collect();
    let mut first_error = None;
    let mut containers = Vec::new();
    for (container, child) in runs {
        let waited = child
            .and_then(|c| c.wait_with_output())
            .map_err(|source| LabError::Missing {
                program: "docker".into(),
                source,
                hint: process::DOCKER_HINT,
            });
        match waited {
            Ok(out) if out.status.success() => containers.push(container),
            Ok(out) => {
                first_error.get_or_insert(process::failure("docker", &["run", &container], &out));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    let hosts = spec
        .hosts
        .iter()
        .zip(containers)
        .map(|(h, container)| {
            let ip = container_ip(&container, &network)?;
            Ok(LabHost {
                name: h.name.clone(),
                ip,
                container,
                groups: h.groups.clone(),
            })
        })
        .collect::<Result<Vec<_>, LabError>>()?;

    let deadline = Instant::now() + spec.ssh_timeout;
    std::thread::scope(|scope| {
        let waits: Vec<_> = hosts
            .iter()
            .map(|h| scope.spawn(move || wait_for_ssh(h, deadline, spec.ssh_timeout)))
            .collect();
        waits
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(LabError::Invalid("an SSH wait thread panicked".into()))
                })
            })
            .collect::<Result<Vec<()>, LabError>>()
    })?;
    Ok(hosts)
}

fn container_ip(container: &str, network: &str) -> Result<IpAddr, LabError> {
    let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let ip = docker(&["inspect", "--format", &format, container])?;
    ip.parse().map_err(|_| {
        LabError::Invalid(format!(
            "container {container} has no address on {network} (docker said `{ip}`)"
        ))
    })
}

/// Polls until the host's sshd sends its banner; a banner means sshd is accepting connections.
fn wait_for_ssh(host: &LabHost, deadline: Instant, timeout: Duration) -> Result<(), LabError> {
    let addr = SocketAddr::new(host.ip, 22);
    loop {
        if read_banner(addr).is_some_and(|b| b.starts_with(b"SSH-")) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let logs = process::output(
                "docker",
                &["logs", "--tail", "20", &host.container],
                process::DOCKER_HINT,
            )
            .map(|o| {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                format!("; container log:\n{}", text.trim_end())
            })
            .unwrap_or_default();
            return Err(LabError::SshTimeout {
                host: host.name.clone(),
                addr: addr.to_string(),
                secs: timeout.as_secs(),
                logs,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_banner(addr: SocketAddr) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut banner = [0u8; 4];
    stream.read_exact(&mut banner).ok()?;
    Some(banner.to_vec())
}

/// Creates the lab's ed25519 key unless the directory has one (a lab started again in the same
/// directory keeps its key); returns the public key line.
fn ensure_key(dir: &Path, lab: &str) -> Result<String, LabError> {
    let key = dir.join(PRIVATE_KEY);
    let public = dir.join(format!("{PRIVATE_KEY}.pub"));
    if !key.exists() {
        let key_s = key.to_string_lossy();
        let comment = format!("rmesos-lab-{lab}");
        process::run(
            "ssh-keygen",
            &[
                "-q", "-t", "ed25519", "-N", "", "-C", &comment, "-f", &key_s,
            ],
            "install OpenSSH's client tools (`apt-get install openssh-client`)",
        )?;
    }
    let text = fs::read_to_string(&public)
        .map_err(|e| LabError::io(format!("reading {}", public.display()), e))?;
    Ok(text.trim().to_string())
}

fn validate(spec: &LabSpec) -> Result<(), LabError> {
    let invalid = |msg: String| Err(LabError::Invalid(msg));
    let name_ok = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    // The lab name becomes part of container and network names and of label filters: keep it
    // to characters that need no quoting anywhere.
    if !name_ok(&spec.name, 40) {
        return invalid(format!(
            "lab name `{}`: use 1-40 lowercase letters, digits and inner `-`",
            spec.name
        ));
    }
    if spec.hosts.is_empty() {
        return invalid(format!("lab `{}` has no hosts", spec.name));
    }
    for (i, h) in spec.hosts.iter().enumerate() {
        if !name_ok(&h.name, 63) {
            return invalid(format!(
                "host name `{}`: a hostname is 1-63 lowercase letters, digits and inner `-`",
                h.name
            ));
        }
        if spec.hosts[..i].iter().any(|o| o.name == h.name) {
            return invalid(format!("host `{}` is listed twice", h.name));
        }
        for g in &h.groups {
            // `-` is allowed: the Mesos stack's groups are `mesos-master` and `mesos-slave`, as in
            // the roles' history, and Ansible accepts it (with a warning about Python names).
            let group_ok = g.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && g.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !group_ok || g == "all" || g == "ungrouped" {
                return invalid(format!(
                    "group `{g}` of host `{}`: use letters, digits, `_` and `-` (starting with a \
                     letter or `_`), and not `all` or `ungrouped`",
                    h.name
                ));
            }
        }
    }
    Ok(())
}

/// The inventory names paths unquoted inside a single-quoted value; refuse paths that would
/// need quoting rather than write an inventory that parses differently.
fn check_inventory_safe_path(dir: &Path) -> Result<(), LabError> {
    let s = dir.to_string_lossy();
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+@:,~".contains(c));
    if safe {
        Ok(())
    } else {
        Err(LabError::Invalid(format!(
            "lab directory `{s}`: use a path of letters, digits and `/._-+@:,~` only (it is \
             written unquoted into the inventory)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hosts: Vec<HostSpec>) -> LabSpec {
        let mut spec = LabSpec::new("unit", "/tmp/unit", "img");
        spec.hosts = hosts;
        spec
    }

    fn rejection(spec: &LabSpec) -> String {
        match validate(spec) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("accepted {spec:?}"),
        }
    }

    #[test]
    fn bad_names_are_refused_before_docker_is_touched() {
        assert!(validate(&spec(vec![HostSpec::new("web1").in_groups(&["masters"])])).is_ok());
        assert!(rejection(&spec(vec![])).contains("no hosts"));
        assert!(rejection(&spec(vec![HostSpec::new("Web_1")])).contains("`Web_1`"));
        assert!(rejection(&spec(vec![HostSpec::new("a"), HostSpec::new("a")])).contains("twice"));
        assert!(rejection(&spec(vec![HostSpec::new("a").in_groups(&["all"])])).contains("`all`"));
        let mut bad_lab = spec(vec![HostSpec::new("a")]);
        bad_lab.name = "My Lab".into();
        assert!(rejection(&bad_lab).contains("lab name"));
    }

    #[test]
    fn paths_needing_quotes_are_refused() {
        assert!(check_inventory_safe_path(Path::new("/tmp/rmesos-lab.x1/a_b")).is_ok());
        assert!(check_inventory_safe_path(Path::new("/tmp/my lab")).is_err());
        assert!(check_inventory_safe_path(Path::new("/tmp/it's")).is_err());
    }

    #[test]
    fn inventory_lists_hosts_then_groups() {
        let dir = tempfile::tempdir().unwrap();
        let host = |name: &str, ip: &str, groups: &[&str]| LabHost {
            name: name.into(),
            ip: ip.parse().unwrap(),
            container: format!("rmesos-unit-{name}"),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let lab = Lab {
            name: "unit".into(),
            dir: dir.path().to_path_buf(),
            hosts: vec![
                host("m1", "172.30.0.2", &["masters", "zookeeper"]),
                host("s1", "172.30.0.3", &["slaves"]),
                host("s2", "172.30.0.4", &["slaves", "zookeeper"]),
            ],
        };
        lab.write_inventory().unwrap();
        let text = fs::read_to_string(lab.inventory_path()).unwrap();
        let d = dir.path().display();
        let first_host = text.lines().find(|l| l.starts_with("m1 ")).unwrap();
        assert_eq!(
            first_host,
            format!(
                "m1 ansible_host=172.30.0.2 ansible_user=root \
                 ansible_ssh_private_key_file={d}/id_ed25519 ansible_ssh_common_args='-o \
                 UserKnownHostsFile={d}/known_hosts -o StrictHostKeyChecking=accept-new'"
            )
        );
        assert!(text.contains("\n[masters]\nm1\n"), "{text}");
        assert!(text.contains("\n[zookeeper]\nm1\ns2\n"), "{text}");
        assert!(text.contains("\n[slaves]\ns1\ns2\n"), "{text}");
    }
}
