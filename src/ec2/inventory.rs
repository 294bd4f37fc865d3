//! The `aws_ec2` inventory source (`plugin: aws_ec2` or `amazon.aws.aws_ec2`), with Ansible's
//! option names and meaning:
//!
//! - `regions` (default: the configured region, not every region), `filters`,
//!   `include_filters` (each a further query whose instances are added), `exclude_filters`
//!   (instances any of them matches are dropped); without an `instance-state-name` filter only
//!   pending, running, stopping and stopped instances are listed.
//! - `hostnames`: a preference list of describe-instances filter names (`dns-name`,
//!   `private-dns-name`, `ip-address`, `private-ip-address`, `instance-id`, …), `tag:Name`,
//!   `tag:Name=Value` (gives `Name_Value`), `tag:A,B`, or `{name:, prefix:, separator:}`.
//!   Default `[dns-name, private-dns-name]`; an instance with none of them is left out.
//! - `compose`, `groups`, `keyed_groups` (key, prefix, separator, parent_group, default_value,
//!   trailing_separator), `leading_separator`, `strict`: Ansible's constructed features. Group
//!   names are sanitised (invalid characters become `_`), or, with
//!   `use_contrib_script_compatible_sanitization`, as the old ec2.py script did (dashes kept).
//! - `hostvars_prefix`/`hostvars_suffix`, `use_contrib_script_compatible_ec2_tag_keys`,
//!   `strict_permissions`.
//! - `cache`, `cache_timeout` (seconds, default 3600; 0 never expires), `cache_connection`
//!   (directory, default `$XDG_CACHE_HOME/rmesos/aws_ec2`), `cache_prefix`, `cache_plugin`
//!   (`jsonfile`; `memory` means no cache across runs). One cache entry per profile, account
//!   (the access key's identity), region and filters; `--flush-cache` refreshes it.
//! - `endpoint_url` (else `AWS_ENDPOINT_URL`), `profile`, `access_key`/`secret_key`/
//!   `session_token` with their Ansible aliases.
//!
//! Every instance's attributes are host variables with Ansible's names (see `hostvars`). All
//! hosts are in the group `aws_ec2`.

use super::client::{self, AwsSettings, Ec2, Ec2Error, StaticKeys};
use super::hostvars;
use crate::error::{LoadError, LoadResult, Span};
use crate::inventory::{DynamicGroup, DynamicInventory, DynamicSource};
use crate::vars::Templar;
use crate::yaml::{self, Node, NodeKind};
use aws_sdk_ec2::types::Filter;
use indexmap::IndexMap;
use minijinja::Value;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One describe-instances query: `(filter name, values)`.
pub type FilterSet = Vec<(String, Vec<String>)>;

#[derive(Clone, Debug)]
pub enum HostnamePref {
    Plain(String),
    Composite {
        name: String,
        prefix: Option<String>,
        separator: String,
    },
}

#[derive(Clone, Debug)]
pub struct KeyedGroup {
    pub key: String,
    pub prefix: String,
    pub separator: String,
    pub parent_group: Option<String>,
    pub default_value: Option<String>,
    pub trailing_separator: Option<bool>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct CacheSettings {
    pub enabled: bool,
    /// None: never expires.
    pub timeout: Option<Duration>,
    pub dir: PathBuf,
    pub prefix: String,
}

/// A parsed aws_ec2 source.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    pub origin: String,
    pub aws: AwsSettings,
    /// Empty: the configured region.
    pub regions: Vec<String>,
    pub filters: FilterSet,
    pub include_filters: Vec<FilterSet>,
    pub exclude_filters: Vec<FilterSet>,
    pub hostnames: Vec<HostnamePref>,
    pub compose: Vec<(String, String, Span)>,
    pub groups: Vec<(String, String, Span)>,
    pub keyed_groups: Vec<KeyedGroup>,
    pub strict: bool,
    pub strict_permissions: bool,
    pub contrib_sanitization: bool,
    pub contrib_tag_keys: bool,
    pub leading_separator: bool,
    pub hostvars_prefix: String,
    pub hostvars_suffix: String,
    pub cache: CacheSettings,
}

impl PluginConfig {
    /// Settings with Ansible's defaults and no options.
    pub fn new(origin: &str) -> Self {
        PluginConfig {
            origin: origin.to_string(),
            aws: AwsSettings::default(),
            regions: vec![],
            filters: vec![],
            include_filters: vec![],
            exclude_filters: vec![],
            hostnames: vec![],
            compose: vec![],
            groups: vec![],
            keyed_groups: vec![],
            strict: false,
            strict_permissions: true,
            contrib_sanitization: false,
            contrib_tag_keys: false,
            leading_separator: true,
            hostvars_prefix: String::new(),
            hostvars_suffix: String::new(),
            cache: CacheSettings {
                enabled: false,
                timeout: Some(Duration::from_secs(3600)),
                dir: default_cache_dir(),
                prefix: "ansible_inventory_".into(),
            },
        }
    }
}

fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("rmesos").join("aws_ec2")
}

/// The aws_ec2 source as the inventory loader sees it: the application registers it (with
/// `--flush-cache`) so that `-i` files configuring this plugin are read through it.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsEc2Source {
    /// Ignore cached answers and store fresh ones (`--flush-cache`).
    pub flush_cache: bool,
}

impl DynamicSource for AwsEc2Source {
    fn accepts(&self, doc: &Node) -> bool {
        is_aws_ec2_doc(doc)
    }

    fn load(&self, doc: &Node) -> LoadResult<DynamicInventory> {
        load_doc(doc, self.flush_cache)
    }
}

/// Whether a parsed YAML document is an aws_ec2 source (its `plugin:` names this plugin).
pub fn is_aws_ec2_doc(doc: &Node) -> bool {
    matches!(
        doc.get("plugin").and_then(Node::as_str),
        Some("aws_ec2" | "amazon.aws.aws_ec2")
    )
}

/// Reads an aws_ec2 source file, queries EC2 (or the cache) and builds its hosts and groups.
/// `flush_cache` ignores a cached answer and stores a fresh one (`--flush-cache`).
pub fn load_aws_ec2(path: &Path, flush_cache: bool) -> LoadResult<DynamicInventory> {
    let docs = yaml::load_file(path)?;
    let Some(doc) = docs.first() else {
        return Err(LoadError::plain(format!(
            "{}: empty inventory source",
            path.display()
        )));
    };
    load_doc(doc, flush_cache)
}

/// [`load_aws_ec2`] for a document the inventory loader has already read.
pub fn load_doc(doc: &Node, flush_cache: bool) -> LoadResult<DynamicInventory> {
    build_blocking(parse_config(doc)?, flush_cache)
}

/// Runs [`build`] to completion from synchronous code, inside or outside a tokio runtime
/// (the inventory loader is synchronous; the cluster commands call it from async code).
pub fn build_blocking(cfg: PluginConfig, flush_cache: bool) -> LoadResult<DynamicInventory> {
    let job = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LoadError::plain(format!("cannot start the EC2 runtime: {}", e)))?;
        rt.block_on(build(&cfg, flush_cache))
    });
    job.join()
        .unwrap_or_else(|_| Err(LoadError::plain("the EC2 inventory query panicked")))
}

/// Queries every region (or its cache entry) and applies hostnames, compose and groups.
pub async fn build(cfg: &PluginConfig, flush_cache: bool) -> LoadResult<DynamicInventory> {
    let source_err = |e: Ec2Error| {
        LoadError::plain(format!("{}: {}", cfg.origin, e))
            .hint("the aws_ec2 source could not be read; see docs/ec2.md")
    };
    let regions: Vec<Option<&str>> = if cfg.regions.is_empty() {
        vec![None]
    } else {
        cfg.regions.iter().map(|r| Some(r.as_str())).collect()
    };
    let mut instances = Vec::new();
    for region in regions {
        let ec2 = client::connect(&cfg.aws, region)
            .await
            .map_err(source_err)?;
        instances.extend(
            region_instances(cfg, &ec2, flush_cache)
                .await
                .map_err(source_err)?,
        );
    }
    construct(cfg, instances)
}

/// One region's instances as host-variable objects, from the cache when allowed.
async fn region_instances(
    cfg: &PluginConfig,
    ec2: &Ec2,
    flush_cache: bool,
) -> Result<Vec<Json>, Ec2Error> {
    let cache_file = cfg.cache.enabled.then(|| cache_path(cfg, ec2));
    if let Some(file) = &cache_file
        && !flush_cache
        && let Some(hit) = read_cache(file, cfg.cache.timeout)
    {
        return Ok(hit);
    }
    let found = query(cfg, ec2).await?;
    if let Some(file) = &cache_file {
        write_cache(file, &found);
    }
    Ok(found)
}

/// `filters` plus each `include_filters` entry, minus what any `exclude_filters` entry
/// matches; each query sorted by instance id, as Ansible does.
async fn query(cfg: &PluginConfig, ec2: &Ec2) -> Result<Vec<Json>, Ec2Error> {
    let mut ignored = std::collections::HashSet::new();
    for f in &cfg.exclude_filters {
        for i in describe(cfg, ec2, f).await? {
            ignored.insert(instance_id(&i));
        }
    }
    let mut out = Vec::new();
    for f in std::iter::once(&cfg.filters).chain(&cfg.include_filters) {
        for i in describe(cfg, ec2, f).await? {
            if ignored.insert(instance_id(&i)) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

fn instance_id(v: &Json) -> String {
    v.get("instance_id")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Every page of DescribeInstances for one filter set.
pub async fn describe(
    cfg: &PluginConfig,
    ec2: &Ec2,
    filters: &FilterSet,
) -> Result<Vec<Json>, Ec2Error> {
    let mut sdk_filters: Vec<Filter> = filters
        .iter()
        .map(|(n, v)| {
            Filter::builder()
                .name(n)
                .set_values(Some(v.clone()))
                .build()
        })
        .collect();
    if !filters.iter().any(|(n, _)| n == "instance-state-name") {
        sdk_filters.push(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["running", "pending", "stopping", "stopped"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        );
    }
    let mut pages = ec2
        .client
        .describe_instances()
        .set_filters(Some(sdk_filters))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let forbidden = e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
                if forbidden && !cfg.strict_permissions {
                    return Ok(vec![]);
                }
                return Err(client::sdk_error("DescribeInstances", &ec2.region, e));
            }
        };
        for r in page.reservations() {
            for i in r.instances() {
                out.push(hostvars::instance_vars(r, i));
            }
        }
    }
    out.sort_by_key(instance_id);
    Ok(out)
}

/// Applies hostnames, host variables, compose, groups and keyed_groups (Ansible's order).
pub fn construct(cfg: &PluginConfig, instances: Vec<Json>) -> LoadResult<DynamicInventory> {
    let templar = Templar::new();
    let mut inv = DynamicInventory::default();
    inv.groups.insert("aws_ec2".into(), DynamicGroup::default());
    for inst in instances {
        let Some(name) = hostname(cfg, &inst) else {
            continue;
        };
        let mut vars: IndexMap<String, Value> = IndexMap::new();
        if let Json::Object(m) = &inst {
            for (k, v) in m {
                let key = format!("{}{}{}", cfg.hostvars_prefix, k, cfg.hostvars_suffix);
                vars.insert(key, Value::from(minijinja::value::Serde(v)));
            }
            if cfg.contrib_tag_keys
                && let Some(Json::Object(tags)) = m.get("tags")
            {
                for (k, v) in tags {
                    vars.insert(
                        format!("ec2_tag_{}", k),
                        Value::from(minijinja::value::Serde(v)),
                    );
                }
            }
        }
        add_to_group(&mut inv, "aws_ec2", &name);
        for (var, expr, span) in &cfg.compose {
            match templar.eval_expr(expr, &scope_of(&templar, &vars)) {
                Ok(v) => {
                    vars.insert(var.clone(), v);
                }
                Err(e) if cfg.strict => {
                    return Err(LoadError::new(
                        span,
                        format!("could not set {} for host {}: {}", var, name, e),
                    ));
                }
                Err(_) => {}
            }
        }
        let scope = scope_of(&templar, &vars);
        for (group, expr, span) in &cfg.groups {
            let group = sanitize(cfg, group);
            match templar.eval_bool(expr, &scope) {
                Ok(true) => add_to_group(&mut inv, &group, &name),
                Ok(false) => {}
                Err(e) if cfg.strict => {
                    return Err(LoadError::new(
                        span,
                        format!("could not add host {} to group {}: {}", name, group, e),
                    ));
                }
                Err(_) => {}
            }
        }
        for kg in &cfg.keyed_groups {
            keyed_group(cfg, &templar, &scope, kg, &name, &mut inv)?;
        }
        inv.hosts.insert(name, vars);
    }
    Ok(inv)
}

fn scope_of(templar: &Arc<Templar>, vars: &IndexMap<String, Value>) -> Value {
    let layer = Value::from_pairs(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    crate::vars::scope(
        templar,
        vec![layer],
        Value::from_pairs(Vec::<(String, Value)>::new()),
    )
}

fn add_to_group(inv: &mut DynamicInventory, group: &str, host: &str) {
    let g = inv.groups.entry(group.to_string()).or_default();
    if !g.hosts.iter().any(|h| h == host) {
        g.hosts.push(host.to_string());
    }
}

fn keyed_group(
    cfg: &PluginConfig,
    templar: &Arc<Templar>,
    scope: &Value,
    kg: &KeyedGroup,
    host: &str,
    inv: &mut DynamicInventory,
) -> LoadResult<()> {
    let fail = |msg: String| LoadError::new(&kg.span, msg);
    let key = match templar.eval_expr(&kg.key, scope) {
        Ok(k) => k,
        Err(e) if cfg.strict => {
            return Err(fail(format!(
                "could not generate group for host {} from {}: {}",
                host, kg.key, e
            )));
        }
        Err(_) => return Ok(()),
    };
    let blank = |v: &Value| v.is_none() || v.is_undefined() || v.as_str() == Some("");
    let use_default = blank(&key) && kg.default_value.is_some();
    if !key.is_true() && !use_default {
        let empty_container = key.len() == Some(0) && key.as_str().is_none();
        if cfg.strict && !empty_container {
            return Err(fail(format!(
                "no key or key resulted empty for {} in host {}, invalid entry",
                kg.key, host
            )));
        }
        return Ok(());
    }
    let parent = match &kg.parent_group {
        Some(p) => match templar.template_value(&Value::from(p.as_str()), scope) {
            Ok(v) => Some(v.to_string()),
            Err(e) if cfg.strict => {
                return Err(fail(format!(
                    "could not generate parent group {}: {}",
                    p, e
                )));
            }
            Err(_) => return Ok(()),
        },
        None => None,
    };
    let text = |v: &Value| -> String {
        match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        }
    };
    use minijinja::value::ValueKind;
    let mut names: Vec<String> = Vec::new();
    if use_default {
        names.extend(kg.default_value.clone());
    } else {
        match key.kind() {
            ValueKind::String | ValueKind::Number | ValueKind::Bool => names.push(text(&key)),
            ValueKind::Seq | ValueKind::Iterable => {
                for item in key.try_iter().into_iter().flatten() {
                    match (&kg.default_value, blank(&item)) {
                        (Some(d), true) => names.push(d.clone()),
                        _ => names.push(text(&item)),
                    }
                }
            }
            ValueKind::Map => {
                for k in key.try_iter().into_iter().flatten() {
                    let val = key.get_item(&k).unwrap_or(Value::UNDEFINED);
                    names.push(if !blank(&val) {
                        format!("{}{}{}", text(&k), kg.separator, text(&val))
                    } else if let Some(d) = &kg.default_value {
                        format!("{}{}{}", text(&k), kg.separator, d)
                    } else if kg.trailing_separator == Some(false) {
                        text(&k)
                    } else {
                        format!("{}{}", text(&k), kg.separator)
                    });
                }
            }
            other => {
                return Err(fail(format!(
                    "invalid group name format for host {}: expected a string, a list or a dictionary, got {}",
                    host, other
                )));
            }
        }
    }
    let sep = if kg.prefix.is_empty() && !cfg.leading_separator {
        ""
    } else {
        kg.separator.as_str()
    };
    for bare in names {
        let group = sanitize(cfg, &format!("{}{}{}", kg.prefix, sep, bare));
        add_to_group(inv, &group, host);
        if let Some(p) = &parent {
            let p = sanitize(cfg, p);
            let pg = inv.groups.entry(p).or_default();
            if !pg.children.contains(&group) {
                pg.children.push(group.clone());
            }
        }
    }
    Ok(())
}

/// Ansible's group-name rule: a leading digit or non-word character, and every other
/// non-word character, become `_`. The contrib script only replaced `[^A-Za-z0-9_-]`.
pub fn sanitize(cfg: &PluginConfig, name: &str) -> String {
    if cfg.contrib_sanitization {
        return name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    }
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            let word = c.is_alphanumeric() || c == '_';
            if !word || (i == 0 && c.is_numeric()) {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn hostname(cfg: &PluginConfig, inst: &Json) -> Option<String> {
    let default = [
        HostnamePref::Plain("dns-name".into()),
        HostnamePref::Plain("private-dns-name".into()),
    ];
    let prefs: &[HostnamePref] = if cfg.hostnames.is_empty() {
        &default
    } else {
        &cfg.hostnames
    };
    let name = prefs.iter().find_map(|p| match p {
        HostnamePref::Plain(p) => preference(p, inst),
        HostnamePref::Composite {
            name,
            prefix,
            separator,
        } => {
            let value = preference(name, inst)?;
            match prefix {
                Some(pfx) => Some(format!("{}{}{}", preference(pfx, inst)?, separator, value)),
                None => Some(value),
            }
        }
    })?;
    // IPv6 addresses and the like are not usable as names as they are.
    Some(if name.contains(':') {
        sanitize(cfg, &name)
    } else {
        name
    })
}

fn preference(pref: &str, inst: &Json) -> Option<String> {
    match pref.strip_prefix("tag:") {
        Some(spec) => {
            let tags = inst.get("tags")?;
            spec.split(',').find_map(|t| match t.split_once('=') {
                Some((k, want)) => (tags.get(k).and_then(Json::as_str) == Some(want))
                    .then(|| format!("{}_{}", k, want)),
                None => tags.get(t).and_then(hostvars::as_text),
            })
        }
        None => hostvars::filter_value(inst, pref).and_then(|v| hostvars::as_text(&v)),
    }
}

// ---- cache -------------------------------------------------------------------------------

fn cache_path(cfg: &PluginConfig, ec2: &Ec2) -> PathBuf {
    let key = serde_json::json!({
        "profile": cfg.aws.profile,
        "account": ec2.identity,
        "region": ec2.region,
        "endpoint": cfg.aws.endpoint_url,
        "filters": cfg.filters,
        "include_filters": cfg.include_filters,
        "exclude_filters": cfg.exclude_filters,
    });
    let digest = Sha256::digest(key.to_string().as_bytes());
    cfg.cache.dir.join(format!(
        "{}aws_ec2_{}.json",
        cfg.cache.prefix,
        hex::encode(&digest[..12])
    ))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A cached answer if present, readable and fresh; anything else is a miss.
fn read_cache(file: &Path, timeout: Option<Duration>) -> Option<Vec<Json>> {
    let text = std::fs::read_to_string(file).ok()?;
    let v: Json = serde_json::from_str(&text).ok()?;
    let written = v.get("written")?.as_u64()?;
    if let Some(t) = timeout
        && now_secs().saturating_sub(written) >= t.as_secs()
    {
        return None;
    }
    v.get("instances")?.as_array().cloned()
}

/// Writes atomically; a cache that cannot be written only costs the next run a query.
fn write_cache(file: &Path, instances: &[Json]) {
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let body = serde_json::json!({"written": now_secs(), "instances": instances});
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, body.to_string()).is_ok() && std::fs::rename(&tmp, file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

// ---- configuration -----------------------------------------------------------------------

const UNSUPPORTED: &[&str] = &[
    "iam_role_arn",
    "include_extra_api_calls",
    "use_ssm_inventory",
    "allow_duplicated_hosts",
    "use_extra_vars",
    "aws_ca_bundle",
    "aws_config",
    "validate_certs",
];

fn err(n: &Node, msg: impl Into<String>) -> LoadError {
    LoadError::new(&n.span, msg)
}

fn bool_of(n: &Node, what: &str) -> LoadResult<bool> {
    match &n.kind {
        NodeKind::Bool(b) => Ok(*b),
        NodeKind::Str(s) => crate::vocab::rendered_boolean(s)
            .ok_or_else(|| err(n, format!("{} must be true or false, found {:?}", what, s))),
        _ => Err(err(
            n,
            format!("{} must be true or false, found {}", what, n.type_name()),
        )),
    }
}

fn str_of(n: &Node, what: &str) -> LoadResult<String> {
    n.expect_scalar_string(what)
}

fn strings(n: &Node, what: &str) -> LoadResult<Vec<String>> {
    match &n.kind {
        NodeKind::Seq(items) => items.iter().map(|i| filter_scalar(i, what)).collect(),
        NodeKind::Null => Ok(vec![]),
        _ => Ok(vec![filter_scalar(n, what)?]),
    }
}

/// EC2 filter values are text; YAML booleans are written as EC2 expects them.
fn filter_scalar(n: &Node, what: &str) -> LoadResult<String> {
    match &n.kind {
        NodeKind::Bool(b) => Ok(b.to_string()),
        _ => str_of(n, what),
    }
}

fn filter_set(n: &Node, what: &str) -> LoadResult<FilterSet> {
    if n.is_null() {
        return Ok(vec![]);
    }
    n.expect_map(what)?
        .iter()
        .map(|(k, v)| Ok((str_of(k, "a filter name")?, strings(v, "a filter value")?)))
        .collect()
}

fn exprs(n: &Node, what: &str) -> LoadResult<Vec<(String, String, Span)>> {
    if n.is_null() {
        return Ok(vec![]);
    }
    n.expect_map(what)?
        .iter()
        .map(|(k, v)| {
            let expr = str_of(v, "an expression")?;
            if let Err(e) = crate::vars::check_expr_syntax(&expr) {
                return Err(err(v, format!("invalid expression: {}", e)));
            }
            Ok((str_of(k, "a name")?, expr, v.span.clone()))
        })
        .collect()
}

fn hostname_pref(n: &Node) -> LoadResult<HostnamePref> {
    let check = |n: &Node, s: String| -> LoadResult<String> {
        if s.starts_with("tag:") || hostvars::is_hostname_filter(&s) {
            Ok(s)
        } else {
            Err(err(n, format!("{:?} is not a hostnames preference rmesos knows", s)).hint(
                "use tag:NAME, tag:NAME=VALUE, dns-name, private-dns-name, ip-address, private-ip-address, instance-id or another describe-instances filter name",
            ))
        }
    };
    match &n.kind {
        NodeKind::Map(entries) => {
            let (mut name, mut prefix, mut separator) = (None, None, "_".to_string());
            for (k, v) in entries {
                match k.key_string().as_deref() {
                    Some("name") => name = Some(check(v, str_of(v, "name")?)?),
                    Some("prefix") => prefix = Some(check(v, str_of(v, "prefix")?)?),
                    Some("separator") => separator = str_of(v, "separator")?,
                    _ => {
                        return Err(err(k, "unknown key in a hostnames entry")
                            .hint("a hostnames mapping takes name, prefix and separator"));
                    }
                }
            }
            let name = name.ok_or_else(|| err(n, "a hostnames mapping needs a `name`"))?;
            Ok(HostnamePref::Composite {
                name,
                prefix,
                separator,
            })
        }
        _ => Ok(HostnamePref::Plain(check(n, str_of(n, "a hostname")?)?)),
    }
}

fn keyed(n: &Node) -> LoadResult<KeyedGroup> {
    let mut kg = KeyedGroup {
        key: String::new(),
        prefix: String::new(),
        separator: "_".into(),
        parent_group: None,
        default_value: None,
        trailing_separator: None,
        span: n.span.clone(),
    };
    let mut has_key = false;
    for (k, v) in n.expect_map("a keyed_groups entry")? {
        match k.key_string().as_deref() {
            Some("key") => {
                kg.key = str_of(v, "key")?;
                if let Err(e) = crate::vars::check_expr_syntax(&kg.key) {
                    return Err(err(v, format!("invalid expression: {}", e)));
                }
                has_key = true;
            }
            Some("prefix") => kg.prefix = str_of(v, "prefix")?,
            Some("separator") => kg.separator = str_of(v, "separator")?,
            Some("parent_group") => kg.parent_group = Some(str_of(v, "parent_group")?),
            Some("default_value") => kg.default_value = Some(str_of(v, "default_value")?),
            Some("trailing_separator") => {
                kg.trailing_separator = Some(bool_of(v, "trailing_separator")?)
            }
            _ => {
                return Err(err(k, "unknown keyed_groups option").hint(
                    "keyed_groups entries take key, prefix, separator, parent_group, default_value and trailing_separator",
                ));
            }
        }
    }
    if !has_key {
        return Err(err(n, "a keyed_groups entry needs a `key`"));
    }
    if kg.default_value.is_some() && kg.trailing_separator.is_some() {
        return Err(err(
            n,
            "default_value and trailing_separator are mutually exclusive",
        ));
    }
    Ok(kg)
}

/// Reads the options of an aws_ec2 source; unknown options are refused where they stand.
pub fn parse_config(doc: &Node) -> LoadResult<PluginConfig> {
    let mut cfg = PluginConfig::new(&doc.span.file);
    let mut keys = StaticKeys::default();
    for (k, v) in doc.expect_map("an aws_ec2 inventory source")? {
        let key = k.key_string().unwrap_or_default();
        match key.as_str() {
            "plugin" => {}
            "regions" => cfg.regions = strings(v, "regions")?,
            "filters" => cfg.filters = filter_set(v, "filters")?,
            "include_filters" | "exclude_filters" => {
                let sets = v
                    .expect_seq(&key)?
                    .iter()
                    .map(|s| filter_set(s, "a filter set"))
                    .collect::<LoadResult<Vec<_>>>()?;
                if key == "include_filters" {
                    cfg.include_filters = sets;
                } else {
                    cfg.exclude_filters = sets;
                }
            }
            "hostnames" => {
                cfg.hostnames = v
                    .expect_seq("hostnames")?
                    .iter()
                    .map(hostname_pref)
                    .collect::<LoadResult<_>>()?
            }
            "compose" => cfg.compose = exprs(v, "compose")?,
            "groups" => cfg.groups = exprs(v, "groups")?,
            "keyed_groups" => {
                cfg.keyed_groups = v
                    .expect_seq("keyed_groups")?
                    .iter()
                    .map(keyed)
                    .collect::<LoadResult<_>>()?
            }
            "strict" => cfg.strict = bool_of(v, &key)?,
            "strict_permissions" => cfg.strict_permissions = bool_of(v, &key)?,
            "use_contrib_script_compatible_sanitization" => {
                cfg.contrib_sanitization = bool_of(v, &key)?
            }
            "use_contrib_script_compatible_ec2_tag_keys" => {
                cfg.contrib_tag_keys = bool_of(v, &key)?
            }
            "leading_separator" => cfg.leading_separator = bool_of(v, &key)?,
            "hostvars_prefix" => cfg.hostvars_prefix = str_of(v, &key)?,
            "hostvars_suffix" => cfg.hostvars_suffix = str_of(v, &key)?,
            "cache" => cfg.cache.enabled = bool_of(v, &key)?,
            "cache_timeout" => {
                let secs = match &v.kind {
                    NodeKind::Int(i) if *i >= 0 => *i as u64,
                    _ => return Err(err(v, "cache_timeout must be a number of seconds")),
                };
                cfg.cache.timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "cache_connection" => cfg.cache.dir = PathBuf::from(str_of(v, &key)?),
            "cache_prefix" => cfg.cache.prefix = str_of(v, &key)?,
            "cache_plugin" => match str_of(v, &key)?.as_str() {
                "jsonfile" | "ansible.builtin.jsonfile" => {}
                "memory" | "ansible.builtin.memory" => cfg.cache.enabled = false,
                other => {
                    return Err(err(v, format!("cache plugin {:?} is not supported", other))
                        .hint("rmesos caches in JSON files (cache_plugin: jsonfile)"));
                }
            },
            "endpoint_url" | "aws_endpoint_url" | "endpoint" => {
                cfg.aws.endpoint_url = Some(str_of(v, &key)?)
            }
            "profile" | "aws_profile" | "boto_profile" => cfg.aws.profile = Some(str_of(v, &key)?),
            "access_key" | "aws_access_key_id" | "aws_access_key" | "ec2_access_key" => {
                keys.access_key = str_of(v, &key)?
            }
            "secret_key" | "aws_secret_access_key" | "aws_secret_key" | "ec2_secret_key" => {
                keys.secret_key = str_of(v, &key)?
            }
            "session_token" | "aws_session_token" | "security_token" | "aws_security_token" => {
                keys.session_token = Some(str_of(v, &key)?)
            }
            other if UNSUPPORTED.contains(&other) => {
                return Err(err(
                    k,
                    format!("aws_ec2 option {:?} is not supported by rmesos", other),
                )
                .hint("see docs/ec2.md for the options rmesos implements"));
            }
            other => {
                return Err(err(k, format!("unknown aws_ec2 option {:?}", other)).hint(
                    "options: regions, filters, include_filters, exclude_filters, hostnames, compose, groups, keyed_groups, strict, cache, cache_timeout, endpoint_url, profile, …",
                ));
            }
        }
    }
    match (keys.access_key.is_empty(), keys.secret_key.is_empty()) {
        (true, true) => {}
        (false, false) => cfg.aws.keys = Some(keys),
        _ => {
            return Err(err(doc, "access_key and secret_key must be given together"));
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> LoadResult<PluginConfig> {
        let docs = yaml::load_str(text, "aws_ec2.yml")?;
        parse_config(&docs[0])
    }

    #[test]
    fn unknown_option_is_located() {
        let e = cfg("plugin: aws_ec2\nregions: [us-east-1]\nhostname: [dns-name]\n").unwrap_err();
        assert_eq!(e.span.as_ref().map(|s| (s.line, s.col)), Some((3, 1)));
        assert!(
            e.msg.contains("unknown aws_ec2 option \"hostname\""),
            "{}",
            e.msg
        );
        let e = cfg("plugin: aws_ec2\nkeyed_groups:\n  - key: tags\n    prefx: tag\n").unwrap_err();
        assert_eq!(e.span.as_ref().map(|s| s.line), Some(4));
        let e = cfg("plugin: aws_ec2\nhostnames: [public-name]\n").unwrap_err();
        assert!(e.msg.contains("public-name"), "{}", e.msg);
        let e = cfg("plugin: aws_ec2\niam_role_arn: x\n").unwrap_err();
        assert!(e.msg.contains("not supported"), "{}", e.msg);
    }

    #[test]
    fn options_read() {
        let c = cfg(
            "plugin: amazon.aws.aws_ec2\nregions: [us-east-1, eu-west-1]\nfilters:\n  tag:env: [dev, qa]\n  instance-type: t3.micro\nhostnames:\n  - tag:Name\n  - name: private-ip-address\n    prefix: tag:role\n    separator: '-'\ncache: yes\ncache_timeout: 0\n",
        )
        .unwrap();
        assert_eq!(c.regions, vec!["us-east-1", "eu-west-1"]);
        assert_eq!(
            c.filters,
            vec![
                (
                    "tag:env".to_string(),
                    vec!["dev".to_string(), "qa".to_string()]
                ),
                ("instance-type".to_string(), vec!["t3.micro".to_string()])
            ]
        );
        assert!(c.cache.enabled && c.cache.timeout.is_none());
        assert!(
            matches!(&c.hostnames[1], HostnamePref::Composite { separator, .. } if separator == "-")
        );
    }

    #[test]
    fn sanitising_group_names() {
        let mut c = PluginConfig::new("t");
        assert_eq!(sanitize(&c, "aws_region_us-east-1"), "aws_region_us_east_1");
        assert_eq!(sanitize(&c, "1st.group"), "_st_group");
        c.contrib_sanitization = true;
        assert_eq!(sanitize(&c, "tag_Name_web-1.x"), "tag_Name_web-1_x");
    }

    #[test]
    fn hostname_preferences() {
        let inst = serde_json::json!({
            "instance_id": "i-1", "private_ip_address": "10.0.0.5", "public_dns_name": "",
            "private_dns_name": "ip-10-0-0-5.ec2.internal",
            "tags": {"Name": "web-1", "role": "web"},
        });
        let mut c = PluginConfig::new("t");
        assert_eq!(
            hostname(&c, &inst).as_deref(),
            Some("ip-10-0-0-5.ec2.internal")
        );
        c.hostnames = vec![
            HostnamePref::Plain("tag:Missing".into()),
            HostnamePref::Plain("tag:role=db,role=web".into()),
        ];
        assert_eq!(hostname(&c, &inst).as_deref(), Some("role_web"));
        c.hostnames = vec![HostnamePref::Composite {
            name: "private-ip-address".into(),
            prefix: Some("tag:Name".into()),
            separator: "_".into(),
        }];
        assert_eq!(hostname(&c, &inst).as_deref(), Some("web-1_10.0.0.5"));
        c.hostnames = vec![HostnamePref::Plain("ip-address".into())];
        assert_eq!(hostname(&c, &inst), None);
    }

    #[test]
    fn cache_freshness() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.json");
        write_cache(&f, &[serde_json::json!({"instance_id": "i-1"})]);
        assert_eq!(
            read_cache(&f, Some(Duration::from_secs(60))).map(|v| v.len()),
            Some(1)
        );
        assert_eq!(read_cache(&f, None).map(|v| v.len()), Some(1));
        std::fs::write(&f, r#"{"written": 1, "instances": []}"#).unwrap();
        assert!(read_cache(&f, Some(Duration::from_secs(60))).is_none());
    }
}
