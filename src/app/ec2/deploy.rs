//! The cluster's inventory (an aws_ec2 source, loaded as text by the inventory layer as `-i`
//! would load it from a file) and the runs on it: the deploy playbook and `ec2 run`'s command.
//! What a deploy uses is [`Deploy`]: the flags given, else what the launch kept in the
//! cluster's tags, else the defaults.

use super::{Ctx, DeployArgs, Ec2Failure, Ec2Outcome, RunFlags, progress_printer};
use crate::app::exit::Exit;
use crate::app::options::{Output, parse_extra_vars, split_list};
use crate::app::session::{Hosts, Report, SessionBuilder};
use crate::ec2::cluster;
use crate::ec2::state::DeployRecord;
use crate::exec::{RunOptions, TagFilter};
use crate::inventory::{Host, Inventory, Source};
use crate::plan::LoadOptions;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PLAYBOOK: &str = "playbooks/ec2.yml";
pub const DEFAULT_USER: &str = "admin";
pub const DEFAULT_HOSTNAMES: &str = "dns-name,private-dns-name,instance-id";

/// How a run reaches and configures the cluster: each field is the flag given, else the
/// launch's record, else the default.
#[derive(Clone, Debug)]
pub struct Deploy {
    pub playbook: PathBuf,
    pub user: String,
    pub identity_file: Option<PathBuf>,
    pub extra_vars: Vec<String>,
    pub compose: Vec<String>,
    pub hostnames: String,
    pub ssh_timeout: u64,
}

impl Deploy {
    /// The flags over the record over the defaults. `-e` and `--compose` given replace the
    /// record's (all of them: "explicit wins" per flag, not per variable).
    pub fn resolve(
        d: &DeployArgs,
        identity: Option<&PathBuf>,
        rec: Option<&DeployRecord>,
    ) -> Deploy {
        let rec = rec.cloned().unwrap_or_default();
        let pick = |given: &[String], kept: Vec<String>| {
            if given.is_empty() {
                kept
            } else {
                given.to_vec()
            }
        };
        Deploy {
            playbook: d
                .playbook
                .clone()
                .or(rec.playbook.map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_PLAYBOOK)),
            user: d
                .user
                .clone()
                .or(rec.user)
                .unwrap_or_else(|| DEFAULT_USER.to_string()),
            identity_file: identity.cloned().or(rec.identity_file.map(PathBuf::from)),
            extra_vars: pick(&d.extra_vars, rec.extra_vars),
            compose: pick(&d.compose, rec.compose),
            hostnames: d
                .hostnames
                .clone()
                .or(rec.hostnames)
                .unwrap_or_else(|| DEFAULT_HOSTNAMES.to_string()),
            ssh_timeout: d.ssh_timeout,
        }
    }

    /// What a launch keeps: paths made absolute (later commands may run elsewhere), `-e
    /// @file` by its path.
    pub fn record(&self) -> DeployRecord {
        let abs = |p: &Path| -> String {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        DeployRecord {
            playbook: Some(abs(&self.playbook)),
            user: Some(self.user.clone()),
            identity_file: self.identity_file.as_deref().map(abs),
            extra_vars: self
                .extra_vars
                .iter()
                .map(|e| match e.trim().strip_prefix('@') {
                    Some(f) => format!("@{}", abs(Path::new(f))),
                    None => e.clone(),
                })
                .collect(),
            compose: self.compose.clone(),
            hostnames: Some(self.hostnames.clone()),
        }
    }
}

impl Ctx {
    /// The cluster's aws_ec2 inventory source: its running instances, grouped by their
    /// `rmesos-groups` tag, addressed as `compose` says.
    pub(super) fn inventory_source(
        &self,
        cluster: &str,
        d: &Deploy,
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
        d: &Deploy,
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
    pub(super) fn plays(&self, d: &Deploy, run: &RunFlags) -> Result<SessionBuilder, Ec2Failure> {
        let extra_vars = parse_extra_vars(&d.extra_vars)?;
        let mut opts = RunOptions {
            extra_vars: extra_vars.clone(),
            load: LoadOptions {
                extra_vars,
                ..LoadOptions::default()
            },
            check: run.check,
            limit: run.limit.clone(),
            tags: TagFilter {
                only: split_list(&run.tags),
                skip: split_list(&run.skip_tags),
            },
            ..RunOptions::default()
        };
        opts.conn.remote_user = Some(d.user.clone());
        opts.conn.private_key = d.identity_file.as_ref().map(|p| p.display().to_string());
        // New instances have host keys nobody has seen yet; their addresses come from the EC2
        // API over TLS.
        opts.conn.host_key_checking = Some(false);
        Ok(SessionBuilder::new(opts, Report::new(Output::Human, false)))
    }

    /// Waits for SSH on every node, then runs the playbook against the cluster's inventory.
    pub(super) async fn deploy(
        &self,
        cluster: &str,
        d: &Deploy,
        run: &RunFlags,
        ssh_only: bool,
    ) -> Ec2Outcome {
        let inv = self.load_inventory(cluster, d)?;
        let targets: Vec<(String, u16)> = inv.hosts.values().map(ssh_address).collect();
        eprintln!("* waiting for SSH on {} node(s)", targets.len());
        let printer = progress_printer();
        cluster::wait_ssh(&targets, Duration::from_secs(d.ssh_timeout), &printer).await?;
        if ssh_only {
            println!("stopped after step Ssh (--stop-after)");
            return Ok(Exit::Ok);
        }
        let mut plays = self.plays(d, run)?;
        plays.playbook(&d.playbook)?;
        Ok(plays.with_inventory(inv).execute().await)
    }

    /// `ec2 run`: a shell command on every node, as a one-task play.
    pub(super) async fn run_command(&self, cluster: &str, command: &str, d: &Deploy) -> Ec2Outcome {
        let play = json!([{
            "name": format!("Run on {}", cluster),
            "hosts": "all",
            "gather_facts": false,
            "tasks": [{"shell": command}],
        }]);
        self.run_play(cluster, &play, d).await
    }

    /// A generated playbook on every node of the cluster.
    pub(super) async fn run_play(
        &self,
        cluster: &str,
        play: &serde_json::Value,
        d: &Deploy,
    ) -> Ec2Outcome {
        let inv = self.load_inventory(cluster, d)?;
        // It stands for a playbook in the current directory: relative paths start there.
        let path = std::env::current_dir().unwrap_or_default().join("run.yml");
        let mut plays = self.plays(d, &RunFlags::default())?;
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
