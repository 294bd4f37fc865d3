//! `modprobe`: loads or unloads a kernel module. One script checks /sys/module and, when the
//! state differs, runs `modprobe` (or `modprobe -r`). Containers cannot load modules: modprobe's
//! own error is reported, with that reason.

use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::remote::{host_error, q};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Modprobe;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ModprobeArgs {
    name: String,
    #[serde(default)]
    state: State,
    #[serde(default)]
    params: String,
}

const ARGS: &[ArgDoc] = &[
    req("name", "The kernel module."),
    one_of(
        dflt("state", "present", "present loads it, absent unloads it."),
        &["present", "absent"],
    ),
    arg(
        "params",
        "Module parameters (`numdummies=2`), passed to modprobe.",
    ),
];

impl Module for Modprobe {
    const NAME: &'static str = "modprobe";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("name", "the module"), ("params", "its parameters")],
        summary: "Load or unload a kernel module.",
        args: ARGS,
        example: "- community.general.modprobe:\n    name: br_netfilter\n    state: present\n",
    };
    type Args = ModprobeArgs;

    async fn run(&self, a: ModprobeArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        if a.name.is_empty() || a.name.contains('/') {
            return Err(ModuleError::Failed(format!(
                "invalid module name {:?}",
                a.name
            )));
        }
        // /sys/module uses underscores where module names may have dashes.
        let sys = format!("/sys/module/{}", a.name.replace('-', "_"));
        let (want_loaded, cmd) = match a.state {
            State::Present => {
                let params: Vec<String> = a.params.split_whitespace().map(q).collect();
                (
                    true,
                    format!("modprobe {} {}", q(&a.name), params.join(" ")),
                )
            }
            State::Absent => (false, format!("modprobe -r {}", q(&a.name))),
        };
        let test = if want_loaded { "-d" } else { "! -d" };
        let act = if cx.check_mode {
            format!("exit {RC_CHANGED}")
        } else {
            format!(
                "command -v modprobe >/dev/null || {{ echo 'modprobe is not installed (kmod)' >&2; exit {RC_NO_TOOL}; }}\n\
                 {cmd} || {{ [ -f /.dockerenv ] || [ -f /run/.containerenv ] && echo '(this host is a container: containers cannot load or unload kernel modules)' >&2; exit {RC_LOAD}; }}\n\
                 exit {RC_CHANGED}"
            )
        };
        let script = format!("if [ {test} {} ]; then exit 0; fi\n{act}\n", q(&sys));
        let out = cx.run(&script, &[]).await?;
        let res = Outcome::changed(out.rc == RC_CHANGED)
            .with("name", a.name.as_str())
            .with("params", a.params.as_str());
        match out.rc {
            0 | RC_CHANGED => Ok(res),
            _ => {
                let verb = if want_loaded { "load" } else { "unload" };
                Ok(Outcome::fail(host_error(
                    &format!("cannot {verb} kernel module {}", a.name),
                    &out,
                )))
            }
        }
    }
}

const RC_NO_TOOL: i32 = 80;
const RC_LOAD: i32 = 81;
const RC_CHANGED: i32 = 82;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn absent_module_is_ok_and_check_mode_reports_a_load() {
        let h = Harness::new();
        let r = h
            .run(
                &Modprobe,
                json!({"name": "rmesos_no_such_mod", "state": "absent"}),
                false,
                false,
            )
            .await;
        assert!(
            !r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        let r = h
            .run(
                &Modprobe,
                json!({"name": "rmesos_no_such_mod"}),
                true,
                false,
            )
            .await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        let r = h
            .run(
                &Modprobe,
                json!({"name": "rmesos_no_such_mod"}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.failed);
        assert!(
            r.outcome
                .msg
                .unwrap()
                .contains("cannot load kernel module rmesos_no_such_mod")
        );
    }
}
