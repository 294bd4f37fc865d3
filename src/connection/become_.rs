//! Privilege escalation: wraps a script in sudo or su. The password travels on stdin, ahead of
//! the script's own stdin, only after the transport has seen the prompt (a random marker), so it
//! is never on a command line and never fed to a command that did not ask for it.

use super::sh_quote;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BecomeMethod {
    Sudo,
    Su,
}

#[derive(Clone, Debug)]
pub struct BecomeSpec {
    pub method: BecomeMethod,
    pub user: String,
    pub flags: Option<String>,
    /// Never printed, never put on a command line.
    pub password: Option<String>,
}

/// A script wrapped for escalation, with the markers the transport watches for on stderr.
pub struct Wrapped {
    pub command: String,
    /// Printed by sudo/su when it wants the password.
    pub prompt: String,
    /// Printed (to stderr) by the escalated shell before the real script starts.
    pub success: String,
}

impl BecomeSpec {
    /// Wraps `inner` (an `sh -c` ready command line) so it runs as `self.user`.
    pub fn wrap(&self, script: &str) -> Wrapped {
        let nonce = nonce();
        let prompt = format!("[rmesos-become-{}] password:", nonce);
        let success = format!("RMESOS-BECOME-OK-{}", nonce);
        let inner = format!("echo {} >&2; exec /bin/sh -c {}", success, sh_quote(script));
        let command = match self.method {
            BecomeMethod::Sudo => {
                let flags = self.flags.clone().unwrap_or_else(|| "-H -S".to_string());
                let n = if self.password.is_none() { " -n" } else { "" };
                format!(
                    "sudo {}{} -p {} -u {} /bin/sh -c {}",
                    flags,
                    n,
                    sh_quote(&prompt),
                    sh_quote(&self.user),
                    sh_quote(&inner)
                )
            }
            BecomeMethod::Su => {
                let flags = self.flags.clone().unwrap_or_default();
                format!(
                    "su {} {} -c {}",
                    flags,
                    sh_quote(&self.user),
                    sh_quote(&inner)
                )
            }
        };
        Wrapped {
            command,
            prompt,
            success,
        }
    }
}

fn nonce() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pid = std::process::id() as u128;
    format!("{:x}", t ^ (pid << 64))
}
