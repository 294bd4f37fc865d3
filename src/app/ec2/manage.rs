//! `rmesos ec2 stop`, `start`, `add-slaves`, `remove-slaves`, `destroy` and `login`: changes to
//! a running cluster (the destructive ones confirmed by typing the cluster's name) and a shell
//! on its master.

use super::deploy::ssh_address;
use super::{Ctx, DeployArgs, Ec2Failure, Ec2Outcome, LoginArgs, progress_printer};
use crate::app::exit::Exit;
use crate::ec2::cluster;
use std::io::{BufRead, Write};
use std::time::Duration;

impl Ctx {
    pub(super) async fn stop(&self, name: &str) -> Ec2Outcome {
        let ids = cluster::stop(&self.ec2, name).await?;
        println!("stopping {} instance(s) of {}", ids.len(), name);
        Ok(Exit::Ok)
    }

    pub(super) async fn start(&self, name: &str, no_deploy: bool, d: &DeployArgs) -> Ec2Outcome {
        let ids = cluster::start(&self.ec2, name).await?;
        println!("starting {} instance(s) of {}", ids.len(), name);
        self.after_change(name, no_deploy, d, 600).await
    }

    pub(super) async fn add_slaves(
        &self,
        name: &str,
        count: u32,
        no_deploy: bool,
        d: &DeployArgs,
    ) -> Ec2Outcome {
        cluster::add_slaves(&self.ec2, name, count).await?;
        println!("launched {} slave(s) for {}", count, name);
        self.after_change(name, no_deploy, d, 600).await
    }

    pub(super) async fn remove_slaves(&self, name: &str, count: usize, yes: bool) -> Ec2Outcome {
        if !yes {
            confirm(&format!("Terminate {} slave(s) of {}?", count, name), name)?;
        }
        let ids = cluster::remove_slaves(&self.ec2, name, count).await?;
        println!("terminating {}", ids.join(" "));
        Ok(Exit::Ok)
    }

    pub(super) async fn destroy(&self, name: &str, yes: bool, delete_groups: bool) -> Ec2Outcome {
        let nodes = cluster::nodes(&self.ec2, name).await?;
        if !yes {
            let question = format!(
                "Terminate cluster {} ({} instance(s) in {}){}?",
                name,
                nodes.len(),
                self.ec2.region,
                if delete_groups {
                    " and delete its security groups"
                } else {
                    ""
                }
            );
            confirm(&question, name)?;
        }
        let printer = progress_printer();
        let wait = Duration::from_secs(600);
        let d = cluster::destroy(&self.ec2, name, delete_groups, wait, &printer).await?;
        println!(
            "terminated {} instance(s){}",
            d.instances.len(),
            if d.groups.is_empty() {
                String::new()
            } else {
                format!("; deleted groups {}", d.groups.join(", "))
            }
        );
        Ok(Exit::Ok)
    }

    /// The system ssh client on the first running master; its exit status is ours.
    pub(super) fn login(&self, a: LoginArgs) -> Ec2Outcome {
        let inv = self.load_inventory(&a.cluster, &a.deploy)?;
        let Some(master) = inv
            .groups
            .get("mesos-master")
            .and_then(|g| g.hosts.first())
            .and_then(|h| inv.hosts.get(h))
        else {
            return Err(Ec2Failure::NoMaster(a.cluster));
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
        let status = cmd.status().map_err(Ec2Failure::Ssh)?;
        Ok(status.code().map_or(Exit::Failed, Exit::Status))
    }
}

/// Asks on the terminal; the answer must be the cluster's name.
fn confirm(question: &str, name: &str) -> Result<(), Ec2Failure> {
    eprint!("{} Type the cluster name to confirm: ", question);
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() || line.trim() != name {
        return Err(Ec2Failure::NotConfirmed);
    }
    Ok(())
}
