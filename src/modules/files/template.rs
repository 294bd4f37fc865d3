//! `template`: renders a Jinja template from `templates/` on the controller and puts the result
//! on the host the way `copy` puts content: one exec that compares and writes if it differs.

use super::filekit::{Put, check_validate, put, resolve_link};
use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::remote::Attrs;
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;
use std::path::Path;

pub struct Template;

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
pub enum NewlineSequence {
    #[default]
    #[serde(rename = "\n")]
    Lf,
    #[serde(rename = "\r\n")]
    CrLf,
    #[serde(rename = "\r")]
    Cr,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct TemplateArgs {
    src: String,
    dest: String,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default = "yes")]
    force: bool,
    #[serde(default)]
    backup: bool,
    validate: Option<String>,
    #[serde(default)]
    newline_sequence: NewlineSequence,
    #[serde(default = "yes")]
    trim_blocks: bool,
    #[serde(default)]
    lstrip_blocks: bool,
    #[serde(default)]
    follow: bool,
}

const ARGS: &[ArgDoc] = &[
    req(
        "src",
        "Template on the controller, searched in `templates/` of the role, then the playbook directory.",
    ),
    req(
        "dest",
        "Where to write the rendered file; an existing directory receives it under the template's name.",
    ),
    arg(
        "mode",
        "Mode of the file: octal (0644, '0644') or symbolic (u=rw,g=r).",
    ),
    arg("owner", "Owner, by name or uid."),
    arg("group", "Group, by name or gid."),
    dflt(
        "force",
        "yes",
        "Replace dest when it differs; with no, only a missing dest is written.",
    ),
    dflt(
        "backup",
        "no",
        "Keep the old file as DEST.PID.YYYY-MM-DD@HH:MM:SS~ and return backup_file.",
    ),
    arg(
        "validate",
        "Command run on the new file (`%s` is its temporary path) before it replaces dest; failure leaves dest untouched.",
    ),
    one_of(
        dflt(
            "newline_sequence",
            "\\n",
            "Line ending of the written file.",
        ),
        &["\\n", "\\r\\n", "\\r"],
    ),
    dflt(
        "trim_blocks",
        "yes",
        "Ansible's default (yes) only: the first newline after a block tag is removed.",
    ),
    dflt("lstrip_blocks", "no", "Ansible's default (no) only."),
    dflt(
        "follow",
        "no",
        "If dest is a symlink, write to its target instead of replacing the link.",
    ),
];

/// What Ansible's `template` adds to the task's variables: `ansible_managed` (Ansible's
/// default text, unless `managed` is false: the user set one; the `ansible_managed` key of
/// ansible.cfg is not read), `template_path`,
/// `template_fullpath`, `template_destpath`, `template_host` and `template_uid`. The times
/// (`template_mtime`, `template_run_date`) are left out: a file that embeds them changes on
/// every run.
fn template_vars(src: &str, local: &Path, dest: &str, managed: bool) -> Value {
    use std::os::unix::fs::MetadataExt;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let uid = std::fs::metadata(local).map(|m| m.uid()).unwrap_or(0);
    let user = user_name(uid).unwrap_or_else(|| uid.to_string());
    let managed = managed.then(|| {
        (
            "ansible_managed",
            Value::from(crate::vocab::ANSIBLE_MANAGED),
        )
    });
    let vars = [
        ("template_path", Value::from(src)),
        (
            "template_fullpath",
            Value::from(local.display().to_string()),
        ),
        ("template_destpath", Value::from(dest)),
        ("template_host", Value::from(host.trim())),
        ("template_uid", Value::from(user)),
    ];
    Value::from_pairs(managed.into_iter().chain(vars))
}

/// The login name of `uid` on the controller, from /etc/passwd.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_string())
    })
}

impl Module for Template {
    const NAME: &'static str = "template";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("dest", "the file written"),
            ("src", "the template"),
            crate::modules::doc::FILE_ATTRS,
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Render a Jinja template on the controller and write it to the host.",
        args: ARGS,
        example: "- template:\n    src: mesos-master.j2\n    dest: /etc/default/mesos-master\n    owner: root\n    mode: '0644'\n    backup: yes\n",
    };
    type Args = TemplateArgs;

    async fn run(&self, a: TemplateArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        check_validate(a.validate.as_deref())?;
        if !a.trim_blocks || a.lstrip_blocks {
            return Err(ModuleError::Failed(
                "only Ansible's default whitespace handling (trim_blocks=yes, lstrip_blocks=no) is supported".into(),
            ));
        }
        let local = cx.find_file("templates", &a.src)?;
        let text = String::from_utf8(super::read_local(&local)?).map_err(|_| {
            ModuleError::Failed(format!("{}: the template is not UTF-8", local.display()))
        })?;
        // As Ansible, an `ansible_managed` the user set is not replaced.
        let user_managed = cx
            .templating
            .eval_bool("ansible_managed is defined")
            .unwrap_or(false);
        let own = template_vars(&a.src, &local, &a.dest, !user_managed);
        let rendered = cx
            .templating
            .render_text(&text, &local, &own)
            .map_err(|e| ModuleError::Failed(format!("{}: {}", local.display(), e)))?;
        let rendered = match a.newline_sequence {
            NewlineSequence::Lf => rendered,
            NewlineSequence::CrLf => rendered.replace("\r\n", "\n").replace('\n', "\r\n"),
            NewlineSequence::Cr => rendered.replace("\r\n", "\n").replace('\n', "\r"),
        };
        let base = Path::new(&a.src)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = if a.follow {
            resolve_link(cx, &a.dest).await?
        } else {
            a.dest.clone()
        };
        let (st, mut out) = put(
            cx,
            Put {
                dest: &dest,
                basename: Some(&base),
                data: rendered.as_bytes(),
                attrs: Attrs::new(&a.owner, &a.group, &a.mode),
                force: a.force,
                backup: a.backup,
                validate: a.validate.as_deref(),
            },
        )
        .await?;
        if out.failed {
            return Ok(out);
        }
        out.result
            .insert("dest".into(), Value::from(st.path.as_str()));
        out.result
            .insert("src".into(), Value::from(local.display().to_string()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    fn harness() -> Harness {
        let mut h = Harness::new();
        h.templating.vars.insert("port".into(), "2181".into());
        h.write(
            "role/templates/zoo.cfg.j2",
            "clientPort={{ port }}\ntickTime=2000\n",
        );
        h
    }

    #[tokio::test]
    async fn renders_then_unchanged() {
        let h = harness();
        let args = json!({"src": "zoo.cfg.j2", "dest": h.path("zoo.cfg"), "mode": "0644"});
        let r = h.run(&Template, args.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("zoo.cfg"), "clientPort=2181\ntickTime=2000\n");
        assert_eq!(h.mode("zoo.cfg"), 0o644);
        assert_eq!(r.execs, 1);
        let r = h.run(&Template, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn check_and_diff() {
        let h = harness();
        h.write("zoo.cfg", "clientPort=2000\ntickTime=2000\n");
        let args = json!({"src": "zoo.cfg.j2", "dest": h.path("zoo.cfg")});
        let r = h.run(&Template, args, true, true).await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("zoo.cfg"), "clientPort=2000\ntickTime=2000\n");
        assert_eq!(r.diff().before, "clientPort=2000\ntickTime=2000\n");
        assert_eq!(r.diff().after, "clientPort=2181\ntickTime=2000\n");
    }

    #[tokio::test]
    async fn into_directory_and_crlf() {
        let h = harness();
        std::fs::create_dir(h.path("conf")).unwrap();
        let args = json!({"src": "zoo.cfg.j2", "dest": h.path("conf"), "newline_sequence": "\r\n"});
        let r = h.run(&Template, args, false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(
            h.read("conf/zoo.cfg.j2"),
            "clientPort=2181\r\ntickTime=2000\r\n"
        );
    }

    #[tokio::test]
    async fn validate_failure_keeps_old_file() {
        let h = harness();
        h.write("zoo.cfg", "old\n");
        let args = json!({"src": "zoo.cfg.j2", "dest": h.path("zoo.cfg"), "validate": "false %s"});
        let r = h.run(&Template, args, false, false).await;
        assert!(r.outcome.failed);
        assert_eq!(r.execs, 1);
        assert_eq!(h.read("zoo.cfg"), "old\n");
    }

    #[tokio::test]
    async fn missing_template_and_render_errors_fail() {
        let h = harness();
        let r = h
            .run(
                &Template,
                json!({"src": "nope.j2", "dest": h.path("x")}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed && r.outcome.msg.unwrap().contains("could not find nope.j2"));
        h.write("role/templates/bad.j2", "{{ undefined_var }}");
        let r = h
            .run(
                &Template,
                json!({"src": "bad.j2", "dest": h.path("x")}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert_eq!(r.execs, 0);
    }
}
