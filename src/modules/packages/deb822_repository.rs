//! `deb822_repository`: an APT source in deb822 form, `/etc/apt/sources.list.d/SLUG.sources`.
//! The controller renders the whole file; one query reads the current file (and downloads a
//! `signed_by` URL to compare with the stored key), one script writes what differs. The cache
//! is not updated, as in Ansible: notify an `apt: update_cache=yes` handler.

use super::pkgkit::{download_script, sections};
use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::files::filekit::content_diff;
use crate::modules::remote::{Attrs, host_error, parse_kv, q, write_error, write_step};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use base64::Engine;
use serde::Deserialize;

pub struct Deb822Repository;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    #[default]
    Present,
    Absent,
}

fn deb() -> Vec<String> {
    vec!["deb".into()]
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Deb822Args {
    name: String,
    #[serde(default = "deb")]
    types: Vec<String>,
    #[serde(default)]
    uris: Vec<String>,
    #[serde(default)]
    suites: Vec<String>,
    #[serde(default)]
    components: Vec<String>,
    #[serde(default)]
    architectures: Vec<String>,
    signed_by: Option<String>,
    #[serde(default)]
    state: State,
    enabled: Option<bool>,
    trusted: Option<bool>,
    mode: Option<FileMode>,
}

const ARGS: &[ArgDoc] = &[
    req(
        "name",
        "Name of the repository; the file is /etc/apt/sources.list.d/SLUG.sources (lowercase, spaces and _ as -).",
    ),
    one_of(
        dflt("types", "deb", "Types of packages (list)."),
        &["deb", "deb-src"],
    ),
    arg("uris", "Repository URIs (list)."),
    arg(
        "suites",
        "Suites, e.g. bookworm (list); a suite ending in / is a flat repository.",
    ),
    arg("components", "Components, e.g. main (list)."),
    arg("architectures", "Architectures to fetch (list)."),
    arg(
        "signed_by",
        "The key: an http(s) URL (downloaded by the host to /etc/apt/keyrings/SLUG.asc or .gpg), an ASCII-armored key (embedded in the file), or a keyring path.",
    ),
    one_of(
        dflt(
            "state",
            "present",
            "absent deletes the file and the keyring this module downloaded.",
        ),
        &["present", "absent"],
    ),
    arg("enabled", "Write `Enabled: yes/no`."),
    arg(
        "trusted",
        "Write `Trusted: yes/no` (skip signature checks when yes).",
    ),
    dflt("mode", "0644", "Mode of the .sources file."),
];

impl Module for Deb822Repository {
    const NAME: &'static str = "deb822_repository";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("dest", "the .sources file"),
            ("key_filename", "the key file"),
        ],
        summary: "Add or remove a deb822-format APT source (.sources file).",
        args: ARGS,
        example: "- deb822_repository:\n    name: docker\n    types: [deb]\n    uris: https://download.docker.com/linux/debian\n    suites: bookworm\n    components: stable\n    signed_by: https://download.docker.com/linux/debian/gpg\n",
    };
    type Args = Deb822Args;
    async fn run(&self, a: Deb822Args, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let fail = ModuleError::Failed;
        let slug = slug(&a.name);
        if slug.is_empty() {
            return Err(fail(format!("name {:?} gives an empty file name", a.name)));
        }
        if a.state == State::Present && (a.uris.is_empty() || a.suites.is_empty()) {
            return Err(fail(
                "uris and suites are required with state=present".into(),
            ));
        }
        let path = format!("/etc/apt/sources.list.d/{slug}.sources");
        let key_tmp = format!("/tmp/rmesos-key-{slug}");
        let keyrings = [
            format!("/etc/apt/keyrings/{slug}.asc"),
            format!("/etc/apt/keyrings/{slug}.gpg"),
        ];
        let mut query = format!(
            "echo @@file\n[ -f {p} ] && {{ echo exists=1; printf 'content='; base64 -w0 < {p}; echo; }}\n",
            p = q(&path)
        );
        let url = a
            .signed_by
            .as_deref()
            .filter(|s| is_url(s) && a.state == State::Present);
        if let Some(url) = url {
            query.push_str(&download_script(url, &key_tmp));
            query.push_str(&format!(
                "echo @@key\nif grep -q 'BEGIN PGP PUBLIC KEY BLOCK' {t}; then d={asc}; else d={gpg}; fi\n\
                 echo keyfile=$d\nif cmp -s {t} \"$d\"; then echo same=1; rm -f {t}; fi\n",
                t = q(&key_tmp),
                asc = q(&keyrings[0]),
                gpg = q(&keyrings[1]),
            ));
        } else {
            query.push_str(&format!(
                "echo @@key\nfor d in {} {}; do [ -f \"$d\" ] && echo stale=$d; done; true\n",
                q(&keyrings[0]),
                q(&keyrings[1])
            ));
        }
        let out = cx.run(&query, &[]).await?;
        if out.rc != 0 {
            return Err(fail(host_error(
                if out.rc == 91 || out.rc == 92 {
                    "cannot download the signed_by key"
                } else {
                    "cannot read the repository file"
                },
                &out,
            )));
        }
        let secs = sections(&out.stdout_str());
        let file = parse_kv(secs.get("file").map(String::as_str).unwrap_or(""));
        let key = parse_kv(secs.get("key").map(String::as_str).unwrap_or(""));
        let current = match file.get("content") {
            Some(b) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .map_err(|e| fail(format!("cannot read {path}: {e}")))?,
            ),
            None => None,
        };
        let mut script = String::from("set -e\n");
        let mut stdin = Vec::new();
        let mut o = Outcome::ok().with("dest", path.as_str());
        match a.state {
            State::Absent => {
                let mut removed = false;
                if current.is_some() {
                    script.push_str(&format!("rm -f {}\n", q(&path)));
                    removed = true;
                    if cx.diff
                        && let Some(d) = content_diff(&path, current.as_deref(), b"")
                    {
                        o.diff.push(d);
                    }
                }
                // parse_kv keeps the last `stale=` line; look at each keyring directly.
                for k in &keyrings {
                    if out.stdout_str().contains(&format!("stale={k}\n")) {
                        script.push_str(&format!("rm -f {}\n", q(k)));
                        removed = true;
                    }
                }
                o.changed = removed;
            }
            State::Present => {
                let key_ref = match (&a.signed_by, url) {
                    (_, Some(_)) => {
                        let keyfile = key.get("keyfile").cloned().unwrap_or_default();
                        if !key.contains_key("same") {
                            o.changed = true;
                            if cx.check_mode {
                                script.push_str(&format!("rm -f {}\n", q(&key_tmp)));
                            } else {
                                script.push_str(&format!(
                                    "mkdir -p /etc/apt/keyrings\nchmod 0644 {t}\nmv -f {t} {d}\n",
                                    t = q(&key_tmp),
                                    d = q(&keyfile)
                                ));
                            }
                        }
                        Some(keyfile)
                    }
                    (Some(k), None) => Some(k.clone()),
                    (None, None) => None,
                };
                let text = render(&a, key_ref.as_deref());
                if current.as_deref() != Some(text.as_bytes()) {
                    o.changed = true;
                    if cx.diff
                        && let Some(d) = content_diff(&path, current.as_deref(), text.as_bytes())
                    {
                        o.diff.push(d);
                    }
                    let mode = a.mode.clone().unwrap_or(FileMode::Octal(0o644));
                    let attrs = Attrs {
                        mode: Some(&mode),
                        ..Attrs::default()
                    };
                    script.push_str(&write_step(&path, text.len(), attrs, true));
                    stdin.extend_from_slice(text.as_bytes());
                }
                if let Some(k) = key_ref.filter(|_| url.is_some()) {
                    o.result.insert("key_filename".into(), k.into());
                }
            }
        }
        if script == "set -e\n" {
            return Ok(o);
        }
        if cx.check_mode {
            // Only the downloaded key needs cleaning up.
            if url.is_some() {
                cx.run(&format!("rm -f {}\n", q(&key_tmp)), &[]).await?;
            }
            return Ok(o);
        }
        let out = cx.run(&script, &stdin).await?;
        if out.rc != 0 {
            return Err(fail(write_error(&out)));
        }
        Ok(o)
    }
}

/// Ansible's file slug: lowercase, runs of `_` and whitespace become `-`, anything else
/// outside `[a-z0-9-]` is dropped.
pub fn slug(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut out = String::new();
    let mut in_sep = false;
    for c in lower.chars() {
        if c == '_' || c.is_whitespace() {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
            continue;
        }
        in_sep = false;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            out.push(c);
        }
    }
    out
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The .sources file's text; `key_ref` is the keyring path (or the armored key) to sign with.
pub fn render(a: &Deb822Args, key_ref: Option<&str>) -> String {
    let mut s = format!("X-Repolib-Name: {}\n", a.name);
    let mut field = |k: &str, v: &[String]| {
        if !v.is_empty() {
            s.push_str(&format!("{k}: {}\n", v.join(" ")));
        }
    };
    field("Types", &a.types);
    field("URIs", &a.uris);
    field("Suites", &a.suites);
    field("Components", &a.components);
    field("Architectures", &a.architectures);
    if let Some(e) = a.enabled {
        s.push_str(&format!("Enabled: {}\n", yes_no(e)));
    }
    if let Some(t) = a.trusted {
        s.push_str(&format!("Trusted: {}\n", yes_no(t)));
    }
    if let Some(k) = key_ref {
        if k.contains('\n') {
            // A multi-line field: continuation lines start with a space, empty lines are " .".
            s.push_str("Signed-By:\n");
            for l in k.trim().lines() {
                if l.trim().is_empty() {
                    s.push_str(" .\n");
                } else {
                    s.push_str(&format!(" {}\n", l.trim_end()));
                }
            }
        } else {
            s.push_str(&format!("Signed-By: {k}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};

    fn args(j: serde_json::Value) -> Deb822Args {
        decode(
            &minijinja::Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn slug_as_ansible() {
        assert_eq!(slug("Docker CE_stable"), "docker-ce-stable");
        assert_eq!(slug("a.b/c"), "abc");
    }

    #[test]
    fn renders_fields_and_inline_keys() {
        let a = args(serde_json::json!({
            "name": "docker", "uris": "https://download.docker.com/linux/debian",
            "suites": ["bookworm"], "components": "stable", "enabled": false,
        }));
        assert_eq!(
            render(&a, Some("/etc/apt/keyrings/docker.asc")),
            "X-Repolib-Name: docker\nTypes: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\nEnabled: no\nSigned-By: /etc/apt/keyrings/docker.asc\n"
        );
        let key =
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----\n";
        let text = render(&a, Some(key));
        assert!(text.ends_with("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF\n -----END PGP PUBLIC KEY BLOCK-----\n"), "{text}");
    }
}
