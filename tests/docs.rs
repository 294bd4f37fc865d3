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
