//! `postgresql_user` (community.postgresql): a role present with its password, attribute flags
//! (`CREATEDB,NOSUPERUSER`), expiry and connection limit, or absent. One query reads the role
//! (from pg_authid, so the login user must be a superuser, as in Ansible); the controller
//! decides, checking a given password against the stored SCRAM-SHA-256 or MD5 hash as
//! community.postgresql does (no change when it already matches); a second script runs the
//! statements. The password never appears in the result (`queries` shows `********`).

use super::pgkit::{LOGIN_DOC, ident, lit, pg_args, run_sql};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, Presence, TaskContext};
use base64::Engine;
use hmac::{Hmac, Mac};
use indexmap::IndexMap;
use minijinja::Value;
use sha2::Sha256;

pub struct PostgresqlUser;

pg_args! {
    pub struct PostgresqlUserArgs {
        #[serde(alias = "user")]
        name: String,
        password: Option<String>,
        #[serde(default = "crate::modules::databases::pgkit::yes")]
        encrypted: bool,
        #[serde(default)]
        role_attr_flags: String,
        #[serde(default, alias = "login_db")]
        db: String,
        #[serde(default)]
        state: Presence,
        expires: Option<String>,
        conn_limit: Option<i64>,
        #[serde(default)]
        no_password_changes: bool,
        #[serde(default = "crate::modules::databases::pgkit::yes")]
        fail_on_user: bool,
        comment: Option<String>,
    }
}

const ARGS: &[ArgDoc] = &[
    aka(req("name", "The role."), &["user"]),
    arg(
        "password",
        "Its password (or an md5/SCRAM hash); unchanged when the stored hash already matches it; empty removes it.",
    ),
    dflt("encrypted", "yes", "Store the password hashed."),
    arg(
        "role_attr_flags",
        "Comma-separated attributes: [NO]SUPERUSER, [NO]CREATEROLE, [NO]CREATEDB, [NO]INHERIT, [NO]LOGIN, [NO]REPLICATION, [NO]BYPASSRLS.",
    ),
    aka(arg("db", "The database psql connects to."), &["login_db"]),
    one_of(
        dflt(
            "state",
            "present",
            "present creates or alters it; absent drops it.",
        ),
        &["present", "absent"],
    ),
    arg("expires", "VALID UNTIL timestamp (`infinity`)."),
    arg("conn_limit", "The role's connection limit."),
    dflt(
        "no_password_changes",
        "no",
        "Never change the password of an existing role.",
    ),
    dflt(
        "fail_on_user",
        "yes",
        "Fail when the role cannot be dropped.",
    ),
    arg("comment", "COMMENT ON ROLE."),
    LOGIN_DOC,
];

/// Flag word → pg_authid column.
const FLAGS: &[(&str, &str)] = &[
    ("SUPERUSER", "rolsuper"),
    ("CREATEROLE", "rolcreaterole"),
    ("CREATEDB", "rolcreatedb"),
    ("INHERIT", "rolinherit"),
    ("LOGIN", "rolcanlogin"),
    ("REPLICATION", "rolreplication"),
    ("BYPASSRLS", "rolbypassrls"),
];

fn probe_sql(name: &str) -> String {
    let cols: Vec<String> = FLAGS
        .iter()
        .map(|(_, c)| format!("'{c}=' || {c}"))
        .collect();
    format!(
        "SELECT concat_ws(E'\\n', {}, 'conn_limit=' || rolconnlimit, \
         'valid_until=' || coalesce(rolvaliduntil::text, ''), 'pw=' || coalesce(rolpassword, '')) \
         FROM pg_authid WHERE rolname = {};\n",
        cols.join(", "),
        lit(name)
    )
}

/// The flags asked for that differ from the role's (all of them for a new role).
fn flag_words(flags: &str, cur: Option<&IndexMap<String, String>>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in flags
        .split(',')
        .map(|f| f.trim().to_uppercase())
        .filter(|f| !f.is_empty())
    {
        let (want, base) = match f.strip_prefix("NO") {
            Some(b) if FLAGS.iter().any(|(n, _)| *n == b) => (false, b.to_string()),
            _ => (true, f.clone()),
        };
        let Some((_, col)) = FLAGS.iter().find(|(n, _)| *n == base) else {
            return Err(format!("Invalid role_attr_flags specified: {f}"));
        };
        let have = cur.map(|c| c.get(*col).is_some_and(|v| v == "true"));
        if have != Some(want) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Whether `password` already is what `stored` holds (community.postgresql's rules).
pub fn password_matches(password: &str, user: &str, stored: &str, encrypted: bool) -> bool {
    if password.is_empty() {
        return stored.is_empty();
    }
    if password.starts_with("SCRAM-SHA-256$")
        || (password.starts_with("md5") && password.len() == 35)
        || !encrypted
    {
        return password == stored;
    }
    if let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") {
        return scram_matches(password, rest).unwrap_or(false);
    }
    let md5 = format!(
        "md5{}",
        hex::encode(<md5::Md5 as md5::Digest>::digest(format!(
            "{password}{user}"
        )))
    );
    md5 == stored
}

/// `ITER:SALT$STOREDKEY:SERVERKEY`: the password matches when its ServerKey (RFC 5802) does.
fn scram_matches(password: &str, stored: &str) -> Option<bool> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (params, keys) = stored.split_once('$')?;
    let (iter, salt) = params.split_once(':')?;
    let (_, server_key) = keys.split_once(':')?;
    let iter: u32 = iter.parse().ok()?;
    let salt = b64.decode(salt).ok()?;
    let server_key = b64.decode(server_key).ok()?;
    let salted = pbkdf2_sha256(password.as_bytes(), &salt, iter);
    let mut mac = Hmac::<Sha256>::new_from_slice(&salted).ok()?;
    mac.update(b"Server Key");
    Some(mac.finalize().into_bytes().as_slice() == server_key.as_slice())
}

/// PBKDF2-HMAC-SHA256, one 32-byte block (all SCRAM needs).
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iter: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iter, &mut out);
    out
}

/// The statements for `a` given the role as it is (`None`: missing), each with its masked
/// form for the result.
fn statements(
    a: &PostgresqlUserArgs,
    cur: Option<&IndexMap<String, String>>,
) -> Result<Vec<(String, String)>, String> {
    let mut attrs = flag_words(&a.role_attr_flags, cur)?;
    let mut masked = attrs.clone();
    let stored = cur
        .and_then(|c| c.get("pw"))
        .map(String::as_str)
        .unwrap_or("");
    if let Some(pw) = &a.password
        && !(cur.is_some() && a.no_password_changes)
        && (cur.is_none() || !password_matches(pw, &a.name, stored, a.encrypted))
    {
        if pw.is_empty() {
            attrs.push("PASSWORD NULL".into());
            masked.push("PASSWORD NULL".into());
        } else {
            let kw = if a.encrypted {
                "ENCRYPTED PASSWORD"
            } else {
                "UNENCRYPTED PASSWORD"
            };
            attrs.push(format!("{kw} {}", lit(pw)));
            masked.push(format!("{kw} '********'"));
        }
    }
    let cur_valid = cur.and_then(|c| c.get("valid_until")).map(String::as_str);
    if let Some(e) = &a.expires
        && cur_valid.is_none_or(|v| v != e)
    {
        attrs.push(format!("VALID UNTIL {}", lit(e)));
        masked.push(format!("VALID UNTIL {}", lit(e)));
    }
    let cur_limit = cur.and_then(|c| c.get("conn_limit")).map(String::as_str);
    if let Some(l) = a.conn_limit
        && cur_limit != Some(l.to_string().as_str())
    {
        attrs.push(format!("CONNECTION LIMIT {l}"));
        masked.push(format!("CONNECTION LIMIT {l}"));
    }
    let verb = if cur.is_some() {
        "ALTER USER"
    } else {
        "CREATE USER"
    };
    let mut out = Vec::new();
    if cur.is_none() || !attrs.is_empty() {
        let with = |w: &[String]| {
            if w.is_empty() {
                String::new()
            } else {
                format!(" WITH {}", w.join(" "))
            }
        };
        out.push((
            format!("{verb} {}{}", ident(&a.name), with(&attrs)),
            format!("{verb} {}{}", ident(&a.name), with(&masked)),
        ));
    }
    if let Some(c) = &a.comment
        && cur.is_none()
    {
        let st = format!("COMMENT ON ROLE {} IS {}", ident(&a.name), lit(c));
        out.push((st.clone(), st));
    }
    Ok(out)
}

impl Module for PostgresqlUser {
    const NAME: &'static str = "postgresql_user";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("user", "the role"),
            ("queries", "the statements run (passwords masked)"),
        ],
        summary: "Create, alter or drop a PostgreSQL role with its password and attributes (psql on the host).",
        args: ARGS,
        example: "- community.postgresql.postgresql_user:\n    name: app\n    password: \"{{ app_db_password }}\"\n    role_attr_flags: CREATEDB,NOSUPERUSER\n  become: true\n  become_user: postgres\n",
    };
    type Args = PostgresqlUserArgs;

    async fn run(
        &self,
        a: PostgresqlUserArgs,
        cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        let login = a.login(&a.db);
        let what = format!("cannot query role {}", a.name);
        let cur = run_sql(cx, &login, &probe_sql(&a.name), &what).await?;
        let exists = cur.contains_key("rolsuper");
        let stmts = match (a.state, exists) {
            (Presence::Present, _) => {
                statements(&a, exists.then_some(&cur)).map_err(ModuleError::Failed)?
            }
            (Presence::Absent, true) => {
                let st = format!("DROP USER {}", ident(&a.name));
                vec![(st.clone(), st)]
            }
            (Presence::Absent, false) => vec![],
        };
        let changed = !stmts.is_empty();
        if changed && !cx.check_mode {
            let sql: String = stmts.iter().map(|(s, _)| format!("{s};\n")).collect();
            let sql = format!("BEGIN;\n{sql}COMMIT;\n");
            let what = format!("cannot change role {}", a.name);
            if let Err(e) = run_sql(cx, &login, &sql, &what).await
                && (a.state == Presence::Present || a.fail_on_user)
            {
                return Err(e);
            }
        }
        let queries: Vec<Value> = stmts.iter().map(|(_, m)| Value::from(m.as_str())).collect();
        Ok(Outcome::changed(changed)
            .with("user", a.name.as_str())
            .with("queries", queries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};

    fn args(j: serde_json::Value) -> PostgresqlUserArgs {
        decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn passwords_are_checked_against_md5_hashes() {
        let md5 = format!(
            "md5{}",
            hex::encode(<md5::Md5 as md5::Digest>::digest("secretapp"))
        );
        assert!(password_matches("secret", "app", &md5, true));
        assert!(!password_matches("other", "app", &md5, true));
        assert!(password_matches("", "app", "", true));
    }

    #[test]
    fn scram_verifier_round_trip() {
        // Build a verifier as PostgreSQL does, then check it.
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b"0123456789abcdef";
        let salted = pbkdf2_sha256(b"s3cret", salt, 4096);
        let mut mac = Hmac::<Sha256>::new_from_slice(&salted).unwrap();
        mac.update(b"Server Key");
        let sk = b64.encode(mac.finalize().into_bytes());
        let stored = format!("SCRAM-SHA-256$4096:{}$AAAA:{sk}", b64.encode(salt));
        assert!(password_matches("s3cret", "app", &stored, true));
        assert!(!password_matches("s3cret!", "app", &stored, true));
    }

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 section 11: P="passwd", S="salt", c=1, first 32 bytes.
        let t = pbkdf2_sha256(b"passwd", b"salt", 1);
        assert_eq!(
            hex::encode(t),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn only_what_differs_is_altered() {
        let a = args(serde_json::json!({"name": "app", "password": "secret",
            "role_attr_flags": "CREATEDB,NOSUPERUSER"}));
        let new = statements(&a, None).unwrap();
        assert_eq!(
            new[0].1,
            "CREATE USER \"app\" WITH CREATEDB NOSUPERUSER ENCRYPTED PASSWORD '********'"
        );
        assert!(new[0].0.contains("'secret'"));
        let mut cur = IndexMap::new();
        for (_, c) in FLAGS {
            cur.insert(c.to_string(), "false".to_string());
        }
        cur.insert("rolcreatedb".into(), "true".into());
        let md5 = format!(
            "md5{}",
            hex::encode(<md5::Md5 as md5::Digest>::digest("secretapp"))
        );
        cur.insert("pw".into(), md5);
        assert!(statements(&a, Some(&cur)).unwrap().is_empty());
        cur.insert("rolcreatedb".into(), "false".into());
        assert_eq!(
            statements(&a, Some(&cur)).unwrap()[0].1,
            "ALTER USER \"app\" WITH CREATEDB"
        );
        let bad = args(serde_json::json!({"name": "app", "role_attr_flags": "FLY"}));
        assert!(statements(&bad, None).unwrap_err().contains("FLY"));
    }
}
