//! What the file modules (copy, template, file, lineinfile, blockinfile, replace, stat) share:
//! the probe that reads a file's type, attributes, checksum and (for edits) content in one
//! script, the comparison of wanted owner/group/mode with what is there, converging a file to
//! new content through the one atomic writer ([`remote::write_script`](crate::modules::remote::write_script)),
//! Python-regex translation and text diffs.
//!
//! Knows sh, coreutils and the Ansible semantics of these arguments; knows nothing of which
//! module calls it beyond the options it is given.

use crate::modules::remote::{
    Attrs, Content, WriteSpec, host_error, parse_kv, q, stat_to_s, write_error, write_script,
    write_script_at_p,
};
use crate::modules::{FileDiff, FileMode, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use sha1::{Digest, Sha1};

/// A file argument that cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileArgError {
    #[error("bad symbolic mode {0:?}")]
    SymbolicMode(String),
    #[error("validate must contain %s: {0}")]
    Validate(String),
    #[error("bad regular expression {pattern:?}: {reason}")]
    Regex { pattern: String, reason: String },
}

impl From<FileArgError> for ModuleError {
    fn from(e: FileArgError) -> Self {
        ModuleError::Failed(e.to_string())
    }
}

/// Diffs are skipped for files larger than this, as Ansible does by default.
pub const DIFF_MAX: u64 = 1024 * 1024;

/// What a probe found at a path.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileState {
    /// The path the probe settled on (copy/template may append a basename to a directory).
    pub path: String,
    pub exists: bool,
    /// `file`, `directory`, `link` (only when not following), or `other`.
    pub kind: String,
    pub mode: u32,
    pub uid: String,
    pub gid: String,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub sha1: Option<String>,
    /// The content, when asked for and the file is a readable regular file.
    pub content: Option<Vec<u8>>,
}

impl FileState {
    pub fn is_dir(&self) -> bool {
        self.exists && self.kind == "directory"
    }
    pub fn is_file(&self) -> bool {
        self.exists && self.kind == "file"
    }
}

/// Parses one `STAT_FMT` line into `st` (leaving path, checksum and content alone).
pub fn parse_stat_line(line: &str, st: &mut FileState) -> bool {
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    let [kind, mode, uid, gid, owner, group, size] = parts[..] else {
        return false;
    };
    st.exists = true;
    st.kind = if kind.contains("regular") {
        "file"
    } else if kind == "directory" {
        "directory"
    } else if kind == "symbolic link" {
        "link"
    } else {
        "other"
    }
    .to_string();
    st.mode = u32::from_str_radix(mode, 8).unwrap_or(0);
    st.uid = uid.to_string();
    st.gid = gid.to_string();
    st.owner = owner.to_string();
    st.group = group.to_string();
    st.size = size.parse().unwrap_or(0);
    true
}

/// What a probe should read besides type and attributes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeWants {
    pub sha1: bool,
    /// Compute the checksum only when the file has this size (the content it is compared with).
    pub sha1_if_size: Option<u64>,
    /// Read the content (always, for edits of text files).
    pub content: bool,
    /// Read the content only if it is at most [`DIFF_MAX`] bytes (for `--diff`).
    pub content_for_diff: bool,
}

/// Starts raw content in a probe's stdout: `rmesos_content=<length>` on its own line, then
/// exactly that many bytes, so key=value lines printed after it (by a write in the same script)
/// stay readable.
const CONTENT_KEY: &[u8] = b"rmesos_content=";

/// Prints the content of `"$p"` (its stat in `$s`) after [`CONTENT_KEY`], if it is a file.
const CONTENT_SH: &str = "if [ -f \"$p\" ]; then printf 'rmesos_content=%s\\n' \"${s##*|}\"; head -c \"${s##*|}\" \"$p\" || exit 1; fi\n";

/// Script lines that probe the path in shell variable `p` (already set). Follows symlinks for
/// type and attributes, as chmod and reads do. The checksum is left in `$h` for a script that
/// decides on it.
pub fn probe_lines(w: &ProbeWants) -> String {
    let mut s = String::new();
    s.push_str("printf 'path=%s\\n' \"$p\"\nh=\nif [ -e \"$p\" ]; then\n");
    s.push_str(&stat_to_s(true));
    s.push_str("printf 'st=%s\\n' \"$s\"\n");
    // With the content read, the controller computes its checksum.
    if w.sha1 && !w.content {
        // A file of another size differs whatever its checksum: skip reading it.
        let same_size = w
            .sha1_if_size
            .map(|n| format!(" && [ \"${{s##*|}}\" = {n} ]"))
            .unwrap_or_default();
        s.push_str(&format!(
            "if [ -f \"$p\" ] && [ -r \"$p\" ]{same_size}; then h=$(sha1sum < \"$p\") || exit 1; h=${{h%% *}}; printf 'sha1=%s\\n' \"$h\"; fi\n",
        ));
    }
    if w.content {
        s.push_str(CONTENT_SH);
    } else if w.content_for_diff {
        s.push_str(&format!(
            "if [ \"${{s##*|}}\" -le {DIFF_MAX} ]; then\n{CONTENT_SH}fi\n"
        ));
    }
    s.push_str("fi\n");
    s
}

/// A whole probe script for `path`.
pub fn probe_script(path: &str, w: &ProbeWants) -> String {
    format!("p={}\n{}", q(path), probe_lines(w))
}

/// A probe script for copy/template: a `dest` that is a directory (or ends with `/`) gets
/// `basename` appended, as Ansible does.
pub fn probe_script_into_dir(dest: &str, basename: Option<&str>, w: &ProbeWants) -> String {
    let mut s = match basename {
        Some(b) if dest.ends_with('/') => format!("p={}\n", q(&format!("{dest}{b}"))),
        Some(b) => format!(
            "p={}\nif [ -d \"$p\" ]; then p=\"$p\"/{}; fi\n",
            q(dest),
            q(b)
        ),
        None => format!("p={}\n", q(dest)),
    };
    s.push_str(&probe_lines(w));
    s
}

/// Splits a probe's stdout into its key=value report (what came before and after the content)
/// and the content, if any.
pub fn split_content(stdout: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let at = find(stdout, CONTENT_KEY).filter(|&i| i == 0 || stdout[i - 1] == b'\n');
    let Some(i) = at else {
        return (stdout.to_vec(), None);
    };
    let after_key = &stdout[i + CONTENT_KEY.len()..];
    let Some(nl) = after_key.iter().position(|&b| b == b'\n') else {
        return (stdout.to_vec(), None);
    };
    let len: usize = std::str::from_utf8(&after_key[..nl])
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let body = &after_key[nl + 1..];
    let len = len.min(body.len());
    let mut report = stdout[..i].to_vec();
    report.extend_from_slice(&body[len..]);
    (report, Some(body[..len].to_vec()))
}

/// Parses a probe's stdout.
pub fn parse_probe(stdout: &[u8]) -> FileState {
    let (report, content) = split_content(stdout);
    state_from(&parse_kv(&String::from_utf8_lossy(&report)), content)
}

/// The state a probe's report and content describe.
fn state_from(kv: &indexmap::IndexMap<String, String>, content: Option<Vec<u8>>) -> FileState {
    let mut st = FileState {
        path: kv.get("path").cloned().unwrap_or_default(),
        ..Default::default()
    };
    if let Some(line) = kv.get("st") {
        parse_stat_line(line, &mut st);
    }
    st.sha1 = kv.get("sha1").cloned().filter(|s| !s.is_empty());
    if st.sha1.is_none() && st.is_file() {
        st.sha1 = content.as_deref().map(sha1_hex);
    }
    st.content = content;
    st
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs a probe and fails the task with the host's words if it could not run.
pub async fn probe(cx: &TaskContext<'_>, script: &str) -> Result<FileState, ModuleError> {
    let out = cx.run(script, &[]).await?;
    if out.rc != 0 {
        return Err(ModuleError::Failed(host_error(
            "cannot inspect the file",
            &out,
        )));
    }
    Ok(parse_probe(&out.stdout))
}

pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// Applies a symbolic mode (`u=rw,g+r,o-rwx`, `a+X`) to `cur`, as Ansible computes it: no
/// `who` means all of u, g and o (no umask), `X` sets x only on directories or when some x is
/// already set.
pub fn apply_symbolic(spec: &str, cur: u32, is_dir: bool) -> Option<u32> {
    let mut mode = cur & 0o7777;
    for clause in spec.split(',') {
        let who_end = clause
            .find(|c: char| !"ugoa".contains(c))
            .unwrap_or(clause.len());
        let who = &clause[..who_end];
        let who = if who.is_empty() || who.contains('a') {
            "ugo"
        } else {
            who
        };
        let mut rest = &clause[who_end..];
        if rest.is_empty() {
            return None;
        }
        while let Some(op) = rest.chars().next() {
            if !"+-=".contains(op) {
                return None;
            }
            let perm_end = rest[1..]
                .find(|c: char| "+-=".contains(c))
                .map_or(rest.len(), |i| i + 1);
            let perms = &rest[1..perm_end];
            rest = &rest[perm_end..];
            let mut bits = 0u32;
            for who_c in who.chars() {
                let shift = match who_c {
                    'u' => 6,
                    'g' => 3,
                    _ => 0,
                };
                for p in perms.chars() {
                    bits |= match p {
                        'r' => 4 << shift,
                        'w' => 2 << shift,
                        'x' => 1 << shift,
                        'X' if is_dir || mode & 0o111 != 0 => 1 << shift,
                        'X' => 0,
                        's' if who_c == 'u' => 0o4000,
                        's' if who_c == 'g' => 0o2000,
                        's' => 0,
                        't' if who_c == 'o' => 0o1000,
                        't' => 0,
                        'u' | 'g' | 'o' => {
                            let from = match p {
                                'u' => 6,
                                'g' => 3,
                                _ => 0,
                            };
                            ((mode >> from) & 7) << shift
                        }
                        _ => return None,
                    };
                }
            }
            match op {
                '+' => mode |= bits,
                '-' => mode &= !bits,
                _ => {
                    let mut clear = 0u32;
                    for who_c in who.chars() {
                        clear |= match who_c {
                            'u' => 0o4700,
                            'g' => 0o2070,
                            _ => 0o1007,
                        };
                    }
                    mode = (mode & !clear) | bits;
                }
            }
        }
    }
    Some(mode)
}

/// The octal mode `mode` asks for on a file whose mode is `cur`; `None` for "leave it".
pub fn wanted_mode(
    mode: Option<&FileMode>,
    cur: u32,
    is_dir: bool,
) -> Result<Option<u32>, FileArgError> {
    match mode {
        None | Some(FileMode::Preserve) => Ok(None),
        Some(FileMode::Octal(m)) => Ok(Some(*m)),
        Some(FileMode::Symbolic(s)) => apply_symbolic(s, cur, is_dir)
            .map(Some)
            .ok_or_else(|| FileArgError::SymbolicMode(s.clone())),
    }
}

fn same_principal(want: &str, name: &str, id: &str) -> bool {
    want == name || want == id
}

/// One attribute that differs: its name, what it is and what it will be.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrChange {
    pub name: &'static str,
    pub before: String,
    pub after: String,
}

/// Compares wanted attributes with `st` (which must exist) and returns what differs and the
/// commands that fix it. `no_deref` uses `chown -h` (links themselves).
pub fn attr_fix(
    path: &str,
    st: &FileState,
    attrs: &Attrs,
    no_deref: bool,
) -> Result<(Vec<AttrChange>, String), FileArgError> {
    let mut changes = Vec::new();
    let mut script = String::new();
    let h = if no_deref { "-h " } else { "" };
    if let Some(o) = attrs.owner
        && !same_principal(o, &st.owner, &st.uid)
    {
        changes.push(AttrChange {
            name: "owner",
            before: st.owner.clone(),
            after: o.to_string(),
        });
        script.push_str(&format!("chown {h}{} {} || exit 1\n", q(o), q(path)));
    }
    if let Some(g) = attrs.group
        && !same_principal(g, &st.group, &st.gid)
    {
        changes.push(AttrChange {
            name: "group",
            before: st.group.clone(),
            after: g.to_string(),
        });
        script.push_str(&format!("chgrp {h}{} {} || exit 1\n", q(g), q(path)));
    }
    if st.kind != "link"
        && let Some(m) = wanted_mode(attrs.mode, st.mode, st.is_dir())?
        && m != st.mode & 0o7777
    {
        changes.push(AttrChange {
            name: "mode",
            before: format!("{:04o}", st.mode & 0o7777),
            after: format!("{m:04o}"),
        });
        script.push_str(&format!("chmod {m:04o} {} || exit 1\n", q(path)));
    }
    Ok((changes, script))
}

/// Shell that brings `"$p"` (its stat already in `$s`, see [`stat_to_s`]) to the wanted owner,
/// group and octal mode where they differ, deciding on the host what [`attr_fix`] decides on
/// the controller: each change is printed as
/// `chg=NAME|BEFORE|AFTER` and a failed one exits 72. `no_deref` looks at and changes a symlink
/// itself (no mode: links have none). `None` for a symbolic mode, whose result depends on the
/// current mode: callers probe first then.
pub fn attr_fix_sh(attrs: &Attrs, no_deref: bool) -> Option<String> {
    let mode = match attrs.mode {
        Some(FileMode::Symbolic(_)) if !no_deref => return None,
        Some(FileMode::Octal(m)) if !no_deref => Some(*m),
        _ => None,
    };
    if attrs.owner.is_none() && attrs.group.is_none() && mode.is_none() {
        return Some(String::new());
    }
    let h = if no_deref { "-h " } else { "" };
    // The fields of `$s`: 1 type, 2 mode, 3 uid, 4 gid, 5 user, 6 group (never holding `|`).
    let mut s = String::from("IFS='|'; set -- $s; unset IFS\n");
    if let Some(o) = attrs.owner {
        let o = q(o);
        s.push_str(&format!(
            "[ \"$5\" = {o} ] || [ \"$3\" = {o} ] || {{ chown {h}{o} \"$p\" || exit 72; printf 'chg=owner|%s|%s\\n' \"$5\" {o}; }}\n"
        ));
    }
    if let Some(g) = attrs.group {
        let g = q(g);
        s.push_str(&format!(
            "[ \"$6\" = {g} ] || [ \"$4\" = {g} ] || {{ chgrp {h}{g} \"$p\" || exit 72; printf 'chg=group|%s|%s\\n' \"$6\" {g}; }}\n"
        ));
    }
    if let Some(m) = mode {
        s.push_str(&format!(
            "[ \"$2\" = {m:o} ] || {{ chmod {m:04o} \"$p\" || exit 72; printf 'chg=mode|%04o|{m:04o}\\n' \"0$2\"; }}\n"
        ));
    }
    Some(s)
}

/// The `chg=NAME|BEFORE|AFTER` lines a script printed, in order.
pub fn parse_changes(report: &str) -> Vec<AttrChange> {
    report
        .lines()
        .filter_map(|l| l.strip_prefix("chg="))
        .filter_map(|c| {
            let mut it = c.splitn(3, '|');
            let name = match it.next()? {
                "owner" => "owner",
                "group" => "group",
                "mode" => "mode",
                "state" => "state",
                "times" => "times",
                _ => return None,
            };
            Some(AttrChange {
                name,
                before: it.next()?.to_string(),
                after: it.next()?.to_string(),
            })
        })
        .collect()
}

/// Carries attribute changes over to the state reported after them.
pub fn apply_changes(st: &mut FileState, changes: &[AttrChange]) {
    for ch in changes {
        match ch.name {
            "mode" => st.mode = u32::from_str_radix(&ch.after, 8).unwrap_or(st.mode),
            "owner" => st.owner = ch.after.clone(),
            "group" => st.group = ch.after.clone(),
            _ => {}
        }
    }
}

/// A diff of attribute changes in `name: value` lines, as Ansible's file module shows them.
pub fn attr_diff(path: &str, changes: &[AttrChange]) -> FileDiff {
    let mut d = FileDiff {
        path: path.to_string(),
        ..Default::default()
    };
    for c in changes {
        d.before.push_str(&format!("{}: {}\n", c.name, c.before));
        d.after.push_str(&format!("{}: {}\n", c.name, c.after));
    }
    d
}

/// A text diff of a file's content, or `None` when either side is binary or too large.
pub fn content_diff(path: &str, before: Option<&[u8]>, after: &[u8]) -> Option<FileDiff> {
    let before = before.unwrap_or_default();
    if before.len() as u64 > DIFF_MAX || after.len() as u64 > DIFF_MAX {
        return None;
    }
    if before.contains(&0) || after.contains(&0) {
        return None;
    }
    Some(FileDiff {
        path: path.to_string(),
        before: std::str::from_utf8(before).ok()?.to_string(),
        after: std::str::from_utf8(after).ok()?.to_string(),
    })
}

/// `follow=yes`: a dest that is a symlink means its target.
pub async fn resolve_link(cx: &TaskContext<'_>, dest: &str) -> Result<String, ModuleError> {
    let out = cx
        .run(
            &format!(
                "if [ -L {d} ]; then readlink -f {d}; else printf '%s\\n' {d}; fi",
                d = q(dest)
            ),
            &[],
        )
        .await?;
    Ok(out.stdout_str().trim_end_matches('\n').to_string())
}

/// Checks a `validate` argument as Ansible does.
pub fn check_validate(v: Option<&str>) -> Result<(), FileArgError> {
    match v {
        Some(v) if !v.contains("%s") => Err(FileArgError::Validate(v.to_string())),
        _ => Ok(()),
    }
}

/// The content a file should end up with.
#[derive(Clone, Copy, Debug)]
pub enum NewContent<'a> {
    /// Leave the content alone (only attributes matter).
    Keep,
    Bytes(&'a [u8]),
    /// A file already on the host (copy `remote_src`).
    HostFile {
        path: &'a str,
        sha1: &'a str,
        size: u64,
    },
}

/// Everything a content-managing module (copy, template, line edits) does once it knows the
/// old state and the new content: compare, and in at most one more round trip write the file
/// or fix its attributes.
pub struct Converge<'a> {
    pub st: &'a FileState,
    pub new: NewContent<'a>,
    pub attrs: Attrs<'a>,
    pub backup: bool,
    pub validate: Option<&'a str>,
    pub make_parents: bool,
}

/// Runs [`Converge`]: an outcome with `changed`, `diff`, `backup_file` and the file's return
/// values (`path`/`dest` are the caller's to add).
pub async fn converge(cx: &TaskContext<'_>, c: Converge<'_>) -> Result<Outcome, ModuleError> {
    let st = c.st;
    let path = st.path.as_str();
    let (new_sha1, new_size, stdin, host_file) = match c.new {
        NewContent::Keep => (None, None, &[][..], None),
        NewContent::Bytes(b) => (Some(sha1_hex(b)), Some(b.len() as u64), b, None),
        NewContent::HostFile { path, sha1, size } => {
            (Some(sha1.to_string()), Some(size), &[][..], Some(path))
        }
    };
    let content_changes =
        new_sha1.is_some() && (!st.exists || st.sha1.as_deref() != new_sha1.as_deref());
    let mut out = Outcome::ok();
    if cx.diff
        && content_changes
        && let NewContent::Bytes(new) = c.new
        && let Some(d) = content_diff(path, st.content.as_deref(), new)
    {
        out.diff.push(d);
    }
    let mut final_st = st.clone();
    if content_changes {
        out.changed = true;
        if !cx.check_mode {
            let w = WriteSpec {
                path,
                content: match host_file {
                    Some(f) => Content::HostFile(f),
                    None => Content::Stdin(stdin.len()),
                },
                attrs: c.attrs,
                backup: c.backup,
                validate: c.validate,
                make_parents: c.make_parents,
            };
            let r = cx.run(&write_script(&w), stdin).await?;
            if r.rc != 0 {
                return Ok(Outcome::fail(write_error(&r)));
            }
            let kv = parse_kv(&r.stdout_str());
            if let Some(b) = kv.get("backup_file") {
                out.result
                    .insert("backup_file".into(), Value::from(b.as_str()));
            }
            if let Some(line) = kv.get("fin") {
                parse_stat_line(line, &mut final_st);
            }
        }
        final_st.sha1 = new_sha1;
        final_st.size = new_size.unwrap_or_default();
    } else if st.exists {
        let (changes, script) = attr_fix(path, st, &c.attrs, false)?;
        if !changes.is_empty() {
            out.changed = true;
            if cx.diff {
                out.diff.push(attr_diff(path, &changes));
            }
            if !cx.check_mode {
                let r = cx.run(&script, &[]).await?;
                if r.rc != 0 {
                    return Ok(Outcome::fail(host_error("cannot set attributes", &r)));
                }
            }
            apply_changes(&mut final_st, &changes);
        }
    }
    add_state(&mut out, &final_st);
    Ok(out)
}

/// Content up to this size travels with the probe: one exec that writes only when the
/// checksum differs. Larger content is sent only after a probe found that it differs, so an
/// unchanged big file is never resent.
pub const INLINE_MAX: usize = 256 * 1024;

/// A whole file's content to put on the host (copy, template).
pub struct Put<'a> {
    pub dest: &'a str,
    /// Appended to `dest` when it is a directory (or ends with `/`).
    pub basename: Option<&'a str>,
    pub data: &'a [u8],
    pub attrs: Attrs<'a>,
    /// With `false`, an existing file keeps its content (attributes are still fixed).
    pub force: bool,
    pub backup: bool,
    pub validate: Option<&'a str>,
}

/// Puts content on the host: the state found before (its `path` is where the file went) and
/// the outcome with the file's return values. Small content with an octal (or no) mode costs
/// one exec whether it changes or not; check mode, symbolic modes and big content probe first.
pub async fn put(cx: &TaskContext<'_>, p: Put<'_>) -> Result<(FileState, Outcome), ModuleError> {
    let mut wants = ProbeWants {
        sha1: true,
        content_for_diff: cx.diff,
        ..Default::default()
    };
    if !cx.check_mode
        && p.data.len() <= INLINE_MAX
        && let Some(fix) = attr_fix_sh(&p.attrs, false)
    {
        if p.force {
            wants.sha1_if_size = Some(p.data.len() as u64);
        }
        let probe_sh = probe_script_into_dir(p.dest, p.basename, &wants);
        return put_inline(cx, &p, probe_sh, &fix).await;
    }
    let probe_sh = probe_script_into_dir(p.dest, p.basename, &wants);
    let st = probe(cx, &probe_sh).await?;
    if st.is_dir() {
        let msg = format!("dest {} is a directory", st.path);
        return Ok((st, Outcome::fail(msg)));
    }
    let new = if st.exists && !p.force {
        NewContent::Keep
    } else {
        NewContent::Bytes(p.data)
    };
    let out = converge(
        cx,
        Converge {
            st: &st,
            new,
            attrs: p.attrs,
            backup: p.backup,
            validate: p.validate,
            make_parents: false,
        },
    )
    .await?;
    Ok((st, out))
}

/// [`put`] in one exec: the probe, then (on the host) a write from stdin when the file is
/// missing or its checksum differs, else the attribute fixes. Stdin is left unread when
/// nothing is written.
async fn put_inline(
    cx: &TaskContext<'_>,
    p: &Put<'_>,
    probe_sh: String,
    fix: &str,
) -> Result<(FileState, Outcome), ModuleError> {
    let differs = if p.force {
        format!(" || [ \"$h\" != {} ]", sha1_hex(p.data))
    } else {
        String::new()
    };
    let write = write_script_at_p(&WriteSpec {
        path: "",
        content: Content::Stdin(p.data.len()),
        attrs: p.attrs,
        backup: p.backup,
        validate: p.validate,
        make_parents: false,
    });
    let script = format!(
        "{probe_sh}if [ -d \"$p\" ]; then exit 0; fi\n\
         if [ ! -e \"$p\" ]{differs}; then\n{write} || exit $?\necho wrote=1\nelse :\n{fix}fi\n"
    );
    let r = cx.run(&script, p.data).await?;
    let (report, content) = split_content(&r.stdout);
    let report = String::from_utf8_lossy(&report);
    let kv = parse_kv(&report);
    let mut st = state_from(&kv, content);
    if r.rc != 0 {
        let msg = if (69..=75).contains(&r.rc) {
            write_error(&r)
        } else {
            host_error("cannot inspect the file", &r)
        };
        return Ok((st, Outcome::fail(msg)));
    }
    if st.is_dir() {
        let msg = format!("dest {} is a directory", st.path);
        return Ok((st, Outcome::fail(msg)));
    }
    if kv.contains_key("wrote") {
        let out = written(cx, &st, p.data, &kv);
        st.content = None;
        return Ok((st, out));
    }
    let mut out = Outcome::ok();
    let mut final_st = st.clone();
    let changes = parse_changes(&report);
    if !changes.is_empty() {
        out.changed = true;
        if cx.diff {
            out.diff.push(attr_diff(&st.path, &changes));
        }
        apply_changes(&mut final_st, &changes);
    }
    add_state(&mut out, &final_st);
    st.content = None;
    Ok((st, out))
}

/// The outcome of a script that wrote `data` over the file `st` described (its report in `kv`).
fn written(
    cx: &TaskContext<'_>,
    st: &FileState,
    data: &[u8],
    kv: &indexmap::IndexMap<String, String>,
) -> Outcome {
    let mut out = Outcome::changed(true);
    if cx.diff
        && let Some(d) = content_diff(&st.path, st.content.as_deref(), data)
    {
        out.diff.push(d);
    }
    if let Some(b) = kv.get("backup_file") {
        out.result
            .insert("backup_file".into(), Value::from(b.as_str()));
    }
    let mut final_st = st.clone();
    if let Some(line) = kv.get("fin") {
        parse_stat_line(line, &mut final_st);
    }
    final_st.sha1 = Some(sha1_hex(data));
    final_st.size = data.len() as u64;
    add_state(&mut out, &final_st);
    out
}

/// What an in-place edit (lineinfile, blockinfile, replace) decided.
pub struct Edit {
    /// The new content, or `None` to leave the content alone.
    pub new: Option<Vec<u8>>,
    pub msg: String,
}

/// The options of an in-place edit.
pub struct EditSpec<'a> {
    pub path: &'a str,
    pub attrs: Attrs<'a>,
    pub backup: bool,
    pub validate: Option<&'a str>,
    /// Create the file (and its parent directories) when it is missing.
    pub create: bool,
}

/// Reads the file in the probe, lets `edit` compute the new content on the controller
/// (`None` when the file is missing), and writes it atomically only if it differs.
///
/// The read costs nothing extra when the change can be guessed: with `create`, the content
/// the edit gives a missing file travels with the probe, written only if the file is indeed
/// missing; and for a file this run already read or wrote (the connection's memo), the edit of
/// that content travels, written only if the file still has that checksum. Otherwise (or when
/// the guess was wrong) the file is read, and a change written in one more exec.
pub async fn edit_file(
    cx: &TaskContext<'_>,
    spec: EditSpec<'_>,
    mut edit: impl FnMut(Option<&[u8]>) -> Result<Edit, ModuleError>,
) -> Result<Outcome, ModuleError> {
    let memo = cx.conn.file_memo();
    let known = memo
        .and_then(|m| m.get(spec.path))
        .filter(|_| !cx.check_mode);
    let guess = match &known {
        Some(k) => match edit(Some(&k.content)) {
            Ok(e) => Some(Guess {
                condition: format!("[ \"$h\" = {} ]", k.sha1),
                new: e.new.filter(|n| n[..] != k.content[..]),
                msg: e.msg,
                old: Some(k.content.clone()),
            }),
            Err(_) => None,
        },
        None if spec.create && !cx.check_mode => match edit(None) {
            Ok(Edit { new: Some(n), msg }) => Some(Guess {
                condition: "[ ! -e \"$p\" ]".into(),
                new: Some(n),
                msg,
                old: None,
            }),
            _ => None,
        },
        None => None,
    };
    let st = match guess {
        None => {
            let wants = ProbeWants {
                sha1: true,
                content: true,
                ..Default::default()
            };
            probe(cx, &probe_script(spec.path, &wants)).await?
        }
        Some(g) => match try_guess(cx, &spec, g).await? {
            Tried::Done(out) => return Ok(out),
            Tried::Probed(st) => st,
        },
    };
    if st.exists && !st.is_file() {
        return Ok(Outcome::fail(format!(
            "{} is a {}, not a file",
            spec.path, st.kind
        )));
    }
    if st.exists && st.content.is_none() {
        return Ok(Outcome::fail(format!("cannot read {}", spec.path)));
    }
    let old = if st.exists {
        st.content.as_deref().or(Some(&[]))
    } else {
        None
    };
    let e = match edit(old) {
        Ok(e) => e,
        Err(e) => return Ok(Outcome::fail(e.to_string())),
    };
    if !st.exists && e.new.is_none() {
        return Ok(Outcome::ok().msg(e.msg));
    }
    if !st.exists && !spec.create {
        return Ok(Outcome::fail(format!(
            "Destination {} does not exist !",
            spec.path
        )));
    }
    let new = match e.new.as_deref() {
        Some(n) if old != Some(n) => NewContent::Bytes(n),
        _ => NewContent::Keep,
    };
    let content_changed = matches!(new, NewContent::Bytes(_));
    if let Some(m) = memo {
        match (&new, old) {
            (NewContent::Bytes(n), _) if !cx.check_mode => m.remember(spec.path, sha1_hex(n), n),
            (NewContent::Keep, Some(o)) => m.remember(spec.path, sha1_hex(o), o),
            _ => m.forget(spec.path),
        }
    }
    let mut out = converge(
        cx,
        Converge {
            st: &st,
            new,
            attrs: spec.attrs,
            backup: spec.backup,
            validate: spec.validate,
            make_parents: spec.create,
        },
    )
    .await?;
    if !out.failed {
        out.msg = Some(if content_changed {
            e.msg
        } else if out.changed {
            "ownership, perms or SE linux context changed".to_string()
        } else {
            String::new()
        });
    }
    Ok(out)
}

/// A change [`edit_file`] sends before reading the file, for the case `condition` (shell, on
/// the probe's `$h` and `$p`) says holds.
struct Guess {
    condition: String,
    /// The new content; `None` when the guess is that nothing changes.
    new: Option<Vec<u8>>,
    msg: String,
    /// The content the guess starts from (`None`: a missing file).
    old: Option<std::sync::Arc<[u8]>>,
}

enum Tried {
    /// The guess held: the task is done.
    Done(Outcome),
    /// It did not: what the probe found, content included.
    Probed(FileState),
}

/// One exec: the probe, then the guessed write if its condition holds, else the content.
async fn try_guess(
    cx: &TaskContext<'_>,
    spec: &EditSpec<'_>,
    g: Guess,
) -> Result<Tried, ModuleError> {
    let wants = ProbeWants {
        sha1: true,
        ..Default::default()
    };
    let then = match &g.new {
        Some(new) => {
            let write = write_script_at_p(&WriteSpec {
                path: "",
                content: Content::Stdin(new.len()),
                attrs: spec.attrs,
                backup: spec.backup,
                validate: spec.validate,
                make_parents: spec.create,
            });
            format!("{write} || exit $?\necho wrote=1\n")
        }
        None => "echo same=1\n".to_string(),
    };
    let script = format!(
        "{}if {}; then\n{then}elif [ -e \"$p\" ]; then\n{}fi\n",
        probe_script(spec.path, &wants),
        g.condition,
        CONTENT_SH,
    );
    let stdin = g.new.as_deref().unwrap_or_default();
    let r = cx.run(&script, stdin).await?;
    let (report, content) = split_content(&r.stdout);
    let kv = parse_kv(&String::from_utf8_lossy(&report));
    if r.rc != 0 {
        return Ok(Tried::Done(Outcome::fail(if (69..=75).contains(&r.rc) {
            write_error(&r)
        } else {
            host_error("cannot inspect the file", &r)
        })));
    }
    let mut st = state_from(&kv, content);
    if kv.contains_key("same") {
        st.content = g.old.as_deref().map(<[u8]>::to_vec);
        return Ok(Tried::Probed(st));
    }
    let memo = cx.conn.file_memo();
    match (&g.new, kv.contains_key("wrote")) {
        (Some(new), true) => {
            st.content = g.old.as_deref().map(<[u8]>::to_vec);
            let mut out = written(cx, &st, new, &kv);
            out.msg = Some(g.msg);
            if let Some(m) = memo {
                m.remember(spec.path, sha1_hex(new), new);
            }
            Ok(Tried::Done(out))
        }
        _ => {
            if let Some(m) = memo {
                m.forget(spec.path);
            }
            Ok(Tried::Probed(st))
        }
    }
}

/// Splits text into lines that keep their `\n`, as Python's `readlines()` does.
pub fn split_lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Adds Ansible's file return values (`mode`, `owner`, `size`, `checksum`, ...) from `st`.
pub fn add_state(out: &mut Outcome, st: &FileState) {
    if st.exists {
        out.result.insert(
            "mode".into(),
            Value::from(format!("{:04o}", st.mode & 0o7777)),
        );
        out.result
            .insert("owner".into(), Value::from(st.owner.as_str()));
        out.result
            .insert("group".into(), Value::from(st.group.as_str()));
        if let Ok(uid) = st.uid.parse::<u64>() {
            out.result.insert("uid".into(), Value::from(uid));
        }
        if let Ok(gid) = st.gid.parse::<u64>() {
            out.result.insert("gid".into(), Value::from(gid));
        }
        out.result.insert("size".into(), Value::from(st.size));
        out.result
            .insert("state".into(), Value::from(st.kind.as_str()));
    }
    if let Some(sum) = &st.sha1 {
        out.result
            .insert("checksum".into(), Value::from(sum.as_str()));
    }
}

/// Translates a Python `re` pattern into the `regex` crate's dialect: the crate already reads
/// `(?P<name>...)`, classes and flags alike; `\Z` is `\z` there.
pub fn py_regex(
    pattern: &str,
    multiline: bool,
    dotall: bool,
) -> Result<regex::bytes::Regex, FileArgError> {
    let mut p = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => p.push_str("\\z"),
                Some(n) => {
                    p.push('\\');
                    p.push(n);
                }
                None => p.push('\\'),
            }
        } else {
            p.push(c);
        }
    }
    regex::bytes::RegexBuilder::new(&p)
        .multi_line(multiline)
        .dot_matches_new_line(dotall)
        .unicode(true)
        .build()
        .map_err(|e| FileArgError::Regex {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

/// Translates a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`) into the
/// `regex` crate's (`${1}`, `${name}`, literal `$` as `$$`).
pub fn py_template(t: &str) -> String {
    let mut out = String::with_capacity(t.len() + 8);
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = d.to_string();
                    if let Some(d2) = chars.peek().copied().filter(char::is_ascii_digit) {
                        num.push(d2);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') if chars.peek() == Some(&'<') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    if o == '$' {
                        out.push('$');
                    }
                    out.push(o);
                }
                None => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes() {
        assert_eq!(apply_symbolic("u=rw,g=r,o=r", 0o777, false), Some(0o644));
        assert_eq!(apply_symbolic("u+x", 0o644, false), Some(0o744));
        assert_eq!(apply_symbolic("a+X", 0o644, false), Some(0o644));
        assert_eq!(apply_symbolic("a+X", 0o644, true), Some(0o755));
        assert_eq!(apply_symbolic("go-rwx", 0o755, false), Some(0o700));
        assert_eq!(apply_symbolic("+x", 0o600, false), Some(0o711));
        assert_eq!(apply_symbolic("u+s,o+t", 0o755, true), Some(0o5755));
        assert_eq!(apply_symbolic("g=u", 0o640, false), Some(0o660));
        assert_eq!(apply_symbolic("u=rwx,g=rx,o=", 0o666, false), Some(0o750));
        assert_eq!(apply_symbolic("u", 0o644, false), None);
    }

    #[test]
    fn python_templates() {
        assert_eq!(
            py_template(r"\1 and \g<2> \g<name>"),
            "${1} and ${2} ${name}"
        );
        assert_eq!(py_template("cost $5"), "cost $$5");
        assert_eq!(py_template(r"a\nb"), "a\nb");
        assert_eq!(py_template(r"\12"), "${12}");
    }

    #[test]
    fn probe_output_parses_with_content() {
        let out = b"path=/x\nst=regular file|644|0|0|root|root|13\nsha1=abc\nrmesos_content=13\nst=not a key\nfin=after\n";
        let st = parse_probe(out);
        assert!(st.is_file());
        assert_eq!(st.mode, 0o644);
        assert_eq!(st.sha1.as_deref(), Some("abc"));
        assert_eq!(st.content.as_deref(), Some(&b"st=not a key\n"[..]));
        let (report, _) = split_content(out);
        assert!(report.ends_with(b"sha1=abc\nfin=after\n"));
    }

    #[test]
    fn change_lines_parse_in_order() {
        let c = parse_changes("x=1\nchg=owner|root|app\nchg=mode|0600|0644\nchg=bogus|a|b\n");
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].name, c[0].before.as_str()), ("owner", "root"));
        assert_eq!((c[1].name, c[1].after.as_str()), ("mode", "0644"));
    }
}
