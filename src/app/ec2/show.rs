//! `rmesos ec2 list` and `describe`: the clusters of a region, and one cluster's hosts,
//! addresses and UIs.

use super::{Ctx, Ec2Failure, Ec2Outcome};
use crate::app::exit::Exit;
use crate::ec2::cluster::{self, Node, Role};

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
        let nodes = cluster::nodes(&self.ec2, name).await?;
        if nodes.is_empty() {
            return Err(Ec2Failure::NoInstances {
                cluster: name.to_string(),
                region: self.ec2.region.clone(),
            });
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
        Ok(Exit::Ok)
    }
}

/// The address a person would use: public DNS, else public IP, else private IP.
fn address(n: &Node) -> &str {
    if !n.public_dns.is_empty() {
        &n.public_dns
    } else if !n.public_ip.is_empty() {
        &n.public_ip
    } else {
        &n.private_ip
    }
}
