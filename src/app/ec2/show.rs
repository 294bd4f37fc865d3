//! `rmesos ec2 list`, `describe` and `status`: the clusters of a region, one cluster's hosts,
//! addresses and UIs, and the health of each node's services.

use super::deploy::ssh_address;
use super::{Ctx, Deploy, DeployArgs, Ec2Failure, Ec2Outcome};
use crate::app::exit::Exit;
use crate::ec2::cluster::{self, Node, Role};
use std::path::Path;

impl Ctx {
    pub(super) async fn list(&self) -> Ec2Outcome {
        let clusters = cluster::list(&self.ec2).await?;
        if clusters.is_empty() {
            println!("no clusters in {}", self.ec2.region);
            return Ok(Exit::Ok);
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
        Ok(Exit::Ok)
    }

    pub(super) async fn describe(&self, name: &str) -> Ec2Outcome {
        let nodes = self.nodes_of(name).await?;
        let rec = crate::ec2::state::load(&self.ec2, name)
            .await
            .ok()
            .flatten();
        let d = Deploy::resolve(&DeployArgs::default(), None, rec.as_ref());
        let ports = Ports::of(&d);
        println!("cluster {} ({})", name, self.ec2.region);
        for n in &nodes {
            println!("  {}", node_line(n));
        }
        println!(
            "UIs (reachable with --open-ui, or through `rmesos ec2 login {} -D 8157`):",
            name
        );
        for n in nodes.iter().filter(|n| n.state == "running") {
            for s in services(n, &ports).iter().filter(|s| s.ui) {
                println!("  {:<22} http://{}:{}/", s.name, ui_address(n), s.port);
            }
        }
        Ok(Exit::Ok)
    }

    /// The cluster's live nodes, or an error when it has none.
    async fn nodes_of(&self, name: &str) -> Result<Vec<Node>, Ec2Failure> {
        let nodes = cluster::nodes(&self.ec2, name).await?;
        if nodes.is_empty() {
            return Err(Ec2Failure::NoInstances {
                cluster: name.to_string(),
                region: self.ec2.region.clone(),
            });
        }
        Ok(nodes)
    }

    /// `status`: each running node's services, probed over SSH on the node (does the port
    /// accept a connection on one of the node's own addresses), with their UI URLs.
    pub(super) async fn status(&self, name: &str, d: &Deploy) -> Ec2Outcome {
        let nodes = self.nodes_of(name).await?;
        let inv = self.load_inventory(name, d)?;
        let ports = Ports::of(d);
        let probes = nodes.iter().map(|n| {
            let host = inv.hosts.values().find(|h| {
                h.vars.get("instance_id").and_then(|v| v.as_str()) == Some(n.instance_id.as_str())
            });
            let svcs = services(n, &ports);
            async move {
                match host {
                    Some(h) if n.state == "running" => probe(h, d, &svcs).await,
                    _ => Err(format!("not probed ({})", n.state)),
                }
            }
        });
        let results = futures::future::join_all(probes).await;
        println!("cluster {} ({})", name, self.ec2.region);
        let mut down = 0;
        for (n, res) in nodes.iter().zip(results) {
            println!("  {}", node_line(n));
            let svcs = services(n, &ports);
            match res {
                Ok(up) => {
                    for (s, ok) in svcs.iter().zip(up) {
                        down += usize::from(!ok);
                        let url = if s.ui {
                            format!("http://{}:{}/", ui_address(n), s.port)
                        } else {
                            String::new()
                        };
                        println!(
                            "    {:<22} :{:<5} {:<5} {}",
                            s.name,
                            s.port,
                            if ok { "up" } else { "DOWN" },
                            url
                        );
                    }
                }
                Err(why) => {
                    down += svcs.len();
                    println!("    {why}");
                }
            }
        }
        Ok(if down == 0 { Exit::Ok } else { Exit::Failed })
    }
}

/// One node: role, id, state, type, and its addresses, each under its own label.
fn node_line(n: &Node) -> String {
    let public = match (n.public_dns.is_empty(), n.public_ip.is_empty()) {
        (_, true) => "-".to_string(),
        (true, false) => n.public_ip.clone(),
        (false, false) => format!("{} ({})", n.public_ip, n.public_dns),
    };
    format!(
        "{:<10} {:<20} {:<9} {:<12} public {:<40} private {}",
        n.role.map(Role::tag).unwrap_or("?"),
        n.instance_id,
        n.state,
        n.instance_type,
        public,
        if n.private_ip.is_empty() {
            "-"
        } else {
            &n.private_ip
        }
    )
}

/// The address a person would browse to: public DNS, else public IP, else private IP.
fn ui_address(n: &Node) -> &str {
    if !n.public_dns.is_empty() {
        &n.public_dns
    } else if !n.public_ip.is_empty() {
        &n.public_ip
    } else {
        &n.private_ip
    }
}

/// The ports the stack's roles use: `-e` values of the deploy, else the roles' defaults
/// beside the playbook (`roles/NAME/defaults/main.yml`), else the ones shipped today.
struct Ports {
    vars: indexmap::IndexMap<String, u16>,
}

/// `(variable, port today)` of every service `status` knows.
const PORT_VARS: &[(&str, u16)] = &[
    ("mesos_master_port", 5050),
    ("mesos_slave_port", 5051),
    ("marathon_http_port", 8080),
    ("zookeeper_client_port", 2181),
    ("hdfs_namenode_port", 9000),
    ("hdfs_namenode_http_port", 9870),
    ("hdfs_datanode_http_port", 9864),
    ("hdfs_persistent_namenode_port", 9010),
    ("hdfs_persistent_namenode_http_port", 9880),
    ("spark_master_port", 7077),
    ("spark_master_ui_port", 8090),
    ("spark_worker_ui_port", 8081),
];

impl Ports {
    fn of(d: &Deploy) -> Ports {
        let extra = crate::app::options::parse_extra_vars(&d.extra_vars).unwrap_or_default();
        let defaults = role_defaults(&d.playbook);
        let vars = PORT_VARS
            .iter()
            .map(|(var, today)| {
                let port = extra
                    .get(*var)
                    .and_then(|v| v.to_string().trim_matches('"').parse().ok())
                    .or_else(|| defaults.get(*var).copied())
                    .unwrap_or(*today);
                (var.to_string(), port)
            })
            .collect();
        Ports { vars }
    }

    fn get(&self, var: &str) -> u16 {
        self.vars.get(var).copied().unwrap_or(0)
    }
}

/// Literal integer defaults of the roles beside the playbook (`roles/` next to it or one
/// level up, as in this repository).
fn role_defaults(playbook: &Path) -> indexmap::IndexMap<String, u16> {
    let mut out = indexmap::IndexMap::new();
    let Some(dir) = playbook.parent() else {
        return out;
    };
    for roles in [dir.join("roles"), dir.join("../roles")] {
        for role in [
            "mesos-master",
            "mesos-slave",
            "marathon",
            "zookeeper",
            "hdfs",
            "spark",
        ] {
            let file = roles.join(role).join("defaults/main.yml");
            let Ok(docs) = crate::yaml::load_file(&file) else {
                continue;
            };
            let Some(doc) = docs.into_iter().next() else {
                continue;
            };
            let v = doc.to_value();
            for (var, _) in PORT_VARS {
                if let Some(p) = v
                    .get_attr(var)
                    .ok()
                    .and_then(|p| p.to_string().parse::<u16>().ok())
                {
                    out.entry(var.to_string()).or_insert(p);
                }
            }
        }
    }
    out
}

/// A service a node runs, by its inventory groups.
struct Service {
    name: &'static str,
    port: u16,
    /// A web UI a person opens.
    ui: bool,
}

/// The services of a node by the groups its launch gave it.
fn services(n: &Node, p: &Ports) -> Vec<Service> {
    let s = |name, var: &str, ui| Service {
        name,
        port: p.get(var),
        ui,
    };
    let mut out = Vec::new();
    let groups: Vec<&str> = n.groups.split(',').map(str::trim).collect();
    if groups.contains(&"zookeeper") {
        out.push(s("ZooKeeper", "zookeeper_client_port", false));
    }
    if groups.contains(&"mesos-master") {
        out.push(s("Mesos master", "mesos_master_port", true));
        out.push(s("Marathon", "marathon_http_port", true));
        out.push(s("HDFS namenode", "hdfs_namenode_port", false));
        out.push(s("HDFS namenode UI", "hdfs_namenode_http_port", true));
        if n.ebs_gb.is_some() {
            out.push(s("Persistent HDFS", "hdfs_persistent_namenode_port", false));
            out.push(s(
                "Persistent HDFS UI",
                "hdfs_persistent_namenode_http_port",
                true,
            ));
        }
        out.push(s("Spark master", "spark_master_port", false));
        out.push(s("Spark master UI", "spark_master_ui_port", true));
    }
    if groups.contains(&"mesos-slave") {
        out.push(s("Mesos agent", "mesos_slave_port", true));
        out.push(s("HDFS datanode UI", "hdfs_datanode_http_port", true));
        out.push(s("Spark worker UI", "spark_worker_ui_port", true));
    }
    out
}

/// The script that tries each port on the node's own addresses: bash's /dev/tcp, else curl
/// (exit 7: refused, 28: timed out), else nothing can tell (down).
fn probe_script(ports: &[u16]) -> String {
    let mut s = String::from(
        r#"try() {
  if command -v bash >/dev/null 2>&1; then
    timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" >/dev/null 2>&1
  elif command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 3 "telnet://$1:$2" </dev/null; r=$?; [ $r -ne 7 ] && [ $r -ne 28 ]
  else
    return 1
  fi
}
addrs="127.0.0.1 $(hostname -I 2>/dev/null)"
for p in "#,
    );
    s.push_str(
        &ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    );
    s.push_str(
        r#"; do
  st=down
  for a in $addrs; do if try "$a" "$p"; then st=up; break; fi; done
  echo "$p $st"
done
"#,
    );
    s
}

/// Probes a node's services over SSH: up or not, in the order given.
async fn probe(
    h: &crate::inventory::Host,
    d: &Deploy,
    svcs: &[Service],
) -> Result<Vec<bool>, String> {
    use crate::connection::Connection;
    use crate::connection::ssh::{HostKeyMode, SshTarget, connect};
    let (host, port) = ssh_address(h);
    let mut t = SshTarget::new(host, port, d.user.clone());
    if let Some(k) = &d.identity_file {
        t.identity_files = vec![k.clone()];
        t.identities_only = true;
    }
    t.known_hosts.mode = HostKeyMode::Off;
    t.connect_timeout = std::time::Duration::from_secs(10);
    t.connect_retries = 0;
    let conn = connect(&t).await.map_err(|e| format!("SSH: {e}"))?;
    let ports: Vec<u16> = svcs.iter().map(|s| s.port).collect();
    let script = probe_script(&ports);
    let out = conn
        .exec(crate::connection::ExecRequest::new(&script))
        .await
        .map_err(|e| format!("SSH: {e}"))?;
    conn.close().await;
    let text = out.stdout_str();
    let up: std::collections::HashSet<u16> = text
        .lines()
        .filter_map(|l| l.strip_suffix(" up"))
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    Ok(ports.iter().map(|p| up.contains(p)).collect())
}
