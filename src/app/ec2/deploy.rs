//! The cluster's inventory (an aws_ec2 source, loaded as text by the inventory layer as `-i`
//! would load it from a file) and the runs on it: the deploy playbook and `ec2 run`'s command.

use super::{Ctx, DeployArgs, Ec2Failure, Ec2Outcome, progress_printer};
use crate::app::exit::Exit;
use crate::app::options::{Output, parse_extra_vars};
use crate::app::session::{Hosts, Report, SessionBuilder};
use crate::ec2::cluster;
use crate::exec::RunOptions;
use crate::inventory::{Host, Inventory, Source};
use crate::plan::LoadOptions;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

impl Ctx {
    /// The cluster's aws_ec2 inventory source: its running instances, grouped by their
    /// `rmesos-groups` tag, addressed as `compose` says.
    pub(super) fn inventory_source(
        &self,
        cluster: &str,
        d: &DeployArgs,
    ) -> Result<serde_json::Value, Ec2Failure> {
        let mut compose = serde_json::Map::new();
        compose.insert(
            "ansible_host".into(),
            json!("public_ip_address | default(private_ip_address)"),
        );
        for c in &d.compose {
            let (k, v) = c
                .split_once('=')
                .ok_or_else(|| Ec2Failure::BadCompose(c.clone()))?;
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
    pub(super) fn load_inventory(
        &self,
        cluster: &str,
        d: &DeployArgs,
    ) -> Result<Inventory, Ec2Failure> {
        let src = self.inventory_source(cluster, d)?;
        let hosts = Hosts {
            sources: vec![Source::Text {
                origin: PathBuf::from(format!("{}.aws_ec2.yml", cluster)),
                text: src.to_string(),
            }],
            flush_cache: false,
        };
        Ok(hosts.load(None)?)
    }

    /// The session's first half for a run on the cluster: its login user and key, `-e`, and
    /// human output.
    fn plays(&self, d: &DeployArgs) -> Result<SessionBuilder, Ec2Failure> {
        let mut opts = RunOptions {
            extra_vars: parse_extra_vars(&d.extra_vars)?,
            load: LoadOptions::default(),
            ..RunOptions::default()
        };
        opts.conn.remote_user = Some(d.user.clone());
        opts.conn.private_key = d.identity_file.as_ref().map(|p| p.display().to_string());
        // New instances have host keys nobody has seen yet; their addresses come from the EC2
        // API over TLS.
        opts.conn.host_key_checking = Some(false);
        Ok(SessionBuilder::new(opts, Report::new(Output::Human, false)))
    }

    /// Loads the deploy's playbook (and `-e`) as the deploy will, touching nothing.
    pub(super) fn check_playbook(&self, d: &DeployArgs) -> Result<(), Ec2Failure> {
        self.plays(d)?.playbook(&d.playbook)?;
        Ok(())
    }

    /// Waits for SSH on every node, then runs the playbook against the cluster's inventory.
    pub(super) async fn deploy(&self, cluster: &str, d: &DeployArgs, ssh_only: bool) -> Ec2Outcome {
        let inv = self.load_inventory(cluster, d)?;
        let targets: Vec<(String, u16)> = inv.hosts.values().map(ssh_address).collect();
        eprintln!("* waiting for SSH on {} node(s)", targets.len());
        let printer = progress_printer();
        cluster::wait_ssh(&targets, Duration::from_secs(d.ssh_timeout), &printer).await?;
        if ssh_only {
            println!("stopped after step Ssh (--stop-after)");
            return Ok(Exit::Ok);
        }
        let mut plays = self.plays(d)?;
        plays.playbook(&d.playbook)?;
        Ok(plays.with_inventory(inv).execute().await)
    }

    /// `ec2 run`: a shell command on every node, as a one-task play.
    pub(super) async fn run_command(
        &self,
        cluster: &str,
        command: &str,
        d: &DeployArgs,
    ) -> Ec2Outcome {
        let inv = self.load_inventory(cluster, d)?;
        let play = json!([{
            "name": format!("Run on {}", cluster),
            "hosts": "all",
            "gather_facts": false,
            "tasks": [{"shell": command}],
        }]);
        // It stands for a playbook in the current directory: relative paths start there.
        let path = std::env::current_dir().unwrap_or_default().join("run.yml");
        let mut plays = self.plays(d)?;
        plays.playbook_text(&play.to_string(), &path)?;
        Ok(plays.with_inventory(inv).execute().await)
    }
}

/// Where SSH reaches a host: `ansible_host` (else its name) and `ansible_port` (else 22).
pub(super) fn ssh_address(h: &Host) -> (String, u16) {
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
