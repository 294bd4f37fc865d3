use super::parse::*;
use super::*;
use crate::modules::{DecodeMode, decode};

const POLICY: &str = "\
jq:
  Installed: (none)
  Candidate: 1.6-2.1
  Version table:
     1.6-2.1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
     1.5+dfsg-2+b1 100
        100 http://deb.debian.org/debian bullseye/main amd64 Packages
tree:
  Installed: 2.1.0-1
  Candidate: 2.1.1-1
  Version table:
     2.1.1-1 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
 *** 2.1.0-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
virtual-thing:
  Installed: (none)
  Candidate: (none)
  Version table:
";

const DPKG: &str = "tree\tamd64\tinstalled\t2.1.0-1\nlibfoo\ti386\tconfig-files\t1.0\nlibfoo\tamd64\tinstalled\t1.0\nold\tall\tconfig-files\t3\n";

fn args(json: &str) -> AptArgs {
    let v = minijinja::Value::from(minijinja::value::Serde(
        serde_json::from_str::<serde_json::Value>(json).unwrap(),
    ));
    decode(&v, DecodeMode::RunTime).unwrap()
}

fn secs(dpkg: &str, policy: &str) -> indexmap::IndexMap<String, String> {
    sections(&format!(
        "@@cache\nmtime=1\n@@dpkg\n{dpkg}@@policy\n{policy}"
    ))
}

fn specs(a: &AptArgs) -> Vec<PkgSpec> {
    a.name.iter().map(|n| PkgSpec::parse(n)).collect()
}

#[test]
fn policy_reads_installed_candidate_and_versions() {
    let p = parse_policy(POLICY);
    assert_eq!(p["jq"].installed, None);
    assert_eq!(p["jq"].candidate.as_deref(), Some("1.6-2.1"));
    assert_eq!(p["jq"].versions, ["1.6-2.1", "1.5+dfsg-2+b1"]);
    assert_eq!(p["tree"].installed.as_deref(), Some("2.1.0-1"));
    assert_eq!(p["tree"].versions, ["2.1.1-1", "2.1.0-1"]);
    assert_eq!(p["virtual-thing"].candidate, None);
    assert_eq!(p["jq"].resolve("1.5*"), Some("1.5+dfsg-2+b1"));
    assert_eq!(p["jq"].resolve("1.6*"), Some("1.6-2.1"));
    assert_eq!(p["jq"].resolve("2*"), None);
}

#[test]
fn dpkg_entries_prefer_the_installed_architecture() {
    let d = parse_dpkg(DPKG);
    assert_eq!(find_dpkg(&d, "libfoo").unwrap().arch, "amd64");
    assert_eq!(find_dpkg(&d, "libfoo:i386").unwrap().status, "config-files");
    assert!(find_dpkg(&d, "jq").is_none());
}

#[test]
fn spec_splits_version_pins() {
    assert_eq!(
        PkgSpec::parse("jq=1.6*"),
        PkgSpec {
            name: "jq".into(),
            version: Some("1.6*".into())
        }
    );
    assert_eq!(PkgSpec::parse("jq").version, None);
    assert!(PkgSpec::parse("jq=1.6*").accepts("1.6-2.1"));
    assert!(!PkgSpec::parse("jq=1.5*").accepts("1.6-2.1"));
}

#[test]
fn present_installs_only_missing_packages() {
    let a = args(r#"{"name": ["jq", "tree"]}"#);
    let p = plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap();
    assert_eq!(p.install, ["jq"]);
    assert!(p.remove.is_empty());
}

#[test]
fn latest_upgrades_to_the_candidate() {
    let a = args(r#"{"name": "jq,tree", "state": "latest"}"#);
    let p = plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap();
    assert_eq!(p.install, ["jq", "tree"]);
    let a = args(r#"{"name": "tree", "state": "latest", "only_upgrade": true}"#);
    assert_eq!(
        plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap().install,
        ["tree"]
    );
    let a = args(r#"{"name": "jq", "state": "latest", "only_upgrade": true}"#);
    assert!(
        plan(&a, &specs(&a), &secs(DPKG, POLICY))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn version_globs_resolve_to_exact_versions() {
    let a = args(r#"{"name": ["jq=1.5*", "tree=2.1.0*"]}"#);
    let p = plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap();
    assert_eq!(p.install, ["jq=1.5+dfsg-2+b1"]);
    let a = args(r#"{"name": "tree=2.1.1*"}"#);
    assert_eq!(
        plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap().install,
        ["tree=2.1.1-1"]
    );
    let a = args(r#"{"name": "jq=9*"}"#);
    let e = plan(&a, &specs(&a), &secs(DPKG, POLICY))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "No package matching 'jq=9*' is available");
}

#[test]
fn absent_removes_installed_and_purge_takes_config_files() {
    let a = args(r#"{"name": ["jq", "tree", "old"], "state": "absent"}"#);
    let p = plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap();
    assert_eq!(p.remove, ["tree"]);
    let a = args(r#"{"name": ["jq", "tree", "old"], "state": "removed", "purge": true}"#);
    let p = plan(&a, &specs(&a), &secs(DPKG, POLICY)).unwrap();
    assert_eq!(p.remove, ["tree", "old"]);
}

#[test]
fn deb_is_installed_unless_that_version_is() {
    let a = args(r#"{"deb": "/tmp/x.deb"}"#);
    let s = sections("@@deb\npackage=x\nversion=1.0\ninstalled=installed 1.0\n");
    assert!(plan(&a, &[], &s).unwrap().is_empty());
    let s = sections("@@deb\npackage=x\nversion=1.1\ninstalled=installed 1.0\n");
    assert_eq!(
        plan(&a, &[], &s).unwrap().deb.as_deref(),
        Some("/tmp/x.deb")
    );
    let s = sections("@@deb\npackage=x\nversion=1.0\ninstalled=\n");
    assert!(plan(&a, &[], &s).unwrap().deb.is_some());
}

#[test]
fn simulations_decide_system_operations() {
    let a = args(r#"{"upgrade": "dist"}"#);
    let s = sections("@@sim\nNOTE: This is only a simulation!\n0 upgraded, 0 newly installed\n");
    assert!(plan(&a, &[], &s).unwrap().is_empty());
    let s = sections("@@sim\nInst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64])\n");
    assert!(plan(&a, &[], &s).unwrap().system_ops);
}

#[test]
fn actions_from_real_and_simulated_runs() {
    let real = "Selecting previously unselected package jq.\n\
        Unpacking libjq1:amd64 (1.6-2.1) ...\n\
        Setting up libjq1:amd64 (1.6-2.1) ...\n\
        Setting up jq (1.6-2.1) ...\n\
        Removing tree (2.1.0-1) ...\n\
        Purging configuration files for old (3) ...\n";
    assert_eq!(
        parse_actions(real),
        vec![
            (Action::Install, "libjq1".to_string()),
            (Action::Install, "jq".to_string()),
            (Action::Remove, "tree".to_string()),
            (Action::Purge, "old".to_string()),
        ]
    );
    let sim = "Inst jq (1.6-2.1 Debian:12.5/stable [amd64])\nConf jq (1.6-2.1 Debian:12.5/stable [amd64])\nRemv tree [2.1.0-1]\n";
    assert_eq!(
        parse_actions(sim),
        vec![
            (Action::Install, "jq".to_string()),
            (Action::Remove, "tree".to_string())
        ]
    );
    assert!(parse_actions("jq is already the newest version (1.6-2.1).\n").is_empty());
}

#[test]
fn options_follow_arguments() {
    let a = args(
        r#"{"name": "jq", "install_recommends": false, "default_release": "bookworm-backports", "force": true}"#,
    );
    let o = install_opts(&a);
    assert!(o.contains("-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"));
    assert!(o.contains("--no-install-recommends"));
    assert!(o.contains("-t bookworm-backports"));
    assert!(o.contains("--allow-downgrades") && o.contains("--allow-remove-essential"));
    let a = args(r#"{"name": "jq", "dpkg_options": "force-confnew"}"#);
    assert!(install_opts(&a).contains("Dpkg::Options::=--force-confnew"));
    assert!(!install_opts(&a).contains("confold"));
}

#[test]
fn query_updates_a_stale_cache_only_outside_check_mode() {
    let a = args(r#"{"name": "jq", "cache_valid_time": 3600}"#);
    let q = query_script(&a, &specs(&a), false).unwrap();
    assert!(q.contains("-ge 3600") && q.contains("rm_apt -q update"));
    let q = query_script(&a, &specs(&a), true).unwrap();
    assert!(!q.contains("rm_apt -q update") && q.contains("would_update=1"));
    let a = args(r#"{"name": "jq"}"#);
    assert!(
        !query_script(&a, &specs(&a), false)
            .unwrap()
            .contains("rm_apt -q update")
    );
}

#[test]
fn bad_upgrade_and_unknown_arguments_are_refused() {
    assert!(upgrade_command(Some("sideways")).is_err());
    assert_eq!(
        upgrade_command(Some("True")).unwrap(),
        Some("upgrade --with-new-pkgs")
    );
    let v = minijinja::Value::from(minijinja::value::Serde(
        serde_json::json!({"name": "jq", "bogus": 1}),
    ));
    let e = decode::<AptArgs>(&v, DecodeMode::LoadTime).err().unwrap();
    assert!(e.msg.contains("unsupported argument `bogus`"), "{e}");
    let v = minijinja::Value::from(minijinja::value::Serde(
        serde_json::json!({"pkg": "jq", "state": "build-dep", "update-cache": "yes"}),
    ));
    let a: AptArgs = decode(&v, DecodeMode::LoadTime).unwrap();
    assert_eq!(a.state, AptState::BuildDep);
    assert_eq!(a.update_cache, Some(true));
}
