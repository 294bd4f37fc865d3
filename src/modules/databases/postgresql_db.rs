//! `postgresql_db` (community.postgresql): a database present (with its owner, encoding,
//! collation and connection limit) or absent. One query reads the database; the controller
//! decides; a second script runs the CREATE/ALTER/DROP statements (CREATE DATABASE cannot run
//! in a transaction, so check mode decides on the controller). An existing database whose
//! encoding or locale differs fails, as in Ansible (PostgreSQL cannot change them).

use super::pgkit::{LOGIN_DOC, ident, lit, pg_args, run_sql};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, Presence, TaskContext};
use minijinja::Value;

pub struct PostgresqlDb;

pg_args! {
    pub struct PostgresqlDbArgs {
        #[serde(alias = "db")]
        name: String,
        #[serde(default)]
        state: Presence,
        owner: Option<String>,
        template: Option<String>,
        encoding: Option<String>,
        lc_collate: Option<String>,
        lc_ctype: Option<String>,
        conn_limit: Option<String>,
        tablespace: Option<String>,
        #[serde(default = "crate::modules::databases::pgkit::postgres", alias = "login_db")]
        maintenance_db: String,
    }
}

const ARGS: &[ArgDoc] = &[
    aka(req("name", "The database."), &["db"]),
    one_of(
        dflt("state", "present", "present creates it; absent drops it."),
        &["present", "absent"],
    ),
    arg(
        "owner",
        "The role that owns it (changed with ALTER DATABASE when it differs).",
    ),
    arg(
        "template",
        "The template to create it from (template0 for a new encoding).",
    ),
    arg(
        "encoding",
        "Its encoding (UTF-8); an existing database with another one fails.",
    ),
    arg(
        "lc_collate",
        "Its collation; an existing database with another one fails.",
    ),
    arg(
        "lc_ctype",
        "Its character classification; an existing database with another one fails.",
    ),
    arg("conn_limit", "The connection limit (-1: none)."),
    arg("tablespace", "The tablespace to create it in."),
    aka(
        dflt(
            "maintenance_db",
            "postgres",
            "The database psql connects to.",
        ),
        &["login_db"],
    ),
    LOGIN_DOC,
];

/// The database as it is, one `key=value` row each.
fn probe_sql(a: &PostgresqlDbArgs) -> String {
    let enc = a.encoding.as_deref().unwrap_or("");
    format!(
        "SELECT concat_ws(E'\\n', 'owner=' || pg_catalog.pg_get_userbyid(datdba), \
         'encoding=' || pg_encoding_to_char(encoding), \
         'same_encoding=' || (encoding = pg_char_to_encoding({})), \
         'collate=' || datcollate, 'ctype=' || datctype, 'conn_limit=' || datconnlimit) \
         FROM pg_database WHERE datname = {};\n",
        lit(enc),
        lit(&a.name)
    )
}

fn create_sql(a: &PostgresqlDbArgs) -> String {
    let mut s = format!("CREATE DATABASE {}", ident(&a.name));
    let parts = [
        ("OWNER", a.owner.as_deref().map(ident)),
        ("TEMPLATE", a.template.as_deref().map(ident)),
        ("ENCODING", a.encoding.as_deref().map(lit)),
        ("LC_COLLATE", a.lc_collate.as_deref().map(lit)),
        ("LC_CTYPE", a.lc_ctype.as_deref().map(lit)),
        ("TABLESPACE", a.tablespace.as_deref().map(ident)),
        ("CONNECTION LIMIT", a.conn_limit.clone()),
    ];
    for (kw, v) in parts {
        if let Some(v) = v.filter(|v| !v.is_empty() && v != "''") {
            s.push_str(&format!(" {kw} {v}"));
        }
    }
    s
}

/// The statements that bring an existing database to what `a` asks, or why it cannot be.
fn alter_sql(
    a: &PostgresqlDbArgs,
    cur: &indexmap::IndexMap<String, String>,
) -> Result<Vec<String>, String> {
    let get = |k: &str| cur.get(k).map(String::as_str).unwrap_or("");
    if a.encoding.as_deref().is_some_and(|e| !e.is_empty()) && get("same_encoding") != "true" {
        return Err(format!(
            "Changing database encoding is not supported. Current encoding: {}",
            get("encoding")
        ));
    }
    for (want, key, what) in [
        (&a.lc_collate, "collate", "LC_COLLATE"),
        (&a.lc_ctype, "ctype", "LC_CTYPE"),
    ] {
        if let Some(w) = want.as_deref().filter(|w| !w.is_empty())
            && w != get(key)
        {
            return Err(format!(
                "Changing {what} is not supported. Current {what}: {}",
                get(key)
            ));
        }
    }
    let mut out = Vec::new();
    if let Some(o) = a
        .owner
        .as_deref()
        .filter(|o| !o.is_empty() && *o != get("owner"))
    {
        out.push(format!(
            "ALTER DATABASE {} OWNER TO {}",
            ident(&a.name),
            ident(o)
        ));
    }
    if let Some(l) = a
        .conn_limit
        .as_deref()
        .filter(|l| !l.is_empty() && *l != get("conn_limit"))
    {
        out.push(format!(
            "ALTER DATABASE {} CONNECTION LIMIT {}",
            ident(&a.name),
            l.parse::<i64>()
                .map_err(|_| format!("invalid conn_limit {l:?}"))?
        ));
    }
    Ok(out)
}

impl Module for PostgresqlDb {
    const NAME: &'static str = "postgresql_db";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[
            ("db", "the database"),
            ("owner", "its owner"),
            ("encoding", "its encoding"),
            ("executed_commands", "the SQL statements run"),
        ],
        summary: "Create, alter or drop a PostgreSQL database (psql on the host).",
        args: ARGS,
        example: "- community.postgresql.postgresql_db:\n    name: app\n    owner: app\n    encoding: UTF-8\n  become: true\n  become_user: postgres\n",
    };
    type Args = PostgresqlDbArgs;

    async fn run(&self, a: PostgresqlDbArgs, cx: &TaskContext<'_>) -> Result<Outcome, ModuleError> {
        let login = a.login(&a.maintenance_db);
        let what = format!("cannot query database {}", a.name);
        let cur = run_sql(cx, &login, &probe_sql(&a), &what).await?;
        let exists = cur.contains_key("owner");
        let stmts = match (a.state, exists) {
            (Presence::Present, false) => vec![create_sql(&a)],
            (Presence::Present, true) => alter_sql(&a, &cur).map_err(ModuleError::Failed)?,
            (Presence::Absent, true) => vec![format!("DROP DATABASE {}", ident(&a.name))],
            (Presence::Absent, false) => vec![],
        };
        let changed = !stmts.is_empty();
        if changed && !cx.check_mode {
            // One psql run per statement: CREATE/DROP DATABASE refuse a transaction block.
            for st in &stmts {
                let what = format!("cannot change database {}", a.name);
                run_sql(cx, &login, &format!("{st};\n"), &what).await?;
            }
        }
        let cmds: Vec<Value> = stmts.iter().map(|s| Value::from(s.as_str())).collect();
        Ok(Outcome::changed(changed)
            .with("db", a.name.as_str())
            .with("executed_commands", cmds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};

    fn args(j: serde_json::Value) -> PostgresqlDbArgs {
        decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap()
    }

    #[test]
    fn create_and_alter_statements() {
        let a = args(
            serde_json::json!({"name": "app", "owner": "bob", "encoding": "UTF-8",
            "template": "template0", "login_host": "localhost", "login_unix_socket": "/run/pg"}),
        );
        assert_eq!(
            create_sql(&a),
            "CREATE DATABASE \"app\" OWNER \"bob\" TEMPLATE \"template0\" ENCODING 'UTF-8'"
        );
        let mut cur = indexmap::IndexMap::new();
        cur.insert("owner".to_string(), "postgres".to_string());
        cur.insert("same_encoding".to_string(), "true".to_string());
        assert_eq!(
            alter_sql(&a, &cur).unwrap(),
            vec!["ALTER DATABASE \"app\" OWNER TO \"bob\"".to_string()]
        );
        cur.insert("owner".to_string(), "bob".to_string());
        assert!(alter_sql(&a, &cur).unwrap().is_empty());
        cur.insert("same_encoding".to_string(), "false".to_string());
        cur.insert("encoding".to_string(), "LATIN1".to_string());
        assert!(
            alter_sql(&a, &cur)
                .unwrap_err()
                .contains("Current encoding: LATIN1")
        );
    }
}
