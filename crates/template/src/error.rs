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

/// Why a template function or method failed. The executor reports each as Go does:
/// [`FuncError::Arity`] as `wrong number of args for NAME: want N got M`,
/// [`FuncError::ArgType`] at the command, unwrapped, and [`FuncError::Failed`] as
/// `error calling NAME: MESSAGE`. A function of your own usually returns `Failed`, which
/// `From<String>` and `From<&str>` build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FuncError {
    /// The wrong number of arguments; the detail is Go's `want N got M`.
    #[error("wrong number of args: {0}")]
    Arity(String),
    /// An argument is not of the parameter's type: Go's `wrong type for value; expected T;
    /// got U` or `invalid value; expected T`.
    #[error("{0}")]
    ArgType(String),
    /// The function ran and failed (a query error, a bad regexp, a number that does not
    /// parse, …).
    #[error("{0}")]
    Failed(String),
}

impl From<String> for FuncError {
    fn from(message: String) -> Self {
        FuncError::Failed(message)
    }
}

impl From<&str> for FuncError {
    fn from(message: &str) -> Self {
        FuncError::Failed(message.to_owned())
    }
}

/// Template data in JSON ([`crate::data::notification_data_from_json`]) that does not have
/// the shape of Alertmanager's `template.Data`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DataError(pub(crate) String);
