//! The test fixture: a lab of fresh container hosts that removes itself when dropped, so a
//! failing test leaves nothing behind. Tests that use it need Docker (and root the first time,
//! to build the image); their names end in `_needs_docker`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::LAB_LABEL;
use super::hosts::{HostSpec, Lab, LabHost, LabSpec, remove_lab};
use super::image::{Recipe, ensure_image};
use super::process::{LabError, docker};
use crate::connection::ExecOutput;

pub struct ContainerHosts {
    lab: Lab,
    // Holds the key, known_hosts and inventory; removed after the containers.
    _dir: tempfile::TempDir,
}

impl ContainerHosts {
    /// Starts `n` hosts named `host1` … `hostN`, all in the group `lab`.
    pub fn start(n: usize) -> Result<ContainerHosts, LabError> {
        let hosts = (1..=n)
            .map(|i| HostSpec::new(format!("host{i}")).in_groups(&["lab"]))
            .collect();
        ContainerHosts::start_hosts(hosts)
    }

    /// Starts the given hosts (names and groups of the caller's choosing).
    pub fn start_hosts(hosts: Vec<HostSpec>) -> Result<ContainerHosts, LabError> {
        remove_orphaned_test_labs()?;
        let image = ensure_image(&Recipe::from_host()?)?;
        let dir = tempfile::Builder::new()
            .prefix("rmesos-lab-")
            .tempdir()
            .map_err(|e| LabError::io("creating the lab directory", e))?;
        let mut spec = LabSpec::new(unique_name(), dir.path(), image.tag);
        spec.hosts = hosts;
        let lab = Lab::up(&spec)?;
        Ok(ContainerHosts { lab, _dir: dir })
    }

    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    pub fn hosts(&self) -> &[LabHost] {
        self.lab.hosts()
    }

    pub fn inventory_path(&self) -> PathBuf {
        self.lab.inventory_path()
    }

    /// `docker exec HOST sh -c CMD`: an out-of-band look at the host, not through SSH.
    pub fn exec(&self, host: &str, cmd: &str) -> Result<ExecOutput, LabError> {
        self.lab.exec(host, cmd)
    }
}

impl Drop for ContainerHosts {
    fn drop(&mut self) {
        if let Err(e) = remove_lab(self.lab.name()) {
            // Drop cannot return it, and leftover containers must not go unnoticed.
            eprintln!("rmesos lab `{}`: cleanup failed: {e}", self.lab.name());
        }
    }
}

/// Removes the labs of test processes that died without running `Drop` (killed, timed out):
/// their names start with `t<pid>-` and that pid is gone.
fn remove_orphaned_test_labs() -> Result<(), LabError> {
    let format = format!("{{{{.Label \"{LAB_LABEL}\"}}}}");
    let filter = format!("label={LAB_LABEL}");
    let mut labs = docker(&["ps", "-a", "--filter", &filter, "--format", &format])?;
    labs.push('\n');
    labs.push_str(&docker(&[
        "network", "ls", "--filter", &filter, "--format", &format,
    ])?);
    let mut orphans: Vec<&str> = labs
        .lines()
        .filter(|name| {
            test_lab_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect();
    orphans.sort_unstable();
    orphans.dedup();
    for lab in orphans {
        // Best effort: another test process may be sweeping the same lab right now.
        let _ = remove_lab(lab);
    }
    Ok(())
}

/// The pid in a fixture lab's name (`t<pid>-<seq>-<clock>`).
fn test_lab_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('t')?;
    let (pid, tail) = rest.split_once('-')?;
    tail.contains('-').then_some(())?;
    pid.parse().ok()
}

/// Unique across the test threads of one process (counter) and across processes and earlier
/// runs (pid, clock).
fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seq = NEXT.fetch_add(1, Ordering::Relaxed);
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t{}-{seq}-{:x}", std::process::id(), clock & 0xfffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fixture_lab_names_yield_a_pid() {
        assert_eq!(test_lab_pid(&unique_name()), Some(std::process::id()));
        assert_eq!(test_lab_pid("t123-0-af"), Some(123));
        assert_eq!(test_lab_pid("test-lab"), None);
        assert_eq!(test_lab_pid("t123-x"), None);
        assert_eq!(test_lab_pid("mesos"), None);
    }
}
