//! Shell building blocks shared by modules: quoting, atomic writes, ownership and mode changes,
//! and parsing the small `key=value` reports scripts print. Every script targets POSIX `sh` and
//! coreutils only.

use crate::connection::ExecOutput;
pub use crate::connection::sh_quote as q;

/// Shell that writes stdin to `dest` atomically: a temp file in the same directory, then
/// `mv`. Owner, group and mode are applied to the temp file first, so the file appears complete
/// and with its final attributes, or not at all.
pub fn atomic_write_from_stdin(
    dest: &str,
    owner: Option<&str>,
    group: Option<&str>,
    mode: Option<&str>,
) -> String {
    let d = q(dest);
    let mut s = format!(
        "rm_tmp=$(mktemp \"$(dirname {d})/.rmesos.XXXXXX\") || exit 70\n\
         trap 'rm -f \"$rm_tmp\"' EXIT\n\
         cat > \"$rm_tmp\" || exit 71\n\
         if [ -e {d} ]; then chmod \"$(stat -c %a {d})\" \"$rm_tmp\"; chown \"$(stat -c %u:%g {d})\" \"$rm_tmp\" 2>/dev/null; else chmod \"$(printf '%o' $((0666 & ~$(umask))))\" \"$rm_tmp\"; fi\n"
    );
    if let Some(o) = owner {
        s.push_str(&format!("chown {} \"$rm_tmp\" || exit 72\n", q(o)));
    }
    if let Some(g) = group {
        s.push_str(&format!("chgrp {} \"$rm_tmp\" || exit 72\n", q(g)));
    }
    if let Some(m) = mode {
        s.push_str(&format!("chmod {} \"$rm_tmp\" || exit 72\n", q(m)));
    }
    s.push_str(&format!("mv -f \"$rm_tmp\" {d} || exit 73\ntrap - EXIT\n"));
    s
}

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
