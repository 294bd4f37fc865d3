//! `lineinfile`: makes sure one line is in a file (replacing the line a regexp or string
//! finds) or that matching lines are gone. The file is read in the probe, edited on the
//! controller with Ansible's exact rules, and written back atomically only if it changed (in
//! the same exec when the change could be guessed: see `filekit::edit_file`).

use super::filekit::{
    Edit, EditSpec, check_validate, edit_file, py_regex, py_template, split_lines,
};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::Attrs;
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use regex::bytes::Regex;
use serde::Deserialize;

pub struct LineInFile;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct LineInFileArgs {
    #[serde(alias = "dest", alias = "destfile", alias = "name")]
    path: String,
    #[serde(alias = "value")]
    line: Option<String>,
    #[serde(alias = "regex")]
    regexp: Option<String>,
    search_string: Option<String>,
    #[serde(default)]
    state: State,
    #[serde(default)]
    create: bool,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
    #[serde(default)]
    backrefs: bool,
    insertbefore: Option<String>,
    insertafter: Option<String>,
    #[serde(default)]
    backup: bool,
    validate: Option<String>,
    #[serde(default)]
    firstmatch: bool,
}

const ARGS: &[ArgDoc] = &[
    aka(
        req("path", "The file to edit."),
        &["dest", "destfile", "name"],
    ),
    aka(
        arg(
            "line",
            "The line to insert or replace with (required for state=present).",
        ),
        &["value"],
    ),
    aka(
        arg(
            "regexp",
            "Python regular expression looked for in every line; the last match (the first with firstmatch) is replaced, or removed with state=absent.",
        ),
        &["regex"],
    ),
    arg(
        "search_string",
        "A literal string looked for instead of regexp.",
    ),
    one_of(
        dflt("state", "present", "Whether the line should be there."),
        &["present", "absent"],
    ),
    dflt(
        "create",
        "no",
        "Create the file (and its directories) if it is missing.",
    ),
    arg("mode", "Mode of the file."),
    arg("owner", "Owner of the file."),
    arg("group", "Group of the file."),
    dflt(
        "backrefs",
        "no",
        "Expand \\1 and \\g<name> in line from the regexp's match; when nothing matches, the file is left alone.",
    ),
    arg(
        "insertbefore",
        "BOF or a regexp: insert before the last (or first, with firstmatch) matching line when regexp finds nothing.",
    ),
    dflt(
        "insertafter",
        "EOF",
        "EOF or a regexp: insert after the last (or first, with firstmatch) matching line when regexp finds nothing.",
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
    dflt(
        "firstmatch",
        "no",
        "Use the first matching line for regexp/insertafter/insertbefore instead of the last.",
    ),
];

impl Module for LineInFile {
    const NAME: &'static str = "lineinfile";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("path", "the file"),
            ("found", "lines that matched (state: absent)"),
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Ensure a line is in a file, or replace or remove lines matching a regexp.",
        args: ARGS,
        example: "- lineinfile:\n    dest: /etc/default/mesos\n    regexp: '^ULIMIT='\n    line: 'ULIMIT=\"-n 65536\"'\n    create: yes\n",
    };
    type Args = LineInFileArgs;

    async fn run(&self, a: LineInFileArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        check_args(&a)?;
        let regexp = a
            .regexp
            .as_deref()
            .map(|r| py_regex(r, false, false))
            .transpose()?;
        let mut found = None;
        let spec = EditSpec {
            path: &a.path,
            attrs: Attrs::new(&a.owner, &a.group, &a.mode),
            backup: a.backup,
            validate: a.validate.as_deref(),
            create: a.create,
        };
        let mut out = edit_file(cx, spec, |old| match a.state {
            State::Present => present(&a, regexp.as_ref(), old),
            State::Absent => {
                let Some(old) = old else {
                    return Ok(Edit {
                        new: None,
                        msg: "file not present".into(),
                    });
                };
                let (edit, n) = absent(&a, regexp.as_ref(), old);
                found = Some(n);
                Ok(edit)
            }
        })
        .await?;
        if let Some(n) = found {
            out.result.insert("found".into(), Value::from(n));
        }
        out.result
            .insert("path".into(), Value::from(a.path.as_str()));
        if out.msg.as_deref() == Some("") {
            out.msg = None;
        }
        Ok(out)
    }
}

fn check_args(a: &LineInFileArgs) -> Result<(), ModuleError> {
    check_validate(a.validate.as_deref())?;
    if a.regexp.is_some() && a.search_string.is_some() {
        return Err(ModuleError::failed(
            "regexp and search_string are mutually exclusive",
        ));
    }
    if a.insertbefore.is_some() && a.insertafter.is_some() {
        return Err(ModuleError::failed(
            "insertbefore and insertafter are mutually exclusive",
        ));
    }
    if a.backrefs && a.regexp.is_none() {
        return Err(ModuleError::failed("regexp is required with backrefs=true"));
    }
    match a.state {
        State::Present if a.line.is_none() => {
            Err(ModuleError::failed("line is required with state=present"))
        }
        State::Absent if a.line.is_none() && a.regexp.is_none() && a.search_string.is_none() => {
            Err(ModuleError::failed(
                "one of line, regexp or search_string is required with state=absent",
            ))
        }
        _ => Ok(()),
    }
}

/// Strips the line ending for matching, so `$` behaves as Python's does before a final `\n`.
fn body(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some(r) = l.strip_suffix(b"\n").or_else(|| l.strip_suffix(b"\r")) {
        l = r;
    }
    l
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Ansible's `present()`: the same decisions, in the same order.
fn present(
    a: &LineInFileArgs,
    regexp: Option<&Regex>,
    old: Option<&[u8]>,
) -> Result<Edit, ModuleError> {
    if old.is_none() && !a.create {
        return Err(ModuleError::Failed(format!(
            "Destination {} does not exist !",
            a.path
        )));
    }
    let mut lines = split_lines(old.unwrap_or_default());
    let line = a.line.as_deref().unwrap_or_default().as_bytes();
    let ins_after = a.insertafter.as_deref();
    let ins_before = a.insertbefore.as_deref();
    let ins_re = match (ins_after, ins_before) {
        (Some(r), _) if r != "BOF" && r != "EOF" => Some(py_regex(r, false, false)?),
        (None, Some(r)) if r != "BOF" => Some(py_regex(r, false, false)?),
        _ => None,
    };
    let mut index: [i64; 2] = [-1, -1];
    let mut captured: Option<Vec<u8>> = None;
    let mut matched = false;

    if let Some(re) = regexp {
        for (n, l) in lines.iter().enumerate() {
            if let Some(c) = re.captures(body(l)) {
                index[0] = n as i64;
                matched = true;
                captured = Some({
                    let mut dst = Vec::new();
                    c.expand(
                        py_template(a.line.as_deref().unwrap_or_default()).as_bytes(),
                        &mut dst,
                    );
                    dst
                });
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &a.search_string {
        for (n, l) in lines.iter().enumerate() {
            if contains(l, s.as_bytes()) {
                index[0] = n as i64;
                matched = true;
                if a.firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (n, l) in lines.iter().enumerate() {
            if line == trim_eol(l) {
                index[0] = n as i64;
            } else if let Some(re) = &ins_re
                && re.is_match(body(l))
            {
                index[1] = if ins_after.is_some() {
                    n as i64 + 1
                } else {
                    n as i64
                };
                if a.firstmatch {
                    break;
                }
            }
        }
    }

    let with_nl = |l: &[u8]| {
        let mut v = l.to_vec();
        v.push(b'\n');
        v
    };
    let mut msg = "";
    if index[0] != -1 {
        let mut new_line = match (a.backrefs, &captured) {
            (true, Some(c)) => c.clone(),
            _ => line.to_vec(),
        };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        let i = index[0] as usize;
        if lines[i] != new_line {
            lines[i] = new_line;
            msg = "line replaced";
        }
    } else if a.backrefs {
        // Without a match there is nothing to fill the backreferences from: leave the file.
    } else if ins_before == Some("BOF") || ins_after == Some("BOF") {
        lines.insert(0, with_nl(line));
        msg = "line added";
    } else if ins_after == Some("EOF") || index[1] == -1 {
        if let Some(last) = lines.last_mut()
            && !last.ends_with(b"\n")
            && !last.ends_with(b"\r")
        {
            last.push(b'\n');
        }
        lines.push(with_nl(line));
        msg = "line added";
    } else if ins_after.is_some() {
        let i = index[1] as usize;
        if i == lines.len() {
            if trim_eol(&lines[i - 1]) != line {
                if let Some(last) = lines.last_mut()
                    && !last.ends_with(b"\n")
                {
                    last.push(b'\n');
                }
                lines.push(with_nl(line));
                msg = "line added";
            }
        } else if trim_eol(&lines[i]) != line {
            lines.insert(i, with_nl(line));
            msg = "line added";
        }
    } else {
        lines.insert(index[1] as usize, with_nl(line));
        msg = "line added";
    }
    Ok(Edit {
        new: if msg.is_empty() {
            old.map(<[u8]>::to_vec)
        } else {
            Some(lines.concat())
        },
        msg: msg.to_string(),
    })
}

/// Ansible's `absent()`: drops every matching line; returns the edit and how many went.
fn absent(a: &LineInFileArgs, regexp: Option<&Regex>, old: &[u8]) -> (Edit, usize) {
    let line = a.line.as_deref().unwrap_or_default().as_bytes();
    let mut found = 0;
    let kept: Vec<Vec<u8>> = split_lines(old)
        .into_iter()
        .filter(|l| {
            let hit = if let Some(re) = regexp {
                re.is_match(body(l))
            } else if let Some(s) = &a.search_string {
                contains(l, s.as_bytes())
            } else {
                trim_eol(l) == line
            };
            found += hit as usize;
            !hit
        })
        .collect();
    let msg = if found > 0 {
        format!("{found} line(s) removed")
    } else {
        String::new()
    };
    (
        Edit {
            new: Some(kept.concat()),
            msg,
        },
        found,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    async fn edit(h: &Harness, content: &str, args: serde_json::Value) -> (bool, String) {
        let p = h.write("f", content);
        let mut args = args;
        args["path"] = json!(p);
        let r = h.run(&LineInFile, args, false, false).await;
        assert!(!r.outcome.failed, "{:?}", r.outcome.msg);
        (r.outcome.changed, h.read("f"))
    }

    #[tokio::test]
    async fn regexp_replaces_last_match_and_is_idempotent() {
        let h = Harness::new();
        let args = json!({"regexp": "^port=", "line": "port=8080"});
        let (c, t) = edit(&h, "a=1\nport=1\nport=2\n", args.clone()).await;
        assert!(c);
        assert_eq!(t, "a=1\nport=1\nport=8080\n");
        let r = h
            .run(
                &LineInFile,
                json!({"path": h.path("f"), "regexp": "^port=", "line": "port=8080"}),
                false,
                false,
            )
            .await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        let (_, t) = edit(
            &h,
            "port=1\nport=2\n",
            json!({"regexp": "^port=", "line": "port=9", "firstmatch": true}),
        )
        .await;
        assert_eq!(t, "port=9\nport=2\n");
    }

    #[tokio::test]
    async fn appends_at_eof_adding_missing_newline() {
        let h = Harness::new();
        let (c, t) = edit(&h, "a=1", json!({"line": "b=2"})).await;
        assert!(c);
        assert_eq!(t, "a=1\nb=2\n");
        let (c, _) = edit(&h, "a=1\nb=2\n", json!({"line": "b=2"})).await;
        assert!(!c);
    }

    #[tokio::test]
    async fn insertafter_and_insertbefore() {
        let h = Harness::new();
        let (_, t) = edit(
            &h,
            "[main]\nx=1\n[other]\n",
            json!({"line": "y=2", "insertafter": "^\\[main\\]"}),
        )
        .await;
        assert_eq!(t, "[main]\ny=2\nx=1\n[other]\n");
        let (_, t) = edit(
            &h,
            "a\nb\nb\n",
            json!({"line": "new", "insertbefore": "^b"}),
        )
        .await;
        assert_eq!(t, "a\nb\nnew\nb\n");
        let (_, t) = edit(
            &h,
            "a\nb\nb\n",
            json!({"line": "new", "insertbefore": "^b", "firstmatch": true}),
        )
        .await;
        assert_eq!(t, "a\nnew\nb\nb\n");
        let (_, t) = edit(&h, "a\n", json!({"line": "top", "insertbefore": "BOF"})).await;
        assert_eq!(t, "top\na\n");
        let (_, t) = edit(&h, "a\n", json!({"line": "z", "insertafter": "^nomatch"})).await;
        assert_eq!(t, "a\nz\n");
        let (c, t) = edit(
            &h,
            "[main]\ny=2\n",
            json!({"line": "y=2", "insertafter": "^\\[main\\]"}),
        )
        .await;
        assert!(!c);
        assert_eq!(t, "[main]\ny=2\n");
    }

    #[tokio::test]
    async fn backrefs() {
        let h = Harness::new();
        let args =
            json!({"regexp": "^(\\s*)Xmx=(\\d+)m$", "line": "\\1Xmx=\\g<2>0m", "backrefs": true});
        let (c, t) = edit(&h, "  Xmx=512m\n", args.clone()).await;
        assert!(c);
        assert_eq!(t, "  Xmx=5120m\n");
        let (c, t) = edit(&h, "nothing here\n", args).await;
        assert!(!c, "backrefs with no match leaves the file alone");
        assert_eq!(t, "nothing here\n");
    }

    #[tokio::test]
    async fn absent_by_regexp_line_and_string() {
        let h = Harness::new();
        let p = h.write("f", "keep\n#drop 1\n#drop 2\n");
        let r = h
            .run(
                &LineInFile,
                json!({"path": p, "regexp": "^#drop", "state": "absent"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(r.get("found"), Value::from(2));
        assert_eq!(h.read("f"), "keep\n");
        let (c, t) = edit(&h, "a\nb\n", json!({"line": "a", "state": "absent"})).await;
        assert!(c);
        assert_eq!(t, "b\n");
        let (c, _) = edit(
            &h,
            "a\nb\n",
            json!({"search_string": "zz", "state": "absent"}),
        )
        .await;
        assert!(!c);
    }

    #[tokio::test]
    async fn create_missing_file_and_parents() {
        let h = Harness::new();
        let p = h.path("new/dir/f");
        let args = json!({"path": p, "line": "x=1", "create": true, "mode": "0600"});
        let r = h.run(&LineInFile, args.clone(), false, true).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.execs, 1, "the new content travels with the probe");
        assert_eq!(r.outcome.msg.as_deref(), Some("line added"));
        assert_eq!(
            (r.diff().before.as_str(), r.diff().after.as_str()),
            ("", "x=1\n")
        );
        assert_eq!(h.read("new/dir/f"), "x=1\n");
        assert_eq!(h.mode("new/dir/f"), 0o600);
        let r = h.run(&LineInFile, args, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        let existing = h.write("existing", "x=1\n");
        let more = json!({"path": existing, "line": "y=2", "create": true});
        let r = h.run(&LineInFile, more, false, false).await;
        assert!(r.outcome.changed);
        assert_eq!(
            r.execs, 2,
            "a file unknown to the run is read, then written"
        );
        assert_eq!(h.read("existing"), "x=1\ny=2\n");
        let r = h
            .run(
                &LineInFile,
                json!({"path": h.path("planned"), "line": "x", "create": true}),
                true,
                false,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(r.execs, 1);
        assert!(!std::path::Path::new(&h.path("planned")).exists());
        let r = h
            .run(
                &LineInFile,
                json!({"path": h.path("missing"), "line": "x"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed && r.outcome.msg.unwrap().contains("does not exist"));
    }

    #[tokio::test]
    async fn a_file_this_run_wrote_is_edited_in_one_exec_and_checked_first() {
        let h = Harness::new();
        let p = h.path("settings.ini");
        let first = json!({"path": p, "line": "managed=true", "create": true, "mode": "0644"});
        let port = json!({"path": p, "regexp": "^port=", "line": "port=8000"});
        assert_eq!(h.run(&LineInFile, first, false, false).await.execs, 1);
        let r = h.run(&LineInFile, port.clone(), false, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(
            r.execs, 1,
            "the memo's content was edited and sent with the probe"
        );
        assert_eq!(r.diff().before, "managed=true\n");
        assert_eq!(r.diff().after, "managed=true\nport=8000\n");
        assert_eq!(h.read("settings.ini"), "managed=true\nport=8000\n");
        let r = h.run(&LineInFile, port.clone(), false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
        // Changed behind the run's back: the checksum no longer matches, so the file is read.
        h.write("settings.ini", "port=1\nother=2\n");
        h.set_mode("settings.ini", 0o640);
        let r = h.run(&LineInFile, port.clone(), false, true).await;
        assert_eq!(
            h.mode("settings.ini"),
            0o640,
            "the edited file's mode is kept"
        );
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.execs, 2);
        assert_eq!(r.diff().before, "port=1\nother=2\n");
        assert_eq!(h.read("settings.ini"), "port=8000\nother=2\n");
        h.write("settings.ini", "x\n");
        let r = h.run(&LineInFile, port, true, false).await;
        assert!(
            r.outcome.changed,
            "check mode reads the file: {:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("settings.ini"), "x\n");
    }

    #[tokio::test]
    async fn check_mode_diff_and_validate() {
        let h = Harness::new();
        let p = h.write("f", "a=1\n");
        let r = h
            .run(
                &LineInFile,
                json!({"path": p, "regexp": "^a=", "line": "a=2"}),
                true,
                true,
            )
            .await;
        assert!(r.outcome.changed);
        assert_eq!(h.read("f"), "a=1\n");
        assert_eq!(r.diff().before, "a=1\n");
        assert_eq!(r.diff().after, "a=2\n");
        let r = h
            .run(
                &LineInFile,
                json!({"path": p, "line": "b", "validate": "grep -q nope %s"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert_eq!(h.read("f"), "a=1\n");
    }
}
