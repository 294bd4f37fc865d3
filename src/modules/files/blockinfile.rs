//! `blockinfile`: keeps a block of lines between two marker lines in a file (or removes it).
//! Read in the probe, edited on the controller with Ansible's rules, written atomically.

use super::filekit::{Edit, EditSpec, check_validate, edit_file, py_regex, split_lines};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::Attrs;
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct BlockInFile;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

fn default_marker() -> String {
    "# {mark} ANSIBLE MANAGED BLOCK".into()
}
fn begin() -> String {
    "BEGIN".into()
}
fn end() -> String {
    "END".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BlockInFileArgs {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    #[serde(default, alias = "content")]
    block: String,
    #[serde(default = "default_marker")]
    marker: String,
    #[serde(default = "begin")]
    marker_begin: String,
    #[serde(default = "end")]
    marker_end: String,
    insertafter: Option<String>,
    insertbefore: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default)]
    create: bool,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default)]
    backup: bool,
    validate: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    aka(
        req("path", "The file to edit."),
        &["dest", "destfile", "name"],
    ),
    aka(
        dflt(
            "block",
            "''",
            "The lines to keep between the markers; empty removes the block.",
        ),
        &["content"],
    ),
    dflt(
        "marker",
        "# {mark} ANSIBLE MANAGED BLOCK",
        "Marker line template; {mark} becomes marker_begin or marker_end.",
    ),
    dflt("marker_begin", "BEGIN", "{mark} in the first marker."),
    dflt("marker_end", "END", "{mark} in the last marker."),
    dflt(
        "insertafter",
        "EOF",
        "EOF or a regexp: a new block goes after the last matching line.",
    ),
    arg(
        "insertbefore",
        "BOF or a regexp: a new block goes before the last matching line.",
    ),
    one_of(
        dflt("state", "present", "Whether the block should be there."),
        &["present", "absent"],
    ),
    dflt("create", "no", "Create the file if it is missing."),
    arg("mode", "Mode of the file."),
    arg("owner", "Owner of the file."),
    arg("group", "Group of the file."),
    dflt(
        "backup",
        "no",
        "Keep the old file as PATH.PID.YYYY-MM-DD@HH:MM:SS~.",
    ),
    arg(
        "validate",
        "Command run on the new file (`%s`) before it replaces the old one.",
    ),
];

impl Module for BlockInFile {
    const NAME: &'static str = "blockinfile";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("path", "the file"),
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Insert, update or remove a block of lines between marker lines.",
        args: ARGS,
        example: "- blockinfile:\n    path: /etc/hosts\n    block: |\n      10.0.0.1 master1\n      10.0.0.2 master2\n",
    };
    type Args = BlockInFileArgs;

    async fn run(&self, a: BlockInFileArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        check_validate(a.validate.as_deref())?;
        if a.insertafter.is_some() && a.insertbefore.is_some() {
            return Err(ModuleError::Failed(
                "insertbefore and insertafter are mutually exclusive".into(),
            ));
        }
        let spec = EditSpec {
            path: &a.path,
            attrs: Attrs::new(&a.owner, &a.group, &a.mode),
            backup: a.backup,
            validate: a.validate.as_deref(),
            create: a.create,
        };
        let mut out = edit_file(cx, spec, |old| edit(&a, old)).await?;
        out.result
            .insert("path".into(), Value::from(a.path.as_str()));
        if out.msg.as_deref() == Some("") {
            out.msg = None;
        }
        Ok(out)
    }
}

/// Ansible's blockinfile algorithm on whole lines (each keeping its `\n`).
fn edit(a: &BlockInFileArgs, old: Option<&[u8]>) -> Result<Edit, ModuleError> {
    let Some(original) = old else {
        if a.state == State::Absent {
            return Ok(Edit {
                new: None,
                msg: "File does not exist".into(),
            });
        }
        if !a.create {
            return Err(ModuleError::Failed(format!(
                "Path {} does not exist !",
                a.path
            )));
        }
        return edit_lines(a, None);
    };
    edit_lines(a, Some(original))
}

fn edit_lines(a: &BlockInFileArgs, original: Option<&[u8]>) -> Result<Edit, ModuleError> {
    let mut lines = split_lines(original.unwrap_or_default());
    let marker0 = format!("{}\n", a.marker.replace("{mark}", &a.marker_begin)).into_bytes();
    let marker1 = format!("{}\n", a.marker.replace("{mark}", &a.marker_end)).into_bytes();
    let blocklines: Vec<Vec<u8>> = if a.state == State::Present && !a.block.is_empty() {
        let mut block = a.block.clone();
        if !block.ends_with('\n') {
            block.push('\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(split_lines(block.as_bytes()));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };

    let mut n0 = None;
    let mut n1 = None;
    for (i, l) in lines.iter().enumerate() {
        if *l == marker0 {
            n0 = Some(i);
        }
        if *l == marker1 {
            n1 = Some(i);
        }
    }
    let at = match (n0, n1) {
        (Some(b), Some(e)) => {
            let (lo, hi) = if b < e { (b, e) } else { (e, b) };
            lines.drain(lo..=hi);
            lo
        }
        _ => {
            let pattern = match (&a.insertafter, &a.insertbefore) {
                (Some(r), _) if r != "EOF" => Some(r),
                (None, Some(r)) if r != "BOF" => Some(r),
                _ => None,
            };
            match pattern {
                Some(p) => {
                    let re = py_regex(p, false, false)?;
                    let last = lines
                        .iter()
                        .rposition(|l| re.is_match(l.strip_suffix(b"\n").unwrap_or(l)));
                    match last {
                        None => lines.len(),
                        Some(i) if a.insertafter.is_some() => i + 1,
                        Some(i) => i,
                    }
                }
                None if a.insertbefore.is_some() => 0,
                None => lines.len(),
            }
        }
    };
    if at > 0 && !lines[at - 1].ends_with(b"\n") {
        lines[at - 1].push(b'\n');
    }
    let removing = blocklines.is_empty();
    lines.splice(at..at, blocklines);
    let result = lines.concat();
    let msg = if original == Some(result.as_slice()) {
        ""
    } else if original.is_none() {
        "File created"
    } else if removing {
        "Block removed"
    } else {
        "Block inserted"
    };
    if original.is_none() && removing {
        return Ok(Edit {
            new: None,
            msg: String::new(),
        });
    }
    Ok(Edit {
        new: Some(result),
        msg: msg.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    const B: &str = "# BEGIN ANSIBLE MANAGED BLOCK\n";
    const E: &str = "# END ANSIBLE MANAGED BLOCK\n";

    #[tokio::test]
    async fn inserts_updates_and_removes() {
        let h = Harness::new();
        let p = h.write("hosts", "127.0.0.1 localhost");
        let args = json!({"path": p, "block": "10.0.0.1 m1\n10.0.0.2 m2"});
        let r = h.run(&BlockInFile, args.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(
            h.read("hosts"),
            format!("127.0.0.1 localhost\n{B}10.0.0.1 m1\n10.0.0.2 m2\n{E}")
        );
        let r = h.run(&BlockInFile, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        let r = h
            .run(
                &BlockInFile,
                json!({"path": p, "content": "10.0.0.3 m3\n"}),
                false,
                true,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(
            h.read("hosts"),
            format!("127.0.0.1 localhost\n{B}10.0.0.3 m3\n{E}")
        );
        assert!(r.diff().before.contains("m2") && !r.diff().after.contains("m2"));
        let r = h
            .run(
                &BlockInFile,
                json!({"path": p, "state": "absent"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("hosts"), "127.0.0.1 localhost\n");
    }

    #[tokio::test]
    async fn insert_positions_and_custom_markers() {
        let h = Harness::new();
        let p = h.write("f", "a\n[x]\nb\n[x]\nc\n");
        let r = h
            .run(&BlockInFile, json!({"path": p, "block": "new", "insertafter": "^\\[x\\]", "marker": "<!-- {mark} -->"}), false, false)
            .await;
        assert!(r.outcome.changed);
        assert_eq!(
            h.read("f"),
            "a\n[x]\nb\n[x]\n<!-- BEGIN -->\nnew\n<!-- END -->\nc\n"
        );
        let p = h.write("g", "a\nb\n");
        h.run(
            &BlockInFile,
            json!({"path": p, "block": "top", "insertbefore": "BOF"}),
            false,
            false,
        )
        .await;
        assert_eq!(h.read("g"), format!("{B}top\n{E}a\nb\n"));
    }

    #[tokio::test]
    async fn create_check_and_missing() {
        let h = Harness::new();
        let r = h
            .run(
                &BlockInFile,
                json!({"path": h.path("n"), "block": "x"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        let r = h
            .run(
                &BlockInFile,
                json!({"path": h.path("n"), "block": "x", "create": true}),
                true,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert!(!std::path::Path::new(&h.path("n")).exists());
        let r = h
            .run(
                &BlockInFile,
                json!({"path": h.path("n"), "block": "x", "create": true}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("n"), format!("{B}x\n{E}"));
    }
}
