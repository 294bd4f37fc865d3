//! `rmesos ec2 …`: launch, list, describe, login, stop, start, destroy, add-slaves,
//! remove-slaves, run, inventory. Parses options, shows progress and summaries, and hands the
//! deploy step to the ordinary engine path: the cluster's aws_ec2 inventory source loaded by
//! the inventory layer, then `exec::run_playbook`.

use super::client::{self, AwsSettings, Ec2};
use super::cluster::{self, LaunchSpec, Node, Progress, Role, Step};
use crate::exec::{self, DefaultConnector, RunOptions};
use crate::inventory::{Inventory, Source};
use crate::plan::{self, LoadOptions};
use crate::report;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const OK: i32 = 0;
const FAILED: i32 = 1;
const BAD_OPTIONS: i32 = 5;

#[derive(Args)]
pub struct Ec2Args {
    #[command(subcommand)]
    pub command: Ec2Command,
    /// AWS region (default: AWS_REGION or the profile's region).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile (default: AWS_PROFILE or `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// EC2 API endpoint (default: AWS_ENDPOINT_URL or AWS's own).
    #[arg(long = "endpoint-url", global = true)]
    pub endpoint_url: Option<String>,
}

#[derive(Subcommand)]
pub enum Ec2Command {
    /// Launch a named cluster (or continue one with --resume), then deploy the playbook.
    Launch(Box<LaunchArgs>),
    /// Clusters and their instance counts and states.
    List,
    /// A cluster's hosts, roles, addresses and UI URLs.
    Describe { cluster: String },
    /// SSH to the cluster's first running master (-D PORT: a SOCKS proxy for the UIs).
    Login(LoginArgs),
    /// Stop every instance of the cluster (EBS-backed instances keep their disks).
    Stop { cluster: String },
    /// Start a stopped cluster, then re-run the playbook (addresses change).
    Start {
        cluster: String,
        #[arg(long = "no-deploy")]
        no_deploy: bool,
        #[command(flatten)]
        deploy: DeployArgs,
    },
    /// Terminate every instance of the cluster.
    Destroy {
        cluster: String,
        /// Don't ask.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Also delete the cluster's security groups (waits for the instances to end).
        #[arg(long = "delete-groups")]
        delete_groups: bool,
    },
    /// Launch N more slaves like the existing ones, then re-run the playbook.
    AddSlaves {
        cluster: String,
        count: u32,
        #[arg(long = "no-deploy")]
        no_deploy: bool,
        #[command(flatten)]
        deploy: DeployArgs,
    },
    /// Terminate the N most recently launched slaves.
    RemoveSlaves {
        cluster: String,
        count: usize,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Run a shell command on every node.
    Run {
        cluster: String,
        command: String,
        #[command(flatten)]
        deploy: DeployArgs,
    },
    /// Print the cluster's aws_ec2 inventory source (save it and use it with -i).
    Inventory {
        cluster: String,
        #[command(flatten)]
        deploy: DeployArgs,
    },
}

/// How rmesos reaches and configures the cluster's nodes.
#[derive(Args, Clone)]
pub struct DeployArgs {
    /// Private key for SSH (the key pair's .pem).
    #[arg(long = "identity-file", short = 'i')]
    pub identity_file: Option<PathBuf>,
    /// Login user on the instances (Debian AMIs: admin).
    #[arg(long, short = 'u', default_value = "admin")]
    pub user: String,
    /// Playbook run on the cluster after launch/start/add-slaves.
    #[arg(long, default_value = "playbooks/mesos.yml")]
    pub playbook: PathBuf,
    /// Extra `compose` entries of the cluster's inventory source, VAR=EXPR (repeatable);
    /// e.g. `ansible_host=private_ip_address` when rmesos runs inside the VPC.
    #[arg(long = "compose")]
    pub compose: Vec<String>,
    /// The `hostnames` preference list of the cluster's inventory (comma-separated).
    #[arg(
        long = "hostnames",
        default_value = "dns-name,private-dns-name,instance-id"
    )]
    pub hostnames: String,
    /// Seconds to wait for SSH to answer on every node.
    #[arg(long = "ssh-timeout", default_value_t = 600)]
    pub ssh_timeout: u64,
    /// Extra variables for the playbook: k=v, JSON/YAML, or @file (repeatable).
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
}

#[derive(Args)]
pub struct LaunchArgs {
    pub cluster: String,
    /// Masters; more than one means fault-tolerant, with three ZooKeeper nodes.
    #[arg(long, default_value_t = 1)]
    pub masters: u32,
    #[arg(long, default_value_t = 1)]
    pub slaves: u32,
    /// ZooKeeper nodes (default: 3 with several masters, else none: the master runs it).
    #[arg(long)]
    pub zookeepers: Option<u32>,
    #[arg(long = "instance-type", default_value = "m5.large")]
    pub instance_type: String,
    /// Masters' instance type (default: --instance-type).
    #[arg(long = "master-instance-type")]
    pub master_instance_type: Option<String>,
    /// The AMI (e.g. a Debian 12 image of the region).
    #[arg(long)]
    pub ami: String,
    /// The EC2 key pair the instances accept.
    #[arg(long = "key-name", short = 'k')]
    pub key_name: Option<String>,
    #[arg(long)]
    pub zone: Option<String>,
    #[arg(long = "vpc-id")]
    pub vpc_id: Option<String>,
    #[arg(long = "subnet-id")]
    pub subnet_id: Option<String>,
    /// Size in GB of an extra EBS volume per instance (at /dev/sdv).
    #[arg(long = "ebs-vol-size")]
    pub ebs_vol_size: Option<i32>,
    /// Launch spot instances at this maximum price.
    #[arg(long = "spot-price")]
    pub spot_price: Option<String>,
    /// Extra tag on instances and volumes, k=v (repeatable).
    #[arg(long = "tag")]
    pub tag: Vec<String>,
    /// CIDR allowed to SSH in (required: rmesos does not guess your address).
    #[arg(long = "ssh-from")]
    pub ssh_from: String,
    /// CIDR allowed to reach the web UIs (default: nobody; use `login -D`).
    #[arg(long = "open-ui")]
    pub open_ui: Option<String>,
    #[arg(long = "no-deploy")]
    pub no_deploy: bool,
    /// Continue a launch of an existing cluster.
    #[arg(long)]
    pub resume: bool,
    /// Debugging aid: end the launch after this step.
    #[arg(long = "stop-after", value_enum)]
    pub stop_after: Option<Step>,
    /// Seconds to wait for instances to be running.
    #[arg(long = "wait-timeout", default_value_t = 600)]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

#[derive(Args)]
pub struct LoginArgs {
    pub cluster: String,
    /// Open a SOCKS proxy on this local port (browse the UIs through it).
    #[arg(short = 'D')]
    pub socks: Option<u16>,
    /// Local port forwarding, as ssh -L (repeatable).
    #[arg(short = 'L')]
    pub forward: Vec<String>,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

/// Runs `rmesos ec2 …`; returns the exit code.
pub fn main(a: Ec2Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR! cannot start the runtime: {}", e);
            return FAILED;
        }
    };
    let settings = AwsSettings {
        profile: a.profile.clone(),
        region: a.region.clone(),
        endpoint_url: a.endpoint_url.clone(),
        keys: None,
    };
    rt.block_on(async move {
        let ec2 = match client::connect(&settings, None).await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let ctx = Ctx { settings, ec2 };
        ctx.run(a.command).await
    })
}

fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!("ERROR! {}", e);
    FAILED
}

fn show(p: Progress) {
    match p {
        Progress::Step(s) => eprintln!("* {}", s),
        Progress::Waiting { what, done, total } => eprintln!("  {}/{} {}", done, total, what),
    }
}

/// Only prints a waiting line when it changes, so polling does not flood the terminal.
fn progress_printer() -> impl Fn(Progress) {
    let last = std::sync::Mutex::new(String::new());
    move |p: Progress| {
        let line = format!("{:?}", p);
        let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
        if *l != line {
            *l = line;
            show(p);
        }
    }
}

struct Ctx {
    settings: AwsSettings,
    ec2: Ec2,
}

impl Ctx {
    async fn run(&self, cmd: Ec2Command) -> i32 {
        match cmd {
            Ec2Command::Launch(a) => self.launch(*a).await,
            Ec2Command::List => self.list().await,
            Ec2Command::Describe { cluster } => self.describe(&cluster).await,
            Ec2Command::Login(a) => self.login(a).await,
            Ec2Command::Stop { cluster } => match cluster::stop(&self.ec2, &cluster).await {
                Ok(ids) => {
                    println!("stopping {} instance(s) of {}", ids.len(), cluster);
                    OK
                }
                Err(e) => fail(e),
            },
            Ec2Command::Start {
                cluster,
                no_deploy,
                deploy,
            } => {
                let ids = match cluster::start(&self.ec2, &cluster).await {
                    Ok(ids) => ids,
                    Err(e) => return fail(e),
                };
                println!("starting {} instance(s) of {}", ids.len(), cluster);
                self.after_change(&cluster, no_deploy, &deploy, 600).await
            }
            Ec2Command::Destroy {
                cluster,
                yes,
                delete_groups,
            } => self.destroy(&cluster, yes, delete_groups).await,
            Ec2Command::AddSlaves {
                cluster,
                count,
                no_deploy,
                deploy,
            } => {
                if let Err(e) = cluster::add_slaves(&self.ec2, &cluster, count).await {
                    return fail(e);
                }
                println!("launched {} slave(s) for {}", count, cluster);
                self.after_change(&cluster, no_deploy, &deploy, 600).await
            }
            Ec2Command::RemoveSlaves {
                cluster,
                count,
                yes,
            } => {
                if !yes
                    && !confirm(
                        &format!("Terminate {} slave(s) of {}?", count, cluster),
                        &cluster,
                    )
                {
                    return FAILED;
                }
                match cluster::remove_slaves(&self.ec2, &cluster, count).await {
                    Ok(ids) => {
                        println!("terminating {}", ids.join(" "));
                        OK
                    }
                    Err(e) => fail(e),
                }
            }
            Ec2Command::Run {
                cluster,
                command,
                deploy,
            } => self.run_command(&cluster, &command, &deploy).await,
            Ec2Command::Inventory { cluster, deploy } => {
                match self.inventory_source(&cluster, &deploy) {
                    Ok(v) => {
                        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                        OK
                    }
                    Err(e) => fail(e),
                }
            }
        }
    }

    async fn launch(&self, a: LaunchArgs) -> i32 {
        let mut tags = Vec::new();
        for t in &a.tag {
            match t.split_once('=') {
                Some((k, v)) if !k.is_empty() => tags.push((k.to_string(), v.to_string())),
                _ => {
                    eprintln!("ERROR! --tag {:?}: expected KEY=VALUE", t);
                    return BAD_OPTIONS;
                }
            }
        }
        for (what, cidr) in [
            ("--ssh-from", Some(&a.ssh_from)),
            ("--open-ui", a.open_ui.as_ref()),
        ] {
            if let Some(c) = cidr
                && !is_cidr(c)
            {
                eprintln!(
                    "ERROR! {} {:?} is not a CIDR (e.g. 203.0.113.7/32); rmesos does not guess your address",
                    what, c
                );
                return BAD_OPTIONS;
            }
        }
        let zookeepers = a.zookeepers.unwrap_or(if a.masters > 1 { 3 } else { 0 });
        let spec = LaunchSpec {
            cluster: a.cluster.clone(),
            masters: a.masters,
            slaves: a.slaves,
            zookeepers,
            instance_type: a.instance_type.clone(),
            master_instance_type: a.master_instance_type.clone(),
            ami: a.ami.clone(),
            key_name: a.key_name.clone(),
            zone: a.zone.clone(),
            vpc_id: a.vpc_id.clone(),
            subnet_id: a.subnet_id.clone(),
            ebs_vol_size: a.ebs_vol_size,
            spot_price: a.spot_price.clone(),
            tags,
            ssh_from: a.ssh_from.clone(),
            open_ui: a.open_ui.clone(),
        };
        match cluster::exists(&self.ec2, &a.cluster).await {
            Ok(true) if !a.resume => {
                eprintln!(
                    "ERROR! cluster {} already exists in {}; use --resume to continue its launch, or another name",
                    a.cluster, self.ec2.region
                );
                return FAILED;
            }
            Ok(_) => {}
            Err(e) => return fail(e),
        }
        let stop_after = a.stop_after.unwrap_or(Step::Deploy);
        let wait = Duration::from_secs(a.wait_timeout);
        let printer = progress_printer();
        let done = match cluster::launch(&self.ec2, &spec, stop_after, wait, &printer).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ERROR! {}", e);
                eprintln!(
                    "the cluster is partly launched: `rmesos ec2 launch {} --resume …` continues, `rmesos ec2 destroy {}` removes it",
                    a.cluster, a.cluster
                );
                return FAILED;
            }
        };
        if done < Step::Running {
            println!("stopped after step {:?} (--stop-after)", done);
            return OK;
        }
        let code = if a.no_deploy {
            OK
        } else {
            self.deploy(&a.cluster, &a.deploy, stop_after == Step::Ssh)
                .await
        };
        self.summary(&a.cluster).await;
        code
    }

    async fn after_change(
        &self,
        cluster: &str,
        no_deploy: bool,
        deploy: &DeployArgs,
        wait: u64,
    ) -> i32 {
        let printer = progress_printer();
        if let Err(e) =
            cluster::wait_running(&self.ec2, cluster, Duration::from_secs(wait), &printer).await
        {
            return fail(e);
        }
        if no_deploy {
            return OK;
        }
        self.deploy(cluster, deploy, false).await
    }

    /// The cluster's aws_ec2 inventory source: its running instances, grouped by their
    /// `rmesos-groups` tag, addressed as `compose` says.
    fn inventory_source(&self, cluster: &str, d: &DeployArgs) -> Result<serde_json::Value, String> {
        let mut compose = serde_json::Map::new();
        compose.insert(
            "ansible_host".into(),
            json!("public_ip_address | default(private_ip_address)"),
        );
        for c in &d.compose {
            let (k, v) = c
                .split_once('=')
                .ok_or_else(|| format!("--compose {:?}: expected VAR=EXPR", c))?;
            compose.insert(k.to_string(), json!(v));
        }
        let mut src = json!({
            "plugin": "aws_ec2",
            "regions": [self.ec2.region],
            "filters": {
                format!("tag:{}", cluster::TAG_CLUSTER): cluster,
                "instance-state-name": ["running"],
            },
            "hostnames": d.hostnames.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            "keyed_groups": [{
                "key": format!("tags['{}'].split(',')", cluster::TAG_GROUPS),
                "prefix": "",
                "separator": "",
            }],
            "compose": compose,
            "strict": true,
            // Keeps the dashes of the playbooks' group names (mesos-master, mesos-slave).
            "use_contrib_script_compatible_sanitization": true,
        });
        if let Some(obj) = src.as_object_mut() {
            if let Some(p) = &self.settings.profile {
                obj.insert("profile".into(), json!(p));
            }
            if let Some(u) = &self.settings.endpoint_url {
                obj.insert("endpoint_url".into(), json!(u));
            }
        }
        Ok(src)
    }

    /// Loads the cluster's inventory through the inventory layer (as `-i` would).
    fn load_inventory(
        &self,
        cluster: &str,
        d: &DeployArgs,
    ) -> Result<(tempfile::TempDir, Inventory), String> {
        let src = self.inventory_source(cluster, d)?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(format!("{}.aws_ec2.yml", cluster));
        std::fs::write(&path, src.to_string()).map_err(|e| e.to_string())?;
        let inv =
            Inventory::load_with(&[Source::Path(path)], &crate::cli::inventory_options(false))
                .map_err(|e| e.to_string())?;
        Ok((dir, inv))
    }

    fn run_options(&self, d: &DeployArgs) -> Result<RunOptions, String> {
        let mut opts = RunOptions {
            extra_vars: crate::cli::parse_extra_vars(&d.extra_vars).map_err(|e| e.to_string())?,
            load: LoadOptions::default(),
            ..RunOptions::default()
        };
        opts.conn.remote_user = Some(d.user.clone());
        opts.conn.private_key = d.identity_file.as_ref().map(|p| p.display().to_string());
        // New instances have host keys nobody has seen yet; their addresses come from the EC2
        // API over TLS.
        opts.conn.host_key_checking = Some(false);
        Ok(opts)
    }

    /// Waits for SSH on every node, then runs the playbook against the cluster's inventory.
    async fn deploy(&self, cluster: &str, d: &DeployArgs, ssh_only: bool) -> i32 {
        let (_dir, inv) = match self.load_inventory(cluster, d) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let targets = ssh_targets(&inv);
        eprintln!("* waiting for SSH on {} node(s)", targets.len());
        let printer = progress_printer();
        if let Err(e) =
            cluster::wait_ssh(&targets, Duration::from_secs(d.ssh_timeout), &printer).await
        {
            return fail(e);
        }
        if ssh_only {
            println!("stopped after step Ssh (--stop-after)");
            return OK;
        }
        self.play(&d.playbook, inv, d).await
    }

    async fn play(&self, playbook: &Path, inv: Inventory, d: &DeployArgs) -> i32 {
        let opts = match self.run_options(d) {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        let pb = match plan::load_playbook(playbook, &opts.load) {
            Ok(pb) => pb,
            Err(e) => return fail(e),
        };
        let colour = std::env::var_os("NO_COLOR").is_none() && console::Term::stdout().is_term();
        let sink = Box::new(report::human::Human::new(std::io::stdout(), colour, 0));
        exec::run_playbook(&pb, Arc::new(inv), opts, sink, Box::new(DefaultConnector))
            .await
            .exit_code
    }

    async fn run_command(&self, cluster: &str, command: &str, d: &DeployArgs) -> i32 {
        let (dir, inv) = match self.load_inventory(cluster, d) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let play = json!([{
            "name": format!("Run on {}", cluster),
            "hosts": "all",
            "gather_facts": false,
            "tasks": [{"shell": command}],
        }]);
        let path = dir.path().join("run.yml");
        if let Err(e) = std::fs::write(&path, play.to_string()) {
            return fail(e);
        }
        self.play(&path, inv, d).await
    }

    async fn list(&self) -> i32 {
        let clusters = match cluster::list(&self.ec2).await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        if clusters.is_empty() {
            println!("no clusters in {}", self.ec2.region);
            return OK;
        }
        println!(
            "{:<24} {:>7} {:>6} {:>4}  states",
            "CLUSTER", "MASTERS", "SLAVES", "ZK"
        );
        for (name, nodes) in clusters {
            let count = |r: Role| nodes.iter().filter(|n| n.role == Some(r)).count();
            let mut states: indexmap::IndexMap<&str, usize> = indexmap::IndexMap::new();
            for n in &nodes {
                *states.entry(n.state.as_str()).or_default() += 1;
            }
            let states: Vec<String> = states.iter().map(|(s, n)| format!("{} {}", n, s)).collect();
            println!(
                "{:<24} {:>7} {:>6} {:>4}  {}",
                name,
                count(Role::Master),
                count(Role::Slave),
                count(Role::Zookeeper),
                if states.is_empty() {
                    "no instances".to_string()
                } else {
                    states.join(", ")
                }
            );
        }
        OK
    }

    async fn describe(&self, name: &str) -> i32 {
        let nodes = match cluster::nodes(&self.ec2, name).await {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        if nodes.is_empty() {
            eprintln!(
                "ERROR! no instances of cluster {} in {}",
                name, self.ec2.region
            );
            return FAILED;
        }
        println!("cluster {} ({})", name, self.ec2.region);
        for n in &nodes {
            println!(
                "  {:<10} {:<20} {:<9} {:<12} public {:<40} private {}",
                n.role.map(Role::tag).unwrap_or("?"),
                n.instance_id,
                n.state,
                n.instance_type,
                address(n),
                n.private_ip
            );
        }
        println!(
            "UIs (reachable with --open-ui, or through `rmesos ec2 login {} -D 8157`):",
            name
        );
        for n in nodes.iter().filter(|n| n.state == "running") {
            let Some(role) = n.role else { continue };
            for (port, what) in role.ui_ports() {
                println!("  {:<14} http://{}:{}/", what, address(n), port);
            }
        }
        OK
    }

    async fn login(&self, a: LoginArgs) -> i32 {
        let (_dir, inv) = match self.load_inventory(&a.cluster, &a.deploy) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let Some(master) = inv
            .groups
            .get("mesos-master")
            .and_then(|g| g.hosts.first())
            .and_then(|h| inv.hosts.get(h))
        else {
            eprintln!("ERROR! cluster {} has no running master", a.cluster);
            return FAILED;
        };
        let (host, port) = ssh_address(master);
        let mut cmd = std::process::Command::new("ssh");
        cmd.arg("-o").arg("StrictHostKeyChecking=accept-new");
        cmd.arg("-p").arg(port.to_string());
        if let Some(id) = &a.deploy.identity_file {
            cmd.arg("-i").arg(id);
        }
        if let Some(p) = a.socks {
            cmd.arg("-D").arg(p.to_string());
        }
        for l in &a.forward {
            cmd.arg("-L").arg(l);
        }
        cmd.arg(format!("{}@{}", a.deploy.user, host));
        match cmd.status() {
            Ok(s) => s.code().unwrap_or(FAILED),
            Err(e) => fail(format!("cannot run ssh: {}", e)),
        }
    }

    async fn destroy(&self, name: &str, yes: bool, delete_groups: bool) -> i32 {
        let nodes = match cluster::nodes(&self.ec2, name).await {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        if !yes
            && !confirm(
                &format!(
                    "Terminate cluster {} ({} instance(s) in {}){}?",
                    name,
                    nodes.len(),
                    self.ec2.region,
                    if delete_groups {
                        " and delete its security groups"
                    } else {
                        ""
                    }
                ),
                name,
            )
        {
            return FAILED;
        }
        let printer = progress_printer();
        match cluster::destroy(
            &self.ec2,
            name,
            delete_groups,
            Duration::from_secs(600),
            &printer,
        )
        .await
        {
            Ok(d) => {
                println!(
                    "terminated {} instance(s){}",
                    d.instances.len(),
                    if d.groups.is_empty() {
                        String::new()
                    } else {
                        format!("; deleted groups {}", d.groups.join(", "))
                    }
                );
                OK
            }
            Err(e) => fail(e),
        }
    }

    async fn summary(&self, name: &str) {
        if let Ok(nodes) = cluster::nodes(&self.ec2, name).await {
            let running = nodes.iter().filter(|n| n.state == "running").count();
            println!(
                "cluster {}: {} instance(s), {} running; `rmesos ec2 describe {}` shows addresses and UIs",
                name,
                nodes.len(),
                running,
                name
            );
        }
    }
}

fn address(n: &Node) -> &str {
    if !n.public_dns.is_empty() {
        &n.public_dns
    } else if !n.public_ip.is_empty() {
        &n.public_ip
    } else {
        &n.private_ip
    }
}

fn ssh_address(h: &crate::inventory::Host) -> (String, u16) {
    let host = h
        .vars
        .get("ansible_host")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| h.name.clone());
    let port = h
        .vars
        .get("ansible_port")
        .and_then(|v| v.to_string().parse().ok())
        .unwrap_or(22);
    (host, port)
}

fn ssh_targets(inv: &Inventory) -> Vec<(String, u16)> {
    inv.hosts.values().map(ssh_address).collect()
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// Asks on the terminal; the answer must be the cluster's name.
fn confirm(question: &str, name: &str) -> bool {
    eprint!("{} Type the cluster name to confirm: ", question);
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() || line.trim() != name {
        eprintln!("not confirmed; nothing done");
        return false;
    }
    true
}
