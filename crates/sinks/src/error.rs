//! The crate's error: what stops a sink from being configured, built or run.

/// Why a sink cannot be configured, built or keep running. Per-request failures are
/// [`crate::delivery::SendError`]s: they are retried or dead-lettered, never fatal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name template (index, log group, ...) does not parse.
    #[error("{0}")]
    Template(String),
    /// A network sink has neither `endpoint` nor `endpoints`.
    #[error("a {sink_type} sink needs `endpoint` or `endpoints`")]
    NoEndpoint {
        /// The sink type.
        sink_type: &'static str,
    },
    /// An endpoint is not an http(s) URL.
    #[error("endpoint `{url}` must start with http:// or https://")]
    EndpointScheme {
        /// The endpoint as configured.
        url: String,
    },
    /// The dead-letter file cannot be opened.
    #[error("cannot open the dead-letter file `{path}`: {error}")]
    DeadLetter {
        /// The configured path.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// A credential given as `*_file` cannot be read, or is given twice (the message
    /// names the field or file, never the value).
    #[error("{0}")]
    Secret(#[from] lookout_config::SecretSourceError),
    /// The request stack failed as a whole (not one request).
    #[error("{0}")]
    Stack(String),
}

impl From<Error> for lookout_component::BuildError {
    fn from(e: Error) -> Self {
        lookout_component::BuildError(e.to_string())
    }
}
