//! The crate's errors: why the notifier could not start or reload, and why its state on
//! disk could not be opened or written.

use std::path::PathBuf;

/// Why [`crate::Notifier::start`], [`crate::Notifier::reload`] or [`crate::check_config`]
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `templates:` files or a receiver's integrations could not be built from the
    /// config (the config is at fault; fix it and reload).
    #[error("{0}")]
    Receivers(String),
    /// The state under `data_dir` could not be opened (the host is at fault).
    #[error(transparent)]
    State(#[from] StateError),
    /// The HTTP client for the integrations could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// The notifier's state database (`data_dir/notify.redb`) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// `data_dir` could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened (also after moving a corrupt file aside).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: redb::Error,
    },
    /// A corrupt database file could not be moved aside.
    #[error("cannot move the corrupt {} aside: {source}", path.display())]
    MoveAside {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the state writer: {0}")]
    Writer(#[source] std::io::Error),
    /// Opening ran on a blocking task that failed.
    #[error("cannot open notifier state: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// A change could not be committed to disk.
    #[error("cannot commit notifier state: {0}")]
    Commit(String),
    /// The writer has stopped (the notifier is shutting down).
    #[error("the state writer has stopped")]
    Closed,
}

/// A matcher (`name=value`, `{a="b", c=~"d"}`) that does not parse or whose regex does not
/// compile. Displays as Alertmanager words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MatcherError {
    message: String,
}

impl MatcherError {
    pub(crate) fn new(message: String) -> MatcherError {
        MatcherError { message }
    }
}
