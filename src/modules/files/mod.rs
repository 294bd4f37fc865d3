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
