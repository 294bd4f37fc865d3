//! Loading playbooks, roles and task files into the plan.

use super::model::*;
use crate::error::{LoadError, LoadResult};
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `roles_path` from ansible.cfg / ANSIBLE_ROLES_PATH; `roles/` beside the playbook is
    /// always searched first.
    pub roles_path: Vec<PathBuf>,
}

/// Loads a playbook and everything it imports; any error stops before a host is touched.
pub fn load_playbook(path: &Path, opts: &LoadOptions) -> LoadResult<Playbook> {
    let _ = (path, opts);
    Err(LoadError::plain("playbook loading is not implemented yet"))
}

/// Loads a task file at run time (`include_tasks` with a templated name), inheriting `kw`.
pub fn load_tasks_file(
    path: &Path,
    role: Option<Arc<RoleInfo>>,
    kw: &Keywords,
    opts: &LoadOptions,
) -> LoadResult<Vec<TaskNode>> {
    let _ = (path, role, kw, opts);
    Err(LoadError::plain("task file loading is not implemented yet"))
}

/// Loads a role at run time (`include_role`): its info, tasks and handlers.
pub fn load_role(
    name: &str,
    tasks_from: Option<&str>,
    params: Value,
    kw: &Keywords,
    from: &Path,
    opts: &LoadOptions,
) -> LoadResult<(Arc<RoleInfo>, Vec<TaskNode>, Vec<Handler>)> {
    let _ = (name, tasks_from, params, kw, from, opts);
    Err(LoadError::plain("role loading is not implemented yet"))
}
