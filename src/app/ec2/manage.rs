//! `rmesos ec2 stop`, `start`, `add-slaves`, `remove-slaves`, `destroy`, `login` and
//! `copy-dir`: changes to a running cluster (the destructive ones confirmed by typing the
//! cluster's name), a shell on one of its nodes, a directory pushed to every node.

use super::deploy::ssh_address;
use super::{Ctx, Deploy, Ec2Failure, Ec2Outcome, LoginArgs, RunFlags, progress_printer};
use crate::app::exit::Exit;
use crate::ec2::cluster;
use std::io::{BufRead, Write};
use std::time::Duration;

impl Ctx {
    pub(super) async fn stop(&self, name: &str) -> Ec2Outcome {
        let ids = cluster::stop(&self.ec2, name).await?;
        println!("stopping {} instance(s) of {}", ids.len(), name);
        if !ids.is_empty() {
            eprintln!(
                "warning: what is on the instance-store disks (/mnt, /mnt2…: the ephemeral HDFS, \
                 Mesos and Spark work directories) is lost when an instance stops; EBS volumes \
                 (the root disk, /vol and the persistent HDFS on it) are kept"
            );
        }
        Ok(Exit::Ok)
    }

    pub(super) async fn start(
        &self,
        name: &str,
        no_deploy: bool,
        d: &Deploy,
        run: &RunFlags,
    ) -> Ec2Outcome {
        let ids = cluster::start(&self.ec2, name).await?;
        println!("starting {} instance(s) of {}", ids.len(), name);
        self.after_change(name, no_deploy, d, run, 600).await
    }

    pub(super) async fn add_slaves(
        &self,
        name: &str,
        count: u32,
        no_deploy: bool,
        d: &Deploy,
        run: &RunFlags,
    ) -> Ec2Outcome {
        cluster::add_slaves(&self.ec2, name, count, self.key_name.as_deref()).await?;
        println!("launched {} slave(s) for {}", count, name);
        self.after_change(name, no_deploy, d, run, 600).await
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

    /// The system ssh client on a node (`--host`: an inventory name, instance id or address;
    /// default the first master); its exit status is ours.
    pub(super) fn login(&self, a: &LoginArgs, d: &Deploy) -> Ec2Outcome {
        let inv = self.load_inventory(&a.cluster, d)?;
        let node = match &a.host {
            Some(want) => inv
                .hosts
                .values()
                .find(|h| host_is(h, want))
                .ok_or_else(|| Ec2Failure::NoSuchNode {
                    cluster: a.cluster.clone(),
                    host: want.clone(),
                    known: inv.hosts.keys().cloned().collect::<Vec<_>>().join(", "),
                })?,
            None => inv
                .groups
                .get("mesos-master")
                .and_then(|g| g.hosts.first())
                .and_then(|h| inv.hosts.get(h))
                .ok_or_else(|| Ec2Failure::NoMaster(a.cluster.clone()))?,
        };
        let (host, port) = ssh_address(node);
        let mut cmd = std::process::Command::new("ssh");
        cmd.args(ssh_args(a, d, &host, port));
        let status = cmd.status().map_err(Ec2Failure::Ssh)?;
        Ok(status.code().map_or(Exit::Failed, Exit::Status))
    }

    /// `copy-dir`: a local directory to the same path (or `dest`) on every node, through a
    /// one-task play of the copy module (our own SSH connections; no rsync needed).
    pub(super) async fn copy_dir(
        &self,
        cluster: &str,
        dir: &std::path::Path,
        dest: Option<&str>,
        d: &Deploy,
    ) -> Ec2Outcome {
        if !dir.is_dir() {
            return Err(Ec2Failure::NotADirectory(dir.to_path_buf()));
        }
        let abs = std::path::absolute(dir)
            .unwrap_or_else(|_| dir.to_path_buf())
            .display()
            .to_string();
        let abs = abs.trim_end_matches('/').to_string();
        let dest = dest.map(str::to_string).unwrap_or_else(|| abs.clone());
        let play = serde_json::json!([{
            "name": format!("Copy {} to {}", abs, cluster),
            "hosts": "all",
            "gather_facts": false,
            "tasks": [
                {"file": {"path": dest, "state": "directory"}},
                {"copy": {"src": format!("{abs}/"), "dest": format!("{}/", dest.trim_end_matches('/'))}},
            ],
        }]);
        self.run_play(cluster, &play, d).await
    }
}

/// Whether `h` is the node meant by `want`: its inventory name, instance id, or an address.
fn host_is(h: &crate::inventory::Host, want: &str) -> bool {
    if h.name == want {
        return true;
    }
    [
        "instance_id",
        "ansible_host",
        "public_ip_address",
        "private_ip_address",
        "public_dns_name",
        "private_dns_name",
    ]
    .iter()
    .any(|k| h.vars.get(*k).and_then(|v| v.as_str()) == Some(want))
}

/// `-L 8080:8080` is `-L localhost:8080:localhost:8080`; other forms go to ssh as written.
pub(super) fn forward_spec(l: &str) -> String {
    let parts: Vec<&str> = l.split(':').collect();
    match parts.as_slice() {
        [local, remote] if local.parse::<u16>().is_ok() && remote.parse::<u16>().is_ok() => {
            format!("localhost:{local}:localhost:{remote}")
        }
        _ => l.to_string(),
    }
}

/// The ssh command line of `login`.
fn ssh_args(a: &LoginArgs, d: &Deploy, host: &str, port: u16) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "-o".into(),
        "StrictHostKeyChecking=accept-new".into(),
        "-p".into(),
        port.to_string(),
    ];
    if let Some(id) = &d.identity_file {
        v.push("-i".into());
        v.push(id.display().to_string());
    }
    if a.agent {
        v.push("-A".into());
    }
    if let Some(p) = a.socks {
        v.push("-D".into());
        v.push(p.to_string());
    }
    for l in &a.forward {
        v.push("-L".into());
        v.push(forward_spec(l));
    }
    v.push(format!("{}@{}", d.user, host));
    v
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

#[cfg(test)]
mod tests {
    use super::forward_spec;

    #[test]
    fn forwarding_shorthand() {
        assert_eq!(forward_spec("8080:8080"), "localhost:8080:localhost:8080");
        assert_eq!(forward_spec("9000:10.0.0.5:9000"), "9000:10.0.0.5:9000");
        assert_eq!(forward_spec("a:b"), "a:b");
    }
}
