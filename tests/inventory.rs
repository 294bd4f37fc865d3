//! The inventory layer on a realistic tree (tests/fixtures/inventory): membership, variable
//! precedence, host patterns, `ansible-inventory` output (compared with what ansible-core 2.19
//! printed for the same files, kept in fixtures/inventory/expected) and located errors.

use minijinja::Value;
use rmesos::inventory::Inventory;
use serde::Serialize;
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(rel)
}

fn load(rels: &[&str]) -> Inventory {
    let sources: Vec<PathBuf> = rels.iter().map(|r| fixture(r)).collect();
    Inventory::load(&sources).unwrap_or_else(|e| panic!("{e}"))
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(fixture("expected").join(name)).unwrap()
}

/// JSON the way `ansible-inventory --list` prints it (4-space indent).
fn ansible_json(v: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).unwrap();
    String::from_utf8(out).unwrap()
}

fn var(inv: &Inventory, host: &str, name: &str) -> Value {
    inv.hosts[host].vars.get(name).cloned().unwrap_or_default()
}

#[test]
fn ini_groups_ranges_and_ports() {
    let inv = load(&["ini/hosts"]);
    assert_eq!(
        inv.hosts["master1"].groups,
        ["all", "masters", "mesos", "zookeeper"]
    );
    assert_eq!(inv.hosts["bastion"].groups, ["all", "ungrouped"]);
    assert_eq!(
        inv.groups["slaves"].hosts,
        ["slave01", "slave02", "slave03", "slave04"]
    );
    assert_eq!(
        inv.groups["web"].hosts,
        [
            "weba.example.com",
            "webb.example.com",
            "webc.example.com",
            "even0",
            "even2",
            "even4",
            "even6"
        ]
    );
    assert_eq!(inv.groups["mesos"].children, ["masters", "slaves"]);
    assert_eq!(
        inv.groups["all"].children,
        ["ungrouped", "zookeeper", "mesos", "web"]
    );
    assert_eq!(var(&inv, "master3", "ansible_port"), Value::from(2222));
    assert!(!inv.hosts["master1"].vars.contains_key("ansible_port"));
    let groups = inv.groups_value();
    assert_eq!(
        groups.get_attr("mesos").unwrap(),
        Value::from(vec![
            "master1", "master2", "master3", "slave01", "slave02", "slave03", "slave04"
        ])
    );
    assert_eq!(
        groups.get_attr("ungrouped").unwrap(),
        Value::from(vec!["bastion"])
    );
    assert_eq!(groups.get_attr("all").unwrap().len(), Some(15));
}

#[test]
fn ini_values_are_typed_like_ansible() {
    let inv = load(&["ini/hosts"]);
    assert_eq!(var(&inv, "master1", "zk_id"), Value::from(1));
    assert_eq!(var(&inv, "weba.example.com", "tls"), Value::from(true));
    assert_eq!(
        var(&inv, "weba.example.com", "weights"),
        Value::from(vec![1, 2])
    );
    assert_eq!(
        var(&inv, "weba.example.com", "spaced"),
        Value::from("two words")
    );
    assert_eq!(
        var(&inv, "slave01", "mesos_attributes"),
        Value::from("rack:r1;zone:a")
    );
    assert_eq!(var(&inv, "slave01", "mode"), Value::from("0644"));
    assert_eq!(var(&inv, "slave01", "ratio"), Value::from(0.5));
    assert!(var(&inv, "slave01", "nothing").is_none());
    assert_eq!(var(&inv, "master1", "master_only"), Value::from(true));
    // group_vars/mesos/ is a directory: its files merge in name order.
    assert_eq!(var(&inv, "slave01", "mesos_version"), Value::from("1.11"));
    let file = var(&inv, "master1", "inventory_file");
    assert!(
        file.as_str()
            .unwrap()
            .ends_with("fixtures/inventory/ini/hosts"),
        "{file}"
    );
}

#[test]
fn variable_precedence_follows_ansible() {
    let inv = load(&["ini/hosts"]);
    // host_vars/ file > inventory host var > group_vars of the deepest group > ... > all.
    assert_eq!(var(&inv, "master1", "level"), Value::from("host_vars"));
    assert_eq!(var(&inv, "master2", "level"), Value::from("host"));
    assert_eq!(var(&inv, "master3", "level"), Value::from("gv_masters"));
    assert_eq!(var(&inv, "slave01", "level"), Value::from("gv_mesos"));
    assert_eq!(var(&inv, "bastion", "level"), Value::from("gv_all"));
    // Inventory-file group vars: all < parent < child.
    assert_eq!(var(&inv, "master1", "inv_level"), Value::from("masters"));
    assert_eq!(var(&inv, "slave01", "inv_level"), Value::from("mesos"));
    assert_eq!(var(&inv, "bastion", "inv_level"), Value::from("all"));
    // Same depth: alphabetical, the later name wins.
    assert_eq!(var(&inv, "master1", "tie"), Value::from("zookeeper"));
    assert_eq!(var(&inv, "slave01", "tie"), Value::from("mesos"));
    // Any group_vars/ file (even all's) beats any group var written in the inventory file.
    assert_eq!(var(&inv, "master1", "deep"), Value::from("gv_all"));
    assert_eq!(
        inv.groups["masters"].vars["deep"],
        Value::from("inv_masters")
    );
}

#[test]
fn playbook_vars_dirs_win_over_inventory_ones() {
    let mut inv = load(&["ini/hosts"]);
    assert_eq!(var(&inv, "master2", "timezone"), Value::from("UTC"));
    inv.add_vars_dirs(&fixture("playbook")).unwrap();
    assert_eq!(
        var(&inv, "master1", "level"),
        Value::from("playbook_host_vars")
    );
    assert_eq!(
        var(&inv, "master2", "timezone"),
        Value::from("Europe/Paris")
    );
    assert_eq!(var(&inv, "master2", "level"), Value::from("host"));
}

#[test]
fn list_json_matches_ansible_inventory() {
    for (sources, file) in [
        (&["ini/hosts"][..], "ini.list.json"),
        (&["yaml/cluster.yml"][..], "yaml.list.json"),
        (&["dir"][..], "dir.list.json"),
    ] {
        let inv = load(sources);
        assert_eq!(
            ansible_json(&inv.to_list_json()),
            expected(file).trim_end(),
            "{file}"
        );
    }
    let mut inv = load(&["ini/hosts", "yaml/cluster.yml"]);
    inv.add_vars_dirs(&fixture("playbook")).unwrap();
    assert_eq!(
        ansible_json(&inv.to_list_json()),
        expected("combined.list.json").trim_end()
    );
}

#[test]
fn graph_matches_ansible_inventory() {
    let inv = load(&["ini/hosts"]);
    assert_eq!(inv.graph(None, false), expected("ini.graph.txt").trim_end());
    assert_eq!(
        inv.graph(None, true),
        expected("ini.graph-vars.txt").trim_end()
    );
    assert_eq!(
        inv.graph(Some("mesos"), false),
        expected("ini.graph-mesos.txt").trim_end()
    );
    assert_eq!(inv.graph(Some("nosuchgroup"), false), "");
    let inv = load(&["yaml/cluster.yml"]);
    assert_eq!(
        inv.graph(None, true),
        expected("yaml.graph-vars.txt").trim_end()
    );
}

#[test]
fn yaml_inventory() {
    let inv = load(&["yaml/cluster.yml"]);
    assert_eq!(
        inv.select("db").unwrap(),
        ["db1.example.com", "db2.example.com", "db3.example.com"]
    );
    assert_eq!(
        var(&inv, "db3.example.com", "ansible_port"),
        Value::from(2200)
    );
    assert_eq!(
        var(&inv, "db1.example.com", "ansible_port"),
        Value::from(5432)
    );
    assert_eq!(
        var(&inv, "app1", "map_var").get_attr("a").unwrap(),
        Value::from(2)
    );
    assert_eq!(inv.hosts["db1.example.com"].groups, ["all", "app", "db"]);
    assert_eq!(
        inv.select("app").unwrap(),
        [
            "app1",
            "db1.example.com",
            "db2.example.com",
            "db3.example.com"
        ]
    );
    assert_eq!(inv.select("ungrouped").unwrap(), ["lonely"]);
}

#[test]
fn directory_source_reads_every_inventory_file() {
    let inv = load(&["dir"]);
    let mut names: Vec<&str> = inv.hosts.keys().map(String::as_str).collect();
    names.sort();
    // hosts.retry, *.orig, *~ and hidden files are skipped; sub/ is read too.
    assert_eq!(names, ["core1", "edge1", "edge2", "edge3"]);
    assert_eq!(inv.groups["core"].children, ["edge"]);
    assert_eq!(var(&inv, "edge3", "tier"), Value::from("core"));
}

#[test]
fn patterns_select_like_ansible() {
    let inv = load(&["ini/hosts"]);
    let sel = |p: &str| inv.select(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let masters = ["master1", "master2", "master3"];
    let slaves = ["slave01", "slave02", "slave03", "slave04"];
    let web = [
        "weba.example.com",
        "webb.example.com",
        "webc.example.com",
        "even0",
        "even2",
        "even4",
        "even6",
    ];
    let all: Vec<&str> = ["bastion"]
        .iter()
        .chain(&web)
        .chain(&masters)
        .chain(&slaves)
        .copied()
        .collect();
    assert_eq!(sel("all"), all);
    assert_eq!(sel("*"), all);
    assert_eq!(sel("master1"), ["master1"]);
    assert_eq!(sel("masters"), masters);
    assert_eq!(sel("zoo*"), masters);
    assert_eq!(sel("slave0*"), slaves);
    assert_eq!(sel("*.example.com"), &web[..3]);
    assert_eq!(
        sel("~(master|slave)0?[13]$"),
        ["master1", "master3", "slave01", "slave03"]
    );
    assert_eq!(sel("web:masters"), [&web[..], &masters[..]].concat());
    assert_eq!(sel("slaves,masters"), [&slaves[..], &masters[..]].concat());
    assert_eq!(sel("master2:masters"), ["master2", "master1", "master3"]);
    assert_eq!(sel("mesos:&zookeeper"), masters);
    assert_eq!(sel("mesos:!masters"), slaves);
    assert_eq!(sel("!masters:&mesos:slaves"), slaves);
    assert_eq!(sel("all:!ungrouped:!mesos"), web);
    assert_eq!(sel("slaves[0]"), ["slave01"]);
    assert_eq!(sel("slaves[1:2]"), ["slave02", "slave03"]);
    assert_eq!(sel("slaves[-1]"), ["slave04"]);
    assert_eq!(sel("slaves[2:]"), ["slave03", "slave04"]);
    assert_eq!(sel("mesos[0]"), ["master1"]);
    assert_eq!(
        sel(&format!("@{}", fixture("limit.retry").display())),
        ["master2", "slave03"]
    );
    assert_eq!(sel("even*:bastion,master1"), ["master1"]);
    assert!(sel("nomatch").is_empty());
    assert!(sel("!all").is_empty());
    assert!(
        inv.select("slaves[9]")
            .unwrap_err()
            .to_string()
            .contains("slaves[9]")
    );
    assert!(inv.select("~(unclosed").is_err());
    assert!(inv.select("@/nonexistent/file.retry").is_err());
}

#[test]
fn implicit_localhost() {
    let inv = load(&["ini/hosts"]);
    assert_eq!(inv.select("localhost").unwrap(), ["localhost"]);
    assert_eq!(
        inv.select("masters:localhost").unwrap(),
        ["master1", "master2", "master3", "localhost"]
    );
    assert!(!inv.select("all").unwrap().iter().any(|h| h == "localhost"));
    assert!(!inv.hosts.contains_key("localhost"));
    let lh = inv.host("localhost").unwrap();
    assert!(lh.implicit);
    assert_eq!(lh.vars["ansible_connection"], Value::from("local"));
    assert_eq!(lh.vars["timezone"], Value::from("UTC"));
    assert!(!lh.vars.contains_key("ansible_python_interpreter"));
    assert!(!inv.host("master1").unwrap().implicit);
}

fn load_error(rel: &str) -> String {
    match Inventory::load(&[fixture(rel)]) {
        Ok(_) => panic!("{rel} should not load"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_is_located() {
    for (file, line_col, words) in [
        ("bad/range.ini", "range.ini:3:1:", "same number of digits"),
        (
            "bad/section.ini",
            "section.ini:2:1:",
            "unknown type 'hostz'",
        ),
        (
            "bad/keyvalue.ini",
            "keyvalue.ini:2:26:",
            "expected key=value",
        ),
        (
            "bad/undefined_child.ini",
            "undefined_child.ini:3:1:",
            "'slaves'",
        ),
        ("bad/group.yml", "group.yml:4:7:", "unexpected key 'host'"),
        (
            "bad/vars_file/hosts",
            "host_vars/h1:2:1:",
            "must be a mapping",
        ),
    ] {
        let e = load_error(file);
        assert!(e.contains(line_col) && e.contains(words), "{file}: {e}");
        assert!(
            e.contains("hint") || file.contains("vars_file"),
            "{file} has no hint: {e}"
        );
    }
    let e = load_error("no/such/inventory");
    assert!(e.contains("does not exist"), "{e}");
}
