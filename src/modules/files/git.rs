//! `git`: a checkout of a repository at a version (branch, tag, commit or the remote's HEAD),
//! with git on the host. One script does it all: clones when the destination is no repository,
//! else fetches and moves HEAD when the version's commit differs (or local modifications must
//! be discarded, `force: yes`). Check mode asks the remote with `git ls-remote` and changes
//! nothing. The result has Ansible's `before` and `after` commits; changed when HEAD moved.

use crate::modules::doc::{aka, arg, dflt, req};
use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct Git;

fn head() -> String {
    "HEAD".into()
}
fn origin() -> String {
    "origin".into()
}
fn yes() -> bool {
    true
}
fn git_exe() -> String {
    "git".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct GitArgs {
    #[serde(alias = "name")]
    repo: String,
    dest: String,
    #[serde(default = "head")]
    version: String,
    #[serde(default)]
    force: bool,
    depth: Option<u32>,
    #[serde(default = "yes")]
    clone: bool,
    #[serde(default = "yes")]
    update: bool,
    #[serde(default = "origin")]
    remote: String,
    #[serde(default)]
    accept_hostkey: bool,
    #[serde(default)]
    accept_newhostkey: bool,
    key_file: Option<String>,
    ssh_opts: Option<String>,
    #[serde(default)]
    single_branch: bool,
    #[serde(default = "yes")]
    recursive: bool,
    umask: Option<String>,
    refspec: Option<String>,
    #[serde(default = "git_exe")]
    executable: String,
}

const ARGS: &[ArgDoc] = &[
    aka(req("repo", "The repository URL (or path)."), &["name"]),
    req("dest", "Where the checkout goes."),
    dflt(
        "version",
        "HEAD",
        "Branch, tag or commit (full or abbreviated) to check out; HEAD is the remote's default branch.",
    ),
    dflt(
        "force",
        "no",
        "Discard local modifications of tracked files (without it they fail the task).",
    ),
    arg("depth", "Shallow clone/fetch with this many commits."),
    dflt(
        "clone",
        "yes",
        "Clone when dest is not a repository (no: leave it alone).",
    ),
    dflt(
        "update",
        "yes",
        "Fetch and move to version when dest is a repository.",
    ),
    dflt("remote", "origin", "The remote's name."),
    dflt("accept_hostkey", "no", "ssh: StrictHostKeyChecking=no."),
    dflt(
        "accept_newhostkey",
        "no",
        "ssh: StrictHostKeyChecking=accept-new.",
    ),
    arg("key_file", "ssh: the private key to use (IdentitiesOnly)."),
    arg("ssh_opts", "More ssh options."),
    dflt("single_branch", "no", "Clone only the version's branch."),
    dflt(
        "recursive",
        "yes",
        "Update submodules (git submodule update --init --recursive).",
    ),
    arg("umask", "umask for the files git writes (`0022`)."),
    arg("refspec", "An extra refspec to fetch (`refs/pull/*`)."),
    dflt("executable", "git", "The git program."),
];

const RC_NO_GIT: i32 = 80;
const RC_MODIFIED: i32 = 83;
const RC_NO_VERSION: i32 = 85;

/// Shell variables for the script; `$g` is git, `$d` the checkout, `$v` the version.
fn header(a: &GitArgs, check: bool) -> String {
    let mut s = format!(
        "export GIT_TERMINAL_PROMPT=0 LC_ALL=C\ng={}\nr={}\nd={}\nv={}\nrem={}\ncm={}\nforce={}\nclone={}\nupdate={}\nrecursive={}\n",
        q(&a.executable),
        q(&a.repo),
        q(&a.dest),
        q(&a.version),
        q(&a.remote),
        u8::from(check),
        u8::from(a.force),
        u8::from(a.clone),
        u8::from(a.update),
        u8::from(a.recursive),
    );
    let mut ssh = Vec::new();
    if a.accept_hostkey {
        ssh.push("-o StrictHostKeyChecking=no".to_string());
    } else if a.accept_newhostkey {
        ssh.push("-o StrictHostKeyChecking=accept-new".to_string());
    }
    if let Some(k) = &a.key_file {
        ssh.push(format!("-i {} -o IdentitiesOnly=yes", q(k)));
    }
    if let Some(o) = &a.ssh_opts {
        ssh.push(o.clone());
    }
    if !ssh.is_empty() {
        s.push_str(&format!(
            "GIT_SSH_COMMAND={}; export GIT_SSH_COMMAND\n",
            q(&format!("ssh {}", ssh.join(" ")))
        ));
    }
    if let Some(u) = &a.umask {
        s.push_str(&format!("umask {}\n", q(u)));
    }
    let depth = a.depth.map(|n| format!(" --depth {n}")).unwrap_or_default();
    let single = if a.single_branch {
        " --single-branch"
    } else {
        ""
    };
    s.push_str(&format!(
        "depth={}\nsingle={}\nrefspec={}\n",
        q(&depth),
        q(single),
        q(a.refspec.as_deref().unwrap_or(""))
    ));
    s
}

/// Clone, fetch and checkout; prints `before=`, `after=`, `changed=`, `remote_url_changed=`.
const SCRIPT: &str = r#"command -v "$g" >/dev/null 2>&1 || { echo "git is not installed ($g)" >&2; exit 80; }
is_sha() { case $1 in *[!0-9a-f]*) return 1 ;; ???????*) return 0 ;; *) return 1 ;; esac; }
# The commit the remote has for $v (check mode and the clone=no case), from ls-remote.
remote_sha() {
  "$g" ls-remote "$1" HEAD "refs/heads/$v" "refs/tags/$v" "refs/tags/$v^{}" 2>/dev/null | awk -v v="$v" '
    $2 == "refs/tags/" v "^{}" { p = $1 } $2 == "refs/tags/" v { t = $1 } $2 == "refs/heads/" v { b = $1 }
    $2 == "HEAD" && v == "HEAD" { h = $1 } END { if (p) print p; else if (t) print t; else if (b) print b; else print h }'
}
submodules() { [ "$recursive" = 1 ] && [ -f "$d/.gitmodules" ] && "$g" -C "$d" submodule update --init --recursive >&2; return 0; }
if [ ! -e "$d/.git" ]; then
  echo before=
  if [ "$clone" != 1 ]; then echo after=; echo changed=0; exit 0; fi
  if [ "$cm" = 1 ]; then t=$(remote_sha "$r"); if [ -z "$t" ] && is_sha "$v"; then t=$v; fi; echo "after=$t"; echo changed=1; exit 0; fi
  b=
  if [ "$v" != HEAD ] && ! is_sha "$v"; then b="--branch $v"; fi
  "$g" clone $depth $single --origin "$rem" $b "$r" "$d" >&2 || exit 81
  if is_sha "$v"; then "$g" -C "$d" checkout --force "$v" >&2 || exit 85; fi
  submodules
  echo "after=$("$g" -C "$d" rev-parse HEAD)"; echo changed=1; exit 0
fi
before=$("$g" -C "$d" rev-parse HEAD 2>/dev/null); echo "before=$before"
mods=0
if [ -n "$("$g" -C "$d" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  [ "$force" = 1 ] || { echo "Local modifications exist in the destination: $d (force=no)." >&2; exit 83; }
  mods=1
fi
url=$("$g" -C "$d" remote get-url "$rem" 2>/dev/null)
uc=0; [ "$url" = "$r" ] || uc=1
echo "remote_url_changed=$uc"
if [ "$update" != 1 ]; then echo "after=$before"; echo changed=0; exit 0; fi
if [ "$cm" = 1 ]; then
  t=$(remote_sha "$r")
  if [ -z "$t" ] && is_sha "$v"; then case $before in "$v"*) t=$before ;; *) t=$v ;; esac; fi
  [ -n "$t" ] || { echo "Failed to find version $v in $r" >&2; exit 85; }
  c=0; [ "$t" = "$before" ] && [ "$mods" = 0 ] || c=1
  echo "after=$t"; echo "changed=$c"; exit 0
fi
if [ "$uc" = 1 ]; then "$g" -C "$d" remote set-url "$rem" "$r" 2>/dev/null || "$g" -C "$d" remote add "$rem" "$r" || exit 84; fi
"$g" -C "$d" fetch $depth --tags --force "$rem" $refspec >&2 || exit 84
"$g" -C "$d" fetch $depth --force "$rem" "+refs/heads/*:refs/remotes/$rem/*" >&2 || exit 84
if [ "$v" = HEAD ]; then
  "$g" -C "$d" remote set-head "$rem" -a >/dev/null 2>&1
  br=$("$g" -C "$d" symbolic-ref --short "refs/remotes/$rem/HEAD" 2>/dev/null); br=${br#"$rem/"}
  ref="refs/remotes/$rem/HEAD"
elif "$g" -C "$d" rev-parse --verify -q "refs/remotes/$rem/$v^{commit}" >/dev/null; then br=$v; ref="refs/remotes/$rem/$v"
elif "$g" -C "$d" rev-parse --verify -q "refs/tags/$v^{commit}" >/dev/null; then br=; ref="refs/tags/$v"
elif "$g" -C "$d" rev-parse --verify -q "$v^{commit}" >/dev/null; then br=; ref=$v
else echo "Failed to find version $v in $r" >&2; exit 85
fi
t=$("$g" -C "$d" rev-parse "$ref^{commit}") || exit 85
if [ "$t" != "$before" ] || [ "$mods" = 1 ]; then
  if [ -n "$br" ]; then "$g" -C "$d" checkout --force -B "$br" "$t" >&2 || exit 86
  else "$g" -C "$d" checkout --force "$t" >&2 || exit 86; fi
  submodules
fi
after=$("$g" -C "$d" rev-parse HEAD)
c=0; [ "$after" = "$before" ] && [ "$mods" = 0 ] || c=1
echo "after=$after"; echo "changed=$c"
"#;

impl Module for Git {
    const NAME: &'static str = "git";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("before", "commit before"),
            ("after", "commit after"),
            ("remote_url_changed", "whether the remote URL was changed"),
        ],
        summary: "Check out a git repository at a branch, tag or commit (git on the host).",
        args: ARGS,
        example: "- git:\n    repo: https://github.com/apache/zookeeper.git\n    dest: /opt/src/zookeeper\n    version: release-3.8.4\n    depth: 1\n",
    };
    type Args = GitArgs;

    async fn run(&self, a: GitArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let script = format!("{}{SCRIPT}", header(&a, cx.check_mode));
        let out = cx.run(&script, &[]).await?;
        let kv = parse_kv(&out.stdout_str());
        if out.rc != 0 {
            let what = match out.rc {
                RC_NO_GIT => "git is needed on the host",
                RC_MODIFIED => "cannot update the checkout",
                RC_NO_VERSION => "cannot check out the version",
                81 => "cannot clone",
                84 => "cannot fetch",
                _ => "git failed",
            };
            let mut o = Outcome::fail(host_error(what, &out));
            if let Some(b) = kv.get("before") {
                o.result.insert("before".into(), sha_value(b));
            }
            return Ok(o);
        }
        let before = kv.get("before").map(String::as_str).unwrap_or("");
        let after = kv.get("after").map(String::as_str).unwrap_or("");
        let changed = kv.get("changed").is_some_and(|c| c == "1");
        let mut o = Outcome::changed(changed)
            .with("before", sha_value(before))
            .with("after", sha_value(after));
        if let Some(u) = kv.get("remote_url_changed") {
            o = o.with("remote_url_changed", u == "1");
        }
        if changed && cx.diff {
            o.diff.push(FileDiff {
                path: a.dest.clone(),
                before: format!("{before}\n"),
                after: format!("{after}\n"),
            });
        }
        Ok(o)
    }
}

/// A commit as Ansible reports it: `null` before a first clone.
fn sha_value(s: &str) -> Value {
    if s.is_empty() {
        Value::from(())
    } else {
        Value::from(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;
    use std::process::Command;

    fn sh(script: &str) -> String {
        let out = Command::new("sh").args(["-c", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A repository `src` with one commit on `main` (tagged v1), `dest` to clone into.
    fn upstream(h: &Harness) -> (String, String) {
        let src = h.path("src");
        sh(&format!(
            "git init -q -b main {src} && cd {src} && git config user.email t@t && git config user.name t && \
             echo one > f && git add f && git commit -qm one && git tag v1"
        ));
        (src, h.path("dest"))
    }

    fn commit(src: &str, text: &str) -> String {
        sh(&format!(
            "cd {src} && echo {text} > f && git commit -qam {text} && git rev-parse HEAD"
        ))
    }

    #[tokio::test]
    async fn clones_then_follows_the_branch_and_reports_before_and_after() {
        if Command::new("git").arg("--version").output().is_err() {
            return;
        }
        let h = Harness::new();
        let (src, dest) = upstream(&h);
        let first = sh(&format!("git -C {src} rev-parse HEAD"));
        let args = json!({"repo": src, "dest": dest, "version": "main"});
        let r = h.run(&Git, args.clone(), true, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.get("after").to_string(), first);
        assert!(!std::path::Path::new(&dest).exists(), "check mode cloned");
        let r = h.run(&Git, args.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert!(r.get("before").is_none());
        assert_eq!(r.get("after").to_string(), first);
        let r = h.run(&Git, args.clone(), false, false).await;
        assert!(!r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.get("before").to_string(), first);
        // Upstream moves: check mode sees it, a run follows it.
        let second = commit(&src, "two");
        let r = h.run(&Git, args.clone(), true, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(r.get("after").to_string(), second);
        let r = h.run(&Git, args.clone(), false, true).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(
            (r.get("before").to_string(), r.get("after").to_string()),
            (first.clone(), second)
        );
        assert_eq!(h.read("dest/f"), "two\n");
        // A tag is a detached checkout; local edits need force.
        let tag = json!({"repo": src, "dest": dest, "version": "v1"});
        let r = h.run(&Git, tag.clone(), false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(r.get("after").to_string(), first);
        h.write("dest/f", "local edit\n");
        let r = h.run(&Git, tag.clone(), false, false).await;
        assert!(r.outcome.failed);
        assert!(r.outcome.msg.unwrap().contains("Local modifications exist"));
        let forced = json!({"repo": src, "dest": dest, "version": "v1", "force": true});
        let r = h.run(&Git, forced, false, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        assert_eq!(h.read("dest/f"), "one\n");
    }
}
