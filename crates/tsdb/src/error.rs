//! The crate's error: why a remote-store query failed, or the store's service could not
//! start.

/// Why a query of a remote store failed, or [`StoreService`](crate::StoreService) could
/// not start. Callers tell a refused query (the server answered with an error) from a
/// transport failure (no answer) by the variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP client cannot be built (TLS backend, settings).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// A `bearer_token_file` cannot be read (the message names the file, not its content).
    #[error(transparent)]
    SecretFile(#[from] lookout_config::SecretFileError),
    /// The request got no answer (connection refused, timeout).
    #[error("query {url}: {source}")]
    Request {
        /// The remote store's base URL.
        url: String,
        /// The transport failure.
        #[source]
        source: reqwest::Error,
    },
    /// The answer could not be read to its end.
    #[error("query {url}: reading the answer: {source}")]
    ReadAnswer {
        /// The remote store's base URL.
        url: String,
        /// The transport failure.
        #[source]
        source: reqwest::Error,
    },
    /// The answer is not the Prometheus API's JSON.
    #[error("query {url}: HTTP {status}, not a Prometheus API answer ({source}): {body}")]
    NotPrometheus {
        /// The remote store's base URL.
        url: String,
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The start of the body.
        body: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The server refused the query (`{"status":"error"}`), e.g. `bad_data` for a
    /// syntax error.
    #[error("{error_type}: {message}")]
    Refused {
        /// Prometheus's `errorType` (`bad_data`, `timeout`, `execution`, …).
        error_type: String,
        /// Prometheus's `error`.
        message: String,
    },
    /// A sample value is not a number.
    #[error("invalid sample value {0:?}")]
    InvalidValue(String),
    /// A `success` answer without `data`.
    #[error("success answer without data")]
    NoData,
    /// Remote write could not start.
    #[error("cannot start remote write: {0}")]
    RemoteWrite(String),
    /// The store's directory cannot be opened (permissions, a full disk, another
    /// process holding it); damage inside it is skipped, never this error.
    #[error("series store: {0}")]
    Storage(String),
}
