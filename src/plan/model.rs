//! The plan's types.

use crate::error::Span;
use crate::modules::DynModule;
use minijinja::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Playbook {
    pub path: PathBuf,
    /// `playbook_dir`: where the top playbook lives (imports keep the top one's).
    pub dir: PathBuf,
    pub plays: Vec<Play>,
}

pub struct Play {
    pub span: Span,
    pub name: String,
    /// A host pattern, possibly templated.
    pub hosts: String,
    pub gather_facts: bool,
    pub gather_subset: Vec<String>,
    /// Play `vars` (a mapping; values raw).
    pub vars: Value,
    /// `vars_files` entries (each a path, possibly templated, or a list of alternatives: first found).
    pub vars_files: Vec<(Vec<String>, Span)>,
    pub serial: Vec<Serial>,
    pub strategy: Strategy,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub force_handlers: bool,
    /// Play-level keywords (become, remote_user, connection, environment...): used for fact
    /// gathering; already folded into every task.
    pub kw: Keywords,
    pub pre_tasks: Vec<TaskNode>,
    /// One block per role listed under `roles:` (dependencies first), in order.
    pub roles: Vec<TaskNode>,
    pub tasks: Vec<TaskNode>,
    pub post_tasks: Vec<TaskNode>,
    /// Play handlers and every role's handlers, in load order.
    pub handlers: Vec<Handler>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Serial {
    Count(usize),
    Percent(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    Linear,
    Free,
}

/// A `when:`/`changed_when:`/`failed_when:`/`until:` condition: a bare Jinja expression (a
/// legacy `"{{ x }}"` form is accepted and unwrapped), or a literal boolean.
#[derive(Clone, Debug)]
pub struct Cond {
    pub expr: String,
    pub span: Span,
}

/// Keywords that a task inherits from its play, role and blocks. `Option`/`Value` fields may be
/// templated and are evaluated at run time; `None` means "not set anywhere".
#[derive(Clone, Debug, Default)]
pub struct Keywords {
    pub become_: Option<Value>,
    pub become_user: Option<Value>,
    pub become_method: Option<Value>,
    pub become_flags: Option<Value>,
    pub remote_user: Option<Value>,
    pub connection: Option<Value>,
    /// `environment` mappings, outermost first; inner keys win.
    pub environment: Vec<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    pub no_log: Option<Value>,
    pub any_errors_fatal: Option<bool>,
    pub run_once: Option<Value>,
    pub delegate_to: Option<Value>,
    pub delegate_facts: Option<bool>,
    /// Union of the task's and every enclosing play/role/block/include's tags.
    pub tags: Vec<String>,
    /// Every enclosing `when` and the task's own; all must hold.
    pub when: Vec<Cond>,
    /// Block `vars` (outermost first), then the task's own `vars`.
    pub vars: Vec<Value>,
    /// Per-task `timeout` in seconds.
    pub timeout: Option<Value>,
    pub throttle: Option<Value>,
    /// `async`: run the task's scripts as jobs detached from the session, limited to this
    /// many seconds; `poll`: check every this many seconds (0: start and go on).
    pub async_: Option<Value>,
    pub poll: Option<Value>,
    /// The `port` keyword (play, block, task). As in Ansible, a host's `ansible_port` wins.
    pub port: Option<Value>,
}

/// A role as one of its tasks sees it.
#[derive(Debug)]
pub struct RoleInfo {
    pub name: String,
    /// `role_path`.
    pub path: PathBuf,
    /// defaults/main.yml (lowest precedence).
    pub defaults: Value,
    /// vars/main.yml.
    pub vars: Value,
    /// Role parameters given where the role is listed.
    pub params: Value,
}

pub enum TaskNode {
    Task(Arc<Task>),
    Block(Arc<Block>),
}

pub struct Block {
    pub span: Span,
    pub name: Option<String>,
    pub kw: Keywords,
    pub block: Vec<TaskNode>,
    pub rescue: Vec<TaskNode>,
    pub always: Vec<TaskNode>,
    pub role: Option<Arc<RoleInfo>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    FlushHandlers,
    EndPlay,
    EndHost,
    EndBatch,
    Noop,
    ClearFacts,
    ClearHostErrors,
    RefreshInventory,
    ResetConnection,
}

pub enum Action {
    Module(&'static dyn DynModule),
    Meta(Meta),
    /// `include_tasks` / task-level `include` with a templated name or a loop: loaded at run
    /// time. `preloaded` holds the tasks when the name is static (checked at load time).
    IncludeTasks {
        file: String,
        preloaded: Option<Arc<Vec<TaskNode>>>,
        /// What the included tasks inherit: the include's keywords without its own `when`
        /// (evaluated once, on the include) and its own `tags` (they select the include
        /// only), plus its `apply:` keywords. Pass it to `load_tasks_file`.
        kw: Keywords,
    },
    /// `include_role` (dynamic). `import_role` is expanded at load time.
    IncludeRole {
        name: String,
        tasks_from: Option<String>,
        preloaded: Option<Arc<Vec<TaskNode>>>,
        /// As for `IncludeTasks`; pass it to `load_role`.
        kw: Keywords,
    },
}

#[derive(Clone, Debug)]
pub enum LoopSource {
    /// `loop: EXPR` (a list or a template yielding one).
    Loop(Value),
    /// `with_<lookup>: ARG` (items, dict, together, subelements, fileglob, nested, sequence,
    /// indexed_items, list, flattened, random_choice, lines...). The name is without `with_`.
    With(String, Value),
}

#[derive(Clone, Debug, Default)]
pub struct LoopControl {
    pub loop_var: Option<String>,
    pub index_var: Option<String>,
    pub label: Option<Value>,
    pub pause: Option<f64>,
    pub extended: bool,
}

pub struct Task {
    pub span: Span,
    pub name: Option<String>,
    /// The module's name as written (`ansible.builtin.copy`), for output.
    pub action_name: String,
    pub action: Action,
    /// The module's arguments (a mapping; values raw, templated at run time; free-form text is
    /// under `_raw_params`).
    pub args: Value,
    pub kw: Keywords,
    pub role: Option<Arc<RoleInfo>>,
    pub loop_: Option<(LoopSource, Span)>,
    pub loop_control: LoopControl,
    pub register: Option<String>,
    /// Handler names or `listen` topics.
    pub notify: Vec<String>,
    pub changed_when: Vec<Cond>,
    pub failed_when: Vec<Cond>,
    pub until: Vec<Cond>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    /// `local_action`: run on the controller (same as `delegate_to: localhost`).
    pub local_action: bool,
}

impl Task {
    /// What output shows for this task: its name, else `module`, prefixed by `role : `.
    pub fn display_name(&self) -> String {
        let base = self
            .name
            .clone()
            .unwrap_or_else(|| self.action_name.clone());
        match &self.role {
            Some(r) => format!("{} : {}", r.name, base),
            None => base,
        }
    }
}

pub struct Handler {
    pub task: Arc<Task>,
    /// The names it answers to: its name, `role : name`, and its `listen` topics.
    pub names: Vec<String>,
}
