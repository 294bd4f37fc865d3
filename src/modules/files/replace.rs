//! `replace`: substitutes every match of a regexp in a file (optionally only between `after`
//! and `before`). Read in the probe, substituted on the controller with Python `re.sub`
//! semantics, written atomically if it changed.

use super::filekit::{Edit, EditSpec, check_validate, edit_file, py_regex, py_template};
use crate::modules::doc::{aka, arg, dflt, req};
use crate::modules::remote::Attrs;
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Replace;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReplaceArgs {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    regexp: String,
    #[serde(default)]
    replace: String,
    after: Option<String>,
    before: Option<String>,
    #[serde(default)]
    backup: bool,
    validate: Option<String>,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    aka(
        req("path", "The file to edit; it must exist."),
        &["dest", "destfile", "name"],
    ),
    req(
        "regexp",
        "Python regular expression, matched in MULTILINE mode over the whole file.",
    ),
    dflt(
        "replace",
        "''",
        "Replacement; \\1 and \\g<name> refer to groups.",
    ),
    arg(
        "after",
        "Only replace after the first match of this regexp (DOTALL).",
    ),
    arg(
        "before",
        "Only replace before the match of this regexp (DOTALL).",
    ),
    dflt(
        "backup",
        "no",
        "Keep the old file as PATH.PID.YYYY-MM-DD@HH:MM:SS~.",
    ),
    arg(
        "validate",
        "Command run on the new file (`%s`) before it replaces the old one.",
    ),
    arg("mode", "Mode of the file."),
    arg("owner", "Owner of the file."),
    arg("group", "Group of the file."),
];

impl Module for Replace {
    const NAME: &'static str = "replace";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("path", "the file"),
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Replace all matches of a regular expression in a file.",
        args: ARGS,
        example: "- replace:\n    path: /etc/hadoop/core-site.xml\n    regexp: 'hdfs://[^<]+'\n    replace: 'hdfs://{{ namenode }}:8020'\n",
    };
    type Args = ReplaceArgs;

    async fn run(&self, a: ReplaceArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        check_validate(a.validate.as_deref())?;
        let re = py_regex(&a.regexp, true, false)?;
        let section = match (&a.after, &a.before) {
            (Some(af), Some(bf)) => Some(format!("{af}(?P<subsection>.*?){bf}")),
            (Some(af), None) => Some(format!("{af}(?P<subsection>.*)")),
            (None, Some(bf)) => Some(format!("(?P<subsection>.*){bf}")),
            (None, None) => None,
        };
        let section_re = section
            .as_deref()
            .map(|p| py_regex(p, false, true))
            .transpose()?;
        let template = py_template(&a.replace);
        let spec = EditSpec {
            path: &a.path,
            attrs: Attrs::new(&a.owner, &a.group, &a.mode),
            backup: a.backup,
            validate: a.validate.as_deref(),
            create: false,
        };
        let mut out = edit_file(cx, spec, |old| {
            let Some(contents) = old else {
                return Err(ModuleError::Failed(format!(
                    "Path {} does not exist !",
                    a.path
                )));
            };
            let (start, end) = match &section_re {
                Some(sre) => match sre.captures(contents).and_then(|c| c.name("subsection")) {
                    Some(m) => (m.start(), m.end()),
                    None => {
                        return Ok(Edit {
                            new: None,
                            msg: format!(
                                "Pattern for before/after params did not match the given file: {}",
                                section.as_deref().unwrap_or_default()
                            ),
                        });
                    }
                },
                None => (0, contents.len()),
            };
            let part = &contents[start..end];
            let count = re.find_iter(part).count();
            let replaced = re.replace_all(part, template.as_bytes());
            if count == 0 || replaced.as_ref() == part {
                return Ok(Edit {
                    new: None,
                    msg: String::new(),
                });
            }
            let mut new = contents[..start].to_vec();
            new.extend_from_slice(&replaced);
            new.extend_from_slice(&contents[end..]);
            Ok(Edit {
                new: Some(new),
                msg: format!("{count} replacements made"),
            })
        })
        .await?;
        out.result
            .insert("path".into(), Value::from(a.path.as_str()));
        if out.msg.as_deref() == Some("") {
            out.msg = None;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn replaces_all_with_groups_then_unchanged() {
        let h = Harness::new();
        let p = h.write("f", "host=a:1\nhost=b:2\n");
        let args = json!({"path": p, "regexp": "^host=(\\w+):\\d+$", "replace": "host=\\1:9"});
        let r = h.run(&Replace, args.clone(), false, true).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("f"), "host=a:9\nhost=b:9\n");
        assert_eq!(r.outcome.msg.as_deref(), Some("2 replacements made"));
        assert_eq!(r.diff().after, "host=a:9\nhost=b:9\n");
        let r = h.run(&Replace, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn after_before_check_and_missing() {
        let h = Harness::new();
        let p = h.write("f", "x=1\n<a>\nx=1\n</a>\nx=1\n");
        let args =
            json!({"path": p, "regexp": "x=1", "replace": "x=2", "after": "<a>", "before": "</a>"});
        let r = h.run(&Replace, args.clone(), true, false).await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("f"), "x=1\n<a>\nx=1\n</a>\nx=1\n");
        h.run(&Replace, args, false, false).await;
        assert_eq!(h.read("f"), "x=1\n<a>\nx=2\n</a>\nx=1\n");
        let r = h
            .run(
                &Replace,
                json!({"path": h.path("nope"), "regexp": "x"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed && r.outcome.msg.unwrap().contains("does not exist"));
    }

    #[tokio::test]
    async fn failed_validate_keeps_file() {
        let h = Harness::new();
        let p = h.write("f", "a\n");
        let r = h
            .run(
                &Replace,
                json!({"path": p, "regexp": "a", "replace": "b", "validate": "false %s"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert_eq!(h.read("f"), "a\n");
    }
}
