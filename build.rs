//! Packs the Mesos stack (roles/, playbooks/, inventory/) into the binary: `rmesos lab deploy`
//! runs it from any directory and `rmesos stack export` writes editable copies
//! (src/app/stack.rs). Writes `$OUT_DIR/stack_files.rs`: a sorted list of
//! `(relative path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/" relative path)))`,
//! and the symbolic links (such as `playbooks/roles -> ../roles`) as `(relative path, target)`.
//! The contents are named relative to the crate being compiled, not by this run's absolute
//! path: two checkouts sharing one target directory (CI's clones do) share this output too.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The folders that make up the stack, relative to the crate root.
const STACK_DIRS: [&str; 3] = ["roles", "playbooks", "inventory"];

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut files = Vec::new();
    let mut links = Vec::new();
    for dir in STACK_DIRS {
        // A directory is scanned recursively for changes (and added or removed files).
        println!("cargo:rerun-if-changed={dir}");
        collect(&root, &root.join(dir), &mut files, &mut links);
    }
    files.sort();
    links.sort();
    let mut out =
        String::from("/// The stack's files: (path relative to the checkout, contents).\n");
    out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let in_crate = format!("/{rel}");
        writeln!(
            out,
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {in_crate:?}))),"
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    out.push_str("/// The stack's symbolic links: (path relative to the checkout, target).\n");
    out.push_str("pub static LINKS: &[(&str, &str)] = &[\n");
    for (rel, target) in &links {
        writeln!(out, "    ({rel:?}, {target:?}),").expect("writing to a String");
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("stack_files.rs");
    std::fs::write(&dest, out).expect("writing stack_files.rs");
}

/// Every regular file under `dir`, as a `/`-separated path relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>, links: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        // Editor and OS leftovers are not part of the stack.
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let rel = path.strip_prefix(root).expect("under the root");
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let rel = rel.join("/");
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).expect("reading a link");
            links.push((rel, target.to_string_lossy().into_owned()));
        } else if kind.is_dir() {
            collect(root, &path, files, links);
        } else if kind.is_file() {
            files.push(rel);
        }
    }
}
