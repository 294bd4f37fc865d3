//! `pam_limits`: keeps one `domain type item value` line in a limits.conf file, with
//! Ansible's rules (the first matching line is replaced in place, a new one is appended,
//! use_max/use_min keep the larger/smaller of old and new). Edited on the controller, written
//! atomically only when it changes.

use super::syskit::{join_lines, text_lines};
use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::files::filekit::{Edit, EditSpec, edit_file};
use crate::modules::remote::Attrs;
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct PamLimits;

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
pub enum LimitType {
    #[serde(rename = "hard")]
    Hard,
    #[serde(rename = "soft")]
    Soft,
    #[serde(rename = "-")]
    Both,
}

impl LimitType {
    fn as_str(self) -> &'static str {
        match self {
            LimitType::Hard => "hard",
            LimitType::Soft => "soft",
            LimitType::Both => "-",
        }
    }
}

const ITEMS: &[&str] = &[
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "maxlogins",
    "maxsyslogins",
    "priority",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "chroot",
];

fn default_dest() -> String {
    "/etc/security/limits.conf".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PamLimitsArgs {
    domain: String,
    limit_type: LimitType,
    limit_item: String,
    value: String,
    #[serde(default = "default_dest")]
    dest: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    use_min: bool,
    #[serde(default)]
    use_max: bool,
    #[serde(default)]
    backup: bool,
}

const ARGS: &[ArgDoc] = &[
    req(
        "domain",
        "Who the limit is for: a user, @group, *, or a uid/gid range.",
    ),
    one_of(req("limit_type", "Limit type."), &["hard", "soft", "-"]),
    one_of(req("limit_item", "The resource limited."), ITEMS),
    req(
        "value",
        "The limit: a number, or unlimited/infinity/-1 (priority and nice may be negative).",
    ),
    dflt(
        "dest",
        "/etc/security/limits.conf",
        "The limits file (created when missing).",
    ),
    arg(
        "comment",
        "A comment written after the value (`\\t#comment`).",
    ),
    dflt(
        "use_min",
        "no",
        "Keep the smaller of the old and new values.",
    ),
    dflt(
        "use_max",
        "no",
        "Keep the larger of the old and new values.",
    ),
    dflt(
        "backup",
        "no",
        "Keep the old file as DEST.PID.DATE~ and return it as backup_file.",
    ),
];

impl Module for PamLimits {
    const NAME: &'static str = "pam_limits";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[],
        summary: "Keep PAM limits (limits.conf lines) for a user or group.",
        args: ARGS,
        example: "- pam_limits:\n    domain: mesos\n    limit_type: '-'\n    limit_item: nofile\n    value: '65536'\n",
    };
    type Args = PamLimitsArgs;

    async fn run(&self, a: PamLimitsArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        check(&a)?;
        let spec = EditSpec {
            path: &a.dest,
            attrs: Attrs::default(),
            backup: a.backup,
            validate: None,
            create: true,
        };
        edit_file(cx, spec, |old| {
            let (lines, msg) = edit(&a, old.unwrap_or_default());
            Ok(Edit {
                new: Some(join_lines(&lines)),
                msg,
            })
        })
        .await
    }
}

fn is_unlimited(v: &str) -> bool {
    matches!(v, "unlimited" | "infinity" | "-1")
}

fn number(v: &str) -> Option<i64> {
    v.parse().ok()
}

fn check(a: &PamLimitsArgs) -> Result<(), ModuleError> {
    if !ITEMS.contains(&a.limit_item.as_str()) {
        return Err(ModuleError::Failed(format!(
            "invalid limit_item {:?}: must be one of {}",
            a.limit_item,
            ITEMS.join(", ")
        )));
    }
    if a.use_min && a.use_max {
        return Err(ModuleError::failed(
            "use_min and use_max are mutually exclusive",
        ));
    }
    let signed_ok = matches!(a.limit_item.as_str(), "priority" | "nice");
    let v = a.value.as_str();
    let numeric = number(v).is_some_and(|n| n >= 0 || signed_ok);
    if !(is_unlimited(v) || numeric) {
        return Err(ModuleError::Failed(format!(
            "value must be a number or unlimited/infinity/-1, got {v:?}"
        )));
    }
    Ok(())
}

/// The value to keep given the old one, honouring use_min/use_max.
fn resolve(a: &PamLimitsArgs, old: &str) -> String {
    let v = a.value.as_str();
    match (number(v), number(old)) {
        (Some(n), Some(o)) if a.use_max && !is_unlimited(old) => n.max(o).to_string(),
        (Some(n), Some(o)) if a.use_min && !is_unlimited(v) => n.min(o).to_string(),
        _ if a.use_max && is_unlimited(old) => old.to_string(),
        _ if a.use_min && is_unlimited(v) => old.to_string(),
        _ => v.to_string(),
    }
}

fn edit(a: &PamLimitsArgs, old: &[u8]) -> (Vec<String>, String) {
    let mut lines = text_lines(old);
    let line_for = |value: &str, comment: &str| {
        let comment = if comment.is_empty() {
            String::new()
        } else {
            format!("\t#{comment}")
        };
        format!(
            "{}\t{}\t{}\t{}{}",
            a.domain,
            a.limit_type.as_str(),
            a.limit_item,
            value,
            comment
        )
    };
    for l in lines.iter_mut() {
        if l.starts_with('#') {
            continue;
        }
        let (body, old_comment) = match l.split_once('#') {
            Some((b, c)) => (b, c.trim()),
            None => (l.as_str(), ""),
        };
        let f: Vec<&str> = body.split_whitespace().collect();
        let [domain, ty, item, value] = f[..] else {
            continue;
        };
        if domain != a.domain || ty != a.limit_type.as_str() || item != a.limit_item {
            continue;
        }
        let new_value = resolve(a, value);
        if new_value == value {
            return (lines, "limit unchanged".into());
        }
        let comment = if a.comment.is_empty() {
            old_comment.to_string()
        } else {
            a.comment.clone()
        };
        *l = line_for(&new_value, &comment);
        let msg = l.clone();
        return (lines, msg);
    }
    let new = line_for(&a.value, &a.comment);
    lines.push(new.clone());
    (lines, new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use minijinja::Value;
    use serde_json::json;

    fn args(v: serde_json::Value) -> PamLimitsArgs {
        crate::modules::decode(
            &Value::from(minijinja::value::Serde(v)),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap()
    }

    fn ed(text: &str, v: serde_json::Value) -> String {
        let (lines, _) = edit(&args(v), text.as_bytes());
        String::from_utf8(join_lines(&lines)).unwrap()
    }

    #[test]
    fn replaces_matching_line_keeping_its_comment() {
        let t = "# head\n*  soft  nofile  1024  # old\n*\thard\tnofile\t4096\n";
        assert_eq!(
            ed(
                t,
                json!({"domain": "*", "limit_type": "soft", "limit_item": "nofile", "value": 2048})
            ),
            "# head\n*\tsoft\tnofile\t2048\t#old\n*\thard\tnofile\t4096\n"
        );
    }

    #[test]
    fn appends_new_limit_and_respects_use_max() {
        let t = "app - nproc 100\n";
        assert_eq!(
            ed(
                t,
                json!({"domain": "app", "limit_type": "-", "limit_item": "nproc", "value": "50", "use_max": true})
            ),
            t
        );
        assert_eq!(
            ed(
                t,
                json!({"domain": "app", "limit_type": "-", "limit_item": "nproc", "value": "50", "use_min": true})
            ),
            "app\t-\tnproc\t50\n"
        );
        assert_eq!(
            ed(
                t,
                json!({"domain": "@grp", "limit_type": "hard", "limit_item": "core", "value": "unlimited", "comment": "dumps"})
            ),
            "app - nproc 100\n@grp\thard\tcore\tunlimited\t#dumps\n"
        );
    }

    #[test]
    fn bad_values_refused() {
        let a = args(
            json!({"domain": "x", "limit_type": "soft", "limit_item": "nofile", "value": "lots"}),
        );
        assert!(check(&a).is_err());
        let a =
            args(json!({"domain": "x", "limit_type": "soft", "limit_item": "nice", "value": "-5"}));
        assert!(check(&a).is_ok());
        let a =
            args(json!({"domain": "x", "limit_type": "soft", "limit_item": "bogus", "value": "5"}));
        assert!(check(&a).is_err());
    }

    #[tokio::test]
    async fn creates_and_is_idempotent() {
        let h = Harness::new();
        let p = h.path("limits.d/mesos.conf");
        std::fs::create_dir_all(h.path("limits.d")).unwrap();
        let a = json!({"domain": "mesos", "limit_type": "-", "limit_item": "nofile", "value": 65536, "dest": p});
        let r = h.run(&PamLimits, a.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("limits.d/mesos.conf"), "mesos\t-\tnofile\t65536\n");
        let r = h.run(&PamLimits, a, false, false).await;
        assert!(
            !r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
    }
}
