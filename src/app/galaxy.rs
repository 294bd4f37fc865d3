//! `rmesos galaxy install`: roles from a `requirements.yml` (or the command line) whose
//! sources are on this machine: a role directory, or a tarball (`.tar.gz`, `.tgz`, `.tar.bz2`,
//! `.tar.xz`, `.tar`; also as `file://`), unpacked with the system's `tar` into the first
//! roles path (`-p`, else ANSIBLE_ROLES_PATH / ansible.cfg `roles_path` / `~/.ansible/roles`).
//! Sources that need the network (Galaxy names, `https://`, git) are refused with what to do
//! instead; `collections:` entries are skipped with a warning (rmesos' modules are built in).

use super::config::AnsibleCfg;
use super::error::AppError;
use super::exit::Exit;
use crate::error::{LoadError, Span};
use crate::yaml::{Node, NodeKind};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct GalaxyArgs {
    #[command(subcommand)]
    pub action: GalaxyAction,
}

#[derive(Subcommand)]
pub enum GalaxyAction {
    /// Install roles (as `ansible-galaxy install`), from local directories or tarballs.
    Install(InstallArgs),
}

#[derive(Args)]
pub struct InstallArgs {
    /// Roles to install: SRC[,VERSION[,NAME]] (a directory or a tarball).
    pub roles: Vec<String>,
    /// A requirements file listing the roles.
    #[arg(short = 'r', long = "role-file")]
    pub role_file: Option<PathBuf>,
    /// Where to install (default: the first roles path).
    #[arg(short = 'p', long = "roles-path")]
    pub roles_path: Option<PathBuf>,
    /// Replace roles that are already installed.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// One role to install.
#[derive(Debug, PartialEq)]
pub struct Requirement {
    pub src: String,
    pub name: String,
    pub version: Option<String>,
    pub span: Span,
}

pub fn main(a: GalaxyArgs) -> Result<Exit, AppError> {
    let GalaxyAction::Install(a) = a.action;
    let cfg = AnsibleCfg::discover()?;
    let dest = match &a.roles_path {
        Some(p) => p.clone(),
        None => cfg
            .roles_path()
            .into_iter()
            .next()
            .unwrap_or_else(|| "roles".into()),
    };
    let mut reqs = Vec::new();
    if let Some(file) = &a.role_file {
        reqs.extend(requirements_file(file)?);
    }
    for arg in &a.roles {
        reqs.push(spec_string(arg, &Span::none("the command line"))?);
    }
    if reqs.is_empty() {
        return Err(LoadError::plain("nothing to install")
            .hint("give roles, or -r requirements.yml")
            .into());
    }
    println!("Starting galaxy role install process");
    let base = a
        .role_file
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    // Every source is found before anything is installed: a bad entry changes nothing.
    let found = reqs
        .iter()
        .map(|r| locate(r, base).map(|p| (r, p)))
        .collect::<Result<Vec<_>, _>>()?;
    for (r, path) in found {
        install(r, &path, &dest, a.force)?;
    }
    Ok(Exit::Ok)
}

/// The roles a requirements file lists: a list, or a mapping with `roles:` (its
/// `collections:` are skipped with a warning).
pub fn requirements_file(path: &Path) -> Result<Vec<Requirement>, AppError> {
    let docs = crate::yaml::load_file(path)?;
    let Some(doc) = docs.into_iter().next().filter(|d| !d.is_null()) else {
        return Ok(vec![]);
    };
    let roles = match &doc.kind {
        NodeKind::Seq(_) => Some(&doc),
        NodeKind::Map(_) => {
            if let Some(c) = doc.get("collections").and_then(Node::as_seq) {
                for item in c {
                    let name = item.get("name").unwrap_or(item);
                    eprintln!(
                        "[WARNING]: skipping collection {}: rmesos has its modules built in",
                        name.as_str().unwrap_or("?")
                    );
                }
            }
            doc.get("roles")
        }
        _ => None,
    };
    let Some(roles) = roles else {
        return Err(LoadError::new(&doc.span, "a requirements file lists roles")
            .hint("write a list of `- src: ...` entries, or `roles:` holding one")
            .into());
    };
    if roles.is_null() {
        return Ok(vec![]);
    }
    let items = roles.expect_seq("roles")?;
    items
        .iter()
        .map(requirement)
        .collect::<Result<_, _>>()
        .map_err(AppError::from)
}

fn requirement(node: &Node) -> Result<Requirement, LoadError> {
    if node.as_map().is_none() {
        return spec_string(&node.expect_scalar_string("a role")?, &node.span);
    }
    let field = |k: &str| -> Result<Option<String>, LoadError> {
        node.get(k).map(|v| v.expect_scalar_string(k)).transpose()
    };
    if node.get("include").is_some() {
        return Err(LoadError::new(
            &node.span,
            "`include:` of another requirements file is not supported",
        )
        .hint("list the roles in one file"));
    }
    let src = match (field("src")?, field("name")?) {
        (Some(s), _) => s,
        (None, Some(n)) => n,
        (None, None) => {
            return Err(LoadError::new(&node.span, "a role entry needs `src:`")
                .hint("write `- src: path/to/role.tar.gz` (and `name:`)"));
        }
    };
    if field("scm")?.is_some() {
        return Err(network(&src, &node.span));
    }
    Ok(Requirement {
        name: field("name")?.unwrap_or_else(|| role_name(&src)),
        src,
        version: field("version")?,
        span: node.span.clone(),
    })
}

/// `SRC[,VERSION[,NAME]]`, the string form of a requirement.
fn spec_string(s: &str, span: &Span) -> Result<Requirement, LoadError> {
    let mut parts = s.split(',').map(str::trim);
    let src = parts.next().unwrap_or_default().to_string();
    let version = parts.next().filter(|v| !v.is_empty()).map(str::to_string);
    let name = parts
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| role_name(&src));
    if src.is_empty() {
        return Err(LoadError::new(span, "an empty role source"));
    }
    Ok(Requirement {
        src,
        name,
        version,
        span: span.clone(),
    })
}

/// The role's directory name when none is given: the source's last part without an archive
/// or `.git` suffix (ansible-galaxy keeps the whole text of a local path; a name such as
/// `role.tar.gz` helps no playbook).
fn role_name(src: &str) -> String {
    let last = src.trim_end_matches('/').rsplit('/').next().unwrap_or(src);
    [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".git"]
        .iter()
        .find_map(|ext| last.strip_suffix(ext))
        .unwrap_or(last)
        .to_string()
}

fn network(src: &str, span: &Span) -> LoadError {
    LoadError::new(span, format!("role source `{}` needs the network", src)).hint(
        "rmesos installs from this machine only: download the role (a tarball or a directory) and point `src:` at it",
    )
}

/// Where a role's source is on this machine: a relative one is taken from `base` (the
/// requirements file's directory), then from the current directory.
fn locate(r: &Requirement, base: &Path) -> Result<PathBuf, LoadError> {
    let src = r.src.strip_prefix("file://").unwrap_or(&r.src);
    if src.contains("://") || src.starts_with("git+") || src.starts_with("git@") {
        return Err(network(&r.src, &r.span));
    }
    [base.join(src), PathBuf::from(src)]
        .into_iter()
        .find(|p| p.exists())
        .ok_or_else(|| {
            let hint = if src.contains('/') || src.contains(".tar") {
                "the path is relative to the requirements file".to_string()
            } else {
                "a bare name is a Galaxy role, which needs the network: download it and point `src:` at the file".to_string()
            };
            LoadError::new(&r.span, format!("role source not found: {}", r.src)).hint(hint)
        })
}

/// Installs one role from `path` into `dest/NAME`.
fn install(r: &Requirement, path: &Path, dest: &Path, force: bool) -> Result<(), AppError> {
    let target = dest.join(&r.name);
    let label = match &r.version {
        Some(v) => format!("{} ({})", r.name, v),
        None => r.name.clone(),
    };
    if target.exists() && !force {
        println!("- {} is already installed, skipping.", label);
        return Ok(());
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| -> AppError {
        LoadError::new(&r.span, format!("{} {}: {}", what, r.name, e)).into()
    };
    std::fs::create_dir_all(dest).map_err(|e| fail("cannot create the roles path for", &e))?;
    // Unpack next to the target so that the final move is a rename.
    let tmp = tempfile::tempdir_in(dest).map_err(|e| fail("cannot unpack", &e))?;
    let root = if path.is_dir() {
        copy_dir(path, &tmp.path().join("role")).map_err(|e| fail("cannot copy", &e))?;
        tmp.path().join("role")
    } else {
        println!("- extracting {} to {}", r.name, target.display());
        unpack(path, tmp.path()).map_err(|e| fail("cannot unpack", &e))?
    };
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| fail("cannot replace", &e))?;
    }
    std::fs::rename(&root, &target).map_err(|e| fail("cannot install", &e))?;
    println!("- {} was installed successfully", label);
    Ok(())
}

/// Unpacks a tarball into `into` with the system's tar; returns the role's root: the one
/// top directory holding `meta/main.yml` (as archives from Galaxy and GitHub have), else `into`.
fn unpack(archive: &Path, into: &Path) -> Result<PathBuf, String> {
    let out = std::process::Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tar failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let has_meta =
        |d: &Path| d.join("meta/main.yml").is_file() || d.join("meta/main.yaml").is_file();
    if has_meta(into) {
        return Ok(into.to_path_buf());
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(into)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    match &entries[..] {
        [one] if one.is_dir() && has_meta(one) => Ok(one.clone()),
        _ => Err("this role does not appear to have a meta/main.yml file".into()),
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{LoadOptions, TaskNode, load_playbook};

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A tarball with a top directory (as GitHub makes them) and a role directory, installed
    /// from a requirements file, are then found by a playbook through the roles path.
    #[test]
    fn requirements_install_tarballs_and_directories_that_playbooks_then_find() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(
            &d.join("src/zk-1.0/meta/main.yml"),
            "galaxy_info: {author: x}\n",
        );
        write(&d.join("src/zk-1.0/tasks/main.yml"), "- debug: msg=zk\n");
        let tar = std::process::Command::new("tar")
            .args(["-czf", "zk-1.0.tar.gz", "-C", "src", "zk-1.0"])
            .current_dir(d)
            .status()
            .unwrap();
        assert!(tar.success());
        write(&d.join("local/java/tasks/main.yml"), "- debug: msg=java\n");
        write(
            &d.join("requirements.yml"),
            "roles:\n  - src: zk-1.0.tar.gz\n    name: acme.zookeeper\n  - src: ./local/java\n  - src: file://zk-1.0.tar.gz\ncollections:\n  - community.general\n",
        );
        let reqs = requirements_file(&d.join("requirements.yml")).unwrap();
        let names: Vec<&str> = reqs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["acme.zookeeper", "java", "zk-1.0"]);
        let dest = d.join("installed");
        for r in &reqs {
            install(r, &locate(r, d).unwrap(), &dest, false).unwrap();
        }
        assert!(dest.join("acme.zookeeper/meta/main.yml").is_file());
        assert!(dest.join("java/tasks/main.yml").is_file());
        // Installed already: skipped, not replaced.
        install(&reqs[0], &d.join("zk-1.0.tar.gz"), &dest, false).unwrap();
        write(
            &d.join("play/site.yml"),
            "- hosts: all\n  roles: [acme.zookeeper, java]\n",
        );
        let opts = LoadOptions {
            roles_path: vec![dest.clone()],
            ..LoadOptions::default()
        };
        let pb = load_playbook(&d.join("play/site.yml"), &opts).unwrap();
        let names: Vec<String> = pb.plays[0]
            .roles
            .iter()
            .filter_map(|n| match n {
                TaskNode::Block(b) => b.name.clone(),
                TaskNode::Task(_) => None,
            })
            .collect();
        assert_eq!(names, ["acme.zookeeper", "java"]);
    }

    #[test]
    fn network_sources_are_refused_with_what_to_do() {
        let r = spec_string("geerlingguy.java", &Span::none("cli")).unwrap();
        let e = locate(&r, Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs the network"), "{e}");
        let r = spec_string("https://example.com/r.tar.gz,1.0,r", &Span::none("cli")).unwrap();
        assert_eq!((r.name.as_str(), r.version.as_deref()), ("r", Some("1.0")));
        let e = locate(&r, Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("needs the network"), "{e}");
    }
}
