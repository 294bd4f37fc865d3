//! Running the tools the lab drives (docker, debootstrap, ssh-keygen) and the lab's error type.

use std::io;
use std::process::{Command, Output, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("`{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    #[error("cannot run `{program}`: {source}\n  = hint: {hint}")]
    Missing {
        program: String,
        source: io::Error,
        hint: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("host {host} ({addr}) did not answer SSH within {secs}s{logs}")]
    SshTimeout {
        host: String,
        addr: String,
        secs: u64,
        logs: String,
    },
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Runs `program args`, returning its output whatever the exit status; a program that cannot be
/// started gets the install hint.
pub(crate) fn output(program: &str, args: &[&str], hint: &'static str) -> Result<Output, LabError> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Missing {
            program: program.to_string(),
            source,
            hint,
        })
}

/// Runs `program args` and returns its trimmed stdout, or an error carrying its stderr.
pub(crate) fn run(program: &str, args: &[&str], hint: &'static str) -> Result<String, LabError> {
    let out = output(program, args, hint)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(failure(program, args, &out))
    }
}

pub(crate) const DOCKER_HINT: &str =
    "the lab needs the Docker engine and its CLI (`docker`) on PATH, usable by this user";

pub(crate) fn docker(args: &[&str]) -> Result<String, LabError> {
    run("docker", args, DOCKER_HINT)
}

pub(crate) fn failure(program: &str, args: &[&str], out: &Output) -> LabError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Long tools (debootstrap) say why they failed near the end of their output.
    let detail = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let tail: Vec<&str> = detail.trim().lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    LabError::Command {
        cmd: format!("{} {}", program, args.join(" ")),
        detail: format!("{} ({})", tail.join("\n"), out.status),
    }
}
