//! Roles: finding a role's directory, reading its defaults, vars, meta (dependencies,
//! `allow_duplicates`), tasks and handlers, and turning each use of a role into a block.

use super::keywords::{self, did_you_mean, inherit, key_str};
use super::load::{LoadOptions, Loader, Scope, file_key, merge_maps};
use super::model::*;
use crate::error::{LoadError, LoadResult, Span};
use crate::vocab::is_template;
use crate::yaml::Node;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One use of a role: where it is listed and with what.
#[derive(Clone)]
pub(super) struct RoleRef {
    pub name: String,
    pub span: Span,
    /// Role parameters (a mapping).
    pub params: Value,
    /// The keywords written where the role is listed.
    pub kw: Keywords,
    pub tasks_from: Option<String>,
    pub handlers_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
}

/// What `meta/main.yml` says.
#[derive(Default)]
struct RoleMeta {
    deps: Vec<RoleRef>,
    allow_duplicates: bool,
}

const META_KEYS: &[&str] = &[
    "dependencies",
    "allow_duplicates",
    "galaxy_info",
    "collections",
    "argument_specs",
];

/// Loads a role at run time (`include_role` with a templated name). `from` is the directory of
/// the file holding the include; `kw` is the include's `Action::IncludeRole::kw`. Returns the
/// role, its blocks (dependencies first) and its handlers.
pub fn load_role(
    name: &str,
    tasks_from: Option<&str>,
    params: Value,
    kw: &Keywords,
    from: &Path,
    opts: &LoadOptions,
) -> LoadResult<(Arc<RoleInfo>, Vec<TaskNode>, Vec<Handler>)> {
    let mut loader = Loader::new(opts, from.to_path_buf());
    loader.lazy = true;
    let r = RoleRef {
        name: name.to_string(),
        span: Span::none("include_role"),
        params,
        kw: Keywords::default(),
        tasks_from: tasks_from.map(str::to_string),
        handlers_from: None,
        vars_from: None,
        defaults_from: None,
    };
    let mut blocks = Vec::new();
    let mut handlers = Vec::new();
    let info = loader.load_role_instance(&r, kw, from, false, &mut blocks, &mut handlers)?;
    let info = info.ok_or_else(|| LoadError::plain(format!("role `{}` was not loaded", name)))?;
    Ok((info, blocks, handlers))
}

fn empty_map() -> Value {
    Value::from_pairs(std::iter::empty::<(String, Value)>())
}

impl Loader<'_> {
    /// The play's `roles:`: one block per role use, dependencies first.
    pub fn load_play_roles(
        &mut self,
        node: &Node,
        scope: &Scope,
        handlers: &mut Vec<Handler>,
    ) -> LoadResult<Vec<TaskNode>> {
        let mut blocks = Vec::new();
        if node.is_null() {
            return Ok(blocks);
        }
        for entry in node.expect_seq("roles")? {
            let r = role_entry(entry)?;
            self.load_role_instance(&r, &scope.kw, &scope.dir, true, &mut blocks, handlers)?;
        }
        Ok(blocks)
    }

    /// Loads one use of a role (and its dependencies) into `blocks` and `handlers`. With
    /// `dedupe`, a role already used in this play with the same parameters is skipped (None)
    /// unless its meta allows duplicates.
    pub fn load_role_instance(
        &mut self,
        r: &RoleRef,
        parent_kw: &Keywords,
        from: &Path,
        dedupe: bool,
        blocks: &mut Vec<TaskNode>,
        handlers: &mut Vec<Handler>,
    ) -> LoadResult<Option<Arc<RoleInfo>>> {
        if is_template(&r.name) {
            return Err(LoadError::new(&r.span, "a role name here must be literal")
                .hint("use include_role for a role chosen at run time"));
        }
        let path = self.find_role(&r.name, &r.span, from)?;
        let canonical = file_key(&path);
        let meta = self.role_meta(&path)?;
        let key = format!(
            "{}\0{:?}\0{:?}",
            canonical.display(),
            r.tasks_from,
            r.params
        );
        if dedupe && !meta.allow_duplicates && !self.play.seen_roles.insert(key) {
            return Ok(None);
        }
        if self.role_stack.contains(&canonical) {
            return Err(LoadError::new(
                &r.span,
                format!("role dependency cycle: `{}` depends on itself", r.name),
            )
            .hint("remove the dependency that leads back to this role"));
        }
        self.role_stack.push(canonical);
        let kw = inherit(parent_kw, &r.kw);
        for dep in &meta.deps {
            self.load_role_instance(dep, &kw, &path, dedupe, blocks, handlers)?;
        }
        let name = Path::new(&r.name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.name.clone());
        let info = Arc::new(RoleInfo {
            name: name.clone(),
            path: path.clone(),
            defaults: self.role_vars(&path, "defaults", r.defaults_from.as_deref(), &r.span)?,
            vars: self.role_vars(&path, "vars", r.vars_from.as_deref(), &r.span)?,
            params: r.params.clone(),
        });
        let scope = Scope {
            dir: path.join("tasks"),
            role: Some(info.clone()),
            kw: kw.clone(),
            handlers: false,
        };
        let mut tasks = Vec::new();
        for file in role_files(&path, "tasks", r.tasks_from.as_deref(), &r.span)? {
            tasks.extend(self.load_task_file(&file, &scope, Some(&r.span))?);
        }
        let hscope = Scope {
            handlers: true,
            ..scope
        };
        for file in role_files(&path, "handlers", r.handlers_from.as_deref(), &r.span)? {
            let key = file_key(&file);
            if self.play.handler_files.insert(key) {
                handlers.extend(self.load_handler_file(&file, &hscope)?);
            }
        }
        blocks.push(TaskNode::Block(Arc::new(Block {
            span: r.span.clone(),
            name: Some(name),
            kw,
            block: tasks,
            rescue: vec![],
            always: vec![],
            role: Some(info.clone()),
        })));
        self.role_stack.pop();
        Ok(Some(info))
    }

    /// Where a role lives, searched as Ansible searches (docs/compat.md, "Roles"): a
    /// collection's role for `ns.collection.role`; then `roles/NAME` beside the including file
    /// and the playbook, `roles_path`, siblings of the role being loaded, the playbook's
    /// directory, and NAME as a path. A galaxy-style `namespace.name` is a directory name.
    fn find_role(&self, name: &str, span: &Span, from: &Path) -> LoadResult<PathBuf> {
        let mut tried: Vec<PathBuf> = self.collection_role_dirs(name);
        tried.extend([
            from.join("roles").join(name),
            self.playbook_dir.join("roles").join(name),
        ]);
        tried.extend(self.opts.roles_path.iter().map(|d| d.join(name)));
        if let Some(parent) = self.role_stack.last().and_then(|r| r.parent()) {
            tried.push(parent.join(name));
        }
        tried.push(self.playbook_dir.join(name));
        tried.push(from.join(name));
        if let Some(found) = tried.iter().find(|p| p.is_dir()) {
            return Ok(found.clone());
        }
        let mut shown: Vec<String> = Vec::new();
        for p in &tried {
            let p = p.display().to_string();
            if !shown.contains(&p) {
                shown.push(p);
            }
        }
        Err(
            LoadError::new(span, format!("role `{}` not found", name)).hint(format!(
                "looked in {} (install roles with `rmesos galaxy install -r requirements.yml`)",
                shown.join(", ")
            )),
        )
    }

    /// `ns.collection.role`: `ansible_collections/ns/collection/roles/role` under
    /// `collections/` beside the playbook, then under each collections path.
    fn collection_role_dirs(&self, name: &str) -> Vec<PathBuf> {
        let parts: Vec<&str> = name.split('.').collect();
        let valid = |p: &str| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let [ns, coll, role] = parts[..] else {
            return vec![];
        };
        if !parts.iter().all(|p| valid(p)) {
            return vec![];
        }
        let rel = Path::new("ansible_collections")
            .join(ns)
            .join(coll)
            .join("roles")
            .join(role);
        std::iter::once(self.playbook_dir.join("collections"))
            .chain(self.opts.collections_path.iter().cloned())
            .map(|base| base.join(&rel))
            .collect()
    }

    fn role_meta(&mut self, path: &Path) -> LoadResult<RoleMeta> {
        let mut meta = RoleMeta::default();
        let files = role_files(path, "meta", None, &Span::none(""))?;
        let Some(file) = files.first() else {
            return Ok(meta);
        };
        let Some(node) = self.read_yaml(file, None)? else {
            return Ok(meta);
        };
        for (k, v) in node.expect_map("meta/main.yml")? {
            let key = key_str(k)?;
            match key.as_str() {
                "dependencies" => {
                    if !v.is_null() {
                        for d in v.expect_seq("dependencies")? {
                            meta.deps.push(role_entry(d)?);
                        }
                    }
                }
                "allow_duplicates" => {
                    meta.allow_duplicates = keywords::literal_bool(v, "allow_duplicates")?
                }
                // Galaxy's catalogue data; argument_specs only validate, which rmesos leaves
                // to the modules' own argument checks.
                "galaxy_info" | "argument_specs" => {}
                "collections" => {
                    keywords::common("collections", v, &mut Keywords::default())?;
                }
                _ => {
                    return Err(LoadError::new(
                        &k.span,
                        format!("unknown key `{}` in role meta", key),
                    )
                    .hint(did_you_mean(
                        &key,
                        META_KEYS.iter().copied(),
                        "meta/main.yml takes dependencies, allow_duplicates and galaxy_info",
                    )));
                }
            }
        }
        Ok(meta)
    }

    /// defaults/ or vars/: one mapping (a `main/` directory of files is merged in name order).
    fn role_vars(
        &mut self,
        path: &Path,
        sub: &str,
        from: Option<&str>,
        span: &Span,
    ) -> LoadResult<Value> {
        let mut maps = Vec::new();
        for file in role_files(path, sub, from, span)? {
            if let Some(node) = self.read_yaml(&file, None)? {
                node.expect_map(&format!("{}/{}", sub, file.display()))?;
                maps.push(keywords::value(&node)?);
            }
        }
        Ok(if maps.is_empty() {
            empty_map()
        } else {
            merge_maps(maps.iter())
        })
    }
}

/// The files of `role/sub/NAME` (`NAME` is `main` unless given): `NAME.yml`, `NAME.yaml`,
/// `NAME`, or the YAML files of a `NAME/` directory. Missing is an error only for a NAME given.
fn role_files(role: &Path, sub: &str, from: Option<&str>, span: &Span) -> LoadResult<Vec<PathBuf>> {
    let base = role.join(sub);
    let name = from.unwrap_or("main");
    let plain = base.join(name);
    let candidates = if name.ends_with(".yml") || name.ends_with(".yaml") {
        vec![plain.clone()]
    } else {
        vec![
            base.join(format!("{}.yml", name)),
            base.join(format!("{}.yaml", name)),
            plain.clone(),
        ]
    };
    if let Some(f) = candidates.iter().find(|p| p.is_file()) {
        return Ok(vec![f.clone()]);
    }
    if plain.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&plain)
            .map_err(|e| LoadError::new(span, format!("cannot read {}: {}", plain.display(), e)))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        files.sort();
        return Ok(files);
    }
    if from.is_some() {
        return Err(LoadError::new(
            span,
            format!(
                "{} file `{}` not found in role {}",
                sub,
                name,
                role.display()
            ),
        )
        .hint(format!("looked for {}", candidates[0].display())));
    }
    Ok(vec![])
}

/// An entry of `roles:` or of meta `dependencies`: a name, or a mapping with `role:`/`name:`,
/// keywords, and role parameters (every other key).
fn role_entry(node: &Node) -> LoadResult<RoleRef> {
    let mut r = RoleRef {
        name: String::new(),
        span: node.span.clone(),
        params: empty_map(),
        kw: Keywords::default(),
        tasks_from: None,
        handlers_from: None,
        vars_from: None,
        defaults_from: None,
    };
    if node.as_map().is_none() {
        r.name = node.expect_scalar_string("a role name")?;
        return Ok(r);
    }
    let mut name = None;
    let mut src = None;
    let mut params: Vec<(String, Value)> = Vec::new();
    for (k, v) in node.as_map().unwrap_or_default() {
        let key = key_str(k)?;
        match key.as_str() {
            "role" | "name" => {
                name = Some(v.expect_scalar_string("a role name")?);
                r.span = v.span.clone();
            }
            // Galaxy install data (requirements-style dependencies).
            "src" => src = Some((v.expect_scalar_string("src")?, v.span.clone())),
            "version" | "scm" => {}
            "tasks_from" | "handlers_from" | "vars_from" | "defaults_from" => {
                return Err(LoadError::new(
                    &k.span,
                    format!("`{}` is not valid in a roles list", key),
                )
                .hint("use `import_role:` with it in a task list"));
            }
            _ => {
                if !keywords::common(&key, v, &mut r.kw)? {
                    params.push((key, keywords::value(v)?));
                }
            }
        }
    }
    r.name = match (name, src) {
        (Some(n), _) => n,
        (None, Some((s, span))) => {
            r.span = span;
            let base = s.trim_end_matches('/').rsplit('/').next().unwrap_or(&s);
            base.trim_end_matches(".git").to_string()
        }
        (None, None) => {
            return Err(LoadError::new(&node.span, "a role entry needs `role:`")
                .hint("write `- role: NAME` (or just `- NAME`)"));
        }
    };
    r.params = Value::from_pairs(params);
    Ok(r)
}
