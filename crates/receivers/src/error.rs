//! The crate's error: templates or integrations could not be built from the config.

use std::fmt;

/// Templates or integrations could not be built from the config. Displayed as its message
/// (Alertmanager's words where it has them), prefixed with the place in the config when
/// known (`receiver "ops": slack_configs[0]: ...`). Messages name settings and files,
/// never their contents, so they carry no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// What went wrong, for callers that treat the cases differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A setting is missing, conflicting or malformed (the checks Alertmanager makes at
    /// load), or could not be applied.
    Config,
    /// A template (a `templates:` file or a templated field) does not parse.
    Template,
    /// A file the config names (template, `*_file` secret, TLS CA, certificate or key)
    /// could not be read or is not what it should be. Retrying after fixing the file
    /// may succeed without changing the config.
    File,
}

impl Error {
    /// An error of `kind`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// A [`ErrorKind::Config`] error.
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// A [`ErrorKind::File`] error.
    pub(crate) fn file(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::File, message)
    }

    /// The same error with `place: ` in front of the message.
    pub(crate) fn context(self, place: impl fmt::Display) -> Error {
        Error { kind: self.kind, message: format!("{place}: {}", self.message) }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// A config or file problem met while sending (a `*_file` secret that cannot be read):
/// never retried.
impl From<Error> for crate::NotifyError {
    fn from(e: Error) -> crate::NotifyError {
        crate::NotifyError::config(e.message)
    }
}
