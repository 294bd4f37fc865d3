//! The loaded YAML tree and its conversion to runtime values.

use crate::error::{LoadError, LoadResult, Span};
use minijinja::Value;

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own positions; order is the file's.
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// `!unsafe`: never templated.
    pub unsafe_str: bool,
}

impl Node {
    pub fn new(kind: NodeKind, span: Span) -> Self {
        Node {
            kind,
            span,
            unsafe_str: false,
        }
    }

    pub fn str(s: impl Into<String>, span: Span) -> Self {
        Node::new(NodeKind::Str(s.into()), span)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// Looks up a string key in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.key_string().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key as text (Ansible keys are strings; ints and bools are written out as YAML would).
    pub fn key_string(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Null => Some("null".to_string()),
            _ => None,
        }
    }

    /// A short name for the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Expects a mapping, else a located error.
    pub fn expect_map(&self, what: &str) -> LoadResult<&[(Node, Node)]> {
        self.as_map().ok_or_else(|| {
            LoadError::new(
                &self.span,
                format!("{} must be a mapping, found {}", what, self.type_name()),
            )
        })
    }

    /// Expects a list, else a located error.
    pub fn expect_seq(&self, what: &str) -> LoadResult<&[Node]> {
        self.as_seq().ok_or_else(|| {
            LoadError::new(
                &self.span,
                format!("{} must be a list, found {}", what, self.type_name()),
            )
        })
    }

    /// Scalars as text (a bool as `True`/`False`, as Python prints it), else a located error.
    pub fn expect_scalar_string(&self, what: &str) -> LoadResult<String> {
        match &self.kind {
            NodeKind::Str(s) => Ok(s.clone()),
            NodeKind::Int(i) => Ok(i.to_string()),
            NodeKind::Float(f) => Ok(f.to_string()),
            NodeKind::Bool(b) => Ok(if *b { "True" } else { "False" }.to_string()),
            _ => Err(LoadError::new(
                &self.span,
                format!("{} must be a string, found {}", what, self.type_name()),
            )),
        }
    }

    /// Converts to a runtime value. Strings stay as written (templates are rendered later, when
    /// used); `!unsafe` strings are wrapped so the templar passes them through untouched.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::from(()),
            NodeKind::Bool(b) => Value::from(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => Value::from(*f),
            NodeKind::Str(s) => {
                if self.unsafe_str {
                    super::unsafe_value(s)
                } else {
                    Value::from(s.as_str())
                }
            }
            NodeKind::Seq(items) => {
                Value::from(items.iter().map(Node::to_value).collect::<Vec<_>>())
            }
            NodeKind::Map(entries) => Value::from_pairs(entries.iter().map(|(k, v)| {
                (
                    Value::from(k.key_string().unwrap_or_default()),
                    v.to_value(),
                )
            })),
        }
    }
}

/// Something the loader accepted but Ansible warns about (a duplicate key).
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub span: Span,
    pub msg: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.span, self.msg)
    }
}

/// Warnings of every file loaded by this process, until `app` takes them to show. A queue
/// rather than a return value because files are loaded from a dozen places (plays, roles,
/// inventories, vars files at run time) whose signatures carry no warnings.
static WARNINGS: std::sync::Mutex<Vec<Warning>> = std::sync::Mutex::new(Vec::new());

pub(super) fn queue_warnings(w: Vec<Warning>) {
    if w.is_empty() {
        return;
    }
    if let Ok(mut q) = WARNINGS.lock() {
        q.extend(w);
    }
}

/// Takes the queued warnings (each is shown once).
pub fn take_warnings() -> Vec<Warning> {
    WARNINGS
        .lock()
        .map(|mut q| std::mem::take(&mut *q))
        .unwrap_or_default()
}
