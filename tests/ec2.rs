//! EC2 inventory source and cluster lifecycle against moto's EC2 server on loopback (a real
//! EC2 API implementation; `pip install 'moto[server]'`). Each test starts its own server on a
//! free port, so tests are independent; the server is killed by PID when the test ends.
#![cfg(feature = "ec2")]

use aws_sdk_ec2::types::{Filter, InstanceType, ResourceType, Tag, TagSpecification};
use rmesos::ec2::client::{AwsSettings, Ec2, StaticKeys, connect};
use rmesos::ec2::load_aws_ec2;
use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Moto {
    child: Child,
    url: String,
    home: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// moto_server with settings of its own (`MOTO_…` variables).
    fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed: pip install 'moto[server]'");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            home: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn settings(&self, region: &str) -> AwsSettings {
        AwsSettings {
            profile: None,
            region: Some(region.into()),
            endpoint_url: Some(self.url.clone()),
            keys: Some(StaticKeys {
                access_key: "testing".into(),
                secret_key: "testing".into(),
                session_token: None,
            }),
        }
    }

    async fn ec2(&self, region: &str) -> Ec2 {
        connect(&self.settings(region), None).await.unwrap()
    }

    /// `rmesos ARGS` with credentials, region and endpoint from the environment, as a user
    /// would set them; IMDS and the user's own AWS files are out of reach.
    fn rmesos(&self, args: &[&str], stdin: &str) -> Output {
        self.rmesos_env(args, stdin, &[])
    }

    /// [`Moto::rmesos`] with more environment variables.
    fn rmesos_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmesos"));
        cmd.args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.url);
        isolate(&mut cmd, self.home.path());
        cmd.envs(env.iter().copied());
        run(cmd, stdin)
    }
}

fn isolate(cmd: &mut Command, home: &Path) {
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_SESSION_TOKEN");
}

fn run(mut cmd: Command, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Asserts the command failed (exit 1) with each of `words` on stderr; returns stderr.
fn failed_with(out: &Output, words: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    for w in words {
        assert!(err.contains(w), "{w:?} not in:\n{err}");
    }
    err
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Makes the key pair `ops` the launches name, and returns an AMI moto has.
async fn key_pair_and_ami(ec2: &Ec2) -> String {
    ec2.client
        .create_key_pair()
        .key_name("ops")
        .send()
        .await
        .unwrap();
    some_ami(ec2).await
}

async fn some_ami(ec2: &Ec2) -> String {
    let imgs = ec2.client.describe_images().send().await.unwrap();
    imgs.images()[0].image_id().unwrap().to_string()
}

fn tags_of(t: &[Tag]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = t
        .iter()
        .map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
        .collect();
    v.sort();
    v
}

/// `ec2 launch CLUSTER` with the AMI, key pair and SSH source every test uses.
fn launch_cmd<'a>(cluster: &'a str, ami: &'a str) -> Vec<&'a str> {
    vec![
        "ec2",
        "launch",
        cluster,
        "--ami",
        ami,
        "--key-name",
        "ops",
        "--ssh-from",
        "203.0.113.7/32",
    ]
}

/// [`launch_cmd`] without the deploy, and `extra`.
fn launch_args<'a>(cluster: &'a str, ami: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = launch_cmd(cluster, ami);
    v.push("--no-deploy");
    v.extend_from_slice(extra);
    v
}

/// Live instances of a cluster: (role, state), sorted.
async fn cluster_states(ec2: &Ec2, cluster: &str) -> Vec<(String, String)> {
    let out = ec2
        .client
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:rmesos-cluster")
                .values(cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut v = vec![];
    for r in out.reservations() {
        for i in r.instances() {
            let state = i.state().unwrap().name().unwrap().as_str().to_string();
            if state == "terminated" {
                continue;
            }
            let role = i
                .tags()
                .iter()
                .find(|t| t.key() == Some("rmesos-role"))
                .and_then(|t| t.value())
                .unwrap_or("")
                .to_string();
            v.push((role, state));
        }
    }
    v.sort();
    v
}

async fn group_names(ec2: &Ec2, cluster: &str) -> BTreeSet<String> {
    rmesos::ec2::cluster::security_groups(ec2, cluster)
        .await
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn launch_creates_exactly_the_groups_rules_instances_tags_and_volumes() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        ok(&moto.rmesos(
            &launch_args(
                "alpha",
                &ami,
                &[
                    "--slaves",
                    "2",
                    "--ebs-vol-size",
                    "20",
                    "--root-vol-size",
                    "30",
                    "--tag",
                    "team=data",
                ],
            ),
            "",
        ));

        let groups = rmesos::ec2::cluster::security_groups(&ec2, "alpha")
            .await
            .unwrap();
        assert_eq!(
            groups.keys().cloned().collect::<Vec<_>>(),
            vec!["alpha-master", "alpha-slaves"]
        );
        let (master_sg, slaves_sg) = (&groups["alpha-master"], &groups["alpha-slaves"]);
        for id in groups.values() {
            let rules = rmesos::ec2::cluster::current_rules(&ec2, id).await.unwrap();
            let got: BTreeSet<(String, i32, i32, String)> = rules
                .into_iter()
                .map(|r| (r.protocol, r.from, r.to, r.source))
                .collect();
            let want: BTreeSet<(String, i32, i32, String)> = [
                ("-1".to_string(), -1, -1, master_sg.clone()),
                ("-1".to_string(), -1, -1, slaves_sg.clone()),
                ("tcp".to_string(), 22, 22, "203.0.113.7/32".to_string()),
            ]
            .into_iter()
            .collect();
            assert_eq!(
                got, want,
                "rules of {id}: no UI port is open without --open-ui"
            );
        }

        let out = ec2
            .client
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:rmesos-cluster")
                    .values("alpha")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let insts: Vec<_> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances().to_vec())
            .collect();
        assert_eq!(insts.len(), 3);
        let mut roles = vec![];
        for i in &insts {
            assert_eq!(i.state().unwrap().name().unwrap().as_str(), "running");
            assert_eq!(i.key_name(), Some("ops"));
            assert_eq!(i.image_id(), Some(ami.as_str()));
            let tags = tags_of(i.tags());
            let role = tags
                .iter()
                .find(|(k, _)| k == "rmesos-role")
                .unwrap()
                .1
                .clone();
            let (name, groups_tag, sg) = match role.as_str() {
                "master" => ("alpha-master", "mesos-master,zookeeper", master_sg),
                "slave" => ("alpha-slave", "mesos-slave", slaves_sg),
                other => panic!("unexpected role {other}"),
            };
            let mut want = vec![
                ("Name".to_string(), name.to_string()),
                ("rmesos-cluster".into(), "alpha".into()),
                ("rmesos-ebs-gb".into(), "20".into()),
                ("rmesos-groups".into(), groups_tag.into()),
                ("rmesos-role".into(), role.clone()),
                ("rmesos-root-gb".into(), "30".into()),
                ("team".into(), "data".into()),
            ];
            want.sort();
            assert_eq!(tags, want);
            let sgs: Vec<&str> = i
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id())
                .collect();
            assert_eq!(sgs, vec![sg.as_str()]);
            // The extra volume: 20 GB at /dev/sdv, tagged with the cluster.
            let vol_id = i
                .block_device_mappings()
                .iter()
                .find(|b| b.device_name() == Some("/dev/sdv"))
                .and_then(|b| b.ebs())
                .and_then(|e| e.volume_id())
                .expect("an EBS volume at /dev/sdv")
                .to_string();
            let vols = ec2
                .client
                .describe_volumes()
                .volume_ids(&vol_id)
                .send()
                .await
                .unwrap();
            let vol = &vols.volumes()[0];
            assert_eq!(vol.size(), Some(20));
            assert!(tags_of(vol.tags()).contains(&("rmesos-cluster".into(), "alpha".into())));
            // The root volume, resized.
            let root = i.root_device_name().unwrap();
            let root_id = i
                .block_device_mappings()
                .iter()
                .find(|b| b.device_name() == Some(root))
                .and_then(|b| b.ebs())
                .and_then(|e| e.volume_id())
                .expect("a root volume")
                .to_string();
            let vols = ec2
                .client
                .describe_volumes()
                .volume_ids(&root_id)
                .send()
                .await
                .unwrap();
            assert_eq!(vols.volumes()[0].size(), Some(30));
            roles.push(role);
        }
        roles.sort();
        assert_eq!(roles, vec!["master", "slave", "slave"]);
    });
}

#[test]
fn fault_tolerant_launch_adds_zookeeper_nodes_and_their_group() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        ok(&moto.rmesos(
            &launch_args(
                "ha",
                &ami,
                &[
                    "--masters",
                    "3",
                    "--slaves",
                    "1",
                    "--open-ui",
                    "198.51.100.0/24",
                ],
            ),
            "",
        ));
        assert_eq!(
            group_names(&ec2, "ha").await,
            ["ha-master", "ha-slaves", "ha-zoo"]
                .map(String::from)
                .into()
        );
        let states = cluster_states(&ec2, "ha").await;
        let roles: Vec<&str> = states.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            roles,
            vec![
                "master",
                "master",
                "master",
                "slave",
                "zookeeper",
                "zookeeper",
                "zookeeper"
            ]
        );
        let groups = rmesos::ec2::cluster::security_groups(&ec2, "ha")
            .await
            .unwrap();
        let rules = rmesos::ec2::cluster::current_rules(&ec2, &groups["ha-master"])
            .await
            .unwrap();
        let ui: BTreeSet<i32> = rules
            .iter()
            .filter(|r| r.source == "198.51.100.0/24")
            .map(|r| r.from)
            .collect();
        assert_eq!(ui, [4040, 5050, 8080, 8090, 9870, 9880].into());
    });
}

#[test]
fn relaunch_is_refused_and_resume_continues_an_interrupted_launch() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        let out = ok(&moto.rmesos(
            &launch_args("beta", &ami, &["--slaves", "2", "--stop-after", "groups"]),
            "",
        ));
        assert!(out.contains("stopped after step Groups"), "{out}");
        assert_eq!(
            group_names(&ec2, "beta").await,
            ["beta-master", "beta-slaves"].map(String::from).into()
        );
        assert!(cluster_states(&ec2, "beta").await.is_empty());

        let refused = moto.rmesos(&launch_args("beta", &ami, &["--slaves", "2"]), "");
        assert_eq!(refused.status.code(), Some(1));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            err.contains("already exists") && err.contains("--resume"),
            "{err}"
        );
        assert!(
            cluster_states(&ec2, "beta").await.is_empty(),
            "a refused launch changes nothing"
        );

        ok(&moto.rmesos(
            &launch_args(
                "beta",
                &ami,
                &["--slaves", "2", "--resume", "--stop-after", "instances"],
            ),
            "",
        ));
        assert_eq!(cluster_states(&ec2, "beta").await.len(), 3);
        ok(&moto.rmesos(
            &launch_args("beta", &ami, &["--slaves", "2", "--resume"]),
            "",
        ));
        assert_eq!(
            cluster_states(&ec2, "beta").await,
            vec![
                ("master".to_string(), "running".to_string()),
                ("slave".into(), "running".into()),
                ("slave".into(), "running".into())
            ],
            "resuming launches nothing twice"
        );
        let groups = rmesos::ec2::cluster::security_groups(&ec2, "beta")
            .await
            .unwrap();
        let rules = rmesos::ec2::cluster::current_rules(&ec2, &groups["beta-slaves"])
            .await
            .unwrap();
        assert_eq!(rules.len(), 3, "rules are not duplicated: {rules:?}");
    });
}

#[test]
fn stop_start_and_destroy_touch_only_their_cluster() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        ok(&moto.rmesos(&launch_args("one", &ami, &[]), ""));
        ok(&moto.rmesos(&launch_args("two", &ami, &[]), ""));
        let running = |n: usize| {
            vec![
                ("master".to_string(), "running".to_string()),
                ("slave".into(), "running".into()),
            ][..n]
                .to_vec()
        };

        let stopped = moto.rmesos(&["ec2", "stop", "one"], "");
        ok(&stopped);
        let warn = String::from_utf8_lossy(&stopped.stderr);
        assert!(
            warn.contains("instance-store") && warn.contains("lost"),
            "{warn}"
        );
        let one: Vec<String> = cluster_states(&ec2, "one")
            .await
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert!(
            one.iter().all(|s| s == "stopped" || s == "stopping"),
            "{one:?}"
        );
        assert_eq!(cluster_states(&ec2, "two").await, running(2));

        let list = ok(&moto.rmesos(&["ec2", "list"], ""));
        assert!(
            list.lines()
                .any(|l| l.starts_with("one") && l.contains("stopped")),
            "{list}"
        );
        assert!(
            list.lines()
                .any(|l| l.starts_with("two") && l.contains("2 running")),
            "{list}"
        );

        ok(&moto.rmesos(&["ec2", "start", "one", "--no-deploy"], ""));
        assert_eq!(cluster_states(&ec2, "one").await, running(2));

        // Not confirmed: nothing happens.
        let refused = moto.rmesos(&["ec2", "destroy", "one"], "nope\n");
        assert_eq!(refused.status.code(), Some(1));
        assert_eq!(cluster_states(&ec2, "one").await, running(2));

        ok(&moto.rmesos(&["ec2", "destroy", "one", "--delete-groups"], "one\n"));
        assert!(cluster_states(&ec2, "one").await.is_empty());
        assert!(group_names(&ec2, "one").await.is_empty());
        assert_eq!(cluster_states(&ec2, "two").await, running(2));
        assert_eq!(
            group_names(&ec2, "two").await,
            ["two-master", "two-slaves"].map(String::from).into()
        );

        ok(&moto.rmesos(&["ec2", "add-slaves", "two", "2", "--no-deploy"], ""));
        assert_eq!(cluster_states(&ec2, "two").await.len(), 4);
        ok(&moto.rmesos(&["ec2", "remove-slaves", "two", "1", "--yes"], ""));
        let two = cluster_states(&ec2, "two").await;
        assert_eq!(
            two.iter().filter(|(r, _)| r == "slave").count(),
            2,
            "{two:?}"
        );

        let desc = ok(&moto.rmesos(&["ec2", "describe", "two"], ""));
        assert!(
            desc.contains("Mesos master") && desc.contains(":5050/"),
            "{desc}"
        );
        // Each address under its own label: moto gives public and private addresses.
        for line in desc.lines().filter(|l| l.contains(" running ")) {
            let (_, private) = line.split_once(" private ").expect("a private column");
            let private = private.trim();
            assert!(
                private.starts_with("172.31.") || private.starts_with("10."),
                "{line}"
            );
            let (_, public) = line.split_once(" public ").expect("a public column");
            let (public, _) = public.split_once(" private ").unwrap();
            assert!(public.contains(".amazonaws.com"), "{line}");
            assert!(!public.contains(private), "{line}");
        }
    });
}

/// Instances made directly (as another tool would), tagged Name/role/env.
async fn make_instances(ec2: &Ec2, specs: &[(&str, &str, &str)]) {
    let ami = some_ami(ec2).await;
    for (name, role, env) in specs {
        ec2.client
            .run_instances()
            .image_id(&ami)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(Tag::builder().key("Name").value(*name).build())
                    .tags(Tag::builder().key("role").value(*role).build())
                    .tags(Tag::builder().key("env").value(*env).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

fn source(moto: &Moto, dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("aws_ec2.yml");
    std::fs::write(
        &p,
        format!(
            "plugin: amazon.aws.aws_ec2\nendpoint_url: {}\naccess_key: testing\nsecret_key: testing\n{}",
            moto.url, body
        ),
    )
    .unwrap();
    p
}

#[test]
fn plugin_groups_names_and_composes_across_regions() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        make_instances(
            &moto.ec2("us-east-1").await,
            &[("web-1", "web", "prod"), ("db-1", "db", "prod")],
        )
        .await;
        make_instances(&moto.ec2("eu-west-1").await, &[("web-2", "web", "dev")]).await;
    });
    let path = source(
        &moto,
        dir.path(),
        "regions: [us-east-1, eu-west-1]
hostnames:
  - tag:Nickname
  - tag:Name
  - private-ip-address
keyed_groups:
  - key: tags.role
    prefix: role
  - key: placement.region
    prefix: aws_region
    parent_group: regions
  - key: tags.team | default('')
    prefix: team
    default_value: none
groups:
  production: tags.env == 'prod'
compose:
  ansible_host: private_ip_address
  zone: placement.availability_zone
",
    );
    let inv = load_aws_ec2(&path, false).unwrap();
    let hosts: BTreeSet<&str> = inv.hosts.keys().map(String::as_str).collect();
    assert_eq!(hosts, ["db-1", "web-1", "web-2"].into());
    let members = |g: &str| -> BTreeSet<String> {
        inv.groups
            .get(g)
            .map(|g| g.hosts.iter().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(members("aws_ec2").len(), 3);
    assert_eq!(
        members("role_web"),
        ["web-1", "web-2"].map(String::from).into()
    );
    assert_eq!(members("role_db"), ["db-1"].map(String::from).into());
    assert_eq!(
        members("production"),
        ["db-1", "web-1"].map(String::from).into()
    );
    assert_eq!(
        members("aws_region_eu_west_1"),
        ["web-2"].map(String::from).into()
    );
    assert_eq!(members("team_none").len(), 3);
    let regions: BTreeSet<&str> = inv.groups["regions"]
        .children
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        regions,
        ["aws_region_eu_west_1", "aws_region_us_east_1"].into()
    );
    let web1 = &inv.hosts["web-1"];
    assert_eq!(web1["ansible_host"], web1["private_ip_address"]);
    assert!(web1["ansible_host"].as_str().unwrap().contains('.'));
    assert_eq!(
        web1["zone"],
        web1["placement"].get_attr("availability_zone").unwrap()
    );
    assert_eq!(
        web1["placement"].get_attr("region").unwrap().as_str(),
        Some("us-east-1")
    );
    assert_eq!(web1["tags"].get_attr("role").unwrap().as_str(), Some("web"));
    assert_eq!(
        web1["state"].get_attr("name").unwrap().as_str(),
        Some("running")
    );
    assert_eq!(
        web1["security_groups"].kind(),
        minijinja::value::ValueKind::Seq
    );
    assert_eq!(web1["instance_type"].as_str(), Some("t3.micro"));

    // The same source through the inventory layer, as `-i` reads it.
    let out = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmesos"));
        cmd.args(["inventory", "-i", path.to_str().unwrap(), "--graph"]);
        isolate(&mut cmd, moto.home.path());
        ok(&run(cmd, ""))
    };
    assert!(out.contains("@role_web:") && out.contains("web-2"), "{out}");
}

#[test]
fn plugin_filters_include_and_exclude() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        make_instances(
            &moto.ec2("us-east-1").await,
            &[
                ("web-1", "web", "prod"),
                ("web-2", "web", "dev"),
                ("db-1", "db", "prod"),
                ("db-2", "db", "dev"),
            ],
        )
        .await;
    });
    let names = |body: &str| -> Vec<String> {
        let p = source(
            &moto,
            dir.path(),
            &format!("regions: [us-east-1]\nhostnames: [tag:Name]\n{body}"),
        );
        load_aws_ec2(&p, false)
            .unwrap()
            .hosts
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(names("filters:\n  tag:role: web\n"), vec!["web-1", "web-2"]);
    assert_eq!(
        names("filters:\n  tag:role: web\ninclude_filters:\n  - tag:Name: [db-2]\n"),
        vec!["db-2", "web-1", "web-2"]
    );
    assert_eq!(
        names("filters:\n  tag:env: [prod, dev]\nexclude_filters:\n  - tag:env: dev\n"),
        vec!["db-1", "web-1"]
    );
    assert_eq!(names("filters:\n  tag:role: cache\n"), Vec::<String>::new());
}

#[test]
fn plugin_cache_hit_and_flush() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    rt().block_on(async {
        make_instances(&moto.ec2("us-east-1").await, &[("a", "web", "prod")]).await;
    });
    let path = source(
        &moto,
        dir.path(),
        &format!(
            "regions: [us-east-1]\nhostnames: [tag:Name]\ncache: true\ncache_connection: {}\n",
            cache_dir.display()
        ),
    );
    assert_eq!(load_aws_ec2(&path, false).unwrap().hosts.len(), 1);
    rt().block_on(async {
        make_instances(&moto.ec2("us-east-1").await, &[("b", "web", "prod")]).await;
    });
    assert_eq!(
        load_aws_ec2(&path, false).unwrap().hosts.len(),
        1,
        "the second read is served from the cache"
    );
    assert_eq!(
        load_aws_ec2(&path, true).unwrap().hosts.len(),
        2,
        "--flush-cache queries EC2"
    );
    assert_eq!(
        load_aws_ec2(&path, false).unwrap().hosts.len(),
        2,
        "and refreshes the cache"
    );

    // Different filters are a different cache entry.
    let other_dir = tempfile::tempdir().unwrap();
    let other = source(
        &moto,
        other_dir.path(),
        &format!(
            "regions: [us-east-1]\nhostnames: [tag:Name]\nfilters:\n  tag:Name: b\ncache: true\ncache_connection: {}\n",
            cache_dir.display()
        ),
    );
    let names: Vec<String> = load_aws_ec2(&other, false)
        .unwrap()
        .hosts
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, vec!["b"]);

    // The command line's --flush-cache reaches the source too.
    rt().block_on(async {
        make_instances(&moto.ec2("us-east-1").await, &[("c", "web", "prod")]).await;
    });
    let list = |flush: bool| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmesos"));
        cmd.args(["inventory", "-i", path.to_str().unwrap(), "--list"]);
        if flush {
            cmd.arg("--flush-cache");
        }
        isolate(&mut cmd, moto.home.path());
        ok(&run(cmd, ""))
    };
    assert!(!list(false).contains("\"c\""));
    assert!(list(true).contains("\"c\""));
}

#[test]
fn missing_credentials_and_bad_regions_are_one_line() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmesos"));
    cmd.args(["ec2", "list", "--region", "us-east-1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL");
    isolate(&mut cmd, home.path());
    let out = run(cmd, "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no AWS credentials found"), "{err}");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmesos"));
    cmd.args(["ec2", "list", "--region", "Mars"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_ENDPOINT_URL");
    isolate(&mut cmd, home.path());
    let out = run(cmd, "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("\"Mars\" is not an AWS region name"), "{err}");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rmesos"));
    // Options are checked before any request (the endpoint is a closed loopback port).
    cmd.args(["ec2", "launch", "x", "--ami", "ami-1", "--ssh-from", "me"])
        .args(["--region", "us-east-1", "--endpoint-url"])
        .arg(format!("http://127.0.0.1:{}", free_port()))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    isolate(&mut cmd, home.path());
    let out = run(cmd, "");
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a CIDR"));
}

/// Needs Docker: container hosts stand in for the instances. The cluster's inventory source
/// maps each instance to its container through `compose` (a tag holding the address), the
/// same path a user takes to reach instances by a non-default address. The launch's playbook,
/// `-e`, user, key and compose are remembered: `deploy`, `start`, `run`, `status` and
/// `copy-dir` then need none of them.
#[test]
fn deploy_waits_for_ssh_and_runs_the_playbook_on_container_hosts_needs_docker() {
    let moto = Moto::start();
    let hosts = rmesos::lab::ContainerHosts::start(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("site.yml");
    std::fs::write(
        &playbook,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        content: \"{{ group_names | join(',') }} {{ marker }}\"\n        dest: /tmp/rmesos-groups\n",
    )
    .unwrap();
    let key = hosts.lab().private_key_path();
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let key = key.to_str().unwrap();
    let compose = "ansible_host=tags['ssh-address']";
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        // The lab's key is the key pair's (launch checks the identity file against it).
        ec2.client
            .import_key_pair()
            .key_name("ops")
            .public_key_material(aws_sdk_ec2::primitives::Blob::new(public.as_bytes()))
            .send()
            .await
            .unwrap();
        let ami = some_ami(&ec2).await;
        ok(&moto.rmesos(&launch_args("gamma", &ami, &[]), ""));
        // Point each instance at a container (master → host1, slave → host2).
        let out = ec2
            .client
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:rmesos-cluster")
                    .values("gamma")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        for i in out.reservations().iter().flat_map(|r| r.instances()) {
            let role = tags_of(i.tags())
                .into_iter()
                .find(|(k, _)| k == "rmesos-role")
                .unwrap()
                .1;
            let host = if role == "master" {
                &hosts.hosts()[0]
            } else {
                &hosts.hosts()[1]
            };
            ec2.client
                .create_tags()
                .resources(i.instance_id().unwrap())
                .tags(
                    Tag::builder()
                        .key("ssh-address")
                        .value(host.ip.to_string())
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        let mut resume = launch_cmd("gamma", &ami);
        resume.extend([
            "--resume",
            "--identity-file",
            key,
            "--user",
            "root",
            "--compose",
            compose,
            "--playbook",
            playbook.to_str().unwrap(),
            "-e",
            "marker=first",
            "--ssh-timeout",
            "120",
        ]);
        let out = ok(&moto.rmesos(&resume, ""));
        assert!(
            out.contains("cluster gamma: 2 instance(s), 2 running"),
            "{out}"
        );
    });
    let read = |h: &str| {
        hosts
            .exec(h, "cat /tmp/rmesos-groups 2>/dev/null || echo absent")
            .unwrap()
            .stdout_str()
    };
    let forget = || {
        for h in ["host1", "host2"] {
            hosts.exec(h, "rm -f /tmp/rmesos-groups").unwrap();
        }
    };
    assert_eq!(read("host1"), "aws_ec2,mesos-master,zookeeper first");
    assert_eq!(read("host2"), "aws_ec2,mesos-slave first");

    // `deploy` with no flags repeats the launch's playbook, -e, user, key and compose;
    // --check changes nothing, --limit narrows.
    forget();
    let out = ok(&moto.rmesos(&["ec2", "deploy", "gamma", "--check"], ""));
    assert!(out.contains("changed=1"), "{out}");
    assert_eq!(read("host1"), "absent\n");
    ok(&moto.rmesos(&["ec2", "deploy", "gamma", "--limit", "mesos-slave"], ""));
    assert_eq!(read("host1"), "absent\n");
    assert_eq!(read("host2"), "aws_ec2,mesos-slave first");

    // `start` redeploys the same way; an explicit -e wins.
    forget();
    ok(&moto.rmesos(&["ec2", "stop", "gamma"], ""));
    ok(&moto.rmesos(&["ec2", "start", "gamma"], ""));
    assert_eq!(read("host1"), "aws_ec2,mesos-master,zookeeper first");
    ok(&moto.rmesos(&["ec2", "deploy", "gamma", "-e", "marker=second"], ""));
    assert_eq!(read("host1"), "aws_ec2,mesos-master,zookeeper second");

    let out = ok(&moto.rmesos(&["ec2", "run", "gamma", "echo ran > /tmp/rmesos-run"], ""));
    assert!(out.contains("changed=1"), "{out}");
    for h in ["host1", "host2"] {
        assert_eq!(
            hosts.exec(h, "cat /tmp/rmesos-run").unwrap().stdout_str(),
            "ran\n"
        );
    }

    // copy-dir: a tree to the same path on every node.
    let tree = dir.path().join("conf");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(tree.join("sub/b.txt"), "beta\n").unwrap();
    ok(&moto.rmesos(&["ec2", "copy-dir", "gamma", tree.to_str().unwrap()], ""));
    for h in ["host1", "host2"] {
        let got = hosts
            .exec(
                h,
                &format!("cat {0}/a.txt {0}/sub/b.txt", tree.to_str().unwrap()),
            )
            .unwrap()
            .stdout_str();
        assert_eq!(got, "alpha\nbeta\n", "{h}");
    }

    // status: a service listening is up, the others down (exit 1), UI URLs shown.
    hosts
        .exec(
            "host1",
            "setsid nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 5050, Listen => 5, ReuseAddr => 1) or die; while ($c = $s->accept) { close $c }' >/dev/null 2>&1 </dev/null & sleep 1",
        )
        .unwrap();
    let out = moto.rmesos(&["ec2", "status", "gamma"], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    assert!(line("Mesos master ").contains(" up "), "{text}");
    assert!(line("Mesos master ").contains(":5050/"), "{text}");
    assert!(line("Marathon").contains("DOWN"), "{text}");
    assert!(line("Mesos agent").contains("DOWN"), "{text}");
}

/// Every check that can fail runs before anything is paid for: a deploy playbook that does not
/// exist stops `launch` before a security group or an instance is made.
#[test]
fn launch_with_a_broken_deploy_creates_nothing() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = some_ami(&ec2).await;
        let mut args = launch_cmd("epsilon", &ami);
        args.extend(["--playbook", "no/such/playbook.yml"]);
        let out = moto.rmesos(&args, "");
        failed_with(&out, &["no/such/playbook.yml"]);
        assert!(cluster_states(&ec2, "epsilon").await.is_empty());
        assert!(group_names(&ec2, "epsilon").await.is_empty());
    });
}

/// The slaves' RunInstances is refused after the master started (moto validates instance
/// types when asked to): by default the launch removes what it started; with
/// --keep-on-failure the master stays, tagged, for --resume.
#[test]
fn a_launch_refused_half_way_leaves_no_running_instance_unless_kept() {
    let moto = Moto::start_with(&[("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")]);
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        let half = [
            "--instance-type",
            "bogus.huge",
            "--master-instance-type",
            "m5.large",
        ];
        let out = moto.rmesos(&launch_args("delta", &ami, &half), "");
        let err = failed_with(&out, &["1 instance(s) terminated"]);
        assert!(cluster_states(&ec2, "delta").await.is_empty(), "{err}");
        assert!(group_names(&ec2, "delta").await.is_empty(), "{err}");

        let mut kept = half.to_vec();
        kept.push("--keep-on-failure");
        let out = moto.rmesos(&launch_args("delta", &ami, &kept), "");
        failed_with(&out, &["--resume"]);
        assert_eq!(
            cluster_states(&ec2, "delta").await,
            vec![("master".to_string(), "running".to_string())]
        );
    });
}

/// The launch keeps its deploy settings in the master group's tags (paths made absolute), and
/// later commands use them without flags.
#[test]
fn launch_keeps_its_deploy_settings_for_later_commands() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let vars = dir.path().join("vars.yml");
    std::fs::write(&vars, "answer: 42\n").unwrap();
    let long = format!("note={}", "x".repeat(600));
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        let vars_arg = format!("@{}", vars.display());
        ok(&moto.rmesos(
            &launch_args(
                "kappa",
                &ami,
                &[
                    "--playbook",
                    "playbooks/site.yml",
                    "-u",
                    "root",
                    "-e",
                    "mesos_install_method=tarball",
                    "-e",
                    &vars_arg,
                    "-e",
                    &long,
                    "--compose",
                    "ansible_host=private_ip_address",
                ],
            ),
            "",
        ));
        let rec = rmesos::ec2::state::load(&ec2, "kappa")
            .await
            .unwrap()
            .expect("a deploy record");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            rec.playbook.as_deref(),
            Some(cwd.join("playbooks/site.yml").to_str().unwrap())
        );
        assert_eq!(rec.user.as_deref(), Some("root"));
        assert_eq!(
            rec.extra_vars,
            vec!["mesos_install_method=tarball".to_string(), vars_arg, long]
        );
        assert_eq!(rec.compose, vec!["ansible_host=private_ip_address"]);
        // Over 256 characters: cut into several tags.
        let groups = rmesos::ec2::cluster::security_groups(&ec2, "kappa")
            .await
            .unwrap();
        let sg = ec2
            .client
            .describe_security_groups()
            .group_ids(&groups["kappa-master"])
            .send()
            .await
            .unwrap();
        let tags = tags_of(sg.security_groups()[0].tags());
        let chunks: usize = tags
            .iter()
            .find(|(k, _)| k == "rmesos-deploy-chunks")
            .unwrap()
            .1
            .parse()
            .unwrap();
        assert!(chunks >= 3, "{tags:?}");
        assert!(tags.iter().all(|(_, v)| v.chars().count() <= 256));
    });
    // `inventory` (like deploy, start, status…) uses the kept compose; a flag replaces it.
    let inv = ok(&moto.rmesos(&["ec2", "inventory", "kappa"], ""));
    assert!(
        inv.contains("\"ansible_host\": \"private_ip_address\""),
        "{inv}"
    );
    let inv = ok(&moto.rmesos(
        &[
            "ec2",
            "inventory",
            "kappa",
            "--compose",
            "ansible_host=dns_name",
        ],
        "",
    ));
    assert!(inv.contains("\"ansible_host\": \"dns_name\""), "{inv}");

    // login: the kept user, any node by instance id, -A, and the L:R shorthand (a stand-in
    // ssh prints what it was given).
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("ssh");
    std::fs::write(&fake, "#!/bin/sh\necho \"ssh $*\"\n").unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let slave = rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        rmesos::ec2::cluster::nodes(&ec2, "kappa")
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.role == Some(rmesos::ec2::cluster::Role::Slave))
            .unwrap()
    });
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = ok(&moto.rmesos_env(
        &[
            "ec2",
            "login",
            "kappa",
            "--host",
            &slave.instance_id,
            "-A",
            "-L",
            "8080:8080",
        ],
        "",
        &[("PATH", &path)],
    ));
    assert!(out.contains(" -A "), "{out}");
    assert!(out.contains("-L localhost:8080:localhost:8080"), "{out}");
    assert!(
        out.trim_end()
            .ends_with(&format!("root@{}", slave.private_ip)),
        "{out}"
    );
    let out = moto.rmesos_env(
        &["ec2", "login", "kappa", "--host", "nosuch"],
        "",
        &[("PATH", &path)],
    );
    failed_with(&out, &["no running node \"nosuch\""]);
}

/// A deploy of the Mesos playbook with no Mesos source would fail after the instances are
/// paid for: the launch refuses before RunInstances (nothing exists afterwards).
#[test]
fn launch_without_a_mesos_source_fails_before_run_instances() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        let mut args = launch_cmd("zeta", &ami);
        args.extend([
            "-e",
            "mesos_install_method=package",
            "-e",
            "mesos_apt_repository=",
        ]);
        let out = moto.rmesos(&args, "");
        failed_with(&out, &["mesos_apt_repository", "installs Mesos"]);
        assert!(cluster_states(&ec2, "zeta").await.is_empty());
        assert!(group_names(&ec2, "zeta").await.is_empty());

        // A tarball method without a URL is refused the same way; with one it passes.
        let mut args = launch_cmd("zeta", &ami);
        args.extend([
            "-e",
            "mesos_install_method=tarball",
            "-e",
            "mesos_tarball_url=",
        ]);
        failed_with(&moto.rmesos(&args, ""), &["mesos_tarball_url"]);
        // A tarball to upload from this machine must be here.
        let mut args = launch_cmd("zeta", &ami);
        args.extend([
            "-e",
            "mesos_tarball_path=/nonexistent/mesos-1.12.0-debian12-amd64.tar.gz",
        ]);
        failed_with(&moto.rmesos(&args, ""), &["is not a file on this machine"]);
        assert!(group_names(&ec2, "zeta").await.is_empty());
        let mut args = launch_cmd("zeta", &ami);
        args.extend([
            "-e",
            "mesos_install_method=tarball",
            "-e",
            "mesos_tarball_url=https://mirror.example/mesos.tar.gz",
            "--stop-after",
            "groups",
        ]);
        ok(&moto.rmesos(&args, ""));
        assert_eq!(group_names(&ec2, "zeta").await.len(), 2);
    });
}

/// The key pair must exist and the identity file must hold its key: an imported RSA key
/// (EC2's MD5 of the public key), moto's own key, and a mismatch refused before anything.
#[test]
fn launch_checks_the_key_pair_and_the_identity_file() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
        .arg(&mine)
        .status()
        .unwrap();
    assert!(st.success());
    let public = std::fs::read_to_string(mine.with_extension("pub")).unwrap();
    let theirs = dir.path().join("ops.pem");
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let made = ec2
            .client
            .create_key_pair()
            .key_name("ops")
            .send()
            .await
            .unwrap();
        std::fs::write(&theirs, made.key_material().unwrap()).unwrap();
        ec2.client
            .import_key_pair()
            .key_name("mine")
            .public_key_material(aws_sdk_ec2::primitives::Blob::new(public.as_bytes()))
            .send()
            .await
            .unwrap();
        let ami = some_ami(&ec2).await;
        let base = |cluster: &'static str, key: &'static str| {
            vec![
                "ec2",
                "launch",
                cluster,
                "-a",
                ami.as_str(),
                "-k",
                key,
                "--ssh-from",
                "203.0.113.7/32",
                "--no-deploy",
                "--stop-after",
                "groups",
            ]
        };
        let mut a = base("k1", "mine");
        a.extend(["-i", mine.to_str().unwrap()]);
        ok(&moto.rmesos(&a, ""));
        let mut a = base("k2", "ops");
        a.extend(["-i", theirs.to_str().unwrap()]);
        ok(&moto.rmesos(&a, ""));

        let mut a = base("k3", "ops");
        a.extend(["-i", mine.to_str().unwrap()]);
        let out = moto.rmesos(&a, "");
        failed_with(&out, &["is not the key of key pair \"ops\""]);
        let out = moto.rmesos(&base("k4", "nosuch"), "");
        failed_with(&out, &["no key pair \"nosuch\""]);
        for c in ["k3", "k4"] {
            assert!(group_names(&ec2, c).await.is_empty(), "{c}");
        }
    });
}

/// SSH from the whole internet needs --yes-open-ssh; a --resume that would open the cluster
/// to new addresses asks (and without a terminal or -y, refuses).
#[test]
fn access_is_never_widened_silently() {
    let moto = Moto::start();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        let mut open = launch_args("eta", &ami, &["--stop-after", "rules"]);
        let i = open.iter().position(|a| *a == "203.0.113.7/32").unwrap();
        open[i] = "0.0.0.0/0";
        let out = moto.rmesos(&open, "");
        failed_with(&out, &["--yes-open-ssh"]);
        assert!(group_names(&ec2, "eta").await.is_empty());

        ok(&moto.rmesos(&launch_args("eta", &ami, &["--stop-after", "rules"]), ""));
        let wider = launch_args(
            "eta",
            &ami,
            &[
                "--resume",
                "--stop-after",
                "rules",
                "--open-ui",
                "198.51.100.0/24",
            ],
        );
        let out = moto.rmesos(&wider, "");
        failed_with(&out, &["198.51.100.0/24", "-y"]);
        let groups = rmesos::ec2::cluster::security_groups(&ec2, "eta")
            .await
            .unwrap();
        let rules = rmesos::ec2::cluster::current_rules(&ec2, &groups["eta-master"])
            .await
            .unwrap();
        assert!(!rules.iter().any(|r| r.source == "198.51.100.0/24"));
        let mut yes = wider.clone();
        yes.push("-y");
        ok(&moto.rmesos(&yes, ""));
        let rules = rmesos::ec2::cluster::current_rules(&ec2, &groups["eta-master"])
            .await
            .unwrap();
        assert!(rules.iter().any(|r| r.source == "198.51.100.0/24"));
    });
}

/// inventory/ec2/aws_ec2.yml as shipped (only pointed at moto): one host per instance, in the
/// playbooks' groups.
#[test]
fn the_example_inventory_gives_one_host_per_instance() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let ec2 = moto.ec2("us-east-1").await;
        let ami = key_pair_and_ami(&ec2).await;
        ok(&moto.rmesos(&launch_args("demo", &ami, &["-s", "3"]), ""));
    });
    let example = std::fs::read_to_string("inventory/ec2/aws_ec2.yml").unwrap();
    let body: String = example
        .lines()
        .filter(|l| !l.starts_with("plugin:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = source(&moto, dir.path(), &body);
    let inv = load_aws_ec2(&path, false).unwrap();
    assert_eq!(inv.hosts.len(), 4, "{:?}", inv.hosts.keys());
    let size = |g: &str| inv.groups.get(g).map(|g| g.hosts.len()).unwrap_or(0);
    assert_eq!(size("mesos-master"), 1);
    assert_eq!(size("mesos-slave"), 3);
    assert_eq!(size("zookeeper"), 1);
}

/// The disks role's finder on a real block device (a loop device standing for the EBS volume
/// at /dev/sdv): a filesystem is made the first time only, the same UUID comes back after.
/// Needs root and losetup.
#[test]
fn the_disk_finder_formats_a_new_volume_once_needs_root() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("vol.img");
    std::fs::write(&img, vec![0u8; 32 << 20]).unwrap();
    let out = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "losetup: {out:?}");
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let find = || {
        Command::new("sh")
            .args([
                "roles/disks/files/find-disks.sh",
                "ext4",
                "/dev/no-such",
                "--",
            ])
            .arg(&dev)
            .output()
            .unwrap()
    };
    let first = find();
    let second = find();
    let _ = Command::new("losetup").args(["-d", &dev]).status();
    let parse = |o: &Output| -> serde_json::Value {
        assert!(o.status.success(), "{o:?}");
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (a, b) = (parse(&first), parse(&second));
    assert_eq!(a["ephemeral"], serde_json::json!([]));
    assert_eq!(a["ebs"][0]["dev"], dev.as_str());
    assert!(String::from_utf8_lossy(&first.stderr).contains("formatted"));
    assert!(!String::from_utf8_lossy(&second.stderr).contains("formatted"));
    assert_eq!(
        a["ebs"][0]["uuid"], b["ebs"][0]["uuid"],
        "not formatted twice"
    );
}
