//! ansible.cfg: found as Ansible finds it (ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg,
//! /etc/ansible/ansible.cfg; the first that exists wins), keys compat.md lists; then the
//! `ANSIBLE_*` environment variables of the same settings ([`ENV`]), which win over the file
//! as in Ansible (the command line wins over both, in `options.rs`). A setting Ansible has and
//! rmesos does not act on is said loudly ([`REFUSED`]), whether it came from the file or the
//! environment; keys rmesos does not know at all are listed at `-v`.
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
    /// `[rmesos] output_limit`: how much of a command's output a task keeps.
    pub output_limit: Option<String>,
    /// `[defaults] remote_port`: the SSH port when a host sets none.
    pub remote_port: Option<u16>,
    /// `[defaults] transport`: the connection type when a host sets none (`-c`).
    pub transport: Option<String>,
    /// `[defaults] nocolor` / `ANSIBLE_NOCOLOR`.
    pub nocolor: Option<bool>,
    /// `[defaults] force_color` / `ANSIBLE_FORCE_COLOR`.
    pub force_color: Option<bool>,
    /// `[defaults] stdout_callback`.
    pub stdout_callback: Option<String>,
    /// `[defaults] callbacks_enabled` (or the older `callback_whitelist`).
    pub callbacks_enabled: Vec<String>,
    /// `[defaults] gathering`: implicit, explicit or smart.
    pub gathering: Option<String>,
    /// `[defaults] force_handlers`.
    pub force_handlers: Option<bool>,
    /// `[defaults] ask_pass` (`-k`).
    pub ask_pass: Option<bool>,
    /// `[privilege_escalation] become_ask_pass` (`-K`).
    pub become_ask_pass: Option<bool>,
    /// `[defaults] connection_password_file`.
    pub connection_password_file: Option<String>,
    /// `[defaults] become_password_file`.
    pub become_password_file: Option<String>,
    /// `[defaults] verbosity`: the `-v` count when none is given.
    pub verbosity: Option<u8>,
    /// `[diff] always`: `--diff` when not given.
    pub diff_always: Option<bool>,
    /// `[ssh_connection] ssh_common_args`.
    pub ssh_common_args: Option<String>,
    /// `[ssh_connection] ssh_extra_args`.
    pub ssh_extra_args: Option<String>,
    /// Keys rmesos does not know, for `-v` warnings.
    pub ignored: Vec<String>,
    /// Config files skipped while searching, settings rmesos refuses, and why (always shown).
    pub warnings: Vec<String>,
}

/// The environment variables of the settings rmesos has (Ansible's, and rmesos's own
/// `RMESOS_OUTPUT_LIMIT`), and the ansible.cfg key each stands for (section, key): the value
/// goes through the same reader as the file's.
/// `ANSIBLE_CONFIG`, `ANSIBLE_ROLES_PATH`, `ANSIBLE_COLLECTIONS_PATH(S)`, `ANSIBLE_HOME`, and the
/// vault ones (`ANSIBLE_VAULT_PASSWORD_FILE`, `ANSIBLE_VAULT_IDENTITY_LIST`) are read where
/// they are used.
pub const ENV: &[(&str, &str, &str)] = &[
    ("RMESOS_OUTPUT_LIMIT", "rmesos", "output_limit"),
    ("ANSIBLE_INVENTORY", "defaults", "inventory"),
    ("ANSIBLE_HOSTS", "defaults", "inventory"),
    ("ANSIBLE_REMOTE_USER", "defaults", "remote_user"),
    ("ANSIBLE_REMOTE_PORT", "defaults", "remote_port"),
    ("ANSIBLE_PRIVATE_KEY_FILE", "defaults", "private_key_file"),
    ("ANSIBLE_FORKS", "defaults", "forks"),
    ("ANSIBLE_HOST_KEY_CHECKING", "defaults", "host_key_checking"),
    ("ANSIBLE_TIMEOUT", "defaults", "timeout"),
    ("ANSIBLE_TRANSPORT", "defaults", "transport"),
    ("ANSIBLE_NOCOLOR", "defaults", "nocolor"),
    ("ANSIBLE_FORCE_COLOR", "defaults", "force_color"),
    ("ANSIBLE_STDOUT_CALLBACK", "defaults", "stdout_callback"),
    ("ANSIBLE_CALLBACKS_ENABLED", "defaults", "callbacks_enabled"),
    (
        "ANSIBLE_CALLBACK_WHITELIST",
        "defaults",
        "callbacks_enabled",
    ),
    ("ANSIBLE_GATHERING", "defaults", "gathering"),
    ("ANSIBLE_FORCE_HANDLERS", "defaults", "force_handlers"),
    ("ANSIBLE_ASK_PASS", "defaults", "ask_pass"),
    (
        "ANSIBLE_CONNECTION_PASSWORD_FILE",
        "defaults",
        "connection_password_file",
    ),
    (
        "ANSIBLE_BECOME_PASSWORD_FILE",
        "defaults",
        "become_password_file",
    ),
    ("ANSIBLE_VERBOSITY", "defaults", "verbosity"),
    (
        "ANSIBLE_RETRY_FILES_ENABLED",
        "defaults",
        "retry_files_enabled",
    ),
    (
        "ANSIBLE_RETRY_FILES_SAVE_PATH",
        "defaults",
        "retry_files_save_path",
    ),
    ("ANSIBLE_PIPELINING", "defaults", "pipelining"),
    ("ANSIBLE_DIFF_ALWAYS", "diff", "always"),
    ("ANSIBLE_SSH_ARGS", "ssh_connection", "ssh_args"),
    (
        "ANSIBLE_SSH_COMMON_ARGS",
        "ssh_connection",
        "ssh_common_args",
    ),
    ("ANSIBLE_SSH_EXTRA_ARGS", "ssh_connection", "ssh_extra_args"),
    ("ANSIBLE_SSH_PIPELINING", "ssh_connection", "pipelining"),
    ("ANSIBLE_BECOME", "privilege_escalation", "become"),
    ("ANSIBLE_BECOME_USER", "privilege_escalation", "become_user"),
    (
        "ANSIBLE_BECOME_METHOD",
        "privilege_escalation",
        "become_method",
    ),
    (
        "ANSIBLE_BECOME_FLAGS",
        "privilege_escalation",
        "become_flags",
    ),
    (
        "ANSIBLE_BECOME_ASK_PASS",
        "privilege_escalation",
        "become_ask_pass",
    ),
    ("ANSIBLE_LOG_PATH", "defaults", "log_path"),
    ("ANSIBLE_STRATEGY", "defaults", "strategy"),
    ("ANSIBLE_LIBRARY", "defaults", "library"),
    ("ANSIBLE_MODULE_UTILS", "defaults", "module_utils"),
    ("ANSIBLE_CALLBACK_PLUGINS", "defaults", "callback_plugins"),
    ("ANSIBLE_FILTER_PLUGINS", "defaults", "filter_plugins"),
    ("ANSIBLE_LOOKUP_PLUGINS", "defaults", "lookup_plugins"),
    (
        "ANSIBLE_CONNECTION_PLUGINS",
        "defaults",
        "connection_plugins",
    ),
    (
        "ANSIBLE_PYTHON_INTERPRETER",
        "defaults",
        "interpreter_python",
    ),
    ("ANSIBLE_REMOTE_TMP", "defaults", "remote_tmp"),
    ("ANSIBLE_KEEP_REMOTE_FILES", "defaults", "keep_remote_files"),
    ("ANSIBLE_CACHE_PLUGIN", "defaults", "fact_caching"),
    (
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS",
        "defaults",
        "display_skipped_hosts",
    ),
    ("ANSIBLE_DISPLAY_OK_HOSTS", "defaults", "display_ok_hosts"),
    (
        "ANSIBLE_CALLBACK_RESULT_FORMAT",
        "defaults",
        "callback_result_format",
    ),
    ("ANSIBLE_SSH_CONTROL_PATH", "ssh_connection", "control_path"),
    ("ANSIBLE_SSH_EXECUTABLE", "ssh_connection", "ssh_executable"),
    ("ANSIBLE_SCP_IF_SSH", "ssh_connection", "scp_if_ssh"),
];

/// Settings Ansible has that rmesos does not act on, and why: said on every run that sets
/// them (the file or the environment), never silently dropped.
pub const REFUSED: &[(&str, &str, &str)] = &[
    (
        "defaults",
        "log_path",
        "rmesos writes no log file; redirect its output (--output json for a machine-readable one)",
    ),
    (
        "defaults",
        "strategy",
        "set `strategy:` on the play (linear and free are supported)",
    ),
    (
        "defaults",
        "library",
        "Python modules cannot run: rmesos modules are built in (rmesos doc lists them)",
    ),
    (
        "defaults",
        "module_utils",
        "Python modules cannot run: rmesos modules are built in",
    ),
    (
        "defaults",
        "callback_plugins",
        "Python callback plugins cannot run; use --output json",
    ),
    (
        "defaults",
        "filter_plugins",
        "Python filter plugins cannot run; the built-in filters are listed in docs/compat.md",
    ),
    (
        "defaults",
        "lookup_plugins",
        "Python lookup plugins cannot run",
    ),
    (
        "defaults",
        "connection_plugins",
        "only the ssh and local connections exist",
    ),
    (
        "defaults",
        "interpreter_python",
        "no Python runs on the hosts",
    ),
    (
        "defaults",
        "remote_tmp",
        "no temporary files are made on the hosts (one shell script per task)",
    ),
    (
        "defaults",
        "keep_remote_files",
        "no files are copied to the hosts to run modules",
    ),
    (
        "defaults",
        "fact_caching",
        "facts are not cached between runs",
    ),
    (
        "defaults",
        "display_skipped_hosts",
        "the human output always shows skipped hosts; --output json to filter",
    ),
    (
        "defaults",
        "display_ok_hosts",
        "the human output always shows ok hosts; --output json to filter",
    ),
    (
        "defaults",
        "callback_result_format",
        "the human output has one format; --output json for another",
    ),
    (
        "ssh_connection",
        "control_path",
        "rmesos keeps one SSH connection per host itself (no ControlMaster)",
    ),
    (
        "ssh_connection",
        "ssh_executable",
        "rmesos has its own SSH client (no ssh binary runs)",
    ),
    (
        "ssh_connection",
        "scp_if_ssh",
        "files travel inside the SSH session (no scp or sftp)",
    ),
    (
        "ssh_connection",
        "transfer_method",
        "files travel inside the SSH session (no scp or sftp)",
    ),
];

/// Callbacks `stdout_callback` may name that the human output stands for.
const HUMAN_CALLBACKS: &[&str] = &[
    "default",
    "ansible.builtin.default",
    "yaml",
    "community.general.yaml",
    "ansible.builtin.minimal",
    "minimal",
];

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
        for w in cfg.warnings.iter().chain(&cfg.callbacks().1) {
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
            warnings.append(&mut cfg.warnings);
            cfg.warnings = warnings;
            cfg.apply_env(|n| std::env::var(n).ok())?;
            return Ok(cfg);
        }
        let mut cfg = AnsibleCfg {
            warnings,
            ..AnsibleCfg::default()
        };
        cfg.apply_env(|n| std::env::var(n).ok())?;
        Ok(cfg)
    }

    /// How much of each stream of a command's output a task keeps: `RMESOS_OUTPUT_LIMIT`,
    /// else `[rmesos] output_limit`, else [`OutputLimit::DEFAULT`] (1 MiB from the start and
    /// 1 MiB from the end); `unlimited` keeps everything.
    pub fn output_limit(&self) -> Result<Option<OutputLimit>, BadOutputLimit> {
        match &self.output_limit {
            Some(v) => OutputLimit::parse(v),
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
            cfg.set(&section, k, v, &span)?;
        }
        Ok(cfg)
    }
}

impl AnsibleCfg {
    /// The setting `[section] key = v` (from the file, or from an environment variable standing
    /// for it), checked; `span` says where it came from.
    fn set(&mut self, section: &str, k: &str, v: String, span: &Span) -> LoadResult<()> {
        let bad_bool = || LoadError::new(span, format!("{} must be a boolean, got {:?}", k, v));
        let boolean = |v: &str| cfg_bool(v).ok_or_else(bad_bool);
        let number =
            |what: &str| LoadError::new(span, format!("{what} must be a number, got {v:?}"));
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        if let Some((_, _, why)) = REFUSED
            .iter()
            .find(|(s, key, _)| *s == section && *key == k)
        {
            self.warnings.push(format!(
                "{span}: [{section}] {k} is not supported by rmesos: {why}"
            ));
            return Ok(());
        }
        match (section, k) {
            ("defaults", "inventory" | "hostfile") => self.inventory = list(&v),
            ("defaults", "remote_user") => self.remote_user = Some(v),
            ("defaults", "remote_port") => {
                self.remote_port = Some(v.parse().map_err(|_| number("remote_port"))?)
            }
            ("defaults", "private_key_file") => self.private_key_file = Some(v),
            ("defaults", "forks") => self.forks = Some(v.parse().map_err(|_| number("forks"))?),
            ("defaults", "host_key_checking") => self.host_key_checking = Some(boolean(&v)?),
            ("defaults", "roles_path") => {
                self.roles_path = v.split(':').map(str::to_string).collect()
            }
            ("defaults", "collections_path" | "collections_paths") => {
                self.collections_path = v.split(':').map(str::to_string).collect()
            }
            ("defaults", "timeout") => {
                self.timeout = Some(v.parse().map_err(|_| number("timeout"))?)
            }
            ("defaults", "transport") => self.transport = Some(v),
            ("defaults", "nocolor") => self.nocolor = Some(boolean(&v)?),
            ("defaults", "force_color") => self.force_color = Some(boolean(&v)?),
            ("defaults", "stdout_callback") => self.stdout_callback = Some(v),
            ("defaults", "callbacks_enabled" | "callback_whitelist" | "callbacks_whitelist") => {
                self.callbacks_enabled = list(&v)
            }
            ("defaults", "gathering") => match v.as_str() {
                "implicit" | "explicit" | "smart" => self.gathering = Some(v),
                _ => {
                    return Err(LoadError::new(
                        span,
                        format!("gathering must be implicit, explicit or smart, got {v:?}"),
                    ));
                }
            },
            ("defaults", "force_handlers") => self.force_handlers = Some(boolean(&v)?),
            ("defaults", "ask_pass") => self.ask_pass = Some(boolean(&v)?),
            ("defaults", "connection_password_file") => self.connection_password_file = Some(v),
            ("defaults", "become_password_file") => self.become_password_file = Some(v),
            ("defaults", "verbosity") => {
                self.verbosity = Some(v.parse().map_err(|_| number("verbosity"))?)
            }
            ("defaults", "retry_files_enabled") => self.retry_files_enabled = Some(boolean(&v)?),
            ("defaults", "retry_files_save_path") => self.retry_files_save_path = Some(v),
            ("defaults", "vault_password_file") => self.vault_password_file = Some(v),
            ("defaults", "vault_identity_list") => self.vault_identity_list = Some(v),
            // A task's work is always one script in one exec: pipelining is what rmesos does.
            ("defaults" | "ssh_connection" | "connection", "pipelining") => {
                boolean(&v)?;
            }
            ("diff", "always") => self.diff_always = Some(boolean(&v)?),
            ("ssh_connection", "ssh_args") => self.ssh_args = Some(v),
            ("ssh_connection", "ssh_common_args") => self.ssh_common_args = Some(v),
            ("ssh_connection", "ssh_extra_args") => self.ssh_extra_args = Some(v),
            ("privilege_escalation", "become") => self.become_ = Some(boolean(&v)?),
            ("privilege_escalation", "become_user") => self.become_user = Some(v),
            ("privilege_escalation", "become_method") => self.become_method = Some(v),
            ("privilege_escalation", "become_flags") => self.become_flags = Some(v),
            ("privilege_escalation", "become_ask_pass") => {
                self.become_ask_pass = Some(boolean(&v)?)
            }
            ("rmesos", "output_limit") => self.output_limit = Some(v),
            (s, k) => self.ignored.push(format!("{}: [{}] {}", span, s, k)),
        }
        Ok(())
    }

    /// The `ANSIBLE_*` variables of [`ENV`] that `env` gives, over the file's values (an empty
    /// value counts as unset).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> LoadResult<()> {
        for (name, section, key) in ENV {
            if let Some(v) = env(name).filter(|v| !v.trim().is_empty()) {
                self.set(section, key, v.trim().to_string(), &Span::none(name))?;
            }
        }
        Ok(())
    }

    /// Whether `callbacks_enabled` names `profile_tasks` or `profile_roles`: `--profile`'s
    /// report after the recap.
    pub fn profile_tasks(&self) -> bool {
        self.callbacks_enabled
            .iter()
            .any(|c| matches!(short(c), "profile_tasks" | "profile_roles"))
    }

    /// What `stdout_callback` and `callbacks_enabled` ask for: JSON output for `json`, `None`
    /// for the human output (or none set), and a warning for each callback rmesos has not.
    pub fn callbacks(&self) -> (Option<super::options::Output>, Vec<String>) {
        use super::options::Output;
        let mut warnings = Vec::new();
        let output = match self.stdout_callback.as_deref() {
            None => None,
            Some("json" | "ansible.posix.json" | "ansible.builtin.json") => Some(Output::Json),
            Some(c) if HUMAN_CALLBACKS.contains(&c) => Some(Output::Human),
            Some(c) => {
                warnings.push(format!(
                    "stdout_callback {c:?} is not available in rmesos: using the human output \
                     (json and default/yaml/minimal are known; --output json for a machine-readable stream)"
                ));
                None
            }
        };
        for c in self
            .callbacks_enabled
            .iter()
            .filter(|c| !TIMING_CALLBACKS.contains(&short(c)))
        {
            warnings.push(format!(
                "callback {c:?} (callbacks_enabled) is not available in rmesos: Python callback \
                 plugins cannot run; --output json gives every event"
            ));
        }
        (output, warnings)
    }
}

/// The timing callbacks rmesos has built in: `--profile`'s report (profile_tasks,
/// profile_roles) and the recap's total time (timer).
const TIMING_CALLBACKS: &[&str] = &["profile_tasks", "profile_roles", "timer"];

/// A callback's name without its collection (`ansible.posix.profile_tasks` -> `profile_tasks`).
fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value `set` accepts for `key` (a boolean, a number or a word).
    fn accepted(section: &str, key: &str) -> AnsibleCfg {
        for v in ["true", "3", "explicit", "x"] {
            let mut cfg = AnsibleCfg::default();
            if cfg.set(section, key, v.into(), &Span::none("t")).is_ok() {
                return cfg;
            }
        }
        panic!("[{section}] {key} takes none of the sample values");
    }

    #[test]
    fn every_environment_variable_is_honoured_or_refused_never_ignored() {
        for (name, section, key) in ENV {
            let cfg = accepted(section, key);
            assert!(
                cfg.ignored.is_empty(),
                "{name}: [{section}] {key} is not read"
            );
            let refused = REFUSED.iter().any(|(s, k, _)| s == section && k == key);
            assert_eq!(cfg.warnings.len(), usize::from(refused), "{name}");
        }
    }

    #[test]
    fn environment_over_the_file_and_an_empty_variable_is_unset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ansible.cfg");
        std::fs::write(&path, "[defaults]\nforks = 3\nremote_user = file\n").unwrap();
        let mut cfg = AnsibleCfg::read(&path).unwrap();
        let env = |n: &str| match n {
            "ANSIBLE_FORKS" => Some("4".to_string()),
            "ANSIBLE_REMOTE_USER" => Some(" ".to_string()),
            "ANSIBLE_LOG_PATH" => Some("/var/log/a".to_string()),
            _ => None,
        };
        cfg.apply_env(env).unwrap();
        assert_eq!(cfg.forks, Some(4));
        assert_eq!(cfg.remote_user.as_deref(), Some("file"));
        assert_eq!(
            cfg.warnings,
            [
                "ANSIBLE_LOG_PATH: [defaults] log_path is not supported by rmesos: rmesos writes \
              no log file; redirect its output (--output json for a machine-readable one)"
            ]
        );
        let bad = |n: &str| (n == "ANSIBLE_GATHERING").then(|| "sometimes".to_string());
        let e = AnsibleCfg::default().apply_env(bad).unwrap_err();
        assert!(e.to_string().contains("ANSIBLE_GATHERING"), "{e}");
    }

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
