//! How the end-to-end tests start the binary: away from the caller's Ansible settings and SSH
//! agent (a developer's `ANSIBLE_*` variables or agent keys must not change what a test sees),
//! with stdin closed and the output piped.

use std::process::{Command, Stdio};

/// `cmd` without any `ANSIBLE_*` variable or SSH agent of the caller's, stdin from /dev/null,
/// stdout and stderr piped.
pub fn isolated(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("ANSIBLE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
}
