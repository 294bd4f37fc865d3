//! `rmesos stack export DIR`: the Mesos stack (roles/, playbooks/, the example inventories),
//! which ships inside the binary (build.rs packs it), written out as editable copies.
//!
//! The same copies let `rmesos lab deploy` run from any directory ([`for_lab`]): a checkout's
//! (or an export's) `playbooks/lab.yml` in the current directory wins, so operators run what
//! they edit; elsewhere the embedded stack is written afresh to `.rmesos/lab/NAME/stack/`.
//! [`mesos_source`] is the check `rmesos ec2 launch` can run before it starts anything: the
//! same rule as the mesos role's first task.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indexmap::IndexMap;
use minijinja::Value;

use super::error::AppError;
use super::exit::Exit;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/stack_files.rs"));
}
pub use embedded::{FILES, LINKS};

/// The playbook `rmesos lab deploy` runs, relative to a stack's root.
pub const LAB_PLAYBOOK: &str = "playbooks/lab.yml";

#[derive(Args)]
pub struct StackArgs {
    #[command(subcommand)]
    pub command: StackCommand,
}

#[derive(Subcommand)]
pub enum StackCommand {
    /// Write the stack's roles, playbooks and example inventories into DIR, to edit and run
    /// with `rmesos play` (or ansible-playbook).
    Export(ExportArgs),
    /// List the files the binary carries.
    List,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Where to write (created if missing): DIR/roles, DIR/playbooks, DIR/inventory.
    pub dir: PathBuf,
    /// Overwrite files that exist and differ (by default nothing is written then).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} file(s) in {} differ from the stack's copies, so nothing was written: {}\n  = hint: \
         pass --force to overwrite them, or export into an empty directory",
        .files.len(), .dir.display(), .files.iter().take(5).map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    WouldOverwrite { dir: PathBuf, files: Vec<PathBuf> },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StackError + '_ {
    move |source| StackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a write did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub written: usize,
    pub unchanged: usize,
}

/// Runs a `rmesos stack` command.
pub fn main(args: StackArgs) -> Result<Exit, AppError> {
    match args.command {
        StackCommand::Export(a) => {
            let w = write_stack(&a.dir, a.force)?;
            println!(
                "stack written to {}: {} file(s) written, {} unchanged",
                a.dir.display(),
                w.written,
                w.unchanged
            );
            println!(
                "run it: rmesos play {}/playbooks/site.yml -i {}/inventory/static/hosts.ini",
                a.dir.display(),
                a.dir.display()
            );
        }
        StackCommand::List => {
            // A closed pipe (`| head`) ends the listing quietly.
            let mut out = std::io::stdout().lock();
            let lines = FILES
                .iter()
                .map(|(path, bytes)| format!("{path}\t{}", bytes.len()))
                .chain(
                    LINKS
                        .iter()
                        .map(|(path, target)| format!("{path} -> {target}")),
                );
            for line in lines {
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
        }
    }
    Ok(Exit::Ok)
}

/// Writes the embedded stack under `dir`. Without `overwrite`, a file that exists with other
/// contents stops the write before anything is written (an operator's edits are never lost).
pub fn write_stack(dir: &Path, overwrite: bool) -> Result<Written, StackError> {
    let mut differing = Vec::new();
    let mut w = Written::default();
    for (rel, bytes) in FILES {
        let path = dir.join(rel);
        match std::fs::read(&path) {
            Ok(old) if old == *bytes => w.unchanged += 1,
            Ok(_) => differing.push(PathBuf::from(rel)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    if !overwrite && !differing.is_empty() {
        return Err(StackError::WouldOverwrite {
            dir: dir.to_path_buf(),
            files: differing,
        });
    }
    for (rel, bytes) in FILES {
        let path = dir.join(rel);
        if std::fs::read(&path).is_ok_and(|old| old == *bytes) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
        w.written += 1;
    }
    for (rel, target) in LINKS {
        let path = dir.join(rel);
        match std::fs::read_link(&path) {
            Ok(t) if t == Path::new(target) => continue,
            Ok(_) => std::fs::remove_file(&path).map_err(io(&path))?,
            Err(_) if path.exists() => continue, // a real directory an operator made: keep it
            Err(_) => {}
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::os::unix::fs::symlink(target, &path).map_err(io(&path))?;
        w.written += 1;
    }
    Ok(w)
}

/// Where `rmesos lab deploy` finds its playbook when not given one: `playbooks/lab.yml` in
/// the current directory (a checkout or an export, so edits there are what runs), else the
/// embedded stack written afresh to `stack_dir` (so it always matches this binary). Returns
/// the playbook and whether it is the embedded copy.
pub fn for_lab(stack_dir: &Path) -> Result<(PathBuf, bool), StackError> {
    let local = Path::new(LAB_PLAYBOOK);
    if local.is_file() {
        return Ok((local.to_path_buf(), false));
    }
    if stack_dir.exists() {
        std::fs::remove_dir_all(stack_dir).map_err(io(stack_dir))?;
    }
    write_stack(stack_dir, true)?;
    Ok((stack_dir.join(LAB_PLAYBOOK), true))
}

/// The mesos role's rule for where Mesos comes from, checked on the controller before any
/// host exists (for `rmesos ec2 launch`): with the extra variables of the deploy, `Ok` when
/// the role's first task would pass; else the message saying what to set. A
/// `mesos_tarball_path` must also exist here, since it is uploaded from this machine.
pub fn mesos_source(vars: &IndexMap<String, Value>) -> Result<(), String> {
    let get = |name: &str| {
        vars.get(name)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let method = vars
        .get("mesos_install_method")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "tarball".into());
    match method.as_str() {
        "package" => Ok(()),
        "tarball" => {
            let path = get("mesos_tarball_path");
            if !path.is_empty() {
                return if Path::new(&path).is_file() {
                    Ok(())
                } else {
                    Err(format!(
                        "mesos_tarball_path {path} is not a file on this machine (build it with \
                         `scripts/build-mesos SRC_TARBALL OUT_DIR`)"
                    ))
                };
            }
            if !get("mesos_tarball_url").is_empty() {
                return Ok(());
            }
            Err(NO_MESOS_SOURCE.to_string())
        }
        other => Err(format!(
            "mesos_install_method is {other:?}; it must be \"tarball\" or \"package\""
        )),
    }
}

/// What to set when nothing says where Mesos comes from (the mesos role says the same).
pub const NO_MESOS_SOURCE: &str = "no Mesos source is configured, and no distribution packages \
    Mesos: build a binary tarball with `scripts/build-mesos SRC_TARBALL OUT_DIR` and pass \
    -e mesos_tarball_path=OUT_DIR/mesos-VERSION-debian12-amd64.tar.gz (uploaded from this \
    machine) or -e mesos_tarball_url=URL (your mirror); or -e mesos_install_method=package with \
    mesos_apt_repository naming a repository that has a `mesos` package";

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect()
    }

    #[test]
    fn the_binary_carries_every_role_and_playbook_of_the_checkout() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (rel, bytes) in FILES {
            let on_disk = std::fs::read(root.join(rel)).unwrap();
            assert_eq!(on_disk, *bytes, "{rel}");
        }
        let names: Vec<&str> = FILES.iter().map(|(p, _)| *p).collect();
        for needed in [
            "playbooks/lab.yml",
            "playbooks/site.yml",
            "roles/mesos/tasks/install.yml",
            "roles/java/tasks/main.yml",
            "inventory/static/hosts.ini",
        ] {
            assert!(names.contains(&needed), "{needed} is not embedded");
        }
        assert!(
            LINKS.contains(&("playbooks/roles", "../roles")),
            "{LINKS:?}"
        );
        // The link is kept as a link, not as a second copy of every role.
        assert!(!names.iter().any(|n| n.starts_with("playbooks/roles/")));
    }

    #[test]
    fn export_refuses_to_overwrite_edits_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_stack(dir.path(), false).unwrap();
        assert_eq!(first.unchanged, 0);
        assert_eq!(first.written, FILES.len() + LINKS.len());
        assert!(
            dir.path()
                .join("playbooks/roles/common/tasks/main.yml")
                .is_file()
        );
        let again = write_stack(dir.path(), false).unwrap();
        assert_eq!((again.written, again.unchanged), (0, FILES.len()));

        let edited = dir.path().join("roles/spark/defaults/main.yml");
        std::fs::write(&edited, "spark_mode: mesos\n").unwrap();
        let err = write_stack(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("roles/spark/defaults/main.yml"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&edited).unwrap(),
            "spark_mode: mesos\n"
        );
        let forced = write_stack(dir.path(), true).unwrap();
        assert_eq!(forced.written, 1);
        assert_ne!(
            std::fs::read_to_string(&edited).unwrap(),
            "spark_mode: mesos\n"
        );
    }

    #[test]
    fn a_mesos_source_is_a_tarball_here_a_url_or_a_package_repository() {
        let err = mesos_source(&vars(&[])).unwrap_err();
        assert!(err.contains("mesos_tarball_path"), "{err}");
        assert!(mesos_source(&vars(&[("mesos_tarball_url", "http://m/mesos.tgz")])).is_ok());
        assert!(mesos_source(&vars(&[("mesos_install_method", "package")])).is_ok());
        let missing = vars(&[("mesos_tarball_path", "/nonexistent/mesos.tar.gz")]);
        assert!(mesos_source(&missing).unwrap_err().contains("not a file"));
        let file = tempfile::NamedTempFile::new().unwrap();
        let here = vars(&[("mesos_tarball_path", file.path().to_str().unwrap())]);
        assert!(mesos_source(&here).is_ok());
        let bad = vars(&[("mesos_install_method", "source")]);
        assert!(mesos_source(&bad).unwrap_err().contains("\"source\""));
    }
}
