//! Building an [`SshTarget`] the way Ansible's ssh plugin and OpenSSH would: connection
//! variables, `ssh_args`/`ansible_ssh_common_args`/`ansible_ssh_extra_args` (parsed like a
//! command line) and `~/.ssh/config` Host blocks, where the first value given for an option
//! wins (OpenSSH's rule), so Ansible's variables beat the config file.
//!
//! Why not a crate's parser: russh reads no ssh_config; `ssh2-config` and `ssh_config` resolve
//! one file on its own into their own settings, while what we need is OpenSSH's single ordered
//! list of options (Ansible's `-o`/`-i`/`-J` first, then `Host`/`Match` blocks and `Include`d
//! files), first value wins, with `%h`/`%p`/`%r` tokens and an `ssh -W` ProxyCommand mapped to
//! a jump host. That list is the heart of this file; what the crates do is its smallest part.

use super::SshTarget;
use super::known_hosts::{self, HostKeyMode, KnownHostsPolicy};
use crate::connection::{ConnError, SplitError, sh_split};
use crate::vocab;
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connection settings from the command line and ansible.cfg.
#[derive(Clone, Debug)]
pub struct SshDefaults {
    /// `remote_user` / `-u`.
    pub user: Option<String>,
    /// `private_key_file` / `--private-key`.
    pub private_key: Option<PathBuf>,
    /// `host_key_checking` (default true).
    pub host_key_checking: bool,
    /// `[ssh_connection] ssh_args`.
    pub ssh_args: Option<String>,
    /// `timeout`: connect timeout.
    pub timeout: Duration,
    /// The OpenSSH client config to read; `None` = `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
}

impl Default for SshDefaults {
    fn default() -> Self {
        SshDefaults {
            user: None,
            private_key: None,
            host_key_checking: true,
            ssh_args: None,
            timeout: Duration::from_secs(10),
            ssh_config: None,
        }
    }
}

/// Keepalive every 15 s, give up after 3 unanswered: a dead host is noticed within ~1 min.
const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
const DEFAULT_KEEPALIVE_MAX: usize = 3;
const DEFAULT_CONNECT_RETRIES: u32 = 3;
/// ProxyJump chains longer than this are surely a loop in ~/.ssh/config.
const MAX_JUMP_DEPTH: usize = 8;

/// Why a host's SSH settings (variables, ssh arguments, ~/.ssh/config) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("{option} {value:?} is not a number{unit}")]
    NotANumber {
        option: &'static str,
        value: String,
        /// " of seconds" where the unit helps.
        unit: &'static str,
    },
    #[error("{0:?} is not a boolean")]
    NotABoolean(String),
    #[error("StrictHostKeyChecking={0} is not yes/no/accept-new/ask")]
    HostKeyChecking(String),
    #[error("ProxyJump chain deeper than {0} hops")]
    JumpTooDeep(usize),
    #[error("ProxyJump host {0:?} has an unclosed '['")]
    UnclosedBracket(String),
    #[error("ProxyJump entry {0:?} has no host")]
    JumpWithoutHost(String),
    #[error(
        "ProxyCommand {0:?} is not supported: only `ssh -W %h:%p [user@]bastion` maps to a \
         jump host; use ProxyJump"
    )]
    ProxyCommand(String),
    /// `ssh -W` / `ssh option -o` given without its value.
    #[error("ssh {0} needs a value")]
    MissingValue(String),
    #[error("unexpected argument {0:?}: only ssh options may appear here")]
    NotAnOption(String),
    #[error(
        "ssh option {0} is not supported by rmesos's built-in SSH client \
         (forwarding, control sockets and the like have no equivalent)"
    )]
    Unsupported(String),
    #[error("ssh option {0:?} has no value")]
    NoValue(String),
    #[error("{0}: Include nested too deeply")]
    IncludeDepth(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A line of an ssh_config file that cannot be read.
    #[error("{file}:{line}: {msg}")]
    ConfigLine {
        file: String,
        line: usize,
        msg: String,
    },
    #[error(transparent)]
    Split(#[from] SplitError),
}

fn not_a_number(option: &'static str, value: &str) -> SettingError {
    SettingError::NotANumber {
        option,
        value: value.to_string(),
        unit: "",
    }
}

/// Options in the order they were given; the first value of a single-valued option wins.
#[derive(Default, Clone, Debug)]
struct Opts {
    entries: Vec<(String, String)>,
}

impl Opts {
    fn push(&mut self, key: &str, value: impl Into<String>) {
        self.entries.push((key.to_ascii_lowercase(), value.into()));
    }
    fn first(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Options rmesos acts on; any other `-o` option is kept in [`SshTarget::extra`].
const HONOURED: &[&str] = &[
    "hostname",
    "port",
    "user",
    "identityfile",
    "identitiesonly",
    "identityagent",
    "proxyjump",
    "proxycommand",
    "userknownhostsfile",
    "globalknownhostsfile",
    "stricthostkeychecking",
    "connecttimeout",
    "connectionattempts",
    "serveraliveinterval",
    "serveralivecountmax",
    "passwordauthentication",
];

/// Flags without an argument that change nothing for rmesos (compression, verbosity, tty...).
const HARMLESS_FLAGS: &[char] = &[
    'C', 'q', 'v', '4', '6', 'T', 't', 'A', 'a', 'x', 'X', 'n', 'k', 'K', 'g', 'Y', 'y',
];
/// Flags with an argument that select ciphers, MACs, escape chars: recorded, not acted on.
const HARMLESS_WITH_ARG: &[char] = &['c', 'm', 'e'];

/// Builds the target for one host from its (already templated) connection variables.
pub fn from_vars(
    inventory_hostname: &str,
    vars: &IndexMap<String, Value>,
    defaults: &SshDefaults,
) -> Result<SshTarget, ConnError> {
    let invalid = |what: &str, e: SettingError| ConnError::Unreachable(format!("{}: {}", what, e));
    let mut opts = Opts::default();
    let mut extra = Vec::new();
    let mut config_file = defaults.ssh_config.clone();
    if let Some(args) = &defaults.ssh_args {
        parse_ssh_args(args, &mut opts, &mut extra, &mut config_file)
            .map_err(|e| invalid("ssh_args", e))?;
    }
    // Ansible puts its own -o options after ssh_args and before the common/extra args.
    if let Some(port) = var(vars, &["ansible_port", "ansible_ssh_port"]) {
        opts.push("port", port);
    }
    if let Some(key) = var(
        vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    ) {
        opts.push("identityfile", key);
    } else if let Some(key) = &defaults.private_key {
        opts.push("identityfile", key.to_string_lossy());
    }
    if let Some(user) = var(vars, &["ansible_user", "ansible_ssh_user"]) {
        opts.push("user", user);
    } else if let Some(user) = &defaults.user {
        opts.push("user", user.clone());
    }
    match var(vars, &["ansible_ssh_timeout", "ansible_timeout"]) {
        Some(t) => opts.push("connecttimeout", t),
        None => opts.push("connecttimeout", defaults.timeout.as_secs().to_string()),
    }
    let checking = match var(
        vars,
        &["ansible_host_key_checking", "ansible_ssh_host_key_checking"],
    ) {
        Some(v) => vocab::boolean(&v).ok_or_else(|| {
            invalid(
                "ansible_host_key_checking",
                SettingError::NotABoolean(v.clone()),
            )
        })?,
        None => defaults.host_key_checking,
    };
    if !checking {
        opts.push("stricthostkeychecking", "no");
    }
    for name in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(args) = var(vars, &[name]) {
            parse_ssh_args(&args, &mut opts, &mut extra, &mut config_file)
                .map_err(|e| invalid(name, e))?;
        }
    }
    let host = var(vars, &["ansible_host", "ansible_ssh_host"])
        .unwrap_or_else(|| inventory_hostname.to_string());
    let config_file = config_file.unwrap_or_else(|| home_dir().join(".ssh/config"));
    let mut target =
        resolve(&host, opts, &config_file, 0).map_err(|e| invalid("ssh settings", e))?;
    target.password = var(
        vars,
        &[
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ],
    );
    let persistent_shell = match var(vars, &["rmesos_persistent_shell"]) {
        Some(v) => vocab::boolean(&v).ok_or_else(|| {
            invalid(
                "rmesos_persistent_shell",
                SettingError::NotABoolean(v.clone()),
            )
        })?,
        None => true,
    };
    target.persistent_shell = persistent_shell;
    target.extra = extra;
    Ok(target)
}

/// Applies ~/.ssh/config to the options given for `host` and builds the target (and its jumps).
fn resolve(
    host: &str,
    mut opts: Opts,
    config_file: &Path,
    depth: usize,
) -> Result<SshTarget, SettingError> {
    if depth > MAX_JUMP_DEPTH {
        return Err(SettingError::JumpTooDeep(MAX_JUMP_DEPTH));
    }
    read_ssh_config(config_file, host, &mut opts, 0)?;
    let hostname = opts.first("hostname").unwrap_or(host).to_string();
    let port = match opts.first("port") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| not_a_number("port", p))?,
        None => 22,
    };
    let user = opts
        .first("user")
        .map(str::to_string)
        .unwrap_or_else(crate::connection::local::current_user);
    let tokens = Tokens {
        host: &hostname,
        original: host,
        user: &user,
        port,
    };
    let identity_files: Vec<PathBuf> = opts
        .all("identityfile")
        .filter(|f| !f.eq_ignore_ascii_case("none"))
        .map(|f| PathBuf::from(tokens.expand(f)))
        .collect();
    let identities_only = opts
        .first("identitiesonly")
        .map(|v| ssh_flag(v).unwrap_or(false))
        .unwrap_or(false);
    let identity_agent = match opts.first("identityagent") {
        None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some(v) => match v.strip_prefix('$') {
            Some(env) => std::env::var_os(env).map(PathBuf::from),
            // OpenSSH reads this name as "use the environment variable".
            None if v == "SSH_AUTH_SOCK" => std::env::var_os(v).map(PathBuf::from),
            None => Some(PathBuf::from(tokens.expand(v))),
        },
    };
    let mode = match opts
        .first("stricthostkeychecking")
        .map(str::to_ascii_lowercase)
    {
        None => HostKeyMode::Strict,
        Some(v) => match v.as_str() {
            "yes" | "ask" | "true" => HostKeyMode::Strict,
            "accept-new" => HostKeyMode::AcceptNew,
            "no" | "off" | "false" => HostKeyMode::Off,
            _ => {
                return Err(SettingError::HostKeyChecking(v.clone()));
            }
        },
    };
    let user_files = match opts.first("userknownhostsfile") {
        Some(v) => split_paths(v, &tokens),
        None => known_hosts::user_default_files(),
    };
    let global_files = match opts.first("globalknownhostsfile") {
        Some(v) => split_paths(v, &tokens),
        None => known_hosts::global_default_files(),
    };
    let connect_timeout =
        match opts.first("connecttimeout") {
            Some(v) => Duration::from_secs(v.trim().parse::<u64>().map_err(|_| {
                SettingError::NotANumber {
                    option: "ConnectTimeout",
                    value: v.to_string(),
                    unit: " of seconds",
                }
            })?),
            None => Duration::from_secs(10),
        };
    let connect_retries = match opts.first("connectionattempts") {
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|_| not_a_number("ConnectionAttempts", v))?
            .saturating_sub(1),
        None => DEFAULT_CONNECT_RETRIES,
    };
    let keepalive = match opts.first("serveraliveinterval") {
        Some("0") => None,
        Some(v) => Some(Duration::from_secs(
            v.trim()
                .parse::<u64>()
                .map_err(|_| not_a_number("ServerAliveInterval", v))?,
        )),
        None => Some(DEFAULT_KEEPALIVE),
    };
    let keepalive_max = match opts.first("serveralivecountmax") {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| not_a_number("ServerAliveCountMax", v))?,
        None => DEFAULT_KEEPALIVE_MAX,
    };
    let password_auth = opts
        .first("passwordauthentication")
        .map(|v| ssh_flag(v).unwrap_or(true))
        .unwrap_or(true);

    let mut target = SshTarget {
        host: hostname.clone(),
        port,
        user,
        identity_files,
        identities_only,
        identity_agent,
        password: None,
        password_auth,
        key_passphrase: None,
        proxy_jump: Vec::new(),
        known_hosts: KnownHostsPolicy {
            files: user_files.into_iter().chain(global_files).collect(),
            mode,
        },
        connect_timeout,
        connect_retries,
        keepalive,
        keepalive_max,
        persistent_shell: true,
        extra: Vec::new(),
        notes: None,
    };

    let jumps = match (opts.first("proxyjump"), opts.first("proxycommand")) {
        (Some(j), _) if !j.eq_ignore_ascii_case("none") => parse_jump_list(j)?
            .into_iter()
            .map(|spec| (spec, Opts::default()))
            .collect(),
        (_, Some(cmd)) if !cmd.eq_ignore_ascii_case("none") => vec![proxy_command_jump(cmd)?],
        _ => Vec::new(),
    };
    for (spec, mut jump_opts) in jumps {
        if let Some(u) = &spec.user {
            jump_opts.push("user", u.clone());
        }
        if let Some(p) = spec.port {
            jump_opts.push("port", p.to_string());
        }
        let mut hop = resolve(&spec.host, jump_opts, config_file, depth + 1)?;
        // Convenience beyond OpenSSH: a bastion may also be reached with the target's keys,
        // and it is checked against the same known_hosts policy. Never its password.
        for f in &target.identity_files {
            if !hop.identity_files.contains(f) {
                hop.identity_files.push(f.clone());
            }
        }
        hop.known_hosts = target.known_hosts.clone();
        hop.connect_timeout = target.connect_timeout;
        target.proxy_jump.append(&mut hop.proxy_jump);
        target.proxy_jump.push(hop);
    }
    Ok(target)
}

fn split_paths(v: &str, tokens: &Tokens) -> Vec<PathBuf> {
    v.split_whitespace()
        .filter(|f| !f.eq_ignore_ascii_case("none"))
        .map(|f| PathBuf::from(tokens.expand(f)))
        .collect()
}

/// One ProxyJump hop as written: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
#[derive(Debug, PartialEq, Eq)]
struct JumpSpec {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_jump_list(value: &str) -> Result<Vec<JumpSpec>, SettingError> {
    value.split(',').map(|s| parse_jump(s.trim())).collect()
}

fn parse_jump(s: &str) -> Result<JumpSpec, SettingError> {
    let s = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, hostport) = match s.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, s),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| SettingError::UnclosedBracket(s.to_string()))?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(SettingError::JumpWithoutHost(s.to_string()));
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| not_a_number("ProxyJump port", p))
        })
        .transpose()?;
    Ok(JumpSpec {
        user,
        host: host.to_string(),
        port,
    })
}

/// `ProxyCommand="ssh -W %h:%p [opts] [user@]bastion"` is a jump through `bastion`; any
/// other proxy command cannot be run by an in-process client.
fn proxy_command_jump(cmd: &str) -> Result<(JumpSpec, Opts), SettingError> {
    let unsupported = || SettingError::ProxyCommand(cmd.to_string());
    let words = sh_split(cmd)?;
    let Some((program, args)) = words.split_first() else {
        return Err(unsupported());
    };
    if Path::new(program).file_name().and_then(|f| f.to_str()) != Some("ssh") {
        return Err(unsupported());
    }
    let mut opts = Opts::default();
    let mut positional = Vec::new();
    let mut forward = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let mut take = |flag: &str| -> Result<String, SettingError> {
            if a.len() > 2 {
                Ok(a[2..].to_string())
            } else {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| SettingError::MissingValue(flag.to_string()))
            }
        };
        match a.as_str() {
            s if s.starts_with("-W") => forward = Some(take("-W")?),
            s if s.starts_with("-p") => opts.push("port", take("-p")?),
            s if s.starts_with("-l") => opts.push("user", take("-l")?),
            s if s.starts_with("-i") => opts.push("identityfile", take("-i")?),
            s if s.starts_with("-o") => {
                let (k, v) = split_option(&take("-o")?)?;
                opts.push(&k, v);
            }
            s if s.starts_with('-')
                && s.len() == 2
                && s[1..].chars().all(|c| HARMLESS_FLAGS.contains(&c)) => {}
            s if s.starts_with('-') => return Err(unsupported()),
            _ => positional.push(a.clone()),
        }
        i += 1;
    }
    let forward_ok = matches!(forward.as_deref(), Some("%h:%p") | Some("[%h]:%p"));
    if !forward_ok || positional.len() != 1 {
        return Err(unsupported());
    }
    Ok((parse_jump(&positional[0])?, opts))
}

/// Whether rmesos can honour an ssh command-line fragment (`--ssh-common-args`, `ssh_args`...):
/// the error names the first option it cannot.
pub fn check_ssh_args(args: &str) -> Result<(), SettingError> {
    parse_ssh_args(args, &mut Opts::default(), &mut Vec::new(), &mut None)
}

/// Parses an ssh command-line fragment (Ansible splits it like a POSIX shell).
fn parse_ssh_args(
    args: &str,
    opts: &mut Opts,
    extra: &mut Vec<(String, String)>,
    config_file: &mut Option<PathBuf>,
) -> Result<(), SettingError> {
    let words = sh_split(args)?;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let Some(flag) = w.strip_prefix('-').and_then(|f| f.chars().next()) else {
            return Err(SettingError::NotAnOption(w.clone()));
        };
        let attached = &w[2..];
        let mut value = || -> Result<String, SettingError> {
            if !attached.is_empty() {
                Ok(attached.to_string())
            } else {
                i += 1;
                words
                    .get(i)
                    .cloned()
                    .ok_or_else(|| SettingError::MissingValue(format!("option -{}", flag)))
            }
        };
        match flag {
            'o' => {
                let (k, v) = split_option(&value()?)?;
                if HONOURED.contains(&k.as_str()) {
                    opts.push(&k, v);
                } else {
                    extra.push((k, v));
                }
            }
            'i' => opts.push("identityfile", value()?),
            'p' => opts.push("port", value()?),
            'l' => opts.push("user", value()?),
            'J' => opts.push("proxyjump", value()?),
            'F' => *config_file = Some(PathBuf::from(value()?)),
            c if HARMLESS_WITH_ARG.contains(&c) => {
                let v = value()?;
                extra.push((format!("-{}", c), v));
            }
            _ if w.len() >= 2 && w[1..].chars().all(|c| HARMLESS_FLAGS.contains(&c)) => {
                extra.push((w.clone(), String::new()));
            }
            _ => {
                return Err(SettingError::Unsupported(w.clone()));
            }
        }
        i += 1;
    }
    Ok(())
}

/// `Key=Value` or `Key Value` (as in `-o "Key Value"`), key lowercased.
fn split_option(s: &str) -> Result<(String, String), SettingError> {
    let s = s.trim();
    let idx = s
        .find(|c: char| c == '=' || c.is_whitespace())
        .ok_or_else(|| SettingError::NoValue(s.to_string()))?;
    let key = s[..idx].to_ascii_lowercase();
    let value = s[idx..]
        .trim_start_matches(|c: char| c.is_whitespace())
        .trim_start_matches('=')
        .trim();
    Ok((key, value.to_string()))
}

/// Reads the Host/Match blocks of an OpenSSH client config that apply to `host` into `opts`.
/// `Match` supports `all` and `host`; blocks with other criteria are skipped.
fn read_ssh_config(
    path: &Path,
    host: &str,
    opts: &mut Opts,
    depth: usize,
) -> Result<(), SettingError> {
    if depth > 16 {
        return Err(SettingError::IncludeDepth(path.display().to_string()));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SettingError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let mut active = true;
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let split = line
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(line.len());
        let keyword = line[..split].to_ascii_lowercase();
        let rest = line[split..]
            .trim_start()
            .strip_prefix('=')
            .unwrap_or(line[split..].trim_start())
            .trim();
        let at_line = |msg: String| SettingError::ConfigLine {
            file: path.display().to_string(),
            line: idx + 1,
            msg,
        };
        let args = sh_split(rest).map_err(|e| at_line(e.to_string()))?;
        match keyword.as_str() {
            "host" => active = host_patterns_match(&args, host),
            "match" => active = match_block_applies(&args, host),
            "include" if active => {
                for pattern in &args {
                    let expanded = expand_tilde(pattern);
                    let full = if Path::new(&expanded).is_absolute() {
                        PathBuf::from(expanded)
                    } else {
                        home_dir().join(".ssh").join(expanded)
                    };
                    let mut found: Vec<PathBuf> = glob::glob(&full.to_string_lossy())
                        .map_err(|e| at_line(e.to_string()))?
                        .filter_map(Result::ok)
                        .collect();
                    found.sort();
                    for f in found {
                        read_ssh_config(&f, host, opts, depth + 1)?;
                    }
                }
            }
            _ if active => {
                // Multi-valued keywords keep every value (e.g. IdentityFile); others take their
                // first argument, or the whole rest for commands.
                let value = if keyword == "proxycommand" {
                    rest.to_string()
                } else if keyword == "userknownhostsfile" || keyword == "globalknownhostsfile" {
                    args.join(" ")
                } else {
                    args.first().cloned().unwrap_or_default()
                };
                opts.push(&keyword, value);
            }
            _ => {}
        }
    }
    Ok(())
}

fn host_patterns_match(patterns: &[String], host: &str) -> bool {
    let mut matched = false;
    for p in patterns.iter().flat_map(|p| p.split(',')) {
        if let Some(neg) = p.strip_prefix('!') {
            if glob_match(neg, host) {
                return false;
            }
        } else if glob_match(p, host) {
            matched = true;
        }
    }
    matched
}

fn match_block_applies(args: &[String], host: &str) -> bool {
    let mut it = args.iter();
    let mut applies = true;
    while let Some(criterion) = it.next() {
        match criterion.to_ascii_lowercase().as_str() {
            "all" => {}
            "host" | "originalhost" => match it.next() {
                Some(list) => applies &= host_patterns_match(std::slice::from_ref(list), host),
                None => return false,
            },
            _ => return false,
        }
    }
    applies
}

/// OpenSSH's pattern language: `*` any run, `?` any one character.
pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The `%` tokens OpenSSH expands in file names.
struct Tokens<'a> {
    host: &'a str,
    original: &'a str,
    user: &'a str,
    port: u16,
}

impl Tokens<'_> {
    fn expand(&self, s: &str) -> String {
        let s = expand_tilde(s);
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('d') => out.push_str(&home_dir().to_string_lossy()),
                Some('h') => out.push_str(self.host),
                Some('n') => out.push_str(self.original),
                Some('r') => out.push_str(self.user),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('u') => out.push_str(&crate::connection::local::current_user()),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }
}

fn expand_tilde(s: &str) -> String {
    match s.strip_prefix("~/") {
        Some(rest) => home_dir().join(rest).to_string_lossy().into_owned(),
        None if s == "~" => home_dir().to_string_lossy().into_owned(),
        None => s.to_string(),
    }
}

/// The controller user's home directory ($HOME, else the passwd entry).
pub(super) fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy out at once.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_dir.is_null() {
            let dir = std::ffi::CStr::from_ptr((*pw).pw_dir);
            return PathBuf::from(dir.to_string_lossy().into_owned());
        }
    }
    PathBuf::from("/")
}

/// The first of `names` that is set to something other than none/undefined, as text.
fn var(vars: &IndexMap<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let v = vars.get(*n)?;
        if v.is_undefined() || v.is_none() {
            return None;
        }
        Some(match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        })
    })
}

/// A yes/no keyword of ssh_config (`IdentitiesOnly`, `PasswordAuthentication`), as OpenSSH
/// reads it (readconf.c's flag table): `yes`/`true` or `no`/`false`, in any case. Ansible's
/// variables (`ansible_host_key_checking`, ...) are read with [`vocab::boolean`] instead: this
/// is ssh's vocabulary, not Ansible's.
fn ssh_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn defaults_with_config(dir: &Path, config: &str) -> SshDefaults {
        let f = dir.join("config");
        std::fs::write(&f, config).unwrap();
        SshDefaults {
            ssh_config: Some(f),
            ..SshDefaults::default()
        }
    }

    #[test]
    fn vars_beat_ssh_config_and_config_fills_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let defaults = defaults_with_config(
            d.path(),
            "Host web*\n  HostName 10.1.1.1\n  User cfguser\n  Port 2200\n  IdentityFile ~/.ssh/web_key\n\
             Host *\n  User fallback\n  IdentityFile /k/%r@%h\n",
        );
        let v = vars(&[
            ("ansible_host", Value::from("web1")),
            ("ansible_user", Value::from("deploy")),
            ("ansible_ssh_private_key_file", Value::from("/keys/id")),
        ]);
        let t = from_vars("web1", &v, &defaults).unwrap();
        assert_eq!(t.host, "10.1.1.1");
        assert_eq!(t.user, "deploy");
        assert_eq!(t.port, 2200);
        assert_eq!(t.identity_files[0], PathBuf::from("/keys/id"));
        assert!(t.identity_files[1].ends_with(".ssh/web_key"));
        assert_eq!(t.identity_files[2], PathBuf::from("/k/deploy@10.1.1.1"));
        assert_eq!(t.known_hosts.mode, HostKeyMode::Strict);
    }

    #[test]
    fn numeric_port_and_legacy_names() {
        let d = tempfile::tempdir().unwrap();
        let v = vars(&[
            ("ansible_ssh_host", Value::from("127.0.0.9")),
            ("ansible_ssh_port", Value::from(2222)),
            ("ansible_ssh_user", Value::from("old")),
            ("ansible_ssh_pass", Value::from("pw")),
        ]);
        let defaults = SshDefaults {
            timeout: Duration::from_secs(3),
            ..defaults_with_config(d.path(), "")
        };
        let t = from_vars("h", &v, &defaults).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("127.0.0.9", 2222, "old")
        );
        assert_eq!(t.connect_timeout, Duration::from_secs(3));
        assert_eq!(t.password.as_deref(), Some("pw"));
        assert!(
            !format!("{:?}", t).contains("pw\""),
            "Debug must hide the password"
        );
    }

    #[test]
    fn common_args_options_and_jumps() {
        let d = tempfile::tempdir().unwrap();
        let defaults = SshDefaults {
            ssh_args: Some("-C -o ControlMaster=auto -o ControlPersist=60s".into()),
            ..defaults_with_config(d.path(), "Host bastion2\n  User jumper\n  Port 2022\n")
        };
        let v = vars(&[
            (
                "ansible_ssh_common_args",
                Value::from(
                    "-o ProxyJump=ops@bastion1:2201,bastion2 -o 'UserKnownHostsFile /tmp/kh1 /tmp/kh2' \
                     -o StrictHostKeyChecking=accept-new -o IdentitiesOnly=yes",
                ),
            ),
            ("ansible_ssh_extra_args", Value::from("-p 2299 -i /k/extra")),
        ]);
        let t = from_vars("target", &v, &defaults).unwrap();
        assert_eq!(t.port, 2299);
        assert!(t.identities_only);
        assert_eq!(t.known_hosts.mode, HostKeyMode::AcceptNew);
        assert_eq!(
            &t.known_hosts.files[..2],
            &[PathBuf::from("/tmp/kh1"), PathBuf::from("/tmp/kh2")]
        );
        let hops: Vec<(String, String, u16)> = t
            .proxy_jump
            .iter()
            .map(|h| (h.user.clone(), h.host.clone(), h.port))
            .collect();
        assert_eq!(
            hops,
            vec![
                ("ops".into(), "bastion1".into(), 2201),
                ("jumper".into(), "bastion2".into(), 2022)
            ]
        );
        assert!(
            t.proxy_jump[0]
                .identity_files
                .contains(&PathBuf::from("/k/extra"))
        );
        assert!(
            t.extra
                .iter()
                .any(|(k, v)| k == "controlmaster" && v == "auto")
        );
    }

    #[test]
    fn proxy_command_with_ssh_w_is_a_jump() {
        let d = tempfile::tempdir().unwrap();
        let v = vars(&[(
            "ansible_ssh_common_args",
            Value::from(r#"-o ProxyCommand="ssh -q -W %h:%p -p 2200 admin@gw""#),
        )]);
        let t = from_vars("t", &v, &defaults_with_config(d.path(), "")).unwrap();
        assert_eq!(t.proxy_jump.len(), 1);
        assert_eq!(
            (
                t.proxy_jump[0].user.as_str(),
                t.proxy_jump[0].host.as_str(),
                t.proxy_jump[0].port
            ),
            ("admin", "gw", 2200)
        );
        let v = vars(&[(
            "ansible_ssh_common_args",
            Value::from(r#"-o ProxyCommand="nc -X connect %h %p""#),
        )]);
        let err = from_vars("t", &v, &defaults_with_config(d.path(), "")).unwrap_err();
        assert!(err.to_string().contains("use ProxyJump"), "{err}");
    }

    #[test]
    fn host_key_checking_off_and_unsupported_flag() {
        let d = tempfile::tempdir().unwrap();
        let defaults = SshDefaults {
            host_key_checking: false,
            ..defaults_with_config(d.path(), "")
        };
        let t = from_vars("h", &vars(&[]), &defaults).unwrap();
        assert_eq!(t.known_hosts.mode, HostKeyMode::Off);
        let v = vars(&[(
            "ansible_ssh_common_args",
            Value::from("-o IdentityAgent=none"),
        )]);
        assert_eq!(from_vars("h", &v, &defaults).unwrap().identity_agent, None);
        let v = vars(&[("ansible_ssh_extra_args", Value::from("-L 80:x:80"))]);
        let err = from_vars("h", &v, &defaults).unwrap_err();
        assert!(err.to_string().contains("-L"), "{err}");
    }

    #[test]
    fn match_host_and_negation() {
        let d = tempfile::tempdir().unwrap();
        let defaults = defaults_with_config(
            d.path(),
            "Host *.internal !db.internal\n  Port 2000\nMatch host db.*\n  Port 3000\n",
        );
        let port = |h: &str| from_vars(h, &vars(&[]), &defaults).unwrap().port;
        assert_eq!(port("web.internal"), 2000);
        assert_eq!(port("db.internal"), 3000);
        assert_eq!(port("other"), 22);
    }

    #[test]
    fn sh_split_like_shlex() {
        assert_eq!(
            sh_split(r#"-o "A B" 'c d' e\ f "x\"y""#).unwrap(),
            vec!["-o", "A B", "c d", "e f", "x\"y"]
        );
        assert!(sh_split("'open").is_err());
    }

    #[test]
    fn glob() {
        assert!(glob_match("web*", "web12"));
        assert!(glob_match("w?b", "web"));
        assert!(!glob_match("web?", "web12"));
        assert!(glob_match("*", ""));
    }
}
