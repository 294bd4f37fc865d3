//! The lab's base image: Debian with sshd and the tools modules drive, and no Python (targets
//! need none, and the lab must show it). Built with `debootstrap` from the Debian mirror the
//! machine's apt already uses, imported with `docker import`, tagged with a hash of its recipe so
//! it is built once and rebuilt only when the recipe changes.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::process::{self, LabError};

/// Image repository; the tag is `<suite>-<recipe hash>`.
pub const REPOSITORY: &str = "rmesos/testhost";

const SUITE: &str = "bookworm";

/// Packages on top of debootstrap's minbase. Python stays out on purpose: tests that need a
/// package (supervisor, nginx, ...) install it through the mirror like a real host would.
const PACKAGES: &[&str] = &[
    "openssh-server",
    "sudo",
    "iproute2",
    "procps",
    "ca-certificates",
    "curl",
    "netcat-openbsd",
    "less",
    "tar",
    "gzip",
    "bzip2",
    "xz-utils",
    "unzip",
    "cron",
];

/// Bump when [`customize`] changes what it does: its steps are code, not hashed data.
const BUILD_STEPS_REVISION: u32 = 1;

/// The container's main process (under `docker run --init`): per-container host keys and root's key, then sshd in
/// the foreground. There is no init system; services are started by `service` or supervisord.
const ENTRYPOINT: &str = r#"#!/bin/sh
# rmesos lab host: each container gets its own host keys; root's key comes from the lab.
set -eu
# No RSA key: generating one costs about a second of CPU per container, and every client the
# lab serves speaks ed25519.
for type in ed25519 ecdsa; do
    key=/etc/ssh/ssh_host_${type}_key
    [ -e "$key" ] || ssh-keygen -q -t "$type" -N '' -f "$key"
done
mkdir -p /run/sshd /root/.ssh
chmod 700 /root/.ssh
# Written once: a test may edit authorized_keys, and a restart must not undo it.
if [ -n "${RMESOS_AUTHORIZED_KEYS:-}" ] && [ ! -e /root/.ssh/authorized_keys ]; then
    printf '%s\n' "$RMESOS_AUTHORIZED_KEYS" > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
unset RMESOS_AUTHORIZED_KEYS
exec /usr/sbin/sshd -D -e
"#;

/// Read before the rest of Debian's sshd_config (first value wins there).
const SSHD_CONFIG: &str = "\
# rmesos lab: root logs in with the lab's key only. No PAM and no reverse DNS (both slow, and
# PAM is pointless without passwords); room for many multiplexed sessions and connections.
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
MaxSessions 64
MaxStartups 64:30:128
";

const APT_CONFIG: &str = "\
// rmesos lab: no translations to fetch on every update. Mirrors may be dated snapshots whose
// Release files have expired; these hosts live for one test run.
Acquire::Languages \"none\";
Acquire::Check-Valid-Until \"false\";
";

/// One apt source: a URI with its suites and components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

/// A file the recipe writes into the root filesystem.
#[derive(Clone, Debug)]
pub struct RecipeFile {
    /// Relative to the root filesystem.
    pub path: &'static str,
    pub contents: String,
    pub mode: u32,
}

/// Everything that decides the image's contents; its hash is the image's tag.
#[derive(Clone, Debug)]
pub struct Recipe {
    pub suite: &'static str,
    pub packages: Vec<&'static str>,
    /// Written to the image's sources.list; the one carrying the bare suite is debootstrap's
    /// mirror.
    pub sources: Vec<AptSource>,
}

impl Recipe {
    /// The recipe with the Debian sources this machine's apt uses, so the build and the
    /// containers' package installs reach the mirror the machine reaches. `RMESOS_LAB_MIRROR`
    /// names another mirror.
    pub fn from_host() -> Result<Recipe, LabError> {
        let sources = match std::env::var("RMESOS_LAB_MIRROR") {
            Ok(uri) if !uri.trim().is_empty() => vec![AptSource {
                uri: uri.trim().to_string(),
                suites: vec![SUITE.to_string(), format!("{SUITE}-updates")],
                components: vec!["main".to_string()],
            }],
            _ => {
                let found = host_debian_sources()?;
                if found.is_empty() {
                    default_sources()
                } else {
                    found
                }
            }
        };
        Recipe::with_sources(sources)
    }

    /// The recipe with the given sources; one of them must carry the bare suite with `main`.
    pub fn with_sources(sources: Vec<AptSource>) -> Result<Recipe, LabError> {
        let recipe = Recipe {
            suite: SUITE,
            packages: PACKAGES.to_vec(),
            sources,
        };
        recipe.mirror()?;
        Ok(recipe)
    }

    /// The mirror debootstrap downloads from.
    pub fn mirror(&self) -> Result<&str, LabError> {
        self.sources
            .iter()
            .find(|s| {
                s.suites.iter().any(|x| x == self.suite) && s.components.iter().any(|c| c == "main")
            })
            .map(|s| s.uri.as_str())
            .ok_or_else(|| {
                LabError::Invalid(format!(
                    "no apt source carries Debian `{} main`; set RMESOS_LAB_MIRROR to a Debian \
                     mirror URI",
                    self.suite
                ))
            })
    }

    pub fn files(&self) -> Vec<RecipeFile> {
        let mut sources_list =
            String::from("# rmesos lab: the Debian mirror the build host uses\n");
        for s in &self.sources {
            for suite in &s.suites {
                sources_list.push_str(&format!(
                    "deb {} {} {}\n",
                    s.uri,
                    suite,
                    s.components.join(" ")
                ));
            }
        }
        vec![
            RecipeFile {
                path: "etc/apt/sources.list",
                contents: sources_list,
                mode: 0o644,
            },
            RecipeFile {
                path: "etc/apt/apt.conf.d/90rmesos-lab",
                contents: APT_CONFIG.to_string(),
                mode: 0o644,
            },
            RecipeFile {
                path: "etc/ssh/sshd_config.d/rmesos-lab.conf",
                contents: SSHD_CONFIG.to_string(),
                mode: 0o644,
            },
            RecipeFile {
                path: "usr/local/sbin/rmesos-entrypoint",
                contents: ENTRYPOINT.to_string(),
                mode: 0o755,
            },
        ]
    }

    /// Hex digest (12 digits) of everything that decides the image's contents.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "steps {BUILD_STEPS_REVISION}\nsuite {}\n",
            self.suite
        ));
        for p in &self.packages {
            h.update(format!("package {p}\n"));
        }
        for f in self.files() {
            h.update(format!(
                "file {} {:o} {}\n",
                f.path,
                f.mode,
                f.contents.len()
            ));
            h.update(f.contents.as_bytes());
        }
        hex::encode(h.finalize())[..12].to_string()
    }

    pub fn tag(&self) -> String {
        format!("{REPOSITORY}:{}-{}", self.suite, self.hash())
    }
}

/// The image a lab runs, and how long building it took if this call built it.
#[derive(Clone, Debug)]
pub struct BaseImage {
    pub tag: String,
    pub build_time: Option<Duration>,
}

/// Returns the recipe's image, building it first if Docker does not have it. A lock file in the
/// cache directory makes parallel callers (test binaries, threads) wait for one build.
pub fn ensure_image(recipe: &Recipe) -> Result<BaseImage, LabError> {
    let tag = recipe.tag();
    if image_exists(&tag)? {
        return Ok(BaseImage {
            tag,
            build_time: None,
        });
    }
    let cache = cache_dir();
    fs::create_dir_all(&cache)
        .map_err(|e| LabError::io(format!("creating {}", cache.display()), e))?;
    let lock_path = cache.join("image.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| LabError::io(format!("opening {}", lock_path.display()), e))?;
    lock.lock()
        .map_err(|e| LabError::io(format!("locking {}", lock_path.display()), e))?;
    // Another process may have built it while this one waited for the lock.
    if image_exists(&tag)? {
        return Ok(BaseImage {
            tag,
            build_time: None,
        });
    }
    let started = Instant::now();
    build(recipe, &tag, &cache)?;
    Ok(BaseImage {
        tag,
        build_time: Some(started.elapsed()),
    })
}

fn image_exists(tag: &str) -> Result<bool, LabError> {
    let out = process::output(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", tag],
        process::DOCKER_HINT,
    )?;
    if out.status.success() {
        return Ok(true);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No such image") || stderr.contains("No such object") {
        Ok(false)
    } else {
        Err(process::failure("docker", &["image", "inspect", tag], &out))
    }
}

/// Where debootstrap's package cache, the build lock and build directories live.
/// `RMESOS_LAB_CACHE` overrides it.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RMESOS_LAB_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("rmesos/lab");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache/rmesos/lab");
    }
    PathBuf::from("/var/tmp/rmesos-lab")
}

const DEBOOTSTRAP_HINT: &str = "install it: `apt-get install debootstrap` (it builds the lab's \
                                Debian image; no registry image can be pulled)";

fn build(recipe: &Recipe, tag: &str, cache: &Path) -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::Invalid(format!(
            "building {tag} needs root (debootstrap creates device nodes and chroots); run the \
             first lab start as root, later ones reuse the image"
        )));
    }
    let debs = cache.join(format!("debs-{}", recipe.suite));
    fs::create_dir_all(&debs)
        .map_err(|e| LabError::io(format!("creating {}", debs.display()), e))?;
    let work = BuildDir::new(cache)?;
    let rootfs = work.path.join("rootfs");
    let rootfs_s = path_str(&rootfs)?;
    let debs_s = path_str(&debs)?;
    let cache_arg = format!("--cache-dir={debs_s}");
    let include = format!("--include={}", recipe.packages.join(","));
    let mirror = recipe.mirror()?;
    process::run(
        "debootstrap",
        &[
            "--variant=minbase",
            &cache_arg,
            &include,
            recipe.suite,
            rootfs_s,
            mirror,
        ],
        DEBOOTSTRAP_HINT,
    )?;
    customize(&rootfs, recipe)?;
    import(&rootfs, recipe, tag)
}

/// Makes the debootstrapped tree a lab host: recipe files in, per-host and stale state out.
fn customize(rootfs: &Path, recipe: &Recipe) -> Result<(), LabError> {
    for f in recipe.files() {
        let path = rootfs.join(f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| LabError::io(format!("creating {}", parent.display()), e))?;
        }
        fs::write(&path, &f.contents)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(f.mode)))
            .map_err(|e| LabError::io(format!("writing {}", path.display()), e))?;
    }
    // Host keys are made per container at start; a shared key would make every host look alike.
    remove_matching(&rootfs.join("etc/ssh"), |n| n.starts_with("ssh_host_"))?;
    // Downloaded packages and the build's package lists only bloat the image.
    remove_matching(&rootfs.join("var/cache/apt/archives"), |n| {
        n.ends_with(".deb")
    })?;
    remove_matching(&rootfs.join("var/lib/apt/lists"), |n| {
        n != "partial" && n != "lock"
    })?;
    // Clients send LANG/LC_*; with no locales installed, accepting them only makes tools warn.
    let sshd_config = rootfs.join("etc/ssh/sshd_config");
    let text = fs::read_to_string(&sshd_config)
        .map_err(|e| LabError::io(format!("reading {}", sshd_config.display()), e))?;
    let kept: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("AcceptEnv"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&sshd_config, kept)
        .map_err(|e| LabError::io(format!("writing {}", sshd_config.display()), e))
}

fn remove_matching(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<(), LabError> {
    let entries =
        fs::read_dir(dir).map_err(|e| LabError::io(format!("reading {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LabError::io(format!("reading {}", dir.display()), e))?;
        if matches(&entry.file_name().to_string_lossy()) {
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| LabError::io(format!("removing {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// `tar -C rootfs -c . | docker import - tag`, with sshd's entrypoint and the recipe as a label.
fn import(rootfs: &Path, recipe: &Recipe, tag: &str) -> Result<(), LabError> {
    let rootfs_s = path_str(rootfs)?;
    let tar_args = ["-C", rootfs_s, "--numeric-owner", "-cf", "-", "."];
    let mut tar = Command::new("tar")
        .args(tar_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::io("starting tar", e))?;
    let tar_out = tar
        .stdout
        .take()
        .ok_or_else(|| LabError::io("tar", io::Error::other("no stdout pipe")))?;
    let label = format!("LABEL rmesos.recipe={}", recipe.hash());
    let import_args = [
        "import",
        "--change",
        r#"ENTRYPOINT ["/usr/local/sbin/rmesos-entrypoint"]"#,
        "--change",
        &label,
        "-",
        tag,
    ];
    let imported = Command::new("docker")
        .args(import_args)
        .stdin(Stdio::from(tar_out))
        .output()
        .map_err(|source| LabError::Missing {
            program: "docker".into(),
            source,
            hint: process::DOCKER_HINT,
        });
    // Reap tar whatever docker did, so no zombie outlives a failed import.
    let tarred = tar.wait_with_output().map_err(|e| LabError::io("tar", e))?;
    let imported = imported?;
    if !tarred.status.success() {
        return Err(process::failure("tar", &tar_args, &tarred));
    }
    if !imported.status.success() {
        return Err(process::failure("docker", &import_args, &imported));
    }
    Ok(())
}

fn path_str(path: &Path) -> Result<&str, LabError> {
    path.to_str()
        .ok_or_else(|| LabError::Invalid(format!("path {} is not UTF-8", path.display())))
}

/// A build directory that is removed on drop, but only once nothing is mounted below it:
/// debootstrap mounts /proc (and may bind /dev) inside the tree, and removing through a live
/// mount would delete the host's files.
struct BuildDir {
    path: PathBuf,
}

impl BuildDir {
    fn new(cache: &Path) -> Result<BuildDir, LabError> {
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(cache)
            .map_err(|e| {
                LabError::io(
                    format!("creating a build directory in {}", cache.display()),
                    e,
                )
            })?;
        Ok(BuildDir { path: dir.keep() })
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        for mount in mounts_below(&self.path).into_iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(&mount).status();
        }
        // A mount that would not go away leaves the directory in place rather than risk it.
        if mounts_below(&self.path).is_empty() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Mount points at or below `dir`, in mount order (so reverse order unmounts children first).
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount_path(p)))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal escapes.
fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, b| acc.wrapping_mul(8).wrapping_add(b - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Debian sources of this machine's apt (`/etc/apt/sources.list` and `sources.list.d`).
fn host_debian_sources() -> Result<Vec<AptSource>, LabError> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut listed: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        listed.sort();
        files.extend(listed);
    }
    let mut sources = Vec::new();
    for file in files {
        let deb822 = match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => true,
            Some("list") => false,
            _ => continue,
        };
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LabError::io(format!("reading {}", file.display()), e)),
        };
        sources.extend(debian_sources(&parse_apt_sources(&text, deb822)));
    }
    Ok(sources)
}

fn default_sources() -> Vec<AptSource> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        AptSource {
            uri: "http://deb.debian.org/debian".into(),
            suites: strings(&[SUITE, &format!("{SUITE}-updates")]),
            components: strings(&["main"]),
        },
        AptSource {
            uri: "http://deb.debian.org/debian-security".into(),
            suites: strings(&[&format!("{SUITE}-security")]),
            components: strings(&["main"]),
        },
    ]
}

const DEBIAN_COMPONENTS: &[&str] = &["main", "contrib", "non-free", "non-free-firmware"];

/// Keeps the suites of our release and Debian's own components: that drops third-party
/// repositories (their suites or components differ) and other releases.
fn debian_sources(all: &[AptSource]) -> Vec<AptSource> {
    all.iter()
        .filter_map(|s| {
            let suites: Vec<String> = s
                .suites
                .iter()
                .filter(|x| *x == SUITE || x.starts_with(&format!("{SUITE}-")))
                .cloned()
                .collect();
            let components: Vec<String> = s
                .components
                .iter()
                .filter(|c| DEBIAN_COMPONENTS.contains(&c.as_str()))
                .cloned()
                .collect();
            (!suites.is_empty() && !components.is_empty()).then(|| AptSource {
                uri: s.uri.clone(),
                suites,
                components,
            })
        })
        .collect()
}

/// Parses apt's one-line (`deb [opts] URI SUITE COMPONENT...`) or deb822 (`Types:`, `URIs:`,
/// `Suites:`, `Components:`) format, keeping binary (`deb`) sources that are enabled.
pub fn parse_apt_sources(text: &str, deb822: bool) -> Vec<AptSource> {
    if deb822 {
        parse_deb822(text)
    } else {
        text.lines().filter_map(parse_one_line).collect()
    }
}

fn parse_one_line(line: &str) -> Option<AptSource> {
    let line = line.split('#').next()?.trim();
    let mut words = line.split_whitespace();
    if words.next()? != "deb" {
        return None;
    }
    let mut uri = words.next()?;
    if uri.starts_with('[') {
        // Options: skip to the word that closes them.
        let mut word = uri;
        while !word.ends_with(']') {
            word = words.next()?;
        }
        uri = words.next()?;
    }
    let suite = words.next()?;
    Some(AptSource {
        uri: uri.to_string(),
        suites: vec![suite.to_string()],
        components: words.map(str::to_string).collect(),
    })
}

fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    let mut stanza: Vec<(String, String)> = Vec::new();
    let mut flush = |stanza: &mut Vec<(String, String)>| {
        let field = |name: &str| {
            stanza
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let enabled = field("Enabled").first().is_none_or(|v| v != "no");
        if enabled && field("Types").iter().any(|t| t == "deb") {
            for uri in field("URIs") {
                out.push(AptSource {
                    uri,
                    suites: field("Suites"),
                    components: field("Components"),
                });
            }
        }
        stanza.clear();
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut stanza);
        } else if line.starts_with('#') || line.starts_with(' ') || line.starts_with('\t') {
            // Comments, and continuation lines (only multi-line fields like Signed-By use them).
        } else if let Some((key, value)) = line.split_once(':') {
            stanza.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    flush(&mut stanza);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(uri: &str, suites: &[&str], components: &[&str]) -> AptSource {
        AptSource {
            uri: uri.into(),
            suites: suites.iter().map(|s| s.to_string()).collect(),
            components: components.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn deb822_sources_keep_debian_suites_and_skip_disabled_and_third_party() {
        let text = "\
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 abc

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: https://vendor.example/node
Suites: nodistro
Components: main
";
        let parsed = debian_sources(&parse_apt_sources(text, true));
        assert_eq!(
            parsed,
            vec![
                source(
                    "http://mirror.example/debian",
                    &["bookworm", "bookworm-updates"],
                    &["main"]
                ),
                source(
                    "http://mirror.example/debian-security",
                    &["bookworm-security"],
                    &["main", "contrib"]
                ),
            ]
        );
    }

    #[test]
    fn one_line_sources_skip_options_comments_and_deb_src() {
        let text = "\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib # note
deb [ arch=amd64 ] http://mirror.example/debian bookworm-updates main
deb-src http://mirror.example/debian bookworm main
deb https://download.example/linux/debian bookworm stable
deb http://old.example/debian bullseye main
";
        let parsed = debian_sources(&parse_apt_sources(text, false));
        assert_eq!(
            parsed,
            vec![
                source(
                    "http://mirror.example/debian",
                    &["bookworm"],
                    &["main", "contrib"]
                ),
                source(
                    "http://mirror.example/debian",
                    &["bookworm-updates"],
                    &["main"]
                ),
            ]
        );
    }

    #[test]
    fn recipe_needs_a_main_source_for_the_suite() {
        let only_security = vec![source(
            "http://mirror.example/debian-security",
            &["bookworm-security"],
            &["main"],
        )];
        let err = Recipe::with_sources(only_security).unwrap_err().to_string();
        assert!(err.contains("RMESOS_LAB_MIRROR"), "{err}");
    }

    #[test]
    fn tag_is_stable_and_follows_the_mirror_and_packages() {
        let a = Recipe::with_sources(default_sources()).unwrap();
        let b = Recipe::with_sources(default_sources()).unwrap();
        assert_eq!(a.tag(), b.tag());
        assert!(
            a.tag().starts_with("rmesos/testhost:bookworm-"),
            "{}",
            a.tag()
        );
        assert_eq!(a.mirror().unwrap(), "http://deb.debian.org/debian");

        let mut other_mirror = default_sources();
        other_mirror[0].uri = "http://mirror.example/debian".into();
        let c = Recipe::with_sources(other_mirror).unwrap();
        assert_ne!(a.tag(), c.tag());

        let mut more = a.clone();
        more.packages.push("python3");
        assert_ne!(a.tag(), more.tag());
    }

    #[test]
    fn image_recipe_has_no_python_and_sources_name_every_suite() {
        let recipe = Recipe::with_sources(default_sources()).unwrap();
        assert!(!recipe.packages.iter().any(|p| p.contains("python")));
        let files = recipe.files();
        let sources = &files
            .iter()
            .find(|f| f.path == "etc/apt/sources.list")
            .unwrap()
            .contents;
        assert!(sources.contains("deb http://deb.debian.org/debian bookworm main\n"));
        assert!(sources.contains("deb http://deb.debian.org/debian bookworm-updates main\n"));
        assert!(
            sources.contains("deb http://deb.debian.org/debian-security bookworm-security main\n")
        );
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path(r"/tmp/a\040b\134c"), r"/tmp/a b\c");
        assert_eq!(unescape_mount_path(r"/plain\0x"), r"/plain\0x");
    }
}
