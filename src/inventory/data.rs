//! The inventory while sources are being read: groups with their parents and children, hosts
//! with the variables the files give them. Parsers (INI, YAML, host lists) write here; once every
//! source is read, [`Data::reconcile`] applies Ansible's rules for `all` and `ungrouped`.

use indexmap::IndexMap;
use minijinja::Value;
use std::path::PathBuf;

pub type VarMap = IndexMap<String, Value>;

/// A group relation or group variable the inventory cannot take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("group '{0}' cannot be a child of itself")]
    OwnChild(String),
    #[error(
        "making '{child}' a child of '{parent}' creates a loop: '{parent}' is already under '{child}'"
    )]
    Loop { parent: String, child: String },
    #[error("ansible_group_priority must be an integer, got {0}")]
    Priority(String),
}

#[derive(Debug, Default)]
pub struct GroupData {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
    pub vars: VarMap,
    /// `ansible_group_priority`: orders groups of equal depth before their names do.
    pub priority: i64,
}

#[derive(Debug, Default)]
pub struct HostData {
    /// Variables from inventory files (host lines, YAML host entries), in order of definition.
    pub vars: VarMap,
}

#[derive(Debug)]
pub struct Data {
    pub groups: IndexMap<String, GroupData>,
    pub hosts: IndexMap<String, HostData>,
    /// The file being read (absolute): hosts it adds get it as `inventory_file`.
    pub current_source: Option<PathBuf>,
}

impl Data {
    /// `all` and `ungrouped` always exist, `ungrouped` first among `all`'s children.
    pub fn new() -> Data {
        let mut d = Data {
            groups: IndexMap::new(),
            hosts: IndexMap::new(),
            current_source: None,
        };
        d.add_group("all");
        d.add_group("ungrouped");
        d.link("all", "ungrouped");
        d
    }

    pub fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(
                name.to_string(),
                GroupData {
                    priority: 1,
                    ..GroupData::default()
                },
            );
        }
    }

    /// Adds a host (and puts it in `group`). The first source that names a host sets its
    /// `inventory_file`/`inventory_dir`; a port from `host:port` sets `ansible_port`.
    pub fn add_host(&mut self, name: &str, group: &str, port: Option<u16>) {
        let source = self.current_source.as_deref();
        let host = self.hosts.entry(name.to_string()).or_insert_with(|| {
            let mut vars = VarMap::new();
            let (file, dir) = match source {
                Some(p) => (
                    Value::from(p.display().to_string()),
                    Value::from(p.parent().unwrap_or(p).display().to_string()),
                ),
                None => (Value::from(()), Value::from(())),
            };
            vars.insert("inventory_file".into(), file);
            vars.insert("inventory_dir".into(), dir);
            HostData { vars }
        });
        if let Some(port) = port {
            host.vars.insert("ansible_port".into(), Value::from(port));
        }
        self.add_group(group);
        if let Some(g) = self.groups.get_mut(group)
            && !g.hosts.iter().any(|h| h == name)
        {
            g.hosts.push(name.to_string());
        }
    }

    /// Makes `child` a child group of `parent`; refuses a cycle.
    pub fn add_child(&mut self, parent: &str, child: &str) -> Result<(), GroupError> {
        if parent == child {
            return Err(GroupError::OwnChild(child.to_string()));
        }
        self.add_group(parent);
        self.add_group(child);
        if self.is_ancestor_or_self(child, parent) {
            return Err(GroupError::Loop {
                parent: parent.to_string(),
                child: child.to_string(),
            });
        }
        self.link(parent, child);
        Ok(())
    }

    fn link(&mut self, parent: &str, child: &str) {
        if let Some(p) = self.groups.get_mut(parent)
            && !p.children.iter().any(|c| c == child)
        {
            p.children.push(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child)
            && !c.parents.iter().any(|p| p == parent)
        {
            c.parents.push(parent.to_string());
        }
    }

    /// Whether `ancestor` is `group` or one of its (transitive) parents.
    fn is_ancestor_or_self(&self, ancestor: &str, group: &str) -> bool {
        let mut stack = vec![group];
        let mut seen = std::collections::HashSet::new();
        while let Some(g) = stack.pop() {
            if g == ancestor {
                return true;
            }
            if seen.insert(g)
                && let Some(data) = self.groups.get(g)
            {
                stack.extend(data.parents.iter().map(String::as_str));
            }
        }
        false
    }

    pub fn set_group_var(
        &mut self,
        group: &str,
        key: &str,
        value: Value,
    ) -> Result<(), GroupError> {
        self.add_group(group);
        let Some(g) = self.groups.get_mut(group) else {
            return Ok(());
        };
        if key == "ansible_group_priority" {
            g.priority =
                priority_of(&value).ok_or_else(|| GroupError::Priority(value.to_string()))?;
        } else {
            g.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    pub fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    /// Ansible's post-load rules: every group without a parent is a child of `all`; hosts in no
    /// group but `all` go to `ungrouped`; hosts in another group leave `ungrouped`.
    pub fn reconcile(&mut self) {
        let orphans: Vec<String> = self
            .groups
            .iter()
            .filter(|(name, g)| *name != "all" && g.parents.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for g in orphans {
            self.link("all", &g);
        }
        let mut direct: IndexMap<&str, Vec<&str>> = IndexMap::new();
        for (gname, g) in &self.groups {
            for h in &g.hosts {
                direct.entry(h.as_str()).or_default().push(gname.as_str());
            }
        }
        let mut to_ungrouped = Vec::new();
        let mut leave_ungrouped = Vec::new();
        for host in self.hosts.keys() {
            let groups = direct.get(host.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let elsewhere = groups.iter().any(|g| *g != "all" && *g != "ungrouped");
            if elsewhere && groups.contains(&"ungrouped") {
                leave_ungrouped.push(host.clone());
            } else if !elsewhere && !groups.contains(&"ungrouped") {
                to_ungrouped.push(host.clone());
            }
        }
        if let Some(u) = self.groups.get_mut("ungrouped") {
            u.hosts.retain(|h| !leave_ungrouped.contains(h));
            u.hosts.extend(to_ungrouped);
        }
    }
}

fn priority_of(v: &Value) -> Option<i64> {
    if let Ok(i) = i64::try_from(v.clone())
        && v.kind() == minijinja::value::ValueKind::Number
    {
        return Some(i);
    }
    v.as_str().and_then(|s| s.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_attaches_orphans_to_all_and_fills_ungrouped() {
        let mut d = Data::new();
        d.add_host("lonely", "all", None);
        d.add_host("both", "ungrouped", None);
        d.add_host("both", "web", None);
        d.add_child("mesos", "masters").unwrap();
        d.reconcile();
        assert_eq!(d.groups["all"].children, ["ungrouped", "web", "mesos"]);
        assert_eq!(d.groups["ungrouped"].hosts, ["lonely"]);
    }

    #[test]
    fn cycles_are_refused() {
        let mut d = Data::new();
        d.add_child("a", "b").unwrap();
        d.add_child("b", "c").unwrap();
        assert!(
            d.add_child("c", "a")
                .unwrap_err()
                .to_string()
                .contains("loop")
        );
        assert!(d.add_child("a", "a").is_err());
    }
}
