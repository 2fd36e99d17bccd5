//! The Prometheus HTTP query API over Lookout's series store, so Grafana's Prometheus
//! data source, `promtool query` and scripts written for Prometheus read Lookout
//! unchanged.
//!
//! [`QueryApi`] answers, on the routes Prometheus uses (`web/api/v1/api.go`):
//!
//! | route | methods | |
//! |---|---|---|
//! | `/api/v1/query` | GET, POST | instant query (`query`, `time`, `timeout`) |
//! | `/api/v1/query_range` | GET, POST | range query (`start`, `end`, `step`, `timeout`; at most 11,000 steps) |
//! | `/api/v1/series` | GET, POST | series matching `match[]` in `start`…`end` |
//! | `/api/v1/labels` | GET, POST | label names (optionally of `match[]`) |
//! | `/api/v1/label/<name>/values` | GET | a label's values (optionally of `match[]`) |
//! | `/api/v1/metadata` | GET | metric type, help and unit from a [`MetadataSource`] |
//! | `/api/v1/query_exemplars` | GET, POST | exemplars from the store's exemplar storage |
//! | `/api/v1/status/buildinfo` | GET | a Prometheus-compatible version, and Lookout's |
//! | `/api/v1/format_query` | GET, POST | the expression pretty-printed |
//!
//! Answers are Prometheus's byte for byte where clients can tell: the envelope and
//! HTTP codes (`bad_data` 400, `execution` 422, `timeout` 503, `internal` 500), values
//! as `strconv.FormatFloat(v, 'f', -1, 64)` strings, timestamps as Prometheus prints
//! them, parameters parsed as Prometheus parses them (RFC 3339 or Unix seconds;
//! `5m` or seconds) with its error messages. Evaluation is the store's PromQL
//! (`lookout_tsdb::promql`, Prometheus 3 semantics); each query is parsed and
//! evaluated off the async runtime on a thread of its own with a large stack (a deeply
//! nested query cannot overflow it: the parser refuses past
//! `lookout_tsdb::promql::MAX_NESTING`), at most [`QueryApi::with_max_concurrency`]
//! queries at once, each bounded by a deadline and a sample limit, so a heavy query
//! cannot stall the API or exhaust memory. The self-metrics are registered with
//! [`QueryApi::with_registry`].
//!
//! ```
//! # async fn example() {
//! let store = std::sync::Arc::new(lookout_tsdb::Store::new(Default::default()));
//! let router: axum::Router = lookout_query::QueryApi::new(store).with_version("0.1.0").router();
//! # let _ = router;
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod json;
mod metrics;
mod params;
mod query;
mod series;
mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lookout_tsdb::Store;
use lookout_tsdb::promql::EvalOptions;

pub use error::{ApiError, ErrorType};
pub use status::{MetadataSource, MetricMetadata, PROMETHEUS_COMPATIBLE_VERSION};

use params::Params;

/// The query API over one store, with its limits. Build it, then take its
/// [`router`](QueryApi::router).
pub struct QueryApi {
    store: Arc<Store>,
    opts: EvalOptions,
    timeout: Duration,
    max_samples: usize,
    concurrency: tokio::sync::Semaphore,
    version: String,
    metadata: Option<Arc<dyn MetadataSource>>,
    metrics: metrics::QueryMetrics,
}

impl QueryApi {
    /// Over `store` with Prometheus's defaults: 5-minute lookback, 2-minute query
    /// timeout, 50 million samples per query, 20 concurrent queries.
    pub fn new(store: Arc<Store>) -> QueryApi {
        QueryApi {
            store,
            opts: EvalOptions::default(),
            timeout: Duration::from_secs(120),
            max_samples: lookout_tsdb::promql::DEFAULT_MAX_SAMPLES,
            concurrency: tokio::sync::Semaphore::new(20),
            version: String::new(),
            metadata: None,
            metrics: metrics::QueryMetrics::default(),
        }
    }

    /// Lookout's version, reported as `lookoutVersion` by `/api/v1/status/buildinfo`.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Evaluation options (lookback delta, default subquery step).
    pub fn with_eval_options(mut self, opts: EvalOptions) -> Self {
        self.opts = opts;
        self
    }

    /// The longest a query may run (a request's `timeout` can only shorten it).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most samples one query may read from the store (a range query: plus its
    /// result's points), Prometheus's `--query.max-samples`.
    pub fn with_max_samples(mut self, max_samples: usize) -> Self {
        self.max_samples = max_samples;
        self
    }

    /// How many queries evaluate at once; more wait (Prometheus's
    /// `--query.max-concurrency`).
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.concurrency = tokio::sync::Semaphore::new(n.max(1));
        self
    }

    /// Where `/api/v1/metadata` reads metric metadata.
    pub fn with_metadata(mut self, source: Arc<dyn MetadataSource>) -> Self {
        self.metadata = Some(source);
        self
    }

    /// Registers the API's self-metrics (`lookout_query_requests_total{endpoint,result}`,
    /// `lookout_query_duration_seconds{endpoint}`) in `registry`.
    pub fn with_registry(self, registry: &mut prometheus_client::registry::Registry) -> Self {
        self.metrics.register(registry);
        self
    }

    /// Counts a request to `endpoint` that answered `result` after `started`.
    fn observe<T>(&self, endpoint: &'static str, result: &Result<T, ApiError>, started: Instant) {
        let outcome = match result {
            Ok(_) => "success",
            Err(e) => e.kind().as_str(),
        };
        self.metrics.observe(endpoint, outcome, started.elapsed());
    }

    /// The API's routes, to merge into the server's router.
    pub fn router(self) -> Router {
        let api = Arc::new(self);
        Router::new()
            .route("/api/v1/query", get(query).post(query))
            .route("/api/v1/query_range", get(query_range).post(query_range))
            .route("/api/v1/format_query", get(format_query).post(format_query))
            .route("/api/v1/series", get(series).post(series))
            .route("/api/v1/labels", get(labels).post(labels))
            .route("/api/v1/label/{name}/values", get(label_values))
            .route("/api/v1/metadata", get(metadata))
            .route("/api/v1/query_exemplars", get(query_exemplars).post(query_exemplars))
            .route("/api/v1/status/buildinfo", get(buildinfo))
            .with_state(api)
    }
}

// === handlers ===

/// The request's parameters: the URL query, plus the body of a form-encoded POST.
fn params(method: &Method, headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Result<Params, ApiError> {
    let form = *method == Method::POST
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    Params::new(query.as_deref(), if form { body } else { &[] })
}

type Api = State<Arc<QueryApi>>;

macro_rules! handler {
    ($name:ident, $method:ident) => {
        async fn $name(
            State(api): Api,
            method: Method,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
            body: Bytes,
        ) -> Response {
            let started = Instant::now();
            let result = match params(&method, &headers, q, &body) {
                Ok(p) => api.clone().$method(p).await,
                Err(e) => Err(e),
            };
            api.observe(stringify!($name), &result, started);
            result.into_response()
        }
    };
}

handler!(query, query);
handler!(query_range, query_range);
handler!(format_query, format_query);
handler!(series, series);
handler!(labels, labels);

async fn label_values(State(api): Api, Path(name): Path<String>, RawQuery(q): RawQuery) -> Response {
    let started = Instant::now();
    let result = match Params::new(q.as_deref(), &[]) {
        Ok(p) => api.clone().label_values(name, p).await,
        Err(e) => Err(e),
    };
    api.observe("label_values", &result, started);
    result.into_response()
}

async fn metadata(State(api): Api, RawQuery(q): RawQuery) -> Response {
    let started = Instant::now();
    let result = Params::new(q.as_deref(), &[]).and_then(|p| api.metadata(&p));
    api.observe("metadata", &result, started);
    result.into_response()
}

async fn query_exemplars(
    State(api): Api,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = match params(&method, &headers, q, &body) {
        Ok(p) => api.clone().query_exemplars(p).await,
        Err(e) => Err(e),
    };
    api.observe("query_exemplars", &result, started);
    match result {
        Ok(Some(s)) => s.into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn buildinfo(State(api): Api) -> Response {
    api.buildinfo().into_response()
}

#[cfg(test)]
mod tests;
