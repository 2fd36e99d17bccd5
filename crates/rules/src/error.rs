//! The crate's errors: why a rule's evaluation failed ([`EvalError`], shown as the rule's
//! `lastError`), and why the engine's state or file watch could not be used ([`Error`]).

/// Why one rule's evaluation failed. The text is Prometheus's, as `lastError` shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The datasource refused or failed the query (PromQL error, remote store down).
    #[error("{0}")]
    Query(String),
    /// The expression returned a range vector or a string.
    #[error("rule result is not a vector or scalar")]
    NotVectorOrScalar,
    /// Two result series are one once the rule's labels are applied.
    #[error("vector contains metrics with the same labelset after applying {0} labels")]
    DuplicateLabelset(&'static str),
    /// More series (recording rule) or alerts than the group's `limit`.
    #[error("exceeded limit of {limit} with {count} {what}")]
    Limit {
        /// The group's `limit`.
        limit: usize,
        /// How many there were.
        count: usize,
        /// `series` or `alerts`.
        what: &'static str,
    },
}

/// Why the engine's saved state or its file watch could not be used (the engine then
/// starts afresh, or reloads on SIGHUP only).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The state file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    ReadState {
        /// The state file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a snapshot.
    #[error("cannot parse {path}: {source}")]
    ParseState {
        /// The state file.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The OS refused to watch the rule directories.
    #[error("{}{source}", path.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
    Watch {
        /// The directory, when one was refused.
        path: Option<String>,
        /// Why.
        #[source]
        source: notify::Error,
    },
}
