//! What `ansible-inventory --list` and `--graph [--vars]` print, in Ansible 2.19's shape:
//! JSON keys sorted, each non-empty group with `hosts` (direct members) and `children`, merged
//! host variables under `_meta.hostvars`, values shown in `--graph --vars` as Python prints them.

use super::Inventory;
use super::data::VarMap;
use crate::vocab::python_str;
use minijinja::Value;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashSet};

/// Variables Ansible sets on hosts itself and leaves out of inventory output.
const INTERNAL_VARS: [&str; 2] = ["inventory_file", "inventory_dir"];

fn visible(vars: &VarMap) -> BTreeMap<&str, &Value> {
    vars.iter()
        .filter(|(k, _)| !INTERNAL_VARS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

pub fn list_json(inv: &Inventory) -> Json {
    let mut out = BTreeMap::new();
    let mut seen = HashSet::new();
    let available = inv.group_hosts("all");
    let available_set: HashSet<&str> = available.iter().map(String::as_str).collect();
    format_group(inv, "all", &available_set, &mut seen, &mut out);
    let mut hostvars = BTreeMap::new();
    for h in available {
        if let Some(host) = inv.hosts.get(h) {
            let vars = visible(&host.vars);
            if !vars.is_empty() {
                let obj: Map<String, Json> = vars
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), to_json(v)))
                    .collect();
                hostvars.insert(h.clone(), Json::Object(obj));
            }
        }
    }
    let mut meta = Map::new();
    meta.insert(
        "hostvars".into(),
        Json::Object(hostvars.into_iter().collect()),
    );
    meta.insert("profile".into(), Json::from("inventory_legacy"));
    out.insert("_meta".to_string(), Json::Object(meta));
    Json::Object(out.into_iter().collect())
}

fn format_group(
    inv: &Inventory,
    name: &str,
    available: &HashSet<&str>,
    seen: &mut HashSet<String>,
    out: &mut BTreeMap<String, Json>,
) {
    let Some(group) = inv.groups.get(name) else {
        return;
    };
    let mut entry = Map::new();
    if !group.children.is_empty() {
        entry.insert("children".into(), Json::from(group.children.clone()));
    }
    if name != "all" {
        let hosts: Vec<&String> = group
            .hosts
            .iter()
            .filter(|h| available.contains(h.as_str()))
            .collect();
        if !hosts.is_empty() {
            entry.insert("hosts".into(), Json::from_iter(hosts.into_iter().cloned()));
        }
    }
    for child in &group.children {
        if seen.insert(child.clone()) {
            format_group(inv, child, available, seen, out);
        }
    }
    if !entry.is_empty() {
        out.insert(name.to_string(), Json::Object(entry));
    }
}

/// A runtime value as JSON with every mapping's keys sorted (Ansible dumps with sort_keys).
fn to_json(v: &Value) -> Json {
    match serde_json::to_value(v) {
        Ok(j) => sort_keys(j),
        Err(_) => Json::from(v.to_string()),
    }
}

fn sort_keys(j: Json) -> Json {
    match j {
        Json::Object(m) => {
            let sorted: BTreeMap<String, Json> =
                m.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Json::Object(sorted.into_iter().collect())
        }
        Json::Array(a) => Json::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

pub fn graph(inv: &Inventory, group: &str, vars: bool) -> String {
    let mut lines = Vec::new();
    graph_group(inv, group, 0, vars, &mut lines);
    lines.join("\n")
}

fn indent(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

fn graph_group(inv: &Inventory, name: &str, depth: usize, vars: bool, lines: &mut Vec<String>) {
    let Some(group) = inv.groups.get(name) else {
        return;
    };
    lines.push(indent(&format!("@{name}:"), depth));
    for child in &group.children {
        graph_group(inv, child, depth + 1, vars, lines);
    }
    if name != "all" {
        for h in &group.hosts {
            lines.push(indent(h, depth + 1));
            if vars && let Some(host) = inv.hosts.get(h) {
                show_vars(&host.vars, depth + 2, lines);
            }
        }
    }
    if vars {
        show_vars(&group.vars, depth + 1, lines);
    }
}

fn show_vars(vars: &VarMap, depth: usize, lines: &mut Vec<String>) {
    for (k, v) in visible(vars) {
        lines.push(indent(&format!("{{{k} = {}}}", python_str(v)), depth));
    }
}
