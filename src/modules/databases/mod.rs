//! Databases: modules that manage PostgreSQL objects through `psql` on the host
//! (postgresql_db, postgresql_user, postgresql_privs), as community.postgresql's do through
//! psycopg2.
//!
//! [`pgkit`] is what they share: the connection arguments every one of them takes, running SQL
//! through `psql` as the database's OS user (the task's become user, or `runuser`/`su` when the
//! script runs as root), SQL quoting, and the `key=value` rows their queries print.

pub mod pgkit;
pub mod postgresql_db;
pub mod postgresql_privs;
pub mod postgresql_user;

#[cfg(test)]
mod tests;
