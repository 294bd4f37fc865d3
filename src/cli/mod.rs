//! The command line: `play`, `inventory`, `run` (ad hoc), `doc`, `lab` (in src/lab/cli.rs). Parses flags as
//! ansible-playbook does, reads ansible.cfg, loads everything, then hands a plan to the
//! executor. The only layer that prints (through report sinks, and for listings).

pub mod config;
mod listing;

use crate::error::{LoadError, LoadResult, Span};
use crate::exec::{self, BecomeDefaults, ConnDefaults, DefaultConnector, RunOptions, TagFilter};
use crate::inventory::{Inventory, InventoryOptions, Source};
use crate::modules;
use crate::plan::{self, LoadOptions};
use crate::report::{self, Sink};
use crate::yaml::{self, NodeKind};
use clap::{Args, Parser, Subcommand, ValueEnum};
use config::AnsibleCfg;
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Exit codes (ansible-playbook's where they overlap).
pub mod code {
    pub const OK: i32 = 0;
    /// Bad input: playbook, role, inventory, template or variables file.
    pub const LOAD_ERROR: i32 = 1;
    pub const HOST_FAILED: i32 = 2;
    pub const UNREACHABLE: i32 = 4;
    /// Bad command-line options.
    pub const BAD_OPTIONS: i32 = 5;
}

#[derive(Parser)]
#[command(
    name = "rmesos",
    version,
    about = "Agentless configuration engine for data-platform clusters (Ansible formats)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a playbook (as ansible-playbook).
    Play(PlayArgs),
    /// Show the inventory (as ansible-inventory).
    Inventory(InventoryArgs),
    /// Run one module on hosts (as the `ansible` command).
    Run(RunArgs),
    /// List modules, or show one module's arguments and an example.
    Doc(DocArgs),
    /// Launch and manage clusters on EC2.
    #[cfg(feature = "ec2")]
    Ec2(Box<crate::ec2::cli::Ec2Args>),
    /// A Mesos-stack cluster of container hosts on this machine: up, deploy, status, ssh, down.
    Lab(crate::lab::cli::LabArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
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
    /// Refresh the cache of dynamic inventory sources (aws_ec2).
    #[arg(long = "flush-cache")]
    pub flush_cache: bool,
}

#[derive(Args)]
pub struct PlayArgs {
    /// Playbook file(s).
    #[arg(required = true)]
    pub playbooks: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only run plays and tasks tagged with these (comma-separated, repeatable).
    #[arg(short = 't', long = "tags")]
    pub tags: Vec<String>,
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// Start the playbook at the task with this name.
    #[arg(long = "start-at-task")]
    pub start_at_task: Option<String>,
}

#[derive(Args)]
pub struct InventoryArgs {
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<String>,
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub graph: bool,
    /// With --graph: show variables.
    #[arg(long)]
    pub vars: bool,
    #[arg(long)]
    pub host: Option<String>,
    /// Group for --graph.
    pub group: Option<String>,
    #[arg(long = "playbook-dir")]
    pub playbook_dir: Option<PathBuf>,
    /// Refresh the cache of dynamic inventory sources (aws_ec2).
    #[arg(long = "flush-cache")]
    pub flush_cache: bool,
}

#[derive(Args)]
pub struct RunArgs {
    /// Host pattern.
    pub pattern: String,
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    pub module: String,
    #[arg(short = 'a', long = "args", default_value = "")]
    pub args: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct DocArgs {
    pub module: Option<String>,
    /// Print every module's argument table as Markdown (docs/compat.md is made from it).
    #[arg(long)]
    pub markdown: bool,
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Play(a) => play(a),
        Command::Inventory(a) => inventory_cmd(a),
        Command::Run(a) => run_adhoc(a),
        Command::Doc(a) => listing::doc(a),
        #[cfg(feature = "ec2")]
        Command::Ec2(a) => crate::ec2::cli::main(*a),
        Command::Lab(a) => crate::lab::cli::main(a),
    }
}

fn report_error(e: &LoadError) {
    eprintln!("{} {}", console::style("ERROR!").red().bold(), e);
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

fn ask(prompt: &str) -> Result<String, String> {
    rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {}", e))
}

fn load_inventory(
    sources: &[String],
    cfg: &AnsibleCfg,
    playbook_dir: Option<&Path>,
    flush_cache: bool,
) -> LoadResult<Inventory> {
    let mut srcs: Vec<String> = if sources.is_empty() {
        cfg.inventory.clone()
    } else {
        sources.to_vec()
    };
    if srcs.is_empty() {
        srcs.push("/etc/ansible/hosts".into());
    }
    let paths: Vec<Source> = srcs.iter().map(|s| Source::Path(s.into())).collect();
    let mut inv = Inventory::load_with(&paths, &inventory_options(flush_cache))?;
    if let Some(d) = playbook_dir {
        inv.add_vars_dirs(d)?;
    }
    Ok(inv)
}

/// The dynamic inventory sources this build has (aws_ec2 with the `ec2` feature).
pub(crate) fn inventory_options(flush_cache: bool) -> InventoryOptions {
    #[cfg(feature = "ec2")]
    let dynamic: Vec<Arc<dyn crate::inventory::DynamicSource>> =
        vec![Arc::new(crate::ec2::AwsEc2Source { flush_cache })];
    #[cfg(not(feature = "ec2"))]
    let dynamic = {
        let _ = flush_cache;
        Vec::new()
    };
    InventoryOptions { dynamic }
}

fn split_list(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Everything both `play` and `run` need from the common flags.
fn run_options(c: &CommonArgs, cfg: &AnsibleCfg) -> Result<RunOptions, (i32, String)> {
    // A bad -e value or vars file is bad input like a bad playbook, located the same way.
    let extra_vars =
        parse_extra_vars(&c.extra_vars).map_err(|e| (code::LOAD_ERROR, e.to_string()))?;
    let become_password = if c.ask_become_pass {
        Some(ask("BECOME password: ").map_err(|e| (code::BAD_OPTIONS, e))?)
    } else {
        None
    };
    let ssh_password = if c.ask_pass {
        Some(ask("SSH password: ").map_err(|e| (code::BAD_OPTIONS, e))?)
    } else {
        None
    };
    let roles_path = cfg
        .roles_path
        .iter()
        .cloned()
        .chain(
            std::env::var("ANSIBLE_ROLES_PATH")
                .ok()
                .into_iter()
                .flat_map(|v| v.split(':').map(str::to_string).collect::<Vec<_>>()),
        )
        .map(PathBuf::from)
        .collect();
    let host_key_checking = std::env::var("ANSIBLE_HOST_KEY_CHECKING")
        .ok()
        .and_then(|v| crate::modules::args::parse_bool(&v))
        .or(cfg.host_key_checking);
    Ok(RunOptions {
        check: c.check,
        diff: c.diff,
        forks: c.forks.or(cfg.forks).unwrap_or(50),
        tags: TagFilter::default(),
        limit: c.limit.clone(),
        extra_vars,
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
        },
        load: LoadOptions { roles_path },
        retry_file: None,
    })
}

fn sink_for(c: &CommonArgs, adhoc: bool) -> Box<dyn Sink> {
    match c.output {
        Output::Json => Box::new(report::json::JsonLines::new(std::io::stdout())),
        Output::Human => {
            let colour = !c.no_color
                && std::env::var_os("NO_COLOR").is_none()
                && console::Term::stdout().is_term();
            let human = report::human::Human::new(std::io::stdout(), colour, c.verbose);
            Box::new(if adhoc { human.adhoc() } else { human })
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR! cannot start the runtime: {}", e);
            std::process::exit(250);
        }
    }
}

pub(crate) fn play(a: PlayArgs) -> i32 {
    let cfg = match AnsibleCfg::discover() {
        Ok(c) => c,
        Err(e) => {
            report_error(&e);
            return code::LOAD_ERROR;
        }
    };
    if a.common.verbose > 0 {
        if let Some(p) = &cfg.path {
            println!("Using {} as config file", p.display());
        }
        for k in &cfg.ignored {
            eprintln!("[WARNING]: ansible.cfg key not used by rmesos: {}", k);
        }
    }
    let mut opts = match run_options(&a.common, &cfg) {
        Ok(o) => o,
        Err((code, msg)) => {
            eprintln!("ERROR! {}", msg);
            return code;
        }
    };
    opts.tags = TagFilter {
        only: split_list(&a.tags),
        skip: split_list(&a.skip_tags),
    };
    opts.start_at_task = a.start_at_task.clone();
    // Load every playbook before touching any host.
    let mut books = vec![];
    for pb_path in &a.playbooks {
        if !pb_path.is_file() {
            eprintln!(
                "ERROR! the playbook: {} could not be found",
                pb_path.display()
            );
            return code::LOAD_ERROR;
        }
        match plan::load_playbook(pb_path, &opts.load) {
            Ok(pb) => books.push(pb),
            Err(e) => {
                report_error(&e);
                return code::LOAD_ERROR;
            }
        }
    }
    if a.syntax_check {
        for pb in &books {
            println!("\nplaybook: {}", pb.path.display());
        }
        return code::OK;
    }
    let pb_dir = books.first().map(|b| b.dir.clone());
    let inv = match load_inventory(
        &a.common.inventory,
        &cfg,
        pb_dir.as_deref(),
        a.common.flush_cache,
    ) {
        Ok(i) => i,
        Err(e) => {
            report_error(&e);
            return code::LOAD_ERROR;
        }
    };
    if a.list_hosts || a.list_tasks || a.list_tags {
        for pb in &books {
            let r = listing::list(pb, &inv, &opts, a.list_hosts, a.list_tasks, a.list_tags);
            if r != 0 {
                return r;
            }
        }
        return code::OK;
    }
    if cfg.retry_files_enabled == Some(true) {
        let dir = cfg.retry_files_save_path.clone().map(PathBuf::from);
        if let Some(first) = a.playbooks.first() {
            let stem = first
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "playbook".into());
            let base =
                dir.unwrap_or_else(|| first.parent().map(Path::to_path_buf).unwrap_or_default());
            opts.retry_file = Some(base.join(format!("{}.retry", stem)));
        }
    }
    let inv = Arc::new(inv);
    let rt = runtime();
    let mut worst = code::OK;
    for pb in &books {
        let summary = rt.block_on(exec::run_playbook(
            pb,
            inv.clone(),
            opts.clone(),
            sink_for(&a.common, false),
            Box::new(DefaultConnector),
        ));
        if summary.exit_code != 0 && (worst == 0 || summary.exit_code < worst) {
            worst = summary.exit_code;
        }
    }
    worst
}

fn inventory_cmd(a: InventoryArgs) -> i32 {
    let cfg = match AnsibleCfg::discover() {
        Ok(c) => c,
        Err(e) => {
            report_error(&e);
            return code::LOAD_ERROR;
        }
    };
    let inv = match load_inventory(&a.inventory, &cfg, a.playbook_dir.as_deref(), a.flush_cache) {
        Ok(i) => i,
        Err(e) => {
            report_error(&e);
            return code::LOAD_ERROR;
        }
    };
    if let Some(h) = &a.host {
        match inv.host(h) {
            Some(host) => {
                let m: serde_json::Map<String, serde_json::Value> = host
                    .vars
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                        )
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&m).unwrap_or_default());
                code::OK
            }
            None => {
                eprintln!("ERROR! host {:?} is not in the inventory", h);
                code::LOAD_ERROR
            }
        }
    } else if a.graph {
        if let Some(g) = &a.group
            && !inv.groups.contains_key(g)
        {
            eprintln!("ERROR! group {:?} is not in the inventory", g);
            return code::LOAD_ERROR;
        }
        let text = inv.graph(a.group.as_deref(), a.vars);
        if text.ends_with('\n') {
            print!("{}", text);
        } else {
            println!("{}", text);
        }
        code::OK
    } else if a.list {
        println!(
            "{}",
            serde_json::to_string_pretty(&inv.to_list_json()).unwrap_or_default()
        );
        code::OK
    } else {
        eprintln!("ERROR! one of --list, --graph or --host is required");
        code::BAD_OPTIONS
    }
}

fn run_adhoc(a: RunArgs) -> i32 {
    let Some(module) = modules::lookup(&a.module) else {
        eprintln!(
            "ERROR! unknown module {:?} (rmesos doc lists the modules)",
            a.module
        );
        return code::BAD_OPTIONS;
    };
    let cfg = match AnsibleCfg::discover() {
        Ok(c) => c,
        Err(e) => {
            report_error(&e);
            return code::LOAD_ERROR;
        }
    };
    let opts = match run_options(&a.common, &cfg) {
        Ok(o) => o,
        Err((code, msg)) => {
            eprintln!("ERROR! {}", msg);
            return code;
        }
    };
    // An ad hoc run is a one-task play; the loader checks it like any other.
    let yaml_text = format!(
        "- name: Ad hoc {module}\n  hosts: {pattern}\n  gather_facts: false\n  tasks:\n    - {module}: {args}\n",
        module = module.name(),
        pattern = serde_json::to_string(&a.pattern).unwrap_or_default(),
        args = serde_json::to_string(&a.args).unwrap_or_default(),
    );
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ERROR! {}", e);
            return 250;
        }
    };
    let path = dir.path().join("adhoc.yml");
    if let Err(e) = std::fs::write(&path, yaml_text) {
        eprintln!("ERROR! {}", e);
        return 250;
    }
    let mut pb = match plan::load_playbook(&path, &opts.load) {
        Ok(p) => p,
        Err(mut e) => {
            // The generated playbook is ours: point at the command line instead.
            e.span = Some(Span::none("-m/-a"));
            report_error(&e);
            return code::BAD_OPTIONS;
        }
    };
    pb.dir = std::env::current_dir().unwrap_or_default();
    let inv = match load_inventory(&a.common.inventory, &cfg, None, a.common.flush_cache) {
        Ok(i) => i,
        Err(e) => {
            report_error(&e);
            return code::LOAD_ERROR;
        }
    };
    let rt = runtime();
    let summary = rt.block_on(exec::run_playbook(
        &pb,
        Arc::new(inv),
        opts,
        sink_for(&a.common, true),
        Box::new(DefaultConnector),
    ));
    summary.exit_code
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
