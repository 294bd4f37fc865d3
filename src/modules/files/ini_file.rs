//! `ini_file`: sets, adds or removes an option (or a whole section) in an INI file. The file is
//! read in the probe, edited on the controller with Ansible's rules (options before the first
//! section belong to no section, a commented-out `#option = x` is taken over, other occurrences
//! go with `exclusive`), and written back atomically only if it changed.

use super::filekit::{Edit, EditSpec, edit_file};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::Attrs;
use crate::modules::system::syskit::{join_lines, text_lines};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct IniFile;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct IniFileArgs {
    #[serde(alias = "dest")]
    path: String,
    section: Option<String>,
    option: Option<String>,
    value: Option<String>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    state: State,
    #[serde(default)]
    backup: bool,
    #[serde(default)]
    no_extra_spaces: bool,
    #[serde(default = "yes")]
    create: bool,
    #[serde(default)]
    allow_no_value: bool,
    #[serde(default = "yes")]
    exclusive: bool,
    #[serde(default = "yes")]
    modify_inactive_option: bool,
    mode: Option<FileMode>,
    owner: Option<String>,
    group: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    aka(req("path", "The INI file."), &["dest"]),
    arg(
        "section",
        "Section name (without brackets); omitted or null means the lines before the first section.",
    ),
    arg(
        "option",
        "Option name; omitted with state=absent removes the whole section, with state=present only makes sure the section exists.",
    ),
    arg("value", "The option's value."),
    arg(
        "values",
        "Several values for one option (one `option = value` line each); mutually exclusive with value.",
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present sets the option; absent removes it (or the section).",
        ),
        &["present", "absent"],
    ),
    dflt(
        "backup",
        "no",
        "Keep the old file as PATH.PID.DATE~ and return it as backup_file.",
    ),
    dflt(
        "no_extra_spaces",
        "no",
        "Write `option=value` instead of `option = value`.",
    ),
    dflt(
        "create",
        "yes",
        "Create the file when missing; with no, a missing file fails the task.",
    ),
    dflt(
        "allow_no_value",
        "no",
        "Allow options without a value (written as a bare `option` line).",
    ),
    dflt(
        "exclusive",
        "yes",
        "Remove other occurrences of the option in the section (state=present), or every occurrence regardless of value (state=absent).",
    ),
    dflt(
        "modify_inactive_option",
        "yes",
        "Replace a commented-out `# option = x` line instead of adding a new one.",
    ),
    arg("mode", "Mode of the file (octal or symbolic)."),
    arg("owner", "Owner of the file."),
    arg("group", "Group of the file."),
];

impl Module for IniFile {
    const NAME: &'static str = "ini_file";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("path", "the file"),
            ("section", "the section"),
            ("option", "the option"),
            ("backup_file", "the backup made (backup: true)"),
        ],
        summary: "Set, add or remove an option or a section in an INI file.",
        args: ARGS,
        example: "- ini_file:\n    path: /etc/mesos/agent.ini\n    section: agent\n    option: work_dir\n    value: /var/lib/mesos\n    mode: '0644'\n",
    };
    type Args = IniFileArgs;

    async fn run(&self, a: IniFileArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        if a.value.is_some() && !a.values.is_empty() {
            return Err(ModuleError::Failed(
                "value and values are mutually exclusive".into(),
            ));
        }
        let spec = EditSpec {
            path: &a.path,
            attrs: Attrs::new(&a.owner, &a.group, &a.mode),
            backup: a.backup,
            validate: None,
            create: a.create,
        };
        let mut out = edit_file(cx, spec, |old| {
            let (lines, msg) = edit(&a, old.unwrap_or_default())?;
            Ok(Edit {
                new: Some(join_lines(&lines)),
                msg,
            })
        })
        .await?;
        if out.msg.as_deref() == Some("") {
            out.msg = Some("OK".into());
        }
        out.result
            .insert("path".into(), Value::from(a.path.as_str()));
        if let Some(s) = &a.section {
            out.result.insert("section".into(), Value::from(s.as_str()));
        }
        if let Some(o) = &a.option {
            out.result.insert("option".into(), Value::from(o.as_str()));
        }
        Ok(out)
    }
}

/// An option line: `[#;]? option (=|end) value`, with `inactive` allowing the comment mark.
/// Returns the value (empty for a bare option).
fn match_opt(option: &str, line: &str, inactive: bool) -> Option<String> {
    let mut rest = line;
    if inactive && let Some(r) = rest.strip_prefix(['#', ';']) {
        rest = r;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix(option)?;
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Some(String::new());
    }
    let v = rest.strip_prefix('=')?;
    Some(v.trim_start_matches([' ', '\t']).to_string())
}

fn is_header(line: &str) -> bool {
    line.trim_start().starts_with('[')
}

fn header_is(line: &str, section: &str) -> bool {
    line.trim_start()
        .strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .is_some_and(|(name, _)| name.trim() == section.trim())
}

/// Blank or comment lines: options are inserted after the last line that is neither.
fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    t.is_empty() || t.starts_with(['#', ';'])
}

/// Ansible's ini_file edit on the file's lines: the new lines and the message.
fn edit(a: &IniFileArgs, old: &[u8]) -> Result<(Vec<String>, String), ModuleError> {
    let lines = text_lines(old);
    let mut values: Vec<String> = match &a.value {
        Some(v) => vec![v.clone()],
        None => a.values.clone(),
    };
    if a.state == State::Present && a.option.is_some() && values.is_empty() && !a.allow_no_value {
        return Err(ModuleError::Failed(
            "value is required with option and state=present (or set allow_no_value)".into(),
        ));
    }
    let fmt = |o: &str, v: &str| {
        if a.no_extra_spaces {
            format!("{o}={v}")
        } else {
            format!("{o} = {v}")
        }
    };
    // The lines before the first section form a nameless section; `start` is the header's
    // index (None for the nameless one) and the section runs to the next header.
    let (start, found) = match &a.section {
        None => (None, true),
        Some(s) => match lines.iter().position(|l| header_is(l, s)) {
            Some(i) => (Some(i), true),
            None => (None, false),
        },
    };
    let body_start = start.map_or(0, |i| i + 1);
    let end = if found {
        lines[body_start..]
            .iter()
            .position(|l| is_header(l))
            .map_or(lines.len(), |i| body_start + i)
    } else {
        lines.len()
    };
    let before: Vec<String> = lines[..body_start].to_vec();
    let mut body: Vec<String> = if found {
        lines[body_start..end].to_vec()
    } else {
        vec![]
    };
    let after: Vec<String> = lines[end..].to_vec();
    let mut msg = String::from("OK");
    let mut touched = vec![false; body.len()];
    let option = a.option.as_deref();

    if !found {
        let mut lines = lines;
        if a.state == State::Absent {
            return Ok((lines, msg));
        }
        // Ansible adds the header at the very end, with no blank line before it.
        lines.push(format!("[{}]", a.section.as_deref().unwrap_or_default()));
        msg = "section and option added".into();
        match option {
            Some(o) if !values.is_empty() => lines.extend(values.iter().map(|v| fmt(o, v))),
            Some(o) if a.allow_no_value => lines.push(o.to_string()),
            _ => msg = "only section added".into(),
        }
        return Ok((lines, msg));
    }

    match (a.state, option) {
        (State::Present, Some(o)) => {
            let inactive = a.modify_inactive_option;
            // Lines that already hold one of the wanted values keep it (normalised).
            let mut no_value_present = false;
            for i in 0..body.len() {
                let Some(v) = match_opt(o, &body[i], inactive) else {
                    continue;
                };
                if let Some(pos) = values.iter().position(|w| *w == v) {
                    let new = fmt(o, &values.remove(pos));
                    set_line(&mut body, &mut touched, i, new, &mut msg);
                } else if values.is_empty() && a.allow_no_value {
                    set_line(&mut body, &mut touched, i, o.to_string(), &mut msg);
                    no_value_present = true;
                    break;
                }
            }
            // Other occurrences take the remaining values, in order.
            for i in 0..body.len() {
                if values.is_empty() {
                    break;
                }
                if !touched[i] && match_opt(o, &body[i], inactive).is_some() {
                    let new = fmt(o, &values.remove(0));
                    set_line(&mut body, &mut touched, i, new, &mut msg);
                }
            }
            if a.exclusive {
                let mut i = 0;
                while i < body.len() {
                    if !touched[i] && match_opt(o, &body[i], false).is_some() {
                        body.remove(i);
                        touched.remove(i);
                        msg = "option changed".into();
                    } else {
                        i += 1;
                    }
                }
            }
            let insert_at = body
                .iter()
                .rposition(|l| !is_blank_or_comment(l))
                .map_or(0, |i| i + 1);
            if !values.is_empty() {
                for (k, v) in values.iter().enumerate() {
                    body.insert(insert_at + k, fmt(o, v));
                }
                msg = "option added".into();
            } else if a.allow_no_value && !no_value_present && !touched.iter().any(|t| *t) {
                body.insert(insert_at, o.to_string());
                msg = "option added".into();
            }
        }
        (State::Present, None) => {}
        (State::Absent, Some(o)) => {
            let n = body.len();
            body.retain(|l| match match_opt(o, l, false) {
                None => true,
                Some(v) => !(a.exclusive || values.contains(&v)),
            });
            if body.len() != n {
                msg = "option changed".into();
            }
        }
        (State::Absent, None) => {
            if a.section.is_some() {
                let mut lines = before;
                lines.pop();
                lines.extend(after);
                return Ok((lines, "section removed".into()));
            }
        }
    }
    let mut lines = before;
    lines.extend(body);
    lines.extend(after);
    Ok((lines, msg))
}

fn set_line(body: &mut [String], touched: &mut [bool], i: usize, new: String, msg: &mut String) {
    if body[i] != new {
        body[i] = new;
        *msg = "option changed".into();
    }
    touched[i] = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    fn args(v: serde_json::Value) -> IniFileArgs {
        let mut v = v;
        v["path"] = json!("/x");
        crate::modules::decode(
            &Value::from(minijinja::value::Serde(v)),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap()
    }

    fn ed(text: &str, v: serde_json::Value) -> String {
        let (lines, _) = edit(&args(v), text.as_bytes()).unwrap();
        String::from_utf8(join_lines(&lines)).unwrap()
    }

    #[test]
    fn replaces_value_in_its_section_only() {
        let t = "[a]\nport = 1\n[b]\nport = 2\n";
        assert_eq!(
            ed(t, json!({"section": "b", "option": "port", "value": "3"})),
            "[a]\nport = 1\n[b]\nport = 3\n"
        );
    }

    #[test]
    fn adds_after_last_setting_before_trailing_blank_and_comments() {
        let t = "[a]\nx = 1\n\n# note\n[b]\n";
        assert_eq!(
            ed(t, json!({"section": "a", "option": "y", "value": "2"})),
            "[a]\nx = 1\ny = 2\n\n# note\n[b]\n"
        );
    }

    #[test]
    fn missing_section_is_appended_with_option() {
        assert_eq!(
            ed(
                "[a]\nx=1",
                json!({"section": "new", "option": "k", "value": "v", "no_extra_spaces": true})
            ),
            "[a]\nx=1\n[new]\nk=v\n"
        );
    }

    #[test]
    fn no_section_means_top_of_file() {
        assert_eq!(
            ed("# top\n[a]\nx = 1\n", json!({"option": "g", "value": "1"})),
            "g = 1\n# top\n[a]\nx = 1\n"
        );
        assert_eq!(
            ed("h = 0\n[a]\n", json!({"option": "g", "value": "1"})),
            "h = 0\ng = 1\n[a]\n"
        );
    }

    #[test]
    fn commented_option_is_taken_over_and_duplicates_removed() {
        let t = "[s]\n#port = 80\nport = 81\nport = 82\n";
        assert_eq!(
            ed(t, json!({"section": "s", "option": "port", "value": "90"})),
            "[s]\nport = 90\n"
        );
        assert_eq!(
            ed(
                t,
                json!({"section": "s", "option": "port", "value": "81", "exclusive": false})
            ),
            "[s]\n#port = 80\nport = 81\nport = 82\n"
        );
    }

    #[test]
    fn absent_removes_option_or_section() {
        let t = "[a]\nx = 1\ny = 2\n[b]\nz = 3\n";
        assert_eq!(
            ed(t, json!({"section": "a", "option": "x", "state": "absent"})),
            "[a]\ny = 2\n[b]\nz = 3\n"
        );
        assert_eq!(
            ed(t, json!({"section": "a", "state": "absent"})),
            "[b]\nz = 3\n"
        );
        assert_eq!(
            ed(t, json!({"section": "zz", "state": "absent"})),
            t.to_string()
        );
    }

    #[test]
    fn bare_option_with_allow_no_value() {
        assert_eq!(
            ed(
                "[mysqld]\n",
                json!({"section": "mysqld", "option": "skip-name-resolve", "allow_no_value": true})
            ),
            "[mysqld]\nskip-name-resolve\n"
        );
        assert_eq!(
            ed(
                "[mysqld]\nskip-name-resolve\n",
                json!({"section": "mysqld", "option": "skip-name-resolve", "allow_no_value": true})
            ),
            "[mysqld]\nskip-name-resolve\n"
        );
    }

    #[tokio::test]
    async fn creates_file_then_is_idempotent_and_check_leaves_it() {
        let h = Harness::new();
        let p = h.path("conf.ini");
        let a = json!({"path": p, "section": "s", "option": "k", "value": "v", "mode": "0640"});
        let r = h.run(&IniFile, a.clone(), true, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert!(!std::path::Path::new(&p).exists());
        let r = h.run(&IniFile, a.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("conf.ini"), "[s]\nk = v\n");
        assert_eq!(h.mode("conf.ini"), 0o640);
        let r = h.run(&IniFile, a, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn missing_file_without_create_fails() {
        let h = Harness::new();
        let r = h
            .run(
                &IniFile,
                json!({"path": h.path("no.ini"), "section": "s", "option": "k", "value": "v", "create": false}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(r.outcome.msg.unwrap().contains("does not exist"));
    }
}
