//! `authorized_key`: adds and removes SSH public keys in a user's authorized_keys. One query
//! reads the account, the file and its directory; the edit is done here and written back
//! atomically with mode 0600, owned by the user (and the directory 0700, with manage_dir).
//! Keys are matched by their base64 blob, so a key whose options or comment change is updated
//! in place rather than added twice.

use super::group::Presence;
use crate::modules::FileMode;
use crate::modules::doc::{arg, dflt, one_of, req};
use crate::modules::remote::{Attrs, host_error, parse_kv, q, write_step};
use crate::modules::{ArgDoc, FileDiff, Module, ModuleDoc, ModuleError, Outcome, TaskContext};
use serde::Deserialize;

pub struct AuthorizedKey;

fn yes() -> bool {
    true
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct AuthorizedKeyArgs {
    user: String,
    key: String,
    path: Option<String>,
    #[serde(default = "yes")]
    manage_dir: bool,
    #[serde(default)]
    state: Presence,
    #[serde(default)]
    exclusive: bool,
    key_options: Option<String>,
    comment: Option<String>,
}

const ARGS: &[ArgDoc] = &[
    req(
        "user",
        "The account whose authorized_keys is edited; it must exist.",
    ),
    req(
        "key",
        "One or more public key lines (`[options] type base64 [comment]`). URLs are not fetched: pass the text (lookup('file', ...)).",
    ),
    dflt(
        "path",
        "~USER/.ssh/authorized_keys",
        "The authorized_keys file.",
    ),
    dflt(
        "manage_dir",
        "yes",
        "Create the file's directory and make it 0700, owned by the user.",
    ),
    one_of(
        dflt("state", "present", "Whether the keys are in the file."),
        &["present", "absent"],
    ),
    dflt(
        "exclusive",
        "no",
        "Remove every other key from the file (comments and blank lines stay).",
    ),
    arg(
        "key_options",
        "Options put before every key (`no-port-forwarding,from=\"10.0.0.0/8\"`), replacing the keys' own.",
    ),
    arg(
        "comment",
        "Comment put after every key, replacing the keys' own.",
    ),
];

impl Module for AuthorizedKey {
    const NAME: &'static str = "authorized_key";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("user", "the user"),
            ("key", "the keys"),
            ("key_options", "their options"),
            ("path", "the authorized_keys file"),
            ("state", "present or absent"),
            ("exclusive", "whether other keys were removed"),
        ],
        summary: "Add or remove SSH public keys in a user's authorized_keys.",
        args: ARGS,
        example: "- authorized_key:\n    user: deploy\n    key: \"{{ lookup('file', 'files/deploy.pub') }}\"\n    exclusive: yes\n",
    };
    type Args = AuthorizedKeyArgs;

    async fn run(
        &self,
        a: AuthorizedKeyArgs,
        cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        let keys = match wanted_keys(&a) {
            Ok(k) => k,
            Err(e) => return Ok(Outcome::fail(e.to_string())),
        };
        let out = cx.run(&query_script(&a), &[]).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                "cannot read authorized_keys",
                &out,
            )));
        }
        let stdout = out.stdout_str();
        let (head, current) = match stdout.split_once(MARK) {
            Some((h, c)) => (h, Some(c)),
            None => (stdout.as_str(), None),
        };
        let kv = parse_kv(head);
        let path = kv.get("path").cloned().unwrap_or_default();
        let ug = kv.get("ug").cloned().unwrap_or_default();
        let (uid, gid) = ug.split_once(':').unwrap_or((&ug, ""));
        let new = edit(current.unwrap_or(""), &keys, a.state, a.exclusive);
        let absent_untouched = a.state == Presence::Absent && current.is_none();
        let content_changes = current.unwrap_or("") != new && !absent_untouched;
        let file_attrs_wrong = current.is_some() && kv.get("file") != Some(&format!("600|{ug}"));
        let dir_wrong =
            a.manage_dir && !absent_untouched && kv.get("dir") != Some(&format!("700|{ug}"));
        let changed = content_changes || file_attrs_wrong || dir_wrong;
        let mut outcome = Outcome::changed(changed)
            .with("user", a.user.as_str())
            .with("key", a.key.as_str())
            .with("path", path.as_str())
            .with("exclusive", a.exclusive)
            .with("manage_dir", a.manage_dir)
            .with("state", a.state.as_str());
        if let Some(o) = &a.key_options {
            outcome = outcome.with("key_options", o.as_str());
        }
        if cx.diff && content_changes {
            outcome.diff.push(FileDiff {
                path: path.clone(),
                before: current.unwrap_or("").to_string(),
                after: new.clone(),
            });
        }
        if cx.check_mode || !changed {
            return Ok(outcome);
        }
        let mut script = format!("d=$(dirname {})\n", q(&path));
        if a.manage_dir {
            script.push_str(&format!(
                "mkdir -p \"$d\" && chmod 700 \"$d\" && chown {} \"$d\" || exit 1\n",
                q(&ug)
            ));
        } else {
            script.push_str(
                "[ -d \"$d\" ] || { echo \"$d does not exist (manage_dir is off)\" >&2; exit 1; }\n",
            );
        }
        let attrs = Attrs {
            owner: Some(uid),
            group: Some(gid),
            mode: Some(&FileMode::Octal(0o600)),
        };
        script.push_str(&write_step(&path, new.len(), attrs, false));
        let out = cx.run(&script, new.as_bytes()).await?;
        if out.rc != 0 {
            return Ok(Outcome::fail(host_error(
                &format!("cannot write {path}"),
                &out,
            )));
        }
        Ok(outcome)
    }
}

/// One parsed key line.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyLine {
    pub options: Option<String>,
    pub kind: String,
    pub blob: String,
    pub comment: Option<String>,
}

impl KeyLine {
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.options {
            s.push_str(o);
            s.push(' ');
        }
        s.push_str(&self.kind);
        s.push(' ');
        s.push_str(&self.blob);
        if let Some(c) = &self.comment {
            s.push(' ');
            s.push_str(c);
        }
        s
    }
}

fn is_key_type(t: &str) -> bool {
    t.starts_with("ssh-")
        || t.starts_with("ecdsa-sha2-")
        || t.starts_with("sk-ssh-")
        || t.starts_with("sk-ecdsa-")
}

/// Splits off the leading options field: up to the first whitespace outside double quotes.
fn split_options(line: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&line[..i], line[i..].trim_start()),
            _ => {}
        }
    }
    (line, "")
}

/// Parses a key line; None for blanks, comments and lines that hold no key.
pub fn parse_key_line(line: &str) -> Option<KeyLine> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let first = line.split_whitespace().next()?;
    let (options, rest) = if is_key_type(first) {
        (None, line)
    } else {
        let (o, r) = split_options(line);
        (Some(o.to_string()), r)
    };
    let mut parts = rest.splitn(3, char::is_whitespace);
    let kind = parts.next().filter(|k| is_key_type(k))?;
    let blob = parts.next().filter(|b| !b.is_empty())?;
    let comment = parts
        .next()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    Some(KeyLine {
        options,
        kind: kind.to_string(),
        blob: blob.to_string(),
        comment,
    })
}

/// The keys the task gives, with key_options and comment applied.
pub fn wanted_keys(a: &AuthorizedKeyArgs) -> Result<Vec<KeyLine>, ModuleError> {
    if a.key.trim_start().starts_with("http://") || a.key.trim_start().starts_with("https://") {
        return Err(ModuleError::failed(
            "key URLs are not fetched: pass the key text, e.g. key: \"{{ lookup('file', 'id_rsa.pub') }}\"",
        ));
    }
    let mut keys = Vec::new();
    for line in a.key.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut k = parse_key_line(t)
            .ok_or_else(|| ModuleError::Failed(format!("invalid key specified: {t}")))?;
        if let Some(o) = &a.key_options {
            k.options = Some(o.clone()).filter(|o| !o.is_empty());
        }
        if let Some(c) = &a.comment {
            k.comment = Some(c.clone()).filter(|c| !c.is_empty());
        }
        keys.push(k);
    }
    if keys.is_empty() {
        return Err(ModuleError::failed("no key given"));
    }
    Ok(keys)
}

/// The file's new content.
pub fn edit(current: &str, keys: &[KeyLine], state: Presence, exclusive: bool) -> String {
    let mut lines: Vec<String> = current.lines().map(str::to_string).collect();
    let blob_of = |l: &str| parse_key_line(l).map(|k| k.blob);
    match state {
        Presence::Absent => {
            lines.retain(|l| blob_of(l).is_none_or(|b| !keys.iter().any(|k| k.blob == b)));
        }
        Presence::Present => {
            if exclusive {
                lines.retain(|l| blob_of(l).is_none_or(|b| keys.iter().any(|k| k.blob == b)));
            }
            for k in keys {
                let want = k.render();
                match lines
                    .iter()
                    .position(|l| blob_of(l) == Some(k.blob.clone()))
                {
                    Some(i) => lines[i] = want,
                    None => lines.push(want),
                }
            }
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

const MARK: &str = "rmesos_content_follows=1\n";

fn query_script(a: &AuthorizedKeyArgs) -> String {
    format!(
        "u={u}\ne=$(getent passwd \"$u\") || {{ echo \"user $u does not exist\" >&2; exit 3; }}\n\
         h=$(printf '%s' \"$e\" | cut -d: -f6)\nprintf 'ug=%s\\n' \"$(printf '%s' \"$e\" | cut -d: -f3,4)\"\n\
         p={p}\ncase $p in '~/'*) p=\"$h/${{p#\\~/}}\";; '') p=\"$h/.ssh/authorized_keys\";; esac\n\
         printf 'path=%s\\n' \"$p\"\nd=$(dirname \"$p\")\n\
         [ -d \"$d\" ] && printf 'dir=%s\\n' \"$(stat -c '%a|%u:%g' \"$d\")\"\n\
         if [ -f \"$p\" ]; then printf 'file=%s\\n' \"$(stat -c '%a|%u:%g' \"$p\")\"; printf '{MARK}'; cat \"$p\" || exit 1; fi\n",
        u = q(&a.user),
        p = q(a.path.as_deref().unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 alice@laptop";
    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx bob@desk";

    fn args(j: serde_json::Value) -> AuthorizedKeyArgs {
        crate::modules::decode(
            &minijinja::Value::from(minijinja::value::Serde(j)),
            crate::modules::DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn key_lines_with_quoted_options_parse() {
        let k = parse_key_line("command=\"echo a b\",no-pty ssh-ed25519 AAAAC3Nz the comment here")
            .unwrap();
        assert_eq!(k.options.as_deref(), Some("command=\"echo a b\",no-pty"));
        assert_eq!(
            (k.kind.as_str(), k.blob.as_str()),
            ("ssh-ed25519", "AAAAC3Nz")
        );
        assert_eq!(k.comment.as_deref(), Some("the comment here"));
        assert_eq!(parse_key_line(RSA).unwrap().render(), RSA);
        assert_eq!(parse_key_line("# ssh-rsa AAAA"), None);
        assert_eq!(parse_key_line("not a key"), None);
    }

    #[test]
    fn present_adds_once_and_updates_options_in_place() {
        let keys = wanted_keys(&args(serde_json::json!({"user": "u", "key": RSA}))).unwrap();
        let once = edit("# mine\n", &keys, Presence::Present, false);
        assert_eq!(once, format!("# mine\n{RSA}\n"));
        assert_eq!(edit(&once, &keys, Presence::Present, false), once);
        let opts = wanted_keys(&args(serde_json::json!({
            "user": "u", "key": RSA, "key_options": "no-pty", "comment": "ops"
        })))
        .unwrap();
        let updated = edit(&once, &opts, Presence::Present, false);
        assert_eq!(
            updated,
            "# mine\nno-pty ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops\n"
        );
    }

    #[test]
    fn exclusive_and_absent_remove_keys_but_keep_comments() {
        let current = format!("# team\n{RSA}\n{ED}\n");
        let rsa = wanted_keys(&args(serde_json::json!({"user": "u", "key": RSA}))).unwrap();
        assert_eq!(
            edit(&current, &rsa, Presence::Present, true),
            format!("# team\n{RSA}\n")
        );
        assert_eq!(
            edit(&current, &rsa, Presence::Absent, false),
            format!("# team\n{ED}\n")
        );
        let both = wanted_keys(&args(
            serde_json::json!({"user": "u", "key": format!("{RSA}\n\n{ED}\n")}),
        ))
        .unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(edit("", &both, Presence::Absent, false), "");
    }

    #[test]
    fn urls_and_garbage_are_refused() {
        let e = wanted_keys(&args(
            serde_json::json!({"user": "u", "key": "https://github.com/u.keys"}),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("URL"), "{e}");
        let e = wanted_keys(&args(serde_json::json!({"user": "u", "key": "hello"})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid key"), "{e}");
    }
}
