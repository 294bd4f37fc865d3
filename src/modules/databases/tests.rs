//! The three modules against a real PostgreSQL server started in a temp directory (skipped
//! when the server binaries or root, needed to run them as `postgres`, are missing).

use super::postgresql_db::PostgresqlDb;
use super::postgresql_privs::PostgresqlPrivs;
use super::postgresql_user::PostgresqlUser;
use crate::modules::testutil::Harness;
use serde_json::{Value, json};
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PORT: u16 = 54987;

struct Server {
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Option<Server> {
        let root = Command::new("id").arg("-u").output().ok()?;
        if !std::path::Path::new(BIN).exists() || root.stdout != b"0\n" {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let d = dir.path().display().to_string();
        let sh = format!(
            "chown postgres {d} && chmod 755 {d} && runuser -u postgres -- {BIN}/initdb -D {d}/data -A peer >/dev/null && \
             runuser -u postgres -- {BIN}/pg_ctl -D {d}/data -o \"-k {d} -c listen_addresses='' -p {PORT}\" -w -l {d}/log start >/dev/null"
        );
        let ok = Command::new("sh")
            .args(["-c", &sh])
            .status()
            .ok()?
            .success();
        assert!(ok, "cannot start a PostgreSQL server in {d}");
        Some(Server { dir })
    }

    fn login(&self, mut args: Value) -> Value {
        let m = args.as_object_mut().unwrap();
        m.insert("login_host".into(), json!("localhost"));
        m.insert(
            "login_unix_socket".into(),
            json!(self.dir.path().display().to_string()),
        );
        m.insert("port".into(), json!(PORT));
        args
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let d = self.dir.path().display().to_string();
        let _ = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                &format!("{BIN}/pg_ctl"),
                "-D",
                &format!("{d}/data"),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

#[tokio::test]
async fn db_user_and_privs_converge_and_stay_unchanged() {
    let Some(srv) = Server::start() else { return };
    let h = Harness::new();
    // A user with a password and flags: created, then unchanged, then changed in check mode only.
    let user = srv
        .login(json!({"name": "app", "password": "s3cret", "role_attr_flags": "CREATEDB,LOGIN"}));
    let r = h.run(&PostgresqlUser, user.clone(), false, false).await;
    assert!(
        r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    assert!(!r.get("queries").to_string().contains("s3cret"));
    let r = h.run(&PostgresqlUser, user.clone(), false, false).await;
    assert!(
        !r.outcome.changed && !r.outcome.failed,
        "{:?} {}",
        r.outcome.msg,
        r.get("queries")
    );
    let other = srv.login(json!({"name": "app", "password": "other"}));
    let r = h.run(&PostgresqlUser, other, true, false).await;
    assert!(
        r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    let r = h.run(&PostgresqlUser, user.clone(), false, false).await;
    assert!(!r.outcome.changed, "check mode changed the password");

    // A database owned by the user.
    let db = srv.login(
        json!({"name": "appdb", "owner": "app", "encoding": "UTF-8", "template": "template0"}),
    );
    let r = h.run(&PostgresqlDb, db.clone(), true, false).await;
    assert!(
        r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    let r = h.run(&PostgresqlDb, db.clone(), false, false).await;
    assert!(
        r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    let r = h.run(&PostgresqlDb, db.clone(), false, false).await;
    assert!(
        !r.outcome.changed && !r.outcome.failed,
        "{:?} {}",
        r.outcome.msg,
        r.get("executed_commands")
    );
    let latin = srv.login(json!({"name": "appdb", "encoding": "LATIN1"}));
    let r = h.run(&PostgresqlDb, latin, false, false).await;
    assert!(r.outcome.failed);

    // Privileges: granted once; check mode rolls back; missing roles fail.
    let privs = srv
        .login(json!({"database": "appdb", "roles": "app", "type": "database", "privs": "CREATE"}));
    let r = h.run(&PostgresqlPrivs, privs.clone(), true, false).await;
    assert!(
        r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    let r = h.run(&PostgresqlPrivs, privs.clone(), false, false).await;
    assert!(
        r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    let r = h.run(&PostgresqlPrivs, privs.clone(), false, false).await;
    assert!(
        !r.outcome.changed && !r.outcome.failed,
        "{:?}",
        r.outcome.msg
    );
    let ghost = srv.login(
        json!({"database": "appdb", "roles": "ghost", "type": "database", "privs": "CREATE"}),
    );
    let r = h.run(&PostgresqlPrivs, ghost, false, false).await;
    assert!(
        r.outcome
            .msg
            .unwrap_or_default()
            .contains("Role ghost does not exist")
    );

    // Absent: dropped once.
    let gone = srv.login(json!({"name": "appdb", "state": "absent"}));
    assert!(
        h.run(&PostgresqlDb, gone.clone(), false, false)
            .await
            .outcome
            .changed
    );
    assert!(
        !h.run(&PostgresqlDb, gone, false, false)
            .await
            .outcome
            .changed
    );
}
