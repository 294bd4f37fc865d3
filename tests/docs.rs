//! The documentation that is generated from code must match the code.

use std::process::Command;

#[test]
fn modules_md_matches_the_registry() {
    let out = Command::new(env!("CARGO_BIN_EXE_rmesos"))
        .args(["doc", "--markdown"])
        .output()
        .expect("run rmesos doc");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/modules.md"))
        .expect("docs/modules.md");
    let body = doc.split_once("\n\n").map(|x| x.1).unwrap_or("");
    let body = body.split_once("\n\n").map(|x| x.1).unwrap_or("");
    assert!(
        body == generated,
        "docs/modules.md is stale: regenerate it (see its first lines)"
    );
}

#[test]
fn every_module_has_an_example_and_documented_args() {
    let out = Command::new(env!("CARGO_BIN_EXE_rmesos"))
        .arg("doc")
        .output()
        .expect("run rmesos doc");
    let list = String::from_utf8(out.stdout).expect("utf-8");
    let names: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 19, "modules: {:?}", names);
    for n in names {
        let out = Command::new(env!("CARGO_BIN_EXE_rmesos"))
            .args(["doc", n])
            .output()
            .expect("doc");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{n}");
        assert!(text.contains("EXAMPLE:") && text.contains(n), "{n}: {text}");
    }
}

/// The exit codes `--help` shows are the ones README.md and docs/compat.md list.
#[test]
fn the_exit_code_table_is_the_same_everywhere() {
    for doc in ["README.md", "docs/compat.md"] {
        let text = std::fs::read_to_string(format!("{}/{doc}", env!("CARGO_MANIFEST_DIR")))
            .expect("readable doc");
        assert!(
            text.contains(rmesos::app::exit::TABLE),
            "{doc} does not hold src/app/exit.rs's TABLE as it is"
        );
    }
}

/// Every `RMESOS_*` environment variable the source names is in docs/guide.md's table.
#[test]
fn every_rmesos_variable_is_documented() {
    fn scan(dir: &std::path::Path, found: &mut std::collections::BTreeSet<String>) {
        for e in std::fs::read_dir(dir).expect("readable dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                scan(&p, found);
            } else if p.extension().is_some_and(|x| x == "rs" || x == "sh") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for (i, _) in text.match_indices("RMESOS_") {
                    let name: String = text[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    found.insert(name.trim_end_matches('_').to_string());
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = std::collections::BTreeSet::new();
    for dir in ["src", "bench"] {
        scan(&root.join(dir), &mut found);
    }
    // The long-lived shell's here-document delimiter, and a variable a unit test needs unset.
    found.remove("RMESOS_STDIN");
    found.remove("RMESOS_SURELY_UNSET_VAR");
    assert!(found.len() >= 6, "{found:?}");
    let guide = std::fs::read_to_string(root.join("docs/guide.md")).expect("docs/guide.md");
    let table = guide
        .split_once("## Environment variables")
        .map(|x| x.1)
        .unwrap_or_default();
    for name in found {
        assert!(
            table.contains(&format!("| `{name}` |")),
            "{name} is not in docs/guide.md's environment variable table"
        );
    }
}
