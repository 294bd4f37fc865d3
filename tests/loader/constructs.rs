//! Constructs that Ansible accepts in content written elsewhere: legacy argument spellings,
//! argument aliases, playbook-level includes, `vars` lists, `module_defaults`, `vars_prompt`,
//! roles found where Ansible finds them. Each test loads a playbook that uses the construct.

use super::{arg, fixture, named, tasks};
use minijinja::Value;
use rmesos::plan::*;

/// Loads `text` as a playbook standing for `fixture(name)`.
fn load_text(text: &str, name: &str, opts: &LoadOptions) -> Playbook {
    match load_playbook_text(text, &fixture(name), opts) {
        Ok(pb) => pb,
        Err(e) => panic!("{e}"),
    }
}

/// Loads the fixture file `name`.
fn load_file(name: &str, opts: &LoadOptions) -> Playbook {
    match load_playbook(&fixture(name), opts) {
        Ok(pb) => pb,
        Err(e) => panic!("{e}"),
    }
}

fn text(v: Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

#[test]
fn legacy_kv_spellings_load_as_ansible_parses_them() {
    let pb = load_text(
        "- hosts: all\n  tasks:\n\
         \x20   - name: dashed\n      apt: update-cache=yes name=zookeeper\n\
         \x20   - name: copy no\n      unarchive: src=/tmp/zk.tgz dest=/opt copy=no\n\
         \x20   - name: spaced\n      file: path= \"{{ dir }}\" state=directory\n",
        "legacy.yml",
        &LoadOptions::default(),
    );
    let t = tasks(&pb.plays[0].tasks);
    assert_eq!(text(arg(&t[0], "update-cache")), "yes");
    assert_eq!(text(arg(&t[1], "copy")), "no");
    // Ansible's parse_kv: path is empty and the quoted text is raw; the file module refuses
    // it when a host reaches the task (tests/fixtures/exec/legacy_raw_params.yml).
    assert_eq!(text(arg(&t[2], "path")), "");
    assert_eq!(text(arg(&t[2], "_raw_params")), "\"{{ dir }}\"");
}

/// Every alias ansible-core declares for an argument rmesos supports loads: a playbook with one
/// task per alias (ansible_arg_aliases.json comes from `ansible-doc`, see generate.py there).
#[test]
fn every_ansible_argument_alias_of_a_supported_argument_loads() {
    let json = std::fs::read_to_string(fixture("aliases/ansible_arg_aliases.json")).unwrap();
    let table: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json).unwrap();
    let mut refused = Vec::new();
    let mut used = 0;
    for (module, args) in &table {
        let Some(m) = rmesos::modules::lookup(module) else {
            continue;
        };
        let required: Vec<&str> = m
            .doc()
            .args
            .iter()
            .filter(|a| a.required)
            .map(|a| a.name)
            .collect();
        for (canonical, aliases) in args.as_object().into_iter().flatten() {
            let with = |name: &str| -> String {
                let mut lines = format!("        {name}: \"{{{{ x }}}}\"\n");
                for r in required.iter().filter(|r| **r != canonical.as_str()) {
                    lines.push_str(&format!("        {r}: \"{{{{ x }}}}\"\n"));
                }
                format!("- hosts: all\n  tasks:\n    - {module}:\n{lines}")
            };
            let opts = LoadOptions::default();
            // An argument rmesos does not have at all (attributes...) is refused by its own
            // name already; its aliases need not load.
            if load_playbook_text(&with(canonical), &fixture("a.yml"), &opts).is_err() {
                continue;
            }
            for alias in aliases.as_array().into_iter().flatten() {
                let alias = alias.as_str().unwrap_or_default();
                used += 1;
                if let Err(e) = load_playbook_text(&with(alias), &fixture("a.yml"), &opts) {
                    refused.push(format!("{module} {alias} (for {canonical}): {e}"));
                }
            }
        }
    }
    assert!(used > 20, "only {used} aliases tried");
    assert!(refused.is_empty(), "{}", refused.join("\n"));
}

fn with_extra(pairs: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        extra_vars: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect(),
        inventory: Some(InventoryPlace {
            dir: fixture("constructs/inv").display().to_string(),
            file: fixture("constructs/inv/hosts").display().to_string(),
        }),
        ..LoadOptions::default()
    }
}

#[test]
fn templated_import_playbook_names_use_what_is_known_while_loading() {
    let opts = with_extra(&[("which", "first")]);
    let pb = load_file("constructs/imports.yml", &opts);
    let names: Vec<&str> = pb.plays.iter().map(|p| p.name.as_str()).collect();
    // playbook_dir, -e, inventory_dir, the import's vars, legacy include k=v, a nested import
    // whose playbook_dir is its own directory.
    assert_eq!(
        names,
        ["first", "first", "first", "second", "second", "first"]
    );
    let legacy = &pb.plays[4];
    assert_eq!(text(legacy.vars.get_attr("some_var").unwrap()), "value");
    assert!(legacy.kw.tags.contains(&"legacy".to_string()));
    assert!(
        pb.plays[3]
            .vars
            .get_attr("some_var")
            .unwrap()
            .is_undefined()
    );
}

#[test]
fn an_unknown_variable_in_a_playbook_name_is_a_located_error() {
    let e = match load_playbook(&fixture("constructs/imports.yml"), &with_extra(&[])) {
        Ok(_) => panic!("loaded without `which`"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("imports.yml:2:"), "{e}");
    assert!(e.contains("which"), "{e}");
    assert!(e.contains("extra vars (-e)"), "{e}");
}

#[test]
fn vars_as_a_list_of_mappings_and_legacy_include_params() {
    let pb = load_file("constructs/vars_lists.yml", &LoadOptions::default());
    let play = &pb.plays[0];
    assert_eq!(play.vars.get_attr("a").unwrap(), Value::from(3));
    assert_eq!(play.vars.get_attr("b").unwrap(), Value::from(2));
    let role_task = &tasks(&play.roles)[0];
    assert_eq!(role_task.kw.vars[0].get_attr("r").unwrap(), Value::from(1));
    let t = named(&play.tasks, "task vars");
    let layers: Vec<String> = t.kw.vars.iter().map(|v| v.to_string()).collect();
    assert_eq!(layers, ["{'blk': 1}", "{'t': 2}"]);
    let inc = named(&play.tasks, "included");
    assert_eq!(
        text(inc.kw.vars.last().unwrap().get_attr("inc_var").unwrap()),
        "value"
    );
    // `tags=` among an include's parameters tags the included tasks (Ansible 2.x).
    let inc = named(&play.tasks, "included with tags");
    assert_eq!(inc.kw.tags, ["legacy", "old"]);
    let last = inc.kw.vars.last().unwrap();
    assert_eq!(text(last.get_attr("other").unwrap()), "1");
    assert!(last.get_attr("tags").unwrap().is_undefined());
}

#[test]
fn module_defaults_fill_in_what_the_task_leaves_out() {
    let pb = load_file("constructs/module_defaults.yml", &LoadOptions::default());
    let play = &pb.plays[0];
    let path = |t: &Task| text(arg(t, "path"));
    // `path` is required: the defaults satisfy the load-time check too.
    assert_eq!(path(&named(&play.tasks, "play default")), "/from/play");
    assert_eq!(
        text(arg(&named(&play.tasks, "play default"), "mode")),
        "0750"
    );
    assert_eq!(path(&tasks(&play.roles)[0]), "/from/role");
    assert_eq!(path(&named(&play.tasks, "block default")), "/from/block");
    // An inner entry replaces the outer one for that module whole: no `mode` from the play.
    let t = named(&play.tasks, "task default");
    assert_eq!(path(&t), "{{ dir }}/t");
    assert!(t.args.get_attr("mode").unwrap().is_undefined());
    let apt = named(&play.tasks, "task wins");
    assert_eq!(text(arg(&apt, "update_cache")), "no");
    assert_eq!(arg(&apt, "cache_valid_time"), Value::from(3600));
    let alias = named(&play.tasks, "alias wins");
    assert_eq!(text(arg(&alias, "pkg")), "y");
    assert!(alias.args.get_attr("name").unwrap().is_undefined());
    assert_eq!(arg(&alias, "update_cache"), Value::from(true));
    assert_eq!(path(&play.handlers[0].task), "/from/play");
}

#[test]
fn roles_are_found_in_roles_path_galaxy_directories_and_collections() {
    let opts = LoadOptions {
        roles_path: vec![fixture("constructs/nowhere"), fixture("constructs/rp")],
        collections_path: vec![fixture("constructs/colls")],
        ..LoadOptions::default()
    };
    let pb = load_file("constructs/roles_search.yml", &opts);
    let play = &pb.plays[0];
    let roles: Vec<(String, String)> = tasks(&play.roles)
        .iter()
        .chain(tasks(&play.tasks).iter())
        .map(|t| {
            let r = t.role.as_ref().expect("a role task");
            (r.name.clone(), text(arg(t, "msg")))
        })
        .collect();
    let want = [
        ("acme.java", "java"),
        ("acme.stack.zk", "zk"),
        ("acme.local.web", "web"),
        ("acme.stack.zk", "zk"),
    ];
    assert_eq!(
        roles,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    let e = match load_playbook(
        &fixture("constructs/roles_search.yml"),
        &LoadOptions::default(),
    ) {
        Ok(_) => panic!("found acme.java without its roles path"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("role `acme.java` not found"), "{e}");
    assert!(e.contains("rmesos galaxy install"), "{e}");
}

#[test]
fn templated_play_rules_wait_for_the_play_and_literal_ones_are_checked_now() {
    let pb = load_text(
        "- hosts: all\n  serial: \"{{ batch | default(1) }}\"\n  max_fail_percentage: 20\n  any_errors_fatal: \"{{ fatal }}\"\n  tasks: []\n",
        "rules.yml",
        &LoadOptions::default(),
    );
    let play = &pb.plays[0];
    assert_eq!(play.templated.len(), 2);
    // What the executor does when the play starts: render, then read as Ansible reads them.
    let rules = play
        .rules(|v| {
            Ok(Value::from(match v.as_str() {
                Some(s) if s.contains("batch") => "30%",
                _ => "yes",
            }))
        })
        .unwrap();
    assert_eq!(rules.serial, vec![Serial::Percent(30.0)]);
    assert_eq!(rules.max_fail_percentage, Some(20.0));
    assert!(rules.any_errors_fatal);
    let e = play
        .rules(|_| Ok(Value::from("two")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("rules.yml:2:11"), "{e}");
    assert!(e.contains("serial must be a number or a percentage"), "{e}");
    let e = match load_playbook_text(
        "- hosts: all\n  serial: two\n",
        &fixture("bad_rules.yml"),
        &LoadOptions::default(),
    ) {
        Ok(_) => panic!("serial: two loaded"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("bad_rules.yml:2:11: serial must be"), "{e}");
}
