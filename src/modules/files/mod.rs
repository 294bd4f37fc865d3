//! Files: modules that put, edit, inspect or fetch files on the host (copy, template, file,
//! lineinfile, blockinfile, replace, ini_file, stat, fetch, get_url, unarchive, git).
//!
//! [`filekit`] is what they share: the one-script probe of a path (type, attributes, checksum,
//! content), the owner/group/mode comparison and fix, converging to new content (the atomic
//! write itself is [`remote`](crate::modules::remote)'s, shared with every module that writes a
//! file), edits computed on the controller, Python-regex translation and diffs.

pub mod blockinfile;
pub mod copy;
pub mod fetch;
pub mod file;
pub mod filekit;
pub mod get_url;
pub mod git;
pub mod ini_file;
pub mod lineinfile;
pub mod replace;
pub mod stat;
pub mod template;
pub mod unarchive;

use crate::modules::ModuleError;
use std::path::Path;

/// A controller-side source file's bytes (copy, template). A vault-encrypted one is decrypted
/// with the run's passwords, as Ansible's `decrypt: yes` default does, and its lines become
/// secrets the output censors.
pub fn read_local(path: &Path) -> Result<Vec<u8>, ModuleError> {
    let data = std::fs::read(path)
        .map_err(|e| ModuleError::Failed(format!("cannot read {}: {}", path.display(), e)))?;
    if !crate::vault::is_vault(&data) {
        return Ok(data);
    }
    let plain = crate::vault::installed()
        .decrypt(&String::from_utf8_lossy(&data))
        .map_err(|e| ModuleError::Failed(format!("{}: cannot decrypt: {}", path.display(), e)))?;
    crate::vault::register_secret(&String::from_utf8_lossy(&plain));
    Ok(plain)
}
