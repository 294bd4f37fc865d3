//! `unarchive`: unpacks a tar (plain, gz, bz2, xz) or zip archive into a directory on the host.
//! The archive comes from the controller on stdin (or is already on the host with
//! `remote_src`). One script does the task: `creates` short-cut, listing, comparison with what
//! dest holds (GNU `tar --diff`, which checks sizes, mtimes, modes and contents; for zip, the
//! members unpacked into a temp dir and compared byte for byte), and extraction only when
//! something differs.

use crate::modules::doc::{aka, arg, dflt, req};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Unarchive;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct UnarchiveArgs {
    src: String,
    dest: String,
    #[serde(default, alias = "copy_remote")]
    remote_src: Option<bool>,
    /// The old spelling: `copy: no` means `remote_src: yes` (Ansible's action plugin).
    copy: Option<bool>,
    creates: Option<String>,
    #[serde(default)]
    extra_opts: Vec<String>,
    #[serde(default)]
    list_files: bool,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    keep_newer: bool,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    req(
        "src",
        "The archive: on the controller (searched in `files/`), or on the host with remote_src.",
    ),
    req("dest", "Existing directory on the host to unpack into."),
    aka(
        dflt("remote_src", "no", "src is already on the host."),
        &["copy_remote"],
    ),
    arg(
        "copy",
        "Deprecated opposite of remote_src (`copy: no` is `remote_src: yes`); not with remote_src.",
    ),
    arg(
        "creates",
        "Path on the host; when it exists nothing is done.",
    ),
    arg(
        "extra_opts",
        "Extra options for tar or unzip (a list, e.g. ['--strip-components=1']); used for the comparison too.",
    ),
    dflt(
        "list_files",
        "no",
        "Return the archive's members as `files`.",
    ),
    arg("exclude", "Members (patterns) not to unpack."),
    arg("include", "Only these members are unpacked."),
    dflt(
        "keep_newer",
        "no",
        "Do not replace files newer than the archive's (tar only).",
    ),
    arg("mode", "Mode of every unpacked member (octal or symbolic)."),
    arg("owner", "Owner of every unpacked member."),
    arg("group", "Group of every unpacked member."),
];

impl Module for Unarchive {
    const NAME: &'static str = "unarchive";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("dest", "the directory"),
            ("src", "the archive"),
            ("handler", "the archive type (tar, zip)"),
            ("files", "the archive's members (list_files)"),
        ],
        summary: "Unpack a tar.gz/tgz/tar.bz2/tar.xz/tar or zip archive on the host (unchanged when dest already matches).",
        args: ARGS,
        example: "- unarchive:\n    src: /opt/apache-zookeeper-3.8.4-bin.tar.gz\n    dest: /opt/zookeeper\n    remote_src: yes\n    extra_opts: ['--strip-components=1']\n    owner: zookeeper\n",
    };
    type Args = UnarchiveArgs;

    async fn run(&self, a: UnarchiveArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let remote = remote_src(&a)?;
        if a.src.contains("://") {
            return Err(ModuleError::Failed(
                "src as a URL is not supported: download it with get_url first".into(),
            ));
        }
        let data = if remote {
            Vec::new()
        } else {
            let local = cx.find_file("files", &a.src)?;
            std::fs::read(&local)
                .map_err(|e| ModuleError::Failed(format!("cannot read {}: {e}", local.display())))?
        };
        if a.keep_newer && data.starts_with(b"PK") {
            return Err(ModuleError::Failed(
                "keep_newer is supported for tar archives only".into(),
            ));
        }
        let out = cx.run(&script(&a, !remote, cx.check_mode), &data).await?;
        let stdout = out.stdout_str();
        let (report, files) = match stdout.split_once(&format!("{LIST_MARK}\n")) {
            Some((r, f)) => (r.to_string(), Some(f.to_string())),
            None => (stdout.clone(), None),
        };
        if out.rc != 0 {
            let what = match out.rc {
                RC_DEST => "bad dest",
                RC_SRC => "cannot find the archive",
                RC_LIST => "cannot read the archive",
                RC_EXTRACT => "failed to unpack",
                RC_ATTRS => "cannot set owner, group or mode",
                RC_TOOL => "missing tool",
                _ => "unarchive failed",
            };
            return Ok(Outcome::fail(host_error(what, &out)));
        }
        let kv = parse_kv(&report);
        let state = kv.get("state").map(String::as_str).unwrap_or("unchanged");
        if state == "skipped" {
            return Ok(Outcome::ok().msg(format!(
                "skipped, since {} exists",
                a.creates.as_deref().unwrap_or_default()
            )));
        }
        let changed =
            matches!(state, "extracted" | "would_extract") || kv.contains_key("attrs_changed");
        let mut res = Outcome::changed(changed)
            .with("dest", a.dest.as_str())
            .with("src", a.src.as_str());
        if let Some(f) = kv.get("format") {
            res.result
                .insert("handler".into(), Value::from(format!("{f}_archive")));
        }
        if let Some(files) = files {
            res.result.insert(
                "files".into(),
                Value::from(files.lines().map(Value::from).collect::<Vec<_>>()),
            );
        }
        Ok(res)
    }
}

const RC_DEST: i32 = 80;
const RC_SRC: i32 = 81;
const RC_LIST: i32 = 82;
const RC_EXTRACT: i32 = 83;
const RC_ATTRS: i32 = 84;
const RC_TOOL: i32 = 85;
const LIST_MARK: &str = "rmesos_files_follow=1";

fn words(items: &[String]) -> String {
    items.iter().map(|i| q(i)).collect::<Vec<_>>().join(" ")
}

/// `remote_src`, or the opposite of the deprecated `copy`; both given is an error, as in Ansible.
fn remote_src(a: &UnarchiveArgs) -> Result<bool, ModuleError> {
    match (a.copy, a.remote_src) {
        (Some(_), Some(_)) => Err(ModuleError::Failed(
            "parameters are mutually exclusive: ('copy', 'remote_src')".into(),
        )),
        (Some(copy), None) => Ok(!copy),
        (None, r) => Ok(r.unwrap_or(false)),
    }
}

fn script(a: &UnarchiveArgs, upload: bool, check: bool) -> String {
    let mut s = format!(
        "dest={dest}\nd=$(mktemp -d \"${{TMPDIR:-/tmp}}/rmesos-unarchive.XXXXXX\") || exit 70\ntrap 'rm -rf \"$d\"' EXIT\n",
        dest = q(&a.dest)
    );
    if upload {
        // Take the upload first, so an early exit never leaves stdin unread.
        s.push_str("arc=\"$d/archive\"\ncat > \"$arc\" || exit 70\n");
    } else {
        s.push_str(&format!(
            "arc={}\n[ -f \"$arc\" ] || {{ echo \"$arc does not exist\" >&2; exit {RC_SRC}; }}\n",
            q(&a.src)
        ));
    }
    if let Some(c) = &a.creates {
        s.push_str(&format!(
            "if [ -e {} ]; then echo state=skipped; exit 0; fi\n",
            q(c)
        ));
    }
    let extra = words(&a.extra_opts);
    let include = words(&a.include);
    let tar_excl = a
        .exclude
        .iter()
        .map(|e| q(&format!("--exclude={e}")))
        .collect::<Vec<_>>()
        .join(" ");
    let zip_excl = if a.exclude.is_empty() {
        String::new()
    } else {
        format!("-x {}", words(&a.exclude))
    };
    let keep = if a.keep_newer {
        "--keep-newer-files"
    } else {
        ""
    };
    // tar --diff lines that are no difference: owners (set afterwards by owner/group), modes
    // (by mode), and `tar: : Cannot stat` for a member --strip-components reduced to nothing.
    s.push_str(&format!(
        "[ -d \"$dest\" ] || {{ echo \"dest $dest must be an existing directory\" >&2; exit {RC_DEST}; }}\n\
         if [ \"$(head -c 2 \"$arc\")\" = PK ]; then fmt=zip; else fmt=tar; fi\n\
         if [ $fmt = zip ]; then\n\
           command -v unzip >/dev/null || {{ echo 'unzip is not installed on this host' >&2; exit {RC_TOOL}; }}\n\
           unzip -Z1 \"$arc\" {include} > \"$d/list\" 2>\"$d/err\" || {{ cat \"$d/err\" >&2; exit {RC_LIST}; }}\n\
           mkdir \"$d/x\" && unzip -qq -o {extra} \"$arc\" {include} {zip_excl} -d \"$d/x\" >&2 || exit {RC_LIST}\n\
           differ=$(cd \"$d/x\" && find . -type f | while IFS= read -r f; do cmp -s \"$f\" \"$dest/$f\" || {{ echo 1; break; }}; done)\n\
         else\n\
           tar -tf \"$arc\" {include} > \"$d/list\" 2>\"$d/err\" || {{ echo 'not a tar or zip archive:' >&2; cat \"$d/err\" >&2; exit {RC_LIST}; }}\n\
           tar -d -f \"$arc\" -C \"$dest\" {extra} {tar_excl} {include} > \"$d/diff\" 2>&1\n\
           differ=$(grep -v -e 'Uid differs' -e 'Gid differs' -e '^tar: : ' {mode_filter} \"$d/diff\" | head -n 1)\n\
         fi\n\
         printf 'format=%s\\n' $fmt\n",
        mode_filter = if a.mode.is_some() {
            "-e 'Mode differs'"
        } else {
            ""
        },
    ));
    s.push_str("if [ -n \"$differ\" ]; then\n");
    if check {
        s.push_str("  echo state=would_extract\n");
    } else {
        s.push_str(&format!(
            "  if [ $fmt = zip ]; then unzip -qq -o {extra} \"$arc\" {include} {zip_excl} -d \"$dest\" >&2 || exit {RC_EXTRACT};\n\
               else tar -xf \"$arc\" -C \"$dest\" {keep} {extra} {tar_excl} {include} || exit {RC_EXTRACT}; fi\n\
               echo state=extracted\n"
        ));
    }
    s.push_str("fi\n");
    if a.owner.is_some() || a.group.is_some() || a.mode.is_some() {
        s.push_str(&attrs_loop(a, check));
    }
    if a.list_files {
        s.push_str(&format!("echo {LIST_MARK}\ncat \"$d/list\"\n"));
    }
    s
}

/// Applies owner/group/mode to each listed member that exists under dest, printing
/// `attrs_changed=1` when one differed.
fn attrs_loop(a: &UnarchiveArgs, check: bool) -> String {
    let mut body = String::new();
    let act = |cmd: String| {
        if check {
            String::new()
        } else {
            format!("{cmd} \"$f\" || exit {RC_ATTRS}; ")
        }
    };
    if let Some(o) = &a.owner {
        body.push_str(&format!(
            "[ \"$(stat -c %U \"$f\")\" = {o} ] || [ \"$(stat -c %u \"$f\")\" = {o} ] || {{ ch=1; {}}}\n",
            act(format!("chown {}", q(o))),
            o = q(o)
        ));
    }
    if let Some(g) = &a.group {
        body.push_str(&format!(
            "[ \"$(stat -c %G \"$f\")\" = {g} ] || [ \"$(stat -c %g \"$f\")\" = {g} ] || {{ ch=1; {}}}\n",
            act(format!("chgrp {}", q(g))),
            g = q(g)
        ));
    }
    match &a.mode {
        Some(FileMode::Octal(m)) => body.push_str(&format!(
            "[ \"$(printf %04o 0$(stat -c %a \"$f\"))\" = {m:04o} ] || {{ ch=1; {}}}\n",
            act(format!("chmod {m:04o}"))
        )),
        Some(FileMode::Symbolic(m)) if !check => body.push_str(&format!(
            "b=$(stat -c %a \"$f\"); chmod {} \"$f\" || exit {RC_ATTRS}; [ \"$b\" = \"$(stat -c %a \"$f\")\" ] || ch=1\n",
            q(m)
        )),
        _ => {}
    }
    // Members land under dest without the components --strip-components removed.
    let strip = a
        .extra_opts
        .iter()
        .find_map(|o| o.strip_prefix("--strip-components=")?.parse::<usize>().ok())
        .unwrap_or(0);
    // The loop runs in this shell (input redirected, not piped) so `ch` survives it.
    format!(
        "cut {}-d/ -f{}- \"$d/list\" | grep -v '^$' > \"$d/members\"\n\
         ch=\nwhile IFS= read -r m; do f=\"$dest/${{m%/}}\"; [ -e \"$f\" ] || continue\n{body}done < \"$d/members\"\n[ -z \"$ch\" ] || echo attrs_changed=1\n",
        if strip > 0 { "-s " } else { "" },
        strip + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;
    use std::process::Command;

    /// Builds `role/files/NAME` from a small tree with the system tar or zip.
    fn make_archive(h: &Harness, name: &str) {
        h.write("tree/app/bin/run", "#!/bin/sh\necho hi\n");
        h.write("tree/app/README", "readme\n");
        std::fs::create_dir_all(h.path("role/files")).unwrap();
        let out = h.path(&format!("role/files/{name}"));
        let st = if name.ends_with(".zip") {
            Command::new("sh")
                .arg("-c")
                .arg(format!("cd {} && zip -qr {out} app", h.path("tree")))
                .status()
                .unwrap()
        } else {
            Command::new("tar")
                .args(["-caf", &out, "-C", &h.path("tree"), "app"])
                .status()
                .unwrap()
        };
        assert!(st.success());
    }

    async fn round_trip(name: &str) {
        let h = Harness::new();
        make_archive(&h, name);
        std::fs::create_dir_all(h.path("dest")).unwrap();
        let a = json!({"src": name, "dest": h.path("dest"), "list_files": true, "mode": "0750"});
        let r = h.run(&Unarchive, a.clone(), true, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert!(!std::path::Path::new(&h.path("dest/app")).exists());
        let r = h.run(&Unarchive, a.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("dest/app/README"), "readme\n");
        assert_eq!(h.mode("dest/app/README"), 0o750);
        let files = r.get("files").to_string();
        assert!(files.contains("app/bin/run"), "{files}");
        let r = h.run(&Unarchive, a.clone(), false, false).await;
        assert!(
            !r.outcome.changed,
            "{name}: second run changed: {:?}",
            r.outcome
        );
        assert_eq!(r.execs, 1);
        h.write("dest/app/README", "edited\n");
        let r = h.run(&Unarchive, a, false, false).await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("dest/app/README"), "readme\n");
    }

    #[tokio::test]
    async fn tar_gz_round_trip() {
        round_trip("app.tar.gz").await;
    }

    #[tokio::test]
    async fn tar_xz_round_trip() {
        round_trip("app.tar.xz").await;
    }

    #[tokio::test]
    async fn zip_round_trip() {
        if Command::new("zip").arg("-v").output().is_err() {
            return; // no zip to build the fixture with
        }
        round_trip("app.zip").await;
    }

    #[tokio::test]
    async fn creates_skips_and_missing_dest_fails() {
        let h = Harness::new();
        make_archive(&h, "a.tgz");
        let r = h
            .run(
                &Unarchive,
                json!({"src": "a.tgz", "dest": h.path("nodir")}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(
            r.outcome
                .msg
                .unwrap()
                .contains("must be an existing directory")
        );
        h.write("marker", "");
        let r = h
            .run(
                &Unarchive,
                json!({"src": "a.tgz", "dest": h.path("nodir"), "creates": h.path("marker")}),
                false,
                false,
            )
            .await;
        assert!(
            !r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
    }
}
