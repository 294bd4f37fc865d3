//! known_hosts: reads OpenSSH's format (plain and hashed `|1|salt|hash` host fields,
//! `[host]:port`, `*`/`?` patterns and `!` negations, `@revoked`), decides whether a server key
//! is trusted under the policy, and records new keys for accept-new.
//!
//! Why not a crate's: russh's `known_hosts` reads one file, matches exact names only (no
//! patterns, negations or `@revoked`) and stops at the first line it cannot parse; ssh-key's
//! `known_hosts::Entry` parses markers and hashed names but splits fields on single spaces (OpenSSH
//! accepts any run of blanks) and matches nothing. The line reading and matching here are what
//! OpenSSH does; the key decoding (russh) and HMAC-SHA1 of hashed names (`hmac`) are crates'.

use super::config::glob_match;
use hmac::{Hmac, Mac};
use russh::keys::{Algorithm, HashAlg, PublicKey, PublicKeyBase64};
use sha1::Sha1;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How strictly server keys are checked (OpenSSH's `StrictHostKeyChecking`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyMode {
    /// Unknown and changed keys are refused (the default).
    Strict,
    /// Unknown keys are recorded in the first file; changed keys are refused.
    AcceptNew,
    /// Every key is accepted (`host_key_checking = False`).
    Off,
}

/// Where known keys live and what to do with unknown ones.
#[derive(Clone, Debug)]
pub struct KnownHostsPolicy {
    /// Files read in order; new keys are appended to the first one.
    pub files: Vec<PathBuf>,
    pub mode: HostKeyMode,
}

impl KnownHostsPolicy {
    /// `~/.ssh/known_hosts`, `~/.ssh/known_hosts2` and the global files, strict checking.
    pub fn default_files() -> Vec<PathBuf> {
        let mut files = user_default_files();
        files.extend(global_default_files());
        files
    }
}

pub(super) fn user_default_files() -> Vec<PathBuf> {
    let home = super::config::home_dir();
    vec![
        home.join(".ssh/known_hosts"),
        home.join(".ssh/known_hosts2"),
    ]
}

pub(super) fn global_default_files() -> Vec<PathBuf> {
    vec![
        PathBuf::from("/etc/ssh/ssh_known_hosts"),
        PathBuf::from("/etc/ssh/ssh_known_hosts2"),
    ]
}

/// The name a host has in known_hosts: `host` on port 22, else `[host]:port`.
pub fn host_label(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{}]:{}", host, port)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Known,
    Unknown,
    /// The host is listed with a different key; where the (first) old key is.
    Changed {
        file: PathBuf,
        line: usize,
    },
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

struct Entry {
    file: PathBuf,
    line: usize,
    revoked: bool,
    key: PublicKey,
}

/// Entries of `files` whose host field matches `label`.
fn matching_entries(files: &[PathBuf], label: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (idx, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if let Some(marker) = first.strip_prefix('@') {
                if marker != "revoked" {
                    // @cert-authority lines trust a CA, not a host key; certificates are not used.
                    continue;
                }
                revoked = true;
                first = fields.next().unwrap_or_default();
            }
            if !hosts_field_matches(first, label) {
                continue;
            }
            let (Some(_algo), Some(b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(key) = russh::keys::parse_public_key_base64(b64) else {
                continue;
            };
            out.push(Entry {
                file: file.clone(),
                line: idx + 1,
                revoked,
                key,
            });
        }
    }
    out
}

fn hosts_field_matches(field: &str, label: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_matches(hashed, label);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(neg) = pattern.strip_prefix('!') {
            if glob_match(neg, label) {
                return false;
            }
        } else if glob_match(pattern, label) {
            matched = true;
        }
    }
    matched
}

/// `salt|hash` (both base64): hash = HMAC-SHA1(salt, label).
fn hashed_matches(field: &str, label: &str) -> bool {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = field.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
        return false;
    };
    let Ok(mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(label.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

fn verdict(files: &[PathBuf], label: &str, key: &PublicKey) -> Verdict {
    let entries = matching_entries(files, label);
    let same = |e: &&Entry| e.key.key_data() == key.key_data();
    if let Some(e) = entries.iter().filter(|e| e.revoked).find(same) {
        return Verdict::Revoked {
            file: e.file.clone(),
            line: e.line,
        };
    }
    let trusted: Vec<&Entry> = entries.iter().filter(|e| !e.revoked).collect();
    if trusted.iter().any(same) {
        return Verdict::Known;
    }
    // A listed key of the same type that differs is a changed key; a host listed only with
    // other key types is treated the same way (its known key types are offered first, so a
    // server that no longer has them has changed).
    let old = trusted
        .iter()
        .find(|e| e.key.algorithm() == key.algorithm())
        .or_else(|| trusted.first());
    match old {
        Some(e) => Verdict::Changed {
            file: e.file.clone(),
            line: e.line,
        },
        None => Verdict::Unknown,
    }
}

/// The key algorithms known_hosts lists for this host, to offer them first in key exchange.
pub(super) fn known_algorithms(policy: &KnownHostsPolicy, host: &str, port: u16) -> Vec<Algorithm> {
    if policy.mode == HostKeyMode::Off {
        return Vec::new();
    }
    let mut algos: Vec<Algorithm> = Vec::new();
    for e in matching_entries(&policy.files, &host_label(host, port)) {
        if !e.revoked && !algos.contains(&e.key.algorithm()) {
            algos.push(e.key.algorithm());
        }
    }
    algos
}

/// Why a server key is not trusted; the message is the one-line reason shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("host key for {label} ({algo} {fingerprint}) is marked @revoked in {file}:{line}")]
    Revoked {
        label: String,
        algo: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error(
        "HOST KEY CHANGED for {label}: it now offers {algo} key {fingerprint}, which differs from \
         {file}:{line}; if the change is expected, remove it with ssh-keygen -f {file} -R '{label}'"
    )]
    Changed {
        label: String,
        algo: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error(
        "host key for {label} is not known ({algo} key {fingerprint}): add it to {file} \
         (ssh-keyscan -p {port} {host} >> {file}) or set host_key_checking = False"
    )]
    Unknown {
        label: String,
        algo: String,
        fingerprint: String,
        file: String,
        port: u16,
        host: String,
    },
    #[error("cannot record the host key of {label} in {file}: {source}")]
    CannotRecord {
        label: String,
        file: String,
        source: std::io::Error,
    },
    #[error(
        "{label} presented a host certificate; host certificates are not supported \
         (list its plain key in known_hosts)"
    )]
    Certificate { label: String },
}

/// Decides whether `key` is trusted for `host:port` under `policy` (recording it for
/// accept-new).
pub(super) fn check(
    policy: &KnownHostsPolicy,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<(), HostKeyError> {
    if policy.mode == HostKeyMode::Off {
        return Ok(());
    }
    let label = host_label(host, port);
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let algo = key.algorithm().as_str().to_string();
    let first_file = policy
        .files
        .first()
        .cloned()
        .unwrap_or_else(|| super::config::home_dir().join(".ssh/known_hosts"));
    match verdict(&policy.files, &label, key) {
        Verdict::Known => Ok(()),
        Verdict::Revoked { file, line } => Err(HostKeyError::Revoked {
            label,
            algo,
            fingerprint,
            file: file.display().to_string(),
            line,
        }),
        Verdict::Changed { file, line } => Err(HostKeyError::Changed {
            label,
            algo,
            fingerprint,
            file: file.display().to_string(),
            line,
        }),
        Verdict::Unknown if policy.mode == HostKeyMode::AcceptNew => {
            append(&first_file, &label, key).map_err(|source| HostKeyError::CannotRecord {
                label,
                file: first_file.display().to_string(),
                source,
            })
        }
        Verdict::Unknown => Err(HostKeyError::Unknown {
            label,
            algo,
            fingerprint,
            file: first_file.display().to_string(),
            port,
            host: host.to_string(),
        }),
    }
}

/// Serialises appends: many hosts may be accepted at once.
static APPEND_LOCK: Mutex<()> = Mutex::new(());

fn append(file: &Path, label: &str, key: &PublicKey) -> std::io::Result<()> {
    let _guard = APPEND_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let needs_newline = std::fs::read(file)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    let line = format!(
        "{}{} {} {}\n",
        if needs_newline { "\n" } else { "" },
        label,
        key.algorithm().as_str(),
        key.public_key_base64()
    );
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two ed25519 public keys.
    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIHohr5NIkQ+RFOnSfZGD1idUazzcljKtIRjOASRWg8er";

    fn key(b64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(b64).unwrap()
    }

    fn policy(dir: &Path, text: &str, mode: HostKeyMode) -> KnownHostsPolicy {
        let f = dir.join("known_hosts");
        std::fs::write(&f, text).unwrap();
        KnownHostsPolicy {
            files: vec![f],
            mode,
        }
    }

    #[test]
    fn plain_port_entry_is_known_and_other_port_unknown() {
        let d = tempfile::tempdir().unwrap();
        let p = policy(
            d.path(),
            &format!("[10.0.0.1]:2222 ssh-ed25519 {KEY_A}\n"),
            HostKeyMode::Strict,
        );
        assert!(check(&p, "10.0.0.1", 2222, &key(KEY_A)).is_ok());
        let err = check(&p, "10.0.0.1", 22, &key(KEY_A))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not known"), "{err}");
        assert!(err.contains("known_hosts"), "{err}");
    }

    #[test]
    fn hashed_entry_matches_its_host_only() {
        use base64::Engine;
        let e = base64::engine::general_purpose::STANDARD;
        let salt = b"0123456789abcdefghij";
        // HMAC-SHA1(salt, "[h1]:2200"), computed with Python's hmac module.
        let hash = "m/8OUZFTzb3q0sdYKNTBK0QDTGI=";
        let line = format!("|1|{}|{hash} ssh-ed25519 {KEY_A}\n", e.encode(salt));
        let d = tempfile::tempdir().unwrap();
        let p = policy(d.path(), &line, HostKeyMode::Strict);
        assert!(check(&p, "h1", 2200, &key(KEY_A)).is_ok());
        assert!(check(&p, "h2", 2200, &key(KEY_A)).is_err());
    }

    #[test]
    fn changed_key_names_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let text = format!("# comment\nother ssh-ed25519 {KEY_B}\nh?st* ssh-ed25519 {KEY_A}\n");
        let p = policy(d.path(), &text, HostKeyMode::AcceptNew);
        let err = check(&p, "host1", 22, &key(KEY_B)).unwrap_err().to_string();
        assert!(err.contains("known_hosts:3"), "{err}");
        assert!(err.contains("ssh-keygen"), "{err}");
    }

    #[test]
    fn negated_pattern_excludes() {
        assert!(hosts_field_matches(
            "*.example,!bad.example",
            "good.example"
        ));
        assert!(!hosts_field_matches(
            "*.example,!bad.example",
            "bad.example"
        ));
    }

    #[test]
    fn accept_new_appends_bracketed_label() {
        let d = tempfile::tempdir().unwrap();
        // No trailing newline: the appended entry must still start on its own line.
        let p = policy(
            d.path(),
            &format!("a ssh-ed25519 {KEY_B}"),
            HostKeyMode::AcceptNew,
        );
        check(&p, "127.0.0.5", 2022, &key(KEY_A)).unwrap();
        let text = std::fs::read_to_string(&p.files[0]).unwrap();
        assert!(
            text.ends_with(&format!("\n[127.0.0.5]:2022 ssh-ed25519 {KEY_A}\n")),
            "{text}"
        );
        let strict = KnownHostsPolicy {
            mode: HostKeyMode::Strict,
            ..p
        };
        assert!(check(&strict, "127.0.0.5", 2022, &key(KEY_A)).is_ok());
    }

    #[test]
    fn revoked_key_is_refused_even_when_listed() {
        let d = tempfile::tempdir().unwrap();
        let text = format!("@revoked * ssh-ed25519 {KEY_A}\nh ssh-ed25519 {KEY_A}\n");
        let p = policy(d.path(), &text, HostKeyMode::Strict);
        assert!(
            check(&p, "h", 22, &key(KEY_A))
                .unwrap_err()
                .to_string()
                .contains("revoked")
        );
    }
}
