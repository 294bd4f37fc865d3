//! `apt_key`: APT signing keys without apt-key or gpg on the host. One query returns the
//! keyrings in scope (the given `keyring`, else /etc/apt/trusted.gpg and trusted.gpg.d) and the
//! key's source (a file on the host, or a URL the host downloads); the controller reads the
//! fingerprints ([`openpgp`]) and decides; one script writes or deletes keyring files
//! atomically. Keys added without `keyring` land in /etc/apt/trusted.gpg.d/; modern setups
//! pass `keyring: /etc/apt/keyrings/NAME.asc` and reference it with `signed-by`.

pub mod openpgp;

use super::pkgkit::{download_script, sections};
use crate::modules::doc::{arg, dflt, one_of};
use crate::modules::remote::{Attrs, host_error, q, write_error, write_step};
use crate::modules::{ArgDoc, FileMode, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use base64::Engine;
use serde::Deserialize;

pub struct AptKey;

#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    #[default]
    Present,
    Absent,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AptKeyArgs {
    id: Option<String>,
    data: Option<String>,
    file: Option<String>,
    url: Option<String>,
    keyring: Option<String>,
    #[serde(default)]
    state: KeyState,
}

const ARGS: &[ArgDoc] = &[
    arg(
        "id",
        "Key id (short, long or full fingerprint; a subkey's works too). Required for absent; for present it skips the work when that key is already there, and must be in the key data.",
    ),
    arg("data", "The key itself (ASCII-armored or binary)."),
    arg("file", "A key file on the host."),
    arg(
        "url",
        "A URL the host downloads the key from (curl or wget).",
    ),
    arg(
        "keyring",
        "The keyring file to manage, e.g. /etc/apt/keyrings/docker.asc (`.asc` is written armored, anything else binary). Default: present writes /etc/apt/trusted.gpg.d/KEYID.asc (or .gpg); absent searches /etc/apt/trusted.gpg and trusted.gpg.d.",
    ),
    one_of(
        dflt("state", "present", "Whether the key is trusted."),
        &["present", "absent"],
    ),
];

impl Module for AptKey {
    const NAME: &'static str = "apt_key";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("keyrings", "the keyrings written")],
        summary: "Add or remove an APT signing key (no apt-key or gpg needed on the host).",
        args: ARGS,
        example: "- apt_key:\n    url: https://download.docker.com/linux/debian/gpg\n    id: 9DC858229FC7DD38854AE2D88D81803C0EBFCD88\n    keyring: /etc/apt/keyrings/docker.asc\n",
    };
    type Args = AptKeyArgs;
    async fn run(&self, a: AptKeyArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let fail = ModuleError::Failed;
        let sources = [a.data.is_some(), a.file.is_some(), a.url.is_some()];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(fail("data, file and url are mutually exclusive".into()));
        }
        let out = cx.run(&query_script(&a), &[]).await?;
        if out.rc != 0 {
            return Err(fail(host_error(
                match out.rc {
                    91 | 92 => "cannot download the key",
                    94 => "cannot read the key file",
                    _ => "cannot read the keyrings",
                },
                &out,
            )));
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut files = Vec::new();
        let mut src = a.data.as_ref().map(|d| d.as_bytes().to_vec());
        for (k, v) in sections(&out.stdout_str()) {
            let bytes = b64
                .decode(v.trim())
                .map_err(|e| fail(format!("cannot read {k}: {e}")))?;
            match k.strip_prefix("file ") {
                Some(path) => files.push((path.to_string(), bytes)),
                None if k == "src" => src = Some(bytes),
                None => {}
            }
        }
        let changes = plan(&a, &files, src.as_deref())?;
        let mut o = Outcome::changed(!changes.is_empty());
        o.result.insert(
            "keyrings".into(),
            changes
                .iter()
                .map(|(p, _)| p.clone())
                .collect::<Vec<_>>()
                .into(),
        );
        if changes.is_empty() || cx.check_mode {
            return Ok(o);
        }
        let mut script = String::from("set -e\nmkdir -p /etc/apt/trusted.gpg.d\n");
        let mut stdin = Vec::new();
        let mode = FileMode::Octal(0o644);
        for (path, bytes) in &changes {
            match bytes {
                Some(b) => {
                    let attrs = Attrs {
                        mode: Some(&mode),
                        ..Attrs::default()
                    };
                    script.push_str(&write_step(path, b.len(), attrs, true));
                    stdin.extend_from_slice(b);
                }
                None => script.push_str(&format!("rm -f {}\n", q(path))),
            }
        }
        let out = cx.run(&script, &stdin).await?;
        if out.rc != 0 {
            return Err(fail(write_error(&out)));
        }
        Ok(o)
    }
}

const TRUSTED: &str =
    "/etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/*.gpg /etc/apt/trusted.gpg.d/*.asc";

/// The query: keyrings in scope under `@@file PATH` and the key source under `@@src`, base64.
pub fn query_script(a: &AptKeyArgs) -> String {
    let scope = match &a.keyring {
        Some(k) => q(k),
        None => TRUSTED.to_string(),
    };
    let mut s = format!(
        "for f in {scope}; do [ -f \"$f\" ] || continue; echo \"@@file $f\"; base64 -w0 < \"$f\"; echo; done\n"
    );
    if let Some(f) = &a.file {
        s.push_str(&format!(
            "[ -r {f} ] || {{ echo 'cannot read '{f} >&2; exit 94; }}\necho @@src\nbase64 -w0 < {f}; echo\n",
            f = q(f)
        ));
    } else if let Some(u) = &a.url {
        s.push_str("rm_t=$(mktemp) || exit 70\ntrap 'rm -f \"$rm_t\"' EXIT\n");
        s.push_str(&download_script(u, "RM_T").replace("RM_T", "\"$rm_t\""));
        s.push_str("echo @@src\nbase64 -w0 < \"$rm_t\"; echo\n");
    }
    s
}

/// What to write (path, bytes) or delete (path, None).
pub type Changes = Vec<(String, Option<Vec<u8>>)>;

/// Encodes a binary keyring for a path: armored for `.asc`, binary otherwise.
fn encode_for(path: &str, binary: &[u8]) -> Vec<u8> {
    if path.ends_with(".asc") {
        openpgp::armor(binary).into_bytes()
    } else {
        binary.to_vec()
    }
}

pub fn plan(
    a: &AptKeyArgs,
    files: &[(String, Vec<u8>)],
    src: Option<&[u8]>,
) -> Result<Changes, ModuleError> {
    let mut parsed = Vec::new();
    for (path, bytes) in files {
        let bin =
            openpgp::dearmor(bytes).map_err(|e| ModuleError::Failed(format!("{path}: {e}")))?;
        let keys = openpgp::keys(&bin).map_err(|e| ModuleError::Failed(format!("{path}: {e}")))?;
        parsed.push((path.clone(), bin, keys));
    }
    let held = |id: &str| {
        parsed
            .iter()
            .any(|(_, _, ks)| ks.iter().any(|k| k.matches(id)))
    };
    match a.state {
        KeyState::Absent => {
            let id =
                a.id.as_deref()
                    .ok_or_else(|| ModuleError::failed("id is required with state=absent"))?;
            let mut out = Vec::new();
            for (path, bin, keys) in &parsed {
                if !keys.iter().any(|k| k.matches(id)) {
                    continue;
                }
                let rest = openpgp::without(bin, id)?;
                out.push((
                    path.clone(),
                    (!rest.is_empty()).then(|| encode_for(path, &rest)),
                ));
            }
            Ok(out)
        }
        KeyState::Present => {
            if let Some(id) = &a.id
                && held(id)
            {
                return Ok(Vec::new());
            }
            let src = src.ok_or_else(|| {
                ModuleError::failed("one of data, file or url is required with state=present")
            })?;
            let bin = openpgp::dearmor(src)?;
            let new_keys = openpgp::keys(&bin)?;
            let first = new_keys
                .first()
                .ok_or_else(|| ModuleError::failed("the key data holds no public key"))?;
            if let Some(id) = &a.id
                && !new_keys.iter().any(|k| k.matches(id))
            {
                return Err(ModuleError::Failed(format!(
                    "the key data does not hold key {id} (it holds {})",
                    new_keys
                        .iter()
                        .map(|k| k.fingerprint.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if new_keys.iter().all(|k| held(&k.fingerprint)) {
                return Ok(Vec::new());
            }
            let path = match &a.keyring {
                Some(k) => k.clone(),
                None => {
                    let ext = if openpgp::is_armored(src) {
                        "asc"
                    } else {
                        "gpg"
                    };
                    let short = &first.fingerprint[first.fingerprint.len().saturating_sub(16)..];
                    format!("/etc/apt/trusted.gpg.d/{short}.{ext}")
                }
            };
            let mut combined = parsed
                .iter()
                .find(|(p, _, _)| *p == path)
                .map(|(_, b, _)| b.clone())
                .unwrap_or_default();
            combined.extend_from_slice(&bin);
            let bytes = if combined == bin && openpgp::is_armored(src) == path.ends_with(".asc") {
                src.to_vec()
            } else {
                encode_for(&path, &combined)
            };
            Ok(vec![(path, Some(bytes))])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};

    const KEY: &[u8] = include_bytes!("debian-bookworm-stable.asc");
    const FPR: &str = "4D64FEC119C2029067D6E791F8D2585B8783D481";

    fn args(j: serde_json::Value) -> AptKeyArgs {
        decode(
            &minijinja::Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn present_writes_a_new_keyring_once() {
        let a = args(serde_json::json!({"keyring": "/etc/apt/keyrings/d.asc"}));
        let c = plan(&a, &[], Some(KEY)).unwrap();
        assert_eq!(
            c,
            vec![("/etc/apt/keyrings/d.asc".to_string(), Some(KEY.to_vec()))]
        );
        let files = vec![("/etc/apt/keyrings/d.asc".to_string(), KEY.to_vec())];
        assert!(plan(&a, &files, Some(KEY)).unwrap().is_empty());
        // A binary keyring gets the dearmored key.
        let a = args(serde_json::json!({"keyring": "/etc/apt/keyrings/d.gpg"}));
        let c = plan(&a, &[], Some(KEY)).unwrap();
        assert_eq!(
            c[0].1.as_deref(),
            Some(openpgp::dearmor(KEY).unwrap().as_slice())
        );
    }

    #[test]
    fn default_keyring_is_named_by_key_id() {
        let a = args(serde_json::json!({}));
        let c = plan(&a, &[], Some(KEY)).unwrap();
        assert_eq!(c[0].0, "/etc/apt/trusted.gpg.d/F8D2585B8783D481.asc");
        let files = vec![(
            "/etc/apt/trusted.gpg.d/debian.asc".to_string(),
            KEY.to_vec(),
        )];
        assert!(plan(&a, &files, Some(KEY)).unwrap().is_empty());
    }

    #[test]
    fn id_must_be_in_the_data_and_skips_work_when_held() {
        let a = args(serde_json::json!({"id": "0123456789ABCDEF"}));
        assert!(
            plan(&a, &[], Some(KEY))
                .unwrap_err()
                .to_string()
                .contains(FPR)
        );
        let a = args(serde_json::json!({"id": "8783D481"}));
        let files = vec![(
            "/etc/apt/trusted.gpg".to_string(),
            openpgp::dearmor(KEY).unwrap(),
        )];
        assert!(plan(&a, &files, None).unwrap().is_empty());
    }

    #[test]
    fn absent_deletes_or_rewrites_keyrings() {
        let a = args(serde_json::json!({"id": FPR, "state": "absent"}));
        let bin = openpgp::dearmor(KEY).unwrap();
        let files = vec![
            ("/etc/apt/trusted.gpg.d/a.asc".to_string(), KEY.to_vec()),
            (
                "/etc/apt/trusted.gpg.d/b.gpg".to_string(),
                [bin.clone(), bin.clone()].concat(),
            ),
        ];
        let c = plan(&a, &files, None).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], ("/etc/apt/trusted.gpg.d/a.asc".to_string(), None));
        assert_eq!(c[1], ("/etc/apt/trusted.gpg.d/b.gpg".to_string(), None));
        assert!(plan(&a, &[], None).unwrap().is_empty());
        let a = args(serde_json::json!({"state": "absent"}));
        assert!(plan(&a, &[], None).is_err());
    }
}
