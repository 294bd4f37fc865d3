//! Test harness for the misc modules: a task context over [`LocalConnection`] that counts the
//! execs it makes, and a templating stand-in for modules that never template.

use super::{TaskContext, Templating, TemplatingError};
use crate::connection::local::LocalConnection;
use crate::connection::{BoxFuture, ConnError, Connection, ExecOutput, ExecRequest};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// LocalConnection that counts round trips, so tests can assert "one exec".
#[derive(Default)]
pub struct CountingConn {
    inner: LocalConnection,
    pub execs: AtomicUsize,
}

impl CountingConn {
    pub fn count(&self) -> usize {
        self.execs.load(Ordering::SeqCst)
    }
}

impl Connection for CountingConn {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        self.execs.fetch_add(1, Ordering::SeqCst);
        self.inner.exec(req)
    }
}

/// These modules never template; a call means a bug.
pub struct NoTemplating;

impl Templating for NoTemplating {
    fn render_text(
        &self,
        _: &str,
        _: &Path,
        _: &minijinja::Value,
    ) -> Result<String, TemplatingError> {
        Err(TemplatingError::new(
            "templating is not available in this test",
        ))
    }
    fn eval(&self, _: &str) -> Result<minijinja::Value, TemplatingError> {
        Err(TemplatingError::new(
            "templating is not available in this test",
        ))
    }
    fn eval_bool(&self, _: &str) -> Result<bool, TemplatingError> {
        Err(TemplatingError::new(
            "templating is not available in this test",
        ))
    }
}

pub fn context<'a>(conn: &'a CountingConn, search_paths: &'a [PathBuf]) -> TaskContext<'a> {
    TaskContext {
        host: "localhost",
        conn,
        become_: None,
        environment: &[],
        timeout: None,
        check_mode: false,
        diff: false,
        search_paths,
        templating: &NoTemplating,
        output_limit: Some(crate::connection::OutputLimit::DEFAULT),
    }
}

/// Arguments as the plan hands them over, written as JSON for brevity.
pub fn args(json: &str) -> minijinja::Value {
    let v: serde_json::Value = serde_json::from_str(json).expect("test args are valid JSON");
    minijinja::Value::from(minijinja::value::Serde(v))
}

#[test]
fn misc_modules_resolve_by_every_name() {
    for name in [
        "setup",
        "ansible.builtin.setup",
        "ansible.builtin.gather_facts",
        "ansible.legacy.include_vars",
        "ansible.builtin.wait_for",
        "ping",
        "ansible.builtin.raw",
        "ansible.builtin.pause",
    ] {
        assert!(super::lookup(name).is_some(), "{} is not registered", name);
    }
    assert!(!super::lookup("include_vars").unwrap().needs_host());
}
