//! ansible.cfg: found as Ansible finds it (ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg,
//! /etc/ansible/ansible.cfg; the first that exists wins), keys compat.md lists.
//!
//! As Ansible does, `./ansible.cfg` is not trusted when the current directory is world-writable:
//! anyone on the machine could have planted it (one `host_key_checking = False` line there would
//! switch off host key checks). It is skipped with a warning and the search goes on.

use crate::connection::OutputLimit;
use crate::connection::output::BadOutputLimit;
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
    /// `collections_path` (or the older `collections_paths`), for collection roles.
    pub collections_path: Vec<String>,
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
    /// `[defaults] callbacks_enabled` (or the older `callback_whitelist`) names
    /// `profile_tasks` or `profile_roles`: `--profile`'s report after the recap.
    pub profile_tasks: bool,
    /// `[rmesos] output_limit`: how much of a command's output a task keeps.
    pub output_limit: Option<String>,
    /// Keys we read but do not act on, and unknown keys, for `-v` warnings.
    pub ignored: Vec<String>,
    /// Config files skipped while searching, and why (always shown).
    pub warnings: Vec<String>,
}

/// The current directory, when anyone may write to it (mode o+w).
fn world_writable_cwd() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::current_dir().ok()?;
    let mode = std::fs::metadata(&dir).ok()?.permissions().mode();
    (mode & 0o002 != 0).then_some(dir)
}

impl AnsibleCfg {
    /// Where roles are searched (after `roles/` beside the playbook) and where `galaxy install`
    /// puts them, as Ansible's DEFAULT_ROLES_PATH: `ANSIBLE_ROLES_PATH` (relative paths from
    /// the current directory), else ansible.cfg's `roles_path` (relative to the file), else
    /// `~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles`; `~` expanded.
    pub fn roles_path(&self) -> Vec<PathBuf> {
        self.search_path(
            &["ANSIBLE_ROLES_PATH"],
            &self.roles_path,
            &[
                "{home}/roles",
                "/usr/share/ansible/roles",
                "/etc/ansible/roles",
            ],
        )
    }

    /// Where collections (`ansible_collections/NS/NAME`) are searched, as Ansible's
    /// COLLECTIONS_PATHS, resolved like [`AnsibleCfg::roles_path`].
    pub fn collections_path(&self) -> Vec<PathBuf> {
        self.search_path(
            &["ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"],
            &self.collections_path,
            &["{home}/collections", "/usr/share/ansible/collections"],
        )
    }

    fn search_path(&self, env: &[&str], cfg: &[String], defaults: &[&str]) -> Vec<PathBuf> {
        let home = std::env::var("HOME").unwrap_or_default();
        let dirs = Dirs {
            ansible_home: std::env::var("ANSIBLE_HOME")
                .unwrap_or_else(|_| format!("{home}/.ansible")),
            home,
        };
        let env = env.iter().find_map(|e| std::env::var(e).ok());
        let cfg_dir = self.path.as_deref().and_then(Path::parent);
        search_path(env.as_deref(), cfg, cfg_dir, defaults, &dirs)
    }
}

/// The home directories a search path may start from.
struct Dirs {
    home: String,
    /// `ANSIBLE_HOME`, else `~/.ansible`.
    ansible_home: String,
}

/// A colon-separated search path from the environment (relative to the current directory),
/// else ansible.cfg's value (relative to the file's directory), else the defaults.
fn search_path(
    env: Option<&str>,
    cfg: &[String],
    cfg_dir: Option<&Path>,
    defaults: &[&str],
    dirs: &Dirs,
) -> Vec<PathBuf> {
    let expand = |p: &str, base: Option<&Path>| -> PathBuf {
        let p = match p.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                format!("{}{rest}", dirs.home)
            }
            _ => p.to_string(),
        };
        let p = PathBuf::from(p);
        match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        }
    };
    if let Some(v) = env {
        return v
            .split(':')
            .filter(|s| !s.is_empty())
            .map(|p| expand(p, None))
            .collect();
    }
    if !cfg.is_empty() {
        return cfg
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| expand(p, cfg_dir))
            .collect();
    }
    defaults
        .iter()
        .map(|d| expand(&d.replace("{home}", &dirs.ansible_home), None))
        .collect()
}

fn cfg_bool(v: &str) -> Option<bool> {
    crate::vocab::rendered_boolean(v)
}

impl AnsibleCfg {
    /// [`AnsibleCfg::discover`], then the warnings on stderr and, at `-v` and above, which file
    /// was used and the keys rmesos does not act on.
    pub fn load(verbose: u8) -> LoadResult<AnsibleCfg> {
        let cfg = AnsibleCfg::discover()?;
        for w in &cfg.warnings {
            eprintln!("[WARNING]: {w}");
        }
        if verbose > 0 {
            match &cfg.path {
                Some(p) => eprintln!("Using {} as config file", p.display()),
                None => eprintln!("No config file found; using defaults"),
            }
            for k in &cfg.ignored {
                eprintln!("[WARNING]: ansible.cfg key not used by rmesos: {}", k);
            }
        }
        Ok(cfg)
    }

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
        let mut warnings = Vec::new();
        for c in candidates {
            if !c.is_file() {
                continue;
            }
            if c.as_os_str() == "ansible.cfg"
                && let Some(dir) = world_writable_cwd()
            {
                warnings.push(format!(
                    "rmesos is being run in a world writable directory ({}), ignoring its \
                     ansible.cfg (anyone could have written it); set ANSIBLE_CONFIG to use it",
                    dir.display()
                ));
                continue;
            }
            let mut cfg = AnsibleCfg::read(&c)?;
            cfg.warnings = warnings;
            return Ok(cfg);
        }
        Ok(AnsibleCfg {
            warnings,
            ..AnsibleCfg::default()
        })
    }

    /// How much of each stream of a command's output a task keeps: `RMESOS_OUTPUT_LIMIT`,
    /// else `[rmesos] output_limit`, else [`OutputLimit::DEFAULT`] (1 MiB from the start and
    /// 1 MiB from the end); `unlimited` keeps everything.
    pub fn output_limit(&self) -> Result<Option<OutputLimit>, BadOutputLimit> {
        match std::env::var("RMESOS_OUTPUT_LIMIT")
            .ok()
            .or(self.output_limit.clone())
        {
            Some(v) => OutputLimit::parse(&v),
            None => Ok(Some(OutputLimit::DEFAULT)),
        }
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
                ("defaults", "collections_path" | "collections_paths") => {
                    cfg.collections_path = v.split(':').map(str::to_string).collect()
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
                (
                    "defaults",
                    "callbacks_enabled" | "callback_whitelist" | "callbacks_whitelist",
                ) => {
                    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        match name.rsplit('.').next().unwrap_or(name) {
                            "profile_tasks" | "profile_roles" => cfg.profile_tasks = true,
                            // The recap always ends with the total time.
                            "timer" => {}
                            _ => cfg.ignored.push(format!("{}: callback {}", span, name)),
                        }
                    }
                }
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
                ("rmesos", "output_limit") => cfg.output_limit = Some(v),
                (s, k) => cfg.ignored.push(format!("{}: [{}] {}", span, s, k)),
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_path_env_then_cfg_relative_to_its_file_then_defaults() {
        let dirs = Dirs {
            home: "/home/u".into(),
            ansible_home: "/home/u/.ansible".into(),
        };
        let cfg = vec!["roles".to_string(), "~/shared".to_string()];
        let dflt = ["{home}/roles", "/etc/ansible/roles"];
        let got = search_path(Some("a:/b:~/c"), &cfg, Some(Path::new("/p")), &dflt, &dirs);
        assert_eq!(got, [PathBuf::from("a"), "/b".into(), "/home/u/c".into()]);
        let got = search_path(None, &cfg, Some(Path::new("/p")), &dflt, &dirs);
        assert_eq!(got, [PathBuf::from("/p/roles"), "/home/u/shared".into()]);
        let got = search_path(None, &[], None, &dflt, &dirs);
        assert_eq!(
            got,
            [
                PathBuf::from("/home/u/.ansible/roles"),
                "/etc/ansible/roles".into()
            ]
        );
    }
}
