//! `synchronize` (ansible.posix): pushes a controller-side file or tree to the host over our
//! own SSH connection, with rsync's meaning for what changes: a trailing `/` on a directory src
//! copies its contents, without one the directory itself; a file is sent when it is missing or
//! its size or modification time differ (or, with `checksum: yes`, its SHA-1); `delete: yes`
//! removes what src does not have; `archive` (the default) keeps permissions, times and
//! symlinks. One script lists dest on the host (`find`, and `sha1sum` with checksum); the
//! controller compares; a second script writes what differs, each file through the one atomic
//! writer (temp file beside it, then `mv`), with the files' bytes on stdin. The result carries
//! rsync-style itemized lines (`<f+++++++++ path`) in `msg` and `stdout_lines`.
//! `mode: pull` is refused (use `fetch`), as are rsync options other than excludes.

use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::packages::pkgkit::fnmatch;
use crate::modules::remote::{Attrs, host_error, q, write_error, write_step};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct Synchronize;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Push,
    Pull,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SynchronizeArgs {
    src: String,
    dest: String,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    delete: bool,
    #[serde(default)]
    checksum: bool,
    #[serde(default = "yes")]
    archive: bool,
    recursive: Option<bool>,
    perms: Option<bool>,
    times: Option<bool>,
    links: Option<bool>,
    #[serde(default)]
    copy_links: bool,
    #[serde(default)]
    rsync_opts: Vec<String>,
    // Accepted for compatibility; they tune rsync's transport, which this push does not use.
    owner: Option<bool>,
    group: Option<bool>,
    compress: Option<bool>,
    dest_port: Option<u16>,
    use_ssh_args: Option<bool>,
    set_remote_user: Option<bool>,
    verify_host: Option<bool>,
    rsync_timeout: Option<u64>,
    partial: Option<bool>,
    private_key: Option<String>,
    rsync_path: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    req(
        "src",
        "The controller-side file or directory (found like copy's src: role files/, then the playbook's). `dir/` copies the contents, `dir` the directory itself.",
    ),
    req("dest", "The path on the host."),
    one_of(
        dflt("mode", "push", "push only; pull is refused (use fetch)."),
        &["push", "pull"],
    ),
    dflt(
        "delete",
        "no",
        "Remove from dest what src does not have (excluded paths are kept).",
    ),
    dflt(
        "checksum",
        "no",
        "Compare contents (SHA-1) instead of size and modification time.",
    ),
    dflt(
        "archive",
        "yes",
        "Default for recursive, perms, times and links.",
    ),
    arg("recursive", "Descend into directories (default: archive)."),
    arg(
        "perms",
        "Give dest src's permission bits (default: archive).",
    ),
    arg(
        "times",
        "Give dest src's modification times (default: archive).",
    ),
    arg(
        "links",
        "Copy symlinks as symlinks (default: archive); else the files they point to.",
    ),
    dflt("copy_links", "no", "Copy what symlinks point to."),
    arg(
        "rsync_opts",
        "Only --exclude=PATTERN (rsync's patterns: a name anywhere, a/b relative, a trailing / for directories), --no-motd and --quiet.",
    ),
    arg(
        "owner, group, compress, dest_port, use_ssh_args, set_remote_user, verify_host, rsync_timeout, partial, private_key, rsync_path",
        "Accepted and without effect: they tune rsync's own transport; files go over the task's SSH connection, as the task's (become) user.",
    ),
];

/// One entry of a tree, by path relative to its root ("" is the root).
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    File { size: u64, sha1: Option<String> },
    Dir,
    Link(String),
}

#[derive(Clone, Debug)]
pub struct Entry {
    kind: Kind,
    mode: u32,
    mtime: i64,
    /// Controller side: where the bytes are.
    local: Option<PathBuf>,
}

struct Opts {
    recursive: bool,
    perms: bool,
    times: bool,
    links: bool,
    excludes: Vec<String>,
}

fn opts(a: &SynchronizeArgs) -> Result<Opts, String> {
    let mut excludes = Vec::new();
    let mut it = a.rsync_opts.iter();
    while let Some(o) = it.next() {
        if let Some(p) = o.strip_prefix("--exclude=") {
            excludes.push(p.trim_matches(['\'', '"']).to_string());
        } else if o == "--exclude" {
            excludes.extend(it.next().cloned());
        } else if !["--no-motd", "--quiet", "-q"].contains(&o.as_str()) {
            return Err(format!(
                "rsync option {o:?} is not supported (synchronize runs without rsync; --exclude=PATTERN is)"
            ));
        }
    }
    Ok(Opts {
        recursive: a.recursive.unwrap_or(a.archive),
        perms: a.perms.unwrap_or(a.archive),
        times: a.times.unwrap_or(a.archive),
        links: a.links.unwrap_or(a.archive) && !a.copy_links,
        excludes,
    })
}

/// rsync's exclude rule for one path: a pattern without `/` matches any name; with one, the
/// path from the root (a leading `/` anchors it); a trailing `/` matches directories only.
fn excluded(rel: &str, is_dir: bool, pats: &[String]) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    pats.iter().any(|p| {
        let (p, dir_only) = match p.strip_suffix('/') {
            Some(d) => (d, true),
            None => (p.as_str(), false),
        };
        if dir_only && !is_dir {
            return false;
        }
        match p.strip_prefix('/') {
            Some(anchored) => fnmatch(anchored, rel),
            None if p.contains('/') => fnmatch(p, rel) || rel.ends_with(&format!("/{p}")),
            None => fnmatch(p, name),
        }
    })
}

/// The controller-side tree under `root` (a file is a tree of one entry).
fn walk(root: &Path, o: &Opts, checksum: bool) -> Result<BTreeMap<String, Entry>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        let lmeta =
            std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let meta = if lmeta.file_type().is_symlink() && !o.links {
            std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?
        } else {
            lmeta
        };
        let kind = if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&path).map_err(|e| e.to_string())?;
            Kind::Link(t.display().to_string())
        } else if meta.is_dir() {
            Kind::Dir
        } else {
            let sha1 = if checksum {
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                Some(hex::encode(Sha1::digest(&bytes)))
            } else {
                None
            };
            Kind::File {
                size: meta.len(),
                sha1,
            }
        };
        let descend = kind == Kind::Dir && (rel.is_empty() || o.recursive);
        out.insert(
            rel.clone(),
            Entry {
                kind,
                mode: meta.permissions().mode() & 0o7777,
                mtime: meta.mtime(),
                local: Some(path.clone()),
            },
        );
        if descend {
            let rd = std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            for child in rd.flatten() {
                let name = child.file_name().to_string_lossy().to_string();
                let crel = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let is_dir = child.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if !excluded(&crel, is_dir, &o.excludes) {
                    stack.push((child.path(), crel));
                }
            }
        }
    }
    Ok(out)
}

/// Lists dest on the host: `type|mode|size|mtime|link|path` lines, then `sha1  path` lines.
fn probe(root: &str, checksum: bool) -> String {
    let sums = if checksum {
        "find \"$r\" -type f -exec sha1sum {} + 2>/dev/null | sed 's/^/@sha /'\n"
    } else {
        ""
    };
    format!(
        "r={}\n[ -e \"$r\" ] || [ -L \"$r\" ] || exit 0\n\
         command -v find >/dev/null 2>&1 || {{ echo 'find is needed on the host (findutils)' >&2; exit 80; }}\n\
         find \"$r\" -printf '%y|%m|%s|%T@|%l|%P\\n'\n{sums}",
        q(root)
    )
}

fn parse_probe(out: &str, root: &str) -> BTreeMap<String, Entry> {
    let mut m = BTreeMap::new();
    let mut sums = BTreeMap::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("@sha ") {
            if let Some((sum, path)) = rest.split_once("  ") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(path)
                    .trim_start_matches('/');
                sums.insert(rel.to_string(), sum.to_string());
            }
            continue;
        }
        let f: Vec<&str> = line.splitn(6, '|').collect();
        let [ty, mode, size, mtime, link, rel] = f.as_slice() else {
            continue;
        };
        let kind = match *ty {
            "d" => Kind::Dir,
            "l" => Kind::Link(link.to_string()),
            _ => Kind::File {
                size: size.parse().unwrap_or(0),
                sha1: None,
            },
        };
        let mtime = mtime
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mode = u32::from_str_radix(mode, 8).unwrap_or(0);
        m.insert(
            rel.to_string(),
            Entry {
                kind,
                mode,
                mtime,
                local: None,
            },
        );
    }
    for (rel, sum) in sums {
        if let Some(Entry {
            kind: Kind::File { sha1, .. },
            ..
        }) = m.get_mut(&rel)
        {
            *sha1 = Some(sum);
        }
    }
    m
}

/// What the push does, in order, with rsync's itemized line for each.
#[derive(Default)]
struct Plan {
    script: String,
    stdin: Vec<u8>,
    items: Vec<String>,
}

fn path_of(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        root.to_string()
    } else {
        format!("{}/{rel}", root.trim_end_matches('/'))
    }
}

fn same_content(want: &Entry, have: &Entry, checksum: bool) -> bool {
    match (&want.kind, &have.kind) {
        (Kind::File { size: a, sha1: sa }, Kind::File { size: b, sha1: sb }) => {
            a == b
                && if checksum {
                    sa.is_some() && sa == sb
                } else {
                    want.mtime == have.mtime
                }
        }
        (Kind::Dir, Kind::Dir) => true,
        (Kind::Link(a), Kind::Link(b)) => a == b,
        _ => false,
    }
}

fn plan(
    src: &BTreeMap<String, Entry>,
    dst: &BTreeMap<String, Entry>,
    root: &str,
    o: &Opts,
    a: &SynchronizeArgs,
) -> Result<Plan, String> {
    let mut p = Plan::default();
    let mut deletes: Vec<&String> = Vec::new();
    if a.delete {
        deletes = dst
            .keys()
            .filter(|k| !src.contains_key(*k))
            .filter(|k| !excluded(k, matches!(dst[*k].kind, Kind::Dir), &o.excludes))
            .collect();
    }
    // Deepest first, so a directory is empty when its turn comes.
    for rel in deletes.iter().rev() {
        p.items.push(format!("*deleting {rel}"));
        p.script
            .push_str(&format!("rm -rf {} || exit 79\n", q(&path_of(root, rel))));
    }
    for (rel, want) in src {
        let path = path_of(root, rel);
        let have = dst.get(rel);
        let is_dir = want.kind == Kind::Dir;
        let content_same = have.is_some_and(|h| same_content(want, h, a.checksum));
        let mode_same = !o.perms || have.is_some_and(|h| h.mode == want.mode);
        let time_same = !o.times
            || is_dir
            || matches!(want.kind, Kind::Link(_))
            || have.is_some_and(|h| h.mtime == want.mtime);
        if content_same && mode_same && time_same {
            continue;
        }
        let shown = if is_dir && !rel.is_empty() {
            format!("{rel}/")
        } else if rel.is_empty() {
            ".".into()
        } else {
            rel.clone()
        };
        let code = match (&want.kind, have) {
            (Kind::Dir, None) => "cd+++++++++",
            (Kind::Dir, _) => "cd.......p.",
            (Kind::Link(_), None) => "cL+++++++++",
            (Kind::Link(_), _) => "cL.........",
            (Kind::File { .. }, None) => "<f+++++++++",
            (Kind::File { .. }, Some(_)) if content_same => "<f.....tp..",
            (Kind::File { .. }, Some(_)) => "<f.st......",
        };
        p.items.push(format!("{code} {shown}"));
        // A different kind of entry is removed first (a file where a directory goes...).
        if let Some(h) = have
            && std::mem::discriminant(&h.kind) != std::mem::discriminant(&want.kind)
        {
            p.script
                .push_str(&format!("rm -rf {} || exit 79\n", q(&path)));
        }
        let mode = FileMode::Octal(want.mode);
        match &want.kind {
            Kind::Dir => {
                p.script
                    .push_str(&format!("mkdir -p {} || exit 78\n", q(&path)));
                if o.perms {
                    p.script.push_str(&format!(
                        "chmod {:04o} {} || exit 72\n",
                        want.mode,
                        q(&path)
                    ));
                }
            }
            Kind::Link(t) => p.script.push_str(&format!(
                "ln -sfn {} {}.rmesos-link && mv -fT {}.rmesos-link {} || exit 78\n",
                q(t),
                q(&path),
                q(&path),
                q(&path)
            )),
            Kind::File { .. } if content_same => {
                if o.perms {
                    p.script.push_str(&format!(
                        "chmod {:04o} {} || exit 72\n",
                        want.mode,
                        q(&path)
                    ));
                }
            }
            Kind::File { .. } => {
                let local = want.local.as_ref().ok_or("no local file")?;
                let bytes =
                    std::fs::read(local).map_err(|e| format!("{}: {e}", local.display()))?;
                let attrs = Attrs {
                    owner: None,
                    group: None,
                    mode: o.perms.then_some(&mode),
                };
                p.script
                    .push_str(&write_step(&path, bytes.len(), attrs, true));
                p.stdin.extend_from_slice(&bytes);
            }
        }
        if o.times && matches!(want.kind, Kind::File { .. }) {
            p.script.push_str(&format!(
                "touch -m -d @{} {} || exit 77\n",
                want.mtime,
                q(&path)
            ));
        }
    }
    Ok(p)
}

impl Module for Synchronize {
    const NAME: &'static str = "synchronize";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("rc", "rsync's exit status"),
            ("stdout_lines", "rsync's output"),
        ],
        summary: "Push a file or directory tree to the host (rsync's rules for what changes), over the task's SSH connection.",
        args: ARGS,
        example: "- ansible.posix.synchronize:\n    src: conf/\n    dest: /etc/mesos/\n    delete: yes\n    rsync_opts: ['--exclude=*.bak']\n",
    };
    type Args = SynchronizeArgs;

    async fn run(&self, a: SynchronizeArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        if a.mode == Mode::Pull {
            return Err(ModuleError::failed(
                "synchronize mode: pull is not supported; use fetch to bring files from the host",
            ));
        }
        // Accepted and without effect (see the doc): rsync's transport settings.
        let _transport = (
            (
                &a.owner,
                &a.group,
                &a.compress,
                &a.dest_port,
                &a.use_ssh_args,
            ),
            (
                &a.set_remote_user,
                &a.verify_host,
                &a.rsync_timeout,
                &a.partial,
            ),
            (&a.private_key, &a.rsync_path),
        );
        let o = opts(&a).map_err(ModuleError::Failed)?;
        let local = cx.find_file("files", &a.src)?;
        let src = walk(&local, &o, a.checksum).map_err(ModuleError::Failed)?;
        let src_is_dir = src.get("").is_some_and(|e| e.kind == Kind::Dir);
        let base = local
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // rsync: `dir/` fills dest, `dir` becomes dest/dir; a file into a dest ending in / goes inside.
        let root =
            if (src_is_dir && !a.src.ends_with('/')) || (!src_is_dir && a.dest.ends_with('/')) {
                format!("{}/{base}", a.dest.trim_end_matches('/'))
            } else {
                a.dest.trim_end_matches('/').to_string()
            };
        let root = if root.is_empty() {
            "/".to_string()
        } else {
            root
        };
        let out = cx.run(&probe(&root, a.checksum), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot read {root}"),
                &out,
            )));
        }
        let dst = parse_probe(&out.stdout_str(), &root);
        let p = plan(&src, &dst, &root, &o, &a).map_err(ModuleError::Failed)?;
        let changed = !p.items.is_empty();
        if changed && !cx.check_mode {
            let w = cx.run(&p.script, &p.stdin).await?;
            if w.rc != 0 {
                return Ok(Outcome::fail(write_error(&w)));
            }
        }
        let lines: Vec<Value> = p.items.iter().map(|l| Value::from(l.as_str())).collect();
        let mut msg = p.items.join("\n");
        if !msg.is_empty() {
            msg.push('\n');
        }
        Ok(Outcome::changed(changed)
            .msg(msg)
            .with("rc", 0)
            .with(
                "cmd",
                format!("(rmesos push over ssh) {} -> {}", local.display(), root),
            )
            .with("stdout_lines", lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[test]
    fn rsync_exclude_patterns() {
        let p = vec![
            "*.bak".to_string(),
            "cache/".to_string(),
            "/top.txt".to_string(),
        ];
        assert!(excluded("a/b/x.bak", false, &p));
        assert!(excluded("a/cache", true, &p));
        assert!(!excluded("a/cache", false, &p));
        assert!(excluded("top.txt", false, &p));
        assert!(!excluded("a/top.txt", false, &p));
    }

    #[tokio::test]
    async fn pushes_a_tree_then_changes_nothing_then_only_what_differs() {
        let h = Harness::new();
        h.write("role/files/conf/a.txt", "alpha\n");
        h.write("role/files/conf/sub/b.txt", "beta\n");
        h.write("role/files/conf/skip.bak", "x\n");
        let dest = h.path("out");
        let args = json!({"src": "conf/", "dest": dest, "delete": true, "rsync_opts": ["--exclude=*.bak"]});
        let r = h.run(&Synchronize, args.clone(), true, false).await;
        assert!(r.changed());
        assert!(!std::path::Path::new(&dest).exists(), "check mode wrote");
        let r = h.run(&Synchronize, args.clone(), false, false).await;
        assert!(r.changed());
        assert!(
            r.outcome
                .msg
                .as_deref()
                .unwrap()
                .contains("<f+++++++++ sub/b.txt"),
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("out/a.txt"), "alpha\n");
        assert_eq!(h.read("out/sub/b.txt"), "beta\n");
        assert!(!std::path::Path::new(&h.path("out/skip.bak")).exists());
        let r = h.run(&Synchronize, args.clone(), false, false).await;
        assert!(!r.changed());
        assert_eq!(r.execs, 1, "an unchanged tree costs one round trip");
        // A changed file, a stray one (deleted), and a kept mode.
        h.write("role/files/conf/a.txt", "alpha2\n");
        h.write("out/stray", "s\n");
        let r = h.run(&Synchronize, args.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        let msg = r.outcome.msg.unwrap();
        assert!(
            msg.contains("<f.st...... a.txt") && msg.contains("*deleting stray"),
            "{msg}"
        );
        assert_eq!(h.read("out/a.txt"), "alpha2\n");
        assert!(!std::path::Path::new(&h.path("out/stray")).exists());
        // Without the trailing slash the directory itself goes inside dest.
        let nested = json!({"src": "conf", "dest": h.path("nested"), "checksum": true});
        for changes in [true, false] {
            let r = h.run(&Synchronize, nested.clone(), false, false).await;
            assert_eq!(r.changed(), changes);
        }
        assert_eq!(h.read("nested/conf/sub/b.txt"), "beta\n");
        let bad = h
            .run(
                &Synchronize,
                json!({"src": "conf/", "dest": dest, "rsync_opts": ["--inplace"]}),
                false,
                false,
            )
            .await;
        assert!(bad.outcome.failed);
    }
}
