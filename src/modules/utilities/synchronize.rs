//! `synchronize` (ansible.posix): refused while loading. Its meaning is rsync's (delta
//! transfer, a dozen rsync flags, pushes from the controller or between hosts), and rsync is
//! neither on the targets nor spoken by our SSH connection; a look-alike that silently drops
//! flags would be worse than a clear refusal. `copy` with a directory src covers the common
//! use (a tree pushed to the host, unchanged files left alone), and the refusal says so.

use crate::modules::doc::arg;
use crate::modules::{Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct Synchronize;

pub const REFUSAL: &str = "synchronize is not supported (rmesos has no rsync transport); \
     use copy: src=dir/ dest=… to push a directory tree (unchanged files are left alone)";

/// Arguments that can never be decoded, so the task is refused while the playbook loads.
#[derive(Debug)]
pub enum SynchronizeArgs {}

impl<'de> Deserialize<'de> for SynchronizeArgs {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(REFUSAL))
    }
}

impl Module for Synchronize {
    const NAME: &'static str = "synchronize";
    const DOC: ModuleDoc = ModuleDoc {
        summary: "Not supported (refused while loading): use copy with a directory src instead.",
        args: &[arg(
            "src, dest, ...",
            "Any use is refused with the hint `use copy: src=dir/ dest=…`.",
        )],
        example: "- copy:\n    src: conf/\n    dest: /etc/mesos/\n",
    };
    type Args = SynchronizeArgs;

    async fn run(
        &self,
        args: SynchronizeArgs,
        _cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        match args {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};
    use minijinja::Value;

    #[test]
    fn any_use_is_refused_with_the_copy_hint() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"src": "a/", "dest": "/b"}),
        ));
        let e = decode::<SynchronizeArgs>(&v, DecodeMode::LoadTime).unwrap_err();
        assert!(e.to_string().contains("use copy: src=dir/ dest=…"), "{e}");
    }
}
