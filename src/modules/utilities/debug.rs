//! `debug`: print a message or a variable's value. Runs on the controller.

use crate::modules::doc::{arg, dflt};
use crate::modules::{FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    msg: Option<Value>,
    var: Option<String>,
    #[serde(default)]
    verbosity: u8,
}

pub struct Debug;

impl Module for Debug {
    const NAME: &'static str = "debug";
    const FREE_FORM: FreeForm = FreeForm::No;
    const NEEDS_HOST: bool = false;
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("msg", "the message (or the var)")],
        summary: "Print a message or the value of a variable",
        args: &[
            dflt("msg", "Hello world!", "the message (any value)"),
            arg("var", "a variable name or expression to show"),
            dflt("verbosity", "0", "show only at this -v level or above"),
        ],
        example: "- debug: msg=\"{{ inventory_hostname }} has {{ ansible_processor_vcpus }} CPUs\"\n- debug: var=result.stdout_lines",
    };
    type Args = Args;
    async fn run(&self, args: Args, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        if args.msg.is_some() && args.var.is_some() {
            return Ok(Outcome::fail("'msg' and 'var' are mutually exclusive"));
        }
        let mut o = Outcome::ok();
        if let Some(var) = args.var {
            let v = match cx.templating.eval(&var) {
                Ok(v) if v.is_undefined() => Value::from("VARIABLE IS NOT DEFINED!"),
                Ok(v) => v,
                Err(e) if e.is_undefined() => Value::from("VARIABLE IS NOT DEFINED!"),
                Err(e) => return Ok(Outcome::fail(e.msg)),
            };
            o.result.insert(var, v);
        } else {
            let msg = args.msg.unwrap_or_else(|| Value::from("Hello world!"));
            o.result.insert("msg".into(), msg);
        }
        o.result
            .insert("_verbosity".into(), Value::from(args.verbosity));
        Ok(o)
    }
}
