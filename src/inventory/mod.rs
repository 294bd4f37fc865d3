//! Inventory: hosts, groups and their variables from INI and YAML files, directories of them,
//! `host_vars/` and `group_vars/`; host patterns (`--limit`, `hosts:`). Knows nothing of plays
//! or connections.
//!
//! Semantics follow ansible-core 2.19 (see each file's doc for its format):
//! - A source is a file (`.yml`/`.yaml`/`.json` are YAML; other files are YAML when they start
//!   like YAML, else INI), a directory (every entry by name, recursively, skipping hidden files,
//!   `host_vars`/`group_vars`, and backups such as `*.retry`, `*.orig`, `*~`), or a comma list
//!   of hosts (`h1,h2,`). A missing source is an error (Ansible only warns).
//! - `all` and `ungrouped` always exist; every group without a parent is a child of `all`;
//!   hosts in no other group are in `ungrouped`.
//! - [`Host::vars`] merges, lowest first: `all`'s inventory vars; the host's other groups'
//!   inventory vars sorted by (depth, `ansible_group_priority`, name); `group_vars/all` beside
//!   each source then beside the playbook; the other groups' `group_vars` files (same order);
//!   the host's inventory vars; `host_vars/` beside each source, then beside the playbook.
//!   That is Ansible's order: any `group_vars/` file beats any inventory-file group var.
//! - Hosts also get `inventory_file`/`inventory_dir` (the first file naming them), which the
//!   `--list`/`--graph` output leaves out as Ansible does.
//! - `localhost`, `127.0.0.1` and `::1` exist implicitly (connection local, not in `all`) when a
//!   pattern names them and no inventory host does.

mod data;
mod hostname;
mod ini;
mod output;
mod pattern;
mod pyliteral;
mod source;
mod vars_dirs;
mod yaml;

pub use source::{DynamicGroup, DynamicInventory, DynamicSource, InventoryOptions, Source};

use crate::error::{LoadError, LoadResult, Span};
use data::{Data, VarMap};
use indexmap::{IndexMap, IndexSet};
use minijinja::Value;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use vars_dirs::VarsDir;

/// Names that mean the controller itself.
pub(crate) const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Directory entries Ansible does not read as inventory (backups, editor files, docs).
const IGNORED_SUFFIXES: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
const IGNORED_NAMES: [&str; 3] = ["host_vars", "group_vars", "vars_plugins"];

#[derive(Clone, Debug, Default)]
pub struct Host {
    pub name: String,
    /// Every group the host is in, ancestors included, `all` first (as `group_names` plus all).
    pub groups: Vec<String>,
    /// Merged inventory variables: group vars (all, then parents before children, then by
    /// name), inventory host vars, then host_vars/ files.
    pub vars: IndexMap<String, Value>,
    /// Not listed in any source: `localhost` when referenced (connection local).
    pub implicit: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub name: String,
    /// Hosts listed directly in this group.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    /// The group's own variables: inventory files, then its `group_vars/` files (and
    /// `ansible_group_priority` when not 1), as `ansible-inventory --graph --vars` shows them.
    pub vars: IndexMap<String, Value>,
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    pub sources: Vec<PathBuf>,
    layers: Layers,
}

/// What the merged variables are computed from, kept so playbook-adjacent vars can be added.
#[derive(Clone, Debug, Default)]
struct Layers {
    group_vars: IndexMap<String, VarMap>,
    host_vars: IndexMap<String, VarMap>,
    /// Per group: (depth below `all`, priority), the keys groups are sorted by.
    rank: IndexMap<String, (usize, i64)>,
    /// Per group: its hosts and its descendants' hosts, in Ansible's order (`groups[name]`).
    members: IndexMap<String, Vec<String>>,
    inventory_dirs: Vec<VarsDir>,
    playbook_dirs: Vec<VarsDir>,
}

impl Inventory {
    /// Loads every source (file or directory), then `host_vars/`/`group_vars/` beside each.
    pub fn load(sources: &[PathBuf]) -> LoadResult<Inventory> {
        let sources: Vec<Source> = sources.iter().cloned().map(Source::Path).collect();
        Inventory::load_with(&sources, &InventoryOptions::default())
    }

    /// Loads every source in order (paths, text, documents; YAML documents may configure one of
    /// `opts.dynamic`), then `host_vars/`/`group_vars/` beside each path.
    pub fn load_with(sources: &[Source], opts: &InventoryOptions) -> LoadResult<Inventory> {
        let mut reader = Reader {
            data: Data::new(),
            dynamic: &opts.dynamic,
        };
        let mut bases = Vec::new();
        let mut names = Vec::new();
        for src in sources {
            match src {
                Source::Path(path) => {
                    if let Some(base) = reader.path(path)? {
                        bases.push(base);
                    }
                    names.push(path.clone());
                }
                Source::Text { origin, text } => {
                    reader.text(text, origin)?;
                    names.push(origin.clone());
                }
                Source::Document { origin, doc } => {
                    reader.start(origin);
                    yaml::parse(
                        std::slice::from_ref(doc),
                        origin,
                        reader.dynamic,
                        &mut reader.data,
                    )?;
                    names.push(origin.clone());
                }
            }
        }
        let mut data = reader.data;
        data.reconcile();
        let mut inv = Inventory::from_data(data, names);
        for base in bases {
            let dir = inv.read_vars_dir(&base)?;
            inv.layers.inventory_dirs.push(dir);
        }
        inv.merge_vars();
        Ok(inv)
    }

    /// Adds `host_vars/` and `group_vars/` found beside the playbook (they win over those
    /// beside the inventory).
    pub fn add_vars_dirs(&mut self, dir: &Path) -> LoadResult<()> {
        let vars = self.read_vars_dir(dir)?;
        self.layers.playbook_dirs.push(vars);
        self.merge_vars();
        Ok(())
    }

    /// Hosts matching a pattern, in Ansible's order: the union parts in the order written (each
    /// in inventory order), then intersections and exclusions applied. No duplicates; a
    /// pattern that matches nothing gives an empty list.
    pub fn select(&self, pattern: &str) -> LoadResult<Vec<String>> {
        pattern::select(self, pattern)
    }

    /// A host by name, including the implicit localhost (`localhost`, `127.0.0.1`, `::1` when
    /// the inventory does not list them).
    pub fn host(&self, name: &str) -> Option<Host> {
        if let Some(h) = self.hosts.get(name) {
            return Some(h.clone());
        }
        if !LOCALHOST_NAMES.contains(&name) {
            return None;
        }
        let listed = self.localhost_name(name);
        if let Some(h) = self.hosts.get(&listed) {
            return Some(h.clone());
        }
        let mut own = VarMap::new();
        own.insert("ansible_connection".into(), Value::from("local"));
        Some(Host {
            name: name.to_string(),
            groups: vec![],
            vars: self.merged_vars(name, &[], &own),
            implicit: true,
        })
    }

    /// `groups`: every group name (with `all` and `ungrouped`) to its hosts, inventory order.
    pub fn groups_value(&self) -> Value {
        let map: IndexMap<Value, Value> = self
            .layers
            .members
            .iter()
            .map(|(g, hosts)| {
                let names: Vec<Value> = hosts.iter().map(|h| Value::from(h.as_str())).collect();
                (Value::from(g.as_str()), Value::from(names))
            })
            .collect();
        Value::from(map)
    }

    /// `ansible-inventory --list` JSON.
    pub fn to_list_json(&self) -> serde_json::Value {
        output::list_json(self)
    }

    /// `ansible-inventory --graph` text, from `group` (default `all`). An unknown group gives
    /// an empty string: check `groups` first to report it.
    pub fn graph(&self, group: Option<&str>, vars: bool) -> String {
        output::graph(self, group.unwrap_or("all"), vars)
    }

    /// A group's hosts and its descendants' hosts, as `groups[name]` lists them.
    pub(crate) fn group_hosts(&self, group: &str) -> &[String] {
        self.layers
            .members
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The inventory host that stands for a localhost name, else the name itself (implicit).
    pub(crate) fn localhost_name(&self, name: &str) -> String {
        self.hosts
            .keys()
            .find(|h| LOCALHOST_NAMES.contains(&h.as_str()))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    fn from_data(data: Data, sources: Vec<PathBuf>) -> Inventory {
        let mut layers = Layers::default();
        for name in data.groups.keys() {
            let depth = depth_of(&data, name, &mut IndexMap::new());
            layers
                .rank
                .insert(name.clone(), (depth, data.groups[name].priority));
            layers
                .members
                .insert(name.clone(), descendant_hosts(&data, name));
        }
        let mut host_groups: IndexMap<&str, IndexSet<&str>> = data
            .hosts
            .keys()
            .map(|h| (h.as_str(), IndexSet::new()))
            .collect();
        for (gname, g) in &data.groups {
            let ancestors = ancestors_of(&data, gname);
            for h in &g.hosts {
                if let Some(set) = host_groups.get_mut(h.as_str()) {
                    set.extend(ancestors.iter().copied());
                }
            }
        }
        let hosts = host_groups
            .into_iter()
            .map(|(h, groups)| {
                let mut names: Vec<String> = groups
                    .into_iter()
                    .filter(|g| *g != "all")
                    .map(str::to_string)
                    .collect();
                names.sort();
                names.insert(0, "all".to_string());
                let host = Host {
                    name: h.to_string(),
                    groups: names,
                    vars: IndexMap::new(),
                    implicit: false,
                };
                (h.to_string(), host)
            })
            .collect();
        let groups = data
            .groups
            .iter()
            .map(|(name, g)| {
                let group = Group {
                    name: name.clone(),
                    hosts: g.hosts.clone(),
                    children: g.children.clone(),
                    vars: IndexMap::new(),
                };
                (name.clone(), group)
            })
            .collect();
        layers.group_vars = data
            .groups
            .into_iter()
            .map(|(name, g)| (name, g.vars))
            .collect();
        layers.host_vars = data
            .hosts
            .into_iter()
            .map(|(name, h)| (name, h.vars))
            .collect();
        Inventory {
            hosts,
            groups,
            sources,
            layers,
        }
    }

    fn read_vars_dir(&self, base: &Path) -> LoadResult<VarsDir> {
        let hosts = self.hosts.keys().map(String::as_str).chain(LOCALHOST_NAMES);
        VarsDir::load(base, self.groups.keys().map(String::as_str), hosts)
    }

    /// Recomputes every host's and group's merged variables from the layers.
    fn merge_vars(&mut self) {
        let names: Vec<(String, Vec<String>)> = self
            .hosts
            .values()
            .map(|h| (h.name.clone(), self.sorted_groups(&h.groups)))
            .collect();
        for (name, groups) in names {
            let own = self
                .layers
                .host_vars
                .get(&name)
                .cloned()
                .unwrap_or_default();
            let vars = self.merged_vars(&name, &groups, &own);
            if let Some(h) = self.hosts.get_mut(&name) {
                h.vars = vars;
            }
        }
        let dirs = || {
            self.layers
                .inventory_dirs
                .iter()
                .chain(&self.layers.playbook_dirs)
        };
        let group_vars: Vec<(String, VarMap)> = self
            .groups
            .keys()
            .map(|g| {
                let mut vars = self.layers.group_vars.get(g).cloned().unwrap_or_default();
                for d in dirs() {
                    if let Some(v) = d.group_vars.get(g) {
                        vars.extend(v.clone());
                    }
                }
                if let Some((_, priority)) = self.layers.rank.get(g)
                    && *priority != 1
                {
                    vars.insert("ansible_group_priority".into(), Value::from(*priority));
                }
                (g.clone(), vars)
            })
            .collect();
        for (g, vars) in group_vars {
            if let Some(group) = self.groups.get_mut(&g) {
                group.vars = vars;
            }
        }
    }

    /// The host's groups other than `all`, in the order their variables apply.
    fn sorted_groups(&self, groups: &[String]) -> Vec<String> {
        let mut out: Vec<String> = groups.iter().filter(|g| *g != "all").cloned().collect();
        out.sort_by_key(|g| {
            let (depth, priority) = self.layers.rank.get(g).copied().unwrap_or((1, 1));
            (depth, priority, g.clone())
        });
        out
    }

    /// Ansible's variable order for one host (see the module doc).
    fn merged_vars(&self, host: &str, groups: &[String], own: &VarMap) -> VarMap {
        let l = &self.layers;
        let mut vars = VarMap::new();
        let mut add = |v: Option<&VarMap>| {
            if let Some(v) = v {
                vars.extend(v.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        };
        add(l.group_vars.get("all"));
        for g in groups {
            add(l.group_vars.get(g));
        }
        for d in l.inventory_dirs.iter().chain(&l.playbook_dirs) {
            add(d.group_vars.get("all"));
        }
        for dirs in [&l.inventory_dirs, &l.playbook_dirs] {
            for d in dirs {
                for g in groups {
                    add(d.group_vars.get(g));
                }
            }
        }
        add(Some(own));
        for d in l.inventory_dirs.iter().chain(&l.playbook_dirs) {
            add(d.host_vars.get(host));
        }
        vars
    }
}

/// Longest path from `all` (Ansible's group depth).
fn depth_of(data: &Data, group: &str, memo: &mut IndexMap<String, usize>) -> usize {
    if let Some(d) = memo.get(group) {
        return *d;
    }
    let parents = data
        .groups
        .get(group)
        .map(|g| g.parents.clone())
        .unwrap_or_default();
    let d = parents
        .iter()
        .map(|p| depth_of(data, p, memo) + 1)
        .max()
        .unwrap_or(0);
    memo.insert(group.to_string(), d);
    d
}

/// The group and all its ancestors.
fn ancestors_of<'a>(data: &'a Data, group: &'a str) -> IndexSet<&'a str> {
    let mut out = IndexSet::new();
    let mut stack = vec![group];
    while let Some(g) = stack.pop() {
        if out.insert(g)
            && let Some(gd) = data.groups.get(g)
        {
            stack.extend(gd.parents.iter().map(String::as_str));
        }
    }
    out
}

/// The group's hosts, then its children's, level by level (Ansible's `get_hosts`).
fn descendant_hosts(data: &Data, group: &str) -> Vec<String> {
    let mut ordered = vec![group];
    let mut seen: IndexSet<&str> = IndexSet::from([group]);
    let mut level = vec![group];
    while !level.is_empty() {
        let mut next = Vec::new();
        for g in level {
            for c in data
                .groups
                .get(g)
                .map(|g| &g.children)
                .into_iter()
                .flatten()
            {
                if seen.insert(c) {
                    ordered.push(c);
                    next.push(c.as_str());
                }
            }
        }
        level = next;
    }
    let mut hosts: IndexSet<&str> = IndexSet::new();
    for g in ordered {
        if let Some(gd) = data.groups.get(g) {
            hosts.extend(gd.hosts.iter().map(String::as_str));
        }
    }
    hosts.into_iter().map(str::to_string).collect()
}

/// `-i 'h1,h2:2222,'`: hosts in `ungrouped` (no ranges, as Ansible's `host_list`).
fn host_list(text: &str, data: &mut Data) {
    data.current_source = None;
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (host, port) = match hostname::parse_address(part) {
            Some((host, port)) if !host.contains('[') => (host, port),
            _ => (part.to_string(), None),
        };
        data.add_host(&host, "ungrouped", port);
    }
}

#[allow(clippy::expect_used)] // a constant pattern (tests cover it), not input
static YAML_KEY_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^\s\[=#;]+:(\s|$)").expect("static regex"));

/// Reads sources into one [`Data`].
struct Reader<'o> {
    data: Data,
    dynamic: &'o [Arc<dyn DynamicSource>],
}

impl Reader<'_> {
    /// A `-i` value: a file, a directory or a host list. Returns the directory whose
    /// `host_vars/` and `group_vars/` apply to it (none for a host list).
    fn path(&mut self, src: &Path) -> LoadResult<Option<PathBuf>> {
        let text = src.to_string_lossy();
        if !src.exists() {
            if text.contains(',') {
                host_list(&text, &mut self.data);
                return Ok(None);
            }
            return Err(LoadError::plain(format!(
                "inventory source '{}' does not exist",
                src.display()
            ))
            .hint("give a file, a directory, or hosts separated by commas: -i 'h1,h2,'"));
        }
        if src.is_dir() {
            self.dir(src)?;
            Ok(Some(src.to_path_buf()))
        } else {
            self.file(src)?;
            Ok(Some(
                src.parent().map(Path::to_path_buf).unwrap_or_default(),
            ))
        }
    }

    fn dir(&mut self, dir: &Path) -> LoadResult<()> {
        let read = std::fs::read_dir(dir).map_err(|e| {
            LoadError::plain(format!(
                "{}: cannot list inventory directory: {e}",
                dir.display()
            ))
        })?;
        let mut entries: Vec<(String, PathBuf)> = read
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| {
                !name.starts_with('.')
                    && !IGNORED_NAMES.contains(&name.as_str())
                    && !IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
            })
            .collect();
        entries.sort();
        for (_, path) in entries {
            if path.is_dir() {
                self.dir(&path)?;
            } else {
                self.file(&path)?;
            }
        }
        Ok(())
    }

    /// Hosts added from here on get `origin` as their `inventory_file`.
    fn start(&mut self, origin: &Path) {
        self.data.current_source =
            Some(std::path::absolute(origin).unwrap_or_else(|_| origin.to_path_buf()));
    }

    fn file(&mut self, path: &Path) -> LoadResult<()> {
        self.start(path);
        if is_yaml_name(path) {
            return self.yaml(&crate::yaml::load_file(path)?, path);
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            LoadError::plain(format!("{}: cannot read inventory: {e}", path.display()))
        })?;
        if crate::vault::is_vault(text.as_bytes()) {
            // A vault-encrypted INI inventory, as Ansible reads one.
            let plain = crate::vault::installed().decrypt(&text).map_err(|e| {
                LoadError::new(
                    &Span::new(path.display().to_string(), 1, 1),
                    format!("cannot decrypt this vault-encrypted inventory: {e}"),
                )
            })?;
            let plain = String::from_utf8_lossy(&plain).into_owned();
            return self.untyped(&plain, path);
        }
        self.untyped(&text, path)
    }

    /// Text standing for the file `origin`; errors show their line from `text`.
    fn text(&mut self, text: &str, origin: &Path) -> LoadResult<()> {
        self.start(origin);
        let name = origin.display().to_string();
        let read = if is_yaml_name(origin) {
            crate::yaml::load_str(text, &name).and_then(|docs| self.yaml(&docs, origin))
        } else {
            self.untyped(text, origin)
        };
        read.map_err(|e| e.in_text(&name, &Arc::from(text)))
    }

    fn yaml(&mut self, docs: &[crate::yaml::Node], path: &Path) -> LoadResult<()> {
        yaml::parse(docs, path, self.dynamic, &mut self.data)
    }

    /// A file whose name does not say its format: YAML when it starts like YAML, else INI.
    fn untyped(&mut self, text: &str, path: &Path) -> LoadResult<()> {
        let name = path.display().to_string();
        if text.starts_with("#!") {
            return Err(
                LoadError::plain(format!("{name}: inventory scripts are not supported"))
                    .hint("write the hosts to an INI or YAML file"),
            );
        }
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(['#', ';']))
            .unwrap_or("");
        if first.starts_with("---") || YAML_KEY_LINE.is_match(first) {
            return self.yaml(&crate::yaml::load_str(text, &name)?, path);
        }
        ini::parse(text, path, &mut self.data)
    }
}

/// `.yml`, `.yaml` and `.json` files are YAML whatever they start with.
fn is_yaml_name(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "yml" | "yaml" | "json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(files: &[(&str, &str)]) -> (tempfile::TempDir, Inventory) {
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = tmp.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let inv = Inventory::load(&[tmp.path().join("hosts")]).unwrap();
        (tmp, inv)
    }

    #[test]
    fn bfs_order_of_all_and_groups_value() {
        let (_t, inv) = inventory(&[(
            "hosts",
            "[m]\nm1\n[s]\ns1\n[top:children]\nm\ns\n[web]\nw1\n",
        )]);
        assert_eq!(inv.select("all").unwrap(), ["w1", "m1", "s1"]);
        let groups = inv.groups_value();
        let top = groups.get_attr("top").unwrap();
        assert_eq!(top, Value::from(vec!["m1", "s1"]));
        assert_eq!(inv.hosts["m1"].groups, ["all", "m", "top"]);
    }

    #[test]
    fn priority_orders_groups_of_equal_depth() {
        let (_t, inv) = inventory(&[(
            "hosts",
            "[a]\nh\n[b]\nh\n[a:vars]\nx=a\nansible_group_priority=10\n[b:vars]\nx=b\n",
        )]);
        assert_eq!(inv.hosts["h"].vars["x"], Value::from("a"));
        assert_eq!(
            inv.groups["a"].vars["ansible_group_priority"],
            Value::from(10)
        );
    }

    #[test]
    fn implicit_localhost_is_local_and_outside_all() {
        let (_t, inv) = inventory(&[
            ("hosts", "[web]\nw1\n[all:vars]\nntp=pool\n"),
            ("host_vars/localhost.yml", "extra: 1\n"),
        ]);
        assert_eq!(inv.select("localhost").unwrap(), ["localhost"]);
        assert!(
            !inv.select("all")
                .unwrap()
                .contains(&"localhost".to_string())
        );
        let h = inv.host("localhost").unwrap();
        assert!(h.implicit);
        assert_eq!(h.vars["ansible_connection"], Value::from("local"));
        assert_eq!(h.vars["ntp"], Value::from("pool"));
        assert_eq!(h.vars["extra"], Value::from(1));
        assert!(!h.vars.contains_key("ansible_python_interpreter"));
        assert!(inv.host("elsewhere").is_none());
    }

    #[test]
    fn listed_localhost_stands_for_the_others() {
        let (_t, inv) = inventory(&[("hosts", "127.0.0.1 ansible_connection=local\n")]);
        assert_eq!(inv.select("localhost").unwrap(), ["127.0.0.1"]);
        assert!(!inv.host("localhost").unwrap().implicit);
    }

    #[test]
    fn comma_host_list() {
        let inv = Inventory::load(&[PathBuf::from("h1, h2:2222,")]).unwrap();
        assert_eq!(inv.select("ungrouped").unwrap(), ["h1", "h2"]);
        assert_eq!(inv.hosts["h2"].vars["ansible_port"], Value::from(2222));
    }

    #[test]
    fn missing_source_and_script_are_errors() {
        let e = Inventory::load(&[PathBuf::from("/nonexistent/hosts")]).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("hosts"), "#!/bin/sh\necho {}\n").unwrap();
        let e = Inventory::load(&[tmp.path().join("hosts")]).unwrap_err();
        assert!(e.to_string().contains("scripts are not supported"), "{e}");
    }

    /// A dynamic source for `plugin: fake`: one host in one group.
    struct Fake;

    impl DynamicSource for Fake {
        fn accepts(&self, doc: &crate::yaml::Node) -> bool {
            doc.get("plugin").and_then(crate::yaml::Node::as_str) == Some("fake")
        }

        fn load(&self, _doc: &crate::yaml::Node) -> LoadResult<DynamicInventory> {
            let mut found = DynamicInventory::default();
            found.groups.insert(
                "cloud".into(),
                DynamicGroup {
                    hosts: vec!["c1".into()],
                    children: vec![],
                },
            );
            let vars = IndexMap::from([("zone".to_string(), Value::from("a"))]);
            found.hosts.insert("c1".into(), vars);
            Ok(found)
        }
    }

    #[test]
    fn text_documents_and_registered_dynamic_sources() {
        let opts = InventoryOptions {
            dynamic: vec![Arc::new(Fake)],
        };
        let doc = crate::yaml::load_str("db:\n  hosts:\n    d1:\n", "gen-db.yml").unwrap();
        let sources = [
            Source::Text {
                origin: "gen.ini".into(),
                text: "[web]\nw1 port=80\n".into(),
            },
            Source::Text {
                origin: "gen.yml".into(),
                text: "plugin: fake\n".into(),
            },
            Source::Document {
                origin: "gen-db.yml".into(),
                doc: doc[0].clone(),
            },
        ];
        let inv = Inventory::load_with(&sources, &opts).unwrap();
        assert_eq!(inv.select("web:cloud:db").unwrap(), ["w1", "c1", "d1"]);
        assert_eq!(inv.hosts["w1"].vars["port"], Value::from(80));
        assert_eq!(inv.hosts["c1"].vars["zone"], Value::from("a"));
        let file = inv.hosts["c1"].vars["inventory_file"].to_string();
        assert!(file.ends_with("/gen.yml"), "{file}");
        assert_eq!(inv.sources[0], PathBuf::from("gen.ini"));

        // Unregistered, the plugin's document is refused, its line shown from the text.
        let e = Inventory::load_with(&sources[1..2], &InventoryOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("gen.yml:1:9:"), "{e}");
        assert!(
            e.contains("plugin configuration") && e.contains("  | plugin: fake"),
            "{e}"
        );
    }

    #[test]
    fn extensionless_yaml_is_read_as_yaml() {
        let (_t, inv) = inventory(&[("hosts", "# yaml\nweb:\n  hosts:\n    w1:\n")]);
        assert_eq!(inv.select("web").unwrap(), ["w1"]);
    }
}
