//! `group`: creates, renumbers and removes local groups with groupadd/groupmod/groupdel, after
//! one `getent group` query.

use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::remote::{host_error, q};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Group;

pub use crate::modules::args::Presence;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct GroupArgs {
    name: String,
    gid: Option<u32>,
    #[serde(default)]
    state: Presence,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    non_unique: bool,
}

const ARGS: &[ArgDoc] = &[
    req("name", "The group."),
    arg(
        "gid",
        "The group's id; an existing group with another gid is renumbered (groupmod -g).",
    ),
    one_of(
        dflt("state", "present", "Whether the group exists."),
        &["present", "absent"],
    ),
    dflt(
        "system",
        "no",
        "Create a system group (groupadd -r); no effect on an existing group.",
    ),
    dflt(
        "non_unique",
        "no",
        "Allow a gid that another group has (-o).",
    ),
];

impl Module for Group {
    const NAME: &'static str = "group";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("name", "the group"),
            ("gid", "its id"),
            ("state", "present or absent"),
            ("system", "whether a system group"),
        ],
        summary: "Manage local groups.",
        args: ARGS,
        example: "- group:\n    name: mesos\n    gid: 1500\n    system: yes\n",
    };
    type Args = GroupArgs;

    async fn run(&self, a: GroupArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let out = cx
            .run(&format!("getent group {}; true", q(&a.name)), &[])
            .await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error("cannot query groups", &out)));
        }
        let current = out.stdout_str().lines().next().and_then(parse_group_line);
        let cmd = command(&a, current.as_ref().map(|c| c.0));
        let mut outcome = Outcome::changed(cmd.is_some())
            .with("name", a.name.as_str())
            .with("system", a.system)
            .with("state", a.state.as_str());
        let describe = |gid: Option<u32>| gid.map(|g| format!("gid: {g}\n")).unwrap_or_default();
        if cx.diff && cmd.is_some() {
            let after = match (a.state, a.gid.or(current.as_ref().map(|c| c.0))) {
                (Presence::Absent, _) => String::new(),
                (Presence::Present, Some(g)) => describe(Some(g)),
                (Presence::Present, None) => "gid: (assigned by groupadd)\n".into(),
            };
            outcome.diff.push(FileDiff {
                path: format!("group {}", a.name),
                before: describe(current.as_ref().map(|c| c.0)),
                after,
            });
        }
        let Some(cmd) = cmd.filter(|_| !cx.check_mode) else {
            if let Some((gid, _)) = current.filter(|_| a.state == Presence::Present) {
                outcome = outcome.with("gid", a.gid.unwrap_or(gid));
            }
            return Ok(outcome);
        };
        let out = cx
            .run(
                &format!("{cmd} || exit 1\ngetent group {} || true", q(&a.name)),
                &[],
            )
            .await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(&format!("`{cmd}` failed"), &out)));
        }
        if let Some((gid, _)) = out.stdout_str().lines().next().and_then(parse_group_line) {
            outcome = outcome.with("gid", gid);
        }
        Ok(outcome)
    }
}

/// A `getent group` line: (gid, members).
pub fn parse_group_line(line: &str) -> Option<(u32, Vec<String>)> {
    let mut f = line.trim_end().splitn(4, ':');
    let (_name, _pw, gid, members) = (f.next()?, f.next()?, f.next()?, f.next().unwrap_or(""));
    let members = members
        .split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    Some((gid.parse().ok()?, members))
}

/// The groupadd/groupmod/groupdel command that makes the host match, if any.
fn command(a: &GroupArgs, current: Option<u32>) -> Option<String> {
    let name = q(&a.name);
    let o = if a.non_unique { " -o" } else { "" };
    match (a.state, current) {
        (Presence::Present, None) => {
            let gid = a.gid.map(|g| format!(" -g {g}")).unwrap_or_default();
            let r = if a.system { " -r" } else { "" };
            Some(format!("groupadd{gid}{o}{r} {name}"))
        }
        (Presence::Present, Some(cur)) => match a.gid {
            Some(g) if g != cur => Some(format!("groupmod -g {g}{o} {name}")),
            _ => None,
        },
        (Presence::Absent, Some(_)) => Some(format!("groupdel {name}")),
        (Presence::Absent, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(j: serde_json::Value) -> GroupArgs {
        crate::modules::decode(
            &minijinja::Value::from(minijinja::value::Serde(j)),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn getent_lines_parse_with_and_without_members() {
        assert_eq!(parse_group_line("mesos:x:1500:\n"), Some((1500, vec![])));
        assert_eq!(
            parse_group_line("sudo:x:27:alice,bob"),
            Some((27, vec!["alice".into(), "bob".into()]))
        );
        assert_eq!(parse_group_line("garbage"), None);
    }

    #[test]
    fn only_a_missing_group_or_another_gid_is_a_change() {
        let a = args(serde_json::json!({"name": "mesos", "gid": "1500", "system": "yes"}));
        assert_eq!(
            command(&a, None).as_deref(),
            Some("groupadd -g 1500 -r mesos")
        );
        assert_eq!(command(&a, Some(1500)), None);
        assert_eq!(
            command(&a, Some(1000)).as_deref(),
            Some("groupmod -g 1500 mesos")
        );
        let any_gid = args(serde_json::json!({"name": "mesos"}));
        assert_eq!(command(&any_gid, Some(1000)), None);
        let absent = args(serde_json::json!({"name": "my group", "state": "absent"}));
        assert_eq!(
            command(&absent, Some(1)).as_deref(),
            Some("groupdel 'my group'")
        );
        assert_eq!(command(&absent, None), None);
    }
}
