//! Named clusters on EC2, with their state kept only in tags: every instance carries
//! `rmesos-cluster` (the name), `rmesos-role` (master, slave, zookeeper) and `rmesos-groups`
//! (the inventory groups it belongs to); each role's security group is `CLUSTER-master`,
//! `CLUSTER-slaves` or `CLUSTER-zoo`, tagged with the cluster too. `list`, `describe`, `stop`,
//! `start`, `destroy` and `launch --resume` therefore need no local state.
//!
//! A launch is a sequence of idempotent [`Step`]s; each looks at what exists and only adds what
//! is missing, so running it again (`--resume`) continues where an interrupted run stopped.
//! Reports progress through a callback and prints nothing.

use super::client::{Ec2, Ec2Error, Ec2Result, sdk_error};
use super::hostvars::tag_dict;
use super::state::{self, DeployRecord};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, Instance, InstanceMarketOptionsRequest,
    InstanceType, IpPermission, IpRange, MarketType, Placement, ResourceType, SpotMarketOptions,
    Tag, TagSpecification, UserIdGroupPair, VolumeType,
};
use indexmap::IndexMap;
use std::time::{Duration, Instant};

pub const TAG_CLUSTER: &str = "rmesos-cluster";
pub const TAG_ROLE: &str = "rmesos-role";
pub const TAG_GROUPS: &str = "rmesos-groups";
/// The extra EBS volume's size, so `add-slaves` gives new slaves the same disk.
pub const TAG_EBS: &str = "rmesos-ebs-gb";
/// Where the extra EBS volume is attached (spark-ec2's choice).
pub const EBS_DEVICE: &str = "/dev/sdv";
/// The root volume's size, so `add-slaves` gives new slaves the same.
pub const TAG_ROOT: &str = "rmesos-root-gb";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Master,
    Slave,
    Zookeeper,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Master, Role::Slave, Role::Zookeeper];

    pub fn tag(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Slave => "slave",
            Role::Zookeeper => "zookeeper",
        }
    }

    fn from_tag(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.tag() == s)
    }

    pub fn group_name(self, cluster: &str) -> String {
        let suffix = match self {
            Role::Master => "master",
            Role::Slave => "slaves",
            Role::Zookeeper => "zoo",
        };
        format!("{}-{}", cluster, suffix)
    }

    /// Web UIs opened to `--open-ui`: Mesos master, Marathon, the standalone Spark master
    /// (roles/spark: 8090, off Marathon's 8080), Spark driver, HDFS NameNode and the persistent
    /// HDFS's NameNode on masters; the Mesos agent on slaves; ZooKeeper has none.
    pub fn ui_ports(self) -> &'static [(i32, &'static str)] {
        match self {
            Role::Master => &[
                (5050, "Mesos master"),
                (8080, "Marathon"),
                (8090, "Spark master"),
                (4040, "Spark driver"),
                (9870, "HDFS NameNode"),
                (9880, "persistent HDFS NameNode"),
            ],
            Role::Slave => &[(5051, "Mesos agent")],
            Role::Zookeeper => &[],
        }
    }
}

/// The steps of a launch, in order. `--stop-after STEP` ends a launch after one of them (a
/// debugging aid, and how the tests interrupt a launch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Step {
    Groups,
    Rules,
    Instances,
    Running,
    Ssh,
    Deploy,
}

/// What `launch` asks for.
#[derive(Clone, Debug, Default)]
pub struct LaunchSpec {
    pub cluster: String,
    pub masters: u32,
    pub slaves: u32,
    pub zookeepers: u32,
    pub instance_type: String,
    pub master_instance_type: Option<String>,
    pub ami: String,
    pub key_name: Option<String>,
    pub zone: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub ebs_vol_size: Option<i32>,
    /// Root volume size in GB (the AMI's root device, resized).
    pub root_vol_size: Option<i32>,
    pub spot_price: Option<String>,
    pub tags: Vec<(String, String)>,
    pub ssh_from: String,
    pub open_ui: Option<String>,
    /// What later deploys repeat, kept on the master group's tags (see [`super::state`]).
    pub deploy: Option<DeployRecord>,
}

impl LaunchSpec {
    /// Instances wanted per role.
    pub fn counts(&self) -> [(Role, u32); 3] {
        [
            (Role::Master, self.masters),
            (Role::Slave, self.slaves),
            (Role::Zookeeper, self.zookeepers),
        ]
    }

    /// The inventory groups of a role, named as the stack's playbooks and the lab name them;
    /// without ZooKeeper nodes, masters run ZooKeeper.
    pub fn inventory_groups(&self, role: Role) -> &'static str {
        match (role, self.zookeepers) {
            (Role::Master, 0) => "mesos-master,zookeeper",
            (Role::Master, _) => "mesos-master",
            (Role::Slave, _) => "mesos-slave",
            (Role::Zookeeper, _) => "zookeeper",
        }
    }
}

/// Progress while waiting on EC2, for the caller to show.
#[derive(Clone, Debug)]
pub enum Progress {
    Step(String),
    Waiting {
        what: String,
        done: usize,
        total: usize,
    },
}

/// One cluster instance, as commands show it.
#[derive(Clone, Debug)]
pub struct Node {
    pub instance_id: String,
    pub role: Option<Role>,
    pub state: String,
    pub public_dns: String,
    pub public_ip: String,
    pub private_ip: String,
    pub instance_type: String,
    pub launch_time: String,
    /// The inventory groups the launch gave it (`rmesos-groups`, comma-separated).
    pub groups: String,
    /// The extra EBS volume's size, when it has one.
    pub ebs_gb: Option<i32>,
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|s| s.to_string()).collect()))
        .build()
}

const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

fn node_of(i: &Instance) -> Node {
    let tags = tag_dict(i.tags());
    Node {
        instance_id: i.instance_id().unwrap_or_default().to_string(),
        role: tags
            .get(TAG_ROLE)
            .and_then(|v| v.as_str())
            .and_then(Role::from_tag),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        public_dns: i.public_dns_name().unwrap_or_default().to_string(),
        public_ip: i.public_ip_address().unwrap_or_default().to_string(),
        private_ip: i.private_ip_address().unwrap_or_default().to_string(),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        launch_time: i.launch_time().map(|t| t.to_string()).unwrap_or_default(),
        groups: tags
            .get(TAG_GROUPS)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        ebs_gb: tags
            .get(TAG_EBS)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()),
    }
}

/// Instances of `cluster` (every cluster when None) in the given states, by instance id.
pub async fn instances(
    ec2: &Ec2,
    cluster: Option<&str>,
    states: &[&str],
) -> Ec2Result<Vec<(String, Instance)>> {
    let mut filters = vec![filter("instance-state-name", states)];
    filters.push(match cluster {
        Some(c) => filter(&format!("tag:{}", TAG_CLUSTER), &[c]),
        None => filter("tag-key", &[TAG_CLUSTER]),
    });
    let mut pages = ec2
        .client
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("DescribeInstances", &ec2.region, e))?;
        for r in page.reservations() {
            for i in r.instances() {
                let name = tag_dict(i.tags())
                    .get(TAG_CLUSTER)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                out.push((name, i.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.1.instance_id().cmp(&b.1.instance_id()));
    Ok(out)
}

/// The cluster's nodes (not terminated), by instance id.
pub async fn nodes(ec2: &Ec2, cluster: &str) -> Ec2Result<Vec<Node>> {
    Ok(instances(ec2, Some(cluster), &LIVE_STATES)
        .await?
        .iter()
        .map(|(_, i)| node_of(i))
        .collect())
}

/// Security groups tagged with the cluster: name → id.
pub async fn security_groups(ec2: &Ec2, cluster: &str) -> Ec2Result<IndexMap<String, String>> {
    let out = ec2
        .client
        .describe_security_groups()
        .filters(filter(&format!("tag:{}", TAG_CLUSTER), &[cluster]))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecurityGroups", &ec2.region, e))?;
    let mut groups: Vec<(String, String)> = out
        .security_groups()
        .iter()
        .map(|g| {
            (
                g.group_name().unwrap_or_default().to_string(),
                g.group_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    groups.sort();
    Ok(groups.into_iter().collect())
}

/// Clusters with their nodes: every tagged instance and every tagged security group.
pub async fn list(ec2: &Ec2) -> Ec2Result<IndexMap<String, Vec<Node>>> {
    let mut out: IndexMap<String, Vec<Node>> = IndexMap::new();
    for (name, i) in instances(ec2, None, &LIVE_STATES).await? {
        out.entry(name).or_default().push(node_of(&i));
    }
    let groups = ec2
        .client
        .describe_security_groups()
        .filters(filter("tag-key", &[TAG_CLUSTER]))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecurityGroups", &ec2.region, e))?;
    for g in groups.security_groups() {
        if let Some(name) = tag_dict(g.tags()).get(TAG_CLUSTER).and_then(|v| v.as_str()) {
            out.entry(name.to_string()).or_default();
        }
    }
    out.sort_keys();
    Ok(out)
}

/// Whether anything of `cluster` exists (instances or security groups).
pub async fn exists(ec2: &Ec2, cluster: &str) -> Ec2Result<bool> {
    Ok(!nodes(ec2, cluster).await?.is_empty() || !security_groups(ec2, cluster).await?.is_empty())
}

/// The VPC the cluster lives in: the subnet's, the one given, or the default VPC.
async fn vpc_of(ec2: &Ec2, spec: &LaunchSpec) -> Ec2Result<String> {
    if let Some(subnet) = &spec.subnet_id {
        let out = ec2
            .client
            .describe_subnets()
            .subnet_ids(subnet)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSubnets", &ec2.region, e))?;
        let vpc = out.subnets().first().and_then(|s| s.vpc_id());
        return match (vpc, &spec.vpc_id) {
            (Some(v), Some(given)) if v != given => Err(Ec2Error(format!(
                "subnet {} is in {}, not in --vpc-id {}",
                subnet, v, given
            ))),
            (Some(v), _) => Ok(v.to_string()),
            (None, _) => Err(Ec2Error(format!("subnet {} not found", subnet))),
        };
    }
    if let Some(v) = &spec.vpc_id {
        return Ok(v.clone());
    }
    let out = ec2
        .client
        .describe_vpcs()
        .filters(filter("isDefault", &["true"]))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeVpcs", &ec2.region, e))?;
    out.vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .ok_or_else(|| {
            Ec2Error(format!(
                "region {} has no default VPC: pass --vpc-id or --subnet-id",
                ec2.region
            ))
        })
}

fn roles_of(spec: &LaunchSpec) -> Vec<Role> {
    spec.counts()
        .into_iter()
        .filter(|(r, n)| *n > 0 || *r != Role::Zookeeper)
        .map(|(r, _)| r)
        .collect()
}

/// Step `groups`: one security group per role, created when missing.
async fn ensure_groups(
    ec2: &Ec2,
    spec: &LaunchSpec,
    vpc: &str,
) -> Ec2Result<IndexMap<Role, String>> {
    let mut ids = IndexMap::new();
    for role in roles_of(spec) {
        let name = role.group_name(&spec.cluster);
        let found = ec2
            .client
            .describe_security_groups()
            .filters(filter("group-name", &[&name]))
            .filters(filter("vpc-id", &[vpc]))
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSecurityGroups", &ec2.region, e))?;
        let id = match found.security_groups().first().and_then(|g| g.group_id()) {
            Some(id) => id.to_string(),
            None => ec2
                .client
                .create_security_group()
                .group_name(&name)
                .description(format!("rmesos cluster {} ({})", spec.cluster, role.tag()))
                .vpc_id(vpc)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::SecurityGroup)
                        .tags(tag(TAG_CLUSTER, &spec.cluster))
                        .tags(tag(TAG_ROLE, role.tag()))
                        .tags(tag("Name", &name))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk_error("CreateSecurityGroup", &ec2.region, e))?
                .group_id()
                .unwrap_or_default()
                .to_string(),
        };
        ids.insert(role, id);
    }
    Ok(ids)
}

/// A rule in a form that compares equal to what EC2 reports back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    /// A security group id or a CIDR.
    pub source: String,
}

impl Rule {
    fn to_permission(&self) -> IpPermission {
        let b = IpPermission::builder().ip_protocol(&self.protocol);
        let b = if self.protocol == "-1" {
            b
        } else {
            b.from_port(self.from).to_port(self.to)
        };
        if self.source.starts_with("sg-") {
            b.user_id_group_pairs(UserIdGroupPair::builder().group_id(&self.source).build())
                .build()
        } else {
            b.ip_ranges(IpRange::builder().cidr_ip(&self.source).build())
                .build()
        }
    }
}

/// The rules a role's group should have: everything from the cluster's groups, SSH from the
/// operator, the role's UIs only when asked.
pub fn wanted_rules(spec: &LaunchSpec, role: Role, ids: &IndexMap<Role, String>) -> Vec<Rule> {
    let mut rules: Vec<Rule> = ids
        .values()
        .map(|id| Rule {
            protocol: "-1".into(),
            from: -1,
            to: -1,
            source: id.clone(),
        })
        .collect();
    rules.push(Rule {
        protocol: "tcp".into(),
        from: 22,
        to: 22,
        source: spec.ssh_from.clone(),
    });
    if let Some(cidr) = &spec.open_ui {
        for (port, _) in role.ui_ports() {
            rules.push(Rule {
                protocol: "tcp".into(),
                from: *port,
                to: *port,
                source: cidr.clone(),
            });
        }
    }
    rules
}

/// A group's current ingress rules.
pub async fn current_rules(ec2: &Ec2, group_id: &str) -> Ec2Result<Vec<Rule>> {
    let out = ec2
        .client
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecurityGroups", &ec2.region, e))?;
    let mut rules = Vec::new();
    for g in out.security_groups() {
        for p in g.ip_permissions() {
            let protocol = p.ip_protocol().unwrap_or("-1").to_string();
            let (from, to) = if protocol == "-1" {
                (-1, -1)
            } else {
                (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1))
            };
            let mk = |source: &str| Rule {
                protocol: protocol.clone(),
                from,
                to,
                source: source.to_string(),
            };
            rules.extend(
                p.user_id_group_pairs()
                    .iter()
                    .filter_map(|u| u.group_id())
                    .map(mk),
            );
            rules.extend(p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).map(mk));
        }
    }
    rules.sort();
    Ok(rules)
}

/// Step `rules`: adds the wanted rules each group lacks.
async fn ensure_rules(ec2: &Ec2, spec: &LaunchSpec, ids: &IndexMap<Role, String>) -> Ec2Result<()> {
    for (role, id) in ids {
        let have = current_rules(ec2, id).await?;
        let missing: Vec<IpPermission> = wanted_rules(spec, *role, ids)
            .into_iter()
            .filter(|r| !have.contains(r))
            .map(|r| r.to_permission())
            .collect();
        if missing.is_empty() {
            continue;
        }
        ec2.client
            .authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(missing))
            .send()
            .await
            .map_err(|e| sdk_error("AuthorizeSecurityGroupIngress", &ec2.region, e))?;
    }
    Ok(())
}

/// What one RunInstances call needs besides the count.
struct InstanceTemplate<'a> {
    spec: &'a LaunchSpec,
    role: Role,
    group_id: &'a str,
    groups_tag: &'a str,
}

async fn run_instances(ec2: &Ec2, t: &InstanceTemplate<'_>, count: u32) -> Ec2Result<()> {
    let spec = t.spec;
    let name = format!("{}-{}", spec.cluster, t.role.tag());
    let itype = match (t.role, &spec.master_instance_type) {
        (Role::Master, Some(m)) => m.clone(),
        _ => spec.instance_type.clone(),
    };
    let mut instance_tags = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(tag("Name", &name))
        .tags(tag(TAG_CLUSTER, &spec.cluster))
        .tags(tag(TAG_ROLE, t.role.tag()))
        .tags(tag(TAG_GROUPS, t.groups_tag));
    let mut volume_tags = TagSpecification::builder()
        .resource_type(ResourceType::Volume)
        .tags(tag("Name", &name))
        .tags(tag(TAG_CLUSTER, &spec.cluster))
        .tags(tag(TAG_ROLE, t.role.tag()));
    if let Some(gb) = spec.ebs_vol_size {
        instance_tags = instance_tags.tags(tag(TAG_EBS, &gb.to_string()));
    }
    if let Some(gb) = spec.root_vol_size {
        instance_tags = instance_tags.tags(tag(TAG_ROOT, &gb.to_string()));
    }
    for (k, v) in &spec.tags {
        instance_tags = instance_tags.tags(tag(k, v));
        volume_tags = volume_tags.tags(tag(k, v));
    }
    let mut req = ec2
        .client
        .run_instances()
        .image_id(&spec.ami)
        .instance_type(InstanceType::from(itype.as_str()))
        .min_count(count as i32)
        .max_count(count as i32)
        .security_group_ids(t.group_id)
        .tag_specifications(instance_tags.build())
        .tag_specifications(volume_tags.build());
    if let Some(k) = &spec.key_name {
        req = req.key_name(k);
    }
    if let Some(s) = &spec.subnet_id {
        req = req.subnet_id(s);
    }
    if let Some(z) = &spec.zone {
        req = req.placement(Placement::builder().availability_zone(z).build());
    }
    if let Some(gb) = spec.root_vol_size {
        req = req.block_device_mappings(gp3_volume(&root_device(ec2, &spec.ami).await?, gb));
    }
    if let Some(gb) = spec.ebs_vol_size {
        req = req.block_device_mappings(gp3_volume(EBS_DEVICE, gb));
    }
    if let Some(price) = &spec.spot_price {
        req = req.instance_market_options(
            InstanceMarketOptionsRequest::builder()
                .market_type(MarketType::Spot)
                .spot_options(SpotMarketOptions::builder().max_price(price).build())
                .build(),
        );
    }
    req.send()
        .await
        .map_err(|e| sdk_error("RunInstances", &ec2.region, e))?;
    Ok(())
}

/// A gp3 volume of `gb` GB at `device`, deleted with its instance.
fn gp3_volume(device: &str, gb: i32) -> BlockDeviceMapping {
    BlockDeviceMapping::builder()
        .device_name(device)
        .ebs(
            EbsBlockDevice::builder()
                .volume_size(gb)
                .volume_type(VolumeType::Gp3)
                .delete_on_termination(true)
                .build(),
        )
        .build()
}

/// The AMI's root device name (`/dev/xvda`, `/dev/sda1`…), to resize the root volume.
async fn root_device(ec2: &Ec2, ami: &str) -> Ec2Result<String> {
    let out = ec2
        .client
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeImages", &ec2.region, e))?;
    out.images()
        .first()
        .and_then(|i| i.root_device_name())
        .map(str::to_string)
        .ok_or_else(|| Ec2Error(format!("AMI {ami} not found or has no root device")))
}

/// Rules that a launch of `spec` would add to the cluster's existing groups from addresses
/// outside the cluster (another `--ssh-from`, a new `--open-ui`): `(group name, rule)`.
pub async fn widening(ec2: &Ec2, spec: &LaunchSpec) -> Ec2Result<Vec<(String, Rule)>> {
    let groups = security_groups(ec2, &spec.cluster).await?;
    let ids: IndexMap<Role, String> = roles_of(spec)
        .into_iter()
        .filter_map(|r| {
            groups
                .get(&r.group_name(&spec.cluster))
                .map(|id| (r, id.clone()))
        })
        .collect();
    let mut out = Vec::new();
    for (role, id) in &ids {
        let have = current_rules(ec2, id).await?;
        // A group without any outside rule never got its launch's rules: adding them completes
        // that launch rather than widening it.
        if !have.iter().any(|r| !r.source.starts_with("sg-")) {
            continue;
        }
        for r in wanted_rules(spec, *role, &ids) {
            if !r.source.starts_with("sg-") && !have.contains(&r) {
                out.push((role.group_name(&spec.cluster), r));
            }
        }
    }
    Ok(out)
}

/// Step `instances`: launches each role's missing instances. (The SDK gives each RunInstances
/// call an idempotency token that its retries reuse, so a retried request cannot launch twice.)
async fn ensure_instances(
    ec2: &Ec2,
    spec: &LaunchSpec,
    ids: &IndexMap<Role, String>,
    progress: &dyn Fn(Progress),
) -> Ec2Result<()> {
    let existing = nodes(ec2, &spec.cluster).await?;
    for (role, want) in spec.counts() {
        let have = existing.iter().filter(|n| n.role == Some(role)).count() as u32;
        if want <= have {
            continue;
        }
        let Some(group_id) = ids.get(&role) else {
            continue;
        };
        progress(Progress::Step(format!(
            "launching {} {} instance(s)",
            want - have,
            role.tag()
        )));
        let t = InstanceTemplate {
            spec,
            role,
            group_id,
            groups_tag: spec.inventory_groups(role),
        };
        run_instances(ec2, &t, want - have).await?;
    }
    Ok(())
}

/// Polls until every live instance of the cluster is `running` (or a deadline passes).
pub async fn wait_running(
    ec2: &Ec2,
    cluster: &str,
    deadline: Duration,
    progress: &dyn Fn(Progress),
) -> Ec2Result<Vec<Node>> {
    let until = Instant::now() + deadline;
    let mut pause = Duration::from_millis(250);
    loop {
        let all = nodes(ec2, cluster).await?;
        let running = all.iter().filter(|n| n.state == "running").count();
        progress(Progress::Waiting {
            what: "instances running".into(),
            done: running,
            total: all.len(),
        });
        if running == all.len() {
            return Ok(all);
        }
        if Instant::now() >= until {
            let late: Vec<String> = all
                .iter()
                .filter(|n| n.state != "running")
                .map(|n| format!("{} ({})", n.instance_id, n.state))
                .collect();
            return Err(Ec2Error(format!(
                "instances not running after {}s: {}",
                deadline.as_secs(),
                late.join(", ")
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Runs the EC2 steps of a launch up to `stop_after` (inclusive) or `running`. Returns the
/// last step done.
pub async fn launch(
    ec2: &Ec2,
    spec: &LaunchSpec,
    stop_after: Step,
    wait: Duration,
    progress: &dyn Fn(Progress),
) -> Ec2Result<Step> {
    progress(Progress::Step(format!(
        "security groups for {} in {}",
        spec.cluster, ec2.region
    )));
    let vpc = vpc_of(ec2, spec).await?;
    let ids = ensure_groups(ec2, spec, &vpc).await?;
    if let (Some(r), Some(master)) = (&spec.deploy, ids.get(&Role::Master)) {
        state::save(ec2, master, r).await?;
    }
    if stop_after == Step::Groups {
        return Ok(Step::Groups);
    }
    progress(Progress::Step("security group rules".into()));
    ensure_rules(ec2, spec, &ids).await?;
    if stop_after == Step::Rules {
        return Ok(Step::Rules);
    }
    ensure_instances(ec2, spec, &ids, progress).await?;
    if stop_after == Step::Instances {
        return Ok(Step::Instances);
    }
    wait_running(ec2, &spec.cluster, wait, progress).await?;
    Ok(Step::Running)
}

/// What `add-slaves` copies from the cluster's existing nodes.
pub async fn spec_from_cluster(ec2: &Ec2, cluster: &str) -> Ec2Result<LaunchSpec> {
    let all = instances(ec2, Some(cluster), &LIVE_STATES).await?;
    let pick = all
        .iter()
        .map(|(_, i)| i)
        .find(|i| tag_dict(i.tags()).get(TAG_ROLE).and_then(|v| v.as_str()) == Some("slave"))
        .or_else(|| all.first().map(|(_, i)| i))
        .ok_or_else(|| Ec2Error(format!("cluster {} has no instances", cluster)))?;
    let tags = tag_dict(pick.tags());
    let zookeepers = all
        .iter()
        .filter(|(_, i)| {
            tag_dict(i.tags()).get(TAG_ROLE).and_then(|v| v.as_str()) == Some("zookeeper")
        })
        .count() as u32;
    Ok(LaunchSpec {
        cluster: cluster.to_string(),
        zookeepers,
        instance_type: pick
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        ami: pick.image_id().unwrap_or_default().to_string(),
        key_name: pick.key_name().map(str::to_string),
        zone: pick
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_string),
        subnet_id: pick.subnet_id().map(str::to_string),
        ebs_vol_size: tags
            .get(TAG_EBS)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()),
        root_vol_size: tags
            .get(TAG_ROOT)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok()),
        spot_price: None,
        ..LaunchSpec::default()
    })
}

/// Launches `count` more slaves like the existing ones.
pub async fn add_slaves(
    ec2: &Ec2,
    cluster: &str,
    count: u32,
    key_name: Option<&str>,
) -> Ec2Result<()> {
    let mut spec = spec_from_cluster(ec2, cluster).await?;
    if let Some(k) = key_name {
        spec.key_name = Some(k.to_string());
    }
    let groups = security_groups(ec2, cluster).await?;
    let group_id = groups
        .get(&Role::Slave.group_name(cluster))
        .ok_or_else(|| Ec2Error(format!("cluster {} has no slaves security group", cluster)))?;
    let t = InstanceTemplate {
        spec: &spec,
        role: Role::Slave,
        group_id,
        groups_tag: spec.inventory_groups(Role::Slave),
    };
    run_instances(ec2, &t, count).await
}

/// Terminates the `count` most recently launched slaves; returns their ids.
pub async fn remove_slaves(ec2: &Ec2, cluster: &str, count: usize) -> Ec2Result<Vec<String>> {
    let mut slaves: Vec<Node> = nodes(ec2, cluster)
        .await?
        .into_iter()
        .filter(|n| n.role == Some(Role::Slave))
        .collect();
    if count > slaves.len() {
        return Err(Ec2Error(format!(
            "cluster {} has {} slave(s); cannot remove {}",
            cluster,
            slaves.len(),
            count
        )));
    }
    slaves.sort_by(|a, b| {
        (a.launch_time.as_str(), a.instance_id.as_str())
            .cmp(&(b.launch_time.as_str(), b.instance_id.as_str()))
    });
    let ids: Vec<String> = slaves[slaves.len() - count..]
        .iter()
        .map(|n| n.instance_id.clone())
        .collect();
    terminate(ec2, &ids).await?;
    Ok(ids)
}

async fn terminate(ec2: &Ec2, ids: &[String]) -> Ec2Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    ec2.client
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| sdk_error("TerminateInstances", &ec2.region, e))?;
    Ok(())
}

/// Stops the cluster's running instances; returns the ids stopped. Spot instances cannot be
/// stopped and are refused by EC2, which the error says.
pub async fn stop(ec2: &Ec2, cluster: &str) -> Ec2Result<Vec<String>> {
    let ids: Vec<String> = nodes(ec2, cluster)
        .await?
        .into_iter()
        .filter(|n| n.state == "running" || n.state == "pending")
        .map(|n| n.instance_id)
        .collect();
    if !ids.is_empty() {
        ec2.client
            .stop_instances()
            .set_instance_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("StopInstances", &ec2.region, e))?;
    }
    Ok(ids)
}

/// Starts the cluster's stopped instances; returns the ids started.
pub async fn start(ec2: &Ec2, cluster: &str) -> Ec2Result<Vec<String>> {
    let ids: Vec<String> = nodes(ec2, cluster)
        .await?
        .into_iter()
        .filter(|n| n.state == "stopped")
        .map(|n| n.instance_id)
        .collect();
    if !ids.is_empty() {
        ec2.client
            .start_instances()
            .set_instance_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(|e| sdk_error("StartInstances", &ec2.region, e))?;
    }
    Ok(ids)
}

/// What `destroy` removed.
#[derive(Clone, Debug, Default)]
pub struct Destroyed {
    pub instances: Vec<String>,
    pub groups: Vec<String>,
}

/// Terminates every instance of the cluster; with `delete_groups`, waits for them to end and
/// deletes the cluster's security groups (their cross-references first).
pub async fn destroy(
    ec2: &Ec2,
    cluster: &str,
    delete_groups: bool,
    wait: Duration,
    progress: &dyn Fn(Progress),
) -> Ec2Result<Destroyed> {
    let ids: Vec<String> = nodes(ec2, cluster)
        .await?
        .into_iter()
        .map(|n| n.instance_id)
        .collect();
    terminate(ec2, &ids).await?;
    let mut done = Destroyed {
        instances: ids.clone(),
        groups: vec![],
    };
    if !delete_groups {
        return Ok(done);
    }
    // A group cannot be deleted while an instance still uses it.
    let until = Instant::now() + wait;
    let mut pause = Duration::from_millis(250);
    loop {
        let left = instances(
            ec2,
            Some(cluster),
            &["pending", "running", "stopping", "stopped", "shutting-down"],
        )
        .await?
        .len();
        progress(Progress::Waiting {
            what: "instances terminated".into(),
            done: ids.len().saturating_sub(left),
            total: ids.len(),
        });
        if left == 0 {
            break;
        }
        if Instant::now() >= until {
            return Err(Ec2Error(format!(
                "{} instance(s) of {} still shutting down after {}s; run destroy --delete-groups again later",
                left,
                cluster,
                wait.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
    let groups = security_groups(ec2, cluster).await?;
    // Groups reference each other; drop those rules first or the deletes fail.
    for id in groups.values() {
        let cross: Vec<IpPermission> = current_rules(ec2, id)
            .await?
            .into_iter()
            .filter(|r| r.source.starts_with("sg-"))
            .map(|r| r.to_permission())
            .collect();
        if !cross.is_empty() {
            ec2.client
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(cross))
                .send()
                .await
                .map_err(|e| sdk_error("RevokeSecurityGroupIngress", &ec2.region, e))?;
        }
    }
    for (name, id) in &groups {
        ec2.client
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteSecurityGroup", &ec2.region, e))?;
        done.groups.push(name.clone());
    }
    Ok(done)
}

/// Whether an SSH server answers at `addr`: a TCP connection whose first bytes are `SSH-`.
async fn ssh_answers(host: &str, port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.ok()?;
        (&buf == b"SSH-").then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Some(()))
    )
}

/// Polls every `(host, port)` until its SSH server answers, or fails at the deadline naming
/// the silent ones.
pub async fn wait_ssh(
    targets: &[(String, u16)],
    deadline: Duration,
    progress: &dyn Fn(Progress),
) -> Ec2Result<()> {
    let until = Instant::now() + deadline;
    let mut waiting: Vec<(String, u16)> = targets.to_vec();
    let mut pause = Duration::from_millis(200);
    loop {
        let answers =
            futures::future::join_all(waiting.iter().map(|(h, p)| ssh_answers(h, *p))).await;
        waiting = waiting
            .into_iter()
            .zip(answers)
            .filter(|(_, up)| !up)
            .map(|(t, _)| t)
            .collect();
        progress(Progress::Waiting {
            what: "nodes answering SSH".into(),
            done: targets.len() - waiting.len(),
            total: targets.len(),
        });
        if waiting.is_empty() {
            return Ok(());
        }
        if Instant::now() >= until {
            let silent: Vec<String> = waiting
                .iter()
                .map(|(h, p)| format!("{}:{}", h, p))
                .collect();
            return Err(Ec2Error(format!(
                "SSH did not answer within {}s on {}",
                deadline.as_secs(),
                silent.join(", ")
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
