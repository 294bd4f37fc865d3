//! The local connection (`ansible_connection=local`, `localhost`): scripts run as child
//! processes of the controller.

use super::become_::{BecomeStep, BecomeWatch};
use super::{BoxFuture, ConnError, Connection, ExecOutput, ExecRequest, OutputBuffer};
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

#[derive(Default)]
pub struct LocalConnection;

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
        Box::pin(async move {
            let run = run_local(&req);
            match req.timeout {
                // Dropping the future drops the child, which kill_on_drop stops.
                Some(t) => tokio::time::timeout(t, run)
                    .await
                    .map_err(|_| ConnError::Timeout(t))?,
                None => run.await,
            }
        })
    }
}

async fn run_local(req: &ExecRequest<'_>) -> Result<ExecOutput, ConnError> {
    let (command, mut watch) = match req.become_ {
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
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ConnError::Unreachable(format!("cannot start /bin/sh: {}", e)))?;
    let mut stdin = child.stdin.take();
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ConnError::Other("child process has no output pipes".into()));
    };
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
    let status = child
        .wait()
        .await
        .map_err(|e| ConnError::Other(format!("local command failed: {}", e)))?;
    Ok(ExecOutput::from_buffers(exit_code(status), out, err))
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
        let c = LocalConnection;
        let mut req = ExecRequest::new("cat; echo err >&2; exit 3");
        req.stdin = b"hello";
        let out = c.exec(req).await.unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, b"hello");
        assert_eq!(out.stderr, b"err\n");
    }

    #[tokio::test]
    async fn script_exiting_without_reading_stdin_is_fine() {
        let c = LocalConnection;
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
        let c = LocalConnection;
        let mut req = ExecRequest::new("sleep 5");
        req.timeout = Some(std::time::Duration::from_millis(200));
        assert!(matches!(c.exec(req).await, Err(ConnError::Timeout(_))));
    }
}
