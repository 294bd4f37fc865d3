//! Variables and templating: minijinja with Ansible's filters, tests and lookups; the scope one
//! task sees on one host (precedence layers, magic variables, lazily templated values).
//!
//! Owns how values are looked up and rendered. Knows nothing of SSH, modules or the executor's
//! scheduling; the executor hands it layers of plain values.

use minijinja::Value;
use std::sync::Arc;

/// Marks a string as `!unsafe`: the templar returns it untouched. (minijinja's "safe string"
/// flag is free for this: rmesos never auto-escapes HTML.)
pub fn unsafe_value(s: &str) -> Value {
    Value::from_safe_string(s.to_string())
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
    _private: (),
}

impl Templar {
    pub fn new() -> Arc<Templar> {
        Arc::new(Templar { _private: () })
    }

    /// Renders a template file's text (Ansible's settings: trim_blocks, keep the trailing newline).
    pub fn render_text(
        &self,
        text: &str,
        origin: &str,
        scope: &Value,
    ) -> Result<String, TemplateError> {
        let _ = (text, origin, scope);
        Err(TemplateError {
            msg: "templating is not implemented yet".into(),
            undefined: None,
        })
    }

    /// Deep-templates a value: every string in it is rendered; a string that is exactly one
    /// `{{ expr }}` yields the expression's native value (list, dict, number).
    pub fn template_value(&self, v: &Value, scope: &Value) -> Result<Value, TemplateError> {
        let _ = scope;
        Ok(v.clone())
    }

    /// Evaluates a bare expression.
    pub fn eval_expr(&self, expr: &str, scope: &Value) -> Result<Value, TemplateError> {
        let _ = (expr, scope);
        Err(TemplateError {
            msg: "templating is not implemented yet".into(),
            undefined: None,
        })
    }

    /// Evaluates a condition (`when:`); accepts a bare expression or a legacy `"{{ x }}"`.
    pub fn eval_bool(&self, expr: &str, scope: &Value) -> Result<bool, TemplateError> {
        let _ = (expr, scope);
        Err(TemplateError {
            msg: "templating is not implemented yet".into(),
            undefined: None,
        })
    }
}

/// Checks template syntax at load time; Err is (message, line within `text`).
pub fn check_syntax(text: &str) -> Result<(), (String, u32)> {
    let _ = text;
    Ok(())
}

/// Checks a bare expression's syntax at load time.
pub fn check_expr_syntax(expr: &str) -> Result<(), String> {
    let _ = expr;
    Ok(())
}

/// Builds the scope a task sees: `layers` lowest precedence first (each a mapping), `magic`
/// the magic variables (inventory_hostname, groups, hostvars, ...), which no layer overrides.
/// Lookups template values lazily in the same scope.
pub fn scope(templar: &Arc<Templar>, layers: Vec<Value>, magic: Value) -> Value {
    let _ = (templar, layers, magic);
    Value::UNDEFINED
}

/// The value `omit` evaluates to; module arguments equal to it are dropped.
pub fn omit_token() -> &'static str {
    "__omit_place_holder__rmesos"
}

/// Gives a host's variables (its scope) by name, for `hostvars`.
pub type HostResolver = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

/// `hostvars`: maps a host name to its variables, resolved lazily through `resolver`.
pub fn hostvars(resolver: HostResolver, names: Vec<String>) -> Value {
    let _ = resolver;
    Value::from_pairs(names.into_iter().map(|n| (n, Value::UNDEFINED)))
}
