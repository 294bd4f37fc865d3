//! `--tags` / `--skip-tags` selection, with Ansible's special tags: `always` runs unless
//! skipped by name, `never` runs only when asked for by name, `tagged`/`untagged`/`all`.

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
