//! `vars_prompt`: the plan describes what to ask ([`VarPrompt`]); the app asks, before any host
//! is touched, and adds the answers to the play's vars.

use super::keywords::{self, key_str};
use super::model::VarPrompt;
use crate::error::{LoadError, LoadResult};
use crate::yaml::{Node, NodeKind};

const KEYS: &[&str] = &["name", "prompt", "private", "default", "confirm", "unsafe"];

/// A play's `vars_prompt`: a list of entries (`name`, `prompt`, `private`, `default`,
/// `confirm`, `unsafe`), or the oldest form, a mapping of variable names to questions.
pub fn vars_prompt(node: &Node) -> LoadResult<Vec<VarPrompt>> {
    match &node.kind {
        NodeKind::Null => Ok(vec![]),
        NodeKind::Seq(items) => items.iter().map(entry).collect(),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let name = key_str(k)?;
                Ok(VarPrompt {
                    prompt: v.expect_scalar_string("a prompt")?,
                    ..plain(name, k)
                })
            })
            .collect(),
        _ => Err(LoadError::new(
            &node.span,
            format!("vars_prompt must be a list, found {}", node.type_name()),
        )
        .hint("write `vars_prompt: [{name: version, prompt: Which version?}]`")),
    }
}

fn plain(name: String, at: &Node) -> VarPrompt {
    VarPrompt {
        prompt: name.clone(),
        name,
        private: true,
        default: None,
        confirm: false,
        unsafe_: false,
        span: at.span.clone(),
    }
}

fn entry(node: &Node) -> LoadResult<VarPrompt> {
    let name = match node.get("name") {
        Some(n) => n.expect_scalar_string("the variable's name")?,
        None => {
            return Err(
                LoadError::new(&node.span, "a vars_prompt entry needs `name:`")
                    .hint("write `- name: VARIABLE` with a `prompt:`"),
            );
        }
    };
    let mut p = plain(name, node);
    for (k, v) in node.expect_map("a vars_prompt entry")? {
        let key = key_str(k)?;
        match key.as_str() {
            "name" => {}
            "prompt" => p.prompt = v.expect_scalar_string("prompt")?,
            "private" => p.private = keywords::literal_bool(v, "private")?,
            "confirm" => p.confirm = keywords::literal_bool(v, "confirm")?,
            "unsafe" => p.unsafe_ = keywords::literal_bool(v, "unsafe")?,
            "default" => p.default = Some(keywords::value(v)?),
            "encrypt" | "salt" | "salt_size" => {
                return Err(LoadError::new(
                    &k.span,
                    format!("vars_prompt `{}` is not supported", key),
                )
                .hint("rmesos does not hash answers (passlib's schemes); ask for the hash itself, or pass it with -e and the password_hash filter"));
            }
            _ => {
                return Err(
                    LoadError::new(&k.span, format!("unknown vars_prompt key `{}`", key)).hint(
                        keywords::did_you_mean(
                            &key,
                            KEYS.iter().copied(),
                            "an entry takes name, prompt, private, default, confirm and unsafe",
                        ),
                    ),
                );
            }
        }
    }
    Ok(p)
}
