//! A harness for module tests: a temp directory, the local connection wrapped to count round
//! trips, and a templating stand-in that substitutes `{{ name }}` from a fixed map.

use super::{
    DecodeMode, FileDiff, Module, Outcome, TaskContext, Templating, TemplatingError, decode,
};
use crate::connection::local::LocalConnection;
use crate::connection::{BoxFuture, ConnError, Connection, ExecOutput, ExecRequest, FileMemo};
use minijinja::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The local connection, counting each exec, with a file memo.
#[derive(Default)]
pub struct CountingConn {
    inner: LocalConnection,
    pub count: AtomicUsize,
    /// As the SSH transport keeps one per host.
    pub memo: FileMemo,
}

impl Connection for CountingConn {
    fn exec<'a>(&'a self, req: ExecRequest<'a>) -> BoxFuture<'a, Result<ExecOutput, ConnError>> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.exec(req)
    }
    fn file_memo(&self) -> Option<&FileMemo> {
        Some(&self.memo)
    }
}

/// Replaces `{{ name }}` (with or without the spaces) by the variable's value.
#[derive(Default)]
pub struct LiteralTemplating {
    pub vars: HashMap<String, String>,
}

impl Templating for LiteralTemplating {
    fn render_text(
        &self,
        text: &str,
        _origin: &Path,
        _extra: &Value,
    ) -> Result<String, TemplatingError> {
        let mut out = text.to_string();
        for (k, v) in &self.vars {
            out = out.replace(&format!("{{{{ {k} }}}}"), v);
            out = out.replace(&format!("{{{{{k}}}}}"), v);
        }
        if out.contains("{{") {
            return Err(TemplatingError::new(format!(
                "undefined variable in {out:?}"
            )));
        }
        Ok(out)
    }
    fn eval(&self, expr: &str) -> Result<Value, TemplatingError> {
        self.vars
            .get(expr.trim())
            .map(|v| Value::from(v.as_str()))
            .ok_or_else(|| TemplatingError {
                msg: format!("undefined: {expr}"),
                undefined: Some(expr.trim().to_string()),
            })
    }
    fn eval_bool(&self, expr: &str) -> Result<bool, TemplatingError> {
        Ok(self.eval(expr)?.is_true())
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub conn: CountingConn,
    pub templating: LiteralTemplating,
    pub search: Vec<PathBuf>,
}

/// What one module run gave back, and how many round trips it took.
pub struct Run {
    pub outcome: Outcome,
    pub execs: usize,
}

impl Run {
    pub fn diff(&self) -> &FileDiff {
        &self.outcome.diff[0]
    }
    /// Whether the run changed something; a failed run fails the test with its message.
    pub fn changed(&self) -> bool {
        assert!(!self.outcome.failed, "failed: {:?}", self.outcome.msg);
        self.outcome.changed
    }
    pub fn get(&self, key: &str) -> Value {
        self.outcome.result.get(key).cloned().unwrap_or_default()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let search = vec![dir.path().join("role")];
        Harness {
            dir,
            conn: CountingConn::default(),
            templating: LiteralTemplating::default(),
            search,
        }
    }

    /// A path inside the temp directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn write(&self, name: &str, content: &str) -> String {
        let p = self.path(name);
        if let Some(parent) = Path::new(&p).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    pub fn mode(&self, name: &str) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.path(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    pub fn set_mode(&self, name: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A task context on this harness's connection (for modules tested through an inner
    /// function that takes extra test-only parameters).
    pub fn cx(&self, check: bool) -> TaskContext<'_> {
        TaskContext {
            host: "localhost",
            conn: &self.conn,
            become_: None,
            environment: &[],
            timeout: None,
            check_mode: check,
            diff: true,
            search_paths: &self.search,
            templating: &self.templating,
            output_limit: Some(crate::connection::OutputLimit::DEFAULT),
        }
    }

    /// Runs module `m` with arguments given as JSON; checks they also pass the load-time check.
    pub async fn run<M: Module>(
        &self,
        m: &M,
        args: serde_json::Value,
        check: bool,
        diff: bool,
    ) -> Run {
        let v = Value::from(minijinja::value::Serde(args));
        decode::<M::Args>(&v, DecodeMode::LoadTime).unwrap();
        let a = decode::<M::Args>(&v, DecodeMode::RunTime).unwrap();
        let cx = TaskContext {
            diff,
            ..self.cx(check)
        };
        let before = self.conn.count.load(Ordering::SeqCst);
        let outcome = match m.run(a, &cx).await {
            Ok(o) => o,
            Err(e) => Outcome::fail(e.to_string()),
        };
        let execs = self.conn.count.load(Ordering::SeqCst) - before;
        Run { outcome, execs }
    }
}
