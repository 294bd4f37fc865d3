//! The host's long-lived shell: one `/bin/sh` per host (and per become identity) on one
//! channel, running the run's scripts one after another. An exec then costs one write and one
//! read on an open channel instead of a new SSH session, a login shell and two `exec`s on the
//! host (about 3 ms of the host's CPU each, the largest cost of a task that changes nothing).
//!
//! Framing: each script runs as `/bin/sh -c '<script>'`, a process of its own as in a session
//! of its own (`exit`, `$$`, a syntax error or a `cd` stay inside it), with its stdin from a
//! here-document (the bytes as they are when they are text ending in a newline, else base64)
//! or from /dev/null. Then the shell prints a marker on stdout (with the exit status) and on
//! stderr; the marker holds a random token drawn for this shell and the exec's sequence number,
//! and everything before it is the script's output.
//!
//! Owns only this framing; the caller decides which execs may use a shell (no timeout, small
//! stdin) and falls back to a channel per exec when the shell is busy or will not start.

use super::stop::PgidProbe;
use crate::connection::{
    BecomeSpec, ConnError, ExecOutput, OutputBuffer, OutputLimit, find_from, random_token, sh_quote,
};
use base64::Engine as _;
use russh::client::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use std::time::Duration;

/// Larger stdin goes on a channel of its own, as raw bytes, instead of through the shell's
/// parser as a here-document.
pub(super) const MAX_STDIN: usize = 256 * 1024;
/// A script is one argument of `sh -c`; Linux caps one argument at 128 KiB.
pub(super) const MAX_SCRIPT: usize = 96 * 1024;
/// How long the shell (and sudo, if it asks for a password) may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Shell {
    reader: ChannelReadHalf,
    writer: ChannelWriteHalf<Msg>,
    token: String,
    seq: u64,
    /// Set while an exchange runs: still set when a caller dropped an exec half-way, leaving
    /// the shell in the middle of a script (see [`Shell::interrupted`]).
    in_exchange: bool,
}

/// Why a long-lived shell failed: it would not start, or it is gone.
#[derive(Debug, thiserror::Error)]
pub(super) enum ShellError {
    #[error("no answer within {0:?}")]
    NoAnswer(Duration),
    #[error("exec request: {0}")]
    ExecRequest(russh::Error),
    /// sudo's prompt dance failed.
    #[error("{0}")]
    Become(ConnError),
    #[error("writing to the shell: {0}")]
    Write(russh::Error),
    #[error("the shell exited with status {0}")]
    Exited(u32),
    #[error("the shell's channel closed")]
    Closed,
}

impl Shell {
    /// Starts `/bin/sh` reading commands from stdin on `channel` (as `become_` says, answering
    /// sudo's prompt if it asks), and waits until it answers. Errors say why, for a log; the
    /// caller falls back to a channel per exec, which reports the same failure its own way.
    pub(super) async fn start(
        channel: Channel<Msg>,
        become_: Option<&BecomeSpec>,
    ) -> Result<Shell, ShellError> {
        let (reader, writer) = channel.split();
        let mut shell = Shell {
            reader,
            writer,
            token: random_token(),
            seq: 0,
            in_exchange: false,
        };
        match tokio::time::timeout(START_TIMEOUT, shell.handshake(become_)).await {
            Ok(Ok(())) => Ok(shell),
            Ok(Err(e)) => {
                let _ = shell.writer.close().await;
                Err(e)
            }
            Err(_) => {
                let _ = shell.writer.close().await;
                Err(ShellError::NoAnswer(START_TIMEOUT))
            }
        }
    }

    async fn handshake(&mut self, become_: Option<&BecomeSpec>) -> Result<(), ShellError> {
        let (line, watch) = super::escalate::exec_line("exec /bin/sh -s", become_);
        self.writer
            .exec(true, line)
            .await
            .map_err(ShellError::ExecRequest)?;
        if let Some(watch) = watch {
            super::escalate::until_started(&mut self.reader, &self.writer, watch)
                .await
                .map_err(ShellError::Become)?;
        }
        // Whatever the login printed (a motd, rc files) comes before this first marker.
        self.exchange(Vec::new(), None, None).await.map(|_| ())
    }

    /// Runs one script with `stdin` (at most [`MAX_STDIN`] bytes); `probe` notes the process
    /// group the script reports. An error means the shell is gone (the channel closed before
    /// the markers came back); the script may have run.
    pub(super) async fn run(
        &mut self,
        script: &str,
        stdin: &[u8],
        limit: Option<OutputLimit>,
        probe: &PgidProbe,
    ) -> Result<ExecOutput, ShellError> {
        let mut command = b"/bin/sh -c ".to_vec();
        command.extend_from_slice(sh_quote(script).as_bytes());
        let delimiter = format!("RMESOS_STDIN_{}", self.token);
        if stdin.is_empty() {
            command.extend_from_slice(b" </dev/null\n");
        } else if is_heredoc_text(stdin, &delimiter) {
            command.extend_from_slice(format!(" <<'{delimiter}'\n").as_bytes());
            command.extend_from_slice(stdin);
            command.extend_from_slice(delimiter.as_bytes());
            command.push(b'\n');
        } else {
            let mut piped = format!("base64 -d <<'{delimiter}' | ").into_bytes();
            piped.extend_from_slice(&command);
            command = piped;
            command.push(b'\n');
            let encoded = base64::engine::general_purpose::STANDARD.encode(stdin);
            for line in encoded.as_bytes().chunks(76) {
                command.extend_from_slice(line);
                command.push(b'\n');
            }
            command.extend_from_slice(delimiter.as_bytes());
            command.push(b'\n');
        }
        self.exchange(command, limit, Some(probe)).await
    }

    /// Sends `command` followed by the marker lines, and reads both streams up to the markers.
    async fn exchange(
        &mut self,
        mut input: Vec<u8>,
        limit: Option<OutputLimit>,
        probe: Option<&PgidProbe>,
    ) -> Result<ExecOutput, ShellError> {
        self.seq += 1;
        self.in_exchange = true;
        let marker = format!("RMESOS-{}-{}", self.token, self.seq);
        input.extend_from_slice(
            format!("printf '{marker}:%d\\n' \"$?\"; printf '{marker}\\n' >&2\n").as_bytes(),
        );
        let mut stdout = OutputBuffer::new(limit);
        let mut stderr = OutputBuffer::new(limit);
        let mut rc = None;
        let mut err_end = None;
        let writer = &self.writer;
        let mut send = std::pin::pin!(async move { writer.data(&input[..]).await });
        let mut sending = true;
        while rc.is_none() || err_end.is_none() {
            let msg = tokio::select! {
                sent = &mut send, if sending => {
                    sending = false;
                    sent.map_err(ShellError::Write)?;
                    continue;
                }
                msg = self.reader.wait() => msg,
            };
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    // The marker comes last: look only where it can start (in what just came
                    // and a marker's length before), so a large output is scanned once.
                    stdout.push(&data);
                    // (The buffer may have dropped older bytes: count back from its end.)
                    let from = stdout.kept().len().saturating_sub(data.len());
                    let from = from.saturating_sub(marker.len() + 16);
                    if rc.is_none() {
                        rc = find_status(stdout.kept(), from, marker.as_bytes());
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    stderr.push(&data);
                    // Where this chunk starts in what is kept (the buffer may have dropped
                    // older bytes), less a marker's length.
                    let from = stderr.kept().len().saturating_sub(data.len());
                    let from = from.saturating_sub(marker.len() + 1);
                    if let Some(p) = probe {
                        p.scan(stderr.kept(), from);
                    }
                    if err_end.is_none() {
                        err_end = find_line(stderr.kept(), from, marker.as_bytes());
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    return Err(ShellError::Exited(exit_status));
                }
                None | Some(ChannelMsg::Close | ChannelMsg::Eof) => {
                    return Err(ShellError::Closed);
                }
                Some(_) => {}
            }
        }
        // Both markers came back, so the shell has read all of `input`.
        if sending {
            send.await.map_err(ShellError::Write)?;
        }
        let (Some((out_end, rc)), Some(err_end)) = (rc, err_end) else {
            // The loop above ends only when both markers were found.
            return Err(ShellError::Closed);
        };
        stdout.truncate(out_end);
        stderr.truncate(err_end);
        self.in_exchange = false;
        let mut out = ExecOutput::from_buffers(rc, stdout, stderr);
        if let Some(p) = probe {
            p.strip(&mut out.stderr);
        }
        Ok(out)
    }

    /// Whether an exec was dropped half-way (its future cancelled: a caller's own timeout, a
    /// cancelled task): the shell is in the middle of that script, whose output the next
    /// exchange would read as its own, and whose here-document (stdin) the next command would
    /// complete. Such a shell is closed, not reused.
    pub(super) fn interrupted(&self) -> bool {
        self.in_exchange
    }

    /// Ends the shell (its channel closes; the host's `sh` reads end-of-file and exits).
    pub(super) async fn close(&self) {
        let _ = self.writer.eof().await;
        let _ = self.writer.close().await;
    }
}

/// Text that a quoted here-document carries unchanged: no NUL (the shell cannot hold one),
/// a final newline (a here-document always ends with one), no line equal to the delimiter.
fn is_heredoc_text(data: &[u8], delimiter: &str) -> bool {
    data.last() == Some(&b'\n')
        && !data.contains(&0)
        && !data
            .split(|&b| b == b'\n')
            .any(|line| line == delimiter.as_bytes())
}

/// Where `marker:RC\n` starts in `out` (at or after `from`), and RC, once the whole line has
/// arrived.
fn find_status(out: &[u8], from: usize, marker: &[u8]) -> Option<(usize, i32)> {
    let start = find_from(out, from, marker)?;
    let rest = out[start + marker.len()..].strip_prefix(b":")?;
    let end = rest.iter().position(|&b| b == b'\n')?;
    let rc = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    Some((start, rc))
}

/// Where `marker\n` starts in `err` (at or after `from`), once the whole line has arrived.
fn find_line(err: &[u8], from: usize, marker: &[u8]) -> Option<usize> {
    let start = find_from(err, from, marker)?;
    (err.get(start + marker.len()) == Some(&b'\n')).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heredoc_only_for_plain_text_ending_in_a_newline() {
        let d = "RMESOS_STDIN_x";
        assert!(is_heredoc_text(b"a\nb\n", d));
        assert!(!is_heredoc_text(b"a\nb", d));
        assert!(!is_heredoc_text(b"a\0b\n", d));
        assert!(!is_heredoc_text(b"a\nRMESOS_STDIN_x\nb\n", d));
        assert!(is_heredoc_text(b"a\nRMESOS_STDIN_xy\n", d));
    }

    #[test]
    fn status_marker_needs_its_whole_line() {
        let m = b"RMESOS-t-3";
        assert_eq!(find_status(b"outRMESOS-t-3:1", 0, m), None);
        assert_eq!(find_status(b"outRMESOS-t-3:17\n", 0, m), Some((3, 17)));
        assert_eq!(find_status(b"outRMESOS-t-3:17\n", 2, m), Some((3, 17)));
        assert_eq!(find_status(b"outRMESOS-t-3:17\n", 4, m), None);
        assert_eq!(find_status(b"RMESOS-t-3:0\n", 0, m), Some((0, 0)));
        assert_eq!(find_line(b"errRMESOS-t-3", 0, m), None);
        assert_eq!(find_line(b"errRMESOS-t-3\n", 1, m), Some(3));
    }
}
