//! Inventory: hosts, groups and their variables from INI and YAML files, directories of them,
//! `host_vars/` and `group_vars/`; host patterns (`--limit`, `hosts:`). Knows nothing of plays
//! or connections.

use crate::error::{LoadError, LoadResult};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};

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
    pub vars: IndexMap<String, Value>,
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    pub sources: Vec<PathBuf>,
}

impl Inventory {
    /// Loads every source (file or directory), then `host_vars/`/`group_vars/` beside each.
    pub fn load(sources: &[PathBuf]) -> LoadResult<Inventory> {
        let _ = sources;
        Err(LoadError::plain("inventory loading is not implemented yet"))
    }

    /// Adds `host_vars/` and `group_vars/` found beside the playbook (they win over those
    /// beside the inventory).
    pub fn add_vars_dirs(&mut self, dir: &Path) -> LoadResult<()> {
        let _ = dir;
        Ok(())
    }

    /// A host by name, including the implicit `localhost`.
    pub fn host(&self, name: &str) -> Option<Host> {
        self.hosts.get(name).cloned()
    }

    /// Hosts matching a pattern, in inventory order.
    pub fn select(&self, pattern: &str) -> LoadResult<Vec<String>> {
        let _ = pattern;
        Ok(vec![])
    }

    /// `groups`: every group name (with `all` and `ungrouped`) to its hosts, inventory order.
    pub fn groups_value(&self) -> Value {
        Value::from(())
    }

    /// `ansible-inventory --list` JSON.
    pub fn to_list_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// `ansible-inventory --graph` text.
    pub fn graph(&self, group: Option<&str>, vars: bool) -> String {
        let _ = (group, vars);
        String::new()
    }
}
