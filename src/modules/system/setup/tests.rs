use super::parse::{facts, parse_shell_vars};
use super::*;
use crate::modules::DynModule;
use crate::modules::testutil_misc::{CountingConn, args, context};
use minijinja::Value;
use std::collections::HashMap;

async fn gather(json: &str) -> (Outcome, usize) {
    let conn = CountingConn::default();
    let cx = context(&conn, &[]);
    let out = Setup.run_dyn(&args(json), &cx).await.expect("setup runs");
    (out, conn.count())
}

fn int(v: &Value) -> i64 {
    i64::try_from(v.clone()).unwrap_or_else(|_| panic!("not an int: {:?}", v))
}

fn sh(cmd: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn local_facts_match_the_machine_in_one_exec() {
    let (out, execs) = gather("{}").await;
    assert!(!out.failed, "{:?}", out.msg);
    assert_eq!(execs, 1, "facts must cost one round trip");
    let f = &out.facts;

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let short = hostname.trim().split('.').next().unwrap();
    assert_eq!(f["hostname"].as_str(), Some(short));
    assert_eq!(f["nodename"].as_str(), Some(hostname.trim()));
    assert_eq!(f["system"].as_str(), Some("Linux"));
    let osrelease = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(f["kernel"].as_str(), Some(osrelease.trim()));
    assert_eq!(f["architecture"].as_str(), Some(std::env::consts::ARCH));

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let memtotal_kb: i64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(int(&f["memtotal_mb"]), memtotal_kb / 1024);

    let cpus: i64 = sh("nproc --all").parse().unwrap();
    assert_eq!(int(&f["processor_vcpus"]), cpus);

    let os = parse_shell_vars(&std::fs::read_to_string("/etc/os-release").unwrap());
    let id = os["ID"].as_str();
    if id == "debian" {
        assert_eq!(f["distribution"].as_str(), Some("Debian"));
        assert_eq!(f["os_family"].as_str(), Some("Debian"));
        assert_eq!(f["pkg_mgr"].as_str(), Some("apt"));
    }
    if let Some(v) = os.get("VERSION_ID") {
        let major = v.split('.').next().unwrap();
        assert_eq!(f["distribution_major_version"].as_str(), Some(major));
    }
    if let Some(code) = os.get("VERSION_CODENAME") {
        assert_eq!(f["distribution_release"].as_str(), Some(code.as_str()));
    }

    // SAFETY: no preconditions.
    let uid = unsafe { libc::geteuid() } as i64;
    assert_eq!(int(&f["user_uid"]), uid);
    let home = std::env::var("HOME").unwrap();
    assert_eq!(
        f["env"].get_attr("HOME").unwrap().as_str(),
        Some(home.as_str())
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let epoch: i64 = f["date_time"]
        .get_attr("epoch")
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((now - epoch).abs() < 30, "epoch {} vs now {}", epoch, now);

    // Block devices: the same names as /sys/block.
    let mut sys_block: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    sys_block.sort();
    let mut devices: Vec<String> = f["devices"]
        .try_iter()
        .unwrap()
        .map(|k| k.to_string())
        .collect();
    devices.sort();
    assert_eq!(devices, sys_block);

    // The root mount, when it is a block device, with df's size.
    let root_dev = sh("awk '$2 == \"/\" {print $1}' /proc/mounts | tail -1");
    if root_dev.starts_with('/') {
        let root = f["mounts"]
            .try_iter()
            .unwrap()
            .find(|m| m.get_attr("mount").unwrap().as_str() == Some("/"))
            .expect("root mount listed");
        let df_kb: i64 = sh("df -P -k / | awk 'NR==2 {print $2}'").parse().unwrap();
        assert_eq!(int(&root.get_attr("size_total").unwrap()), df_kb * 1024);
    }

    // The default route's interface, read from /proc/net/route.
    let route_iface =
        sh("awk '$2 == \"00000000\" && $8 == \"00000000\" {print $1; exit}' /proc/net/route");
    let d = &f["default_ipv4"];
    if !route_iface.is_empty() {
        assert_eq!(
            d.get_attr("interface").unwrap().as_str(),
            Some(route_iface.as_str())
        );
        let addr = d.get_attr("address").unwrap();
        let all: Vec<Value> = f["all_ipv4_addresses"].try_iter().unwrap().collect();
        assert!(all.contains(&addr), "{:?} not in {:?}", addr, all);
        let iface_fact = &f[route_iface.replace('-', "_").as_str()];
        assert_eq!(
            iface_fact
                .get_attr("ipv4")
                .unwrap()
                .get_attr("address")
                .unwrap(),
            addr
        );
        let mac =
            std::fs::read_to_string(format!("/sys/class/net/{}/address", route_iface)).unwrap();
        assert_eq!(d.get_attr("macaddress").unwrap().as_str(), Some(mac.trim()));
    }
    let ifaces: Vec<String> = f["interfaces"]
        .try_iter()
        .unwrap()
        .map(|v| v.to_string())
        .collect();
    assert!(ifaces.contains(&"lo".to_string()));

    let svc = f["service_mgr"].as_str().unwrap();
    if std::path::Path::new("/run/systemd/system").is_dir() {
        assert_eq!(svc, "systemd");
    }
    if std::path::Path::new("/.dockerenv").exists() {
        assert_eq!(f["virtualization_type"].as_str(), Some("docker"));
    }
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        assert_eq!(
            f["selinux"].get_attr("status").unwrap().as_str(),
            Some("disabled")
        );
    }
    let fips = std::fs::read_to_string("/proc/sys/crypto/fips_enabled").unwrap_or_default();
    assert_eq!(f["fips"].is_true(), fips.trim() == "1");
    assert!(f.contains_key("fips"));
    assert!(!f.contains_key("python"), "no Python facts are faked");
}

#[tokio::test]
async fn min_subset_skips_hardware_and_network() {
    let (out, execs) = gather(r#"{"gather_subset": "!all"}"#).await;
    assert_eq!(execs, 1);
    assert!(out.facts.contains_key("distribution"));
    assert!(out.facts.contains_key("hostname"));
    assert!(!out.facts.contains_key("memtotal_mb"));
    assert!(!out.facts.contains_key("default_ipv4"));
    assert!(!out.facts.contains_key("mounts"));
}

#[tokio::test]
async fn network_subset_adds_to_min() {
    let (out, _) = gather(r#"{"gather_subset": ["network"]}"#).await;
    assert!(out.facts.contains_key("default_ipv4"));
    assert!(out.facts.contains_key("distribution"));
    assert!(!out.facts.contains_key("devices"));
}

#[test]
fn subset_selection_follows_ansible() {
    let sel = |s: &[&str]| select(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    assert_eq!(sel(&["all"]).unwrap(), ALL);
    assert_eq!(sel(&["min"]).unwrap(), MIN);
    assert_eq!(sel(&["!all"]).unwrap(), MIN);
    assert!(sel(&["!all", "!min"]).unwrap().is_empty());
    assert_eq!(
        sel(&["!all", "!min", "network"]).unwrap(),
        vec![Collector::Interfaces]
    );
    let no_hw = sel(&["!hardware"]).unwrap();
    assert!(no_hw.contains(&Collector::Interfaces));
    assert!(!no_hw.contains(&Collector::Memory));
    assert!(!no_hw.contains(&Collector::Devices));
    assert!(
        sel(&["all", "!min"])
            .unwrap()
            .iter()
            .all(|c| !MIN.contains(c))
    );
    let e = sel(&["facter"]).unwrap_err().to_string();
    assert!(e.contains("unsupported gather_subset \"facter\""), "{}", e);
}

#[tokio::test]
async fn nothing_but_the_subset_marker_with_not_all_not_min() {
    let (out, _) = gather(r#"{"gather_subset": "!all,!min"}"#).await;
    let keys: Vec<&str> = out.facts.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["gather_subset", "module_setup"]);
}

#[tokio::test]
async fn filter_keeps_matching_names_with_or_without_prefix() {
    let (out, _) =
        gather(r#"{"gather_subset": "!all", "filter": ["ansible_distribution*", "hostname"]}"#)
            .await;
    let mut keys: Vec<&str> = out
        .facts
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "gather_subset" && *k != "module_setup")
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "distribution",
            "distribution_major_version",
            "distribution_release",
            "distribution_version",
            "hostname"
        ]
    );
}

#[test]
fn unknown_argument_is_refused_at_load_time() {
    let e = Setup
        .check_args(&args(r#"{"gather_subsets": "all"}"#))
        .unwrap_err();
    assert!(
        e.msg.contains("unsupported argument `gather_subsets`"),
        "{}",
        e
    );
}

fn canned(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn distro_of(s: &HashMap<String, String>) -> Distro {
    distribution(|n| s.get(n).map(String::as_str).unwrap_or(""))
}

#[test]
fn centos7_from_os_release_and_redhat_release() {
    let s = canned(&[
        (
            "os_release",
            "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n",
        ),
        ("redhat_release", "CentOS Linux release 7.9.2009 (Core)\n"),
    ]);
    let d = distro_of(&s);
    assert_eq!(d.name, "CentOS");
    assert_eq!(d.family, "RedHat");
    assert_eq!(d.version, "7.9.2009");
    assert_eq!(d.major, "7");
    assert_eq!(d.release, "Core");
    assert_eq!(pkg_mgr(&d.family, "yum\n"), "yum");
}

#[test]
fn rocky9_prefers_dnf() {
    let s = canned(&[
        (
            "os_release",
            "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n",
        ),
        ("redhat_release", "Rocky Linux release 9.3 (Blue Onyx)\n"),
    ]);
    let d = distro_of(&s);
    assert_eq!((d.name.as_str(), d.family.as_str()), ("Rocky", "RedHat"));
    assert_eq!((d.version.as_str(), d.major.as_str()), ("9.3", "9"));
    assert_eq!(d.release, "Blue Onyx");
    assert_eq!(pkg_mgr(&d.family, "dnf\nyum\n"), "dnf");
}

#[test]
fn amazon_linux_2023_has_no_codename() {
    let s = canned(&[(
        "os_release",
        "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n",
    )]);
    let d = distro_of(&s);
    assert_eq!((d.name.as_str(), d.family.as_str()), ("Amazon", "RedHat"));
    assert_eq!((d.version.as_str(), d.release.as_str()), ("2023", "NA"));
}

#[test]
fn alpine_from_os_release() {
    let s = canned(&[
        (
            "os_release",
            "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n",
        ),
        ("alpine_release", "3.19.1\n"),
    ]);
    let d = distro_of(&s);
    assert_eq!((d.name.as_str(), d.family.as_str()), ("Alpine", "Alpine"));
    assert_eq!((d.version.as_str(), d.major.as_str()), ("3.19.1", "3"));
    assert_eq!(d.release, "NA");
    assert_eq!(pkg_mgr(&d.family, "apk\n"), "apk");
}

#[test]
fn debian_point_release_and_ubuntu_codename() {
    let deb = canned(&[
        (
            "os_release",
            "VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        ),
        ("debian_version", "12.5\n"),
    ]);
    let d = distro_of(&deb);
    assert_eq!((d.version.as_str(), d.major.as_str()), ("12.5", "12"));
    assert_eq!(d.release, "bookworm");
    let ubu = canned(&[
        (
            "os_release",
            "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n",
        ),
        ("debian_version", "bookworm/sid\n"),
    ]);
    let u = distro_of(&ubu);
    assert_eq!((u.name.as_str(), u.family.as_str()), ("Ubuntu", "Debian"));
    assert_eq!((u.version.as_str(), u.major.as_str()), ("22.04", "22"));
    assert_eq!(u.release, "jammy");
}

#[test]
fn unknown_distribution_takes_family_from_id_like() {
    let s = canned(&[(
        "os_release",
        "NAME=\"Funky Linux\"\nID=funky\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=1.2\n",
    )]);
    let d = distro_of(&s);
    assert_eq!(
        (d.name.as_str(), d.family.as_str()),
        ("Funky Linux", "Debian")
    );
}

#[test]
fn service_manager_decisions() {
    assert_eq!(service_mgr("systemd\nhas:systemd\nhas:initd"), "systemd");
    assert_eq!(service_mgr("init\nhas:systemd\nhas:initd"), "systemd");
    // A container whose PID 1 is sshd: its init scripts still work through `service`.
    assert_eq!(service_mgr("sshd\nhas:initd"), "sysvinit");
    assert_eq!(service_mgr("init\nhas:openrc\nhas:initd"), "openrc");
    assert_eq!(service_mgr("runit\n"), "runit");
    assert_eq!(service_mgr("tini\n"), "service");
    // systemd installed but not PID 1 (a container): it cannot manage services there.
    assert_eq!(
        service_mgr("sshd\nhas:systemd_offline\nhas:initd"),
        "sysvinit"
    );
    assert_eq!(service_mgr("\nhas:systemd_offline\nhas:initd"), "systemd");
}

#[test]
fn network_without_ip_uses_proc_route_and_hostname_i() {
    let s = canned(&[
        (
            "proc_route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
             eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n",
        ),
        ("hostname_i", "172.17.0.5 fd00::5\n"),
        (
            "net",
            "/sys/class/net/eth0/address:02:42:ac:11:00:05\n/sys/class/net/eth0/mtu:1500\n\
             /sys/class/net/eth0/operstate:up\n/sys/class/net/eth0/type:1\n\
             /sys/class/net/lo/address:00:00:00:00:00:00\n/sys/class/net/lo/type:772\n",
        ),
    ]);
    let f = facts(&s, &[Collector::Interfaces]);
    let d = &f["default_ipv4"];
    assert_eq!(d["interface"], "eth0");
    assert_eq!(d["gateway"], "172.17.0.1");
    assert_eq!(d["address"], "172.17.0.5");
    assert_eq!(d["netmask"], "255.255.0.0");
    assert_eq!(d["network"], "172.17.0.0");
    assert_eq!(d["macaddress"], "02:42:ac:11:00:05");
    assert_eq!(f["all_ipv4_addresses"], serde_json::json!(["172.17.0.5"]));
    assert_eq!(f["eth0"]["mtu"], 1500);
    assert_eq!(f["lo"]["type"], "loopback");
    assert_eq!(f["interfaces"], serde_json::json!(["eth0", "lo"]));
}

#[test]
fn network_from_ip_output() {
    let s = canned(&[
        (
            "ip4",
            "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
             4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n\
             4: eth0    inet 192.0.2.9/24 brd 192.0.2.255 scope global secondary eth0\\       valid_lft forever\n",
        ),
        (
            "route4",
            "default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.9 metric 100\n",
        ),
        (
            "net",
            "/sys/class/net/eth0/address:aa:bb:cc:dd:ee:ff\n/sys/class/net/eth0/operstate:down\n",
        ),
    ]);
    let f = facts(&s, &[Collector::Interfaces]);
    assert_eq!(
        f["default_ipv4"]["address"], "192.0.2.9",
        "the route's src wins"
    );
    assert_eq!(f["default_ipv4"]["gateway"], "192.0.2.1");
    assert_eq!(f["default_ipv4"]["prefix"], "24");
    assert_eq!(f["eth0"]["ipv4"]["address"], "192.0.2.2");
    assert_eq!(f["eth0"]["ipv4_secondaries"][0]["address"], "192.0.2.9");
    assert_eq!(f["eth0"]["active"], false);
    assert_eq!(
        f["all_ipv4_addresses"],
        serde_json::json!(["192.0.2.2", "192.0.2.9"])
    );
}

#[test]
fn cpu_topology_and_arm_without_sockets() {
    let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\nphysical id\t: 0\nsiblings\t: 4\ncpu cores\t: 2\n\n\
               processor\t: 1\nphysical id\t: 0\nsiblings\t: 4\ncpu cores\t: 2\n\n\
               processor\t: 2\nphysical id\t: 1\nsiblings\t: 4\ncpu cores\t: 2\n\n\
               processor\t: 3\nphysical id\t: 1\nsiblings\t: 4\ncpu cores\t: 2\n";
    let f = facts(
        &canned(&[("cpuinfo", x86), ("nproc", "4")]),
        &[Collector::Cpu],
    );
    assert_eq!(f["processor_count"], 2);
    assert_eq!(f["processor_cores"], 2);
    assert_eq!(f["processor_threads_per_core"], 2);
    assert_eq!(f["processor_vcpus"], 8);
    let arm = "processor\t: 0\nBogoMIPS\t: 48\n\nprocessor\t: 1\nBogoMIPS\t: 48\n";
    let f = facts(&canned(&[("cpuinfo", arm)]), &[Collector::Cpu]);
    assert_eq!(f["processor_count"], 2);
    assert_eq!(f["processor_vcpus"], 2);
}

#[test]
fn mounts_skip_pseudo_filesystems_and_unescape() {
    let s = canned(&[
        (
            "mounts",
            "proc /proc proc rw 0 0\n/dev/sda1 / ext4 rw,relatime 0 1\n/dev/sdb1 /mnt/my\\040disk xfs ro 0 2\nserver:/export /nfs nfs4 rw 0 0\n",
        ),
        (
            "df",
            "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 1000 400 600 40% /\n/dev/sdb1 50 0 50 0% /mnt/my disk\n",
        ),
    ]);
    let f = facts(&s, &[Collector::Mounts]);
    let m = f["mounts"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0]["mount"], "/");
    assert_eq!(m[0]["size_total"], 1024000);
    assert_eq!(m[0]["size_available"], 614400);
    assert_eq!(m[0]["passno"], 1);
    assert_eq!(m[1]["mount"], "/mnt/my disk");
    assert_eq!(m[1]["size_total"], 51200);
    assert_eq!(m[2]["device"], "server:/export");
}

#[test]
fn devices_with_partitions() {
    let s = canned(&[(
        "block",
        "/sys/block/sda/size:41943040\n/sys/block/sda/removable:0\n/sys/block/sda/queue/rotational:1\n\
         /sys/block/sda/queue/logical_block_size:512\n/sys/block/sda/queue/scheduler:[mq-deadline] none\n\
         /sys/block/sda/device/model:QEMU HARDDISK\n/sys/block/sda/sda1/partition:1\n\
         /sys/block/sda/sda1/start:2048\n/sys/block/sda/sda1/size:41940992\n",
    )]);
    let f = facts(&s, &[Collector::Devices]);
    let sda = &f["devices"]["sda"];
    assert_eq!(sda["size"], "20.00 GB");
    assert_eq!(sda["sectors"], "41943040");
    assert_eq!(sda["model"], "QEMU HARDDISK");
    assert_eq!(sda["vendor"], serde_json::Value::Null);
    assert_eq!(sda["scheduler_mode"], "mq-deadline");
    assert_eq!(sda["partitions"]["sda1"]["start"], "2048");
    assert_eq!(sda["partitions"]["sda1"]["size"], "20.00 GB");
}

#[test]
fn sections_split_cleanly() {
    let s = split_sections("\n\x1ea\nline1\nline2\n\n\x1eb\n\n\x1ec\nx");
    assert_eq!(s["a"], "line1\nline2\n");
    assert_eq!(s["b"], "");
    assert_eq!(s["c"], "x");
}
