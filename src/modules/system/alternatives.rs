//! `alternatives` (community.general): a link group of Debian's alternatives system
//! (`update-alternatives`). One query (`--query NAME`) reads the group: its link, mode
//! (auto/manual), current value and the alternatives with their priorities; the controller
//! decides as Ansible does (install a missing path or one whose priority differs, then `--set`
//! for selected, `--auto` for auto, `--remove` for absent); a second script runs the commands.

use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::remote::{host_error, q};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use indexmap::IndexMap;
use serde::Deserialize;

pub struct Alternatives;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Selected,
    Present,
    Auto,
    Absent,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Subcommand {
    name: String,
    path: String,
    link: String,
}

fn fifty() -> i64 {
    50
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AlternativesArgs {
    name: String,
    path: Option<String>,
    link: Option<String>,
    #[serde(default = "fifty")]
    priority: i64,
    #[serde(default)]
    state: State,
    #[serde(default, alias = "slaves")]
    subcommands: Vec<Subcommand>,
}

const ARGS: &[ArgDoc] = &[
    req("name", "The link group (`editor`, `java`)."),
    arg("path", "The alternative (required unless state=auto)."),
    arg(
        "link",
        "The generic link (`/usr/bin/editor`); needed when the group does not exist yet.",
    ),
    dflt(
        "priority",
        "50",
        "Its priority; an installed path with another priority is reinstalled.",
    ),
    one_of(
        dflt(
            "state",
            "selected",
            "selected: install and select path; present: install only; auto: install and let priorities choose; absent: remove path.",
        ),
        &["selected", "present", "auto", "absent"],
    ),
    aka(
        arg(
            "subcommands",
            "Follower links installed with path: a list of {name, path, link}.",
        ),
        &["slaves"],
    ),
];

/// What `update-alternatives --query` says about a group.
#[derive(Debug, Default, PartialEq)]
pub struct Group {
    pub link: String,
    pub status: String,
    pub value: String,
    /// Path → priority.
    pub alternatives: IndexMap<String, i64>,
}

pub fn parse_query(out: &str) -> Group {
    let mut g = Group::default();
    let mut current: Option<String> = None;
    for line in out.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Link" => g.link = v.into(),
            "Status" => g.status = v.into(),
            "Value" => g.value = v.into(),
            "Alternative" => {
                g.alternatives.insert(v.into(), 0);
                current = Some(v.into());
            }
            "Priority" => {
                if let Some(c) = &current {
                    g.alternatives.insert(c.clone(), v.parse().unwrap_or(0));
                }
            }
            _ => {}
        }
    }
    g
}

/// The commands that bring the group to `a` (`ua` is the update-alternatives command).
fn commands(a: &AlternativesArgs, g: &Group, ua: &str) -> Result<Vec<String>, String> {
    let mut cmds = Vec::new();
    let name = q(&a.name);
    let Some(path) = a.path.as_deref() else {
        if a.state == State::Auto {
            if g.status != "auto" {
                cmds.push(format!("{ua} --auto {name}"));
            }
            return Ok(cmds);
        }
        return Err("path is required unless state is auto".into());
    };
    if a.state == State::Absent {
        if g.alternatives.contains_key(path) {
            cmds.push(format!("{ua} --remove {name} {}", q(path)));
        }
        return Ok(cmds);
    }
    if g.alternatives.get(path) != Some(&a.priority) {
        let link = a
            .link
            .as_deref()
            .filter(|l| !l.is_empty())
            .or(Some(g.link.as_str()).filter(|l| !l.is_empty()));
        let Some(link) = link else {
            return Err(
                "Needed to install the alternative, but unable to do so as we are missing the link"
                    .into(),
            );
        };
        let mut c = format!(
            "{ua} --install {} {name} {} {}",
            q(link),
            q(path),
            a.priority
        );
        for s in &a.subcommands {
            c.push_str(&format!(
                " --slave {} {} {}",
                q(&s.link),
                q(&s.name),
                q(&s.path)
            ));
        }
        cmds.push(c);
    }
    match a.state {
        State::Selected if g.value != path || g.status != "manual" => {
            cmds.push(format!("{ua} --set {name} {}", q(path)));
        }
        State::Auto if g.status != "auto" => cmds.push(format!("{ua} --auto {name}")),
        _ => {}
    }
    Ok(cmds)
}

impl Module for Alternatives {
    const NAME: &'static str = "alternatives";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[],
        summary: "Install, select or remove an alternative (update-alternatives).",
        args: ARGS,
        example: "- community.general.alternatives:\n    name: java\n    path: /usr/lib/jvm/java-17-openjdk-amd64/bin/java\n    link: /usr/bin/java\n",
    };
    type Args = AlternativesArgs;

    async fn run(&self, a: AlternativesArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        run_with("update-alternatives", a, cx).await
    }
}

async fn run_with(
    ua: &str,
    a: AlternativesArgs,
    cx: &TaskContext<'_>,
) -> Result<Outcome, ModuleError> {
    let probe = format!(
        "command -v update-alternatives >/dev/null 2>&1 || {{ echo 'update-alternatives is not on this host (Debian/Ubuntu only)' >&2; exit 80; }}\n\
         LC_ALL=C {ua} --query {} 2>/dev/null\nexit 0\n",
        q(&a.name)
    );
    let out = cx.run(&probe, &[]).await?;
    if out.rc != 0 {
        return Ok(Outcome::fail(host_error(
            "cannot query the alternatives",
            &out,
        )));
    }
    let g = parse_query(&out.stdout_str());
    let cmds = commands(&a, &g, ua).map_err(ModuleError::Failed)?;
    let changed = !cmds.is_empty();
    let mut o = Outcome::changed(changed);
    if changed && cx.diff {
        o.diff.push(FileDiff {
            path: format!("alternatives {}", a.name),
            before: format!("value = {}\nstatus = {}\n", g.value, g.status),
            after: cmds.iter().map(|c| format!("{c}\n")).collect(),
        });
    }
    if changed && !cx.check_mode {
        let w = cx
            .run(&format!("{} >&2\n", cmds.join(" >&2 &&\n")), &[])
            .await?;
        if w.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot change alternatives {}", a.name),
                &w,
            )));
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;

    #[tokio::test]
    async fn installs_selects_returns_to_auto_and_removes() {
        if std::process::Command::new("update-alternatives")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        let h = Harness::new();
        for d in ["alt", "admin", "bin"] {
            std::fs::create_dir_all(h.path(d)).unwrap();
        }
        h.write("one", "#!/bin/sh\n");
        h.write("two", "#!/bin/sh\n");
        // A private alternatives database and link directory, so the test leaves the system alone.
        let ua = format!(
            "update-alternatives --altdir {} --admindir {} --log {}",
            h.path("alt"),
            h.path("admin"),
            h.path("log")
        );
        let cx = h.cx(false);
        let args = |path: &str, state: &str| AlternativesArgs {
            name: "rmesos-test".into(),
            path: Some(h.path(path)),
            link: Some(h.path("bin/rmesos-test")),
            priority: if path == "one" { 10 } else { 20 },
            state: match state {
                "present" => State::Present,
                "auto" => State::Auto,
                "absent" => State::Absent,
                _ => State::Selected,
            },
            subcommands: vec![],
        };
        let go =
            async |path: &str, state: &str| run_with(&ua, args(path, state), &cx).await.unwrap();
        let steps = [
            ("two", "present", true),
            ("two", "present", false),
            ("one", "selected", true),
            ("one", "selected", false),
            ("one", "auto", true),
            ("one", "auto", false),
            ("one", "absent", true),
            ("one", "absent", false),
        ];
        for (path, state, changes) in steps {
            let o = go(path, state).await;
            assert!(!o.failed, "{path} {state}: {:?}", o.msg);
            assert_eq!(o.changed, changes, "{path} {state}");
        }
        let link = std::fs::read_link(h.path("alt/rmesos-test")).unwrap();
        assert_eq!(
            link.display().to_string(),
            h.path("two"),
            "auto picks the one left"
        );
    }

    #[test]
    fn query_output_is_parsed() {
        let g = parse_query(
            "Name: editor\nLink: /usr/bin/editor\nStatus: auto\nBest: /bin/nano\nValue: /bin/nano\n\nAlternative: /bin/nano\nPriority: 40\nSlaves:\n nano.1.gz /usr/share/man/man1/nano.1.gz\n\nAlternative: /usr/bin/vim.basic\nPriority: 30\n",
        );
        assert_eq!(g.value, "/bin/nano");
        assert_eq!(g.alternatives["/usr/bin/vim.basic"], 30);
    }
}
