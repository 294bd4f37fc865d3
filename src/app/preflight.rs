//! What a run checks once its playbooks and inventory are loaded, before it touches a host:
//! mistakes that would otherwise run nothing and exit 0, leaving a CI job green having done
//! nothing. Each is an error naming what matched nothing (exit 1, nothing run):
//!
//! - `--limit` that matches no host of the inventory, or `--limit @FILE` whose file cannot be
//!   read (ansible-playbook fails both, exit 1; the listings check this one too);
//! - `--start-at-task` that names no task of the playbooks (ansible-playbook prints an error
//!   after running nothing, and exits 0);
//! - a run where no play has a host (its pattern, within `--limit`, matches nothing). A play
//!   among others that matches nothing is skipped with a line, as in Ansible, whose run
//!   exits 0 even when every play is skipped.
//!
//! A play whose pattern is templated (`hosts: "{{ target }}"`) counts as having hosts: its
//! pattern is rendered when the play starts.

use super::error::AppError;
use super::listing::walk;
use super::session::Session;
use crate::exec::tags::starts_at;
use crate::vocab::is_template;

/// The `--limit` check alone (the listings make it too, as ansible-playbook does); the hosts
/// the limit allows.
pub fn limit(session: &Session) -> Result<Option<Vec<String>>, AppError> {
    let Some(limit) = &session.opts().limit else {
        return Ok(None);
    };
    let hosts = session
        .inventory()
        .select(limit)
        .map_err(AppError::Pattern)?;
    if hosts.is_empty() {
        return Err(AppError::NoHosts(format!(
            "--limit {limit:?} matches no host of the inventory"
        )));
    }
    Ok(Some(hosts))
}

/// The checks above, in that order.
pub fn check(session: &Session) -> Result<(), AppError> {
    let (inv, opts) = (session.inventory(), session.opts());
    let limited = limit(session)?;
    if let Some(name) = &opts.start_at_task {
        let found = session.books().iter().any(|pb| {
            pb.plays.iter().any(|play| {
                let mut tasks = Vec::new();
                for section in [&play.pre_tasks, &play.roles, &play.tasks, &play.post_tasks] {
                    walk(section, &mut tasks);
                }
                tasks.iter().any(|t| starts_at(name, t))
            })
        });
        if !found {
            return Err(AppError::NoSuchStartTask(name.clone()));
        }
    }
    let mut patterns = Vec::new();
    for play in session.books().iter().flat_map(|pb| &pb.plays) {
        if is_template(&play.hosts) {
            return Ok(());
        }
        // A pattern that cannot be read fails its play when it starts, as before.
        let Ok(mut hosts) = inv.select(&play.hosts) else {
            return Ok(());
        };
        if let Some(allowed) = &limited {
            hosts.retain(|h| allowed.contains(h));
        }
        if !hosts.is_empty() {
            return Ok(());
        }
        patterns.push(format!("{:?}", play.hosts));
    }
    if patterns.is_empty() {
        // No play at all (an empty playbook): nothing to say.
        return Ok(());
    }
    let within = opts
        .limit
        .as_ref()
        .map(|l| format!(" within --limit {l:?}"))
        .unwrap_or_default();
    Err(AppError::NoHosts(format!(
        "no play has a host to run on: {} matched no host of the inventory{within}",
        patterns.join(", ")
    )))
}
