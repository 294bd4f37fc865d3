//! The plan's types.

use crate::error::{LoadError, Span};
use crate::modules::DynModule;
use minijinja::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Playbook {
    pub path: PathBuf,
    /// `playbook_dir`: where the top playbook lives (imports keep the top one's).
    pub dir: PathBuf,
    pub plays: Vec<Play>,
    /// Problems of dynamically included files, which fail only the hosts that reach them
    /// (`--syntax-check` shows them as warnings), each with the include's location.
    pub warnings: Vec<String>,
}

/// The tasks of an include whose name is static, read with the playbook: `Ok` when they
/// loaded, `Err` (kept, not raised) when they did not: a host that reaches the include fails
/// with it, a host that does not never sees it, as with Ansible's lazy includes.
pub type Preloaded = Option<Result<Arc<Vec<TaskNode>>, Arc<LoadError>>>;

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
    /// `serial`, `max_fail_percentage` and `any_errors_fatal` as written literally; those
    /// written as templates are in `templated` and win (see [`Play::rules`]).
    pub serial: Vec<Serial>,
    pub strategy: Strategy,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    /// Play keywords among `serial`, `max_fail_percentage`, `any_errors_fatal` given as
    /// templates: rendered when the play starts, with its vars and the extra vars.
    pub templated: Vec<TemplatedRule>,
    /// `vars_prompt`: what to ask before the play runs (the app asks; see [`VarPrompt`]).
    pub vars_prompt: Vec<VarPrompt>,
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

/// A play keyword written as a template (`serial: "{{ batch | default(1) }}"`).
#[derive(Clone, Debug)]
pub struct TemplatedRule {
    pub key: RuleKey,
    /// The raw value (a string or a list holding templates).
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKey {
    Serial,
    MaxFailPercentage,
    AnyErrorsFatal,
}

/// How a play splits its hosts and when it stops, as the play runs them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlayRules {
    pub serial: Vec<Serial>,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
}

/// One `vars_prompt` entry. Without an answer (no terminal, nothing given with `-e`) the
/// default is used, as in Ansible; with neither, the run cannot start.
#[derive(Clone, Debug)]
pub struct VarPrompt {
    pub name: String,
    /// The question (`prompt:`, else the name).
    pub prompt: String,
    /// Do not echo the answer (Ansible's default: yes).
    pub private: bool,
    pub default: Option<Value>,
    /// Ask twice; the answers must match.
    pub confirm: bool,
    /// `unsafe: yes`: the answer is never templated.
    pub unsafe_: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Serial {
    Count(usize),
    Percent(f64),
}

impl Play {
    /// `serial`, `max_fail_percentage` and `any_errors_fatal` with the templated ones rendered
    /// by `render` (the play's vars and the extra vars) and read as Ansible reads them.
    pub fn rules(
        &self,
        render: impl Fn(&Value) -> Result<Value, String>,
    ) -> Result<PlayRules, crate::error::LoadError> {
        let mut rules = PlayRules {
            serial: self.serial.clone(),
            max_fail_percentage: self.max_fail_percentage,
            any_errors_fatal: self.any_errors_fatal,
        };
        for t in &self.templated {
            let at = |msg: String| crate::error::LoadError::new(&t.span, msg);
            let v = render(&t.value).map_err(at)?;
            match t.key {
                RuleKey::Serial => rules.serial = super::rules::serial(&v).map_err(at)?,
                RuleKey::MaxFailPercentage => {
                    rules.max_fail_percentage = Some(super::rules::percentage(&v).map_err(at)?)
                }
                RuleKey::AnyErrorsFatal => {
                    rules.any_errors_fatal =
                        super::rules::boolean(&v, "any_errors_fatal").map_err(at)?
                }
            }
        }
        Ok(rules)
    }

    /// Adds play vars (answers to `vars_prompt`): they override the play's own.
    pub fn add_vars(&mut self, vars: Vec<(String, Value)>) {
        let extra = Value::from_pairs(vars);
        self.vars = super::load::merge_maps([&self.vars, &extra].into_iter());
    }
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
    /// `module_defaults` mappings (module name → arguments), outermost first; already merged
    /// into each module task's arguments, kept for tasks loaded at run time.
    pub module_defaults: Vec<Value>,
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
    /// A module that cannot run here (another platform's, or unknown in a dynamically included
    /// file): the host that reaches the task fails with this error (file:line:col, a hint).
    Unavailable(Arc<LoadError>),
    Meta(Meta),
    /// `include_tasks` / task-level `include` with a templated name or a loop: loaded at run
    /// time. `preloaded` holds the tasks when the name is static (read at load time).
    IncludeTasks {
        file: String,
        preloaded: Preloaded,
        /// What the included tasks inherit: the include's keywords without its own `when`
        /// (evaluated once, on the include) and its own `tags` (they select the include
        /// only), plus its `apply:` keywords. Pass it to `load_tasks_file`.
        kw: Keywords,
    },
    /// `include_role` (dynamic). `import_role` is expanded at load time.
    IncludeRole {
        name: String,
        tasks_from: Option<String>,
        preloaded: Preloaded,
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
    pub pause: Option<std::time::Duration>,
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
