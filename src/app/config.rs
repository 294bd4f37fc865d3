//! ansible.cfg: found as Ansible finds it (ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg,
//! /etc/ansible/ansible.cfg; the first that exists wins), keys compat.md lists.

use crate::error::{LoadError, LoadResult, Span};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct AnsibleCfg {
    pub path: Option<PathBuf>,
    pub inventory: Vec<String>,
    pub remote_user: Option<String>,
    pub private_key_file: Option<String>,
    pub forks: Option<usize>,
    pub host_key_checking: Option<bool>,
    pub roles_path: Vec<String>,
    pub timeout: Option<u64>,
    pub ssh_args: Option<String>,
    pub become_: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub become_flags: Option<String>,
    pub retry_files_enabled: Option<bool>,
    pub retry_files_save_path: Option<String>,
    /// `[defaults] vault_password_file`.
    pub vault_password_file: Option<String>,
    /// `[defaults] vault_identity_list` (`label@source`, comma-separated).
    pub vault_identity_list: Option<String>,
    /// Keys we read but do not act on, and unknown keys, for `-v` warnings.
    pub ignored: Vec<String>,
}

fn cfg_bool(v: &str) -> Option<bool> {
    crate::vocab::rendered_boolean(v)
}

impl AnsibleCfg {
    /// Finds and reads the config file, if any.
    pub fn discover() -> LoadResult<AnsibleCfg> {
        let mut candidates: Vec<PathBuf> = vec![];
        if let Ok(p) = std::env::var("ANSIBLE_CONFIG") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(PathBuf::from("ansible.cfg"));
        if let Ok(home) = std::env::var("HOME") {
            candidates.push(Path::new(&home).join(".ansible.cfg"));
        }
        candidates.push(PathBuf::from("/etc/ansible/ansible.cfg"));
        for c in candidates {
            if c.is_file() {
                return AnsibleCfg::read(&c);
            }
        }
        Ok(AnsibleCfg::default())
    }

    pub fn read(path: &Path) -> LoadResult<AnsibleCfg> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::plain(format!("{}: cannot read: {}", path.display(), e)))?;
        let file = path.display().to_string();
        let mut cfg = AnsibleCfg {
            path: Some(path.to_path_buf()),
            ..Default::default()
        };
        let mut section = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let span = Span::new(file.as_str(), i as u32 + 1, 1);
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).trim().to_string();
                continue;
            }
            let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
                return Err(LoadError::new(&span, "expected `key = value`"));
            };
            let (k, v) = (k.trim(), v.trim().to_string());
            let bad_bool =
                || LoadError::new(&span, format!("{} must be a boolean, got {:?}", k, v));
            match (section.as_str(), k) {
                ("defaults", "inventory" | "hostfile") => {
                    cfg.inventory = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                ("defaults", "remote_user") => cfg.remote_user = Some(v),
                ("defaults", "private_key_file") => cfg.private_key_file = Some(v),
                ("defaults", "forks") => {
                    cfg.forks = Some(
                        v.parse()
                            .map_err(|_| LoadError::new(&span, "forks must be a number"))?,
                    )
                }
                ("defaults", "host_key_checking") => {
                    cfg.host_key_checking = Some(cfg_bool(&v).ok_or_else(bad_bool)?)
                }
                ("defaults", "roles_path") => {
                    cfg.roles_path = v.split(':').map(str::to_string).collect()
                }
                ("defaults", "timeout") => {
                    cfg.timeout = Some(
                        v.parse()
                            .map_err(|_| LoadError::new(&span, "timeout must be a number"))?,
                    )
                }
                ("defaults", "retry_files_enabled") => {
                    cfg.retry_files_enabled = Some(cfg_bool(&v).ok_or_else(bad_bool)?)
                }
                ("defaults", "retry_files_save_path") => cfg.retry_files_save_path = Some(v),
                ("defaults", "vault_password_file") => cfg.vault_password_file = Some(v),
                ("defaults", "vault_identity_list") => cfg.vault_identity_list = Some(v),
                ("ssh_connection", "ssh_args") => cfg.ssh_args = Some(v),
                ("privilege_escalation", "become") => {
                    cfg.become_ = Some(cfg_bool(&v).ok_or_else(bad_bool)?)
                }
                ("privilege_escalation", "become_user") => cfg.become_user = Some(v),
                ("privilege_escalation", "become_method") => cfg.become_method = Some(v),
                ("privilege_escalation", "become_flags") => cfg.become_flags = Some(v),
                ("privilege_escalation", "become_ask_pass") => cfg
                    .ignored
                    .push(format!("{}: {} (use --ask-become-pass)", span, k)),
                (s, k) => cfg.ignored.push(format!("{}: [{}] {}", span, s, k)),
            }
        }
        Ok(cfg)
    }
}
