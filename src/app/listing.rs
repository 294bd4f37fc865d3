//! `rmesos play --list-hosts`, `--list-tasks`, `--list-tags`: read from the plan and the
//! inventory, no host touched.

use super::error::AppError;
use super::session::Session;
use crate::plan::{Action, Playbook, TaskNode};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Which lists to show.
#[derive(Clone, Copy)]
pub struct Listing {
    pub hosts: bool,
    pub tasks: bool,
    pub tags: bool,
}

impl Listing {
    pub fn any(self) -> bool {
        self.hosts || self.tasks || self.tags
    }
}

/// Shows the lists for every playbook of the session, in order (with `--output json`, each
/// playbook's text as a `listing` event).
pub fn list(session: &Session, what: Listing) -> Result<(), AppError> {
    for pb in session.books() {
        let text = list_playbook(session, pb, what)?;
        if session.json() {
            super::session::json_listing(&pb.path.display().to_string(), &text);
        } else {
            print!("{}", text);
        }
    }
    Ok(())
}

/// Every task of `nodes` in order: blocks' sections, and the tasks of includes loaded ahead.
pub(super) fn walk<'a>(nodes: &'a [TaskNode], out: &mut Vec<&'a crate::plan::Task>) {
    for n in nodes {
        match n {
            TaskNode::Task(t) => {
                out.push(t);
                if let Action::IncludeTasks {
                    preloaded: Some(Ok(p)),
                    ..
                }
                | Action::IncludeRole {
                    preloaded: Some(Ok(p)),
                    ..
                } = &t.action
                {
                    walk(p, out);
                }
            }
            TaskNode::Block(b) => {
                walk(&b.block, out);
                walk(&b.rescue, out);
                walk(&b.always, out);
            }
        }
    }
}

fn list_playbook(session: &Session, pb: &Playbook, what: Listing) -> Result<String, AppError> {
    let (inv, opts) = (session.inventory(), session.opts());
    let mut out = String::new();
    let _ = writeln!(out, "\nplaybook: {}", pb.path.display());
    for (i, play) in pb.plays.iter().enumerate() {
        let _ = writeln!(
            out,
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            i + 1,
            play.hosts,
            play.name,
            play.kw.tags.join(", ")
        );
        if what.hosts {
            let mut matched = inv.select(&play.hosts).map_err(AppError::Pattern)?;
            if let Some(limit) = &opts.limit {
                let allowed = inv.select(limit).map_err(AppError::Pattern)?;
                matched.retain(|h| allowed.contains(h));
            }
            let _ = writeln!(out, "    pattern: {:?}", play.hosts);
            let _ = writeln!(out, "    hosts ({}):", matched.len());
            for h in matched {
                let _ = writeln!(out, "      {}", h);
            }
        }
        let mut all = vec![];
        for section in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
            walk(section, &mut all);
        }
        if what.tasks {
            let _ = writeln!(out, "    tasks:");
            for t in &all {
                if matches!(t.action, Action::Meta(_)) || !opts.tags.selects(&t.kw.tags) {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "      {}\tTAGS: [{}]",
                    t.display_name(),
                    t.kw.tags.join(", ")
                );
            }
        }
        if what.tags {
            let set: BTreeSet<&String> = all.iter().flat_map(|t| t.kw.tags.iter()).collect();
            let _ = writeln!(
                out,
                "      TASK TAGS: [{}]",
                set.into_iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(out)
}
