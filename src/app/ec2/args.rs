//! The flags of `rmesos ec2 …`.

use crate::ec2::cluster::Step;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct Ec2Args {
    #[command(subcommand)]
    pub command: Ec2Command,
    /// AWS region (default: AWS_REGION or the profile's region).
    #[arg(long, short = 'r', global = true)]
    pub region: Option<String>,
    /// AWS profile (default: AWS_PROFILE or `default`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// EC2 API endpoint (default: AWS_ENDPOINT_URL or AWS's own).
    #[arg(long = "endpoint-url", global = true)]
    pub endpoint_url: Option<String>,
    /// Private key for SSH (the key pair's .pem); accepted by every subcommand, as
    /// mesos-ec2's `-i`. Default: the one the launch used.
    #[arg(long = "identity-file", short = 'i', global = true)]
    pub identity_file: Option<PathBuf>,
    /// The EC2 key pair the instances accept (`launch` and `add-slaves`); accepted by every
    /// subcommand, as mesos-ec2's `-k`.
    #[arg(long = "key-name", short = 'k', global = true)]
    pub key_name: Option<String>,
}

#[derive(Subcommand)]
pub enum Ec2Command {
    /// Launch a named cluster (or continue one with --resume), then deploy the playbook.
    Launch(Box<LaunchArgs>),
    /// Clusters and their instance counts and states.
    List,
    /// A cluster's hosts, roles, addresses and UI URLs.
    Describe { cluster: String },
    /// Each node's services (probed over SSH) and the cluster's UI URLs.
    Status {
        cluster: String,
        #[command(flatten)]
        deploy: DeployArgs,
    },
    /// SSH to the cluster's first running master, or --host (-D PORT: a SOCKS proxy for the UIs).
    Login(LoginArgs),
    /// Stop every instance of the cluster (EBS-backed instances keep their disks; instance-store
    /// disks are lost).
    Stop { cluster: String },
    /// Start a stopped cluster, then re-run the launch's playbook (addresses change).
    Start {
        cluster: String,
        #[arg(long = "no-deploy")]
        no_deploy: bool,
        #[command(flatten)]
        deploy: DeployArgs,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Run the launch's playbook again (same playbook, -e and user unless given here).
    Deploy {
        cluster: String,
        #[command(flatten)]
        deploy: DeployArgs,
        #[command(flatten)]
        run: RunFlags,
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
    /// Launch N more slaves like the existing ones, then re-run the launch's playbook.
    AddSlaves {
        cluster: String,
        count: u32,
        #[arg(long = "no-deploy")]
        no_deploy: bool,
        #[command(flatten)]
        deploy: DeployArgs,
        #[command(flatten)]
        run: RunFlags,
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
    /// Copy a local directory to the same path on every node (over rmesos's own SSH
    /// connections, as the copy module does).
    CopyDir {
        cluster: String,
        /// The directory; it lands at the same absolute path (or --dest).
        dir: PathBuf,
        /// Where on the nodes (default: the directory's absolute path).
        #[arg(long)]
        dest: Option<String>,
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

/// How rmesos reaches and configures the cluster's nodes. `launch` keeps what it was given
/// (in the cluster's tags); the other subcommands use that unless a flag is given here.
#[derive(Args, Clone, Default)]
pub struct DeployArgs {
    /// Login user on the instances (default: the launch's, else admin, Debian's).
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// Playbook run on the cluster (default: the launch's, else playbooks/ec2.yml).
    #[arg(long)]
    pub playbook: Option<PathBuf>,
    /// Extra `compose` entries of the cluster's inventory source, VAR=EXPR (repeatable);
    /// e.g. `ansible_host=private_ip_address` when rmesos runs inside the VPC. Given, they
    /// replace the launch's.
    #[arg(long = "compose")]
    pub compose: Vec<String>,
    /// The `hostnames` preference list of the cluster's inventory (comma-separated; default
    /// dns-name,private-dns-name,instance-id).
    #[arg(long = "hostnames")]
    pub hostnames: Option<String>,
    /// Seconds to wait for SSH to answer on every node.
    #[arg(long = "ssh-timeout", default_value_t = 600)]
    pub ssh_timeout: u64,
    /// Extra variables for the playbook: k=v, JSON/YAML, or @file (repeatable). Given, they
    /// replace the launch's.
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
}

/// What one run of the playbook selects; never remembered.
#[derive(Args, Clone, Default)]
pub struct RunFlags {
    /// Only tasks with these tags (comma-separated, repeatable).
    #[arg(long = "tags")]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    /// Only these hosts (a pattern: mesos-slave, a host name...).
    #[arg(long = "limit", short = 'l')]
    pub limit: Option<String>,
    /// Change nothing; report what would change.
    #[arg(long = "check", short = 'C')]
    pub check: bool,
}

#[derive(Args)]
pub struct LaunchArgs {
    pub cluster: String,
    /// Masters; more than one means fault-tolerant, with three ZooKeeper nodes.
    #[arg(long, default_value_t = 1)]
    pub masters: u32,
    #[arg(long, short = 's', default_value_t = 1)]
    pub slaves: u32,
    /// ZooKeeper nodes (default: 3 with several masters, else none: the master runs it).
    #[arg(long)]
    pub zookeepers: Option<u32>,
    #[arg(long = "instance-type", short = 't', default_value = "m5.large")]
    pub instance_type: String,
    /// Masters' instance type (default: --instance-type).
    #[arg(long = "master-instance-type", short = 'm')]
    pub master_instance_type: Option<String>,
    /// The AMI (e.g. a Debian 12 image of the region).
    #[arg(long, short = 'a')]
    pub ami: String,
    #[arg(long, short = 'z')]
    pub zone: Option<String>,
    #[arg(long = "vpc-id")]
    pub vpc_id: Option<String>,
    #[arg(long = "subnet-id")]
    pub subnet_id: Option<String>,
    /// Size in GB of an extra EBS volume per instance (at /dev/sdv; mounted at /vol, with
    /// the persistent HDFS on it).
    #[arg(long = "ebs-vol-size")]
    pub ebs_vol_size: Option<i32>,
    /// Size in GB of each instance's root volume (default: the AMI's).
    #[arg(long = "root-vol-size")]
    pub root_vol_size: Option<i32>,
    /// Launch spot instances at this maximum price.
    #[arg(long = "spot-price")]
    pub spot_price: Option<String>,
    /// Extra tag on instances and volumes, k=v (repeatable).
    #[arg(long = "tag")]
    pub tag: Vec<String>,
    /// CIDR allowed to SSH in (required: rmesos does not guess your address).
    #[arg(long = "ssh-from")]
    pub ssh_from: String,
    /// Confirms that --ssh-from may be the whole internet (0.0.0.0/0 or ::/0).
    #[arg(long = "yes-open-ssh")]
    pub yes_open_ssh: bool,
    /// CIDR allowed to reach the web UIs (default: nobody; use `login -D`).
    #[arg(long = "open-ui")]
    pub open_ui: Option<String>,
    #[arg(long = "no-deploy")]
    pub no_deploy: bool,
    /// Don't ask before starting instances or widening a resumed cluster's access.
    #[arg(long, short = 'y')]
    pub yes: bool,
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
    #[command(flatten)]
    pub run: RunFlags,
}

#[derive(Args)]
pub struct LoginArgs {
    pub cluster: String,
    /// The node: an inventory name, instance id, or address (default: the first master).
    #[arg(long)]
    pub host: Option<String>,
    /// Open a SOCKS proxy on this local port (browse the UIs through it).
    #[arg(short = 'D')]
    pub socks: Option<u16>,
    /// Local port forwarding, as ssh -L; `8080:8080` is short for
    /// `localhost:8080:localhost:8080` (repeatable).
    #[arg(short = 'L')]
    pub forward: Vec<String>,
    /// Forward the SSH agent (ssh -A).
    #[arg(short = 'A')]
    pub agent: bool,
    #[command(flatten)]
    pub deploy: DeployArgs,
}
