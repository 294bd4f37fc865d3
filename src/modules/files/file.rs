//! `file`: makes a path a file, directory, symlink or hard link, touches or removes it, and sets
//! its owner, group and mode (recursively for directories). An explicit state with an octal (or
//! no) mode is one script that checks and changes on the host; recurse, symbolic modes, no
//! state and check mode probe first and change in one more script only when something differs.

use super::filekit::{
    AttrChange, FileState, apply_changes, attr_diff, attr_fix, attr_fix_sh, parse_changes,
    parse_stat_line, wanted_mode,
};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::{Attrs, DIR_OF_P, host_error, parse_kv, q, stat_to_s};
use crate::modules::{
    ArgDoc, FileDiff, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext,
};
use serde::Deserialize;
use std::path::Path;

pub struct File;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum FileStateArg {
    File,
    Directory,
    Link,
    Hard,
    Touch,
    Absent,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct FileArgs {
    #[serde(alias = "dest", alias = "name")]
    path: String,
    state: Option<FileStateArg>,
    src: Option<String>,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default)]
    recurse: bool,
    #[serde(default)]
    force: bool,
    #[serde(default = "yes")]
    follow: bool,
    modification_time: Option<String>,
    access_time: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    aka(req("path", "The path to manage."), &["dest", "name"]),
    one_of(
        dflt(
            "state",
            "the current type, or file",
            "file: must exist, set attributes; directory: create with parents; link/hard: symbolic/hard link to src; touch: create or update times; absent: remove recursively.",
        ),
        &["file", "directory", "link", "hard", "touch", "absent"],
    ),
    arg(
        "src",
        "Link target for state=link (relative to the link's directory) or hard.",
    ),
    arg(
        "mode",
        "Octal (0755, '0755') or symbolic (u=rwX,g=rX,o=) mode.",
    ),
    arg("owner", "Owner, by name or uid."),
    arg("group", "Group, by name or gid."),
    dflt(
        "recurse",
        "no",
        "With state=directory, set owner, group and mode on everything below as well.",
    ),
    dflt(
        "force",
        "no",
        "Links: replace an existing file or empty directory, or link to a src that does not exist.",
    ),
    dflt(
        "follow",
        "yes",
        "Set attributes on a symlink's target rather than the link.",
    ),
    dflt(
        "modification_time",
        "now for touch, else preserve",
        "`now`, `preserve` or YYYYMMDDHHMM.SS.",
    ),
    dflt(
        "access_time",
        "now for touch, else preserve",
        "`now`, `preserve` or YYYYMMDDHHMM.SS.",
    ),
];

impl Module for File {
    const NAME: &'static str = "file";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("path", "the path"),
            ("dest", "the path (links)"),
            ("src", "the link target (links)"),
            crate::modules::doc::FILE_ATTRS,
        ],
        summary: "Manage files, directories, links and their attributes.",
        args: ARGS,
        example: "- file:\n    path: /var/lib/zookeeper\n    state: directory\n    owner: zookeeper\n    mode: '0750'\n    recurse: yes\n",
    };
    type Args = FileArgs;

    async fn run(&self, a: FileArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        if !cx.check_mode
            && let Some(script) = one_exec_script(&a)
        {
            return match script {
                Ok(script) => run_one_exec(&a, &script, cx).await,
                Err(e) => Ok(Outcome::fail(e.to_string()).with("path", a.path.as_str())),
            };
        }
        let want_tree = a.recurse && (a.mode.is_some() || a.owner.is_some() || a.group.is_some());
        let out = cx.run(&probe_script(&a, want_tree), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot inspect the path", &out)));
        }
        let found = parse_found(&out.stdout);
        let plan = match plan(&a, &found) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Outcome::fail(e.to_string()).with("path", a.path.as_str()));
            }
        };
        let mut result = Outcome::changed(!plan.changes.is_empty());
        if cx.diff && result.changed {
            let mut d: FileDiff = attr_diff(&a.path, &plan.changes);
            d.before.insert_str(0, &format!("path: {}\n", a.path));
            d.after.insert_str(0, &format!("path: {}\n", a.path));
            result.diff.push(d);
        }
        if result.changed && !cx.check_mode && !plan.script.is_empty() {
            let r = cx.run(&plan.script, &[]).await?;
            if r.rc != 0 {
                return Ok(Outcome::fail(host_error("cannot change the path", &r))
                    .with("path", a.path.as_str()));
            }
        }
        result = result
            .with("path", a.path.as_str())
            .with("state", plan.state_after.as_str());
        result = with_dest(result, &a, &plan.state_after);
        if plan.state_after != "absent" {
            let mut st = if plan.state_after == "link" {
                found.link.clone().unwrap_or_default()
            } else {
                found.target.clone()
            };
            apply_changes(&mut st, &plan.changes);
            result = with_final_attrs(result, st.exists.then_some(&st), a.src.as_deref());
        }
        Ok(result)
    }
}

/// What the probe found.
struct Found {
    /// `absent`, `file`, `directory`, `link`, `hard` (a file with more than one link) or `other`.
    prev: String,
    /// The path itself when it is a symlink (not followed).
    link: Option<FileState>,
    link_target: Option<String>,
    /// The path followed (its target for a link); `exists == false` when dangling or absent.
    target: FileState,
    inode: Option<String>,
    src_inode: Option<String>,
    src_exists: bool,
    /// The nearest existing ancestor, for creating directories.
    ancestor: String,
    /// `find -printf` lines `mode|type|uid|gid|user|group` of everything below, for recurse.
    tree: Vec<String>,
}

const FMT: &str = "%F|%a|%u|%g|%U|%G|%s";

fn link_src(path: &str, src: &str) -> String {
    if src.starts_with('/') {
        src.to_string()
    } else {
        let dir = Path::new(path).parent().unwrap_or(Path::new("."));
        dir.join(src).display().to_string()
    }
}

fn probe_script(a: &FileArgs, want_tree: bool) -> String {
    let mut s = format!(
        "p={p}\nif [ -L \"$p\" ]; then printf 'lnk=%s\\n' \"$(readlink \"$p\")\"; printf 'lst='; stat -c '{FMT}' \"$p\"; fi\n\
         if [ -e \"$p\" ]; then printf 'st='; stat -L -c '{FMT}' \"$p\"; printf 'ino='; stat -L -c '%d:%i:%h' \"$p\"; fi\n\
         a=$(dirname \"$p\"); while [ ! -e \"$a\" ] && [ \"$a\" != / ] && [ \"$a\" != . ]; do a=$(dirname \"$a\"); done; printf 'anc=%s\\n' \"$a\"\n",
        p = q(&a.path)
    );
    if let Some(src) = &a.src {
        let s_path = match a.state {
            Some(FileStateArg::Link) => link_src(&a.path, src),
            _ => src.clone(),
        };
        s.push_str(&format!(
            "s={}\nif [ -e \"$s\" ]; then printf 'src_ino='; stat -L -c '%d:%i' \"$s\"; fi\n",
            q(&s_path)
        ));
    }
    if want_tree {
        s.push_str("if [ -d \"$p\" ]; then printf 'rmesos_content_follows=1\\n'; find \"$p\" -mindepth 1 -printf '%m|%y|%U|%G|%u|%g\\n'; fi\n");
    }
    s
}

fn parse_found(stdout: &[u8]) -> Found {
    let mark = b"rmesos_content_follows=1\n";
    let (head, tree) = match stdout.windows(mark.len()).position(|w| w == mark) {
        Some(i) => (
            &stdout[..i],
            String::from_utf8_lossy(&stdout[i + mark.len()..])
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        None => (stdout, Vec::new()),
    };
    let kv = parse_kv(&String::from_utf8_lossy(head));
    let mut target = FileState::default();
    if let Some(l) = kv.get("st") {
        parse_stat_line(l, &mut target);
    }
    let link = kv.get("lst").map(|l| {
        let mut st = FileState::default();
        parse_stat_line(l, &mut st);
        st.kind = "link".into();
        st
    });
    let ino = kv.get("ino").cloned();
    let nlink: u64 = ino
        .as_deref()
        .and_then(|i| i.rsplit(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let prev = if link.is_some() {
        "link".to_string()
    } else if !target.exists {
        "absent".to_string()
    } else if target.kind == "file" && nlink > 1 {
        "hard".to_string()
    } else {
        target.kind.clone()
    };
    Found {
        prev,
        link,
        link_target: kv.get("lnk").cloned(),
        inode: ino.and_then(|i| i.rsplit_once(':').map(|(dev_ino, _)| dev_ino.to_string())),
        src_inode: kv.get("src_ino").cloned(),
        src_exists: kv.contains_key("src_ino"),
        target,
        ancestor: kv.get("anc").cloned().unwrap_or_else(|| "/".into()),
        tree,
    }
}

/// The plan: the script that converges, what differs (for diff and `changed`), and the state to
/// report.
#[derive(Default)]
struct Plan {
    script: String,
    changes: Vec<AttrChange>,
    state_after: String,
}

fn fail(msg: String) -> Result<Plan, ModuleError> {
    Err(ModuleError::Failed(msg))
}

fn attrs_of(a: &FileArgs) -> Attrs<'_> {
    Attrs::new(&a.owner, &a.group, &a.mode)
}

fn touch_script(a: &FileArgs, path: &str) -> Result<String, ModuleError> {
    let mut s = String::new();
    for (flag, val) in [("-m", &a.modification_time), ("-a", &a.access_time)] {
        match val.as_deref() {
            None | Some("now") => s.push_str(&format!("touch {flag} {} || exit 1\n", q(path))),
            Some("preserve") => {}
            Some(t) if t.len() == 15 && t.as_bytes()[12] == b'.' => {
                s.push_str(&format!("touch {flag} -t {} {} || exit 1\n", q(t), q(path)))
            }
            Some(t) => {
                return Err(ModuleError::Failed(format!(
                    "bad time {t:?}: use now, preserve or YYYYMMDDHHMM.SS"
                )));
            }
        }
    }
    Ok(s)
}

/// Adds attribute fixes for `st` at `path` to the plan.
fn fix_attrs(
    plan: &mut Plan,
    a: &FileArgs,
    path: &str,
    st: &FileState,
    no_deref: bool,
) -> Result<(), ModuleError> {
    let (changes, script) = attr_fix(path, st, &attrs_of(a), no_deref)?;
    plan.changes.extend(changes);
    plan.script.push_str(&script);
    Ok(())
}

/// Adds recursive fixes when anything below the directory differs.
fn fix_tree(plan: &mut Plan, a: &FileArgs, f: &Found) -> Result<(), ModuleError> {
    let mut differs = false;
    for line in &f.tree {
        let parts: Vec<&str> = line.split('|').collect();
        let [mode, kind, user, group, uid, gid] = parts[..] else {
            continue;
        };
        let cur = u32::from_str_radix(mode, 8).unwrap_or(0);
        if kind == "l" {
            continue;
        }
        let owner_differs = a.owner.as_deref().is_some_and(|o| o != user && o != uid);
        let group_differs = a.group.as_deref().is_some_and(|g| g != group && g != gid);
        let mode_differs =
            wanted_mode(a.mode.as_ref(), cur, kind == "d")?.is_some_and(|m| m != cur);
        if owner_differs || group_differs || mode_differs {
            differs = true;
            break;
        }
    }
    if differs {
        plan.changes.push(AttrChange {
            name: "recurse",
            before: "differs below".into(),
            after: "applied".into(),
        });
        let p = q(&a.path);
        if let Some(o) = &a.owner {
            plan.script
                .push_str(&format!("chown -R {} {p} || exit 1\n", q(o)));
        }
        if let Some(g) = &a.group {
            plan.script
                .push_str(&format!("chgrp -R {} {p} || exit 1\n", q(g)));
        }
        if let Some(m) = a.mode.as_ref().and_then(|m| m.chmod_arg()) {
            plan.script
                .push_str(&format!("chmod -R {} {p} || exit 1\n", q(&m)));
        }
    }
    Ok(())
}

fn state_change(plan: &mut Plan, before: &str, after: &str) {
    plan.changes.push(AttrChange {
        name: "state",
        before: before.into(),
        after: after.into(),
    });
}

fn plan(a: &FileArgs, f: &Found) -> Result<Plan, ModuleError> {
    let mut p = Plan::default();
    let path = a.path.as_str();
    // A link followed to an existing target is handled as that target.
    let effective = if f.prev == "link" && a.follow && f.target.exists {
        f.target.kind.clone()
    } else {
        f.prev.clone()
    };
    let state = match a.state {
        Some(s) => s,
        None => match effective.as_str() {
            "absent" => return fail(format!("file ({path}) is absent, cannot continue")),
            "directory" => FileStateArg::Directory,
            "link" => FileStateArg::Link,
            "hard" => FileStateArg::Hard,
            _ => FileStateArg::File,
        },
    };
    if a.recurse && state != FileStateArg::Directory {
        return fail("recurse option requires state to be 'directory'".into());
    }
    match state {
        FileStateArg::Absent => {
            p.state_after = "absent".into();
            if f.prev != "absent" {
                state_change(&mut p, &f.prev, "absent");
                p.script = format!("rm -rf -- {} || exit 1\n", q(path));
            }
        }
        FileStateArg::File => {
            p.state_after = "file".into();
            match effective.as_str() {
                "file" | "hard" => fix_attrs(&mut p, a, path, &f.target, false)?,
                "absent" => return fail(format!("file ({path}) is absent, cannot continue")),
                other => return fail(format!("file ({path}) is {other}, cannot continue")),
            }
        }
        FileStateArg::Directory => {
            p.state_after = "directory".into();
            match effective.as_str() {
                "directory" => {
                    fix_attrs(&mut p, a, path, &f.target, false)?;
                    if a.recurse {
                        fix_tree(&mut p, a, f)?;
                    }
                }
                "absent" if f.prev == "absent" => {
                    state_change(&mut p, "absent", "directory");
                    let mut missing: Vec<&Path> = Path::new(path)
                        .ancestors()
                        .take_while(|d| *d != Path::new(&f.ancestor) && !d.as_os_str().is_empty())
                        .collect();
                    missing.reverse();
                    for d in missing {
                        let d = q(&d.display().to_string());
                        // Another host or process may create a shared parent meanwhile: fine.
                        p.script
                            .push_str(&format!("mkdir {d} 2>/dev/null || [ -d {d} ] || exit 1\n"));
                        if let Some(o) = &a.owner {
                            p.script
                                .push_str(&format!("chown {} {d} || exit 1\n", q(o)));
                        }
                        if let Some(g) = &a.group {
                            p.script
                                .push_str(&format!("chgrp {} {d} || exit 1\n", q(g)));
                        }
                        if let Some(m) = a.mode.as_ref().and_then(|m| m.chmod_arg()) {
                            p.script
                                .push_str(&format!("chmod {} {d} || exit 1\n", q(&m)));
                        }
                    }
                }
                other => {
                    return fail(format!(
                        "there is a non-directory ({other}) at {path}, cannot make it a directory"
                    ));
                }
            }
        }
        FileStateArg::Touch => {
            p.state_after = if effective == "absent" {
                "file".into()
            } else {
                effective.clone()
            };
            if f.prev == "absent" {
                state_change(&mut p, "absent", "file");
                p.script = format!("touch {} || exit 1\n", q(path));
                if let Some(o) = &a.owner {
                    p.script
                        .push_str(&format!("chown {} {} || exit 1\n", q(o), q(path)));
                }
                if let Some(g) = &a.group {
                    p.script
                        .push_str(&format!("chgrp {} {} || exit 1\n", q(g), q(path)));
                }
                if let Some(m) = a.mode.as_ref().and_then(|m| m.chmod_arg()) {
                    p.script
                        .push_str(&format!("chmod {} {} || exit 1\n", q(&m), q(path)));
                }
            } else {
                let t = touch_script(a, path)?;
                if !t.is_empty() {
                    p.changes.push(AttrChange {
                        name: "times",
                        before: "old".into(),
                        after: "touched".into(),
                    });
                    p.script.push_str(&t);
                }
                fix_attrs(&mut p, a, path, &f.target, false)?;
            }
        }
        FileStateArg::Link => {
            p.state_after = "link".into();
            let Some(src) = a.src.as_deref().or(f.link_target.as_deref()) else {
                return fail("src is required for state=link".into());
            };
            if f.prev == "link" && f.link_target.as_deref() == Some(src) {
                if let Some(l) = &f.link {
                    fix_attrs(&mut p, a, path, l, true)?;
                }
                return Ok(p);
            }
            if !f.src_exists && !a.force && a.src.is_some() {
                return fail(format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                    link_src(path, src)
                ));
            }
            let qp = q(path);
            match f.prev.as_str() {
                "absent" | "link" => {}
                "directory" if a.force => {
                    p.script.push_str(&format!("rmdir {qp} || exit 1\n"));
                }
                "file" | "hard" if a.force => {}
                other => {
                    return fail(format!(
                        "refusing to convert from {other} to symlink for {path}"
                    ));
                }
            }
            state_change(&mut p, &f.prev, "link");
            p.script.push_str(&format!(
                "t=\"$(dirname {qp})/.rmesos.$$.lnk\"\nln -s {} \"$t\" || exit 1\nmv -fT \"$t\" {qp} || {{ rm -f \"$t\"; exit 1; }}\n",
                q(src)
            ));
            for (cmd, v) in [("chown -h", &a.owner), ("chgrp -h", &a.group)] {
                if let Some(v) = v {
                    p.script
                        .push_str(&format!("{cmd} {} {qp} || exit 1\n", q(v)));
                }
            }
        }
        FileStateArg::Hard => {
            p.state_after = "hard".into();
            let Some(src) = a.src.as_deref() else {
                return fail("src is required for state=hard".into());
            };
            if !f.src_exists {
                return fail(format!("src does not exist: {src}"));
            }
            if f.prev != "absent" && f.inode.is_some() && f.inode == f.src_inode {
                fix_attrs(&mut p, a, path, &f.target, false)?;
                return Ok(p);
            }
            match f.prev.as_str() {
                "absent" => {}
                "directory" => return fail(format!("cannot link: {path} is a directory")),
                _ if !a.force => {
                    return fail(format!(
                        "Cannot link, {} exists at destination (use force=yes)",
                        f.prev
                    ));
                }
                _ => {}
            }
            state_change(&mut p, &f.prev, "hard");
            p.script
                .push_str(&format!("ln -f {} {} || exit 1\n", q(src), q(path)));
            for (cmd, v) in [("chown", &a.owner), ("chgrp", &a.group)] {
                if let Some(v) = v {
                    p.script
                        .push_str(&format!("{cmd} {} {} || exit 1\n", q(v), q(path)));
                }
            }
            if let Some(m) = a.mode.as_ref().and_then(|m| m.chmod_arg()) {
                p.script
                    .push_str(&format!("chmod {} {} || exit 1\n", q(&m), q(path)));
            }
        }
    }
    Ok(p)
}

/// Shell lines that give the new path in `"$VAR"` the wanted owner, group and mode.
/// Shell lines that give the new path in `"$VAR"` the wanted owner and group (`h` = `-h ` for
/// the link itself).
fn owner_group_sh(a: &FileArgs, var: &str, h: &str) -> String {
    let mut s = String::new();
    for (cmd, v) in [("chown", &a.owner), ("chgrp", &a.group)] {
        if let Some(v) = v {
            s.push_str(&format!("{cmd} {h}{} \"${var}\" || exit 1\n", q(v)));
        }
    }
    s
}

/// [`owner_group_sh`] and the wanted mode.
fn set_attrs_sh(a: &FileArgs, var: &str) -> String {
    let mut s = owner_group_sh(a, var, "");
    if let Some(m) = a.mode.as_ref().and_then(|m| m.chmod_arg()) {
        s.push_str(&format!("chmod {} \"${var}\" || exit 1\n", q(&m)));
    }
    s
}

/// The whole task as one script for the common cases: an explicit state (with `src` for
/// links), no recurse, an octal or no mode. The host checks and changes in one go and reports
/// what it found (`prev=`, `eff=`), what it changed (`chg=` lines, the same changes the planner
/// names), why it refused (`fail=`) and the state to report (`fin=`: taken after a creation,
/// else before the attribute changes, which the controller applies to it). `None` for the rest,
/// which probe first and then apply.
fn one_exec_script(a: &FileArgs) -> Option<Result<String, ModuleError>> {
    let state = a.state?;
    if a.recurse || (state == FileStateArg::Link && a.src.is_none()) {
        return None;
    }
    let fix = attr_fix_sh(&attrs_of(a), false)?;
    let mut s = format!(
        "p={}\nc() {{ printf 'chg=%s|%s|%s\\n' \"$1\" \"$2\" \"$3\"; }}\n\
         no() {{ printf 'fail=%s\\n' \"$1\"; exit 0; }}\n\
         k=absent\n\
         if [ -L \"$p\" ]; then k=link; elif [ -d \"$p\" ]; then k=directory; \
         elif [ -f \"$p\" ]; then k=file; [ \"$(stat -c %h \"$p\")\" -gt 1 ] && k=hard; \
         elif [ -e \"$p\" ]; then k=other; fi\ne=$k\n",
        q(&a.path)
    );
    if a.follow {
        s.push_str(
            "if [ $k = link ] && [ -e \"$p\" ]; then \
             if [ -d \"$p\" ]; then e=directory; elif [ -f \"$p\" ]; then e=file; else e=other; fi; fi\n",
        );
    }
    s.push_str("printf 'prev=%s\\neff=%s\\n' \"$k\" \"$e\"\n");
    let force = |yes: &str, no: &str| {
        if a.force {
            yes.to_string()
        } else {
            format!("no {no}")
        }
    };
    // An existing path: its stat, the fixes decided on it, and that stat as the report.
    let existing = format!("{}{fix}printf 'fin=%s\\n' \"$s\"\n", stat_to_s(true));
    let created = format!("printf 'fin='; stat -L -c '{FMT}' \"$p\"\n");
    match state {
        FileStateArg::Absent => {
            s.push_str(
                "if [ $k != absent ]; then rm -rf -- \"$p\" || exit 1; c state $k absent; fi\n",
            );
        }
        FileStateArg::File => {
            s.push_str(&format!(
                "case $e in file|hard) ;; absent) no absent ;; *) no notfile ;; esac\n{existing}"
            ));
        }
        FileStateArg::Directory => {
            let mut dirs: Vec<String> = Path::new(&a.path)
                .ancestors()
                .filter(|d| !d.as_os_str().is_empty() && *d != Path::new("/"))
                .map(|d| q(&d.display().to_string()))
                .collect();
            dirs.reverse();
            // mkdir -m sets the exact mode (no umask): no chmod process per directory.
            let (mkdir, attrs) = match &a.mode {
                Some(FileMode::Octal(m)) => {
                    (format!("mkdir -m {m:04o}"), owner_group_sh(a, "d", ""))
                }
                _ => ("mkdir".to_string(), set_attrs_sh(a, "d")),
            };
            s.push_str(&format!(
                "case $e in\ndirectory)\n{existing};;\nabsent)\nc state absent directory\n\
                 for d in {}; do\n[ -d \"$d\" ] && continue\n\
                 {mkdir} \"$d\" 2>/dev/null || [ -d \"$d\" ] || exit 1\n{attrs}done\n{created};;\n\
                 *) no nondir ;;\nesac\n",
                dirs.join(" "),
            ));
        }
        FileStateArg::Touch => {
            let times = match touch_script(a, &a.path) {
                Ok(t) if t.is_empty() => t,
                Ok(t) => t + "c times old touched\n",
                Err(e) => return Some(Err(e)),
            };
            s.push_str(&format!(
                "if [ $k = absent ]; then\ntouch \"$p\" || exit 1\n{}c state absent file\n{created}else :\n{times}{existing}fi\n",
                set_attrs_sh(a, "p")
            ));
        }
        FileStateArg::Link => {
            let src = a.src.as_deref()?;
            let fix_link = attr_fix_sh(&attrs_of(a), true)?;
            let check_src = if a.force {
                String::new()
            } else {
                format!("[ -e {} ] || no nosrc\n", q(&link_src(&a.path, src)))
            };
            // A new link is made in place; one replacing a path goes beside it and is renamed
            // over it, so the path never goes missing.
            s.push_str(&format!(
                "if [ $k = link ] && [ \"$(readlink \"$p\")\" = {qs} ]; then :\n{stat}{fix_link}printf 'fin=%s\\n' \"$s\"\nelse\n{check_src}\
                 case $k in absent|link) ;; directory) {rmdir} ;; file|hard) {keep} ;; *) no refuse ;; esac\n\
                 c state $k link\n\
                 if [ $k = absent ]; then ln -s {qs} \"$p\" || exit 1\n\
                 else {DIR_OF_P}l=\"$d/.rmesos.$$.lnk\"\n\
                 ln -s {qs} \"$l\" || exit 1\nmv -fT \"$l\" \"$p\" || {{ rm -f \"$l\"; exit 1; }}\nfi\n{attrs}\
                 printf 'fin='; stat -c '{FMT}' \"$p\"\nfi\n",
                qs = q(src),
                stat = stat_to_s(false),
                rmdir = force("rmdir \"$p\" || exit 1", "refuse"),
                keep = force(":", "refuse"),
                attrs = owner_group_sh(a, "p", "-h "),
            ));
        }
        FileStateArg::Hard => {
            let qs = q(a.src.as_deref()?);
            s.push_str(&format!(
                "[ -e {qs} ] || no nohardsrc\n\
                 if [ $k != absent ] && [ -e \"$p\" ] && [ \"$(stat -L -c %d:%i \"$p\")\" = \"$(stat -L -c %d:%i {qs})\" ]; then :\n{existing}else\n\
                 case $k in absent) ;; directory) no harddir ;; *) {keep} ;; esac\n\
                 c state $k hard\nln -f {qs} \"$p\" || exit 1\n{attrs}{created}fi\n",
                keep = force(":", "hardexists"),
                attrs = set_attrs_sh(a, "p"),
            ));
        }
    }
    Some(Ok(s))
}

/// Runs [`one_exec_script`] and reads its report into the outcome the planner would give.
async fn run_one_exec(
    a: &FileArgs,
    script: &str,
    cx: &TaskContext<'_>,
) -> Result<Outcome, ModuleError> {
    let r = cx.run(script, &[]).await?;
    let path = a.path.as_str();
    if r.rc != 0 {
        return Ok(Outcome::fail(host_error("cannot change the path", &r)).with("path", path));
    }
    let report = r.stdout_str();
    let kv = parse_kv(&report);
    let prev = kv.get("prev").map_or("absent", String::as_str);
    let eff = kv.get("eff").map_or(prev, String::as_str);
    if let Some(why) = kv.get("fail") {
        let msg = match why.as_str() {
            "absent" => format!("file ({path}) is absent, cannot continue"),
            "notfile" => format!("file ({path}) is {eff}, cannot continue"),
            "nondir" => {
                format!("there is a non-directory ({eff}) at {path}, cannot make it a directory")
            }
            "nosrc" => format!(
                "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                link_src(path, a.src.as_deref().unwrap_or_default())
            ),
            "refuse" => format!("refusing to convert from {prev} to symlink for {path}"),
            "nohardsrc" => format!(
                "src does not exist: {}",
                a.src.as_deref().unwrap_or_default()
            ),
            "harddir" => format!("cannot link: {path} is a directory"),
            "hardexists" => {
                format!("Cannot link, {prev} exists at destination (use force=yes)")
            }
            other => format!("cannot change the path ({other})"),
        };
        return Ok(Outcome::fail(msg).with("path", path));
    }
    let changes = parse_changes(&report);
    let state_after = match a.state {
        Some(FileStateArg::Absent) => "absent",
        Some(FileStateArg::Directory) => "directory",
        Some(FileStateArg::Link) => "link",
        Some(FileStateArg::Hard) => "hard",
        Some(FileStateArg::Touch) if prev != "absent" => eff,
        _ => "file",
    };
    let mut result = Outcome::changed(!changes.is_empty());
    if cx.diff && result.changed {
        let mut d: FileDiff = attr_diff(path, &changes);
        d.before.insert_str(0, &format!("path: {path}\n"));
        d.after.insert_str(0, &format!("path: {path}\n"));
        result.diff.push(d);
    }
    result = with_dest(
        result.with("path", path).with("state", state_after),
        a,
        state_after,
    );
    let mut st = FileState::default();
    if state_after != "absent" {
        let found = kv
            .get("fin")
            .is_some_and(|line| parse_stat_line(line, &mut st));
        if found {
            apply_changes(&mut st, &changes);
        }
        result = with_final_attrs(result, found.then_some(&st), a.src.as_deref());
    }
    Ok(result)
}

/// Ansible names the path `dest` for touch, link and hard.
fn with_dest(result: Outcome, a: &FileArgs, state_after: &str) -> Outcome {
    if matches!(state_after, "link" | "hard") || matches!(a.state, Some(FileStateArg::Touch)) {
        result.with("dest", a.path.as_str())
    } else {
        result
    }
}

/// What a result reports of a path that is there after the task (mode, owner, group, uid,
/// gid, size, as Ansible's file module does), and the link's `src`.
fn with_final_attrs(mut result: Outcome, st: Option<&FileState>, src: Option<&str>) -> Outcome {
    if let Some(st) = st {
        let id = |s: &str| {
            s.parse::<i64>()
                .map_or(minijinja::Value::from(s), minijinja::Value::from)
        };
        result = result
            .with("mode", format!("{:04o}", st.mode & 0o7777))
            .with("owner", st.owner.as_str())
            .with("group", st.group.as_str())
            .with("uid", id(&st.uid))
            .with("gid", id(&st.gid))
            .with("size", st.size);
    }
    if let Some(src) = src {
        result = result.with("src", src);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn directory_with_parents_then_unchanged() {
        let h = Harness::new();
        let args = json!({"path": h.path("a/b/c"), "state": "directory", "mode": "0750"});
        let r = h.run(&File, args.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.mode("a"), 0o750);
        assert_eq!(h.mode("a/b/c"), 0o750);
        assert_eq!(r.execs, 1);
        assert_eq!(r.get("mode").as_str(), Some("0750"));
        assert_eq!(r.get("state").as_str(), Some("directory"));
        let r = h.run(&File, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    /// The keys a later task reads, as Ansible's file module returns them (ansible-core 2.19:
    /// directory: path, state, mode, owner, group, uid, gid, size; touch: dest too).
    #[tokio::test]
    async fn result_keys_are_ansibles() {
        let h = Harness::new();
        let args = json!({"path": h.path("d"), "state": "directory"});
        let r = h.run(&File, args, false, false).await;
        for k in [
            "path", "state", "mode", "owner", "group", "uid", "gid", "size",
        ] {
            assert!(!r.get(k).is_undefined(), "directory result lacks {k}");
        }
        assert!(r.get("uid").as_i64().is_some());
        let args = json!({"path": h.path("d/f"), "state": "touch"});
        let r = h.run(&File, args, false, false).await;
        assert_eq!(r.get("dest").as_str(), Some(h.path("d/f").as_str()));
        assert_eq!(r.get("size").as_i64(), Some(0));
    }

    /// The one-exec script decides on the host what the planner decides on the controller
    /// (check mode still plans): same changed, failure message, diff and state, case by case.
    #[tokio::test]
    async fn one_exec_script_agrees_with_the_planner() {
        type Setup = fn(&Harness);
        let none: Setup = |_| {};
        let file: Setup = |h| {
            h.write("t", "x");
            h.write("p", "x");
            h.set_mode("p", 0o600);
        };
        let dir: Setup = |h| {
            h.write("t", "x");
            std::fs::create_dir_all(h.path("p/sub")).unwrap();
            h.set_mode("p", 0o700);
        };
        let empty_dir: Setup = |h| {
            h.write("t", "x");
            std::fs::create_dir(h.path("p")).unwrap();
        };
        let link: Setup = |h| {
            h.write("t", "x");
            std::os::unix::fs::symlink("t", h.path("p")).unwrap();
        };
        let hard: Setup = |h| {
            h.write("t", "x");
            std::fs::hard_link(h.path("t"), h.path("p")).unwrap();
        };
        let target: Setup = |h| {
            h.write("t", "x");
        };
        let cases: Vec<(Setup, serde_json::Value)> = vec![
            (none, json!({"state": "directory", "mode": "0750"})),
            (dir, json!({"state": "directory", "mode": "0755"})),
            (dir, json!({"state": "directory"})),
            (file, json!({"state": "directory"})),
            (link, json!({"state": "directory"})),
            (none, json!({"state": "file"})),
            (file, json!({"state": "file", "mode": "0644"})),
            (dir, json!({"state": "file"})),
            (hard, json!({"state": "file", "mode": "0600"})),
            (dir, json!({"state": "absent"})),
            (none, json!({"state": "absent"})),
            (hard, json!({"state": "absent"})),
            (target, json!({"state": "link", "src": "t"})),
            (link, json!({"state": "link", "src": "t"})),
            (
                link,
                json!({"state": "link", "src": "other", "force": true}),
            ),
            (file, json!({"state": "link", "src": "t"})),
            (file, json!({"state": "link", "src": "t", "force": true})),
            (dir, json!({"state": "link", "src": "t"})),
            (
                empty_dir,
                json!({"state": "link", "src": "t", "force": true}),
            ),
            (none, json!({"state": "link", "src": "missing"})),
            (target, json!({"state": "hard", "src": "T"})),
            (hard, json!({"state": "hard", "src": "T"})),
            (file, json!({"state": "hard", "src": "T"})),
            (dir, json!({"state": "hard", "src": "T"})),
            (none, json!({"state": "hard", "src": "T"})),
            (none, json!({"state": "touch", "mode": "0600"})),
            (
                file,
                json!({"state": "touch", "modification_time": "preserve", "access_time": "preserve"}),
            ),
            (file, json!({"state": "touch", "mode": "0640"})),
            (
                dir,
                json!({"state": "touch", "modification_time": "preserve", "access_time": "preserve"}),
            ),
        ];
        for (i, (setup, extra)) in cases.into_iter().enumerate() {
            let [planned, applied] = [true, false].map(|check| {
                let h = Harness::new();
                setup(&h);
                let mut args = extra.clone();
                args["path"] = json!(h.path("p"));
                if args["src"] == json!("T") {
                    args["src"] = json!(h.path("t"));
                }
                (h, args, check)
            });
            let mut seen = Vec::new();
            for (h, args, check) in [planned, applied] {
                let r = h.run(&File, args.clone(), check, true).await;
                let diff = r
                    .outcome
                    .diff
                    .first()
                    .map(|d| (d.before.clone(), d.after.clone()));
                let msg = r
                    .outcome
                    .msg
                    .clone()
                    .map(|m| m.replace(&h.path(""), "DIR/"));
                let diff = diff.map(|(b, a)| {
                    (
                        b.replace(&h.path(""), "DIR/"),
                        a.replace(&h.path(""), "DIR/"),
                    )
                });
                seen.push((
                    r.outcome.changed,
                    r.outcome.failed,
                    msg,
                    diff,
                    r.get("state").to_string(),
                ));
                if !check {
                    assert_eq!(r.execs, 1, "case {i}: {args}");
                }
            }
            assert_eq!(seen[0], seen[1], "case {i}: {extra}");
        }
    }

    #[tokio::test]
    async fn check_mode_and_diff_for_directory() {
        let h = Harness::new();
        let r = h
            .run(
                &File,
                json!({"dest": h.path("d"), "state": "directory"}),
                true,
                true,
            )
            .await;
        assert!(r.outcome.changed);
        assert!(!Path::new(&h.path("d")).exists());
        assert!(r.diff().before.contains("state: absent"));
        assert!(r.diff().after.contains("state: directory"));
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn recurse_sets_modes_below_and_is_honest() {
        let h = Harness::new();
        h.write("t/x/f", "1");
        h.set_mode("t/x/f", 0o600);
        let args = json!({"path": h.path("t"), "state": "directory", "mode": "u=rwX,g=rX,o=", "recurse": true});
        let r = h.run(&File, args.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.mode("t/x/f"), 0o640);
        assert_eq!(h.mode("t/x"), 0o750);
        let r = h.run(&File, args.clone(), true, false).await;
        assert!(!r.outcome.changed);
        h.set_mode("t/x/f", 0o644);
        let r = h.run(&File, args, true, false).await;
        assert!(r.outcome.changed);
        assert_eq!(h.mode("t/x/f"), 0o644);
    }

    #[tokio::test]
    async fn file_state_needs_existing_file() {
        let h = Harness::new();
        let r = h
            .run(
                &File,
                json!({"path": h.path("nope"), "mode": "0644"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(
            r.outcome
                .msg
                .unwrap()
                .contains("is absent, cannot continue")
        );
        h.write("f", "x");
        h.set_mode("f", 0o600);
        let r = h
            .run(
                &File,
                json!({"path": h.path("f"), "mode": "0644"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(h.mode("f"), 0o644);
        assert_eq!(r.get("mode").as_str(), Some("0644"));
    }

    #[tokio::test]
    async fn symlink_create_unchanged_and_force() {
        let h = Harness::new();
        h.write("target", "x");
        let args = json!({"src": "target", "path": h.path("ln"), "state": "link"});
        let r = h.run(&File, args.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(
            std::fs::read_link(h.path("ln")).unwrap(),
            Path::new("target")
        );
        let r = h.run(&File, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        h.write("plain", "y");
        let r = h
            .run(
                &File,
                json!({"src": "target", "path": h.path("plain"), "state": "link"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        let r = h
            .run(
                &File,
                json!({"src": "target", "path": h.path("plain"), "state": "link", "force": true}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert!(
            std::fs::symlink_metadata(h.path("plain"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let r = h
            .run(
                &File,
                json!({"src": "missing", "path": h.path("l2"), "state": "link"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed && r.outcome.msg.unwrap().contains("force=yes"));
    }

    #[tokio::test]
    async fn hard_link_touch_absent() {
        let h = Harness::new();
        let src = h.write("s", "x");
        let args = json!({"src": src, "path": h.path("h"), "state": "hard"});
        assert!(
            h.run(&File, args.clone(), false, false)
                .await
                .outcome
                .changed
        );
        assert!(!h.run(&File, args, false, false).await.outcome.changed);

        let t = json!({"path": h.path("touched"), "state": "touch", "mode": "0600"});
        assert!(h.run(&File, t.clone(), false, false).await.outcome.changed);
        assert_eq!(h.mode("touched"), 0o600);
        assert!(
            h.run(&File, t, false, false).await.outcome.changed,
            "touch always changes times"
        );
        let keep = json!({"path": h.path("touched"), "state": "touch", "modification_time": "preserve", "access_time": "preserve"});
        assert!(!h.run(&File, keep, false, false).await.outcome.changed);
        let stamp = json!({"path": h.path("touched"), "state": "touch", "modification_time": "202001020304.05"});
        assert!(h.run(&File, stamp, false, false).await.outcome.changed);
        let mtime = std::fs::metadata(h.path("touched"))
            .unwrap()
            .modified()
            .unwrap();
        let secs = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            (1577923445 - 86400..1577923445 + 86400).contains(&secs),
            "{secs}"
        );

        std::fs::create_dir_all(h.path("gone/sub")).unwrap();
        let gone = json!({"path": h.path("gone"), "state": "absent"});
        let r = h.run(&File, gone.clone(), false, false).await;
        assert!(r.outcome.changed);
        assert!(!Path::new(&h.path("gone")).exists());
        let r = h.run(&File, gone, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }
}
