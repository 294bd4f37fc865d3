//! `postgresql_privs` (community.postgresql): grants or revokes privileges on tables,
//! sequences, functions, databases, schemas and default privileges, and role membership
//! (`type: group`). As in Ansible, the statements run in one transaction between two reads of
//! the objects' ACLs: changed when the ACLs differ, and in check mode the transaction is rolled
//! back. Roles that do not exist fail the task (`fail_on_role: no`: they are left out).

use super::pgkit::{LOGIN_DOC, ident, lit, pg_args, qualified, role, run_sql};
use crate::modules::doc::{aka, arg, dflt, one_of, req};
use crate::modules::{ArgDoc, Module, ModuleDoc, ModuleError, Outcome, Presence, TaskContext};
use minijinja::Value;
use serde::Deserialize;

pub struct PostgresqlPrivs;

#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ObjType {
    #[default]
    Table,
    Sequence,
    Function,
    Database,
    Schema,
    Group,
    DefaultPrivs,
}

pg_args! {
    pub struct PostgresqlPrivsArgs {
        #[serde(alias = "db", alias = "login_db")]
        database: String,
        #[serde(default)]
        state: Presence,
        #[serde(alias = "priv")]
        privs: Option<String>,
        #[serde(default, rename = "type")]
        kind: ObjType,
        #[serde(alias = "obj")]
        objs: Option<String>,
        schema: Option<String>,
        #[serde(alias = "role")]
        roles: String,
        target_roles: Option<String>,
        grant_option: Option<bool>,
        #[serde(default = "crate::modules::databases::pgkit::yes")]
        fail_on_role: bool,
    }
}

const ARGS: &[ArgDoc] = &[
    aka(
        req(
            "database",
            "The database the objects are in (and that psql connects to).",
        ),
        &["db", "login_db"],
    ),
    one_of(
        dflt("state", "present", "present grants; absent revokes."),
        &["present", "absent"],
    ),
    aka(
        arg(
            "privs",
            "Comma-separated privileges (SELECT,INSERT or ALL); not used with type=group.",
        ),
        &["priv"],
    ),
    one_of(
        dflt("type", "table", "What objs are."),
        &[
            "table",
            "sequence",
            "function",
            "database",
            "schema",
            "group",
            "default_privs",
        ],
    ),
    aka(
        arg(
            "objs",
            "Comma-separated objects; ALL_IN_SCHEMA for every table/sequence/function of the schema; for default_privs TABLES, SEQUENCES, FUNCTIONS, TYPES, SCHEMAS or ALL_DEFAULT; for group the groups. Functions as `f(int:text)`. Default for database: the database.",
        ),
        &["obj"],
    ),
    arg(
        "schema",
        "The schema of tables, sequences and functions (default public), or of default_privs.",
    ),
    aka(
        req(
            "roles",
            "Comma-separated roles (or PUBLIC) that get or lose the privileges.",
        ),
        &["role"],
    ),
    arg("target_roles", "default_privs: FOR ROLE these roles."),
    arg(
        "grant_option",
        "WITH GRANT OPTION (ADMIN OPTION for group); no revokes only the option.",
    ),
    dflt(
        "fail_on_role",
        "yes",
        "Fail when a role does not exist (no: leave it out).",
    ),
    LOGIN_DOC,
];

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn lits(items: &[String]) -> String {
    items.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", ")
}

/// A query printing `LABEL=` and the ACLs of the objects, in one comparable string.
fn acl_sql(a: &PostgresqlPrivsArgs, objs: &[String], label: &str) -> String {
    let schema = a.schema.as_deref().unwrap_or("public");
    let all = objs.iter().any(|o| o == "ALL_IN_SCHEMA");
    let names = if all {
        String::new()
    } else {
        format!(" AND c.relname IN ({})", lits(objs))
    };
    let body = match a.kind {
        ObjType::Table | ObjType::Sequence => {
            let kinds = if a.kind == ObjType::Table { "'r','p','v','m','f'" } else { "'S'" };
            format!("string_agg(c.relname || ':' || coalesce(c.relacl::text, ''), ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {} AND c.relkind IN ({kinds}){names}", lit(schema))
        }
        ObjType::Function => format!("string_agg(p.oid::regprocedure::text || ':' || coalesce(p.proacl::text, ''), ',' ORDER BY 1) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = {}", lit(schema)),
        ObjType::Database => format!("string_agg(datname || ':' || coalesce(datacl::text, ''), ',' ORDER BY datname) FROM pg_database WHERE datname IN ({})", lits(objs)),
        ObjType::Schema => format!("string_agg(nspname || ':' || coalesce(nspacl::text, ''), ',' ORDER BY nspname) FROM pg_namespace WHERE nspname IN ({})", lits(objs)),
        ObjType::Group => "string_agg(r.rolname || '<' || g.rolname || ':' || m.admin_option::text, ',' ORDER BY 1) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid".into(),
        ObjType::DefaultPrivs => "string_agg(defaclrole::regrole::text || ':' || defaclnamespace::text || ':' || defaclobjtype::text || ':' || defaclacl::text, ',' ORDER BY 1) FROM pg_default_acl".into(),
    };
    format!("SELECT '{label}=' || coalesce((SELECT {body}), '');\n")
}

/// The GRANT/REVOKE statements.
fn statements(
    a: &PostgresqlPrivsArgs,
    objs: &[String],
    roles: &[String],
) -> Result<Vec<String>, String> {
    let to: Vec<String> = roles.iter().map(|r| role(r)).collect();
    let to = to.join(", ");
    let grant = a.state == Presence::Present;
    let (verb, prep) = if grant {
        ("GRANT", "TO")
    } else {
        ("REVOKE", "FROM")
    };
    if a.kind == ObjType::Group {
        let groups: Vec<String> = objs.iter().map(|g| ident(g)).collect();
        let mut s = format!("{verb} {} {prep} {to}", groups.join(", "));
        if grant && a.grant_option == Some(true) {
            s.push_str(" WITH ADMIN OPTION");
        }
        return Ok(vec![s]);
    }
    let privs = a.privs.as_deref().map(list).unwrap_or_default();
    let privs = if privs.is_empty() {
        "ALL".to_string()
    } else {
        privs.join(", ").to_uppercase()
    };
    let schema = a.schema.as_deref().unwrap_or("public");
    // present with grant_option=no takes the option away and leaves the privileges.
    let revoke_option = grant && a.grant_option == Some(false);
    let (head, prep) = if revoke_option {
        (format!("REVOKE GRANT OPTION FOR {privs}"), "FROM")
    } else {
        (format!("{verb} {privs}"), prep)
    };
    let tail = if grant && a.grant_option == Some(true) {
        " WITH GRANT OPTION"
    } else {
        ""
    };
    let all = objs.iter().any(|o| o == "ALL_IN_SCHEMA");
    let on = |word: &str, plural: &str| -> String {
        if all {
            format!("ALL {plural} IN SCHEMA {}", ident(schema))
        } else {
            let q: Vec<String> = objs.iter().map(|o| qualified(schema, o)).collect();
            format!("{word} {}", q.join(", "))
        }
    };
    let target = match a.kind {
        ObjType::Table => on("TABLE", "TABLES"),
        ObjType::Sequence => on("SEQUENCE", "SEQUENCES"),
        ObjType::Function if all => on("FUNCTION", "FUNCTIONS"),
        ObjType::Function => {
            let f: Vec<String> = objs
                .iter()
                .map(|o| match o.split_once('(') {
                    Some((n, args)) => {
                        format!("{}({}", qualified(schema, n), args.replace(':', ","))
                    }
                    None => qualified(schema, o),
                })
                .collect();
            format!("FUNCTION {}", f.join(", "))
        }
        ObjType::Database => format!(
            "DATABASE {}",
            objs.iter().map(|o| ident(o)).collect::<Vec<_>>().join(", ")
        ),
        ObjType::Schema => format!(
            "SCHEMA {}",
            objs.iter().map(|o| ident(o)).collect::<Vec<_>>().join(", ")
        ),
        ObjType::DefaultPrivs => {
            let mut kinds: Vec<String> = objs.iter().map(|o| o.to_uppercase()).collect();
            if kinds.iter().any(|k| k == "ALL_DEFAULT") {
                kinds = ["TABLES", "SEQUENCES", "FUNCTIONS", "TYPES"]
                    .map(String::from)
                    .to_vec();
            }
            let for_role = a
                .target_roles
                .as_deref()
                .map(|t| {
                    format!(
                        "FOR ROLE {} ",
                        list(t)
                            .iter()
                            .map(|r| ident(r))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .unwrap_or_default();
            let in_schema = a
                .schema
                .as_deref()
                .map(|s| format!("IN SCHEMA {} ", ident(s)))
                .unwrap_or_default();
            return kinds
                .iter()
                .map(|k| {
                    if !["TABLES", "SEQUENCES", "FUNCTIONS", "TYPES", "SCHEMAS"].contains(&k.as_str()) {
                        return Err(format!("invalid default_privs object {k}"));
                    }
                    Ok(format!("ALTER DEFAULT PRIVILEGES {for_role}{in_schema}{head} ON {k} {prep} {to}{tail}"))
                })
                .collect();
        }
        ObjType::Group => unreachable!("handled above"),
    };
    Ok(vec![format!("{head} ON {target} {prep} {to}{tail}")])
}

impl Module for PostgresqlPrivs {
    const NAME: &'static str = "postgresql_privs";
    const DOC: ModuleDoc = ModuleDoc {
        returns: &[("queries", "the GRANT/REVOKE statements run")],
        summary: "Grant or revoke PostgreSQL privileges and role membership (psql on the host).",
        args: ARGS,
        example: "- community.postgresql.postgresql_privs:\n    database: app\n    roles: reader\n    privs: SELECT\n    objs: ALL_IN_SCHEMA\n  become: true\n  become_user: postgres\n",
    };
    type Args = PostgresqlPrivsArgs;

    async fn run(
        &self,
        a: PostgresqlPrivsArgs,
        cx: &TaskContext<'_>,
    ) -> Result<Outcome, ModuleError> {
        let login = a.login(&a.database);
        let mut objs = a.objs.as_deref().map(list).unwrap_or_default();
        if objs.is_empty() {
            match a.kind {
                ObjType::Database => objs.push(a.database.clone()),
                ObjType::DefaultPrivs => objs.push("ALL_DEFAULT".into()),
                _ => return Err(ModuleError::failed("missing required argument objs")),
            }
        }
        let mut roles = list(&a.roles);
        let named: Vec<String> = roles
            .iter()
            .filter(|r| !r.eq_ignore_ascii_case("public"))
            .cloned()
            .collect();
        let mut warnings = Vec::new();
        if !named.is_empty() {
            let sql = format!(
                "SELECT 'missing_' || r || '=1' FROM unnest(ARRAY[{}]::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);\n",
                lits(&named)
            );
            let missing = run_sql(cx, &login, &sql, "cannot query roles").await?;
            for r in missing.keys().filter_map(|k| k.strip_prefix("missing_")) {
                if a.fail_on_role {
                    return Err(ModuleError::Failed(format!("Role {r} does not exist")));
                }
                warnings.push(Value::from(format!("Role {r} does not exist")));
                roles.retain(|x| x != r);
            }
        }
        if roles.is_empty() {
            return Ok(Outcome::ok()
                .with("queries", Vec::<Value>::new())
                .with("warnings", warnings));
        }
        let stmts = statements(&a, &objs, &roles).map_err(ModuleError::Failed)?;
        let end = if cx.check_mode { "ROLLBACK" } else { "COMMIT" };
        let body: String = stmts.iter().map(|s| format!("{s};\n")).collect();
        let sql = format!(
            "BEGIN;\n{}{body}{}{end};\n",
            acl_sql(&a, &objs, "before"),
            acl_sql(&a, &objs, "after")
        );
        let kv = run_sql(cx, &login, &sql, "cannot change privileges").await?;
        let changed = kv.get("before") != kv.get("after");
        let queries: Vec<Value> = stmts.iter().map(|s| Value::from(s.as_str())).collect();
        let mut o = Outcome::changed(changed).with("queries", queries);
        if !warnings.is_empty() {
            o = o.with("warnings", warnings);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::{DecodeMode, decode};

    fn stmts(j: serde_json::Value) -> Vec<String> {
        let a: PostgresqlPrivsArgs = decode(
            &Value::from(minijinja::value::Serde(j)),
            DecodeMode::RunTime,
        )
        .unwrap();
        let objs = list(a.objs.as_deref().unwrap_or(""));
        let roles = list(&a.roles);
        statements(&a, &objs, &roles).unwrap()
    }

    #[test]
    fn grant_and_revoke_statements() {
        assert_eq!(
            stmts(
                serde_json::json!({"db": "app", "roles": "reader", "privs": "select,insert", "objs": "t1,t2"})
            ),
            vec![
                "GRANT SELECT, INSERT ON TABLE \"public\".\"t1\", \"public\".\"t2\" TO \"reader\""
            ]
        );
        assert_eq!(
            stmts(
                serde_json::json!({"db": "app", "roles": "reader", "privs": "SELECT", "objs": "ALL_IN_SCHEMA", "state": "absent", "schema": "s"})
            ),
            vec!["REVOKE SELECT ON ALL TABLES IN SCHEMA \"s\" FROM \"reader\""]
        );
        assert_eq!(
            stmts(
                serde_json::json!({"db": "app", "roles": "app", "type": "database", "privs": "CONNECT", "objs": "app", "grant_option": true})
            ),
            vec!["GRANT CONNECT ON DATABASE \"app\" TO \"app\" WITH GRANT OPTION"]
        );
        assert_eq!(
            stmts(
                serde_json::json!({"db": "app", "roles": "bob", "type": "group", "objs": "readers"})
            ),
            vec!["GRANT \"readers\" TO \"bob\""]
        );
        assert_eq!(
            stmts(
                serde_json::json!({"db": "app", "roles": "bob", "type": "function", "privs": "EXECUTE", "objs": "f(int:text)"})
            ),
            vec!["GRANT EXECUTE ON FUNCTION \"public\".\"f\"(int,text) TO \"bob\""]
        );
        let d = stmts(
            serde_json::json!({"db": "app", "roles": "r", "type": "default_privs", "privs": "SELECT", "objs": "TABLES", "schema": "s", "target_roles": "owner"}),
        );
        assert_eq!(
            d,
            vec![
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"owner\" IN SCHEMA \"s\" GRANT SELECT ON TABLES TO \"r\""
            ]
        );
    }
}
