//! `rmesos ec2 launch`, and what follows any change of a cluster's instances: wait for them to
//! run, then deploy.

use super::{Ctx, Deploy, Ec2Failure, Ec2Outcome, LaunchArgs, RunFlags, progress_printer};
use crate::app::exit::Exit;
use crate::ec2::client::Ec2Error;
use crate::ec2::cluster::{self, LaunchSpec, Step};
use crate::ec2::state;
use std::time::Duration;

impl Ctx {
    pub(super) async fn launch(&self, a: LaunchArgs) -> Ec2Outcome {
        let mut spec = launch_spec(&a, self.key_name.clone())?;
        let existed = cluster::exists(&self.ec2, &a.cluster).await?;
        if existed && !a.resume {
            return Err(Ec2Failure::Exists {
                cluster: a.cluster,
                region: self.ec2.region.clone(),
            });
        }
        // A resumed launch deploys as the first one did unless told otherwise.
        let kept = if existed {
            state::load(&self.ec2, &a.cluster).await?
        } else {
            None
        };
        let d = Deploy::resolve(&a.deploy, self.identity.as_ref(), kept.as_ref());
        if !a.no_deploy {
            self.preflight(&a.cluster, &d)?;
        }
        self.check_key(spec.key_name.as_deref(), d.identity_file.as_deref())
            .await?;
        spec.deploy = Some(d.record());
        if existed {
            self.confirm_widening(&spec, a.yes).await?;
        }
        self.confirm_plan(&spec, a.yes).await?;
        let stop_after = a.stop_after.unwrap_or(Step::Deploy);
        let wait = Duration::from_secs(a.wait_timeout);
        let printer = progress_printer();
        let launched = cluster::launch(&self.ec2, &spec, stop_after, wait, &printer).await;
        let done = match launched {
            Ok(done) => done,
            // A resumed cluster holds instances an earlier launch started: never ours to remove.
            Err(source) if a.keep_on_failure || existed => {
                return Err(Ec2Failure::PartlyLaunched {
                    cluster: a.cluster.clone(),
                    source,
                });
            }
            Err(source) => return Err(self.roll_back(&a.cluster, source, wait).await),
        };
        if done < Step::Running {
            println!("stopped after step {:?} (--stop-after)", done);
            return Ok(Exit::Ok);
        }
        let exit = if a.no_deploy {
            Exit::Ok
        } else {
            let deployed = self
                .deploy(&a.cluster, &d, &a.run, stop_after == Step::Ssh)
                .await;
            // A failed deploy is reported before the summary of where the cluster stands.
            deployed.unwrap_or_else(|e| crate::app::AppError::from(e).report())
        };
        self.summary(&a.cluster).await;
        Ok(exit)
    }

    /// Terminates what a failed launch started and deletes the groups it made.
    async fn roll_back(&self, cluster: &str, source: Ec2Error, wait: Duration) -> Ec2Failure {
        eprintln!("* launch failed: removing what it started in cluster {cluster}");
        let printer = progress_printer();
        match cluster::destroy(&self.ec2, cluster, true, wait, &printer).await {
            Ok(gone) => Ec2Failure::RolledBack {
                cluster: cluster.to_string(),
                source,
                terminated: gone.instances.len(),
            },
            Err(cleanup) => Ec2Failure::RollbackFailed {
                cluster: cluster.to_string(),
                source,
                cleanup,
            },
        }
    }

    /// Waits for the cluster's instances to run, then deploys unless told not to.
    pub(super) async fn after_change(
        &self,
        cluster: &str,
        no_deploy: bool,
        deploy: &Deploy,
        run: &RunFlags,
        wait: u64,
    ) -> Ec2Outcome {
        let printer = progress_printer();
        cluster::wait_running(&self.ec2, cluster, Duration::from_secs(wait), &printer).await?;
        if no_deploy {
            return Ok(Exit::Ok);
        }
        self.deploy(cluster, deploy, run, false).await
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

/// The launch as the flags describe it; bad tags and CIDRs, and SSH open to the whole
/// internet without `--yes-open-ssh`, are refused here.
fn launch_spec(a: &LaunchArgs, key_name: Option<String>) -> Result<LaunchSpec, Ec2Failure> {
    let mut tags = Vec::new();
    for t in &a.tag {
        match t.split_once('=') {
            Some((k, v)) if !k.is_empty() => tags.push((k.to_string(), v.to_string())),
            _ => return Err(Ec2Failure::BadTag(t.clone())),
        }
    }
    for (flag, cidr) in [
        ("--ssh-from", Some(&a.ssh_from)),
        ("--open-ui", a.open_ui.as_ref()),
    ] {
        if let Some(c) = cidr
            && !is_cidr(c)
        {
            return Err(Ec2Failure::BadCidr {
                flag,
                value: c.clone(),
            });
        }
    }
    if is_everyone(&a.ssh_from) && !a.yes_open_ssh {
        return Err(Ec2Failure::Preflight(format!(
            "--ssh-from {} lets the whole internet try to log in; pass your own address \
             (e.g. 203.0.113.7/32), or add --yes-open-ssh if you mean it",
            a.ssh_from
        )));
    }
    Ok(LaunchSpec {
        cluster: a.cluster.clone(),
        masters: a.masters,
        slaves: a.slaves,
        zookeepers: a.zookeepers.unwrap_or(if a.masters > 1 { 3 } else { 0 }),
        instance_type: a.instance_type.clone(),
        master_instance_type: a.master_instance_type.clone(),
        ami: a.ami.clone(),
        key_name,
        zone: a.zone.clone(),
        vpc_id: a.vpc_id.clone(),
        subnet_id: a.subnet_id.clone(),
        ebs_vol_size: a.ebs_vol_size,
        root_vol_size: a.root_vol_size,
        spot_price: a.spot_price.clone(),
        tags,
        ssh_from: a.ssh_from.clone(),
        open_ui: a.open_ui.clone(),
        deploy: None,
    })
}

/// A CIDR that covers every address (`0.0.0.0/0`, `::/0`).
pub(super) fn is_everyone(cidr: &str) -> bool {
    cidr.trim().ends_with("/0")
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

#[cfg(test)]
mod tests {
    use super::{is_cidr, is_everyone};

    #[test]
    fn cidrs() {
        assert!(is_cidr("203.0.113.7/32"));
        assert!(is_cidr("2001:db8::/48"));
        assert!(!is_cidr("203.0.113.7"));
        assert!(!is_cidr("203.0.113.7/33"));
        assert!(!is_cidr("me/32"));
        assert!(is_everyone("0.0.0.0/0") && is_everyone("::/0"));
        assert!(!is_everyone("203.0.113.0/24"));
    }
}
