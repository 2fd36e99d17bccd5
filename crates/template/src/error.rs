//! The one error type: a parse or execution failure, worded as Go's `text/template` words it.

use std::fmt;

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text does not parse (syntax, unknown function, undefined variable).
    Parse,
    /// Executing failed (a function returned an error, a field cannot be evaluated, …).
    Exec,
    /// The named template does not exist in the set.
    NotDefined,
}

/// A template error. Displays like Go's:
/// `template: NAME:LINE: function "foo" not defined` (parse) or
/// `template: NAME:LINE:COL: executing "NAME" at <.Foo>: …` (execution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    kind: ErrorKind,
    message: String,
}

impl TemplateError {
    pub(crate) fn new(kind: ErrorKind, message: String) -> Self {
        TemplateError { kind, message }
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The full message (what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TemplateError {}
