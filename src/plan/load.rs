//! Loading playbooks and plays; the loader's shared state. Tasks are read in `task.rs`, roles in
//! `role.rs`.

use super::keywords::{self, COMMON, NOT_ON_PLAYS, did_you_mean, inherit, key_str};
use super::model::*;
use crate::error::{LoadError, LoadResult, Span};
use crate::vocab::is_template;
use crate::yaml::{Node, NodeKind};
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `roles_path` from ansible.cfg / ANSIBLE_ROLES_PATH; `roles/` beside the playbook is
    /// always searched first.
    pub roles_path: Vec<PathBuf>,
    /// Where collections live (`ansible_collections/NS/NAME/roles/ROLE`), for roles named
    /// `ns.collection.role`; `collections/` beside the playbook is searched first.
    pub collections_path: Vec<PathBuf>,
    /// Extra vars (`-e`): known while loading, for templated `import_playbook` names.
    pub extra_vars: IndexMap<String, Value>,
    /// `inventory_dir` and `inventory_file` while loading (the first inventory source's).
    pub inventory: Option<InventoryPlace>,
    /// ansible.cfg's `gathering = explicit`: a play gathers facts only when it says
    /// `gather_facts: true`.
    pub explicit_gathering: bool,
}

/// Where the inventory is, as the magic variables say it: values the caller works out.
#[derive(Clone, Debug, Default)]
pub struct InventoryPlace {
    pub dir: String,
    pub file: String,
}

/// Loads a playbook and everything it imports; any error stops before a host is touched.
pub fn load_playbook(path: &Path, opts: &LoadOptions) -> LoadResult<Playbook> {
    Loader::new(opts, parent_dir(path)).playbook(path)
}

/// Loads a playbook given as YAML text (a generated one) that stands for the file `path`: spans
/// and errors name `path` (an error's line is shown from `text`), and relative lookups (roles/,
/// imports) start in its directory, as for [`load_playbook`]; `path` itself is never read.
pub fn load_playbook_text(text: &str, path: &Path, opts: &LoadOptions) -> LoadResult<Playbook> {
    let file = path.display().to_string();
    let text: Arc<str> = Arc::from(text);
    let mut loader = Loader::new(opts, parent_dir(path));
    crate::yaml::load_str(&text, &file)
        .and_then(single_document)
        .and_then(|doc| {
            loader.cache.insert(file_key(path), doc);
            loader.playbook(path)
        })
        .map_err(|e| e.in_text(&file, &text))
}

/// Loads a task file at run time (`include_tasks` with a templated name), inheriting `kw`
/// (the include's `Action::IncludeTasks::kw`). Use [`find_task_file`] to resolve the name.
pub fn load_tasks_file(
    path: &Path,
    role: Option<Arc<RoleInfo>>,
    kw: &Keywords,
    opts: &LoadOptions,
) -> LoadResult<Vec<TaskNode>> {
    let dir = parent_dir(path);
    let mut loader = Loader::new(opts, dir.clone());
    loader.lazy = true;
    let scope = Scope {
        dir,
        role,
        kw: kw.clone(),
        handlers: false,
    };
    let tasks = loader.load_task_file(path, &scope, None)?;
    Ok(tasks)
}

/// Where a task file named by an include of `task` lives: beside the file holding the include,
/// then in its role's `tasks/`. `None` when neither has it.
pub fn find_task_file(name: &str, task: &Task) -> Option<PathBuf> {
    let here = parent_dir(Path::new(&*task.span.file));
    let role_tasks = task.role.as_ref().map(|r| r.path.join("tasks"));
    search_file(name, &here, role_tasks.as_deref(), None)
}

/// The directory holding `path` (`.` for a bare file name).
pub(super) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What a file is known by while loading (its canonical path when it exists).
pub(super) fn file_key(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The one document of a file (`None` when it is empty or null).
fn single_document(mut docs: Vec<Node>) -> LoadResult<Option<Node>> {
    if docs.len() > 1 {
        return Err(LoadError::new(
            &docs[1].span,
            "a second YAML document (---) is not expected here",
        )
        .hint("keep one document per file"));
    }
    Ok(docs.pop().filter(|n| !n.is_null()))
}

/// Finds a relative file in the first directory that has it.
pub(super) fn search_file(
    name: &str,
    here: &Path,
    role_tasks: Option<&Path>,
    playbook_dir: Option<&Path>,
) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    [Some(here), role_tasks, playbook_dir]
        .into_iter()
        .flatten()
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

/// What the tasks being read inherit and where they come from.
#[derive(Clone)]
pub(super) struct Scope {
    /// Directory of the file the tasks are in (relative includes start here).
    pub dir: PathBuf,
    pub role: Option<Arc<RoleInfo>>,
    /// Keywords folded from every enclosing play, role, block and import.
    pub kw: Keywords,
    /// Reading a handlers list (`listen` allowed, blocks not).
    pub handlers: bool,
}

/// Per-play state: role instances already loaded, handlers found on the way, notifies to check.
#[derive(Default)]
pub(super) struct PlayState {
    /// (role dir, tasks_from, params) of roles already in this play's `roles:`.
    pub seen_roles: HashSet<String>,
    /// Role handler files already loaded for this play.
    pub handler_files: HashSet<PathBuf>,
    /// Handlers of roles imported or included from tasks (they come after the play's own).
    pub task_role_handlers: Vec<Handler>,
    /// Every literal `notify` target with its position.
    pub notifies: Vec<(String, Span)>,
}

pub(super) struct Loader<'o> {
    pub opts: &'o LoadOptions,
    pub playbook_dir: PathBuf,
    /// Files being loaded, outermost first (canonical paths): a repeat is an include cycle.
    pub stack: Vec<PathBuf>,
    /// Roles being loaded (canonical dirs), to catch dependency cycles.
    pub role_stack: Vec<PathBuf>,
    pub play: PlayState,
    /// Parsed files, so a role's files are read once however often it is used.
    cache: HashMap<PathBuf, Option<Node>>,
    /// Reading what only a dynamic include reaches: an unknown module fails the host that
    /// reaches its task instead of the load (see `foreign.rs`).
    pub lazy: bool,
    /// Dynamic includes that did not load, for `Playbook::warnings`.
    pub warnings: Vec<String>,
}

/// What an `import_playbook` passes on to the plays it imports.
#[derive(Clone, Default)]
struct ImportScope {
    kw: Keywords,
    /// Its `vars`, innermost import first; they override the plays' own `vars`.
    vars: Vec<Value>,
}

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "gather_facts",
    "gather_subset",
    "user",
    "serial",
    "strategy",
    "max_fail_percentage",
    "force_handlers",
    "order",
    "vars_prompt",
    "gather_timeout",
    "fact_path",
];

const IMPORT_PLAYBOOK: &[&str] = &[
    "import_playbook",
    "ansible.builtin.import_playbook",
    "ansible.legacy.import_playbook",
    "include",
];

impl<'o> Loader<'o> {
    pub fn new(opts: &'o LoadOptions, playbook_dir: PathBuf) -> Self {
        Loader {
            opts,
            playbook_dir,
            stack: Vec::new(),
            role_stack: Vec::new(),
            play: PlayState::default(),
            cache: HashMap::new(),
            lazy: false,
            warnings: Vec::new(),
        }
    }

    /// The playbook `path` (read, or already in the cache) and everything it imports.
    fn playbook(&mut self, path: &Path) -> LoadResult<Playbook> {
        let mut plays = Vec::new();
        self.load_playbook_file(path, &ImportScope::default(), None, &mut plays)?;
        Ok(Playbook {
            path: path.to_path_buf(),
            dir: self.playbook_dir.clone(),
            plays,
            // A file included twice warns once.
            warnings: std::mem::take(&mut self.warnings)
                .into_iter()
                .collect::<indexmap::IndexSet<String>>()
                .into_iter()
                .collect(),
        })
    }

    /// Reads a YAML file holding one document (or none: `None`).
    pub fn read_yaml(&mut self, path: &Path, span: Option<&Span>) -> LoadResult<Option<Node>> {
        let key = file_key(path);
        if let Some(n) = self.cache.get(&key) {
            return Ok(n.clone());
        }
        if !path.is_file() {
            let msg = format!("file not found: {}", path.display());
            return Err(match span {
                Some(s) => LoadError::new(s, msg),
                None => LoadError::plain(msg),
            });
        }
        let node = single_document(crate::yaml::load_file(path)?)?;
        self.cache.insert(key, node.clone());
        Ok(node)
    }

    /// Marks `path` as being loaded; an error if it already is (an include cycle).
    pub fn enter(&mut self, path: &Path, span: Option<&Span>) -> LoadResult<()> {
        let key = file_key(path);
        if self.stack.contains(&key) {
            let msg = format!("include cycle: {} includes itself", path.display());
            let hint = "an import or static include cannot load a file that is loading it";
            return Err(match span {
                Some(s) => LoadError::new(s, msg),
                None => LoadError::plain(msg),
            }
            .hint(hint));
        }
        self.stack.push(key);
        Ok(())
    }

    pub fn is_loading(&self, path: &Path) -> bool {
        self.stack.contains(&file_key(path))
    }

    fn load_playbook_file(
        &mut self,
        path: &Path,
        imp: &ImportScope,
        span: Option<&Span>,
        plays: &mut Vec<Play>,
    ) -> LoadResult<()> {
        self.enter(path, span)?;
        let Some(doc) = self.read_yaml(path, span)? else {
            self.stack.pop();
            return Ok(());
        };
        let entries = doc.expect_seq("a playbook")?;
        let dir = parent_dir(path);
        for entry in entries {
            let map = entry.expect_map("a play")?;
            let import = map
                .iter()
                .find(|(k, _)| k.as_str().is_some_and(|s| IMPORT_PLAYBOOK.contains(&s)));
            match import {
                Some((_, v)) if entry.get("hosts").is_none() => {
                    self.import_playbook(entry, v, &dir, imp, plays)?
                }
                _ => plays.push(self.load_play(entry, &dir, imp)?),
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn import_playbook(
        &mut self,
        entry: &Node,
        val: &Node,
        dir: &Path,
        outer: &ImportScope,
        plays: &mut Vec<Play>,
    ) -> LoadResult<()> {
        let mut own = Keywords::default();
        let mut vars = Vec::new();
        for (k, v) in entry.as_map().unwrap_or_default() {
            let name = key_str(k)?;
            match name.as_str() {
                n if IMPORT_PLAYBOOK.contains(&n) => {}
                "name" => {}
                "vars" => vars.extend(keywords::vars(v)?),
                "when" | "tags" => {
                    keywords::common(&name, v, &mut own)?;
                }
                other => {
                    return Err(LoadError::new(
                        &k.span,
                        format!("`{}` is not valid on import_playbook", other),
                    )
                    .hint("import_playbook takes name, vars, when and tags"));
                }
            }
        }
        let (file, params) = import_target(val)?;
        if let Some((params, tags)) = params {
            vars.push(params);
            own.tags.extend(tags);
        }
        let file = if is_template(&file) {
            self.render_import(&file, &vars, dir, &val.span)?
        } else {
            file
        };
        let path = dir.join(&file);
        if !path.is_file() {
            return Err(LoadError::new(
                &val.span,
                format!("playbook not found: {}", path.display()),
            )
            .hint(format!(
                "the path is relative to the importing playbook ({})",
                dir.display()
            )));
        }
        // Inner imports first: outer `vars` win over inner ones, as they are applied last.
        vars.extend(outer.vars.iter().cloned());
        let imp = ImportScope {
            kw: inherit(&outer.kw, &own),
            vars,
        };
        self.load_playbook_file(&path, &imp, Some(&val.span), plays)
    }

    /// A templated playbook name, rendered with what Ansible knows while loading: the
    /// import's own `vars` (and k=v parameters), the extra vars, `playbook_dir` (the directory
    /// of the playbook holding the import) and `inventory_dir`/`inventory_file`.
    fn render_import(
        &self,
        file: &str,
        vars: &[Value],
        dir: &Path,
        span: &Span,
    ) -> LoadResult<String> {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut magic = vec![("playbook_dir", Value::from(abs(dir).display().to_string()))];
        if let Some(inv) = &self.opts.inventory {
            magic.push(("inventory_dir", Value::from(inv.dir.as_str())));
            magic.push(("inventory_file", Value::from(inv.file.as_str())));
        }
        let mut layers = vars.to_vec();
        layers.push(Value::from_pairs(self.opts.extra_vars.clone()));
        let templar = crate::vars::Templar::new();
        let scope = crate::vars::scope(&templar, layers, Value::from_pairs(magic));
        let rendered = templar
            .template_value(&Value::from(file), &scope)
            .map_err(|e| {
                LoadError::new(span, format!("cannot render the playbook name: {}", e)).hint(
                    "while loading, only extra vars (-e), the import's vars, playbook_dir and inventory_dir are known",
                )
            })?;
        Ok(rendered
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| rendered.to_string()))
    }

    fn load_play(&mut self, node: &Node, dir: &Path, imp: &ImportScope) -> LoadResult<Play> {
        self.play = PlayState::default();
        let map = node.expect_map("a play")?;
        let mut own = Keywords::default();
        let mut play = Play {
            span: node.span.clone(),
            name: String::new(),
            hosts: String::new(),
            gather_facts: !self.opts.explicit_gathering,
            gather_subset: Vec::new(),
            vars: Value::from_pairs(std::iter::empty::<(String, Value)>()),
            vars_files: Vec::new(),
            serial: Vec::new(),
            strategy: Strategy::Linear,
            max_fail_percentage: None,
            any_errors_fatal: false,
            templated: Vec::new(),
            vars_prompt: Vec::new(),
            force_handlers: false,
            kw: Keywords::default(),
            pre_tasks: Vec::new(),
            roles: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
        };
        let mut name = None;
        let mut hosts = None;
        let mut sections: HashMap<String, &Node> = HashMap::new();
        for (k, v) in map {
            let key = key_str(k)?;
            match key.as_str() {
                "name" => name = Some(v.expect_scalar_string("name")?),
                "hosts" => {
                    let list = keywords::string_list(v, "a host pattern")?;
                    hosts = Some(
                        list.into_iter()
                            .map(|(s, _)| s)
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                }
                "vars" => {
                    if let Some(vars) = keywords::vars(v)? {
                        play.vars = vars;
                    }
                }
                "vars_files" => play.vars_files = vars_files(v)?,
                "roles" | "pre_tasks" | "tasks" | "post_tasks" | "handlers" => {
                    sections.insert(key.clone(), v);
                }
                "gather_facts" => play.gather_facts = keywords::literal_bool(v, "gather_facts")?,
                "gather_subset" => {
                    play.gather_subset = keywords::tags(v)?;
                }
                "gather_timeout" | "fact_path" => {
                    return Err(
                        LoadError::new(&k.span, format!("`{}` is not supported", key))
                            .hint("rmesos gathers its facts in one fixed, fast round trip"),
                    );
                }
                "user" => own.remote_user = Some(keywords::scalar(v, "user")?),
                "serial" => play_rule(&mut play, RuleKey::Serial, v)?,
                "strategy" => {
                    play.strategy = match v.as_str() {
                        Some("linear") => Strategy::Linear,
                        Some("free") => Strategy::Free,
                        _ => {
                            return Err(LoadError::new(
                                &v.span,
                                "strategy must be `linear` or `free`",
                            )
                            .hint("other strategy plugins are not supported"));
                        }
                    }
                }
                "max_fail_percentage" => play_rule(&mut play, RuleKey::MaxFailPercentage, v)?,
                "any_errors_fatal" => play_rule(&mut play, RuleKey::AnyErrorsFatal, v)?,
                "force_handlers" => {
                    play.force_handlers = keywords::literal_bool(v, "force_handlers")?
                }
                "order" => {
                    if v.as_str() != Some("inventory") {
                        return Err(LoadError::new(
                            &v.span,
                            "only `order: inventory` is supported",
                        )
                        .hint("hosts are always taken in inventory order"));
                    }
                }
                "vars_prompt" => play.vars_prompt = super::prompt::vars_prompt(v)?,
                k_ if NOT_ON_PLAYS.contains(&k_) => {
                    return Err(LoadError::new(
                        &k.span,
                        format!("`{}` is not a play keyword", key),
                    )
                    .hint("it belongs on tasks or blocks"));
                }
                _ => {
                    if !keywords::common(&key, v, &mut own)? {
                        let hint = did_you_mean(
                            &key,
                            PLAY_KEYS.iter().chain(COMMON).copied(),
                            "see the list of play keywords in docs/compat.md",
                        );
                        return Err(LoadError::new(
                            &k.span,
                            format!("unknown play keyword `{}`", key),
                        )
                        .hint(hint));
                    }
                }
            }
        }
        let Some(hosts) = hosts else {
            return Err(LoadError::new(&node.span, "a play needs `hosts:`")
                .hint("write `hosts: all` or a group name"));
        };
        play.name = name.unwrap_or_else(|| hosts.clone());
        play.hosts = hosts;
        if !imp.vars.is_empty() {
            play.vars = merge_maps(std::iter::once(&play.vars).chain(imp.vars.iter().rev()));
        }
        play.kw = inherit(&imp.kw, &own);
        let scope = Scope {
            dir: dir.to_path_buf(),
            role: None,
            kw: play.kw.clone(),
            handlers: false,
        };
        if let Some(n) = sections.get("pre_tasks") {
            play.pre_tasks = self.load_task_list(n, &scope)?;
        }
        let mut role_handlers = Vec::new();
        if let Some(n) = sections.get("roles") {
            play.roles = self.load_play_roles(n, &scope, &mut role_handlers)?;
        }
        if let Some(n) = sections.get("tasks") {
            play.tasks = self.load_task_list(n, &scope)?;
        }
        if let Some(n) = sections.get("post_tasks") {
            play.post_tasks = self.load_task_list(n, &scope)?;
        }
        let mut play_handlers = Vec::new();
        if let Some(n) = sections.get("handlers") {
            let hscope = Scope {
                handlers: true,
                ..scope
            };
            play_handlers = self.load_handler_list(n, &hscope)?;
        }
        play.handlers = role_handlers;
        play.handlers.append(&mut play_handlers);
        play.handlers
            .append(&mut std::mem::take(&mut self.play.task_role_handlers));
        self.check_notifies(&play.handlers)?;
        Ok(play)
    }

    /// Every literal `notify` must name a handler or a `listen` topic of the play.
    fn check_notifies(&mut self, handlers: &[Handler]) -> LoadResult<()> {
        let known: HashSet<&str> = handlers
            .iter()
            .flat_map(|h| h.names.iter().map(String::as_str))
            .collect();
        for (name, span) in &self.play.notifies {
            if is_template(name) || known.contains(name.as_str()) {
                continue;
            }
            let hint = did_you_mean(
                name,
                known.iter().copied(),
                "define it under the play's `handlers:` or a role's handlers/main.yml",
            );
            return Err(LoadError::new(span, format!("handler `{}` not found", name)).hint(hint));
        }
        Ok(())
    }
}

/// Legacy `k=v` parameters of a playbook import: variables, and `tags`.
type ImportParams = (Value, Vec<String>);

/// The file an `import_playbook`/playbook-level `include` names, and the legacy k=v parameters
/// after it (`include: other.yml some_var=value tags=x`): variables for the imported plays, and
/// `tags` added to theirs, as Ansible 2.x took them.
fn import_target(val: &Node) -> LoadResult<(String, Option<ImportParams>)> {
    let text = val.expect_scalar_string("the playbook to import")?;
    keywords::check_template_str(&text, &val.span, val.unsafe_str)?;
    let free = crate::modules::FreeForm::Yes {
        keys: None,
        required: true,
    };
    let parsed = super::kv::parse(&text, free)
        .map_err(|e| LoadError::new(&val.span, format!("import_playbook: {}", e)))?;
    if parsed.args.is_empty() {
        return Ok((text.trim().to_string(), None));
    }
    let file = parsed.raw.ok_or_else(|| {
        LoadError::new(
            &val.span,
            "import_playbook needs a file name before its parameters",
        )
    })?;
    let mut tags = Vec::new();
    let mut vars = Vec::new();
    for (k, v) in parsed.args {
        if k == "tags" {
            tags.extend(
                v.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty()),
            );
        } else {
            vars.push((k, Value::from(v)));
        }
    }
    Ok((file, Some((Value::from_pairs(vars), tags))))
}

/// Maps merged left to right (later keys win).
pub(super) fn merge_maps<'a>(maps: impl Iterator<Item = &'a Value>) -> Value {
    let mut out: Vec<(Value, Value)> = Vec::new();
    for m in maps {
        let Ok(keys) = m.try_iter() else { continue };
        for k in keys {
            let v = m.get_item(&k).unwrap_or_default();
            match out.iter_mut().find(|(ok, _)| *ok == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
    }
    Value::from_pairs(out)
}

fn vars_files(node: &Node) -> LoadResult<Vec<(Vec<String>, Span)>> {
    if node.is_null() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for item in node.expect_seq("vars_files")? {
        let alts = keywords::string_list(item, "a vars file path")?;
        for (s, sp) in &alts {
            keywords::check_template_str(s, sp, false)?;
        }
        out.push((
            alts.into_iter().map(|(s, _)| s).collect(),
            item.span.clone(),
        ));
    }
    Ok(out)
}

/// `serial`, `max_fail_percentage` or `any_errors_fatal` of a play: read now when literal,
/// kept for [`Play::rules`] when any string in it is a template.
fn play_rule(play: &mut Play, key: RuleKey, node: &Node) -> LoadResult<()> {
    keywords::check_templates(node)?;
    if has_template(node) {
        play.templated.retain(|t| t.key != key);
        play.templated.push(TemplatedRule {
            key,
            value: node.to_value(),
            span: node.span.clone(),
        });
        return Ok(());
    }
    let v = node.to_value();
    let at = |msg: String| LoadError::new(&node.span, msg);
    match key {
        RuleKey::Serial => play.serial = super::rules::serial(&v).map_err(at)?,
        RuleKey::MaxFailPercentage => {
            play.max_fail_percentage = Some(super::rules::percentage(&v).map_err(at)?)
        }
        RuleKey::AnyErrorsFatal => {
            play.any_errors_fatal = super::rules::boolean(&v, "any_errors_fatal").map_err(at)?
        }
    }
    Ok(())
}

fn has_template(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Str(s) => !node.unsafe_str && is_template(s),
        NodeKind::Seq(items) => items.iter().any(has_template),
        NodeKind::Map(entries) => entries.iter().any(|(_, v)| has_template(v)),
        _ => false,
    }
}
