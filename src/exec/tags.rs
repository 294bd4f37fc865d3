//! Which tasks run: `--tags` / `--skip-tags` selection, with Ansible's special tags (`always`
//! runs unless skipped by name, `never` runs only when asked for by name,
//! `tagged`/`untagged`/`all`), and `--start-at-task`.
//!
//! Owns: [`TagFilter`], [`StartAt`] and the rule [`selected`]. Must not know: hosts, plays or
//! how a task runs.

use crate::plan::{Action, Meta, Task};
use std::sync::Mutex;

#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    pub only: Vec<String>,
    pub skip: Vec<String>,
}

impl TagFilter {
    pub fn selects(&self, task_tags: &[String]) -> bool {
        let has = |t: &str| task_tags.iter().any(|x| x == t);
        if self.skip.iter().any(|s| {
            has(s)
                || (s == "tagged" && !task_tags.is_empty())
                || (s == "untagged" && task_tags.is_empty())
                || s == "all"
        }) {
            return false;
        }
        if has("always") {
            return true;
        }
        let only_all = self.only.is_empty() || self.only.iter().any(|t| t == "all");
        if only_all {
            return !has("never");
        }
        self.only.iter().any(|t| {
            has(t)
                || (t == "tagged" && !task_tags.is_empty() && !has("never"))
                || (t == "untagged" && task_tags.is_empty())
        })
    }
}

/// `--start-at-task`: every task is skipped until the named one is met, once per run.
#[derive(Debug, Default)]
pub(crate) struct StartAt(Mutex<Option<String>>);

impl StartAt {
    pub(crate) fn new(name: Option<String>) -> Self {
        StartAt(Mutex::new(name))
    }

    /// Whether the start was reached (by this task or an earlier one).
    fn reached(&self, task: &Task) -> bool {
        let mut start = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(name) = start.as_ref() {
            if starts_at(name, task) {
                *start = None;
            } else {
                return false;
            }
        }
        true
    }
}

/// Whether `--start-at-task NAME` names `task`: its own name, or its name as shown (with its
/// role: `role : name`), as written.
pub fn starts_at(name: &str, task: &Task) -> bool {
    task.name.as_deref() == Some(name) || task.display_name() == name
}

/// Whether the task is selected by --tags/--skip-tags and --start-at-task. Handlers and
/// `meta: flush_handlers` always are; includes are, and their tasks are filtered then.
pub(crate) fn selected(tags: &TagFilter, start: &StartAt, task: &Task, handler: bool) -> bool {
    if handler {
        return true;
    }
    if matches!(task.action, Action::Meta(Meta::FlushHandlers)) {
        return true;
    }
    let is_include = matches!(
        task.action,
        Action::IncludeTasks { .. } | Action::IncludeRole { .. }
    );
    if is_include {
        return true;
    }
    tags.selects(&task.kw.tags) && start.reached(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection() {
        let all = TagFilter::default();
        assert!(all.selects(&t(&[])));
        assert!(all.selects(&t(&["x"])));
        assert!(!all.selects(&t(&["never"])));
        let only = TagFilter {
            only: t(&["zookeeper"]),
            skip: vec![],
        };
        assert!(only.selects(&t(&["zookeeper", "install"])));
        assert!(!only.selects(&t(&["spark"])));
        assert!(only.selects(&t(&["always"])));
        assert!(!only.selects(&t(&[])));
        let skip = TagFilter {
            only: vec![],
            skip: t(&["install"]),
        };
        assert!(!skip.selects(&t(&["install", "zookeeper"])));
        assert!(skip.selects(&t(&["config"])));
        let skip_always = TagFilter {
            only: vec![],
            skip: t(&["always"]),
        };
        assert!(!skip_always.selects(&t(&["always"])));
        let never = TagFilter {
            only: t(&["debugonly"]),
            skip: vec![],
        };
        assert!(never.selects(&t(&["never", "debugonly"])));
        let untagged = TagFilter {
            only: t(&["untagged"]),
            skip: vec![],
        };
        assert!(untagged.selects(&t(&[])));
        assert!(!untagged.selects(&t(&["a"])));
    }
}
