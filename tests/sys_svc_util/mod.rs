//! Shared by the service and account tests: container hosts, the real `rmesos` binary run on a
//! playbook against them with `--output json`, and out-of-band looks at the hosts through
//! `docker exec`.

#![allow(dead_code)] // each test file uses its own subset

use rmesos::lab::ContainerHosts;
use serde_json::Value;
use std::process::Command;

pub struct Hosts {
    pub lab: ContainerHosts,
    dir: tempfile::TempDir,
}

/// One `rmesos play` run: its host results and recap.
pub struct PlayRun {
    pub results: Vec<Value>,
    pub recap: Value,
    pub output: String,
    pub rc: i32,
}

impl PlayRun {
    pub fn stat(&self, host: &str, key: &str) -> u64 {
        self.recap[host][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} for {host}: {}", self.output))
    }
    pub fn changed(&self, host: &str) -> u64 {
        self.stat(host, "changed")
    }
    pub fn failed(&self, host: &str) -> u64 {
        self.stat(host, "failed")
    }
    /// The results for `host`, in task order.
    pub fn of(&self, host: &str) -> Vec<&Value> {
        self.results.iter().filter(|r| r["host"] == host).collect()
    }
    /// Asserts the run went through on every host without failures.
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.rc, 0, "{}", self.output);
        for (host, s) in self.recap.as_object().unwrap() {
            assert_eq!(s["failed"], 0, "{host} failed: {}", self.output);
            assert_eq!(s["unreachable"], 0, "{host} unreachable: {}", self.output);
        }
        self
    }
}

/// The binary under test: `RMESOS_BIN` when set (a private copy, for when several trees share
/// one cargo target directory and its `rmesos` may be another tree's build), else cargo's.
pub fn binary() -> String {
    std::env::var("RMESOS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rmesos").to_string())
}

/// Fails clearly when the binary lacks a module the test drives.
pub fn require_modules(names: &[&str]) {
    for name in names {
        let out = Command::new(binary()).args(["doc", name]).output().unwrap();
        assert!(
            out.status.success(),
            "{} does not know `{name}`: is it this tree's build? (set RMESOS_BIN)",
            binary()
        );
    }
}

impl Hosts {
    /// Starts `n` hosts for a test that drives `modules`.
    pub fn start(n: usize, modules: &[&str]) -> Hosts {
        require_modules(modules);
        Hosts {
            lab: ContainerHosts::start(n).expect("container hosts"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs `playbook` (YAML text) with extra command-line arguments (`--check`, `-l host1`).
    pub fn play(&self, playbook: &str, extra: &[&str]) -> PlayRun {
        let path = self.dir.path().join("play.yml");
        std::fs::write(&path, playbook).unwrap();
        let out = Command::new(binary())
            .arg("play")
            .arg("-i")
            .arg(self.lab.inventory_path())
            .arg(&path)
            .args(["--output", "json"])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let output = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let mut results = Vec::new();
        let mut recap = Value::Null;
        for line in stdout.lines() {
            let Ok(ev) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            match ev["event"].as_str() {
                Some("host_result") => results.push(ev),
                Some("recap") => recap = ev["stats"].clone(),
                _ => {}
            }
        }
        assert!(recap.is_object(), "no recap: {output}");
        PlayRun {
            results,
            recap,
            output,
            rc: out.status.code().unwrap_or(-1),
        }
    }

    /// `sh -c cmd` on the host through docker exec: (rc, stdout).
    pub fn sh_rc(&self, host: &str, cmd: &str) -> (i32, String) {
        let out = self.lab.exec(host, cmd).expect("docker exec");
        (out.rc, out.stdout_str())
    }

    /// `sh -c cmd` on the host; it must succeed.
    pub fn sh(&self, host: &str, cmd: &str) -> String {
        let out = self.lab.exec(host, cmd).expect("docker exec");
        assert_eq!(
            out.rc,
            0,
            "{cmd} on {host}: {}{}",
            out.stdout_str(),
            out.stderr_str()
        );
        out.stdout_str()
    }
}
