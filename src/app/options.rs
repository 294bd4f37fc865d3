//! The flags every play-running command shares, and the one value they become: [`Options`]
//! (flags win over ansible.cfg, ansible.cfg over the defaults). Also `-e` values and `k=v`
//! splitting.

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
    /// Run operations with become (sudo).
    #[arg(short = 'b', long = "become")]
    pub become_: bool,
    #[arg(long = "become-user")]
    pub become_user: Option<String>,
    #[arg(long = "become-method")]
    pub become_method: Option<String>,
    /// Ask for the become password (never put it on a command line).
    #[arg(short = 'K', long = "ask-become-pass")]
    pub ask_become_pass: bool,
    /// Ask for the SSH password.
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    #[arg(long = "private-key", alias = "key-file")]
    pub private_key: Option<String>,
    /// Connection timeout in seconds.
    #[arg(short = 'T', long = "timeout")]
    pub timeout: Option<u64>,
    /// More output (-v results, -vv task locations).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Output format.
    #[arg(long = "output", value_enum, default_value = "human")]
    pub output: Output,
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
    /// Merges the flags with ansible.cfg; asks for the passwords the flags say to ask for.
    /// `adhoc`: report as the `ansible` command does (one line per host).
    pub fn new(c: &CommonArgs, cfg: &AnsibleCfg, adhoc: bool) -> Result<Options, AppError> {
        let sources = inventory_sources(&c.inventory, cfg);
        let mut run = run_options(c, cfg)?;
        // `inventory_dir` while loading playbooks: the first inventory file or directory.
        run.load.inventory = sources.iter().find_map(|s| match s {
            Source::Path(p) if p.exists() => Some(inventory_place(p)),
            _ => None,
        });
        Ok(Options {
            run,
            hosts: Hosts {
                sources,
                flush_cache: c.flush_cache,
            },
            report: Report {
                verbosity: c.verbose,
                adhoc,
                profile: c.profile || cfg.profile_tasks,
                ..Report::new(c.output, c.no_color)
            },
        })
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

/// `-i` values, else ansible.cfg's `inventory`, else `/etc/ansible/hosts`.
pub fn inventory_sources(given: &[String], cfg: &AnsibleCfg) -> Vec<Source> {
    let mut srcs: Vec<String> = if given.is_empty() {
        cfg.inventory.clone()
    } else {
        given.to_vec()
    };
    if srcs.is_empty() {
        srcs.push("/etc/ansible/hosts".into());
    }
    srcs.into_iter().map(|s| Source::Path(s.into())).collect()
}

fn ask(prompt: &str) -> Result<String, AppError> {
    rpassword::prompt_password(prompt).map_err(AppError::Password)
}

/// The executor's options from the common flags and ansible.cfg.
fn run_options(c: &CommonArgs, cfg: &AnsibleCfg) -> Result<RunOptions, AppError> {
    // Before anything is loaded: `-e @file`, inventories and playbooks may be vault-encrypted.
    super::vault::install_keyring(&c.vault, cfg)?;
    // A bad -e value or vars file is bad input like a bad playbook, located the same way.
    let extra_vars = parse_extra_vars(&c.extra_vars).map_err(AppError::ExtraVars)?;
    let become_password = c
        .ask_become_pass
        .then(|| ask("BECOME password: "))
        .transpose()?;
    let ssh_password = c.ask_pass.then(|| ask("SSH password: ")).transpose()?;
    let roles_path = cfg.roles_path();
    let host_key_checking = std::env::var("ANSIBLE_HOST_KEY_CHECKING")
        .ok()
        .and_then(|v| crate::vocab::rendered_boolean(&v))
        .or(cfg.host_key_checking);
    Ok(RunOptions {
        check: c.check,
        diff: c.diff,
        forks: c.forks.or(cfg.forks).unwrap_or(50),
        tags: TagFilter::default(),
        limit: c.limit.clone(),
        extra_vars: extra_vars.clone(),
        start_at_task: None,
        verbosity: c.verbose,
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
            host_key_checking,
            ssh_args: cfg.ssh_args.clone(),
            timeout: c.timeout.or(cfg.timeout),
            password: ssh_password,
            cancel: Default::default(),
        },
        load: LoadOptions {
            roles_path,
            collections_path: cfg.collections_path(),
            extra_vars,
            inventory: None,
        },
        retry_file: None,
        output_limit: cfg.output_limit().map_err(AppError::OutputLimit)?,
        cancel: Default::default(),
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
