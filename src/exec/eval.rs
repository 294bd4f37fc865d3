//! Evaluating a task's keyword values and conditions over a scope that is already built, and
//! the templating a module sees ([`ScopeTemplating`], the executor's one implementation of
//! [`Templating`]).
//!
//! Owns: [`EvalError`] and the messages of a bad keyword value or a failing conditional.
//! Must not know: hosts, plays, the runner or how a scope is assembled (see `scope.rs`).

use crate::error::Span;
use crate::modules::{Templating, TemplatingError};
use crate::plan::Cond;
use crate::vars::{Templar, TemplateError};
use minijinja::Value;
use std::path::Path;

/// Why a keyword value or a condition could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("{0:?} is not a boolean")]
    NotBool(String),
    #[error("{span}: error while evaluating conditional ({expr}): {source}")]
    Condition {
        span: Span,
        expr: String,
        source: TemplateError,
    },
}

/// A value as text: a string as it is, anything else as Jinja prints it.
pub fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// A templated keyword as text; None when unset, or when it comes out none or undefined.
pub fn tmpl_str(
    templar: &Templar,
    v: &Option<Value>,
    scope: &Value,
) -> Result<Option<String>, EvalError> {
    let Some(v) = v else { return Ok(None) };
    let out = templar.template_value(v, scope)?;
    if out.is_none() || out.is_undefined() {
        return Ok(None);
    }
    Ok(Some(text(&out)))
}

/// A templated keyword as a boolean (Ansible's spellings for strings); None when unset.
pub fn tmpl_bool(
    templar: &Templar,
    v: &Option<Value>,
    scope: &Value,
) -> Result<Option<bool>, EvalError> {
    let Some(v) = v else { return Ok(None) };
    let out = templar.template_value(v, scope)?;
    Ok(Some(match out.as_str() {
        Some(s) => {
            crate::vocab::rendered_boolean(s).ok_or_else(|| EvalError::NotBool(s.to_string()))?
        }
        None => out.is_true(),
    }))
}

/// Whether every condition holds (`when`, `changed_when`, `failed_when`, `until` are ANDed).
pub fn cond_holds(templar: &Templar, conds: &[Cond], scope: &Value) -> Result<bool, EvalError> {
    for c in conds {
        match templar.eval_bool(&c.expr, scope) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(source) => {
                return Err(EvalError::Condition {
                    span: c.span.clone(),
                    expr: c.expr.clone(),
                    source,
                });
            }
        }
    }
    Ok(true)
}

/// Templating over one scope, as modules see it.
///
/// The one place the executor meets the module layer's [`Templating`] trait (whose error type
/// the module layer owns): errors cross it as the module layer's
/// [`TemplatingError`], with the same message and undefined name.
pub struct ScopeTemplating<'a> {
    pub templar: &'a Templar,
    pub scope: &'a Value,
}

impl Templating for ScopeTemplating<'_> {
    fn render_text(
        &self,
        text: &str,
        origin: &Path,
        extra: &Value,
    ) -> Result<String, TemplatingError> {
        // The first map that has a name wins.
        let scope = minijinja::value::merge_maps([extra.clone(), self.scope.clone()]);
        self.templar
            .render_text(text, &origin.display().to_string(), &scope)
            .map_err(templating_error)
    }
    fn eval(&self, expr: &str) -> Result<Value, TemplatingError> {
        self.templar
            .eval_expr(expr, self.scope)
            .map_err(templating_error)
    }
    fn eval_bool(&self, expr: &str) -> Result<bool, TemplatingError> {
        self.templar
            .eval_bool(expr, self.scope)
            .map_err(templating_error)
    }
}

/// The templar's error as the module layer's (the same message and undefined name).
fn templating_error(e: TemplateError) -> TemplatingError {
    TemplatingError {
        msg: e.msg,
        undefined: e.undefined,
    }
}
