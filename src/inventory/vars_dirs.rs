//! `group_vars/` and `host_vars/` beside an inventory source or a playbook, found as Ansible's
//! `host_group_vars` plugin finds them: for a group or host NAME, the first of `NAME`,
//! `NAME.yml`, `NAME.yaml`, `NAME.json` that exists; when that is a directory, every file in it
//! (recursively, sorted by name, skipping hidden files and `~` backups, keeping only files with
//! no extension or a YAML/JSON one). Files merge shallowly, later keys winning.

use super::data::VarMap;
use crate::error::{LoadError, LoadResult};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// The variables one base directory gives to groups and hosts (only those with files).
#[derive(Clone, Debug, Default)]
pub struct VarsDir {
    pub group_vars: IndexMap<String, VarMap>,
    pub host_vars: IndexMap<String, VarMap>,
}

impl VarsDir {
    /// Reads `base/group_vars/` for `groups` and `base/host_vars/` for `hosts`.
    pub fn load<'a>(
        base: &Path,
        groups: impl Iterator<Item = &'a str>,
        hosts: impl Iterator<Item = &'a str>,
    ) -> LoadResult<VarsDir> {
        Ok(VarsDir {
            group_vars: load_entities(&base.join("group_vars"), groups)?,
            host_vars: load_entities(&base.join("host_vars"), hosts)?,
        })
    }
}

fn load_entities<'a>(
    dir: &Path,
    names: impl Iterator<Item = &'a str>,
) -> LoadResult<IndexMap<String, VarMap>> {
    let mut out = IndexMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for name in names {
        // A name with a path separator could reach outside the directory.
        if name.contains('/') || name.starts_with('.') {
            continue;
        }
        let mut vars = VarMap::new();
        for file in files_for(dir, name)? {
            vars.extend(load_vars_file(&file)?);
        }
        if !vars.is_empty() {
            out.insert(name.to_string(), vars);
        }
    }
    Ok(out)
}

fn files_for(dir: &Path, name: &str) -> LoadResult<Vec<PathBuf>> {
    let candidates = std::iter::once(dir.join(name))
        .chain(EXTENSIONS.iter().map(|e| dir.join(format!("{name}.{e}"))));
    for path in candidates {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(&path, &mut found)?;
            return Ok(found);
        }
        if path.is_file() {
            return Ok(vec![path]);
        }
    }
    Ok(vec![])
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> LoadResult<()> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| LoadError::plain(format!("{}: cannot list: {e}", dir.display())))?;
    let mut entries: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| !n.starts_with('.') && !n.ends_with('~'))
        .collect();
    entries.sort();
    for (name, path) in entries {
        let ext = extension(&name);
        if path.is_dir() && ext.is_none() {
            walk(&path, found)?;
        } else if path.is_file() && ext.is_none_or(|e| EXTENSIONS.contains(&e)) {
            found.push(path);
        }
    }
    Ok(())
}

/// Python's `os.path.splitext` extension (without the dot): leading dots do not count.
fn extension(name: &str) -> Option<&str> {
    let trimmed = name.trim_start_matches('.');
    trimmed.rfind('.').map(|i| &trimmed[i + 1..])
}

/// One vars file: a YAML mapping (an empty file gives nothing).
pub fn load_vars_file(path: &Path) -> LoadResult<VarMap> {
    let docs = crate::yaml::load_file(path)?;
    let mut vars = VarMap::new();
    let Some(doc) = docs.first() else {
        return Ok(vars);
    };
    if let Some(extra) = docs.get(1) {
        return Err(LoadError::new(
            &extra.span,
            "a vars file holds one YAML document",
        ));
    }
    if doc.is_null() {
        return Ok(vars);
    }
    let entries = doc.as_map().ok_or_else(|| {
        LoadError::new(
            &doc.span,
            format!("a vars file must be a mapping, found {}", doc.type_name()),
        )
        .hint("write name: value lines")
    })?;
    for (k, v) in entries {
        let key = k
            .key_string()
            .ok_or_else(|| LoadError::new(&k.span, "a variable name must be a string"))?;
        vars.insert(key, v.to_value());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Value;

    #[test]
    fn files_dirs_and_first_match() {
        let tmp = tempfile::tempdir().unwrap();
        let gv = tmp.path().join("group_vars");
        std::fs::create_dir_all(gv.join("web/sub")).unwrap();
        std::fs::write(gv.join("web/b.yml"), "a: 2\nb: 2\n").unwrap();
        std::fs::write(gv.join("web/a"), "a: 1\nc: 1\n").unwrap();
        std::fs::write(gv.join("web/sub/z.json"), "{\"z\": true}").unwrap();
        std::fs::write(gv.join("web/notes.txt"), "not: read").unwrap();
        std::fs::write(gv.join("web/.hidden.yml"), "h: 1").unwrap();
        std::fs::write(gv.join("web.yml"), "shadowed: true").unwrap();
        std::fs::write(gv.join("db.yaml"), "").unwrap();
        let d = VarsDir::load(tmp.path(), ["web", "db"].into_iter(), std::iter::empty()).unwrap();
        let web = &d.group_vars["web"];
        assert_eq!(web.keys().collect::<Vec<_>>(), ["a", "c", "b", "z"]);
        assert_eq!(web["a"], Value::from(2));
        assert!(!d.group_vars.contains_key("db"));
    }

    #[test]
    fn non_mapping_file_is_located() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("host_vars")).unwrap();
        std::fs::write(tmp.path().join("host_vars/h1"), "# list\n- a\n").unwrap();
        let e = VarsDir::load(tmp.path(), std::iter::empty(), ["h1"].into_iter())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("host_vars/h1:2:1:") && e.contains("mapping"),
            "{e}"
        );
    }
}
