//! `apt_repository`: one-line APT sources (`deb [opts] URI SUITE COMPONENTS`). One query reads
//! every sources file (sources.list and sources.list.d/*.list); the controller decides which
//! files change (the line is present if any file has an equivalent enabled line; removed from
//! every file that has it) and one script writes them atomically and updates the cache.

use super::pkgkit::{apt_get_fn, sections};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::files::filekit::content_diff;
use crate::modules::remote::{Attrs, q, write_error, write_step};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use base64::Engine;
use serde::Deserialize;

pub struct AptRepository;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RepoState {
    #[default]
    Present,
    Absent,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AptRepositoryArgs {
    repo: String,
    #[serde(default)]
    state: RepoState,
    filename: Option<String>,
    #[serde(default = "yes", alias = "update-cache")]
    update_cache: bool,
    mode: Option<FileMode>,
}

const ARGS: &[ArgDoc] = &[
    req(
        "repo",
        "The sources line: `deb [arch=amd64 signed-by=/etc/apt/keyrings/x.asc] URI SUITE COMPONENT...` (ppa: shortcuts are not supported).",
    ),
    one_of(
        dflt(
            "state",
            "present",
            "present adds the line unless an equivalent enabled line exists in any sources file (a commented-out copy in the target file is re-enabled); absent removes it from every file.",
        ),
        &["present", "absent"],
    ),
    arg(
        "filename",
        "Name of the file in /etc/apt/sources.list.d, without `.list`; by default derived from the URI's host and path, as Ansible does.",
    ),
    aka(
        dflt("update_cache", "yes", "Run apt-get update after a change."),
        &["update-cache"],
    ),
    dflt("mode", "0644", "Mode of the sources file written."),
];

impl Module for AptRepository {
    const NAME: &'static str = "apt_repository";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("repo", "the repository line"),
            ("sources_added", "files added"),
            ("sources_removed", "files removed"),
        ],
        summary: "Add or remove a one-line APT repository in sources.list.d.",
        args: ARGS,
        example: "- apt_repository:\n    repo: deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable\n    filename: docker\n    state: present\n",
    };
    type Args = AptRepositoryArgs;
    async fn run(
        &self,
        a: AptRepositoryArgs,
        cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        let fail = ModuleError::Failed;
        if a.repo.trim_start().starts_with("ppa:") {
            return Err(fail(
                "ppa: repositories are not supported (they need Launchpad's API): write the deb line and its signed-by key instead".into(),
            ));
        }
        let name = match &a.filename {
            Some(f) => f.trim_end_matches(".list").to_string(),
            None => suggest_filename(&a.repo),
        };
        if name.is_empty() || name.contains('/') {
            return Err(fail(format!("invalid filename {name:?}")));
        }
        let target = format!("/etc/apt/sources.list.d/{name}.list");
        let out = cx.run(READ_SOURCES, &[]).await?;
        if out.rc != 0 {
            return Err(fail(crate::modules::remote::host_error(
                "cannot read the APT sources",
                &out,
            )));
        }
        let files = parse_files(&out.stdout_str())?;
        let changes = plan(&files, &target, &a.repo, a.state)?;
        let mut o = Outcome::changed(!changes.is_empty())
            .with("repo", a.repo.as_str())
            .with(
                "state",
                if a.state == RepoState::Present {
                    "present"
                } else {
                    "absent"
                },
            )
            .with("sources_added", Vec::<String>::new())
            .with("sources_removed", Vec::<String>::new());
        let before = |p: &str| files.iter().find(|(f, _)| f == p).map(|(_, c)| c.clone());
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for (path, new) in &changes {
            let old = before(path);
            match (&old, new) {
                (None, Some(_)) => added.push(path.clone()),
                (Some(_), None) => removed.push(path.clone()),
                _ => {}
            }
            if cx.diff
                && let Some(d) = content_diff(
                    path,
                    old.as_deref().map(str::as_bytes),
                    new.as_deref().unwrap_or("").as_bytes(),
                )
            {
                o.diff.push(d);
            }
        }
        o.result.insert("sources_added".into(), added.into());
        o.result.insert("sources_removed".into(), removed.into());
        if changes.is_empty() || cx.check_mode {
            return Ok(o);
        }
        let mode = a.mode.clone().unwrap_or(FileMode::Octal(0o644));
        let mut script = String::from("set -e\n");
        let mut stdin = Vec::new();
        for (path, new) in &changes {
            match new {
                Some(text) => {
                    let is_target = *path == target;
                    let attrs = Attrs {
                        mode: is_target.then_some(&mode),
                        ..Attrs::default()
                    };
                    script.push_str(&write_step(path, text.len(), attrs, true));
                    stdin.extend_from_slice(text.as_bytes());
                }
                None => script.push_str(&format!("rm -f {}\n", q(path))),
            }
        }
        let out = cx.run(&script, &stdin).await?;
        if out.rc != 0 {
            return Err(fail(write_error(&out)));
        }
        if a.update_cache {
            let upd = format!("{}rm_apt -q update >/dev/null\n", apt_get_fn(60));
            let out = cx.run(&upd, &[]).await?;
            if out.rc != 0 {
                let mut f = Outcome::fail(crate::modules::remote::host_error(
                    "apt-get update failed",
                    &out,
                ));
                f.changed = true;
                return Ok(f);
            }
        }
        Ok(o)
    }
}

/// A sources line in a canonical form: type, sorted options, URI (no trailing slash), suite,
/// components. `None` when the text is not a sources line.
pub fn normalize(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let (kind, rest) = line.split_once(char::is_whitespace)?;
    if kind != "deb" && kind != "deb-src" {
        return None;
    }
    let rest = rest.trim_start();
    let (opts, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (o, after) = r.split_once(']')?;
            let mut o: Vec<&str> = o.split_whitespace().collect();
            o.sort_unstable();
            (format!("[{}] ", o.join(" ")), after)
        }
        None => (String::new(), rest),
    };
    let mut toks = rest.split_whitespace();
    let uri = toks.next()?.trim_end_matches('/');
    let suite = toks.next()?;
    let comps: Vec<&str> = toks.collect();
    Some(
        format!("{kind} {opts}{uri} {suite} {}", comps.join(" "))
            .trim_end()
            .to_string(),
    )
}

/// The sources.list.d name Ansible picks: the URI's host and path with every run of other
/// characters turned into `_`.
pub fn suggest_filename(repo: &str) -> String {
    let mut s = repo.to_string();
    while let (Some(a), Some(b)) = (s.find('['), s.find(']')) {
        if b < a {
            break;
        }
        s.replace_range(a..=b, "");
    }
    let first = s
        .split_whitespace()
        .find(|p| *p != "deb" && *p != "deb-src")
        .unwrap_or("");
    let first = first.split_once("://").map(|(_, r)| r).unwrap_or(first);
    let first = first.rsplit_once('@').map(|(_, r)| r).unwrap_or(first);
    first
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The files that must change: path -> new content (`None` deletes the file).
pub fn plan(
    files: &[(String, String)],
    target: &str,
    repo: &str,
    state: RepoState,
) -> Result<Vec<(String, Option<String>)>, ModuleError> {
    let want = normalize(repo).ok_or_else(|| {
        ModuleError::Failed({
            format!(
                "{repo:?} is not a sources line (expected `deb [options] URI SUITE [COMPONENT...]`)"
            )
        })
    })?;
    let enabled = |l: &str| normalize(l).as_deref() == Some(want.as_str());
    let disabled = |l: &str| {
        l.trim_start()
            .strip_prefix('#')
            .is_some_and(|r| normalize(r).as_deref() == Some(want.as_str()))
    };
    let mut out = Vec::new();
    match state {
        RepoState::Present => {
            if files.iter().any(|(_, c)| c.lines().any(enabled)) {
                return Ok(out);
            }
            let cur = files
                .iter()
                .find(|(p, _)| p == target)
                .map(|(_, c)| c.as_str());
            let new = match cur {
                Some(c) if c.lines().any(disabled) => {
                    let mut done = false;
                    let mut n = String::new();
                    for l in c.lines() {
                        if !done && disabled(l) {
                            n.push_str(repo.trim());
                            done = true;
                        } else {
                            n.push_str(l);
                        }
                        n.push('\n');
                    }
                    n
                }
                Some(c) => {
                    let mut n = c.to_string();
                    if !n.is_empty() && !n.ends_with('\n') {
                        n.push('\n');
                    }
                    n.push_str(repo.trim());
                    n.push('\n');
                    n
                }
                None => format!("{}\n", repo.trim()),
            };
            out.push((target.to_string(), Some(new)));
        }
        RepoState::Absent => {
            for (path, c) in files {
                if !c.lines().any(|l| enabled(l) || disabled(l)) {
                    continue;
                }
                let kept: Vec<&str> = c.lines().filter(|l| !enabled(l) && !disabled(l)).collect();
                let in_dir = path.starts_with("/etc/apt/sources.list.d/");
                if in_dir && kept.iter().all(|l| l.trim().is_empty()) {
                    out.push((path.clone(), None));
                } else {
                    let mut n = kept.join("\n");
                    n.push('\n');
                    out.push((path.clone(), Some(n)));
                }
            }
        }
    }
    Ok(out)
}

/// Every sources file, base64-encoded so its bytes come back exactly.
const READ_SOURCES: &str = "for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do \
    [ -f \"$f\" ] || continue; echo \"@@file $f\"; base64 -w0 < \"$f\"; echo; done\n";

/// Reads the sources files the query printed.
pub fn parse_files(out: &str) -> Result<Vec<(String, String)>, ModuleError> {
    sections(out)
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("file ").map(|p| (p.to_string(), v)))
        .map(|(p, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|e| ModuleError::Failed(format!("cannot read {p}: {e}")))?;
            Ok((p, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "deb [arch=amd64 signed-by=/etc/apt/keyrings/d.asc] https://download.docker.com/linux/debian bookworm stable";

    #[test]
    fn equivalent_lines_normalize_alike() {
        assert_eq!(
            normalize(
                "deb  [signed-by=/etc/apt/keyrings/d.asc arch=amd64]   https://download.docker.com/linux/debian/ bookworm stable # docker"
            ),
            normalize(LINE)
        );
        assert_ne!(
            normalize("deb http://x bookworm main"),
            normalize("deb http://x bookworm contrib")
        );
        assert_eq!(normalize("# a comment"), None);
    }

    #[test]
    fn filenames_follow_ansible() {
        assert_eq!(suggest_filename(LINE), "download_docker_com_linux_debian");
        assert_eq!(
            suggest_filename("deb http://user:pw@ppa.launchpad.net/foo/ubuntu xenial main"),
            "ppa_launchpad_net_foo_ubuntu"
        );
    }

    #[test]
    fn present_appends_once_and_reenables() {
        let files = vec![(
            "/etc/apt/sources.list".to_string(),
            "deb http://deb.debian.org/debian bookworm main\n".to_string(),
        )];
        let t = "/etc/apt/sources.list.d/x.list";
        let c = plan(&files, t, LINE, RepoState::Present).unwrap();
        assert_eq!(c, vec![(t.to_string(), Some(format!("{LINE}\n")))]);
        let mut files2 = files.clone();
        files2.push((t.to_string(), format!("{LINE}\n")));
        assert!(
            plan(&files2, t, LINE, RepoState::Present)
                .unwrap()
                .is_empty()
        );
        let files3 = vec![(t.to_string(), format!("# keep\n# {LINE}\n"))];
        let c = plan(&files3, t, LINE, RepoState::Present).unwrap();
        assert_eq!(
            c[0].1.as_deref(),
            Some(format!("# keep\n{LINE}\n").as_str())
        );
        // Already in sources.list: nothing to do anywhere.
        let main = vec![(
            "/etc/apt/sources.list".to_string(),
            "deb http://deb.debian.org/debian bookworm main\n".to_string(),
        )];
        assert!(
            plan(
                &main,
                t,
                "deb http://deb.debian.org/debian/ bookworm main",
                RepoState::Present
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn absent_removes_lines_and_empty_files() {
        let files = vec![
            (
                "/etc/apt/sources.list".to_string(),
                format!("deb http://a b c\n{LINE}\n"),
            ),
            (
                "/etc/apt/sources.list.d/x.list".to_string(),
                format!("{LINE}\n"),
            ),
        ];
        let c = plan(
            &files,
            "/etc/apt/sources.list.d/x.list",
            LINE,
            RepoState::Absent,
        )
        .unwrap();
        assert_eq!(
            c,
            vec![
                (
                    "/etc/apt/sources.list".to_string(),
                    Some("deb http://a b c\n".to_string())
                ),
                ("/etc/apt/sources.list.d/x.list".to_string(), None),
            ]
        );
        assert!(
            plan(&files[..0], "/x", LINE, RepoState::Absent)
                .unwrap()
                .is_empty()
        );
        assert!(plan(&[], "/x", "not a line", RepoState::Present).is_err());
    }

    #[test]
    fn files_round_trip_through_base64() {
        let out = "@@file /etc/apt/sources.list\nZGViIGh0dHA6Ly94IGIgYwo=\n";
        assert_eq!(
            parse_files(out).unwrap(),
            vec![(
                "/etc/apt/sources.list".to_string(),
                "deb http://x b c\n".to_string()
            )]
        );
    }
}
