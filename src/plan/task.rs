//! Reading task lists: tasks, blocks, handlers, `meta`, and task-file imports and includes.
//! Module arguments are assembled from their three forms (mapping, `k=v`, free-form) plus
//! `args:`, and checked against the module's own argument struct.

use super::foreign;
use super::keywords::{
    self, COMMON, check_template_str, common, conds, did_you_mean, inherit, key_str, value,
};
use super::kv;
use super::load::{Loader, Scope, parent_dir, search_file};
use super::model::*;
use super::role::RoleRef;
use crate::error::{LoadError, LoadResult, Span};
use crate::modules::{ArgError, DynModule, FreeForm, REGISTRY};
use crate::vocab::is_template;
use crate::yaml::{Node, NodeKind};
use minijinja::Value;
use std::path::Path;
use std::sync::Arc;

/// Task keywords besides [`COMMON`] (`with_<lookup>` is matched by prefix).
const TASK_KEYS: &[&str] = &[
    "name",
    "loop",
    "loop_control",
    "register",
    "notify",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "args",
    "action",
    "local_action",
    "listen",
];

/// Actions the loader handles itself (they are not modules).
const LOADER_ACTIONS: &[&str] = &[
    "include_tasks",
    "import_tasks",
    "include",
    "include_role",
    "import_role",
    "meta",
    "import_playbook",
];

const BLOCK_KEYS: &[&str] = &["block", "rescue", "always", "name"];

const META: &[(&str, Meta)] = &[
    ("flush_handlers", Meta::FlushHandlers),
    ("end_play", Meta::EndPlay),
    ("end_host", Meta::EndHost),
    ("end_batch", Meta::EndBatch),
    ("noop", Meta::Noop),
    ("clear_facts", Meta::ClearFacts),
    ("clear_host_errors", Meta::ClearHostErrors),
    ("refresh_inventory", Meta::RefreshInventory),
    ("reset_connection", Meta::ResetConnection),
];

/// One loaded entry of a task list; `listen` is kept for handlers.
pub(super) struct Entry {
    pub node: TaskNode,
    pub listen: Vec<String>,
}

/// The task-only keywords of one task, read before its action is known.
#[derive(Default)]
struct Draft<'n> {
    name: Option<String>,
    loop_: Option<(LoopSource, Span)>,
    loop_control: LoopControl,
    register: Option<String>,
    notify: Vec<String>,
    listen: Vec<String>,
    changed_when: Vec<Cond>,
    failed_when: Vec<Cond>,
    until: Vec<Cond>,
    retries: Option<Value>,
    delay: Option<Value>,
    args: Option<&'n Node>,
    local_action: bool,
    /// Keys that only a real task can take (an import refuses them).
    task_only: Vec<(String, Span)>,
}

/// The action part of a task: its key (as written) and value.
struct ActionSpec<'n> {
    key: &'n Node,
    name: String,
    kind: ActionKind,
    /// The arguments: the key's value, or what `action:`/`local_action:` gave after the name.
    args: ArgSource<'n>,
}

enum ActionKind {
    Module(&'static dyn DynModule),
    Loader(&'static str),
    /// A module that cannot run here: the error a host reaching the task fails with.
    Unavailable(LoadError),
}

enum ArgSource<'n> {
    Node(&'n Node),
    /// `action: copy src=a dest=b`: the text after the module name, at the value's span.
    Text(String, Span),
    /// `action: {module: copy, src: a}`: the other entries.
    Entries(Vec<&'n (Node, Node)>),
}

/// Where each argument came from, to place an [`ArgError`].
struct ArgSpans {
    entries: Vec<(String, Span, Span)>,
    /// For arguments from a `k=v` string, and for errors about the whole mapping.
    whole: Span,
}

fn strip_collection(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

fn loader_action(name: &str) -> Option<&'static str> {
    let short = strip_collection(name);
    LOADER_ACTIONS.iter().copied().find(|a| *a == short)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn known_words() -> impl Iterator<Item = &'static str> {
    TASK_KEYS
        .iter()
        .chain(COMMON)
        .chain(LOADER_ACTIONS)
        .copied()
        .chain(REGISTRY.iter().map(|m| m.name()))
}

impl Loader<'_> {
    pub fn load_task_list(&mut self, node: &Node, scope: &Scope) -> LoadResult<Vec<TaskNode>> {
        Ok(self
            .load_entries(node, scope)?
            .into_iter()
            .map(|e| e.node)
            .collect())
    }

    pub fn load_entries(&mut self, node: &Node, scope: &Scope) -> LoadResult<Vec<Entry>> {
        let mut out = Vec::new();
        if node.is_null() {
            return Ok(out);
        }
        for item in node.expect_seq("a task list")? {
            self.load_task_entry(item, scope, &mut out)?;
        }
        Ok(out)
    }

    /// Loads a task file; `span` is the include that names it.
    pub fn load_task_file(
        &mut self,
        path: &Path,
        scope: &Scope,
        span: Option<&Span>,
    ) -> LoadResult<Vec<TaskNode>> {
        Ok(self
            .load_entries_file(path, scope, span)?
            .into_iter()
            .map(|e| e.node)
            .collect())
    }

    fn load_entries_file(
        &mut self,
        path: &Path,
        scope: &Scope,
        span: Option<&Span>,
    ) -> LoadResult<Vec<Entry>> {
        self.enter(path, span)?;
        let scope = Scope {
            dir: parent_dir(path),
            ..scope.clone()
        };
        let result = match self.read_yaml(path, span)? {
            Some(node) => self.load_entries(&node, &scope),
            None => Ok(vec![]),
        };
        self.stack.pop();
        result
    }

    /// A handlers list: each task answers to its name, `role : name` and its `listen` topics.
    pub fn load_handler_list(&mut self, node: &Node, scope: &Scope) -> LoadResult<Vec<Handler>> {
        let entries = self.load_entries(node, scope)?;
        Ok(to_handlers(entries))
    }

    pub fn load_handler_file(&mut self, path: &Path, scope: &Scope) -> LoadResult<Vec<Handler>> {
        let entries = self.load_entries_file(path, scope, None)?;
        Ok(to_handlers(entries))
    }

    fn load_task_entry(
        &mut self,
        node: &Node,
        scope: &Scope,
        out: &mut Vec<Entry>,
    ) -> LoadResult<()> {
        let map = node.expect_map("a task")?;
        if map
            .iter()
            .any(|(k, _)| matches!(k.as_str(), Some("block" | "rescue" | "always")))
        {
            return self.load_block(node, scope, out);
        }
        let mut d = Draft::default();
        let mut own = Keywords::default();
        let mut actions: Vec<&(Node, Node)> = Vec::new();
        for entry in map {
            let (k, v) = entry;
            let key = key_str(k)?;
            if self.task_keyword(&key, k, v, scope, &mut d)? {
                if key == "action" || key == "local_action" {
                    actions.push(entry);
                }
                continue;
            }
            if !common(&key, v, &mut own)? {
                actions.push(entry);
            }
        }
        let spec = resolve_action(node, &actions, self.lazy)?;
        if d.local_action {
            if let Some(v) = map.iter().find(|(k, _)| k.as_str() == Some("delegate_to")) {
                return Err(LoadError::new(
                    &v.0.span,
                    "`delegate_to` cannot be combined with `local_action`",
                )
                .hint("local_action already runs the task on the controller"));
            }
            own.delegate_to = Some(Value::from("localhost"));
        }
        match spec.kind {
            ActionKind::Module(m) => {
                let layers = [&scope.kw.module_defaults[..], &own.module_defaults[..]].concat();
                let defaults = super::defaults::for_module(m.name(), &layers);
                let (action, args) = match module_args(m, &spec, d.args, defaults) {
                    Ok(args) => (Action::Module(m), args),
                    // In a dynamically included file, as in Ansible, bad arguments fail the
                    // host that runs the task (a RedHat-only task's `enablerepo`...).
                    Err(e) if self.lazy => (self.unavailable(e), Value::from(())),
                    Err(e) => return Err(e),
                };
                out.push(self.task(node, &spec.name, action, args, d, own, scope));
                Ok(())
            }
            ActionKind::Loader(a) => self.loader_action(a, node, spec, d, own, scope, out),
            ActionKind::Unavailable(e) => {
                let action = if foreign::is_foreign(&spec.name) {
                    Action::Unavailable(Arc::new(e))
                } else {
                    self.unavailable(e)
                };
                out.push(self.task(node, &spec.name, action, Value::from(()), d, own, scope));
                Ok(())
            }
        }
    }

    /// A task of a dynamically included file that cannot run: it fails the hosts that reach
    /// it, and `--syntax-check` warns about it.
    fn unavailable(&mut self, e: LoadError) -> Action {
        self.warnings.push(e.to_string());
        Action::Unavailable(Arc::new(e))
    }

    /// Reads one task-only keyword into `d`; false when `key` is not one.
    fn task_keyword<'n>(
        &mut self,
        key: &str,
        k: &Node,
        v: &'n Node,
        scope: &Scope,
        d: &mut Draft<'n>,
    ) -> LoadResult<bool> {
        let task_only = |d: &mut Draft<'_>| d.task_only.push((key.to_string(), k.span.clone()));
        match key {
            "name" => {
                let s = v.expect_scalar_string("name")?;
                check_template_str(&s, &v.span, v.unsafe_str)?;
                d.name = Some(s);
            }
            "loop" => {
                set_loop(d, LoopSource::Loop(value(v)?), k)?;
                task_only(d);
            }
            _ if key.starts_with("with_") => {
                let lookup = &key["with_".len()..];
                if !is_identifier(lookup) {
                    return Err(LoadError::new(
                        &k.span,
                        format!("`{}` is not a valid loop keyword", key),
                    ));
                }
                set_loop(d, LoopSource::With(lookup.to_string(), with_value(v)?), k)?;
                task_only(d);
            }
            "loop_control" => {
                d.loop_control = loop_control(v)?;
                task_only(d);
            }
            "register" => {
                let r = v.expect_scalar_string("register")?;
                if !is_identifier(&r) {
                    return Err(LoadError::new(
                        &v.span,
                        format!("`{}` is not a valid variable name for register", r),
                    )
                    .hint("use letters, digits and underscores, not starting with a digit"));
                }
                d.register = Some(r);
                task_only(d);
            }
            "notify" => {
                for (n, span) in keywords::string_list(v, "a handler name")? {
                    check_template_str(&n, &span, false)?;
                    self.play.notifies.push((n.clone(), span));
                    d.notify.push(n);
                }
                task_only(d);
            }
            "listen" => {
                if !scope.handlers {
                    return Err(
                        LoadError::new(&k.span, "`listen` is only valid on handlers")
                            .hint("move this task under `handlers:`, or use `notify:` here"),
                    );
                }
                d.listen = keywords::string_list(v, "a listen topic")?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
            }
            "changed_when" => {
                d.changed_when = conds(v)?;
                task_only(d);
            }
            "failed_when" => {
                d.failed_when = conds(v)?;
                task_only(d);
            }
            "until" => {
                d.until = conds(v)?;
                task_only(d);
            }
            "retries" => {
                d.retries = Some(keywords::scalar(v, "retries")?);
                task_only(d);
            }
            "delay" => {
                d.delay = Some(keywords::scalar(v, "delay")?);
                task_only(d);
            }
            "args" => {
                d.args = Some(v);
                task_only(d);
            }
            "local_action" => d.local_action = true,
            "action" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    fn task(
        &self,
        node: &Node,
        action_name: &str,
        action: Action,
        args: Value,
        d: Draft<'_>,
        own: Keywords,
        scope: &Scope,
    ) -> Entry {
        let task = Task {
            span: node.span.clone(),
            name: d.name,
            action_name: action_name.to_string(),
            action,
            args,
            kw: inherit(&scope.kw, &own),
            role: scope.role.clone(),
            loop_: d.loop_,
            loop_control: d.loop_control,
            register: d.register,
            notify: d.notify,
            changed_when: d.changed_when,
            failed_when: d.failed_when,
            until: d.until,
            retries: d.retries,
            delay: d.delay,
            local_action: d.local_action,
        };
        Entry {
            node: TaskNode::Task(Arc::new(task)),
            listen: d.listen,
        }
    }

    fn load_block(&mut self, node: &Node, scope: &Scope, out: &mut Vec<Entry>) -> LoadResult<()> {
        if scope.handlers {
            return Err(LoadError::new(&node.span, "a block cannot be a handler")
                .hint("write the handler's steps as separate handlers chained with `notify`, or put them in a file and use include_tasks"));
        }
        let mut own = Keywords::default();
        let mut name = None;
        let mut parts: [Option<&Node>; 3] = [None, None, None];
        for (k, v) in node.as_map().unwrap_or_default() {
            let key = key_str(k)?;
            match key.as_str() {
                "block" => parts[0] = Some(v),
                "rescue" => parts[1] = Some(v),
                "always" => parts[2] = Some(v),
                "name" => {
                    let s = v.expect_scalar_string("name")?;
                    check_template_str(&s, &v.span, v.unsafe_str)?;
                    name = Some(s);
                }
                "notify" => {
                    return Err(
                        LoadError::new(&k.span, "`notify` on a block is not supported")
                            .hint("put `notify:` on the tasks inside the block"),
                    );
                }
                _ => {
                    if !common(&key, v, &mut own)? {
                        let hint = did_you_mean(
                            &key,
                            BLOCK_KEYS.iter().chain(COMMON).copied(),
                            "a block takes block/rescue/always and keywords such as when, become, tags, vars",
                        );
                        return Err(LoadError::new(
                            &k.span,
                            format!("`{}` is not valid on a block", key),
                        )
                        .hint(hint));
                    }
                }
            }
        }
        let Some(block) = parts[0] else {
            return Err(
                LoadError::new(&node.span, "`rescue`/`always` without `block`")
                    .hint("put the tasks under `block:`"),
            );
        };
        let kw = inherit(&scope.kw, &own);
        let inner = Scope {
            kw: kw.clone(),
            ..scope.clone()
        };
        let block = self.load_task_list(block, &inner)?;
        let rescue = match parts[1] {
            Some(n) => self.load_task_list(n, &inner)?,
            None => vec![],
        };
        let always = match parts[2] {
            Some(n) => self.load_task_list(n, &inner)?,
            None => vec![],
        };
        out.push(Entry {
            node: TaskNode::Block(Arc::new(Block {
                span: node.span.clone(),
                name,
                kw,
                block,
                rescue,
                always,
                role: scope.role.clone(),
            })),
            listen: vec![],
        });
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn loader_action(
        &mut self,
        action: &'static str,
        node: &Node,
        spec: ActionSpec<'_>,
        d: Draft<'_>,
        own: Keywords,
        scope: &Scope,
        out: &mut Vec<Entry>,
    ) -> LoadResult<()> {
        let ArgSource::Node(val) = spec.args else {
            return Err(LoadError::new(
                &spec.key.span,
                format!("`{}` cannot be given through action/local_action", action),
            ));
        };
        match action {
            "meta" => {
                let m = meta(val)?;
                let args = Value::from(val.expect_scalar_string("meta")?);
                out.push(self.task(node, &spec.name, Action::Meta(m), args, d, own, scope));
                Ok(())
            }
            "import_playbook" => Err(LoadError::new(
                &spec.key.span,
                "import_playbook is only valid at the top level of a playbook",
            )
            .hint("move it out of the task list, next to the plays")),
            "import_tasks" => {
                let inc = include_spec(val, action)?;
                self.import_tasks(&spec, inc, d, own, scope, out)
            }
            "include_tasks" => {
                let inc = include_spec(val, action)?;
                self.include_tasks(node, &spec, inc, d, own, scope, out)
            }
            "include" => {
                // Legacy: static (an import) when nothing about it is decided at run time.
                let inc = include_spec(val, action)?;
                if is_template(&inc.file) || d.loop_.is_some() || !own.when.is_empty() {
                    self.include_tasks(node, &spec, inc, d, own, scope, out)
                } else {
                    self.import_tasks(&spec, inc, d, own, scope, out)
                }
            }
            "import_role" => {
                refuse_task_only(&d, "import_role")?;
                let r = self.role_include_spec(val, action)?;
                let kw = inherit(&scope.kw, &own);
                let mut handlers = Vec::new();
                let mut blocks = Vec::new();
                self.load_role_instance(&r, &kw, &scope.dir, false, &mut blocks, &mut handlers)?;
                self.play.task_role_handlers.append(&mut handlers);
                out.extend(blocks.into_iter().map(|node| Entry {
                    node,
                    listen: vec![],
                }));
                Ok(())
            }
            "include_role" => {
                let r = self.role_include_spec(val, action)?;
                let apply = apply_keywords(val)?;
                let child = child_keywords(scope, &own, &apply);
                let preloaded =
                    if is_template(&r.name) || r.tasks_from.as_deref().is_some_and(is_template) {
                        None
                    } else {
                        self.preload(&spec, &r.name, |l| {
                            let (mut handlers, mut blocks) = (Vec::new(), Vec::new());
                            l.load_role_instance(
                                &r,
                                &child,
                                &scope.dir,
                                false,
                                &mut blocks,
                                &mut handlers,
                            )?;
                            l.play.task_role_handlers.append(&mut handlers);
                            Ok(blocks)
                        })
                    };
                let args = node_args(val);
                let action = Action::IncludeRole {
                    name: r.name,
                    tasks_from: r.tasks_from,
                    preloaded,
                    kw: child,
                };
                out.push(self.task(node, &spec.name, action, args, d, own, scope));
                Ok(())
            }
            other => Err(LoadError::new(
                &spec.key.span,
                format!("`{}` is not handled here", other),
            )),
        }
    }

    fn import_tasks(
        &mut self,
        spec: &ActionSpec<'_>,
        inc: IncludeSpec<'_>,
        d: Draft<'_>,
        mut own: Keywords,
        scope: &Scope,
        out: &mut Vec<Entry>,
    ) -> LoadResult<()> {
        refuse_task_only(&d, &spec.name)?;
        if inc.apply.is_some() {
            return Err(
                LoadError::new(&spec.key.span, "`apply` is only valid on include_tasks")
                    .hint("keywords on an import apply to every imported task already"),
            );
        }
        if is_template(&inc.file) {
            return Err(LoadError::new(
                &inc.span,
                format!("{} needs a literal file name", spec.name),
            )
            .hint(
                "use include_tasks for a file name with a template: it is resolved at run time",
            ));
        }
        if let Some(v) = inc.vars {
            own.vars.push(v);
        }
        own.tags.extend(inc.tags);
        let path = self.task_file(&inc.file, &inc.span, scope)?;
        let inner = Scope {
            kw: inherit(&scope.kw, &own),
            ..scope.clone()
        };
        let entries = self.load_entries_file(&path, &inner, Some(&inc.span))?;
        out.extend(entries);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn include_tasks(
        &mut self,
        node: &Node,
        spec: &ActionSpec<'_>,
        inc: IncludeSpec<'_>,
        d: Draft<'_>,
        mut own: Keywords,
        scope: &Scope,
        out: &mut Vec<Entry>,
    ) -> LoadResult<()> {
        if let Some(v) = inc.vars {
            own.vars.push(v);
        }
        own.tags.extend(inc.tags);
        let apply = match inc.apply {
            Some(a) => apply_map(a)?,
            None => Keywords::default(),
        };
        let child = child_keywords(scope, &own, &apply);
        let preloaded = match self.task_file(&inc.file, &inc.span, scope) {
            _ if is_template(&inc.file) => None,
            // A file including itself (under a condition) is legal at run time.
            Ok(path) if self.is_loading(&path) => None,
            found => self.preload(spec, &inc.file, |l| {
                let inner = Scope {
                    kw: child.clone(),
                    ..scope.clone()
                };
                l.load_task_file(&found?, &inner, Some(&inc.span))
            }),
        };
        let args = Value::from_pairs([("file", Value::from(inc.file.as_str()))]);
        let action = Action::IncludeTasks {
            file: inc.file,
            preloaded,
            kw: child,
        };
        out.push(self.task(node, &spec.name, action, args, d, own, scope));
        Ok(())
    }

    /// Reads what a dynamic include with a static name names, as Ansible would only when a
    /// host reaches it: unknown modules in it become unavailable tasks, and an error is kept
    /// for the hosts that reach the include (and `--syntax-check`'s warnings), not raised.
    fn preload(
        &mut self,
        spec: &ActionSpec<'_>,
        name: &str,
        load: impl FnOnce(&mut Self) -> LoadResult<Vec<TaskNode>>,
    ) -> Preloaded {
        let (stack, roles, lazy) = (self.stack.len(), self.role_stack.len(), self.lazy);
        self.lazy = true;
        let loaded = load(self);
        self.lazy = lazy;
        match loaded {
            Ok(nodes) => Some(Ok(Arc::new(nodes))),
            Err(e) => {
                // An error may leave the files and roles it was in on the stacks.
                self.stack.truncate(stack);
                self.role_stack.truncate(roles);
                self.warnings.push(format!(
                    "{}: {} {}: a host that reaches it will fail: {}",
                    spec.key.span, spec.name, name, e
                ));
                Some(Err(Arc::new(e)))
            }
        }
    }

    /// Resolves a task file named by an include: beside the including file, then the role's
    /// `tasks/`, then the playbook's directory.
    fn task_file(&self, name: &str, span: &Span, scope: &Scope) -> LoadResult<std::path::PathBuf> {
        let role_tasks = scope.role.as_ref().map(|r| r.path.join("tasks"));
        search_file(
            name,
            &scope.dir,
            role_tasks.as_deref(),
            Some(&self.playbook_dir),
        )
        .ok_or_else(|| {
            let mut dirs = vec![scope.dir.display().to_string()];
            if let Some(r) = &role_tasks {
                dirs.push(r.display().to_string());
            }
            dirs.push(self.playbook_dir.display().to_string());
            LoadError::new(span, format!("task file not found: {}", name))
                .hint(format!("looked in {}", dirs.join(", ")))
        })
    }

    /// `import_role:`/`include_role:` arguments.
    fn role_include_spec(&self, val: &Node, action: &str) -> LoadResult<RoleRef> {
        let map = val.expect_map(action)?;
        let mut r = RoleRef {
            name: String::new(),
            span: val.span.clone(),
            params: Value::from_pairs(std::iter::empty::<(String, Value)>()),
            kw: Keywords::default(),
            tasks_from: None,
            handlers_from: None,
            vars_from: None,
            defaults_from: None,
        };
        let mut name = None;
        for (k, v) in map {
            let key = key_str(k)?;
            let text = || -> LoadResult<String> {
                let s = v.expect_scalar_string(&key)?;
                check_template_str(&s, &v.span, false)?;
                Ok(s)
            };
            match key.as_str() {
                "name" => {
                    name = Some(text()?);
                    r.span = v.span.clone();
                }
                "tasks_from" => r.tasks_from = Some(text()?),
                "handlers_from" | "vars_from" | "defaults_from" if action == "import_role" => {
                    let t = Some(text()?);
                    match key.as_str() {
                        "handlers_from" => r.handlers_from = t,
                        "vars_from" => r.vars_from = t,
                        _ => r.defaults_from = t,
                    }
                }
                "apply" if action == "include_role" => {}
                "allow_duplicates" | "rolespec_validate" => {
                    keywords::literal_bool(v, &key)?;
                }
                "public" => {
                    if keywords::literal_bool(v, "public")? {
                        return Err(LoadError::new(
                            &v.span,
                            "`public: yes` is not supported",
                        )
                        .hint("use import_role, whose defaults and vars the rest of the play sees"));
                    }
                }
                _ => {
                    return Err(LoadError::new(
                        &k.span,
                        format!("`{}` is not an argument of {}", key, action),
                    )
                    .hint(if action == "include_role" {
                        "include_role takes name, tasks_from, apply, allow_duplicates, public; role parameters go under `vars:`"
                    } else {
                        "import_role takes name, tasks_from, handlers_from, vars_from, defaults_from; role parameters go under `vars:`"
                    }));
                }
            }
        }
        r.name = name.ok_or_else(|| {
            LoadError::new(&val.span, format!("{} needs `name:`", action))
                .hint("write `name: ROLE`")
        })?;
        Ok(r)
    }
}

fn to_handlers(entries: Vec<Entry>) -> Vec<Handler> {
    let mut out = Vec::new();
    for e in entries {
        let TaskNode::Task(task) = e.node else {
            continue;
        };
        let mut names = Vec::new();
        if let Some(n) = &task.name {
            names.push(n.clone());
            if let Some(r) = &task.role {
                names.push(format!("{} : {}", r.name, n));
            }
        }
        names.extend(e.listen);
        out.push(Handler { task, names });
    }
    out
}

/// What an include passes to the tasks it includes (see `Action::IncludeTasks::kw`).
fn child_keywords(scope: &Scope, own: &Keywords, apply: &Keywords) -> Keywords {
    let own = Keywords {
        when: vec![],
        tags: vec![],
        ..own.clone()
    };
    inherit(&inherit(&scope.kw, &own), apply)
}

fn apply_keywords(val: &Node) -> LoadResult<Keywords> {
    match val.get("apply") {
        Some(a) => apply_map(a),
        None => Ok(Keywords::default()),
    }
}

fn apply_map(a: &Node) -> LoadResult<Keywords> {
    let mut kw = Keywords::default();
    for (k, v) in a.expect_map("apply")? {
        let key = key_str(k)?;
        if !common(&key, v, &mut kw)? {
            return Err(LoadError::new(
                &k.span,
                format!("`{}` is not a keyword `apply` can pass on", key),
            )
            .hint(did_you_mean(
                &key,
                COMMON.iter().copied(),
                "use tags, when, become, vars...",
            )));
        }
    }
    Ok(kw)
}

fn refuse_task_only(d: &Draft<'_>, action: &str) -> LoadResult<()> {
    match d.task_only.first() {
        Some((key, span)) => Err(LoadError::new(
            span,
            format!("`{}` cannot be used with {}", key, action),
        )
        .hint("an import is expanded while loading; use include_tasks/include_role, which run as a task")),
        None => Ok(()),
    }
}

fn set_loop(d: &mut Draft<'_>, src: LoopSource, k: &Node) -> LoadResult<()> {
    if d.loop_.is_some() {
        return Err(LoadError::new(
            &k.span,
            "a task can have only one loop (loop or one with_*)",
        )
        .hint("remove one of them; `loop:` replaces with_items"));
    }
    d.loop_ = Some((src, k.span.clone()));
    Ok(())
}

/// A `with_*` value; a bare variable name (`with_items: pkgs`, legacy) means `"{{ pkgs }}"`.
fn with_value(v: &Node) -> LoadResult<Value> {
    if let Some(s) = v.as_str()
        && !v.unsafe_str
        && !s.is_empty()
        && s.split('.').all(is_identifier)
    {
        return Ok(Value::from(format!("{{{{ {} }}}}", s)));
    }
    value(v)
}

fn loop_control(v: &Node) -> LoadResult<LoopControl> {
    let mut lc = LoopControl::default();
    for (k, val) in v.expect_map("loop_control")? {
        let key = key_str(k)?;
        match key.as_str() {
            "loop_var" | "index_var" => {
                let s = val.expect_scalar_string(&key)?;
                if !is_identifier(&s) {
                    return Err(LoadError::new(
                        &val.span,
                        format!("`{}` is not a valid variable name", s),
                    ));
                }
                if key == "loop_var" {
                    lc.loop_var = Some(s);
                } else {
                    lc.index_var = Some(s);
                }
            }
            "label" => lc.label = Some(value(val)?),
            "pause" => {
                let p = match &val.kind {
                    NodeKind::Int(i) => crate::vocab::seconds(&i.to_string()),
                    NodeKind::Float(f) => crate::vocab::seconds(&f.to_string()),
                    NodeKind::Str(s) => crate::vocab::seconds(s),
                    _ => None,
                };
                lc.pause = Some(p.ok_or_else(|| {
                    LoadError::new(
                        &val.span,
                        "loop_control.pause must be a number of seconds, 0 or more",
                    )
                })?);
            }
            "extended" => lc.extended = keywords::literal_bool(val, "extended")?,
            _ => {
                return Err(LoadError::new(
                    &k.span,
                    format!("unknown loop_control option `{}`", key),
                )
                .hint(did_you_mean(
                    &key,
                    ["loop_var", "index_var", "label", "pause", "extended"],
                    "loop_control takes loop_var, index_var, label, pause and extended",
                )));
            }
        }
    }
    Ok(lc)
}

fn meta(v: &Node) -> LoadResult<Meta> {
    let s = v.expect_scalar_string("meta")?;
    META.iter()
        .find(|(n, _)| *n == s)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            LoadError::new(&v.span, format!("unknown meta action `{}`", s)).hint(did_you_mean(
                &s,
                META.iter().map(|(n, _)| *n),
                &format!(
                    "meta takes one of: {}",
                    META.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ))
        })
}

/// Finds the one action among the task's non-keyword keys.
fn resolve_action<'n>(
    task: &'n Node,
    keys: &[&'n (Node, Node)],
    lazy: bool,
) -> LoadResult<ActionSpec<'n>> {
    let mut found: Vec<ActionSpec<'n>> = Vec::new();
    for (k, v) in keys.iter().map(|e| (&e.0, &e.1)) {
        let name = key_str(k)?;
        let spec = if name == "action" || name == "local_action" {
            action_spec(k, v, lazy)?
        } else if let Some(a) = loader_action(&name) {
            ActionSpec {
                key: k,
                name,
                kind: ActionKind::Loader(a),
                args: ArgSource::Node(v),
            }
        } else if let Some(m) = crate::modules::lookup(&name) {
            ActionSpec {
                key: k,
                name,
                kind: ActionKind::Module(m),
                args: ArgSource::Node(v),
            }
        } else if let Some(e) = foreign::unavailable(&name, &k.span, lazy) {
            ActionSpec {
                key: k,
                name,
                kind: ActionKind::Unavailable(e),
                args: ArgSource::Node(v),
            }
        } else {
            return Err(unknown_action(k, &name));
        };
        found.push(spec);
    }
    match found.len() {
        0 => Err(LoadError::new(&task.span, "task has no module/action")
            .hint("a task needs one module key, such as `command: ls` or `debug: msg=hi`")),
        1 => Ok(found.remove(0)),
        _ => Err(LoadError::new(
            &found[1].key.span,
            format!(
                "task has two modules/actions: `{}` and `{}`",
                found[0].name, found[1].name
            ),
        )
        .hint("a task runs one module; split it into two tasks (is a keyword misspelled or mis-indented?)")),
    }
}

fn unknown_action(k: &Node, name: &str) -> LoadError {
    LoadError::new(
        &k.span,
        format!("`{}` is neither a task keyword nor a known module", name),
    )
    .hint(did_you_mean(
        strip_collection(name),
        known_words(),
        "`rmesos doc` lists the supported modules",
    ))
}

/// `action:`/`local_action:`: `copy src=a dest=b`, or a mapping with `module:`.
fn action_spec<'n>(k: &'n Node, v: &'n Node, lazy: bool) -> LoadResult<ActionSpec<'n>> {
    let (name, args, name_span) = match &v.kind {
        NodeKind::Map(entries) => {
            let Some((_, m)) = entries.iter().find(|(ek, _)| ek.as_str() == Some("module")) else {
                return Err(LoadError::new(&v.span, "action mapping needs `module:`")
                    .hint("write `local_action: {module: command, cmd: ls}` or `local_action: command ls`"));
            };
            let rest = entries
                .iter()
                .filter(|(ek, _)| ek.as_str() != Some("module"))
                .collect();
            (
                m.expect_scalar_string("module")?,
                ArgSource::Entries(rest),
                m.span.clone(),
            )
        }
        _ => {
            let s = v.expect_scalar_string("action")?;
            let s = s.trim_start();
            let (name, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
            (
                name.to_string(),
                ArgSource::Text(rest.trim_start().to_string(), v.span.clone()),
                v.span.clone(),
            )
        }
    };
    if loader_action(&name).is_some_and(|a| a != "meta") {
        return Err(LoadError::new(
            &name_span,
            format!("`{}` cannot be used through action/local_action", name),
        )
        .hint("write it as its own task key"));
    }
    let kind = match crate::modules::lookup(&name) {
        Some(m) => ActionKind::Module(m),
        None if loader_action(&name) == Some("meta") => ActionKind::Loader("meta"),
        None => match foreign::unavailable(&name, &name_span, lazy) {
            Some(e) => ActionKind::Unavailable(e),
            None => {
                return Err(
                    LoadError::new(&name_span, format!("unknown module `{}`", name)).hint(
                        did_you_mean(
                            strip_collection(&name),
                            REGISTRY.iter().map(|m| m.name()),
                            "`rmesos doc` lists the supported modules",
                        ),
                    ),
                );
            }
        },
    };
    Ok(ActionSpec {
        key: k,
        name,
        kind,
        args,
    })
}

/// A module's arguments being assembled, with where each came from.
struct ArgsBuilder {
    args: Vec<(String, Value)>,
    spans: ArgSpans,
}

impl ArgsBuilder {
    /// Sets an argument; a later form replaces an earlier one.
    fn put(&mut self, k: String, v: Value, key_span: &Span, value_span: &Span) {
        self.args.retain(|(ek, _)| *ek != k);
        self.spans.entries.retain(|(ek, _, _)| *ek != k);
        self.spans
            .entries
            .push((k.clone(), key_span.clone(), value_span.clone()));
        self.args.push((k, v));
    }

    fn mapping(&mut self, entries: &[(Node, Node)]) -> LoadResult<()> {
        for (k, v) in entries {
            self.put(key_str(k)?, value(v)?, &k.span, &v.span);
        }
        Ok(())
    }

    /// A `k=v` / free-form string, split the way the module takes it.
    fn text(&mut self, m: &dyn DynModule, s: &str, span: &Span) -> LoadResult<()> {
        check_template_str(s, span, false)?;
        let parsed = kv::parse(s, m.free_form()).map_err(|e| {
            LoadError::new(span, format!("module `{}`: {}", m.name(), e))
                .hint("write key=value pairs separated by spaces; quote values that contain spaces")
        })?;
        for (k, v) in parsed.args {
            self.put(k, Value::from(v), span, span);
        }
        if let Some(raw) = parsed.raw {
            self.put("_raw_params".into(), Value::from(raw), span, span);
        }
        Ok(())
    }
}

/// Builds a module's argument mapping from its forms, then checks it with the module.
fn module_args(
    m: &'static dyn DynModule,
    spec: &ActionSpec<'_>,
    args_kw: Option<&Node>,
    defaults: Vec<(String, Value)>,
) -> LoadResult<Value> {
    let mut b = ArgsBuilder {
        args: Vec::new(),
        spans: ArgSpans {
            entries: Vec::new(),
            whole: spec.key.span.clone(),
        },
    };
    // `module_defaults` below everything the task writes.
    let default_keys: Vec<String> = defaults.iter().map(|(k, _)| k.clone()).collect();
    for (k, v) in defaults {
        b.put(k, v, &spec.key.span, &spec.key.span);
    }
    // `args:` first: inline arguments win over it, as in Ansible's ModuleArgsParser.
    if let Some(a) = args_kw
        && !a.is_null()
    {
        let map = a.as_map().ok_or_else(|| {
            LoadError::new(
                &a.span,
                format!("args must be a mapping, found {}", a.type_name()),
            )
            .hint("write `args: {chdir: /tmp}`")
        })?;
        b.mapping(map)?;
    }
    match &spec.args {
        ArgSource::Node(v) => match &v.kind {
            NodeKind::Null => {}
            NodeKind::Map(entries) => b.mapping(entries)?,
            NodeKind::Seq(_) => {
                return Err(LoadError::new(
                    &v.span,
                    format!(
                        "module `{}` takes a mapping or a string, not a list",
                        m.name()
                    ),
                ));
            }
            // `!unsafe` text is never split or templated: all of it is the free-form text.
            NodeKind::Str(_) if v.unsafe_str => {
                b.put("_raw_params".into(), v.to_value(), &v.span, &v.span);
            }
            _ => {
                let s = v.expect_scalar_string("arguments")?;
                b.text(m, &s, &v.span)?;
            }
        },
        ArgSource::Text(s, span) => {
            if !s.is_empty() {
                b.text(m, s, span)?;
            }
        }
        ArgSource::Entries(entries) => {
            for (k, val) in entries.iter().map(|e| (&e.0, &e.1)) {
                b.put(key_str(k)?, value(val)?, &k.span, &val.span);
            }
        }
    }
    super::defaults::drop_shadowed(m, &default_keys, &mut b.args);
    // Text that is not key=value, given to a module that takes none, loads as Ansible loads it;
    // the module refuses it if a host reaches the task (`modules::raw_params_refused`).
    let checked: Vec<_> = b
        .args
        .iter()
        .filter(|(k, _)| !(k == "_raw_params" && m.free_form() == FreeForm::No))
        .cloned()
        .collect();
    check_rendered_later(m, checked).map_err(|e| arg_error(m, e, &b.spans))?;
    Ok(Value::from_pairs(b.args))
}

/// Checks a module's arguments, except an argument the module does not take whose value is a
/// template: it may render to `omit` (`enablerepo: "{{ x | default(omit) }}"`), and Ansible
/// drops omitted keys before the module sees them, so it is checked once rendered, at run time.
fn check_rendered_later(m: &dyn DynModule, mut args: Vec<(String, Value)>) -> Result<(), ArgError> {
    loop {
        let Err(e) = m.check_args(&Value::from_pairs(args.clone())) else {
            return Ok(());
        };
        let templated = unsupported_name(&e).and_then(|n| {
            args.iter()
                .position(|(k, v)| *k == n && v.as_str().is_some_and(is_template))
        });
        match templated {
            Some(i) => {
                args.remove(i);
            }
            None => return Err(e),
        }
    }
}

/// The argument an "unsupported argument `x`" error names (serde names it only in its message).
fn unsupported_name(e: &ArgError) -> Option<String> {
    let rest = e.msg.strip_prefix("unsupported argument `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Places an [`ArgError`] on the argument it is about.
fn arg_error(m: &dyn DynModule, e: ArgError, spans: &ArgSpans) -> LoadError {
    let named = e.path.first().cloned().or_else(|| unsupported_name(&e));
    let span = named
        .as_ref()
        .and_then(|n| spans.entries.iter().find(|(k, _, _)| k == n))
        .map(|(_, ks, vs)| if e.path.is_empty() { ks } else { vs })
        .unwrap_or(&spans.whole);
    LoadError::new(span, format!("module `{}`: {}", m.name(), e))
        .hint(format!("`rmesos doc {}` lists its arguments", m.name()))
}

/// An include's file and extras.
struct IncludeSpec<'n> {
    file: String,
    span: Span,
    /// Legacy `include: file.yml a=1 b=2`: variables for the included tasks.
    vars: Option<Value>,
    /// Legacy `include: file.yml tags=a,b`: tags of the include, as Ansible 2.x took them.
    tags: Vec<String>,
    apply: Option<&'n Node>,
}

fn include_spec<'n>(v: &'n Node, action: &str) -> LoadResult<IncludeSpec<'n>> {
    match &v.kind {
        NodeKind::Map(entries) => {
            let mut file = None;
            let mut apply = None;
            for (k, val) in entries {
                let key = key_str(k)?;
                match key.as_str() {
                    "file" | "_raw_params" => {
                        file = Some((val.expect_scalar_string("file")?, val.span.clone()))
                    }
                    "apply" if action != "import_tasks" => apply = Some(val),
                    _ => {
                        return Err(LoadError::new(
                            &k.span,
                            format!("`{}` is not an argument of {}", key, action),
                        )
                        .hint(format!("{} takes `file:` (and `apply:` for include_tasks); variables go under `vars:`", action)));
                    }
                }
            }
            let (file, span) =
                file.ok_or_else(|| LoadError::new(&v.span, format!("{} needs `file:`", action)))?;
            check_template_str(&file, &span, false)?;
            Ok(IncludeSpec {
                file,
                span,
                vars: None,
                tags: Vec::new(),
                apply,
            })
        }
        _ => {
            let s = v.expect_scalar_string("the file to include")?;
            check_template_str(&s, &v.span, false)?;
            let parsed = kv::parse(
                &s,
                FreeForm::Yes {
                    keys: None,
                    required: true,
                },
            )
            .map_err(|e| LoadError::new(&v.span, format!("{}: {}", action, e)))?;
            let mut vars: Vec<(String, Value)> = Vec::new();
            let mut tags = Vec::new();
            let mut file = parsed.raw;
            for (k, val) in parsed.args {
                if k == "file" && file.is_none() {
                    file = Some(val);
                } else if action == "include" && k == "tags" {
                    tags.extend(
                        val.split(',')
                            .map(|t| t.trim().to_string())
                            .filter(|t| !t.is_empty()),
                    );
                } else if action == "include" {
                    vars.push((k, Value::from(val)));
                } else {
                    return Err(LoadError::new(
                        &v.span,
                        format!("`{}` is not an argument of {}", k, action),
                    )
                    .hint("pass variables with `vars:` on the task"));
                }
            }
            let file = file
                .ok_or_else(|| LoadError::new(&v.span, format!("{} needs a file name", action)))?;
            Ok(IncludeSpec {
                file,
                span: v.span.clone(),
                vars: (!vars.is_empty()).then(|| Value::from_pairs(vars)),
                tags,
                apply: None,
            })
        }
    }
}

/// An action's value as its task's `args` (for output and `--list-tasks`).
fn node_args(v: &Node) -> Value {
    match &v.kind {
        NodeKind::Map(_) => v.to_value(),
        _ => Value::from_pairs(std::iter::empty::<(String, Value)>()),
    }
}
