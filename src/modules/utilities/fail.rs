//! `fail` and `assert`: stop a host with a message, or when conditions do not hold.

use crate::modules::doc::{aka, arg, dflt, req};
use crate::modules::{FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailArgs {
    msg: Option<Value>,
}

pub struct Fail;

impl Module for Fail {
    const NAME: &'static str = "fail";
    const NEEDS_HOST: bool = false;
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("assertion", "the failed assertion (assert)"),
            ("evaluated_to", "what it gave (assert)"),
        ],
        summary: "Fail the host with a message (usually with `when:`)",
        args: &[dflt(
            "msg",
            "Failed as requested from task",
            "the failure message",
        )],
        example: "- fail: msg=\"zookeeper_id must be set\"\n  when: zookeeper_id is undefined",
    };
    type Args = FailArgs;
    async fn run(&self, args: FailArgs, _cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let msg = match args.msg {
            Some(v) if v.as_str().is_some() => v.as_str().unwrap_or_default().to_string(),
            Some(v) => v.to_string(),
            None => "Failed as requested from task".into(),
        };
        Ok(Outcome::fail(msg))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertArgs {
    that: Vec<Value>,
    #[serde(alias = "msg")]
    fail_msg: Option<Value>,
    success_msg: Option<Value>,
    #[serde(default)]
    quiet: bool,
}

pub struct Assert;

impl Module for Assert {
    const NAME: &'static str = "assert";
    const FREE_FORM: FreeForm = FreeForm::No;
    const NEEDS_HOST: bool = false;
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("assertion", "the failed assertion (assert)"),
            ("evaluated_to", "what it gave (assert)"),
        ],
        summary: "Check that expressions hold; fail the host otherwise",
        args: &[
            req("that", "a condition or a list of them (as `when:`)"),
            aka(arg("fail_msg", "message when a condition fails"), &["msg"]),
            arg("success_msg", "message when all hold"),
            dflt("quiet", "no", "less output"),
        ],
        example: "- assert:\n    that:\n      - mesos_quorum | int >= 1\n      - groups['zookeeper'] | length is odd",
    };
    type Args = AssertArgs;
    async fn run(&self, args: AssertArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        for cond in &args.that {
            // `that` entries reach us already templated: a bool when written as one.
            let ok = match cond.as_str() {
                Some(expr) => match cx.templating.eval_bool(expr) {
                    Ok(b) => b,
                    Err(e) => return Ok(Outcome::fail(e.msg)),
                },
                None => cond.is_true(),
            };
            if !ok {
                let msg = match &args.fail_msg {
                    Some(m) => m
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string()),
                    None => "Assertion failed".into(),
                };
                return Ok(Outcome::fail(msg)
                    .with("assertion", cond.clone())
                    .with("evaluated_to", false));
            }
        }
        let msg = match &args.success_msg {
            Some(m) => m
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string()),
            None => "All assertions passed".into(),
        };
        let _ = args.quiet;
        Ok(Outcome::ok().msg(msg))
    }
}
