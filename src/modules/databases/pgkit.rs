//! What the PostgreSQL modules share: their connection arguments ([`pg_args!`]), one SQL script
//! run through `psql` on the host ([`run_sql`]), and SQL quoting.
//!
//! Peer authentication maps the OS user to the database user, so `psql` runs as the login user:
//! directly when the task already runs as it (`become_user: postgres`), through `runuser` (or
//! `su`) when the script runs as root. The password, when there is one, travels on stdin and
//! reaches psql as PGPASSWORD, never on a command line; the SQL follows it on stdin.

use crate::modules::remote::{host_error, parse_kv, q};
use crate::modules::{ModuleError, TaskContext};
use indexmap::IndexMap;

pub fn postgres() -> String {
    "postgres".into()
}

pub fn yes() -> bool {
    true
}

/// What every PostgreSQL module's doc says about the connection arguments.
pub const LOGIN_DOC: crate::modules::ArgDoc = crate::modules::doc::arg(
    "login_user (postgres), login_password, login_host, login_unix_socket, port, session_role, ssl_mode, ca_cert, trust_input",
    "How psql connects, as in community.postgresql: login_host localhost (or empty) with login_unix_socket uses the socket; without a password psql runs as the OS user of login_user (peer authentication).",
);

/// Declares a module's argument struct with the connection arguments every PostgreSQL module
/// takes added to its own fields.
macro_rules! pg_args {
    (pub struct $name:ident { $($field:tt)* }) => {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($field)*
            #[serde(default = "crate::modules::databases::pgkit::postgres", alias = "login")]
            login_user: String,
            login_password: Option<String>,
            #[serde(default, alias = "host")]
            login_host: String,
            #[serde(default, alias = "unix_socket")]
            login_unix_socket: String,
            #[serde(alias = "login_port")]
            port: Option<u16>,
            session_role: Option<String>,
            ssl_mode: Option<String>,
            #[serde(alias = "ssl_rootcert")]
            ca_cert: Option<String>,
            #[serde(default = "crate::modules::databases::pgkit::yes")]
            trust_input: bool,
        }

        impl $name {
            fn login<'a>(&'a self, db: &'a str) -> crate::modules::databases::pgkit::Login<'a> {
                let _ = self.trust_input;
                crate::modules::databases::pgkit::Login {
                    user: &self.login_user,
                    password: self.login_password.as_deref(),
                    host: &self.login_host,
                    socket: &self.login_unix_socket,
                    port: self.port,
                    db,
                    session_role: self.session_role.as_deref(),
                    ssl_mode: self.ssl_mode.as_deref(),
                    ca_cert: self.ca_cert.as_deref(),
                }
            }
        }
    };
}
pub(crate) use pg_args;

/// How psql connects.
pub struct Login<'a> {
    pub user: &'a str,
    pub password: Option<&'a str>,
    pub host: &'a str,
    pub socket: &'a str,
    pub port: Option<u16>,
    pub db: &'a str,
    pub session_role: Option<&'a str>,
    pub ssl_mode: Option<&'a str>,
    pub ca_cert: Option<&'a str>,
}

/// Exit code when psql is missing.
pub const RC_NO_PSQL: i32 = 80;

impl Login<'_> {
    /// The host psql is given: the socket directory for localhost, as community.postgresql does.
    fn host(&self) -> &str {
        let local = self.host.is_empty() || self.host == "localhost";
        if local && !self.socket.is_empty() {
            self.socket
        } else {
            self.host
        }
    }

    /// The script: reads the password line, then runs psql on the rest of stdin.
    pub fn script(&self) -> String {
        let mut args = String::from("psql -X -q -A -t -v ON_ERROR_STOP=1");
        if !self.host().is_empty() {
            args.push_str(&format!(" -h {}", q(self.host())));
        }
        if let Some(p) = self.port {
            args.push_str(&format!(" -p {p}"));
        }
        let db = if self.db.is_empty() {
            "postgres"
        } else {
            self.db
        };
        args.push_str(&format!(" -U {} -d {} -f -", q(self.user), q(db)));
        let mut s = format!(
            "command -v psql >/dev/null 2>&1 || {{ echo 'psql is not installed (postgresql-client)' >&2; exit {RC_NO_PSQL}; }}\n\
             cd / && IFS= read -r pw\nif [ -n \"$pw\" ]; then PGPASSWORD=$pw; export PGPASSWORD; fi\nunset pw\n"
        );
        if let Some(m) = self.ssl_mode {
            s.push_str(&format!("PGSSLMODE={}; export PGSSLMODE\n", q(m)));
        }
        if let Some(c) = self.ca_cert {
            s.push_str(&format!("PGSSLROOTCERT={}; export PGSSLROOTCERT\n", q(c)));
        }
        let u = q(self.user);
        s.push_str(&format!(
            "set -- {args}\n\
             if [ -z \"$PGPASSWORD\" ] && [ \"$(id -u)\" = 0 ] && [ {u} != root ] && id -u {u} >/dev/null 2>&1; then\n\
             if command -v runuser >/dev/null 2>&1; then exec runuser -u {u} -- \"$@\"; else exec su -s /bin/sh {u} -c 'exec \"$0\" \"$@\"' \"$@\"; fi\n\
             fi\nexec \"$@\"\n"
        ));
        s
    }

    /// stdin for [`script`](Self::script): the password line, `SET ROLE`, then the SQL.
    pub fn stdin(&self, sql: &str) -> Vec<u8> {
        let mut s = format!("{}\n", self.password.unwrap_or("").replace('\n', ""));
        if let Some(r) = self.session_role {
            s.push_str(&format!("SET ROLE {};\n", ident(r)));
        }
        s.push_str(sql);
        s.into_bytes()
    }
}

/// Runs `sql` and returns the `key=value` rows it printed; a failure says psql's own words.
pub async fn run_sql(
    cx: &TaskContext<'_>,
    login: &Login<'_>,
    sql: &str,
    what: &str,
) -> Result<IndexMap<String, String>, ModuleError> {
    let out = cx.run(&login.script(), &login.stdin(sql)).await?;
    if out.rc != 0 {
        return Err(ModuleError::Failed(host_error(what, &out)));
    }
    Ok(parse_kv(&out.stdout_str()))
}

/// A quoted identifier (`"my""db"`).
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A role in GRANT/REVOKE: quoted, except the keyword `PUBLIC`.
pub fn role(s: &str) -> String {
    if s.eq_ignore_ascii_case("public") {
        "PUBLIC".into()
    } else {
        ident(s)
    }
}

/// A quoted string literal (standard_conforming_strings, the default since 9.1).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A `schema.name` identifier, each part quoted.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_the_socket_rule() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(role("public"), "PUBLIC");
        assert_eq!(ident("public"), "\"public\"");
        assert_eq!(lit("it's"), "'it''s'");
        let l = Login {
            user: "postgres",
            password: None,
            host: "localhost",
            socket: "/var/run/postgresql",
            port: None,
            db: "",
            session_role: Some("app"),
            ssl_mode: None,
            ca_cert: None,
        };
        let s = l.script();
        assert!(s.contains("-h /var/run/postgresql"), "{s}");
        assert!(s.contains("-d postgres"), "{s}");
        assert!(s.contains("runuser -u postgres"), "{s}");
        assert_eq!(l.stdin("SELECT 1;"), b"\nSET ROLE \"app\";\nSELECT 1;");
    }
}
