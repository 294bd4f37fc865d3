//! What a module sees of the task it runs in, and what it gives back.

use crate::connection::{
    BecomeSpec, ConnError, Connection, ExecOutput, ExecRequest, OutputLimit, sh_quote,
};
use indexmap::IndexMap;
use minijinja::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Templating as a module may use it (the executor implements it over the task's variables).
pub trait Templating: Send + Sync {
    /// Renders a whole template file's text (the `template` module), with `extra` (a map)
    /// shadowing the task's variables: the template's own (`ansible_managed`, `template_path`...).
    fn render_text(
        &self,
        text: &str,
        origin: &Path,
        extra: &Value,
    ) -> Result<String, TemplatingError>;
    /// Evaluates a Jinja expression (`debug: var=`, `assert: that=`).
    fn eval(&self, expr: &str) -> Result<Value, TemplatingError>;
    /// Evaluates a condition as `when:` does.
    fn eval_bool(&self, expr: &str) -> Result<bool, TemplatingError>;
}

/// A template or expression that could not be rendered or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct TemplatingError {
    /// What went wrong, with the file and line when there is one.
    pub msg: String,
    /// The undefined variable (or expression) when that is why.
    pub undefined: Option<String>,
}

impl TemplatingError {
    pub fn new(msg: impl Into<String>) -> Self {
        TemplatingError {
            msg: msg.into(),
            undefined: None,
        }
    }

    /// Whether it failed on something undefined (`debug: var=` then prints "VARIABLE IS NOT
    /// DEFINED!"): a named undefined variable, or an error that says so.
    pub fn is_undefined(&self) -> bool {
        self.undefined.is_some() || self.msg.contains("undefined")
    }
}

/// The context of one task on one host.
pub struct TaskContext<'a> {
    pub host: &'a str,
    pub conn: &'a dyn Connection,
    pub become_: Option<&'a BecomeSpec>,
    pub environment: &'a [(String, String)],
    pub timeout: Option<Duration>,
    pub check_mode: bool,
    pub diff: bool,
    /// Directories to search for `src:` files, most specific first (role dir, playbook dir).
    /// A module looks in `DIR/<subdir>/NAME` then `DIR/NAME` for each.
    pub search_paths: &'a [PathBuf],
    pub templating: &'a dyn Templating,
    /// How much of a user's command output to keep ([`run_command`](Self::run_command)).
    pub output_limit: Option<OutputLimit>,
}

impl<'a> TaskContext<'a> {
    /// Runs a script on the host with the task's environment, become and timeout applied,
    /// and keeps all it prints (a module's own script, printing what the module reads).
    pub async fn run(&self, script: &str, stdin: &[u8]) -> Result<ExecOutput, ModuleError> {
        self.exec(script, stdin, None).await
    }

    /// Runs the user's command (command, shell, raw, script) as [`run`](Self::run) does,
    /// keeping only the start and the end of large output ([`Self::output_limit`]).
    pub async fn run_command(&self, script: &str, stdin: &[u8]) -> Result<ExecOutput, ModuleError> {
        self.exec(script, stdin, self.output_limit).await
    }

    async fn exec(
        &self,
        script: &str,
        stdin: &[u8],
        output_limit: Option<OutputLimit>,
    ) -> Result<ExecOutput, ModuleError> {
        let full;
        let script = if self.environment.is_empty() {
            script
        } else {
            let mut s = String::new();
            for (k, v) in self.environment {
                s.push_str(&format!("export {}={}\n", k, sh_quote(v)));
            }
            s.push_str(script);
            full = s;
            &full
        };
        let req = ExecRequest {
            script,
            stdin,
            become_: self.become_,
            timeout: self.timeout,
            output_limit,
        };
        self.conn.exec(req).await.map_err(ModuleError::from)
    }

    /// Finds a controller-side file for `src:` (copy: `files`, template: `templates`).
    pub fn find_file(&self, subdir: &str, name: &str) -> Result<PathBuf, ModuleError> {
        let p = Path::new(name);
        if p.is_absolute() {
            return if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(ModuleError::Failed(format!("could not find {}", name)))
            };
        }
        let mut tried = Vec::new();
        for dir in self.search_paths {
            for cand in [dir.join(subdir).join(name), dir.join(name)] {
                if cand.exists() {
                    return Ok(cand);
                }
                tried.push(cand.display().to_string());
            }
        }
        Err(ModuleError::Failed(format!(
            "could not find {} (searched: {})",
            name,
            tried.join(", ")
        )))
    }
}

/// A file's content before and after, for `--diff`.
#[derive(Clone, Debug, Default)]
pub struct FileDiff {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// What a module did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    pub diff: Vec<FileDiff>,
    /// Return values a `register:` sees (rc, stdout, stdout_lines, path, stat, ...).
    pub result: IndexMap<String, Value>,
    /// `ansible_facts`: merged into the host's facts.
    pub facts: IndexMap<String, Value>,
    /// Variables set at `set_fact` precedence.
    pub set_facts: IndexMap<String, Value>,
    /// Variables set at `include_vars` precedence.
    pub include_vars: IndexMap<String, Value>,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome::default()
    }
    pub fn changed(changed: bool) -> Self {
        Outcome {
            changed,
            ..Default::default()
        }
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.result.insert(key.to_string(), value.into());
        self
    }
    pub fn msg(mut self, msg: impl Into<String>) -> Self {
        self.msg = Some(msg.into());
        self
    }
    pub fn fail(msg: impl Into<String>) -> Self {
        Outcome {
            failed: true,
            msg: Some(msg.into()),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ModuleError {
    /// The task failed on this host.
    #[error("{0}")]
    Failed(String),
    /// The host is gone.
    #[error("{0}")]
    Unreachable(String),
}

impl ModuleError {
    /// The task failed on this host, for this reason.
    pub fn failed(msg: impl Into<String>) -> Self {
        ModuleError::Failed(msg.into())
    }
}

impl From<TemplatingError> for ModuleError {
    fn from(e: TemplatingError) -> Self {
        ModuleError::Failed(e.msg)
    }
}

impl From<ConnError> for ModuleError {
    fn from(e: ConnError) -> Self {
        match e {
            ConnError::Unreachable(m) => ModuleError::Unreachable(m),
            other => ModuleError::Failed(other.to_string()),
        }
    }
}
