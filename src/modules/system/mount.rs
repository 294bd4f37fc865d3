//! `mount`: keeps a mount point's fstab line and its mounted state. One script reads the fstab
//! and whether the path is mounted (/proc/mounts); the controller edits the fstab with Ansible's
//! rules (the line for the same mount point is updated in place, fields escaped as `\040`); a
//! second script writes the fstab atomically and mounts, unmounts or remounts as the state asks.
//! Containers without CAP_SYS_ADMIN cannot mount: that fails with mount's own words.

use super::syskit::{join_lines, text_lines};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::files::filekit::DIFF_MAX;
use crate::modules::remote::{Attrs, host_error, parse_kv, q, write_step};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Mount;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Mounted,
    Present,
    Absent,
    Unmounted,
    Remounted,
}

fn default_fstab() -> String {
    "/etc/fstab".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MountArgs {
    #[serde(alias = "name")]
    path: String,
    src: Option<String>,
    fstype: Option<String>,
    opts: Option<String>,
    dump: Option<String>,
    passno: Option<String>,
    state: State,
    #[serde(default = "default_fstab")]
    fstab: String,
    #[serde(default)]
    backup: bool,
}

const ARGS: &[ArgDoc] = &[
    aka(req("path", "The mount point."), &["name"]),
    arg(
        "src",
        "The device (or UUID=, LABEL=, server:/export); required for present and mounted.",
    ),
    arg(
        "fstype",
        "Filesystem type; required for present and mounted.",
    ),
    dflt("opts", "defaults", "Mount options."),
    dflt("dump", "0", "The fstab dump field."),
    dflt("passno", "0", "The fstab fsck pass field."),
    one_of(
        req(
            "state",
            "mounted: in fstab and mounted (the mount point is created); present: in fstab only; absent: unmounted and out of fstab; unmounted: unmounted, fstab untouched; remounted: remount now.",
        ),
        &["mounted", "present", "absent", "unmounted", "remounted"],
    ),
    dflt("fstab", "/etc/fstab", "The fstab file to edit."),
    dflt(
        "backup",
        "no",
        "Keep the old fstab as FSTAB.PID.DATE~ and return it as backup_file.",
    ),
];

impl Module for Mount {
    const NAME: &'static str = "mount";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "the mount point"),
            ("fstab", "the fstab file"),
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Keep fstab entries and mounted filesystems in step.",
        args: ARGS,
        example: "- mount:\n    path: /var/lib/mesos\n    src: /dev/xvdb\n    fstype: ext4\n    opts: noatime\n    state: mounted\n",
    };
    type Args = MountArgs;

    async fn run(&self, a: MountArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let needs_spec = matches!(a.state, State::Mounted | State::Present);
        if needs_spec && (a.src.is_none() || a.fstype.is_none()) {
            return Err(ModuleError::Failed(
                "src and fstype are required with state=mounted or present".into(),
            ));
        }
        let path = a.path.trim_end_matches('/');
        let path = if path.is_empty() { "/" } else { path };
        let epath = escape(path);
        let probe = format!(
            "if awk -v p={ep} '$2 == p {{ f = 1 }} END {{ exit !f }}' /proc/mounts; then echo mounted=1; fi\n\
             if [ -e {f} ]; then printf '{MARK}'; cat {f} || exit 1; fi",
            ep = q(&epath),
            f = q(&a.fstab)
        );
        let out = cx.run(&probe, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot read {}", a.fstab),
                &out,
            )));
        }
        let stdout = out.stdout_str();
        let (report, file) = match stdout.split_once(MARK) {
            Some((r, f)) => (r.to_string(), f.to_string()),
            None => (stdout.clone(), String::new()),
        };
        let mounted = parse_kv(&report).contains_key("mounted");
        let lines = text_lines(file.as_bytes());
        let want = wanted(&a, &epath);
        let new_lines = match a.state {
            State::Mounted | State::Present => edit_fstab(&lines, &epath, Some(&want)),
            State::Absent => edit_fstab(&lines, &epath, None),
            State::Unmounted | State::Remounted => lines.clone(),
        };
        let fstab_changes = new_lines != lines;
        let mut script = String::new();
        if fstab_changes {
            if a.backup {
                script.push_str(&format!(
                    "if [ -e {f} ]; then b={f}.$$.$(date +%Y-%m-%d@%H:%M:%S)~; cp -p {f} \"$b\" && printf 'backup_file=%s\\n' \"$b\"; fi\n",
                    f = q(&a.fstab)
                ));
            }
            let len = join_lines(&new_lines).len();
            script.push_str(&write_step(&a.fstab, len, Attrs::default(), false));
        }
        let qp = q(path);
        // mount reads the fstab given with -T when it is not the system one.
        let tab = if a.fstab == "/etc/fstab" {
            String::new()
        } else {
            format!("-T {} ", q(&a.fstab))
        };
        let mut acts = false;
        match a.state {
            State::Mounted if !mounted => {
                acts = true;
                script.push_str(&format!(
                    "mkdir -p {qp} || exit {RC_MKDIR}\nmount {tab}{qp} || exit {RC_MOUNT}\n"
                ));
            }
            State::Mounted if fstab_changes => {
                acts = true;
                script.push_str(&format!("mount {tab}-o remount {qp} || exit {RC_MOUNT}\n"));
            }
            State::Absent | State::Unmounted if mounted => {
                acts = true;
                script.push_str(&format!("umount {qp} || exit {RC_UMOUNT}\n"));
            }
            State::Remounted => {
                acts = true;
                script.push_str(&format!("mount {tab}-o remount {qp} || exit {RC_MOUNT}\n"));
            }
            _ => {}
        }
        let mut res = Outcome::changed(fstab_changes || acts);
        for (k, v) in [("name", path), ("fstab", a.fstab.as_str())] {
            res.result.insert(k.into(), Value::from(v));
        }
        if fstab_changes && cx.diff && (file.len() as u64) < DIFF_MAX {
            res.diff.push(FileDiff {
                path: a.fstab.clone(),
                before: file.clone(),
                after: String::from_utf8_lossy(&join_lines(&new_lines)).into_owned(),
            });
        }
        if res.changed && !cx.check_mode {
            let w = cx.run(&script, &join_lines(&new_lines)).await?;
            if let Some(b) = parse_kv(&w.stdout_str()).get("backup_file") {
                res.result
                    .insert("backup_file".into(), Value::from(b.as_str()));
            }
            if w.rc != 0 {
                let what = match w.rc {
                    RC_MOUNT => format!("cannot mount {path}"),
                    RC_UMOUNT => format!("cannot unmount {path}"),
                    RC_MKDIR => format!("cannot create the mount point {path}"),
                    _ => format!("cannot write {}", a.fstab),
                };
                let mut msg = host_error(&what, &w);
                if matches!(w.rc, RC_MOUNT | RC_UMOUNT) {
                    if fstab_changes {
                        msg.push_str(&format!(" ({} was updated)", a.fstab));
                    }
                    msg.push_str(" (containers need CAP_SYS_ADMIN to mount)");
                }
                return Ok(Outcome::fail(msg));
            }
        }
        Ok(res)
    }
}

/// fstab and /proc/mounts escape whitespace and backslashes as octal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('\t', "\\011")
        .replace('\n', "\\012")
}

/// The wanted fstab fields: src, path, fstype, opts, dump, passno.
fn wanted(a: &MountArgs, epath: &str) -> [String; 6] {
    [
        escape(a.src.as_deref().unwrap_or_default()),
        epath.to_string(),
        escape(a.fstype.as_deref().unwrap_or_default()),
        escape(a.opts.as_deref().unwrap_or("defaults")),
        a.dump.clone().unwrap_or_else(|| "0".into()),
        a.passno.clone().unwrap_or_else(|| "0".into()),
    ]
}

/// Ansible's fstab edit: `Some(fields)` sets the mount point's line (updated in place, or
/// appended), `None` removes its lines.
fn edit_fstab(lines: &[String], path: &str, want: Option<&[String; 6]>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len() + 1);
    let mut found = false;
    for l in lines {
        let t = l.trim();
        let f: Vec<&str> = t.split_whitespace().collect();
        if t.is_empty() || t.starts_with('#') || f.len() < 4 || f[1] != path {
            out.push(l.clone());
            continue;
        }
        found = true;
        let Some(w) = want else { continue };
        let have = [
            f[0],
            f[1],
            f[2],
            f[3],
            f.get(4).copied().unwrap_or("0"),
            f.get(5).copied().unwrap_or("0"),
        ];
        if have.iter().zip(w.iter()).all(|(h, w)| h == w) {
            out.push(l.clone());
        } else {
            out.push(w.join(" "));
        }
    }
    if !found && let Some(w) = want {
        out.push(w.join(" "));
    }
    out
}

const MARK: &str = "rmesos_fstab_follows=1\n";
const RC_MOUNT: i32 = 81;
const RC_UMOUNT: i32 = 82;
const RC_MKDIR: i32 = 83;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    fn lines(s: &str) -> Vec<String> {
        text_lines(s.as_bytes())
    }

    fn w(src: &str, path: &str, opts: &str) -> [String; 6] {
        [src, path, "ext4", opts, "0", "0"].map(String::from)
    }

    #[test]
    fn fstab_line_is_updated_in_place_or_appended() {
        let old = lines("# static\nproc /proc proc defaults 0 0\n/dev/a /data ext4 defaults\n");
        assert_eq!(
            edit_fstab(&old, "/data", Some(&w("/dev/a", "/data", "defaults"))),
            old,
            "missing dump/passno read as 0: unchanged"
        );
        assert_eq!(
            edit_fstab(&old, "/data", Some(&w("/dev/a", "/data", "noatime")))[2],
            "/dev/a /data ext4 noatime 0 0"
        );
        assert_eq!(
            edit_fstab(&old, "/srv", Some(&w("/dev/b", "/srv", "defaults")))[3],
            "/dev/b /srv ext4 defaults 0 0"
        );
        assert_eq!(edit_fstab(&old, "/data", None), old[..2].to_vec());
    }

    #[test]
    fn spaces_are_escaped() {
        assert_eq!(escape("/mnt/my disk"), "/mnt/my\\040disk");
    }

    #[tokio::test]
    async fn present_and_absent_edit_only_the_fstab() {
        let h = Harness::new();
        let f = h.write("fstab", "# empty\n");
        let a = json!({"path": "/srv/rmesos-test", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m", "state": "present", "fstab": f});
        let r = h.run(&Mount, a.clone(), false, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(
            h.read("fstab"),
            "# empty\ntmpfs /srv/rmesos-test tmpfs size=1m 0 0\n"
        );
        let r = h.run(&Mount, a, false, false).await;
        assert!(!r.outcome.changed);
        let r = h
            .run(
                &Mount,
                json!({"path": "/srv/rmesos-test", "state": "absent", "fstab": f}),
                false,
                false,
            )
            .await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("fstab"), "# empty\n");
    }
}
