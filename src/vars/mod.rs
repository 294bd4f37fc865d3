//! Variables and templating: minijinja with Ansible's filters, tests and lookups; the scope one
//! task sees on one host (precedence layers, magic variables, lazily templated values).
//!
//! Owns how values are looked up and rendered. Knows nothing of SSH, modules or the executor's
//! scheduling; the executor hands it layers of plain values.
//!
//! Files: `templar.rs` (the environment, compile cache, native rendering, error naming),
//! `scope.rs` (lazy scope, hostvars), `chain.rs` (chained `a.b.c is defined`), `filters.rs`, `tests.rs`, `lookups.rs` (Ansible's
//! plugins), `yaml_out.rs` (JSON/YAML writers for the `to_*` filters).

mod chain;
mod filters;
mod lookups;
mod scope;
mod templar;
mod tests;
mod yaml_out;

#[cfg(test)]
mod unit_tests;

use minijinja::Value;
use std::sync::Arc;

pub use lookups::FirstFound;
pub use scope::{HostResolver, hostvars, lazy_map};

/// The value of the `omit` variable: the executor drops module arguments equal to it.
pub fn omit_token() -> &'static str {
    templar::omit_token()
}

/// A templating failure, with the undefined variable's name when that was the cause.
#[derive(Clone, Debug)]
pub struct TemplateError {
    pub msg: String,
    pub undefined: Option<String>,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.msg)
    }
}

impl std::error::Error for TemplateError {}

/// One per run: the environment with every filter, test and lookup registered; compiled
/// templates are cached.
pub struct Templar {
    engine: templar::Engine,
}

impl Templar {
    pub fn new() -> Arc<Templar> {
        Arc::new(Templar {
            engine: templar::Engine::new(),
        })
    }

    /// Renders a template file's text (Ansible's settings: trim_blocks, keep the trailing newline).
    /// `origin` (the file's path) names the template in errors.
    pub fn render_text(
        &self,
        text: &str,
        origin: &str,
        scope: &Value,
    ) -> Result<String, TemplateError> {
        self.engine.render_file(text, origin, scope)
    }

    /// Deep-templates a value: every string in it is rendered; a string that is exactly one
    /// `{{ expr }}` yields the expression's native value (list, dict, number).
    pub fn template_value(&self, v: &Value, scope: &Value) -> Result<Value, TemplateError> {
        self.engine.template_value(v, scope)
    }

    /// Evaluates a bare expression.
    pub fn eval_expr(&self, expr: &str, scope: &Value) -> Result<Value, TemplateError> {
        self.engine.eval_expr(expr, scope)
    }

    /// Evaluates a condition (`when:`); accepts a bare expression or a legacy `"{{ x }}"`.
    /// An undefined variable is an error, not false (as in Ansible).
    pub fn eval_bool(&self, expr: &str, scope: &Value) -> Result<bool, TemplateError> {
        self.engine.eval_bool(expr, scope)
    }
}

/// A template or expression that does not compile, found at load time.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{msg}")]
pub struct SyntaxError {
    pub msg: String,
    /// The line within the checked text (1 for an expression).
    pub line: u32,
}

impl SyntaxError {
    fn of(e: &minijinja::Error) -> Self {
        SyntaxError {
            msg: e.detail().unwrap_or("syntax error").to_string(),
            line: e.line().unwrap_or(1) as u32,
        }
    }
}

/// Checks template syntax at load time.
pub fn check_syntax(text: &str) -> Result<(), SyntaxError> {
    templar::check_syntax(text)
}

/// Checks a bare expression's syntax at load time.
pub fn check_expr_syntax(expr: &str) -> Result<(), SyntaxError> {
    templar::check_expr_syntax(expr)
}

/// Builds the scope a task sees: `layers` lowest precedence first (each a mapping), `magic`
/// the magic variables (inventory_hostname, groups, hostvars, ...), which no layer overrides.
/// Lookups template values lazily in the same scope; results are cached per scope.
pub fn scope(templar: &Arc<Templar>, layers: Vec<Value>, magic: Value) -> Value {
    scope::new_scope(templar, layers, magic)
}
