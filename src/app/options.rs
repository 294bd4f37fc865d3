//! The flags every play-running command shares, and the one value they become: [`Options`]
//! (flags win over the `ANSIBLE_*` environment, which wins over ansible.cfg, which wins over
//! the defaults, as in Ansible; `config.rs` merges the environment into the file's values).
//! Also the connection and become passwords (asked, or read from a file or from stdin), `-e`
//! values and `k=v` splitting.

use super::config::AnsibleCfg;
use super::error::AppError;
use super::session::{Hosts, Report};
use crate::error::{LoadError, LoadResult, Span};
use crate::exec::{BecomeDefaults, ConnDefaults, RunOptions, TagFilter};
use crate::inventory::Source;
use crate::plan::{InventoryPlace, LoadOptions};
use crate::yaml::{self, NodeKind};
use clap::{Args, ValueEnum};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::Path;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
}

#[derive(Args, Clone)]
pub struct CommonArgs {
    /// Inventory file, directory or comma-separated host list (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    /// Limit to hosts matching this pattern (or @file).
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Extra variables: k=v, JSON/YAML, or @file (repeatable).
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Don't change anything; report what would change.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show differences in changed files.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// How many hosts at once.
    #[arg(short = 'f', long = "forks")]
    pub forks: Option<usize>,
    /// Connect as this user.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Connection type for hosts that set none: ssh (default) or local (paramiko and smart
    /// mean ssh).
    #[arg(short = 'c', long = "connection")]
    pub connection: Option<String>,
    /// SSH options for every host that sets no ansible_ssh_common_args (e.g. "-o
    /// ProxyJump=bastion").
    #[arg(long = "ssh-common-args", allow_hyphen_values = true)]
    pub ssh_common_args: Option<String>,
    /// SSH options for every host that sets no ansible_ssh_extra_args.
    #[arg(long = "ssh-extra-args", allow_hyphen_values = true)]
    pub ssh_extra_args: Option<String>,
    /// Run operations with become (sudo).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    #[arg(long = "become-user")]
    pub become_user: Option<String>,
    #[arg(long = "become-method")]
    pub become_method: Option<String>,
    /// Ask for the become password (never put it on a command line); without a terminal, one
    /// line is read from stdin.
    #[arg(
        short = 'K',
        long = "ask-become-pass",
        conflicts_with = "become_password_file"
    )]
    pub ask_become_pass: bool,
    /// Read the become password from this file (an executable's output; - for stdin).
    #[arg(long = "become-password-file", visible_alias = "become-pass-file")]
    pub become_password_file: Option<String>,
    /// Ask for the SSH password; without a terminal, one line is read from stdin.
    #[arg(
        short = 'k',
        long = "ask-pass",
        conflicts_with = "connection_password_file"
    )]
    pub ask_pass: bool,
    /// Read the SSH password from this file (an executable's output; - for stdin).
    #[arg(long = "connection-password-file", visible_alias = "conn-pass-file")]
    pub connection_password_file: Option<String>,
    #[arg(long = "private-key", alias = "key-file")]
    pub private_key: Option<String>,
    /// Connection timeout in seconds.
    #[arg(short = 'T', long = "timeout")]
    pub timeout: Option<u64>,
    /// More output (-v results, -vv task locations).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Output format (default: human, or json when ansible.cfg's stdout_callback says so).
    #[arg(long = "output", value_enum)]
    pub output: Option<Output>,
    /// Never use colours.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// After the recap, list the slowest tasks and each role's total time (as Ansible's
    /// profile_tasks callback; also ansible.cfg `callbacks_enabled = profile_tasks`).
    #[arg(long = "profile")]
    pub profile: bool,
    /// Refresh the cache of dynamic inventory sources (aws_ec2).
    #[arg(long = "flush-cache")]
    pub flush_cache: bool,
    #[command(flatten)]
    pub vault: super::vault::VaultArgs,
}

/// What the common flags and ansible.cfg ask of a run, merged once.
pub struct Options {
    /// How to run: the executor's options.
    pub run: RunOptions,
    /// Where the hosts come from.
    pub hosts: Hosts,
    /// How events are shown.
    pub report: Report,
}

impl Options {
    /// Merges the flags with the environment and ansible.cfg; asks for the passwords the flags
    /// say to ask for. `adhoc`: report as the `ansible` command does (one line per host).
    pub fn new(c: &CommonArgs, cfg: &AnsibleCfg, adhoc: bool) -> Result<Options, AppError> {
        let (sources, implicit_only) = inventory_sources(&c.inventory, cfg);
        if implicit_only {
            eprintln!("[WARNING]: No inventory was parsed, only implicit localhost is available");
            eprintln!(
                "[WARNING]: provided hosts list is empty, only localhost is available. Note that \
                 the implicit localhost does not match 'all'"
            );
        }
        let mut run = run_options(c, cfg)?;
        // `inventory_dir` while loading playbooks: the first inventory file or directory.
        run.load.inventory = sources.iter().find_map(|s| match s {
            Source::Path(p) if p.exists() => Some(inventory_place(p)),
            _ => None,
        });
        // The ad hoc command keeps its one-line output whatever stdout_callback says (as
        // Ansible, which loads no stdout callback for `ansible`).
        let cfg_output = if adhoc { None } else { cfg.callbacks().0 };
        let format = c.output.or(cfg_output).unwrap_or(Output::Human);
        let no_color = c.no_color || cfg.nocolor == Some(true);
        let mut report = Report::new(format, no_color);
        if !no_color && cfg.force_color == Some(true) && std::env::var_os("NO_COLOR").is_none() {
            report.colour = true;
            // The styles check the terminal themselves: told once that colours are wanted.
            console::set_colors_enabled(true);
        }
        Ok(Options {
            run,
            hosts: Hosts {
                sources,
                flush_cache: c.flush_cache,
            },
            report: Report {
                verbosity: verbosity(c, cfg),
                adhoc,
                profile: c.profile || cfg.profile_tasks(),
                ..report
            },
        })
    }
}

/// `-v` count, else ansible.cfg's / ANSIBLE_VERBOSITY's `verbosity`.
pub fn verbosity(c: &CommonArgs, cfg: &AnsibleCfg) -> u8 {
    if c.verbose > 0 {
        c.verbose
    } else {
        cfg.verbosity.unwrap_or(0)
    }
}

/// `inventory_dir`/`inventory_file` of an inventory file or directory (absolute).
fn inventory_place(p: &Path) -> InventoryPlace {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = match abs.parent() {
        Some(parent) if !abs.is_dir() => parent.to_path_buf(),
        _ => abs.clone(),
    };
    InventoryPlace {
        dir: dir.display().to_string(),
        file: abs.display().to_string(),
    }
}

/// `-i` values, else ANSIBLE_INVENTORY / ansible.cfg's `inventory`, else `/etc/ansible/hosts`
/// when it exists; else no source at all, and `true`: only the implicit localhost is there (as
/// Ansible).
pub fn inventory_sources(given: &[String], cfg: &AnsibleCfg) -> (Vec<Source>, bool) {
    let mut srcs: Vec<String> = if given.is_empty() {
        cfg.inventory.clone()
    } else {
        given.to_vec()
    };
    let mut implicit_only = false;
    if srcs.is_empty() {
        if Path::new(DEFAULT_INVENTORY).exists() {
            srcs.push(DEFAULT_INVENTORY.into());
        } else {
            implicit_only = true;
        }
    }
    let srcs = srcs.into_iter().map(|s| Source::Path(s.into())).collect();
    (srcs, implicit_only)
}

const DEFAULT_INVENTORY: &str = "/etc/ansible/hosts";

/// A password typed by the operator: on the terminal without echo when there is one; else,
/// as Ansible (Python's getpass), one line from stdin, the prompt and a warning on stderr.
/// `None` when stdin ends before a line (Ansible then goes on without the password).
fn ask(prompt: &str) -> Result<Option<String>, AppError> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok();
    if tty {
        return rpassword::prompt_password(prompt)
            .map(Some)
            .map_err(AppError::Password);
    }
    eprint!("Warning: Password input may be echoed.\n{prompt}");
    let mut line = String::new();
    let n = std::io::stdin()
        .read_line(&mut line)
        .map_err(AppError::Password)?;
    eprintln!();
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// A password from a file (`--become-password-file`...), read as Ansible reads it: an
/// executable's output, else the file's content, line ends stripped; `-` reads stdin.
fn password_file(flag: &str, path: &str) -> Result<String, AppError> {
    let bad = |why: String| AppError::BadOption(format!("{flag} {path}: {why}"));
    let raw = if path == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| bad(e.to_string()))?;
        b
    } else {
        let p = Path::new(path);
        if !p.exists() {
            return Err(bad("the password file was not found".into()));
        }
        // The reader of vault password files: same rules (executable or text, line ends).
        crate::vault::Secret::from_source(crate::vault::DEFAULT_ID, p)
            .map_err(|e| match e {
                crate::vault::VaultError::Source(why) => bad(why),
                other => bad(other.to_string()),
            })?
            .password
    };
    let text = String::from_utf8(raw).map_err(|_| bad("the password is not UTF-8".into()))?;
    let pw = text.trim_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(bad("the file gave an empty password".into()));
    }
    Ok(pw)
}

/// The connection and become passwords, as Ansible's `ask_passwords`: `-k` or the connection
/// password file, then `-K` (whose empty answer means "the SSH password" after `-k`) or the
/// become password file. Each from the flags, else the environment or ansible.cfg.
fn passwords(
    c: &CommonArgs,
    cfg: &AnsibleCfg,
) -> Result<(Option<String>, Option<String>), AppError> {
    let ask_pass =
        c.ask_pass || (c.connection_password_file.is_none() && cfg.ask_pass == Some(true));
    let ssh = if ask_pass {
        ask("SSH password: ")?
    } else {
        match c
            .connection_password_file
            .as_ref()
            .or(cfg.connection_password_file.as_ref())
        {
            Some(f) => Some(password_file("--connection-password-file", f)?),
            None => None,
        }
    };
    let ask_become = c.ask_become_pass
        || (c.become_password_file.is_none() && cfg.become_ask_pass == Some(true));
    let become_ = if ask_become {
        let prompt = if ask_pass {
            "BECOME password[defaults to SSH password]: "
        } else {
            "BECOME password: "
        };
        match ask(prompt)? {
            Some(p) if p.is_empty() && ask_pass => ssh.clone(),
            other => other,
        }
    } else {
        match c
            .become_password_file
            .as_ref()
            .or(cfg.become_password_file.as_ref())
        {
            Some(f) => Some(password_file("--become-password-file", f)?),
            None => None,
        }
    };
    Ok((ssh, become_))
}

/// `-c` / `transport`: ssh or local; paramiko and smart are ssh here (with a note); anything
/// else is refused.
fn connection(c: &CommonArgs, cfg: &AnsibleCfg) -> Result<Option<String>, AppError> {
    let (given, from) = match (&c.connection, &cfg.transport) {
        (Some(v), _) => (v, "-c/--connection"),
        (None, Some(v)) => (v, "transport (ANSIBLE_TRANSPORT / ansible.cfg)"),
        (None, None) => return Ok(None),
    };
    let name = given.rsplit('.').next().unwrap_or(given);
    match name {
        "ssh" | "local" => Ok(Some(name.to_string())),
        "paramiko" | "paramiko_ssh" | "smart" => {
            if c.connection.is_some() || name != "smart" {
                eprintln!(
                    "[NOTE]: {from} {given}: rmesos connects with its own SSH client; treated as ssh"
                );
            }
            Ok(Some("ssh".to_string()))
        }
        _ => Err(AppError::BadOption(format!(
            "{from}: connection type {given:?} is not supported: rmesos connects with ssh or local \
             (ansible_connection can also be set per host)"
        ))),
    }
}

/// An ssh command-line fragment rmesos cannot honour stops the run before any host is touched.
fn ssh_args(from: &str, v: Option<&String>) -> Result<Option<String>, AppError> {
    if let Some(a) = v {
        crate::connection::ssh::check_ssh_args(a)
            .map_err(|e| AppError::BadOption(format!("{from} {a:?}: {e}")))?;
    }
    Ok(v.cloned())
}

/// The executor's options from the common flags, the environment and ansible.cfg.
fn run_options(c: &CommonArgs, cfg: &AnsibleCfg) -> Result<RunOptions, AppError> {
    // Before anything is loaded: `-e @file`, inventories and playbooks may be vault-encrypted.
    super::vault::install_keyring(&c.vault, cfg)?;
    // A bad -e value or vars file is bad input like a bad playbook, located the same way.
    let extra_vars = parse_extra_vars(&c.extra_vars).map_err(AppError::ExtraVars)?;
    let connection = connection(c, cfg)?;
    let ssh_args_cfg = ssh_args(
        "ssh_args (ANSIBLE_SSH_ARGS / ansible.cfg)",
        cfg.ssh_args.as_ref(),
    )?;
    let common = match &c.ssh_common_args {
        Some(_) => ssh_args("--ssh-common-args", c.ssh_common_args.as_ref())?,
        None => ssh_args(
            "ssh_common_args (ansible.cfg / env)",
            cfg.ssh_common_args.as_ref(),
        )?,
    };
    let extra = match &c.ssh_extra_args {
        Some(_) => ssh_args("--ssh-extra-args", c.ssh_extra_args.as_ref())?,
        None => ssh_args(
            "ssh_extra_args (ansible.cfg / env)",
            cfg.ssh_extra_args.as_ref(),
        )?,
    };
    let (ssh_password, become_password) = passwords(c, cfg)?;
    let roles_path = cfg.roles_path();
    Ok(RunOptions {
        check: c.check,
        diff: c.diff || cfg.diff_always == Some(true),
        forks: c.forks.or(cfg.forks).unwrap_or(50),
        tags: TagFilter::default(),
        limit: c.limit.clone(),
        extra_vars: extra_vars.clone(),
        start_at_task: None,
        verbosity: verbosity(c, cfg),
        become_: BecomeDefaults {
            become_: c.become_ || cfg.become_.unwrap_or(false),
            user: c.become_user.clone().or(cfg.become_user.clone()),
            method: c.become_method.clone().or(cfg.become_method.clone()),
            password: become_password,
            flags: cfg.become_flags.clone(),
        },
        conn: ConnDefaults {
            remote_user: c.user.clone().or(cfg.remote_user.clone()),
            private_key: c.private_key.clone().or(cfg.private_key_file.clone()),
            host_key_checking: cfg.host_key_checking,
            ssh_args: ssh_args_cfg,
            ssh_common_args: common,
            ssh_extra_args: extra,
            port: cfg.remote_port,
            connection,
            timeout: c.timeout.or(cfg.timeout),
            password: ssh_password,
            cancel: Default::default(),
        },
        load: LoadOptions {
            roles_path,
            collections_path: cfg.collections_path(),
            extra_vars,
            inventory: None,
            explicit_gathering: cfg.gathering.as_deref() == Some("explicit"),
        },
        retry_file: None,
        output_limit: cfg.output_limit().map_err(AppError::OutputLimit)?,
        cancel: Default::default(),
        force_handlers: cfg.force_handlers == Some(true),
        step: None,
        config_file: cfg
            .path
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
    })
}

/// Splits `a=1 b="x y"` (Ansible's k=v form, quotes and Jinja respected).
pub fn split_kv(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (Some(_), _) => cur.push(c),
            (None, '\'' | '"') if depth == 0 => {
                quote = Some(c);
                cur.push(c);
            }
            (None, '{') if matches!(next, Some('{') | Some('%')) => {
                depth += 1;
                cur.push(c);
                cur.push(next.unwrap_or('{'));
                i += 1;
            }
            (None, '}' | '%') if next == Some('}') && depth > 0 => {
                depth -= 1;
                cur.push(c);
                cur.push('}');
                i += 1;
            }
            (None, c) if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `-e` values: `@file` (YAML/JSON), inline JSON/YAML mappings, or `k=v` pairs.
pub fn parse_extra_vars(items: &[String]) -> LoadResult<IndexMap<String, Value>> {
    let mut out = IndexMap::new();
    for item in items {
        let item = item.trim();
        let doc = if let Some(file) = item.strip_prefix('@') {
            let docs = yaml::load_file(Path::new(file))?;
            docs.into_iter().next()
        } else if item.starts_with('{') || item.starts_with('[') {
            yaml::load_str(item, "--extra-vars")?.into_iter().next()
        } else {
            for tok in split_kv(item) {
                let Some((k, v)) = tok.split_once('=') else {
                    return Err(LoadError::new(
                        &Span::none("--extra-vars"),
                        format!("expected key=value, got {:?}", tok),
                    )
                    .hint("write -e 'name=value', -e '{\"name\": 1}' or -e @vars.yml"));
                };
                out.insert(k.to_string(), Value::from(unquote(v)));
            }
            continue;
        };
        if let Some(doc) = doc {
            match &doc.kind {
                NodeKind::Map(entries) => {
                    for (k, v) in entries {
                        out.insert(k.key_string().unwrap_or_default(), v.to_value());
                    }
                }
                NodeKind::Null => {}
                _ => return Err(LoadError::new(&doc.span, "extra vars must be a mapping")),
            }
        }
    }
    Ok(out)
}

/// `-t a,b -t c` → a, b, c.
pub fn split_list(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_split_respects_quotes_and_jinja() {
        assert_eq!(
            split_kv("src={{ item }}.j2 dest=\"/etc/a b\" msg='{{ x | default(\"y z\") }}'"),
            vec![
                "src={{ item }}.j2",
                "dest=\"/etc/a b\"",
                "msg='{{ x | default(\"y z\") }}'"
            ]
        );
    }

    #[test]
    fn extra_vars_forms() {
        let v = parse_extra_vars(&["a=1 b='x y'".into(), "{\"c\": [1, 2]}".into()]).unwrap();
        assert_eq!(v["a"].as_str(), Some("1"));
        assert_eq!(v["b"].as_str(), Some("x y"));
        assert_eq!(v["c"].len(), Some(2));
    }
}
