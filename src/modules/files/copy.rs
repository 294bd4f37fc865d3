//! `copy`: puts a controller file, a directory tree or literal content on the host (or copies a
//! file on the host with `remote_src`). A file's content (up to `filekit::INLINE_MAX`) goes
//! with the script that compares checksums and attributes and writes what differs atomically:
//! one exec. Bigger files, trees and `remote_src` probe first, then write what differs.

use super::filekit::{
    self, Converge, FileState, NewContent, ProbeWants, Put, attr_fix, check_validate, converge,
    parse_stat_line, probe_script_into_dir, sha1_hex,
};
use crate::modules::doc::{aka, arg, dflt, req};
use crate::modules::remote::{
    Attrs, Content, WriteSpec, host_error, parse_kv, q, write_error, write_script,
};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Copy;

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CopyArgs {
    src: Option<String>,
    content: Option<String>,
    dest: String,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default = "yes", alias = "thirsty")]
    force: bool,
    #[serde(default)]
    backup: bool,
    validate: Option<String>,
    directory_mode: Option<FileMode>,
    #[serde(default)]
    remote_src: bool,
    #[serde(default)]
    follow: bool,
    #[serde(default = "yes")]
    local_follow: bool,
}

const ARGS: &[ArgDoc] = &[
    arg(
        "src",
        "File or directory on the controller, searched in `files/`; a directory ending in `/` copies its contents. With remote_src, a file on the host.",
    ),
    arg("content", "Literal content for dest, instead of src."),
    req(
        "dest",
        "Where to write on the host; an existing directory (or a path ending in `/`) receives the file under its source name.",
    ),
    arg(
        "mode",
        "Mode of the file: octal (0644, '0644') or symbolic (u=rw,g=r); `preserve` keeps the source file's mode.",
    ),
    arg("owner", "Owner, by name or uid."),
    arg("group", "Group, by name or gid."),
    aka(
        dflt(
            "force",
            "yes",
            "Replace dest when its content differs; with no, only a missing dest is written.",
        ),
        &["thirsty"],
    ),
    dflt(
        "backup",
        "no",
        "Keep the old file as DEST.PID.YYYY-MM-DD@HH:MM:SS~ and return its name as backup_file.",
    ),
    arg(
        "validate",
        "Command run on the new file (`%s` stands for its temporary path) before it replaces dest; failure leaves dest untouched.",
    ),
    arg(
        "directory_mode",
        "Mode of directories created when copying a directory tree.",
    ),
    dflt(
        "remote_src",
        "no",
        "src is a file on the host, not on the controller.",
    ),
    dflt(
        "follow",
        "no",
        "If dest is a symlink, write to its target instead of replacing the link.",
    ),
    dflt(
        "local_follow",
        "yes",
        "Follow symlinks in src on the controller (always done).",
    ),
];

impl Module for Copy {
    const NAME: &'static str = "copy";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("dest", "the file written"),
            ("src", "the source"),
            crate::modules::doc::FILE_ATTRS,
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Copy a file, a directory tree or literal content to the host.",
        args: ARGS,
        example: "- copy:\n    src: zoo.cfg\n    dest: /etc/zookeeper/conf/zoo.cfg\n    owner: zookeeper\n    mode: '0644'\n    validate: 'test -s %s'\n",
    };
    type Args = CopyArgs;

    async fn run(&self, a: CopyArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        check_validate(a.validate.as_deref())?;
        if !a.local_follow {
            return Err(ModuleError::Failed(
                "local_follow=no is not supported: symlinks in src are always followed".into(),
            ));
        }
        let dest = if a.follow {
            filekit::resolve_link(cx, &a.dest).await?
        } else {
            a.dest.clone()
        };
        match (&a.src, &a.content) {
            (Some(_), Some(_)) => Err(ModuleError::Failed(
                "src and content are mutually exclusive".into(),
            )),
            (None, None) => Err(ModuleError::failed("src (or content) is required")),
            (None, Some(content)) => {
                if dest.ends_with('/') {
                    return Err(ModuleError::Failed(
                        "can not use content with a dir as dest".into(),
                    ));
                }
                one_file(cx, &a, &dest, None, content.as_bytes(), None).await
            }
            (Some(src), None) if a.remote_src => remote_file(cx, &a, &dest, src).await,
            (Some(src), None) => {
                let local = cx.find_file("files", src)?;
                if local.is_dir() {
                    return tree(cx, &a, &dest, src, &local).await;
                }
                let data = super::read_local(&local)?;
                let local_mode = std::fs::metadata(&local)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .ok();
                let base = file_name(src);
                one_file(cx, &a, &dest, Some(&base), &data, local_mode).await
            }
        }
    }
}

fn file_name(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn mode_for(a: &CopyArgs, local_mode: Option<u32>) -> Option<FileMode> {
    match (&a.mode, local_mode) {
        (Some(FileMode::Preserve), Some(m)) => Some(FileMode::Octal(m)),
        (Some(FileMode::Preserve), None) => None,
        (m, _) => m.clone(),
    }
}

async fn one_file(
    cx: &TaskContext<'_>,
    a: &CopyArgs,
    dest: &str,
    basename: Option<&str>,
    data: &[u8],
    local_mode: Option<u32>,
) -> Result<Outcome, ModuleError> {
    let mode = mode_for(a, local_mode);
    let (st, mut out) = filekit::put(
        cx,
        Put {
            dest,
            basename,
            data,
            attrs: Attrs::new(&a.owner, &a.group, &mode),
            force: a.force,
            backup: a.backup,
            validate: a.validate.as_deref(),
        },
    )
    .await?;
    if out.failed {
        return Ok(out);
    }
    if !a.force && st.exists {
        out.msg = Some("file already exists".into());
    }
    out.result
        .insert("dest".into(), Value::from(st.path.as_str()));
    if let Some(src) = &a.src {
        out.result.insert("src".into(), Value::from(src.as_str()));
    }
    Ok(out)
}

async fn remote_file(
    cx: &TaskContext<'_>,
    a: &CopyArgs,
    dest: &str,
    src: &str,
) -> Result<Outcome, ModuleError> {
    let wants = ProbeWants {
        sha1: true,
        ..Default::default()
    };
    let script = format!(
        "s={s}\n[ -f \"$s\" ] || {{ echo \"Source {src} not found or not a regular file\" >&2; exit 1; }}\n\
         printf 'src_sha1='; sha1sum < \"$s\" | cut -d' ' -f1\nprintf 'src_st='; stat -L -c '%s|%a' \"$s\"\n{probe}",
        s = q(src),
        src = src.replace('"', ""),
        probe = probe_script_into_dir(dest, Some(&file_name(src)), &wants),
    );
    let out = cx.run(&script, &[]).await?;
    if out.rc != 0 {
        return Ok(Outcome::fail(host_error("cannot copy", &out)));
    }
    let st = filekit::parse_probe(&out.stdout);
    if st.is_dir() {
        return Ok(Outcome::fail(format!("dest {} is a directory", st.path)));
    }
    let kv = parse_kv(&out.stdout_str());
    let src_sha1 = kv.get("src_sha1").cloned().unwrap_or_default();
    let (size, src_mode) = kv
        .get("src_st")
        .and_then(|l| l.split_once('|'))
        .map(|(s, m)| (s.parse().unwrap_or(0), u32::from_str_radix(m, 8).ok()))
        .unwrap_or((0, None));
    let mode = mode_for(a, src_mode);
    let new = if st.exists && !a.force {
        NewContent::Keep
    } else {
        NewContent::HostFile {
            path: src,
            sha1: &src_sha1,
            size,
        }
    };
    let mut out = converge(
        cx,
        Converge {
            st: &st,
            new,
            attrs: Attrs::new(&a.owner, &a.group, &mode),
            backup: a.backup,
            validate: a.validate.as_deref(),
            make_parents: false,
        },
    )
    .await?;
    out.result
        .insert("dest".into(), Value::from(st.path.as_str()));
    out.result.insert("src".into(), Value::from(src));
    Ok(out)
}

/// One file of a directory copy.
struct TreeFile {
    dest: String,
    data: Vec<u8>,
    mode: u32,
}

/// Lists a controller directory: the directories (relative, parents first) and files under it.
fn walk(
    root: &Path,
    rel: &Path,
    dirs: &mut Vec<PathBuf>,
    files: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if std::fs::metadata(e.path())?.is_dir() {
            dirs.push(r.clone());
            walk(root, &r, dirs, files)?;
        } else {
            files.push(r);
        }
    }
    Ok(())
}

/// Copies a controller directory: one probe for every file and directory, one script that
/// creates the missing directories and writes the differing files (their bytes on stdin, one
/// after another).
async fn tree(
    cx: &TaskContext<'_>,
    a: &CopyArgs,
    dest: &str,
    src: &str,
    local: &Path,
) -> Result<Outcome, ModuleError> {
    let root = if src.ends_with('/') {
        dest.trim_end_matches('/').to_string()
    } else {
        format!("{}/{}", dest.trim_end_matches('/'), file_name(src))
    };
    let mut dirs = Vec::new();
    let mut rel_files = Vec::new();
    walk(local, Path::new(""), &mut dirs, &mut rel_files)
        .map_err(|e| ModuleError::Failed(format!("cannot read {}: {}", local.display(), e)))?;
    let mut all_dirs = vec![root.clone()];
    all_dirs.extend(dirs.iter().map(|d| format!("{root}/{}", d.display())));
    let mut files = Vec::new();
    for r in &rel_files {
        let p = local.join(r);
        let data = super::read_local(&p)?;
        let mode = std::fs::metadata(&p)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        files.push(TreeFile {
            dest: format!("{root}/{}", r.display()),
            data,
            mode,
        });
    }

    let mut script = String::new();
    for (i, d) in all_dirs.iter().enumerate() {
        script.push_str(&format!(
            "p={}\nif [ -d \"$p\" ]; then printf 'd{i}='; stat -L -c '%F|%a|%u|%g|%U|%G|%s' \"$p\"; elif [ -e \"$p\" ]; then echo \"$p exists and is not a directory\" >&2; exit 1; fi\n",
            q(d)
        ));
    }
    for (i, f) in files.iter().enumerate() {
        script.push_str(&format!(
            "p={}\nif [ -e \"$p\" ]; then printf 'f{i}='; stat -L -c '%F|%a|%u|%g|%U|%G|%s' \"$p\"; if [ -f \"$p\" ]; then printf 's{i}='; sha1sum < \"$p\" | cut -d' ' -f1; fi; fi\n",
            q(&f.dest)
        ));
    }
    let out = cx.run(&script, &[]).await?;
    if out.rc != 0 {
        return Ok(Outcome::fail(host_error("cannot inspect dest", &out)));
    }
    let kv = parse_kv(&out.stdout_str());

    let mut apply = String::new();
    let mut stdin = Vec::new();
    let mut changed = false;
    for (i, d) in all_dirs.iter().enumerate() {
        let mut st = FileState {
            path: d.clone(),
            ..Default::default()
        };
        let dir_attrs = Attrs::new(&a.owner, &a.group, &a.directory_mode);
        match kv.get(&format!("d{i}")) {
            Some(line) if parse_stat_line(line, &mut st) => {
                let (changes, fix) = attr_fix(d, &st, &dir_attrs, false)?;
                changed |= !changes.is_empty();
                apply.push_str(&fix);
            }
            _ => {
                changed = true;
                apply.push_str(&format!("mkdir -p {} || exit 1\n", q(d)));
                if let Some(m) = a.directory_mode.as_ref().and_then(|m| m.chmod_arg()) {
                    apply.push_str(&format!("chmod {} {} || exit 1\n", q(&m), q(d)));
                }
                if let Some(o) = &a.owner {
                    apply.push_str(&format!("chown {} {} || exit 1\n", q(o), q(d)));
                }
                if let Some(g) = &a.group {
                    apply.push_str(&format!("chgrp {} {} || exit 1\n", q(g), q(d)));
                }
            }
        }
    }
    for (i, f) in files.iter().enumerate() {
        let mut st = FileState {
            path: f.dest.clone(),
            ..Default::default()
        };
        let exists = kv
            .get(&format!("f{i}"))
            .is_some_and(|l| parse_stat_line(l, &mut st));
        st.sha1 = kv.get(&format!("s{i}")).cloned();
        if exists && st.is_dir() {
            return Ok(Outcome::fail(format!("dest {} is a directory", f.dest)));
        }
        let mode = mode_for(a, Some(f.mode));
        let attrs = Attrs::new(&a.owner, &a.group, &mode);
        let differs =
            !exists || (a.force && st.sha1.as_deref() != Some(sha1_hex(&f.data).as_str()));
        if differs {
            changed = true;
            apply.push_str(&write_script(&WriteSpec {
                path: &f.dest,
                content: Content::Stdin(f.data.len()),
                attrs,
                backup: a.backup,
                validate: a.validate.as_deref(),
                make_parents: false,
            }));
            apply.push_str(" || exit $?\n");
            stdin.extend_from_slice(&f.data);
        } else {
            let (changes, fix) = attr_fix(&f.dest, &st, &attrs, false)?;
            changed |= !changes.is_empty();
            apply.push_str(&fix);
        }
    }
    if changed && !cx.check_mode {
        let r = cx.run(&apply, &stdin).await?;
        if r.rc != 0 {
            return Ok(Outcome::fail(write_error(&r)));
        }
    }
    let mut out = Outcome::changed(changed);
    out.result.insert("dest".into(), Value::from(root.as_str()));
    out.result.insert("src".into(), Value::from(src));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;
    use std::os::unix::fs::MetadataExt;

    #[tokio::test]
    async fn content_changed_then_unchanged_each_in_one_exec() {
        let h = Harness::new();
        let dest = h.path("a.conf");
        let args = json!({"content": "hello\n", "dest": dest, "mode": "0640"});
        let r = h.run(&Copy, args.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("a.conf"), "hello\n");
        assert_eq!(h.mode("a.conf"), 0o640);
        assert_eq!(r.execs, 1);
        assert_eq!(
            r.get("checksum").as_str(),
            Some(sha1_hex(b"hello\n").as_str())
        );
        assert_eq!(r.get("mode").as_str(), Some("0640"));
        let r = h.run(&Copy, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn check_mode_reports_and_writes_nothing_with_diff() {
        let h = Harness::new();
        h.write("a.conf", "old\n");
        let args = json!({"content": "new\n", "dest": h.path("a.conf")});
        let r = h.run(&Copy, args, true, true).await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("a.conf"), "old\n");
        assert_eq!(r.diff().before, "old\n");
        assert_eq!(r.diff().after, "new\n");
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn diff_while_writing_shows_old_and_new_in_one_exec() {
        let h = Harness::new();
        h.write("a.conf", "old\nline\n");
        h.set_mode("a.conf", 0o604);
        let args = json!({"content": "new\nline\n", "dest": h.path("a.conf")});
        let r = h.run(&Copy, args, false, true).await;
        assert_eq!(h.mode("a.conf"), 0o604, "the replaced file's mode is kept");
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.execs, 1);
        assert_eq!(r.diff().before, "old\nline\n");
        assert_eq!(r.diff().after, "new\nline\n");
        assert_eq!(h.read("a.conf"), "new\nline\n");
        assert_eq!(r.get("size").as_i64(), Some(9));
    }

    #[tokio::test]
    async fn replaced_file_keeps_another_users_owner_needs_root() {
        let h = Harness::new();
        h.write("a", "old\n");
        std::os::unix::fs::chown(h.path("a"), Some(65534), Some(65534)).unwrap();
        for mode in [json!(null), json!("0644")] {
            let args =
                json!({"content": format!("new {mode}\n"), "dest": h.path("a"), "mode": mode});
            let r = h.run(&Copy, args, false, false).await;
            assert!(
                r.outcome.changed && !r.outcome.failed,
                "{:?}",
                r.outcome.msg
            );
            let meta = std::fs::metadata(h.path("a")).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "mode {mode}");
        }
    }

    #[tokio::test]
    async fn octal_mode_only_change_is_one_exec_and_honest() {
        let h = Harness::new();
        h.write("a", "x");
        h.set_mode("a", 0o600);
        let args = json!({"content": "x", "dest": h.path("a"), "mode": "0644"});
        let r = h.run(&Copy, args.clone(), false, true).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.execs, 1);
        assert_eq!(h.mode("a"), 0o644);
        assert_eq!(r.diff().before, "mode: 0600\n");
        assert_eq!(r.diff().after, "mode: 0644\n");
        assert_eq!(r.get("mode").as_str(), Some("0644"));
        let r = h.run(&Copy, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn owner_named_by_name_or_id_is_unchanged() {
        let h = Harness::new();
        h.write("a", "x");
        let uid = std::fs::metadata(h.path("a")).unwrap().uid().to_string();
        let user = crate::connection::local::current_user();
        for owner in [uid, user] {
            let args = json!({"content": "x", "dest": h.path("a"), "owner": owner});
            let r = h.run(&Copy, args, false, false).await;
            assert!(
                !r.outcome.changed && !r.outcome.failed,
                "{owner}: {:?}",
                r.outcome.msg
            );
            assert_eq!(r.execs, 1);
        }
    }

    #[tokio::test]
    async fn big_content_is_sent_only_when_it_differs() {
        let h = Harness::new();
        let big = "x".repeat(filekit::INLINE_MAX + 1);
        let args = json!({"content": big, "dest": h.path("big"), "mode": "0600"});
        let r = h.run(&Copy, args.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.execs, 2);
        assert_eq!(h.read("big").len(), filekit::INLINE_MAX + 1);
        let r = h.run(&Copy, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn mode_only_change_keeps_content() {
        let h = Harness::new();
        h.write("a", "x");
        h.set_mode("a", 0o600);
        let args = json!({"content": "x", "dest": h.path("a"), "mode": "u=rw,g=r,o=r"});
        let r = h.run(&Copy, args.clone(), false, false).await;
        assert!(r.outcome.changed);
        assert_eq!(h.mode("a"), 0o644);
        assert_eq!(r.execs, 2);
        assert!(!h.run(&Copy, args, false, false).await.outcome.changed);
    }

    #[tokio::test]
    async fn src_into_directory_with_backup() {
        let h = Harness::new();
        h.write("role/files/app.properties", "a=1\n");
        std::fs::create_dir(h.path("etc")).unwrap();
        h.write("etc/app.properties", "a=0\n");
        let args = json!({"src": "app.properties", "dest": h.path("etc"), "backup": true});
        let r = h.run(&Copy, args, false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.execs, 1);
        assert_eq!(h.read("etc/app.properties"), "a=1\n");
        let backup = r.get("backup_file").as_str().unwrap().to_string();
        assert!(backup.ends_with('~'), "{backup}");
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "a=0\n");
        assert_eq!(
            r.get("dest").as_str(),
            Some(h.path("etc/app.properties").as_str())
        );
    }

    #[tokio::test]
    async fn failing_validate_leaves_dest_intact() {
        let h = Harness::new();
        h.write("sudoers", "good\n");
        let args =
            json!({"content": "bad\n", "dest": h.path("sudoers"), "validate": "grep -q good %s"});
        let r = h.run(&Copy, args, false, false).await;
        assert!(r.outcome.failed);
        assert_eq!(r.execs, 1);
        let m = r.outcome.msg.unwrap();
        assert!(m.contains("failed to validate"), "{m}");
        assert_eq!(h.read("sudoers"), "good\n");
        let leftovers: Vec<_> = std::fs::read_dir(h.dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }

    #[tokio::test]
    async fn force_no_keeps_existing() {
        let h = Harness::new();
        h.write("a", "mine\n");
        let r = h
            .run(
                &Copy,
                json!({"content": "theirs\n", "dest": h.path("a"), "force": "no"}),
                false,
                false,
            )
            .await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        assert_eq!(h.read("a"), "mine\n");
    }

    #[tokio::test]
    async fn missing_parent_fails_clearly() {
        let h = Harness::new();
        let r = h
            .run(
                &Copy,
                json!({"content": "x", "dest": h.path("nope/a")}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(r.outcome.msg.unwrap().contains("temporary file"));
    }

    #[tokio::test]
    async fn directory_tree_with_and_without_trailing_slash() {
        let h = Harness::new();
        h.write("role/files/conf/a.txt", "A");
        h.write("role/files/conf/sub/b.txt", "B");
        std::fs::create_dir(h.path("out")).unwrap();
        let args =
            json!({"src": "conf", "dest": h.path("out"), "directory_mode": "0750", "mode": "0600"});
        let r = h.run(&Copy, args.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("out/conf/a.txt"), "A");
        assert_eq!(h.read("out/conf/sub/b.txt"), "B");
        assert_eq!(h.mode("out/conf/sub"), 0o750);
        assert_eq!(h.mode("out/conf/sub/b.txt"), 0o600);
        assert_eq!(r.execs, 2);
        let r = h.run(&Copy, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        let src = format!("{}/", h.path("role/files/conf"));
        let r = h
            .run(
                &Copy,
                json!({"src": src, "dest": h.path("flat")}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("flat/sub/b.txt"), "B");
    }

    #[tokio::test]
    async fn remote_src_copies_on_host() {
        let h = Harness::new();
        let src = h.write("orig", "data\n");
        let args = json!({"src": src, "dest": h.path("copy"), "remote_src": true});
        let r = h.run(&Copy, args.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("copy"), "data\n");
        assert!(!h.run(&Copy, args, false, false).await.outcome.changed);
    }

    #[tokio::test]
    async fn rejects_unknown_argument() {
        let v = Value::from(minijinja::value::Serde(
            json!({"dest": "/x", "content": "a", "bogus": 1}),
        ));
        assert!(
            crate::modules::decode::<CopyArgs>(&v, crate::modules::DecodeMode::LoadTime).is_err()
        );
    }
}
