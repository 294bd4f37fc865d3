//! YAML (and JSON) inventories, read as Ansible's `yaml` plugin reads them: top-level keys are
//! groups; each group may have `hosts` (host pattern → variables), `vars` and `children` (nested
//! groups of the same shape). Host keys may be ranges and carry a port (`db[1:3]:5432`).
//! Where Ansible only warns (an unknown key, a group that is not a mapping), this is an error.

use super::data::Data;
use super::hostname::expand;
use super::source::DynamicSource;
use crate::error::{LoadError, LoadResult};
use crate::yaml::{Node, NodeKind};
use std::path::Path;
use std::sync::Arc;

/// Reads a YAML inventory document into `data`, or, when one of `dynamic` accepts it, what that
/// source finds.
pub fn parse(
    docs: &[Node],
    path: &Path,
    dynamic: &[Arc<dyn DynamicSource>],
    data: &mut Data,
) -> LoadResult<()> {
    let Some(root) = docs.first().filter(|d| !d.is_null()) else {
        return Err(LoadError::plain(format!(
            "{}: the YAML inventory is empty",
            path.display()
        )));
    };
    if let Some(extra) = docs.get(1) {
        return Err(LoadError::new(
            &extra.span,
            "an inventory file holds one YAML document",
        ));
    }
    let groups = root.expect_map("a YAML inventory")?;
    if let Some(source) = dynamic.iter().find(|s| s.accepts(root)) {
        return source.load(root)?.add_to(data, &root.span);
    }
    if let Some(plugin) = root.get("plugin") {
        return Err(LoadError::new(
            &plugin.span,
            "this is an inventory plugin configuration, not a static inventory",
        )
        .hint(
            "static inventories list groups at the top level: all: {hosts: ..., children: ...}",
        ));
    }
    for (name, body) in groups {
        group(name, body, data)?;
    }
    Ok(())
}

fn name_of(key: &Node, what: &str) -> LoadResult<String> {
    key.key_string()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LoadError::new(&key.span, format!("{what} must be a non-empty string")))
}

fn group(key: &Node, body: &Node, data: &mut Data) -> LoadResult<String> {
    let name = name_of(key, "a group name")?;
    data.add_group(&name);
    if body.is_null() {
        return Ok(name);
    }
    let sections = body.as_map().ok_or_else(|| {
        LoadError::new(
            &body.span,
            format!(
                "group '{name}' must be a mapping, found {}",
                body.type_name()
            ),
        )
        .hint("a group has hosts:, children: and vars: keys")
    })?;
    for (k, v) in sections {
        let section = k.key_string().unwrap_or_default();
        if !matches!(section.as_str(), "hosts" | "children" | "vars") {
            return Err(LoadError::new(
                &k.span,
                format!("unexpected key '{section}' in group '{name}'"),
            )
            .hint("a group has only hosts:, children: and vars:"));
        }
        if v.is_null() {
            continue;
        }
        // `hosts: web1` and `children: db` are shorthands for a one-entry mapping.
        let single;
        let entries: &[(Node, Node)] = match &v.kind {
            NodeKind::Map(m) => m,
            NodeKind::Str(_) if section != "vars" => {
                single = [(v.clone(), Node::new(NodeKind::Null, v.span.clone()))];
                &single
            }
            _ => {
                return Err(LoadError::new(
                    &v.span,
                    format!(
                        "'{section}' of group '{name}' must be a mapping, found {}",
                        v.type_name()
                    ),
                ));
            }
        };
        match section.as_str() {
            "vars" => {
                for (vk, vv) in entries {
                    let var = name_of(vk, "a variable name")?;
                    data.set_group_var(&name, &var, vv.to_value())
                        .map_err(|e| LoadError::new(&vv.span, e.to_string()))?;
                }
            }
            "children" => {
                for (ck, cv) in entries {
                    let child = group(ck, cv, data)?;
                    data.add_child(&name, &child)
                        .map_err(|e| LoadError::new(&ck.span, e.to_string()))?;
                }
            }
            _ => {
                for (hk, hv) in entries {
                    hosts(&name, hk, hv, data)?;
                }
            }
        }
    }
    Ok(name)
}

fn hosts(group: &str, key: &Node, vars: &Node, data: &mut Data) -> LoadResult<()> {
    let pattern = name_of(key, "a host name")?;
    let (names, port) = expand(&pattern).map_err(|e| {
        LoadError::new(&key.span, e.to_string())
            .hint("ranges are written [01:10], [a:f] or [0:10:2]; a port as host:2222")
    })?;
    let entries = if vars.is_null() {
        &[][..]
    } else {
        vars.as_map().ok_or_else(|| {
            LoadError::new(
                &vars.span,
                format!(
                    "variables of host '{pattern}' must be a mapping, found {}",
                    vars.type_name()
                ),
            )
        })?
    };
    let mut values = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        values.push((name_of(k, "a variable name")?, v.to_value()));
    }
    for h in &names {
        data.add_host(h, group, port);
        for (k, v) in &values {
            data.set_host_var(h, k, v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;

    fn load(text: &str) -> LoadResult<Data> {
        let docs = crate::yaml::load_str(text, "/inv/x.yml")?;
        let mut d = Data::new();
        parse(&docs, Path::new("/inv/x.yml"), &[], &mut d)?;
        d.reconcile();
        Ok(d)
    }

    #[test]
    fn groups_hosts_children_and_vars() {
        let d = load(
            "all:\n  vars: {dc: east}\n  hosts:\n    lonely:\n  children:\n    db:\n      hosts:\n        db[1:2]:5432: {engine: pg}\n    app:\n      children:\n        db:\n      hosts: app1\n",
        )
        .unwrap();
        assert_eq!(d.groups["all"].vars["dc"], Value::from("east"));
        assert_eq!(d.groups["db"].hosts, ["db1", "db2"]);
        assert_eq!(d.hosts["db2"].vars["ansible_port"], Value::from(5432));
        assert_eq!(d.hosts["db2"].vars["engine"], Value::from("pg"));
        assert_eq!(d.groups["app"].children, ["db"]);
        assert_eq!(d.groups["app"].hosts, ["app1"]);
        assert_eq!(d.groups["ungrouped"].hosts, ["lonely"]);
    }

    #[test]
    fn bad_shapes_are_located() {
        let e = load("all:\n  host:\n    a:\n").unwrap_err().to_string();
        assert!(
            e.starts_with("/inv/x.yml:2:3:") && e.contains("unexpected key"),
            "{e}"
        );
        let e = load("web:\n  hosts:\n    h1: [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/inv/x.yml:3:9:"), "{e}");
        let e = load("plugin: constructed\n").unwrap_err().to_string();
        assert!(e.contains("plugin configuration"), "{e}");
        let e = load("web:\n  hosts:\n    h[1:]:\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/inv/x.yml:3:5:"), "{e}");
    }
}
