//! Connections: how a script reaches a host. The whole contract is [`Connection::exec`]: run one
//! shell script with bytes on stdin and get rc/stdout/stderr back. File uploads are stdin to a
//! script that writes a temp file and renames it, so they work under `become` (SFTP would write
//! as the login user) and cost the same single round trip.
//!
//! Owns transports (local process, SSH) and privilege escalation (sudo/su wrapping and the
//! password prompt dance). Knows nothing of playbooks, modules or variables.

pub mod become_;
pub mod local;
pub mod output;
pub mod ssh;

pub use become_::{BecomeMethod, BecomeSpec};
pub use output::{OutputBuffer, OutputLimit};
/// Cancels every exec in flight on the connections made with it (the run was interrupted):
/// each stops its command's process group on the host and returns [`ConnError::Interrupted`].
pub use tokio_util::sync::CancellationToken;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to run on the host.
pub struct ExecRequest<'a> {
    /// A POSIX `sh` script. The transport runs it with `/bin/sh -c`.
    pub script: &'a str,
    /// Bytes fed to the script's stdin (file contents for uploads); empty for none.
    pub stdin: &'a [u8],
    /// Run as another user (sudo/su); the password, if any, never appears on a command line.
    pub become_: Option<&'a BecomeSpec>,
    /// Stop the command (its whole process group, on the host) and fail the task after this
    /// long.
    pub timeout: Option<Duration>,
    /// Keep only the start and the end of each output stream (a user's command, whose output
    /// may be huge); `None` keeps everything (a module's script printing data it needs).
    pub output_limit: Option<OutputLimit>,
}

impl<'a> ExecRequest<'a> {
    pub fn new(script: &'a str) -> Self {
        ExecRequest {
            script,
            stdin: &[],
            become_: None,
            timeout: None,
            output_limit: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub rc: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes of stdout left out under the request's [`OutputLimit`] (a line in `stdout`
    /// says where); 0 when it is whole.
    pub stdout_omitted: u64,
    /// The same for stderr.
    pub stderr_omitted: u64,
}

impl ExecOutput {
    /// The output of a command that exited with `rc`, from what its streams' buffers kept.
    pub fn from_buffers(rc: i32, stdout: OutputBuffer, stderr: OutputBuffer) -> Self {
        let (stdout, stdout_omitted) = stdout.finish();
        let (stderr, stderr_omitted) = stderr.finish();
        ExecOutput {
            rc,
            stdout,
            stderr,
            stdout_omitted,
            stderr_omitted,
        }
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnError {
    /// The host cannot be reached or the connection died: the host leaves the play.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The command ran longer than its timeout and was stopped: the task fails.
    #[error("command timed out after {0:?}; its processes on the host were stopped")]
    Timeout(Duration),
    /// The run was interrupted (SIGINT, SIGTERM) and the command stopped: the task fails.
    #[error("interrupted: the command was stopped on the host")]
    Interrupted,
    /// Privilege escalation failed (wrong password, no sudo): the task fails.
    #[error("become failed: {0}")]
    Become(String),
    /// Anything else local to this command: the task fails.
    #[error("{0}")]
    Other(String),
}

/// How long a stopped command's process group has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Waits for `timeout` (forever without one).
pub(crate) async fn expiry(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// What a connection cost on the wire, for the run's report (`-vv`, JSON `recap.wire`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WireStats {
    /// Scripts run on the host (each one round trip).
    pub scripts: u64,
    /// SSH sessions opened for them (a long-lived shell counts once).
    pub sessions: u64,
}

impl std::ops::AddAssign for WireStats {
    fn add_assign(&mut self, o: WireStats) {
        self.scripts += o.scripts;
        self.sessions += o.sessions;
    }
}

/// A live connection to one host, shared by all tasks on that host for the whole run.
pub trait Connection: Send + Sync {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>>;
    /// What this connection has cost so far, when it goes over a network.
    fn wire_stats(&self) -> Option<WireStats> {
        None
    }
    /// What this run has learned about the host's files, if the transport keeps it.
    fn file_memo(&self) -> Option<&FileMemo> {
        None
    }
    /// Closes the connection (the run is over for this host).
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// File contents this run has read from or written to one host, by path, so a later task can
/// compute its change without reading the file again. Only a hint: a script relying on an
/// entry first checks that the file still has its checksum.
#[derive(Default)]
pub struct FileMemo {
    files: std::sync::Mutex<std::collections::HashMap<String, KnownFile>>,
}

/// A file's content as last seen, with its SHA-1 (hex).
#[derive(Clone)]
pub struct KnownFile {
    pub sha1: String,
    pub content: std::sync::Arc<[u8]>,
}

impl FileMemo {
    /// Larger files are not kept: the memo is for small configuration files.
    pub const MAX_CONTENT: usize = 64 * 1024;

    pub fn get(&self, path: &str) -> Option<KnownFile> {
        self.lock().get(path).cloned()
    }

    /// Remembers `content` (with its checksum) for `path`, or forgets the path when it is
    /// too big to keep.
    pub fn remember(&self, path: &str, sha1: String, content: &[u8]) {
        let mut files = self.lock();
        if content.len() > Self::MAX_CONTENT {
            files.remove(path);
        } else {
            files.insert(
                path.to_string(),
                KnownFile {
                    sha1,
                    content: content.into(),
                },
            );
        }
    }

    pub fn forget(&self, path: &str) {
        self.lock().remove(path);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, KnownFile>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// 128 random bits in hex, for markers that no script output can forge by accident (sudo's
/// prompt, the long-lived shell's frames).
pub(crate) fn random_token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if from_os.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    hex::encode(bytes)
}

/// Where `needle` first occurs in `haystack` at or after `from`.
pub(crate) fn find_from(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let tail = haystack.get(from..)?;
    if needle.is_empty() || tail.len() < needle.len() {
        return None;
    }
    Some(from + tail.windows(needle.len()).position(|w| w == needle)?)
}

/// A command line that [`sh_split`] cannot split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unterminated {quote} quote in {input:?}")]
pub struct SplitError {
    /// "single" or "double".
    pub quote: &'static str,
    pub input: String,
}

impl SplitError {
    fn unterminated(quote: &'static str, input: &str) -> Self {
        SplitError {
            quote,
            input: input.to_string(),
        }
    }
}

/// Splits a command line into words as POSIX sh (and Python's shlex) does: quotes and
/// backslashes, a backslash-newline joins lines. For `command`'s string, ssh arguments and
/// ssh_config values.
pub fn sh_split(s: &str) -> Result<Vec<String>, SplitError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(SplitError::unterminated("single", s)),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(SplitError::unterminated("double", s)),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(SplitError::unterminated("double", s)),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next()
                    && c != '\n'
                {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Quotes a string for POSIX sh: always single quotes, embedded `'` as `'\''`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&c))
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("abc"), "abc");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote("$(x)"), "'$(x)'");
    }
}
