//! Stopping a command on the host (a task's `timeout`, an interrupted run). sshd starts each
//! session's command in a session (and process group) of its own, and sudo with `use_pty`
//! starts its command in yet another, so the controller cannot know the group from outside:
//! every script begins by reading its group from `/proc/$$/stat` and printing it on stderr in
//! a marker line ([`PgidProbe`]), which the controller reads as the output streams in and
//! strips from the result (no extra round trip). To stop the command, a new channel runs
//! [`kill_script`] as the same become identity: SIGTERM to the group, SIGKILL to what is left
//! after [`STOP_GRACE`]. A script started by the long-lived shell shares the shell's group, so
//! stopping it ends that shell too; the next exec starts a new one.
//!
//! Needs only sh, /proc and `sleep` (coreutils) on the host. Without /proc no marker comes and
//! the caller falls back to closing the channel. A process that leaves its group (`setsid`,
//! a daemon) is not stopped.

use crate::connection::{STOP_GRACE, find_from};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a stopped exec may still take to report its group (a script that has just
/// started, or sudo still asking for the password).
pub(super) const PGID_WAIT: Duration = Duration::from_secs(2);
/// The kill's own limit: a new channel, sudo's prompt and the grace.
pub(super) const KILL_TIMEOUT: Duration = Duration::from_secs(20);

/// The process group one script reports.
pub(super) struct PgidProbe {
    /// `RMESOS-PG-<token>:`, then the group and a newline.
    prefix: String,
    pgid: OnceLock<i32>,
}

impl PgidProbe {
    /// `token`: random, so no output forges the marker by accident.
    pub(super) fn new(token: &str) -> PgidProbe {
        PgidProbe {
            prefix: format!("RMESOS-PG-{token}:"),
            pgid: OnceLock::new(),
        }
    }

    /// `script`, preceded by a line that prints its process group on stderr (builtins only:
    /// no process is started for it).
    pub(super) fn wrap(&self, script: &str) -> String {
        format!(
            "read -r _rm_pg _rm_pg _rm_pg _rm_pg _rm_pg _rm_x 2>/dev/null </proc/$$/stat && \
             printf '%s%s\\n' '{}' \"$_rm_pg\" >&2; unset _rm_pg _rm_x\n{script}",
            self.prefix
        )
    }

    /// Looks for the marker in `stderr`, whose bytes before `from` were looked at already.
    pub(super) fn scan(&self, stderr: &[u8], from: usize) {
        if self.pgid.get().is_some() {
            return;
        }
        let from = from.saturating_sub(self.prefix.len() + 12);
        if let Some((_, pgid)) = self.find(stderr, from) {
            let _ = self.pgid.set(pgid);
        }
    }

    /// The group, once its marker line has come.
    pub(super) fn get(&self) -> Option<i32> {
        self.pgid.get().copied()
    }

    /// Removes the marker line from `stderr` (and notes the group if it was not yet).
    pub(super) fn strip(&self, stderr: &mut Vec<u8>) {
        if let Some((start, pgid)) = self.find(stderr, 0) {
            let _ = self.pgid.set(pgid);
            if let Some(len) = stderr[start..].iter().position(|&b| b == b'\n') {
                stderr.drain(start..=start + len);
            }
        }
    }

    /// Where the whole marker line starts, and the group it names (a real group: above 1).
    fn find(&self, stderr: &[u8], from: usize) -> Option<(usize, i32)> {
        let start = find_from(stderr, from, self.prefix.as_bytes())?;
        let rest = &stderr[start + self.prefix.len()..];
        let end = rest.iter().position(|&b| b == b'\n')?;
        let pgid: i32 = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        (pgid > 1).then_some((start, pgid))
    }
}

/// The script that stops process group `pgid`: SIGTERM, then SIGKILL after [`STOP_GRACE`] if
/// any of it is left. dash's `kill` takes `-PGID` (not `-- -PGID`). A member counts as left
/// while it is not a zombie (`kill -0` counts zombies, and an init that is slow to reap them,
/// as in a container, would make every stop wait out the grace); a `comm` with a space in it
/// shifts the fields and reads as alive, which costs only the wait.
pub(super) fn kill_script(pgid: i32) -> String {
    let ticks = STOP_GRACE.as_millis() / 100;
    format!(
        "p={pgid}; kill -TERM -$p 2>/dev/null || exit 0; \
         left() {{ kill -0 -$p 2>/dev/null || return 1; for s in /proc/[0-9]*/stat; do \
         read -r _ _ st _ g _ 2>/dev/null <\"$s\" || continue; \
         [ \"$g\" = \"$p\" ] && [ \"$st\" != Z ] && return 0; done; return 1; }}; \
         i=0; while [ $i -lt {ticks} ] && left; do sleep 0.1; i=$((i+1)); done; \
         kill -KILL -$p 2>/dev/null; exit 0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn marker_found_across_chunks_and_stripped() {
        let p = PgidProbe::new("t0k");
        let mut err = b"motd\nRMESOS-PG-t0k:12".to_vec();
        p.scan(&err, 0);
        assert_eq!(p.get(), None, "not before its newline");
        let from = err.len();
        err.extend_from_slice(b"34\nscript error\n");
        p.scan(&err, from);
        assert_eq!(p.get(), Some(1234));
        p.strip(&mut err);
        assert_eq!(err, b"motd\nscript error\n");
    }

    #[test]
    fn forged_or_bad_groups_are_ignored() {
        let p = PgidProbe::new("t0k");
        for bad in [
            &b"RMESOS-PG-other:55\n"[..],
            b"RMESOS-PG-t0k:1\n",
            b"RMESOS-PG-t0k:-7\n",
        ] {
            p.scan(bad, 0);
            assert_eq!(p.get(), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_kill_script_stops_a_group_that_ignores_sigterm_and_one_that_does_not() {
        for (trap, at_least) in [("", 0), ("trap '' TERM; ", 2)] {
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("{trap}sleep 3171 & sleep 3172"))
                .process_group(0)
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let started = std::time::Instant::now();
            let pgid = child.id() as i32;
            let reaper = std::thread::spawn(move || child.wait());
            let status = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(kill_script(pgid))
                .status()
                .unwrap();
            assert!(status.success());
            let took = started.elapsed();
            assert!(took >= Duration::from_secs(at_least), "{trap}: {took:?}");
            // The grace is counted in ticks of `sleep 0.1` and a /proc scan: a busy machine
            // stretches it.
            assert!(took < Duration::from_secs(at_least + 4), "{trap}: {took:?}");
            assert!(reaper.join().unwrap().is_ok());
            let members = || {
                std::fs::read_dir("/proc")
                    .unwrap()
                    .flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
                    .filter(|s| {
                        let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split(' ').collect();
                        f.get(3) == Some(&pgid.to_string().as_str()) && f.get(1) != Some(&"Z")
                    })
                    .count()
            };
            // A SIGKILLed process takes a moment to exit on a busy machine.
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while members() > 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(members(), 0, "{trap}: the group is still alive");
        }
    }

    #[test]
    fn the_wrapped_script_reports_its_group_and_runs_as_before() {
        let p = PgidProbe::new("abc");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(p.wrap("echo out; echo err >&2; exit 3"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        let mut err = out.stderr.clone();
        p.strip(&mut err);
        assert_eq!(err, b"err\n");
        // SAFETY: getpgrp cannot fail; the child shares this test's group.
        assert_eq!(p.get(), Some(unsafe { libc::getpgrp() }));
    }
}
