//! The flags of `rmesos ec2 …`.

use crate::ec2::cluster::Step;
use clap::{Args, Subcommand};
use std::path::PathBuf;

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
    /// When the launch fails after instances were started, keep them (tagged, for `--resume`)
    /// instead of terminating them and deleting the groups this launch created.
    #[arg(long = "keep-on-failure")]
    pub keep_on_failure: bool,
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
