//! The plan: playbooks, plays, roles, blocks, tasks and handlers, loaded and validated before any
//! host is touched. Roles and static imports are expanded here; keywords inherited from play,
//! role and block are folded into each task, so the executor reads one [`Keywords`] per task.
//! Values that may be templated stay [`Value`]s holding their source text until run time.
//!
//! Ansible choices made here: inline module arguments win over `args:` (as ModuleArgsParser
//! does); `with_items: name` with a bare (dotted) identifier means `"{{ name }}"`; `when:
//! "{{ x }}"` is stored as `x`; legacy task `include` is an import unless its file name is
//! templated or it loops; roles in `roles:` (and their dependencies) run once per play per
//! parameters unless their meta sets `allow_duplicates`; `notify` targets are checked at load.
//!
//! Knows YAML, the module registry (to check arguments) and the templar (to check template
//! syntax). Knows nothing of hosts, connections or SSH.

mod defaults;
mod foreign;
mod keywords;
pub mod kv;
pub mod load;
pub mod model;
mod prompt;
mod role;
mod rules;
mod task;

pub use keywords::closest;
pub use load::{
    InventoryPlace, LoadOptions, find_task_file, load_playbook, load_playbook_text, load_tasks_file,
};
pub use model::*;
pub use role::load_role;
