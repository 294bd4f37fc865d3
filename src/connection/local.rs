//! The local connection (`ansible_connection=local`, `localhost`): scripts run as child
//! processes of the controller, each in a process group of its own, so that a timeout or an
//! interrupted run stops the whole group (SIGTERM, then SIGKILL after [`STOP_GRACE`]) and a
//! terminal's Ctrl-C reaches the controller only, which decides what to stop.

use super::become_::{BecomeStep, BecomeWatch};
use super::{
    BoxFuture, CancellationToken, ConnError, Connection, ExecOutput, ExecRequest, OutputBuffer,
    STOP_GRACE, expiry,
};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

/// Runs scripts on the controller; execs in flight stop when `cancel` is cancelled.
#[derive(Default)]
pub struct LocalConnection {
    cancel: CancellationToken,
}

impl LocalConnection {
    pub fn new(cancel: CancellationToken) -> Self {
        LocalConnection { cancel }
    }
}

/// The user the controller runs as (become to the same user needs no sudo).
pub fn current_user() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return "root".to_string();
    }
    std::env::var("USER").unwrap_or_else(|_| uid.to_string())
}

impl Connection for LocalConnection {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        Box::pin(async move { run_local(&req, &self.cancel).await })
    }
}

/// The process groups of the local commands running now, so that a second interrupt can kill
/// them on its way out ([`kill_running_groups`]).
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// A running command's group, listed in [`RUNNING`] while it lives.
struct Listed(i32);

impl Listed {
    fn new(pgid: i32) -> Listed {
        RUNNING.lock().unwrap_or_else(|p| p.into_inner()).push(pgid);
        Listed(pgid)
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|g| *g != self.0);
    }
}

/// SIGKILLs the process group of every local command still running, at once (the process is
/// about to exit without waiting for them).
pub fn kill_running_groups() {
    for pgid in RUNNING.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        signal_group(*pgid, libc::SIGKILL);
    }
}

fn signal_group(pgid: i32, sig: i32) -> bool {
    // SAFETY: kill has no memory preconditions; pgid > 1 is checked by the callers' source
    // (a child's pid), so this never signals every process.
    pgid > 1 && unsafe { libc::kill(-pgid, sig) } == 0
}

/// Whether a member of group `pgid` is still alive (not a zombie: orphans wait for an init
/// that may be slow to reap them, as in a container). True when /proc cannot say.
fn group_alive(pgid: i32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    let pgid = pgid.to_string();
    procs.flatten().any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
            return false;
        };
        // After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .take(3)
            .collect();
        matches!(fields[..], [state, _, group] if group == pgid && state != "Z")
    })
}

/// Stops a command's process group: SIGTERM, then SIGKILL to what is left after the grace.
async fn stop_group(pgid: i32, child: &mut Child) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        // The leader is our child: reap it, or it would keep the group alive as a zombie.
        let _ = child.try_wait();
        if !signal_group(pgid, 0) || !group_alive(pgid) {
            return;
        }
        if Instant::now() >= deadline {
            signal_group(pgid, libc::SIGKILL);
            let _ = child.try_wait();
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run_local(
    req: &ExecRequest<'_>,
    cancel: &CancellationToken,
) -> Result<ExecOutput, ConnError> {
    let (command, watch) = match req.become_ {
        Some(b) if b.user != current_user() => {
            let w = b.wrap(req.script);
            let watch = BecomeWatch::new(&w, b.password.as_deref());
            (w.command, Some(watch))
        }
        _ => (req.script.to_string(), None),
    };
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .stdin(if req.stdin.is_empty() && watch.is_none() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ConnError::Unreachable(format!("cannot start /bin/sh: {}", e)))?;
    let pgid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    let _listed = Listed::new(pgid);
    let stdin = child.stdin.take();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ConnError::Other("child process has no output pipes".into()));
    };
    let mut talk = std::pin::pin!(talk(req, watch, stdin, stdout, stderr));
    let stopped = tokio::select! {
        res = &mut talk => {
            let (stdout, stderr) = res?;
            let status = child
                .wait()
                .await
                .map_err(|e| ConnError::Other(format!("local command failed: {}", e)))?;
            return Ok(ExecOutput::from_buffers(exit_code(status), stdout, stderr));
        }
        () = expiry(req.timeout) => ConnError::Timeout(req.timeout.unwrap_or_default()),
        () = cancel.cancelled() => ConnError::Interrupted,
    };
    stop_group(pgid, &mut child).await;
    Err(stopped)
}

/// Answers sudo's prompt when it asks, feeds the script its stdin and reads its output.
async fn talk(
    req: &ExecRequest<'_>,
    mut watch: Option<BecomeWatch>,
    mut stdin: Option<ChildStdin>,
    mut stdout: impl AsyncRead + Unpin,
    mut stderr: impl AsyncRead + Unpin,
) -> Result<(OutputBuffer, OutputBuffer), ConnError> {
    let mut err_head = Vec::new();
    if let Some(watch) = watch.as_mut() {
        // The script has not started yet, so its stdout is empty: only stderr matters here.
        let mut buf = [0u8; 4096];
        loop {
            let n = stderr
                .read(&mut buf)
                .await
                .map_err(|e| ConnError::Other(format!("reading stderr: {}", e)))?;
            if n == 0 {
                return Err(watch.failure());
            }
            match watch.feed(&buf[..n])? {
                BecomeStep::Wait => {}
                BecomeStep::Answer(answer) => {
                    if let Some(s) = stdin.as_mut() {
                        s.write_all(&answer)
                            .await
                            .map_err(|e| ConnError::Become(format!("sending password: {}", e)))?;
                    }
                }
                BecomeStep::Started(rest) => {
                    err_head = rest;
                    break;
                }
            }
        }
    }
    let feed = async {
        if let Some(mut s) = stdin {
            // A script that exits without reading its stdin closes the pipe: not an error.
            let _ = s.write_all(req.stdin).await;
            let _ = s.shutdown().await;
        }
    };
    let mut out = OutputBuffer::new(req.output_limit);
    let mut err = OutputBuffer::new(req.output_limit);
    err.push(&err_head);
    let (_, out_res, err_res) = tokio::join!(
        feed,
        read_into(&mut stdout, &mut out),
        read_into(&mut stderr, &mut err)
    );
    out_res
        .and(err_res)
        .map_err(|e| ConnError::Other(format!("reading command output: {}", e)))?;
    Ok((out, err))
}

/// Reads `from` to its end into `buf`.
async fn read_into(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut OutputBuffer,
) -> std::io::Result<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut chunk).await? {
            0 => return Ok(()),
            n => buf.push(&chunk[..n]),
        }
    }
}

/// The shell's convention: killed by signal n reads as 128 + n.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|n| 128 + n))
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_script_with_stdin() {
        let c = LocalConnection::default();
        let mut req = ExecRequest::new("cat; echo err >&2; exit 3");
        req.stdin = b"hello";
        let out = c.exec(req).await.unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
    }

    #[tokio::test]
    async fn script_exiting_without_reading_stdin_is_fine() {
        let c = LocalConnection::default();
        // Beyond a pipe's buffer, so the writer is still blocked when the script exits.
        for size in [10, 4 * 1024 * 1024] {
            let data = vec![b'x'; size];
            let mut req = ExecRequest::new("echo unread; exit 3");
            req.stdin = &data;
            let out = c.exec(req).await.unwrap();
            assert_eq!(
                (out.rc, out.stdout.as_slice()),
                (3, &b"unread\n"[..]),
                "{size}"
            );
        }
    }

    #[tokio::test]
    async fn timeout_kills() {
        let c = LocalConnection::default();
        let mut req = ExecRequest::new("sleep 5");
        req.timeout = Some(std::time::Duration::from_millis(200));
        assert!(matches!(c.exec(req).await, Err(ConnError::Timeout(_))));
    }
}
