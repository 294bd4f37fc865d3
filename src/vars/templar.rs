//! The minijinja environment with Ansible's settings, the compile cache, native-value rendering
//! and the translation of minijinja errors into [`TemplateError`]s that name undefined variables.
//!
//! Every template source is compiled once per run: sources are loaded through the environment's
//! loader under a name that encodes them, so minijinja's own cache holds the compiled form.

use super::SyntaxError;
use super::TemplateError;
use crate::vocab::{is_template, python_str};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Loader name prefixes: an inline source (the name is the source), a file registered by
/// `render_file` (the name is its origin), a file read from disk (the template lookup).
const INLINE: &str = "\u{1}";
const REGISTERED: &str = "\u{2}";
pub(super) const DISK: &str = "\u{3}";

/// The local variable a native evaluation stores its result in.
const NATIVE_SLOT: &str = "__rmesos_native_result";

pub(super) struct Engine {
    env: Environment<'static>,
    files: Arc<Mutex<HashMap<String, Arc<str>>>>,
}

pub(super) fn omit_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| format!("__omit_place_holder__{:016x}", super::filters::random_u64()))
}

fn syntax() -> SyntaxConfig {
    // Ansible's Templar: trim_blocks on, lstrip_blocks off, trailing newline kept.
    SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(false)
        .keep_trailing_newline(true)
        .build()
        .unwrap_or_default()
}

impl Engine {
    pub(super) fn new() -> Engine {
        let files: Arc<Mutex<HashMap<String, Arc<str>>>> = Arc::default();
        let mut env = Environment::new();
        env.set_syntax(syntax());
        // Strict: printing, iterating, testing the truth of or filtering an undefined value
        // fails, as with Ansible's StrictUndefined; `is defined` and `default` still work.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Debug mode makes minijinja remember which expression produced an undefined value, so
        // errors can name it (`foo.bar`).
        env.set_debug(true);
        env.set_recursion_limit(200);
        env.set_formatter(format_value);
        env.set_unknown_method_callback(python_methods);
        let registered = files.clone();
        env.set_loader(move |name| load(&registered, name));
        env.add_global("omit", Value::from(omit_token()));
        super::filters::register(&mut env);
        super::tests::register(&mut env);
        super::lookups::register(&mut env);
        super::chain::register(&mut env);
        Engine { env, files }
    }

    pub(super) fn render_file(
        &self,
        text: &str,
        origin: &str,
        scope: &Value,
    ) -> Result<String, TemplateError> {
        super::scope::begin_evaluation();
        let fail = |e: Error| convert_error(&e, text, Some(origin));
        let cached = {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            match files.get(origin) {
                Some(known) => known.as_ref() == text,
                None => {
                    files.insert(origin.to_string(), Arc::from(text));
                    true
                }
            }
        };
        if cached {
            let name = format!("{REGISTERED}{origin}");
            let tmpl = self.env.get_template(&name).map_err(fail)?;
            tmpl.render(scope).map_err(fail)
        } else {
            // The same origin with other text (rare: a file changed during the run): compile it
            // without caching rather than serve a stale template.
            let source = super::chain::rewrite_template(text);
            let tmpl = self
                .env
                .template_from_named_str(origin, &source)
                .map_err(fail)?;
            tmpl.render(scope).map_err(fail)
        }
    }

    pub(super) fn template_value(&self, v: &Value, scope: &Value) -> Result<Value, TemplateError> {
        super::scope::begin_evaluation();
        match v.kind() {
            ValueKind::String => match v.as_str() {
                Some(s) if !v.is_safe() && is_template(s) => self.template_str(s, scope),
                _ => Ok(v.clone()),
            },
            ValueKind::Seq | ValueKind::Map if needs_templating(v) => {
                if v.kind() == ValueKind::Seq {
                    let mut items = Vec::with_capacity(v.len().unwrap_or(0));
                    for item in v.try_iter().map_err(|e| convert_error(&e, "", None))? {
                        items.push(self.template_value(&item, scope)?);
                    }
                    Ok(Value::from(items))
                } else {
                    let mut pairs = Vec::with_capacity(v.len().unwrap_or(0));
                    for key in v.try_iter().map_err(|e| convert_error(&e, "", None))? {
                        let item = v.get_item(&key).map_err(|e| convert_error(&e, "", None))?;
                        pairs.push((
                            self.template_value(&key, scope)?,
                            self.template_value(&item, scope)?,
                        ));
                    }
                    Ok(Value::from_pairs(pairs))
                }
            }
            _ => Ok(v.clone()),
        }
    }

    /// Renders one string: a lone `{{ expr }}` gives the expression's native value, anything
    /// else renders to text.
    fn template_str(&self, s: &str, scope: &Value) -> Result<Value, TemplateError> {
        // Text around the expression (`"{{ id }}\n"`, a `>` block's newline) is a node of its
        // own: the result is the concatenated text, as in Ansible.
        let lone = s.trim() == s;
        match single_expression(s).filter(|_| lone) {
            Some(expr) => self.eval_native(expr, s, scope),
            None => self.render_inline(s, scope).map(Value::from),
        }
    }

    fn render_inline(&self, source: &str, scope: &Value) -> Result<String, TemplateError> {
        let fail = |e: Error| convert_error(&e, source, None);
        let tmpl = self
            .env
            .get_template(&format!("{INLINE}{source}"))
            .map_err(fail)?;
        tmpl.render(scope).map_err(fail)
    }

    /// Evaluates `expr` to its value. `shown` is what errors quote (the user's text).
    fn eval_native(&self, expr: &str, shown: &str, scope: &Value) -> Result<Value, TemplateError> {
        let source = format!("{INLINE}{{% set {NATIVE_SLOT} = ({expr}) %}}");
        let fail = |e: Error| convert_error(&e, shown, None);
        let tmpl = self.env.get_template(&source).map_err(fail)?;
        let captured = tmpl.render_captured(scope).map_err(fail)?;
        let value = captured
            .state()
            .lookup(NATIVE_SLOT)
            .unwrap_or(Value::UNDEFINED);
        if value.is_undefined() {
            // Printing it raises minijinja's error naming the undefined expression; an
            // `x if c` without else is a silent undefined and prints as ''.
            return self
                .render_inline(&format!("{{{{ {expr} }}}}"), scope)
                .map(Value::from);
        }
        Ok(value)
    }

    pub(super) fn eval_expr(&self, expr: &str, scope: &Value) -> Result<Value, TemplateError> {
        super::scope::begin_evaluation();
        match single_expression(expr) {
            Some(inner) => self.eval_native(inner, expr, scope),
            None if is_template(expr) => self.render_inline(expr, scope).map(Value::from),
            None => self.eval_native(expr, expr, scope),
        }
    }

    pub(super) fn eval_bool(&self, expr: &str, scope: &Value) -> Result<bool, TemplateError> {
        super::scope::begin_evaluation();
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Ok(true);
        }
        let legacy = single_expression(trimmed).is_some() || is_template(trimmed);
        let value = self.eval_expr(trimmed, scope)?;
        if legacy && let Some(text) = value.as_str() {
            // `when: "{{ x }}"`: Ansible templates first, then evaluates the text as a condition.
            return match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" | "" | "none" => Ok(false),
                _ => Ok(self.eval_native(text, expr, scope)?.is_true()),
            };
        }
        Ok(value.is_true())
    }
}

fn load(files: &Mutex<HashMap<String, Arc<str>>>, name: &str) -> Result<Option<String>, Error> {
    let prepare = |text: &str| super::chain::rewrite_template(text).into_owned();
    if let Some(source) = name.strip_prefix(INLINE) {
        Ok(Some(prepare(source)))
    } else if let Some(origin) = name.strip_prefix(REGISTERED) {
        let files = files.lock().unwrap_or_else(|p| p.into_inner());
        Ok(files.get(origin).map(|t| prepare(t)))
    } else if let Some(path) = name.strip_prefix(DISK) {
        std::fs::read_to_string(path)
            .map(|t| Some(prepare(&t)))
            .map_err(|e| {
                Error::new(
                    ErrorKind::TemplateNotFound,
                    format!("cannot read template {path}: {e}"),
                )
            })
    } else {
        Ok(None)
    }
}

/// Whether any string inside `v` (not an `!unsafe` one) needs rendering. Lazy objects (scopes,
/// hostvars) are left alone: they template on access.
fn needs_templating(v: &Value) -> bool {
    match v.kind() {
        ValueKind::String => !v.is_safe() && v.as_str().is_some_and(is_template),
        ValueKind::Seq | ValueKind::Map if !super::scope::is_lazy(v) => match v.try_iter() {
            Ok(iter) => iter.into_iter().any(|k| {
                needs_templating(&k)
                    || (v.kind() == ValueKind::Map
                        && v.get_item(&k).is_ok_and(|item| needs_templating(&item)))
            }),
            Err(_) => false,
        },
        _ => false,
    }
}

/// `"{{ expr }}"` (whitespace around allowed) → `expr`; None for any other shape.
pub(super) fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#")
    {
        return None;
    }
    if inner.trim().is_empty() {
        return None;
    }
    Some(inner)
}

/// Prints values as Jinja2 on Python does: `True`, `None`, `['a', 1]`, `{'k': 'v'}`.
fn format_value(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    let text = match value.kind() {
        ValueKind::String => {
            return out
                .write_str(value.as_str().unwrap_or(""))
                .map_err(Error::from);
        }
        _ => python_str(value),
    };
    out.write_str(&text).map_err(Error::from)
}

/// Python's string, list and dict methods (`.split()`, `.items()`, ...), plus Python 2's
/// `iteritems`/`has_key` that old roles still call.
fn python_methods(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    match (value.kind(), method) {
        (ValueKind::Map, "iteritems") => {
            minijinja_contrib::pycompat::unknown_method_callback(state, value, "items", args)
        }
        (ValueKind::Map, "iterkeys") => {
            minijinja_contrib::pycompat::unknown_method_callback(state, value, "keys", args)
        }
        (ValueKind::Map, "itervalues") => {
            minijinja_contrib::pycompat::unknown_method_callback(state, value, "values", args)
        }
        (ValueKind::Map, "has_key") => match args {
            [key] => Ok(Value::from(
                value.get_item(key).is_ok_and(|v| !v.is_undefined()),
            )),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                "has_key() takes one argument",
            )),
        },
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}

/// Translates a minijinja error; `source` is the template text (quoted for context when
/// `origin` is None), `origin` the template file.
pub(super) fn convert_error(err: &Error, source: &str, origin: Option<&str>) -> TemplateError {
    // A lazily templated variable failed inside this render: its own error says more.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cause {
        if let Some(inner) = e.downcast_ref::<TemplateError>() {
            return inner.clone();
        }
        cause = e.source();
    }
    let undefined = undefined_name(err, source);
    if let Some(name) = &undefined {
        let base = name.split(['.', '[']).next().unwrap_or(name);
        if let Some(cause) =
            super::scope::lazy_cause(name).or_else(|| super::scope::lazy_cause(base))
        {
            return cause;
        }
    }
    let what = match (&undefined, err.detail()) {
        (Some(name), _) => format!("'{name}' is undefined"),
        (None, Some(detail)) => format!("{}: {}", err.kind(), detail),
        (None, None) => err.kind().to_string(),
    };
    let msg = match origin {
        Some(file) => match err.line() {
            Some(line) => format!("{file}:{line}: {what}"),
            None => format!("{file}: {what}"),
        },
        None if undefined.is_some() || source.is_empty() => what,
        None => format!("{what} (in template \"{}\")", excerpt(source)),
    };
    TemplateError { msg, undefined }
}

fn undefined_name(err: &Error, source: &str) -> Option<String> {
    // minijinja's debug mode writes "`foo.bar` is undefined" into the detail.
    if let Some(detail) = err.detail()
        && let Some(start) = detail.find('`')
        && let Some(len) = detail[start + 1..].find("` is undefined")
    {
        return Some(detail[start + 1..start + 1 + len].to_string());
    }
    // Otherwise, for an undefined error, the failing expression's own text.
    if err.kind() != ErrorKind::UndefinedError {
        return None;
    }
    let range = err.range()?;
    let text = source.get(range)?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn excerpt(source: &str) -> String {
    const MAX: usize = 200;
    match source.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &source[..i]),
        None => source.to_string(),
    }
}

/// A compile-only environment for load-time syntax checks.
fn syntax_env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_syntax(syntax());
        env
    })
}

pub(super) fn check_syntax(text: &str) -> Result<(), SyntaxError> {
    match syntax_env().template_from_str(text) {
        Ok(_) => Ok(()),
        Err(e) => Err(SyntaxError::of(&e)),
    }
}

pub(super) fn check_expr_syntax(expr: &str) -> Result<(), SyntaxError> {
    if single_expression(expr).is_none() && is_template(expr) {
        // A legacy condition with text around its `{{ }}`: check it as a template.
        return check_syntax(expr);
    }
    let expr = single_expression(expr).unwrap_or(expr);
    match syntax_env().compile_expression(expr) {
        Ok(_) => Ok(()),
        Err(e) => Err(SyntaxError {
            line: 1,
            ..SyntaxError::of(&e)
        }),
    }
}
