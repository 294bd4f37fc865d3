//! The lazily templated scope one task sees on one host, lazy maps and `hostvars`.
//!
//! A variable's value is templated only when something reads it, in the scope that read it, and
//! the result is cached for that scope. So a variable referencing an undefined one fails only if
//! it is really used, and a variable may reference a lower-precedence one.

use super::{Templar, TemplateError};
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Error, ErrorKind, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Scope {
    templar: Arc<Templar>,
    /// Lowest precedence first.
    layers: Vec<Value>,
    magic: Value,
    cache: Mutex<HashMap<String, Value>>,
}

/// A mapping whose values are templated on access in another scope.
struct LazyMap {
    templar: Arc<Templar>,
    map: Value,
    scope: Value,
    cache: Mutex<HashMap<Value, Value>>,
}

/// The executor's callback from a host name to that host's variables (its scope).
pub type HostResolver = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

struct HostVars {
    resolver: HostResolver,
    names: Vec<String>,
}

pub(super) fn new_scope(templar: &Arc<Templar>, layers: Vec<Value>, magic: Value) -> Value {
    Value::from_object(Scope {
        templar: templar.clone(),
        layers,
        magic,
        cache: Mutex::default(),
    })
}

/// Wraps `map` so each value is templated in `scope` when read (and then cached).
pub fn lazy_map(templar: &Arc<Templar>, map: Value, scope: Value) -> Value {
    Value::from_object(LazyMap {
        templar: templar.clone(),
        map,
        scope,
        cache: Mutex::default(),
    })
}

/// `hostvars`: `hostvars['h'].x` asks `resolver` for host `h` (the executor returns that host's
/// scope); iterating lists `names`.
pub fn hostvars(resolver: HostResolver, names: Vec<String>) -> Value {
    Value::from_object(HostVars { resolver, names })
}

/// Objects that template on access: the deep templater must not walk into them.
pub(super) fn is_lazy(v: &Value) -> bool {
    v.downcast_object_ref::<Scope>().is_some()
        || v.downcast_object_ref::<LazyMap>().is_some()
        || v.downcast_object_ref::<HostVars>().is_some()
}

thread_local! {
    /// Variables being templated on this thread: (scope identity, name). A name met twice is a
    /// reference loop.
    static IN_PROGRESS: RefCell<Vec<(usize, String)>> = const { RefCell::new(Vec::new()) };
    /// Variables that read as undefined because their own template used an undefined
    /// variable, with that inner error: an error about the outer name reports the inner one.
    static LAZY_CAUSES: RefCell<HashMap<String, TemplateError>> = RefCell::new(HashMap::new());
}

/// Called when a top-level templating call starts: forgets causes recorded by earlier calls.
pub(super) fn begin_evaluation() {
    if IN_PROGRESS.with(|s| s.borrow().is_empty()) {
        LAZY_CAUSES.with(|c| c.borrow_mut().clear());
    }
}

/// Why variable `name` read as undefined, when its own template referenced an undefined one.
pub(super) fn lazy_cause(name: &str) -> Option<TemplateError> {
    LAZY_CAUSES.with(|c| c.borrow().get(name).cloned())
}

/// Templates `raw` in `scope` on behalf of variable `name` of the object at `owner`, guarding
/// against reference loops. Errors become invalid values (minijinja raises them when read),
/// except an undefined reference: then the variable itself reads as undefined (None), as in
/// Ansible, so `is defined` and `default` see it.
fn evaluate(
    templar: &Templar,
    owner: usize,
    name: &str,
    raw: &Value,
    scope: &Value,
) -> Option<Value> {
    let looped = IN_PROGRESS.with(|stack| {
        let stack = stack.borrow();
        if stack.iter().any(|(o, n)| *o == owner && n == name) {
            let chain: Vec<&str> = stack
                .iter()
                .filter(|(o, _)| *o == owner)
                .map(|(_, n)| n.as_str())
                .collect();
            Some(format!(
                "recursive loop detected in template: {} -> {name}",
                chain.join(" -> ")
            ))
        } else {
            None
        }
    });
    if let Some(msg) = looped {
        let err = TemplateError {
            msg,
            undefined: None,
        };
        return Some(invalid(err));
    }
    IN_PROGRESS.with(|stack| stack.borrow_mut().push((owner, name.to_string())));
    let result = templar.template_value(raw, scope);
    IN_PROGRESS.with(|stack| stack.borrow_mut().pop());
    match result {
        Ok(v) => Some(v),
        Err(e) if e.undefined.is_some() => {
            LAZY_CAUSES.with(|c| c.borrow_mut().insert(name.to_string(), e));
            None
        }
        Err(e) => Some(invalid(e)),
    }
}

fn invalid(e: TemplateError) -> Value {
    Value::from(Error::new(ErrorKind::InvalidOperation, e.msg.clone()).with_source(e))
}

fn is_valid(v: &Value) -> bool {
    v.kind() != minijinja::value::ValueKind::Invalid
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let magic = self.magic.get_item(key).unwrap_or_default();
        if !magic.is_undefined() {
            return Some(magic);
        }
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Some(hit.clone());
        }
        let raw = self
            .layers
            .iter()
            .rev()
            .find_map(|layer| layer.get_item(key).ok().filter(|v| !v.is_undefined()));
        let Some(raw) = raw else {
            // Ansible's `vars`: every variable of this scope.
            return (name == "vars").then(|| Value::from_dyn_object(self.clone()));
        };
        let me = Value::from_dyn_object(self.clone());
        let value = evaluate(&self.templar, Arc::as_ptr(self) as usize, name, &raw, &me)?;
        if is_valid(&value) {
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_string(), value.clone());
        }
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut seen = std::collections::HashSet::new();
        let mut keys = Vec::new();
        for source in std::iter::once(&self.magic).chain(self.layers.iter().rev()) {
            if let Ok(iter) = source.try_iter() {
                for key in iter {
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
            }
        }
        Enumerator::Values(keys)
    }
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<variables>")
    }
}

impl Object for LazyMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
        {
            return Some(hit.clone());
        }
        let raw = self.map.get_item(key).ok().filter(|v| !v.is_undefined())?;
        let name = key.to_string();
        let value = evaluate(
            &self.templar,
            Arc::as_ptr(self) as usize,
            &name,
            &raw,
            &self.scope,
        )?;
        if is_valid(&value) {
            self.cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone(), value.clone());
        }
        Some(value)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.map.try_iter() {
            Ok(iter) => Enumerator::Values(iter.collect()),
            Err(_) => Enumerator::Empty,
        }
    }
}

impl std::fmt::Debug for LazyMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<lazy map>")
    }
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (self.resolver)(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.names.iter().map(|n| Value::from(n.as_str())).collect())
    }
}

impl std::fmt::Debug for HostVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hostvars>")
    }
}
