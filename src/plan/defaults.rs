//! `module_defaults` (play, role, block, task): argument defaults per module, merged into a
//! task's arguments at load time below everything the task writes, as Ansible's
//! `get_action_args_with_defaults` does. Keys name a module (short, `ansible.builtin.`/
//! `ansible.legacy.` or another collection's name: all resolve to the module rmesos has) or an
//! action group (`group/NAME`). Outer mappings come first; an inner one replaces an outer
//! one's entry for the same module whole (no merging of the two argument mappings); group
//! defaults sit below a module's own. Values stay raw: they are templated with the task's
//! variables when it runs, like the task's own arguments.

use super::keywords::{self, key_str};
use crate::error::{LoadError, LoadResult};
use crate::modules::DynModule;
use crate::yaml::{Node, NodeKind};
use minijinja::Value;

/// One `module_defaults` value: a mapping or a list of mappings, keys normalised to the
/// module's rmesos name (unknown names stay as written: no task here can be that module).
pub fn parse(node: &Node) -> LoadResult<Vec<Value>> {
    match &node.kind {
        NodeKind::Null => Ok(vec![]),
        NodeKind::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(node)?]),
    }
}

fn one(node: &Node) -> LoadResult<Value> {
    let Some(entries) = node.as_map() else {
        return Err(LoadError::new(
            &node.span,
            format!(
                "module_defaults must be a mapping (or a list of mappings), found {}",
                node.type_name()
            ),
        )
        .hint("write `module_defaults: {apt: {update_cache: yes}}`"));
    };
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, v) in entries {
        let key = key_str(k)?;
        let key = match crate::modules::lookup(&key) {
            Some(m) if !key.starts_with("group/") => m.name().to_string(),
            _ => key,
        };
        if !v.is_null() && v.as_map().is_none() {
            return Err(LoadError::new(
                &v.span,
                format!("the defaults of `{}` must be a mapping of arguments", key),
            )
            .hint("write the arguments themselves (`copy: {owner: root}`); a template for the whole mapping is not supported"));
        }
        let args = if v.is_null() {
            Value::from_pairs(std::iter::empty::<(String, Value)>())
        } else {
            keywords::value(v)?
        };
        out.retain(|(ok, _)| *ok != key);
        out.push((key, args));
    }
    Ok(Value::from_pairs(out))
}

/// The defaults for module `name` from `layers` (outermost first): its own entry from the
/// innermost layer that has one. No action group of the collections Ansible ships holds a
/// module rmesos has, so `group/...` entries apply to none of them.
pub fn for_module(name: &str, layers: &[Value]) -> Vec<(String, Value)> {
    let Some(args) = layers
        .iter()
        .rev()
        .filter_map(|l| l.get_attr(name).ok())
        .find(|v| !v.is_undefined())
    else {
        return vec![];
    };
    let Ok(keys) = args.try_iter() else {
        return vec![];
    };
    keys.filter_map(|k| {
        let v = args.get_item(&k).ok()?;
        Some((k.as_str()?.to_string(), v))
    })
    .collect()
}

/// Drops a default the task overrides through another name of the same argument (defaults
/// give `name`, the task writes `pkg`): the task's spelling wins, as Ansible's alias handling
/// lets it.
pub fn drop_shadowed(m: &dyn DynModule, default_keys: &[String], args: &mut Vec<(String, Value)>) {
    let group = |k: &str| {
        m.doc()
            .args
            .iter()
            .find(|a| a.name == k || a.aliases.contains(&k))
            .map(|a| a.name)
    };
    let shadowed: Vec<String> = default_keys
        .iter()
        .filter(|dk| {
            let g = group(dk);
            g.is_some() && args.iter().any(|(k, _)| k != *dk && group(k) == g)
        })
        .cloned()
        .collect();
    args.retain(|(k, _)| !shadowed.contains(k));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::load_str;

    fn layers(s: &str) -> Vec<Value> {
        parse(&load_str(s, "d.yml").unwrap().remove(0)).unwrap()
    }

    #[test]
    fn names_resolve_and_inner_entries_replace_outer_ones() {
        let l = layers(
            "[{ansible.builtin.apt: {update_cache: yes, cache_valid_time: 60}, group/aws: {region: x}},\n\
             {apt: {update_cache: no}}, {file: {owner: root}}]",
        );
        let d = for_module("apt", &l);
        assert_eq!(d, vec![("update_cache".to_string(), Value::from(false))]);
        assert_eq!(for_module("copy", &l), vec![]);
        assert_eq!(for_module("file", &l)[0].0, "owner");
    }

    #[test]
    fn shapes_are_checked() {
        let bad = |s: &str| {
            parse(&load_str(s, "d.yml").unwrap().remove(0))
                .unwrap_err()
                .to_string()
        };
        assert!(bad("[1]").contains("must be a mapping"));
        assert!(bad("{apt: '{{ d }}'}").contains("mapping of arguments"));
    }
}
