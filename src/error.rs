//! Located errors: every problem found while loading input names the file, line and column,
//! shows the offending line, and may carry a hint saying what to write instead.
//! Owns nothing else; every layer reports bad input through [`LoadError`].

use std::fmt;
use std::sync::Arc;

/// A position in a source file (line and column are 1-based, as editors show them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: impl Into<Arc<str>>, line: u32, col: u32) -> Self {
        Span {
            file: file.into(),
            line,
            col,
        }
    }

    /// A span for things that have no source position (command-line values, generated data).
    pub fn none(origin: &str) -> Self {
        Span::new(origin, 0, 0)
    }

    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        } else {
            write!(f, "{}", self.file)
        }
    }
}

/// An error in the input (playbook, role, inventory, template, variables, command line).
#[derive(Clone, Debug)]
pub struct LoadError {
    pub span: Option<Span>,
    pub msg: String,
    pub hint: Option<String>,
    /// A file given as text rather than read from disk (a generated playbook or inventory) and
    /// that text: when the span points into that file, the offending line comes from here.
    text: Option<(Arc<str>, Arc<str>)>,
}

impl LoadError {
    pub fn new(span: &Span, msg: impl Into<String>) -> Self {
        LoadError {
            span: Some(span.clone()),
            msg: msg.into(),
            hint: None,
            text: None,
        }
    }

    pub fn plain(msg: impl Into<String>) -> Self {
        LoadError {
            span: None,
            msg: msg.into(),
            hint: None,
            text: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Says that `text` is what `file` holds, for an error loaded from text that no file on
    /// disk has: when the error points into `file`, its offending line comes from `text`.
    pub fn in_text(mut self, file: &str, text: &Arc<str>) -> Self {
        self.text = Some((Arc::from(file), text.clone()));
        self
    }

    /// The source line the error points at: from the text it was loaded from, else read again
    /// from disk (errors are rare; keeping every file's text around for them is not worth it).
    fn source_line(&self) -> Option<String> {
        let span = self.span.as_ref()?;
        if !span.is_known() {
            return None;
        }
        let read;
        let text = match &self.text {
            Some((file, text)) if *file == span.file => &**text,
            _ => {
                read = std::fs::read_to_string(&*span.file).ok()?;
                read.as_str()
            }
        };
        text.lines()
            .nth(span.line as usize - 1)
            .map(|l| l.to_string())
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(span) => write!(f, "{}: {}", span, self.msg)?,
            None => write!(f, "{}", self.msg)?,
        }
        if let (Some(line), Some(span)) = (self.source_line(), &self.span) {
            let caret_col = span.col.saturating_sub(1) as usize;
            let pad: String = line
                .chars()
                .take(caret_col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n  |\n  | {}\n  | {}^", line, pad)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  = hint: {}", h)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

pub type LoadResult<T> = Result<T, LoadError>;
