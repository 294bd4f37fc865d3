//! Shell building blocks shared by modules: quoting, the one atomic file writer (every module
//! that writes a file on the host goes through [`write_script`] and its framings
//! [`write_script_at_p`] and [`write_step`]), the `stat` line a probe or a write reports, and
//! parsing the small `key=value` reports scripts print. Every script targets POSIX `sh` and
//! coreutils only.

use crate::connection::ExecOutput;
pub use crate::connection::sh_quote as q;
use crate::modules::FileMode;

/// Parses `key=value` lines (the last one wins); other lines are ignored.
pub fn parse_kv(out: &str) -> indexmap::IndexMap<String, String> {
    let mut m = indexmap::IndexMap::new();
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('=')
            && !k.is_empty()
            && k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// A failure message from a script's output.
pub fn host_error(what: &str, out: &ExecOutput) -> String {
    let err = out.stderr_str();
    let err = err.trim();
    if err.is_empty() {
        format!("{what} (rc={})", out.rc)
    } else {
        format!("{what}: {err}")
    }
}

/// The `stat -c` format a probe prints, `|`-separated (user and group names never hold `|`).
pub const STAT_FMT: &str = "%F|%a|%u|%g|%U|%G|%s";

/// Sets `s` to the `STAT_FMT` line of `"$p"` (following a symlink or not); exits 1 if it
/// cannot. [`attr_fix_sh`] reads it.
pub fn stat_to_s(follow: bool) -> String {
    let l = if follow { "-L " } else { "" };
    format!("s=$(stat {l}-c '{STAT_FMT}' \"$p\") || exit 1\n")
}

/// The owner, group and mode a task asks for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attrs<'a> {
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
    pub mode: Option<&'a FileMode>,
}

impl<'a> Attrs<'a> {
    /// A task's `owner`, `group` and a mode argument (`mode`, `directory_mode`, ...).
    pub fn new(
        owner: &'a Option<String>,
        group: &'a Option<String>,
        mode: &'a Option<FileMode>,
    ) -> Self {
        Attrs {
            owner: owner.as_deref(),
            group: group.as_deref(),
            mode: mode.as_ref(),
        }
    }
}

/// Where a written file's new content comes from.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    /// The next `len` bytes of the script's stdin. Fewer bytes (a stream cut because the
    /// controller or the connection died) fail the write before the rename: the old file stays.
    Stdin(usize),
    /// A file already on the host (copy `remote_src`).
    HostFile(&'a str),
}

/// How to write a file's new content.
pub struct WriteSpec<'a> {
    pub path: &'a str,
    pub content: Content<'a>,
    pub attrs: Attrs<'a>,
    /// Copy the old file to `path.PID.YYYY-MM-DD@HH:MM:SS~` first.
    pub backup: bool,
    /// A command with `%s` standing for the new file; non-zero exit leaves `path` untouched.
    pub validate: Option<&'a str>,
    /// Create missing parent directories (lineinfile/blockinfile `create`).
    pub make_parents: bool,
}

/// Exit code a write script uses when validation fails.
pub const RC_VALIDATE: i32 = 74;

/// A subshell that writes one file atomically: temp file beside it, old attributes carried
/// over, wanted ones applied, validated, old file backed up, then renamed over it. It prints
/// `backup_file=` when it made one and the final state as `fin=` (a `STAT_FMT` line).
pub fn write_script(w: &WriteSpec) -> String {
    format!(
        "(\np={}\nif [ -e \"$p\" ]; then {}fi\n{})",
        q(w.path),
        stat_to_s(true),
        write_body(w)
    )
}

/// [`write_script`] as one step of a larger script: the next `len` bytes of stdin become `path`
/// with `attrs`, no backup or validation, the report silenced, and a
/// failed write ends the script with the write's exit code (see [`write_error`]). The apt
/// source and key files, the crontab file, fstab, authorized_keys, /etc/hostname, sysctl and
/// SELinux config files are written so.
pub fn write_step(path: &str, len: usize, attrs: Attrs, make_parents: bool) -> String {
    let mut s = write_script(&WriteSpec {
        path,
        content: Content::Stdin(len),
        attrs,
        backup: false,
        validate: None,
        make_parents,
    });
    s.push_str(" >/dev/null || exit $?\n");
    s
}

/// [`write_script`] after a probe in the same script: the path in shell variable `p` (`w.path`
/// is not used) and, if it exists, its stat in `$s`.
pub fn write_script_at_p(w: &WriteSpec) -> String {
    format!("(\n{})", write_body(w))
}

/// Gives the temp file `"$t"` the owner and group of the file it replaces (`$3:$4`), unless the
/// shell owns both the file and the directory (same user and group), so the temp file already
/// has them: chown would be a process for nothing.
const KEEP_OWNER: &str =
    "[ -O \"$p\" ] && [ -G \"$p\" ] && [ -G \"$d\" ] || chown \"$3:$4\" \"$t\" 2>/dev/null";

/// Sets `d` to the directory of `"$p"` without a `dirname` process: every process started on
/// the host costs.
pub const DIR_OF_P: &str = "case $p in */*) d=${p%/*}; [ -n \"$d\" ] || d=/ ;; *) d=. ;; esac\n";

fn write_body(w: &WriteSpec) -> String {
    let mut s = String::from(DIR_OF_P);
    if w.make_parents {
        s.push_str("[ -d \"$d\" ] || mkdir -p \"$d\" || exit 69\n");
    }
    s.push_str("t=$(mktemp \"$d/.rmesos.XXXXXX\") || exit 70\ntrap 'rm -f \"$t\"' EXIT\n");
    match w.content {
        Content::HostFile(src) => s.push_str(&format!("cat {} > \"$t\" || exit 71\n", q(src))),
        // `head` exits 0 on a short stream (end of file when the channel closed early), so
        // the size is what tells a whole file from a cut one; SSH's MAC vouches for the bytes.
        Content::Stdin(n) => s.push_str(&format!(
            "head -c {n} > \"$t\" && [ \"$(wc -c < \"$t\")\" -eq {n} ] || exit 71\n"
        )),
    }
    // The old file's mode (or the umask's) only matters when no octal mode replaces it.
    let octal = matches!(w.attrs.mode, Some(FileMode::Octal(_)));
    if octal {
        s.push_str(&format!(
            "if [ -e \"$p\" ]; then IFS='|'; set -- $s; unset IFS; {KEEP_OWNER}; fi\n",
        ));
    } else {
        s.push_str(&format!(
            "if [ -e \"$p\" ]; then IFS='|'; set -- $s; unset IFS; chmod \"$2\" \"$t\"; {KEEP_OWNER}; \
             else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$t\"; fi\n",
        ));
    }
    if let Some(o) = w.attrs.owner {
        s.push_str(&format!("chown {} \"$t\" || exit 72\n", q(o)));
    }
    if let Some(g) = w.attrs.group {
        s.push_str(&format!("chgrp {} \"$t\" || exit 72\n", q(g)));
    }
    if let Some(m) = w.attrs.mode.and_then(|m| m.chmod_arg()) {
        s.push_str(&format!("chmod {} \"$t\" || exit 72\n", q(&m)));
    }
    if let Some(v) = w.validate {
        let cmd = v.replace("%s", "\"$t\"");
        s.push_str(&format!("( {cmd} ) >&2 || exit {RC_VALIDATE}\n"));
    }
    if w.backup {
        s.push_str(
            "if [ -e \"$p\" ]; then b=\"$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p \"$p\" \"$b\" || exit 75; printf 'backup_file=%s\\n' \"$b\"; fi\n",
        );
    }
    s.push_str(&format!(
        "mv -f \"$t\" \"$p\" || exit 73\ntrap - EXIT\nprintf 'fin='; stat -L -c '{STAT_FMT}' \"$p\"\n"
    ));
    s
}

/// Explains a failed write script.
pub fn write_error(out: &ExecOutput) -> String {
    let what = match out.rc {
        69 => "cannot create the parent directory",
        70 => "cannot create a temporary file beside the destination (does its directory exist?)",
        71 => "cannot write the temporary file (or its content arrived cut short)",
        72 => "cannot set owner, group or mode",
        RC_VALIDATE => "failed to validate",
        73 => "cannot move the new file into place",
        75 => "cannot make the backup copy",
        _ => "cannot write the file",
    };
    host_error(what, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    fn sh(script: &str, stdin: &[u8]) -> std::process::Output {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn mode_of(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn write_step_writes_stdin_quietly_and_the_script_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mode = FileMode::Octal(0o600);
        let attrs = Attrs {
            mode: Some(&mode),
            ..Attrs::default()
        };
        let script = format!(
            "{}echo after\n",
            write_step(p.to_str().unwrap(), 6, attrs, false)
        );
        let out = sh(&script, b"hello\n");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"after\n");
        assert_eq!(std::fs::read(&p).unwrap(), b"hello\n");
        assert_eq!(mode_of(&p), 0o600);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "the temp file is gone");
    }

    #[test]
    fn write_step_keeps_the_old_mode_and_takes_len_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let script = write_step(p.to_str().unwrap(), 3, Attrs::default(), false);
        let out = sh(&script, b"newREST");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(mode_of(&p), 0o640);
    }

    #[test]
    fn write_step_failure_ends_the_script_with_the_write_code() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing/f");
        let script = format!(
            "{}echo after\n",
            write_step(p.to_str().unwrap(), 1, Attrs::default(), false)
        );
        let out = sh(&script, b"x");
        assert_eq!(out.status.code(), Some(70));
        assert!(out.stdout.is_empty());
        // With make_parents the directory is made.
        let script = write_step(p.to_str().unwrap(), 1, Attrs::default(), true);
        assert!(sh(&script, b"x").status.success());
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }

    #[test]
    fn a_cut_stream_leaves_the_old_file_and_no_temp_file() {
        // The controller died mid-send: stdin ends early, `head` exits 0 with fewer bytes.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "the old content").unwrap();
        let script = write_step(p.to_str().unwrap(), 1000, Attrs::default(), false);
        let out = sh(&script, b"only part of the new");
        assert_eq!(out.status.code(), Some(71), "{out:?}");
        assert_eq!(std::fs::read(&p).unwrap(), b"the old content");
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 1, "the temp file is removed");
    }
}
