//! `include_vars`: loads variables from YAML/JSON files on the controller, at `include_vars`
//! precedence. Relative paths are looked up as role and playbook files are (`DIR/vars/NAME`,
//! then `DIR/NAME` for each search path), then as given.

use crate::modules::doc::{aka, arg, dflt, one_of};
use crate::modules::{FreeForm, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use crate::yaml;
use indexmap::IndexMap;
use minijinja::Value;
use regex::Regex;
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn default_extensions() -> Vec<String> {
    vec!["yaml".into(), "yml".into(), "json".into()]
}

/// Only Ansible's default is supported: merging into variables set earlier would need the
/// host's variables, which a module does not see.
#[derive(Deserialize, Debug, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum HashBehaviour {
    #[default]
    Replace,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct IncludeVarsArgs {
    #[serde(rename = "_raw_params")]
    pub raw_params: Option<String>,
    pub file: Option<String>,
    pub dir: Option<String>,
    pub name: Option<String>,
    /// 0: every level below `dir`.
    #[serde(default)]
    pub depth: usize,
    pub files_matching: Option<String>,
    #[serde(default)]
    pub ignore_files: Vec<String>,
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
    #[serde(default)]
    pub ignore_unknown_extensions: bool,
    #[serde(default)]
    pub hash_behaviour: HashBehaviour,
}

pub struct IncludeVars;

impl Module for IncludeVars {
    const NAME: &'static str = "include_vars";
    const FREE_FORM: FreeForm = FreeForm::Yes {
        keys: Some(&[
            "file",
            "dir",
            "name",
            "depth",
            "files_matching",
            "ignore_files",
            "extensions",
            "ignore_unknown_extensions",
            "hash_behaviour",
        ]),
        required: false,
    };
    const NEEDS_HOST: bool = false;
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("ansible_included_var_files", "the files read")],
        summary: "Loads variables from a YAML/JSON file or a directory of them (controller side).",
        args: &[
            aka(
                arg(
                    "file",
                    "The file to load; also the free-form argument. Relative paths are looked \
                       up in the role's vars/, the role, the playbook's vars/, the playbook \
                       directory, then as given.",
                ),
                &["_raw_params"],
            ),
            arg(
                "dir",
                "Load every file in this directory (sorted, recursively), instead of `file`.",
            ),
            arg("name", "Put all loaded variables under this one variable."),
            dflt(
                "depth",
                "0",
                "With `dir`: how many levels to descend; 0 means all.",
            ),
            arg(
                "files_matching",
                "With `dir`: only files whose name matches this regular expression.",
            ),
            arg(
                "ignore_files",
                "With `dir`: file names (regular expressions anchored at the end) to skip.",
            ),
            dflt(
                "extensions",
                "[yaml, yml, json]",
                "File extensions to load; others are an error unless \
                       ignore_unknown_extensions.",
            ),
            dflt(
                "ignore_unknown_extensions",
                "false",
                "With `dir`: skip files whose extension is not in `extensions`.",
            ),
            one_of(
                dflt(
                    "hash_behaviour",
                    "replace",
                    "Only `replace` (Ansible's default): a variable replaces any earlier value.",
                ),
                &["replace"],
            ),
        ],
        example: "- include_vars: \"{{ ansible_os_family }}.yml\"\n\
                  - include_vars:\n    dir: vars/cluster\n    files_matching: '^zk'\n    name: cluster",
    };
    type Args = IncludeVarsArgs;

    async fn run(
        &self,
        args: IncludeVarsArgs,
        cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        include(&args, cx)
    }
}

fn include(args: &IncludeVarsArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
    let file = args.file.as_ref().or(args.raw_params.as_ref());
    let files = match (file, &args.dir) {
        (Some(_), Some(_)) => {
            return Err(ModuleError::failed(
                "include_vars takes `file` or `dir`, not both",
            ));
        }
        (None, None) => {
            return Err(ModuleError::failed(
                "include_vars needs a file (free-form or `file:`) or `dir:`",
            ));
        }
        (Some(f), None) => {
            let path = locate(cx, f)?;
            if path.is_dir() {
                return Err(ModuleError::Failed(format!(
                    "{} is a directory; load it with `dir: {}`",
                    path.display(),
                    f
                )));
            }
            if !has_extension(&path, &args.extensions) {
                return Err(ModuleError::Failed(bad_extension(&path, &args.extensions)));
            }
            vec![path]
        }
        (None, Some(d)) => {
            let root = locate(cx, d)?;
            if !root.is_dir() {
                return Err(ModuleError::Failed(format!(
                    "{} is not a directory",
                    root.display()
                )));
            }
            let matching = args
                .files_matching
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| ModuleError::Failed(format!("files_matching: {}", e)))?;
            let ignore = args
                .ignore_files
                .iter()
                .map(|p| Regex::new(&format!("(?:{})$", p)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ModuleError::Failed(format!("ignore_files: {}", e)))?;
            let mut found = Vec::new();
            walk(&root, 1, args.depth, &mut found)?;
            let mut files = Vec::new();
            for path in found {
                let fname = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if ignore.iter().any(|r| r.is_match(&fname)) {
                    continue;
                }
                if matching.as_ref().is_some_and(|r| !r.is_match(&fname)) {
                    continue;
                }
                if !has_extension(&path, &args.extensions) {
                    if args.ignore_unknown_extensions {
                        continue;
                    }
                    return Err(ModuleError::Failed(format!(
                        "{} (set ignore_unknown_extensions: true to skip such files)",
                        bad_extension(&path, &args.extensions)
                    )));
                }
                files.push(path);
            }
            files
        }
    };

    let mut vars: IndexMap<String, Value> = IndexMap::new();
    for path in &files {
        for (k, v) in load_vars(path)? {
            vars.insert(k, v);
        }
    }
    let mut outcome = Outcome::ok();
    match &args.name {
        Some(name) => {
            outcome
                .include_vars
                .insert(name.clone(), Value::from_pairs(vars));
        }
        None => outcome.include_vars = vars,
    }
    let loaded: Vec<Value> = files
        .iter()
        .map(|p| Value::from(p.display().to_string()))
        .collect();
    Ok(outcome.with("ansible_included_var_files", loaded))
}

/// Search paths first (`DIR/vars/NAME`, `DIR/NAME`), then the path as given.
fn locate(cx: &TaskContext<'_>, name: &str) -> Result<PathBuf, ModuleError> {
    match cx.find_file("vars", name) {
        Ok(p) => Ok(p),
        Err(e) => {
            let p = Path::new(name);
            if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(ModuleError::Failed(e.to_string()))
            }
        }
    }
}

/// Files below `dir`, sorted by name within each directory, parents' files before children's;
/// hidden files are skipped, as Ansible does.
fn walk(dir: &Path, level: usize, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), ModuleError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            ModuleError::Failed(format!("{}: cannot read directory: {}", dir.display(), e))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    let (dirs, files): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().partition(|p| p.is_dir());
    out.extend(files);
    if depth == 0 || level < depth {
        for d in dirs {
            walk(&d, level + 1, depth, out)?;
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extensions: &[String]) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    extensions.iter().any(|e| e.trim_start_matches('.') == ext)
}

fn bad_extension(path: &Path, extensions: &[String]) -> String {
    format!(
        "{} does not have a valid extension: {}",
        path.display(),
        extensions.join(", ")
    )
}

/// One file's variables: its (single) document must be a mapping; an empty file has none.
fn load_vars(path: &Path) -> Result<Vec<(String, Value)>, ModuleError> {
    let docs = yaml::load_file(path).map_err(|e| ModuleError::Failed(e.to_string()))?;
    let Some(doc) = docs.first() else {
        return Ok(vec![]);
    };
    if let Some(extra) = docs.get(1) {
        return Err(ModuleError::Failed(
            crate::error::LoadError::new(
                &extra.span,
                "a variables file holds one document; found a second one",
            )
            .hint("remove the `---` that starts it, or split the file")
            .to_string(),
        ));
    }
    if doc.is_null() {
        return Ok(vec![]);
    }
    let entries = doc
        .expect_map("a variables file")
        .map_err(|e| ModuleError::Failed(e.hint("write `name: value` lines").to_string()))?;
    entries
        .iter()
        .map(|(k, v)| {
            let key = k
                .expect_scalar_string("a variable name")
                .map_err(|e| ModuleError::Failed(e.to_string()))?;
            Ok((key, v.to_value()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::DynModule;
    use crate::modules::testutil_misc::{CountingConn, args, context};

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    async fn run(search: &[PathBuf], json: &str) -> Result<Outcome, ModuleError> {
        let conn = CountingConn::default();
        let cx = context(&conn, search);
        let out = IncludeVars.run_dyn(&args(json), &cx).await;
        assert_eq!(conn.count(), 0, "include_vars never touches the host");
        out
    }

    #[tokio::test]
    async fn free_form_file_found_in_role_vars_with_yaml11_values() {
        let role = tempfile::tempdir().unwrap();
        write(
            role.path(),
            "vars/Debian.yml",
            "zk_port: 2181\nenabled: yes\nmode: 0644\nversion: \"1.10\"\nservers: [a, b]\nzk: {id: 3}\n",
        );
        let out = run(
            &[role.path().to_path_buf()],
            r#"{"_raw_params": "Debian.yml"}"#,
        )
        .await
        .unwrap();
        let v = &out.include_vars;
        assert_eq!(v["zk_port"], Value::from(2181));
        assert_eq!(v["enabled"], Value::from(true));
        assert_eq!(v["mode"], Value::from(0o644));
        assert_eq!(v["version"].as_str(), Some("1.10"));
        assert_eq!(v["servers"].len(), Some(2));
        assert_eq!(v["zk"].get_attr("id").unwrap(), Value::from(3));
        let files = &out.result["ansible_included_var_files"];
        assert_eq!(
            files.get_item_by_index(0).unwrap().as_str(),
            Some(role.path().join("vars/Debian.yml").to_str().unwrap())
        );
        assert!(!out.changed);
    }

    #[tokio::test]
    async fn name_puts_everything_under_one_variable() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "x.yml", "a: 1\nb: two\n");
        let file = d.path().join("x.yml");
        let out = run(
            &[],
            &format!(r#"{{"file": "{}", "name": "cfg"}}"#, file.display()),
        )
        .await
        .unwrap();
        assert_eq!(out.include_vars.len(), 1);
        let cfg = &out.include_vars["cfg"];
        assert_eq!(cfg.get_attr("a").unwrap(), Value::from(1));
        assert_eq!(cfg.get_attr("b").unwrap().as_str(), Some("two"));
    }

    #[tokio::test]
    async fn dir_loads_sorted_with_depth_matching_and_ignores() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "conf/10-base.yml", "port: 1\nbase: true\n");
        write(d.path(), "conf/20-over.yaml", "port: 2\n");
        write(d.path(), "conf/skip.yml", "skipped: true\n");
        write(d.path(), "conf/README", "not yaml at all: [\n");
        write(
            d.path(),
            "conf/sub/30-deep.json",
            "{\"deep\": 3, \"port\": 3}",
        );
        let search = [d.path().to_path_buf()];

        let out = run(
            &search,
            r#"{"dir": "conf", "ignore_files": ["skip.yml"], "ignore_unknown_extensions": true}"#,
        )
        .await
        .unwrap();
        assert_eq!(
            out.include_vars["port"],
            Value::from(3),
            "deeper files load last"
        );
        assert_eq!(out.include_vars["deep"], Value::from(3));
        assert!(!out.include_vars.contains_key("skipped"));

        let out = run(
            &search,
            r#"{"dir": "conf", "depth": 1, "files_matching": "^[0-9]", "ignore_unknown_extensions": true}"#,
        )
        .await
        .unwrap();
        assert_eq!(out.include_vars["port"], Value::from(2));
        assert!(!out.include_vars.contains_key("deep"));
        assert!(!out.include_vars.contains_key("skipped"));

        let e = run(&search, r#"{"dir": "conf"}"#).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("README does not have a valid extension"),
            "{}",
            e
        );
    }

    #[tokio::test]
    async fn yaml_errors_are_located() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "bad.yml", "a: 1\nb: [unclosed\n");
        write(d.path(), "list.yml", "- a\n- b\n");
        let search = [d.path().to_path_buf()];
        let e = run(&search, r#"{"file": "bad.yml"}"#)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.yml:"), "{}", e);
        let e = run(&search, r#"{"file": "list.yml"}"#)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("list.yml:1:1"), "{}", e);
        assert!(e.contains("must be a mapping"), "{}", e);
    }

    #[tokio::test]
    async fn missing_file_names_the_places_searched() {
        let d = tempfile::tempdir().unwrap();
        let e = run(&[d.path().to_path_buf()], r#"{"_raw_params": "nope.yml"}"#)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("could not find nope.yml"), "{}", e);
        assert!(e.contains("vars/nope.yml"), "{}", e);
    }

    #[test]
    fn merge_is_refused_at_load_time() {
        let e = IncludeVars
            .check_args(&args(r#"{"file": "x.yml", "hash_behaviour": "merge"}"#))
            .unwrap_err();
        assert!(e.msg.contains("must be `replace`"), "{}", e);
    }
}
