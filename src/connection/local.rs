//! The local connection (`ansible_connection=local`, `localhost`): scripts run as child
//! processes of the controller.

use super::{BoxFuture, ConnError, Connection, ExecOutput, ExecRequest};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
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
            let mut wrapped_success = None;
            let command = match req.become_ {
                Some(b) if b.user != current_user() => {
                    if b.password.is_some() {
                        return Err(ConnError::Become(
                            "become with a password on the local connection is not supported; \
                             configure passwordless sudo for the controller user"
                                .into(),
                        ));
                    }
                    let w = b.wrap(req.script);
                    wrapped_success = Some(w.success);
                    w.command
                }
                _ => req.script.to_string(),
            };
            let mut child = Command::new("/bin/sh")
                .arg("-c")
                .arg(&command)
                .stdin(if req.stdin.is_empty() {
                    Stdio::null()
                } else {
                    Stdio::piped()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| ConnError::Unreachable(format!("cannot start /bin/sh: {}", e)))?;
            if !req.stdin.is_empty()
                && let Some(mut stdin) = child.stdin.take()
            {
                let data = req.stdin.to_vec();
                tokio::spawn(async move {
                    // A script that exits without reading its stdin closes the pipe: not an error.
                    let _ = stdin.write_all(&data).await;
                    let _ = stdin.shutdown().await;
                });
            }
            let wait = child.wait_with_output();
            let out = match req.timeout {
                Some(t) => match tokio::time::timeout(t, wait).await {
                    Ok(r) => r,
                    Err(_) => return Err(ConnError::Timeout(t)),
                },
                None => wait.await,
            }
            .map_err(|e| ConnError::Other(format!("local command failed: {}", e)))?;
            let mut stderr = out.stderr;
            if let Some(marker) = wrapped_success {
                stderr = strip_marker(&stderr, &marker).ok_or_else(|| {
                    ConnError::Become(String::from_utf8_lossy(&stderr).trim().to_string())
                })?;
            }
            Ok(ExecOutput {
                rc: out.status.code().unwrap_or(-1),
                stdout: out.stdout,
                stderr,
            })
        })
    }
}

/// Removes the become success marker line from stderr; `None` if it never appeared (sudo failed).
pub fn strip_marker(stderr: &[u8], marker: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(stderr);
    let pos = text.find(marker)?;
    let after = &text[pos + marker.len()..];
    let after = after.strip_prefix('\n').unwrap_or(after);
    let mut out = text[..pos].to_string();
    out.push_str(after);
    Some(out.into_bytes())
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
    async fn timeout_kills() {
        let c = LocalConnection;
        let mut req = ExecRequest::new("sleep 5");
        req.timeout = Some(std::time::Duration::from_millis(200));
        assert!(matches!(c.exec(req).await, Err(ConnError::Timeout(_))));
    }
}
