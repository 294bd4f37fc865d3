//! `fetch`: copies a file from the host to the controller, into
//! `DEST/<inventory_hostname>/<src path>` (or DEST itself with `flat`). One script compares the
//! remote checksum with the local copy's and sends the content (`cat` to stdout) only when they
//! differ; the controller checks what arrived against that checksum and writes it atomically.

use super::filekit::sha1_hex;
use crate::modules::doc::{aka, dflt, req};
use crate::modules::remote::q;
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use minijinja::Value;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Fetch;

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    src: String,
    dest: String,
    #[serde(default)]
    flat: bool,
    #[serde(default = "yes")]
    fail_on_missing: bool,
    #[serde(default = "yes", alias = "validate_md5")]
    validate_checksum: bool,
}

const ARGS: &[ArgDoc] = &[
    req("src", "The file on the host (not a directory)."),
    req(
        "dest",
        "Directory on the controller (relative paths are relative to the playbook); the file lands in DEST/HOST/SRC unless flat.",
    ),
    dflt(
        "flat",
        "no",
        "Write to DEST itself (DEST/basename when DEST ends with `/`), without the host and path.",
    ),
    dflt(
        "fail_on_missing",
        "yes",
        "Fail when src does not exist; with no, report ok and fetch nothing.",
    ),
    aka(
        dflt(
            "validate_checksum",
            "yes",
            "Check the received bytes against the host's SHA-1 of the file.",
        ),
        &["validate_md5"],
    ),
];

impl Module for Fetch {
    const NAME: &'static str = "fetch";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("dest", "the local file"),
            ("checksum", "SHA-1 of the local file"),
            ("remote_checksum", "SHA-1 on the host"),
            ("size", "size in bytes"),
        ],
        summary: "Copy a file from the host to the controller.",
        args: ARGS,
        example: "- fetch:\n    src: /etc/mesos/agent.conf\n    dest: fetched/\n",
    };
    type Args = FetchArgs;

    async fn run(&self, a: FetchArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let base = cx
            .search_paths
            .last()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        let dest = local_dest(&a, cx.host, &base);
        if dest.is_dir() {
            return Ok(Outcome::fail(format!(
                "dest {} is a directory; use a trailing slash or a file name",
                dest.display()
            )));
        }
        let local_sha = std::fs::read(&dest).ok().map(|d| sha1_hex(&d));
        // In check mode the content is never sent: only whether it differs matters.
        let send = if cx.check_mode {
            String::new()
        } else {
            "printf 'rmesos_content_follows=1\\n'; cat \"$p\" || exit 1\n".into()
        };
        let script = format!(
            "p={src}\n\
             if [ ! -e \"$p\" ]; then echo state=missing; exit 0; fi\n\
             if [ -d \"$p\" ]; then echo state=directory; exit 0; fi\n\
             if [ ! -r \"$p\" ]; then echo state=unreadable; exit 0; fi\n\
             s=$(sha1sum < \"$p\" | cut -c1-40) || exit 1\n\
             echo sha1=$s\n\
             if [ \"$s\" = {local} ]; then exit 0; fi\n{send}",
            src = q(&a.src),
            local = q(local_sha.as_deref().unwrap_or("none")),
        );
        let out = cx.run(&script, &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(format!(
                "cannot read {}: {}",
                a.src,
                out.stderr_str().trim()
            )));
        }
        let (report, content) = match out.stdout.windows(MARK.len()).position(|w| w == MARK) {
            Some(i) => (&out.stdout[..i], Some(&out.stdout[i + MARK.len()..])),
            None => (&out.stdout[..], None),
        };
        let kv = crate::modules::remote::parse_kv(&String::from_utf8_lossy(report));
        match kv.get("state").map(String::as_str) {
            Some("missing") if a.fail_on_missing => {
                return Ok(Outcome::fail(format!(
                    "the remote file {} does not exist",
                    a.src
                )));
            }
            Some("missing") => {
                return Ok(Outcome::ok().msg(format!(
                    "the remote file {} does not exist, not transferring, ignored",
                    a.src
                )));
            }
            Some("directory") => {
                return Ok(Outcome::fail(
                    "remote file is a directory, fetch cannot work on directories",
                ));
            }
            Some(_) => {
                return Ok(Outcome::fail(format!(
                    "the remote file {} is not readable",
                    a.src
                )));
            }
            None => {}
        }
        let remote_sha = kv.get("sha1").cloned().unwrap_or_default();
        let dest_s = dest.display().to_string();
        let mut res = Outcome::changed(local_sha.as_deref() != Some(remote_sha.as_str()))
            .with("dest", dest_s.as_str())
            .with("remote_checksum", remote_sha.as_str())
            .with("checksum", remote_sha.as_str());
        if !res.changed || cx.check_mode {
            return Ok(res);
        }
        let Some(data) = content else {
            return Ok(Outcome::fail("the host sent no content"));
        };
        if a.validate_checksum && sha1_hex(data) != remote_sha {
            return Ok(Outcome::fail(format!(
                "checksum mismatch: {} changed while it was fetched",
                a.src
            )));
        }
        write_local(&dest, data)
            .map_err(|e| ModuleError::Failed(format!("cannot write {dest_s}: {e}")))?;
        res.result.insert("size".into(), Value::from(data.len()));
        Ok(res)
    }
}

/// Where the file goes on the controller.
fn local_dest(a: &FetchArgs, host: &str, base: &Path) -> PathBuf {
    let dest = base.join(&a.dest);
    if a.flat {
        if a.dest.ends_with('/') {
            let name = Path::new(&a.src).file_name().unwrap_or_default();
            dest.join(name)
        } else {
            dest
        }
    } else {
        dest.join(host).join(a.src.trim_start_matches('/'))
    }
}

const MARK: &[u8] = b"rmesos_content_follows=1\n";

/// Writes `data` to `dest` through a temp file in the same directory.
fn write_local(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut t = tempfile::NamedTempFile::new_in(dir)?;
    t.write_all(data)?;
    t.persist(dest).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn fetches_into_host_tree_once() {
        let h = Harness::new();
        let src = h.write("remote/app.conf", "x=1\n");
        let a = json!({"src": src, "dest": h.path("out")});
        let r = h.run(&Fetch, a.clone(), true, false).await;
        assert!(
            r.outcome.changed && !r.outcome.failed,
            "{:?}",
            r.outcome.msg
        );
        let want = format!("{}/localhost{}", h.path("out"), src);
        assert!(!Path::new(&want).exists());
        let r = h.run(&Fetch, a.clone(), false, false).await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(std::fs::read_to_string(&want).unwrap(), "x=1\n");
        let r = h.run(&Fetch, a, false, false).await;
        assert!(!r.outcome.changed);
        assert_eq!(r.execs, 1);
    }

    #[tokio::test]
    async fn flat_and_missing() {
        let h = Harness::new();
        let src = h.write("remote/a.txt", "A");
        let r = h
            .run(
                &Fetch,
                json!({"src": src, "dest": format!("{}/", h.path("flat")), "flat": true}),
                false,
                false,
            )
            .await;
        assert!(r.outcome.changed, "{:?}", r.outcome.msg);
        assert_eq!(h.read("flat/a.txt"), "A");
        let missing = json!({"src": h.path("nope"), "dest": h.path("o")});
        assert!(
            h.run(&Fetch, missing.clone(), false, false)
                .await
                .outcome
                .failed
        );
        let mut lenient = missing;
        lenient["fail_on_missing"] = json!(false);
        let r = h.run(&Fetch, lenient, false, false).await;
        assert!(!r.outcome.failed && !r.outcome.changed);
    }
}
