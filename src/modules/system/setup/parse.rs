//! Turns the script's raw sections into facts, named as Ansible names them without the
//! `ansible_` prefix. Numbers that Ansible reports as numbers are integers here; values Ansible
//! reports as strings (date_time, device sectors) stay strings.

use super::Collector;
use super::script::SECTION_MARK;
use indexmap::IndexMap;
use serde_json::{Map, Value as J, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

pub type Facts = IndexMap<String, J>;

/// Splits the script's output into `name -> content`.
pub fn split_sections(out: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for chunk in out.split(SECTION_MARK).skip(1) {
        let (name, content) = chunk.split_once('\n').unwrap_or((chunk, ""));
        // Each header is preceded by a newline of its own; it is not part of the content.
        let content = content.strip_suffix('\n').unwrap_or(content);
        m.insert(name.to_string(), content.to_string());
    }
    m
}

/// Builds the facts of the selected collectors from the sections.
pub fn facts(sections: &HashMap<String, String>, selected: &[Collector]) -> Facts {
    let sec = |name: &str| sections.get(name).map(String::as_str).unwrap_or("");
    let mut f = Facts::new();
    for c in selected {
        match c {
            Collector::Platform => platform(&mut f, sec),
            Collector::Distribution => {
                let d = distribution(sec);
                f.insert("distribution".into(), json!(d.name));
                f.insert("distribution_version".into(), json!(d.version));
                f.insert("distribution_major_version".into(), json!(d.major));
                f.insert("distribution_release".into(), json!(d.release));
                f.insert("os_family".into(), json!(d.family));
            }
            Collector::Lsb => {
                if let Some(l) = lsb(sec("lsb_release")) {
                    f.insert("lsb".into(), l);
                }
            }
            Collector::PkgMgr => {
                let d = distribution(sec);
                f.insert("pkg_mgr".into(), json!(pkg_mgr(&d.family, sec("pkg_bins"))));
            }
            Collector::ServiceMgr => {
                f.insert("service_mgr".into(), json!(service_mgr(sec("service_mgr"))));
            }
            Collector::Env => {
                f.insert("env".into(), env(sec("env")));
            }
            Collector::User => user(&mut f, sec("user")),
            Collector::DateTime => {
                if let Some(d) = date_time(sec("date_time")) {
                    f.insert("date_time".into(), d);
                }
            }
            Collector::Selinux => {
                f.insert("selinux".into(), selinux(sec("selinux")));
            }
            // Ansible's `fips`: the kernel runs in FIPS mode (roles pick hash methods by it).
            Collector::Fips => {
                f.insert("fips".into(), json!(sec("fips").trim() == "1"));
            }
            Collector::Cpu => cpu(&mut f, sec("cpuinfo"), sec("nproc")),
            Collector::Memory => memory(&mut f, sec("meminfo")),
            Collector::Uptime => {
                if let Some(up) = sec("uptime")
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                {
                    f.insert("uptime_seconds".into(), json!(up as i64));
                }
            }
            Collector::Devices => {
                f.insert("devices".into(), devices(sec("block")));
            }
            Collector::Mounts => {
                f.insert("mounts".into(), mounts(sec("mounts"), sec("df")));
            }
            Collector::Interfaces => network(&mut f, sec),
            Collector::Virtual => virtual_(&mut f, sec("virtual")),
        }
    }
    f
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn platform<'a>(f: &mut Facts, sec: impl Fn(&str) -> &'a str) {
    let u = lines(sec("uname"));
    let get = |i: usize| u.get(i).map(|s| s.trim()).unwrap_or("");
    let machine = get(2);
    let nodename = get(3);
    f.insert("system".into(), json!(get(0)));
    f.insert("kernel".into(), json!(get(1)));
    f.insert("kernel_version".into(), json!(get(4)));
    f.insert("machine".into(), json!(machine));
    // Ansible reports 32-bit x86 as i386 whatever the exact model.
    let arch = match machine {
        "i386" | "i486" | "i586" | "i686" => "i386",
        m => m,
    };
    f.insert("architecture".into(), json!(arch));
    f.insert("nodename".into(), json!(nodename));
    let host = sec("hostname").trim();
    let host = if host.is_empty() { nodename } else { host };
    let short = host.split('.').next().unwrap_or(host);
    f.insert("hostname".into(), json!(short));
    let fqdn = sec("fqdn").trim();
    let fqdn = if fqdn.is_empty() || fqdn.contains(char::is_whitespace) {
        host
    } else {
        fqdn
    };
    f.insert("fqdn".into(), json!(fqdn));
    let domain = fqdn.split_once('.').map(|(_, d)| d).unwrap_or("");
    f.insert("domain".into(), json!(domain));
    let mid = sec("machine_id").trim();
    if !mid.is_empty() {
        f.insert("machine_id".into(), json!(mid));
    }
}

/// `KEY=value` files (os-release, lsb-release) with shell quoting removed.
pub fn parse_shell_vars(text: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            let inner = &v[1..v.len() - 1];
            if v.starts_with('"') {
                unescape_double(inner)
            } else {
                inner.to_string()
            }
        } else {
            v.to_string()
        };
        m.insert(k.trim().to_string(), v);
    }
    m
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct Distro {
    pub name: String,
    pub family: String,
    pub version: String,
    pub major: String,
    pub release: String,
}

/// os-release `ID` -> Ansible's distribution name.
const DISTRO_NAMES: &[(&str, &str)] = &[
    ("debian", "Debian"),
    ("ubuntu", "Ubuntu"),
    ("raspbian", "Debian"),
    ("linuxmint", "Linux Mint"),
    ("kali", "Kali"),
    ("devuan", "Devuan"),
    ("pop", "Pop!_OS"),
    ("rhel", "RedHat"),
    ("centos", "CentOS"),
    ("fedora", "Fedora"),
    ("rocky", "Rocky"),
    ("almalinux", "AlmaLinux"),
    ("ol", "OracleLinux"),
    ("amzn", "Amazon"),
    ("scientific", "Scientific"),
    ("sles", "SLES"),
    ("sles_sap", "SLES_SAP"),
    ("opensuse-leap", "openSUSE Leap"),
    ("opensuse-tumbleweed", "openSUSE Tumbleweed"),
    ("opensuse", "openSUSE"),
    ("arch", "Archlinux"),
    ("manjaro", "Manjaro"),
    ("endeavouros", "EndeavourOS"),
    ("alpine", "Alpine"),
    ("gentoo", "Gentoo"),
    ("void", "Void"),
    ("nixos", "NixOS"),
    ("clear-linux-os", "ClearLinux"),
    ("flatcar", "Flatcar"),
];

/// Distribution name -> Ansible's `os_family` (Ansible's OS_FAMILY_MAP, the part that matters).
const FAMILIES: &[(&str, &[&str])] = &[
    (
        "RedHat",
        &[
            "RedHat",
            "CentOS",
            "Fedora",
            "Rocky",
            "AlmaLinux",
            "OracleLinux",
            "Amazon",
            "Scientific",
        ],
    ),
    (
        "Debian",
        &[
            "Debian",
            "Ubuntu",
            "Linux Mint",
            "Kali",
            "Devuan",
            "Pop!_OS",
        ],
    ),
    (
        "Suse",
        &[
            "SLES",
            "SLES_SAP",
            "openSUSE Leap",
            "openSUSE Tumbleweed",
            "openSUSE",
        ],
    ),
    ("Archlinux", &["Archlinux", "Manjaro", "EndeavourOS"]),
    ("Alpine", &["Alpine"]),
    ("Gentoo", &["Gentoo"]),
];

/// `ID_LIKE` word -> family, for distributions the tables above do not name.
const LIKE_FAMILIES: &[(&str, &str)] = &[
    ("debian", "Debian"),
    ("ubuntu", "Debian"),
    ("rhel", "RedHat"),
    ("fedora", "RedHat"),
    ("centos", "RedHat"),
    ("suse", "Suse"),
    ("opensuse", "Suse"),
    ("arch", "Archlinux"),
    ("alpine", "Alpine"),
    ("gentoo", "Gentoo"),
];

pub fn distribution<'a>(sec: impl Fn(&str) -> &'a str) -> Distro {
    let os = parse_shell_vars(sec("os_release"));
    let id = os
        .get("ID")
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let name = DISTRO_NAMES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.to_string())
        .or_else(|| os.get("NAME").cloned())
        .unwrap_or_else(|| {
            if sec("redhat_release").contains("CentOS") {
                "CentOS".into()
            } else if !sec("redhat_release").trim().is_empty() {
                "RedHat".into()
            } else if !sec("debian_version").trim().is_empty() {
                "Debian".into()
            } else {
                "NA".into()
            }
        });
    let family = FAMILIES
        .iter()
        .find(|(_, members)| members.contains(&name.as_str()))
        .map(|(fam, _)| fam.to_string())
        .or_else(|| {
            os.get("ID_LIKE").and_then(|like| {
                like.split_whitespace().find_map(|w| {
                    LIKE_FAMILIES
                        .iter()
                        .find(|(l, _)| *l == w)
                        .map(|(_, f)| f.to_string())
                })
            })
        })
        .unwrap_or_else(|| name.clone());

    let version_id = os.get("VERSION_ID").cloned().unwrap_or_default();
    let first_line = |s: &str| s.lines().next().unwrap_or("").trim().to_string();
    let version = match (name.as_str(), family.as_str()) {
        // Debian's own file has the point release (12.5); testing says "trixie/sid".
        ("Debian", _) => {
            let dv = first_line(sec("debian_version"));
            if dv.starts_with(|c: char| c.is_ascii_digit()) {
                dv
            } else {
                version_id
            }
        }
        ("Alpine", _) => {
            let ar = first_line(sec("alpine_release"));
            if ar.is_empty() { version_id } else { ar }
        }
        (_, "RedHat") => {
            // "CentOS Linux release 7.9.2009 (Core)": more precise than VERSION_ID="7".
            let rr = sec("redhat_release");
            rr.split_whitespace()
                .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
                .filter(|v| version_id.is_empty() || v.starts_with(version_id.as_str()))
                .map(str::to_string)
                .unwrap_or(version_id)
        }
        _ => version_id,
    };
    let version = if version.is_empty() {
        "NA".to_string()
    } else {
        version
    };
    let major = version.split('.').next().unwrap_or("").to_string();
    let paren = |s: &str| {
        let start = s.find('(')?;
        let end = s[start..].find(')')?;
        Some(s[start + 1..start + end].trim().to_string()).filter(|x| !x.is_empty())
    };
    let release = os
        .get("VERSION_CODENAME")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| os.get("UBUNTU_CODENAME").filter(|s| !s.is_empty()).cloned())
        .or_else(|| os.get("VERSION").and_then(|v| paren(v)))
        .or_else(|| paren(sec("redhat_release")))
        .unwrap_or_else(|| "NA".to_string());
    Distro {
        name,
        family,
        version,
        major,
        release,
    }
}

fn lsb(text: &str) -> Option<J> {
    let m = parse_shell_vars(text);
    if m.is_empty() {
        return None;
    }
    let mut o = Map::new();
    let mut put = |k: &str, src: &str| {
        if let Some(v) = m.get(src) {
            o.insert(k.into(), json!(v));
        }
    };
    put("id", "DISTRIB_ID");
    put("release", "DISTRIB_RELEASE");
    put("codename", "DISTRIB_CODENAME");
    put("description", "DISTRIB_DESCRIPTION");
    if let Some(r) = m.get("DISTRIB_RELEASE") {
        o.insert(
            "major_release".into(),
            json!(r.split('.').next().unwrap_or("")),
        );
    }
    Some(J::Object(o))
}

/// As Ansible: the family's own manager when its binary exists, else the first one found.
pub fn pkg_mgr(family: &str, bins: &str) -> &'static str {
    let have = |b: &str| bins.lines().any(|l| l.trim() == b);
    let preferred: &[(&str, &'static str)] = match family {
        "RedHat" => &[
            ("rpm-ostree", "atomic_container"),
            ("dnf5", "dnf5"),
            ("dnf", "dnf"),
            ("yum", "yum"),
        ],
        "Debian" => &[("apt-get", "apt")],
        "Suse" => &[("zypper", "zypper")],
        "Alpine" => &[("apk", "apk")],
        "Archlinux" => &[("pacman", "pacman")],
        "Gentoo" => &[("emerge", "portage")],
        _ => &[],
    };
    const ANY: &[(&str, &str)] = &[
        ("apt-get", "apt"),
        ("dnf5", "dnf5"),
        ("dnf", "dnf"),
        ("yum", "yum"),
        ("zypper", "zypper"),
        ("apk", "apk"),
        ("pacman", "pacman"),
        ("emerge", "portage"),
        ("xbps-install", "xbps"),
        ("opkg", "opkg"),
    ];
    preferred
        .iter()
        .chain(ANY)
        .find(|(bin, _)| have(bin))
        .map(|(_, name)| *name)
        .unwrap_or("unknown")
}

/// Ansible reads /proc/1/comm and takes a known service manager's name from it; otherwise it
/// looks for systemd, upstart, openrc and init.d in that order. We differ on one point: when
/// PID 1 is an unrelated program (sshd or tini in a container), Ansible reports that program's
/// name, which no role tests for; we fall through to the file checks, so such a container with
/// /etc/init.d reports `sysvinit` (even when /sbin/init links to systemd, which is not running).
pub fn service_mgr(text: &str) -> &'static str {
    let mut it = text.lines();
    let comm = it.next().unwrap_or("").trim();
    let comm = comm.rsplit('/').next().unwrap_or(comm);
    let flags: Vec<&str> = it.filter_map(|l| l.trim().strip_prefix("has:")).collect();
    let has = |f: &str| flags.contains(&f);
    match comm {
        "systemd" => return "systemd",
        "openrc-init" => return "openrc",
        "upstart" => return "upstart",
        "s6-svscan" => return "s6",
        c if c.starts_with("runit") => return "runit",
        _ => {}
    }
    if has("systemd") {
        "systemd"
    } else if has("upstart") {
        "upstart"
    } else if has("openrc") {
        "openrc"
    } else if has("systemd_offline") && (comm.is_empty() || comm == "init" || comm.ends_with("sh"))
    {
        // /sbin/init -> systemd only says what would boot; with another program as PID 1
        // (a container's sshd) systemd is not running and cannot start anything.
        "systemd"
    } else if has("initd") {
        "sysvinit"
    } else {
        "service"
    }
}

fn env(text: &str) -> J {
    let mut o = Map::new();
    // /proc/self/environ is NUL-separated; the `env` fallback is one per line.
    let sep = if text.contains('\0') { '\0' } else { '\n' };
    for item in text.split(sep) {
        if let Some((k, v)) = item.split_once('=')
            && !k.is_empty()
            && !k.contains('\n')
        {
            o.insert(k.to_string(), json!(v));
        }
    }
    J::Object(o)
}

fn user(f: &mut Facts, text: &str) {
    let l = lines(text);
    let int = |i: usize| l.get(i).and_then(|s| s.trim().parse::<i64>().ok());
    if let Some(uid) = int(0) {
        f.insert("user_uid".into(), json!(uid));
    }
    if let Some(gid) = int(1) {
        f.insert("user_gid".into(), json!(gid));
    }
    if let Some(name) = l.get(2) {
        f.insert("user_id".into(), json!(name.trim()));
    }
    if let Some(pw) = l.get(3) {
        let p: Vec<&str> = pw.split(':').collect();
        if p.len() >= 7 {
            f.insert("user_gecos".into(), json!(p[4]));
            f.insert("user_dir".into(), json!(p[5]));
            f.insert("user_shell".into(), json!(p[6]));
        }
    }
}

fn date_time(text: &str) -> Option<J> {
    let l = lines(text);
    let p: Vec<&str> = l.first()?.split('|').collect();
    let u: Vec<&str> = l.get(1).map(|s| s.split('|').collect()).unwrap_or_default();
    if p.len() < 18 || u.len() < 2 {
        return None;
    }
    // busybox date has no %N.
    let micro = if p[17].len() >= 6 && p[17].bytes().all(|c| c.is_ascii_digit()) {
        &p[17][..6]
    } else {
        "000000"
    };
    let iso = u[0];
    let iso_micro = format!("{}.{}Z", iso.trim_end_matches('Z'), micro);
    Some(json!({
        "year": p[0], "month": p[1], "day": p[2], "hour": p[3], "minute": p[4], "second": p[5],
        "epoch": p[6], "epoch_int": p[6], "tz": p[7], "tz_offset": p[8], "weekday": p[9],
        "weekday_number": p[10], "weeknumber": p[11], "monthname": p[13], "monthname_short": p[14],
        "weekday_short": p[15], "dayofyear": p[16],
        "date": format!("{}-{}-{}", p[0], p[1], p[2]),
        "time": format!("{}:{}:{}", p[3], p[4], p[5]),
        "iso8601": iso,
        "iso8601_micro": iso_micro,
        "iso8601_basic": format!("{}{}{}T{}{}{}{}", p[0], p[1], p[2], p[3], p[4], p[5], micro),
        "iso8601_basic_short": format!("{}{}{}T{}{}{}", p[0], p[1], p[2], p[3], p[4], p[5]),
    }))
}

fn selinux(text: &str) -> J {
    let mut enforce = None;
    let mut policyvers = None;
    let mut config = HashMap::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("/sys/fs/selinux/enforce:") {
            enforce = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("/sys/fs/selinux/policyvers:") {
            policyvers = v.trim().parse::<i64>().ok();
        } else if let Some(v) = line.strip_prefix("/etc/selinux/config:") {
            config.extend(parse_shell_vars(v));
        }
    }
    let Some(enforce) = enforce else {
        return json!({"status": "disabled"});
    };
    let mut o = Map::new();
    o.insert("status".into(), json!("enabled"));
    o.insert(
        "mode".into(),
        json!(if enforce == "1" {
            "enforcing"
        } else {
            "permissive"
        }),
    );
    if let Some(m) = config.get("SELINUX") {
        o.insert("config_mode".into(), json!(m));
    }
    if let Some(t) = config.get("SELINUXTYPE") {
        o.insert("type".into(), json!(t));
    }
    if let Some(p) = policyvers {
        o.insert("policyvers".into(), json!(p));
    }
    J::Object(o)
}

fn cpu(f: &mut Facts, cpuinfo: &str, nproc: &str) {
    let mut processor = Vec::new();
    let mut count = 0i64;
    let mut sockets = BTreeSet::new();
    let mut cores_per_socket = None;
    let mut siblings = None;
    for line in cpuinfo.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => {
                processor.push(json!(v));
                count += 1;
            }
            "vendor_id" | "model name" | "Processor" | "cpu model" => processor.push(json!(v)),
            "physical id" => {
                sockets.insert(v.to_string());
            }
            "cpu cores" => cores_per_socket = v.parse::<i64>().ok(),
            "siblings" => siblings = v.parse::<i64>().ok(),
            _ => {}
        }
    }
    f.insert("processor".into(), J::Array(processor));
    if sockets.is_empty() {
        // No topology (ARM, some hypervisors): every processor is its own socket, as Ansible says.
        f.insert("processor_count".into(), json!(count));
        f.insert("processor_cores".into(), json!(1));
        f.insert("processor_threads_per_core".into(), json!(1));
        f.insert("processor_vcpus".into(), json!(count));
    } else {
        let sockets = sockets.len() as i64;
        let cores = cores_per_socket.unwrap_or(1).max(1);
        let threads = siblings.map(|s| (s / cores).max(1)).unwrap_or(1);
        f.insert("processor_count".into(), json!(sockets));
        f.insert("processor_cores".into(), json!(cores));
        f.insert("processor_threads_per_core".into(), json!(threads));
        f.insert("processor_vcpus".into(), json!(threads * cores * sockets));
    }
    if let Ok(n) = nproc.trim().parse::<i64>() {
        f.insert("processor_nproc".into(), json!(n));
    }
}

fn memory(f: &mut Facts, meminfo: &str) {
    let mut kb = HashMap::new();
    for line in meminfo.lines() {
        if let Some((k, v)) = line.split_once(':')
            && let Some(n) = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<i64>().ok())
        {
            kb.insert(k.trim().to_string(), n);
        }
    }
    let mb = |k: &str| kb.get(k).copied().unwrap_or(0) / 1024;
    let (total, free) = (mb("MemTotal"), mb("MemFree"));
    let (swap_total, swap_free) = (mb("SwapTotal"), mb("SwapFree"));
    let nocache_free = free + mb("Buffers") + mb("Cached");
    f.insert("memtotal_mb".into(), json!(total));
    f.insert("memfree_mb".into(), json!(free));
    f.insert("swaptotal_mb".into(), json!(swap_total));
    f.insert("swapfree_mb".into(), json!(swap_free));
    f.insert(
        "memory_mb".into(),
        json!({
            "real": {"total": total, "free": free, "used": total - free},
            "nocache": {"free": nocache_free, "used": total - nocache_free},
            "swap": {"total": swap_total, "free": swap_free, "used": swap_total - swap_free,
                     "cached": mb("SwapCached")},
        }),
    );
}

/// Ansible's bytes_to_human: 1024-based, two decimals.
pub fn human_size(bytes: u64) -> String {
    const UNITS: &[(&str, u64)] = &[
        ("PB", 1 << 50),
        ("TB", 1 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
    ];
    for (name, limit) in UNITS {
        if bytes >= *limit {
            return format!("{:.2} {}", bytes as f64 / *limit as f64, name);
        }
    }
    format!("{}.00 Bytes", bytes)
}

fn devices(block: &str) -> J {
    // path -> content, keyed by the parts below /sys/block/.
    let mut disks: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut parts: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> = BTreeMap::new();
    for line in block.lines() {
        let Some(rest) = line.strip_prefix("/sys/block/") else {
            continue;
        };
        let Some((path, value)) = rest.split_once(':') else {
            continue;
        };
        let comps: Vec<&str> = path.split('/').collect();
        let value = value.trim().to_string();
        match comps.as_slice() {
            [disk, file] => {
                disks
                    .entry(disk.to_string())
                    .or_default()
                    .insert(file.to_string(), value);
            }
            [disk, dir @ ("queue" | "device"), file] => {
                disks
                    .entry(disk.to_string())
                    .or_default()
                    .insert(format!("{}/{}", dir, file), value);
            }
            [disk, part, file] => {
                parts
                    .entry(disk.to_string())
                    .or_default()
                    .entry(part.to_string())
                    .or_default()
                    .insert(file.to_string(), value);
            }
            _ => {}
        }
    }
    let mut out = Map::new();
    for (name, d) in disks {
        let get = |k: &str| d.get(k).cloned();
        let sectorsize: u64 = get("queue/logical_block_size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(512);
        let sectors: u64 = get("size").and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut partitions = Map::new();
        for (pname, p) in parts.remove(&name).unwrap_or_default() {
            if !p.contains_key("partition") {
                continue;
            }
            let psectors: u64 = p.get("size").and_then(|s| s.parse().ok()).unwrap_or(0);
            partitions.insert(
                pname,
                json!({
                    "sectors": psectors.to_string(),
                    "sectorsize": sectorsize,
                    "size": human_size(psectors * 512),
                    "start": p.get("start").cloned().unwrap_or_default(),
                }),
            );
        }
        // "[mq-deadline] none": the bracketed one is in use.
        let scheduler = get("queue/scheduler").and_then(|s| {
            let start = s.find('[')?;
            let end = s.find(']')?;
            (end > start).then(|| s[start + 1..end].to_string())
        });
        out.insert(
            name,
            json!({
                "model": get("device/model"),
                "vendor": get("device/vendor"),
                "removable": get("removable").unwrap_or_else(|| "0".into()),
                "rotational": get("queue/rotational").unwrap_or_else(|| "0".into()),
                "read_only": get("ro").unwrap_or_else(|| "0".into()),
                "scheduler_mode": scheduler.unwrap_or_default(),
                "sectors": sectors.to_string(),
                "sectorsize": sectorsize.to_string(),
                // /sys/block/*/size counts 512-byte units whatever the logical block size.
                "size": human_size(sectors * 512),
                "partitions": partitions,
            }),
        );
    }
    J::Object(out)
}

/// /proc/mounts escapes space, tab, newline and backslash as octal.
fn unescape_mount(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn mounts(proc_mounts: &str, df: &str) -> J {
    // mount point -> (1K blocks, available 1K blocks)
    let mut sizes = HashMap::new();
    for line in df.lines().skip(1) {
        let mut rest = line.trim_start();
        let mut fields = Vec::new();
        for _ in 0..5 {
            let Some((field, tail)) = rest.split_once(char::is_whitespace) else {
                break;
            };
            fields.push(field);
            rest = tail.trim_start();
        }
        if fields.len() == 5
            && let (Ok(total), Ok(avail)) = (fields[1].parse::<u64>(), fields[3].parse::<u64>())
        {
            sizes.insert(rest.to_string(), (total, avail));
        }
    }
    let mut out = Vec::new();
    for line in proc_mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let (device, mount, fstype) = (unescape_mount(f[0]), unescape_mount(f[1]), f[2]);
        // As Ansible: only block devices and network filesystems, not proc, tmpfs, overlay...
        if !(device.starts_with('/') || device.contains(":/")) || fstype == "none" {
            continue;
        }
        let mut m = json!({
            "mount": mount,
            "device": device,
            "fstype": fstype,
            "options": f[3],
            "dump": f.get(4).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0),
            "passno": f.get(5).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0),
        });
        if let (Some((total, avail)), J::Object(o)) = (sizes.get(&mount), &mut m) {
            o.insert("size_total".into(), json!(total * 1024));
            o.insert("size_available".into(), json!(avail * 1024));
        }
        out.push(m);
    }
    J::Array(out)
}

fn mask(prefix: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix.min(32)).unwrap_or(0))
}

fn network_of(addr: Ipv4Addr, prefix: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) & u32::from(mask(prefix)))
}

struct V4 {
    iface: String,
    addr: Ipv4Addr,
    prefix: u32,
    broadcast: Option<String>,
}

fn ipv4_json(a: &V4) -> J {
    let mut o = json!({
        "address": a.addr.to_string(),
        "netmask": mask(a.prefix).to_string(),
        "network": network_of(a.addr, a.prefix).to_string(),
        "prefix": a.prefix.to_string(),
    });
    if let (Some(b), J::Object(m)) = (&a.broadcast, &mut o) {
        m.insert("broadcast".into(), json!(b));
    }
    o
}

/// `ip -o -4 addr show` lines: `2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\ ...`
fn parse_ip4(text: &str) -> Vec<V4> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let Some(pos) = t.iter().position(|w| *w == "inet") else {
            continue;
        };
        let Some((addr, prefix)) = t.get(pos + 1).and_then(|s| s.split_once('/')) else {
            continue;
        };
        let (Ok(addr), Ok(prefix)) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u32>()) else {
            continue;
        };
        let iface = t
            .get(1)
            .map(|s| s.split('@').next().unwrap_or(s))
            .unwrap_or("");
        let broadcast = t
            .iter()
            .position(|w| *w == "brd")
            .and_then(|i| t.get(i + 1))
            .map(|s| s.to_string());
        out.push(V4 {
            iface: iface.to_string(),
            addr,
            prefix,
            broadcast,
        });
    }
    out
}

/// /proc/net/route: hex, host byte order (little-endian on the machines we target).
fn proc_route_addr(hex: &str) -> Option<Ipv4Addr> {
    let n = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(n.to_le_bytes()))
}

fn network<'a>(f: &mut Facts, sec: impl Fn(&str) -> &'a str) {
    // Interfaces from /sys/class/net.
    let mut ifaces: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in sec("net").lines() {
        let Some(rest) = line.strip_prefix("/sys/class/net/") else {
            continue;
        };
        let Some((path, value)) = rest.split_once(':') else {
            continue;
        };
        if let Some((iface, file)) = path.split_once('/') {
            ifaces
                .entry(iface.to_string())
                .or_default()
                .insert(file.to_string(), value.trim().to_string());
        }
    }
    let mut v4 = parse_ip4(sec("ip4"));
    let mut default: Option<(String, Option<String>, Option<Ipv4Addr>)> = None;
    if let Some(line) = sec("route4").lines().find(|l| l.starts_with("default")) {
        let t: Vec<&str> = line.split_whitespace().collect();
        let after = |w: &str| {
            t.iter()
                .position(|x| *x == w)
                .and_then(|i| t.get(i + 1))
                .map(|s| s.to_string())
        };
        if let Some(dev) = after("dev") {
            let src = after("src").and_then(|s| s.parse().ok());
            default = Some((dev, after("via"), src));
        }
    } else if !sec("proc_route").is_empty() {
        // No `ip`: the default route and each interface's networks from /proc/net/route,
        // addresses from `hostname -I`, matched to an interface by network.
        let mut nets = Vec::new();
        for line in sec("proc_route").lines().skip(1) {
            let t: Vec<&str> = line.split_whitespace().collect();
            if t.len() < 8 {
                continue;
            }
            let (Some(dest), Some(gw), Some(m)) = (
                proc_route_addr(t[1]),
                proc_route_addr(t[2]),
                proc_route_addr(t[7]),
            ) else {
                continue;
            };
            if dest.is_unspecified() && m.is_unspecified() {
                if default.is_none() {
                    default = Some((t[0].to_string(), Some(gw.to_string()), None));
                }
            } else {
                nets.push((t[0].to_string(), dest, u32::from(m).count_ones()));
            }
        }
        for word in sec("hostname_i").split_whitespace() {
            let Ok(addr) = word.parse::<Ipv4Addr>() else {
                continue;
            };
            if let Some((iface, _, prefix)) =
                nets.iter().find(|(_, net, p)| network_of(addr, *p) == *net)
            {
                v4.push(V4 {
                    iface: iface.clone(),
                    addr,
                    prefix: *prefix,
                    broadcast: None,
                });
            }
        }
    }

    let mut v6: BTreeMap<String, Vec<J>> = BTreeMap::new();
    let mut all6 = Vec::new();
    for line in sec("ip6").lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let Some(pos) = t.iter().position(|w| *w == "inet6") else {
            continue;
        };
        let Some((addr, prefix)) = t.get(pos + 1).and_then(|s| s.split_once('/')) else {
            continue;
        };
        let scope = t
            .iter()
            .position(|w| *w == "scope")
            .and_then(|i| t.get(i + 1))
            .copied()
            .unwrap_or("");
        let iface = t
            .get(1)
            .map(|s| s.split('@').next().unwrap_or(s))
            .unwrap_or("");
        if scope != "host" && scope != "link" {
            all6.push(json!(addr));
        }
        v6.entry(iface.to_string())
            .or_default()
            .push(json!({"address": addr, "prefix": prefix, "scope": scope}));
    }

    let all4: Vec<J> = v4
        .iter()
        .filter(|a| !a.addr.is_loopback())
        .map(|a| json!(a.addr.to_string()))
        .collect();
    f.insert("all_ipv4_addresses".into(), J::Array(all4));
    f.insert("all_ipv6_addresses".into(), J::Array(all6));
    f.insert(
        "interfaces".into(),
        J::Array(ifaces.keys().map(|k| json!(k)).collect()),
    );

    let iface_type = |t: Option<&String>| match t.map(String::as_str) {
        Some("1") => "ether",
        Some("772") => "loopback",
        Some("768") | Some("776") => "tunnel",
        _ => "unknown",
    };
    for (name, files) in &ifaces {
        let mut o = Map::new();
        o.insert("device".into(), json!(name));
        // Ansible: anything but "down" counts as active (lo says "unknown").
        o.insert(
            "active".into(),
            json!(files.get("operstate").is_some_and(|s| s != "down")),
        );
        o.insert("type".into(), json!(iface_type(files.get("type"))));
        if let Some(mac) = files.get("address") {
            o.insert("macaddress".into(), json!(mac));
        }
        if let Some(mtu) = files.get("mtu").and_then(|m| m.parse::<i64>().ok()) {
            o.insert("mtu".into(), json!(mtu));
        }
        let mut mine = v4.iter().filter(|a| &a.iface == name);
        if let Some(first) = mine.next() {
            o.insert("ipv4".into(), ipv4_json(first));
            let rest: Vec<J> = mine.map(ipv4_json).collect();
            if !rest.is_empty() {
                o.insert("ipv4_secondaries".into(), J::Array(rest));
            }
        }
        if let Some(list) = v6.get(name) {
            o.insert("ipv6".into(), J::Array(list.clone()));
        }
        f.insert(name.replace('-', "_"), J::Object(o));
    }

    let mut d = Map::new();
    if let Some((dev, gw, src)) = default {
        let addr = v4
            .iter()
            .find(|a| a.iface == dev && src.is_none_or(|s| s == a.addr))
            .or_else(|| v4.iter().find(|a| a.iface == dev));
        if let Some(a) = addr
            && let J::Object(m) = ipv4_json(a)
        {
            d.extend(m);
        }
        d.insert("interface".into(), json!(dev));
        d.insert("alias".into(), json!(dev));
        if let Some(gw) = gw {
            d.insert("gateway".into(), json!(gw));
        }
        if let Some(files) = ifaces.get(&dev) {
            if let Some(mac) = files.get("address") {
                d.insert("macaddress".into(), json!(mac));
            }
            if let Some(mtu) = files.get("mtu").and_then(|m| m.parse::<i64>().ok()) {
                d.insert("mtu".into(), json!(mtu));
            }
            d.insert("type".into(), json!(iface_type(files.get("type"))));
        }
    }
    f.insert("default_ipv4".into(), J::Object(d));
}

fn virtual_(f: &mut Facts, text: &str) {
    let has = |flag: &str| text.lines().any(|l| l == format!("flag:{}", flag));
    let container_env = text
        .lines()
        .find_map(|l| l.strip_prefix("container="))
        .map(str::to_string);
    let cgroup: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("/proc/1/cgroup:"))
        .collect();
    let dmi = |file: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("/sys/class/dmi/id/{}:", file)))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let (product, vendor) = (dmi("product_name"), dmi("sys_vendor"));
    let (kind, role) = if has("dockerenv") || cgroup.iter().any(|c| c.contains("docker")) {
        ("docker", "guest")
    } else if has("containerenv") || container_env.as_deref() == Some("podman") {
        ("podman", "guest")
    } else if container_env
        .as_deref()
        .is_some_and(|c| c.starts_with("lxc"))
        || cgroup.iter().any(|c| c.contains("/lxc"))
    {
        ("lxc", "guest")
    } else if container_env.is_some() {
        ("container", "guest")
    } else if product.contains("KVM")
        || product.contains("QEMU")
        || vendor.contains("QEMU")
        || product.contains("OpenStack")
    {
        ("kvm", "guest")
    } else if vendor.contains("Amazon EC2") {
        ("amazon", "guest")
    } else if product.contains("VMware") || vendor.contains("VMware") {
        ("VMware", "guest")
    } else if product.contains("VirtualBox") {
        ("virtualbox", "guest")
    } else if vendor.contains("Microsoft") && product.contains("Virtual Machine") {
        ("VirtualPC", "guest")
    } else if has("xen") || vendor.contains("Xen") {
        ("xen", "guest")
    } else if has("hypervisor") {
        // A hypervisor is there but does not say which.
        ("NA", "guest")
    } else {
        ("NA", "NA")
    };
    f.insert("virtualization_type".into(), json!(kind));
    f.insert("virtualization_role".into(), json!(role));
}
