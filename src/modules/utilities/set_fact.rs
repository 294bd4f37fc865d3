//! `set_fact`: set host variables (at set_fact precedence) for the rest of the run.

use crate::modules::doc::{dflt, req};
use crate::modules::{FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use indexmap::IndexMap;
use minijinja::Value;

pub struct SetFact;

impl Module for SetFact {
    const NAME: &'static str = "set_fact";
    // As in Ansible (set_fact is one of its raw-param actions): text that is not k=v becomes
    // the fact `_raw_params` rather than an error.
    const FREE_FORM: FreeForm = FreeForm::Yes {
        keys: None,
        required: false,
    };
    const NEEDS_HOST: bool = false;
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("ansible_facts", "the variables set")],
        summary: "Set variables on the host for the rest of the run (every key is a variable)",
        args: &[
            req("KEY", "any variable name and its value"),
            dflt("cacheable", "no", "accepted; facts are kept for the run"),
        ],
        example: "- set_fact: zk_url=\"zk://{{ groups['zookeeper'] | join(':2181,') }}:2181/mesos\"",
    };
    type Args = IndexMap<String, Value>;
    async fn run(&self, args: Self::Args, _cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let mut o = Outcome::ok();
        for (k, v) in args {
            if k == "cacheable" {
                continue;
            }
            if !is_identifier(&k) {
                return Ok(Outcome::fail(format!(
                    "'{}' is not a valid variable name",
                    k
                )));
            }
            o.set_facts.insert(k, v);
        }
        if o.set_facts.is_empty() {
            return Ok(Outcome::fail("set_fact needs at least one variable"));
        }
        let facts = Value::from_pairs(o.set_facts.iter().map(|(k, v)| (k.clone(), v.clone())));
        o.result.insert("ansible_facts".into(), facts);
        Ok(o)
    }
}

/// A Python identifier, as Ansible requires for variable names.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
