//! YAML loading: text -> a [`Node`] tree where every node knows its file:line:col.
//!
//! Scalars are resolved the way PyYAML (and so Ansible) resolves YAML 1.1: `yes/no/on/off/true/
//! false` are booleans (but `y`/`n` are strings), `0644` is octal, `1_000` is an int, `1.10` is a
//! float (modules that want a string get `"1.1"` back, as in Ansible; quote versions). Merge keys
//! (`<<`) and anchors/aliases are expanded here. Tags: `!unsafe` keeps a string from ever being
//! templated; `!vault` values and whole vault-encrypted files are decrypted here with the
//! process's keyring (`vault`), so a wrong or missing password is a located load error. Owns
//! only syntax: it knows nothing of playbooks.

mod node;
mod parse;
mod repair;

pub use node::{Node, NodeKind, Warning, take_warnings};
pub use parse::{
    load_file, load_file_with_warnings, load_str, load_str_with_warnings, resolve_plain_scalar,
};

/// Marks a string as `!unsafe`: the templar returns it untouched. (minijinja's "safe string"
/// flag is free for this: rmesos never auto-escapes HTML.) YAML owns the tag; templating reads
/// the mark.
pub fn unsafe_value(s: &str) -> minijinja::Value {
    minijinja::Value::from_safe_string(s.to_string())
}
