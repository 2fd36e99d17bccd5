//! A client of the Prometheus HTTP query API (instant queries).

use std::time::Duration;

use serde::Deserialize;

use crate::promql::Value;
use crate::{Labels, Sample};

/// Where and how to query.
#[derive(Debug, Clone)]
pub struct QueryClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:9090` (the client appends `/api/v1/query`).
    pub url: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `Authorization: Bearer …`, if set.
    pub bearer_token: Option<String>,
    /// Basic auth `(user, password)`, if set.
    pub basic_auth: Option<(String, String)>,
}

impl QueryClientConfig {
    /// Defaults for `url`: 30 s timeout, no auth.
    pub fn new(url: impl Into<String>) -> Self {
        QueryClientConfig { url: url.into(), timeout: Duration::from_secs(30), bearer_token: None, basic_auth: None }
    }
}

/// Runs instant queries against a Prometheus-compatible API.
#[derive(Debug, Clone)]
pub struct QueryClient {
    config: QueryClientConfig,
    endpoint: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Scalar((f64, String)),
    String((f64, String)),
    Vector(Vec<VectorItem>),
    Matrix(Vec<MatrixItem>),
}

#[derive(Deserialize)]
struct VectorItem {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// Prometheus encodes sample values as strings (`"NaN"`, `"+Inf"`, `"-Inf"` included).
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("invalid sample value {s:?}")),
    }
}

fn labels(metric: std::collections::BTreeMap<String, String>) -> Labels {
    Labels::new(metric)
}

impl QueryClient {
    /// A client for `config`.
    pub fn new(config: QueryClientConfig) -> Result<QueryClient, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let endpoint = format!("{}/api/v1/query", config.url.trim_end_matches('/'));
        Ok(QueryClient { config, endpoint, http })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// Evaluates `expr` at `t_ms` remotely. Errors carry the server's `errorType: error`
    /// or the transport failure.
    pub async fn query(&self, expr: &str, t_ms: i64) -> Result<Value, String> {
        let time = format!("{}.{:03}", t_ms.div_euclid(1000), t_ms.rem_euclid(1000));
        let mut req = self.http.post(&self.endpoint).form(&[("query", expr), ("time", time.as_str())]);
        if let Some(token) = &self.config.bearer_token {
            req = req.bearer_auth(token);
        }
        if let Some((user, password)) = &self.config.basic_auth {
            req = req.basic_auth(user, Some(password));
        }
        let resp = req.send().await.map_err(|e| format!("query {}: {e}", self.config.url))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| format!("query {}: reading the answer: {e}", self.config.url))?;
        let parsed: Response = serde_json::from_slice(&body).map_err(|e| {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            format!("query {}: HTTP {status}, not a Prometheus API answer ({e}): {text}", self.config.url)
        })?;
        if parsed.status != "success" {
            return Err(format!(
                "{}: {}",
                parsed.error_type.unwrap_or_else(|| "error".into()),
                parsed.error.unwrap_or_else(|| format!("HTTP {status}"))
            ));
        }
        match parsed.data {
            Some(Data::Scalar((_, v))) => Ok(Value::Scalar(parse_value(&v)?)),
            Some(Data::String((_, s))) => Ok(Value::String(s)),
            Some(Data::Vector(items)) => items
                .into_iter()
                .map(|i| Ok((labels(i.metric), parse_value(&i.value.1)?)))
                .collect::<Result<_, _>>()
                .map(Value::Vector),
            Some(Data::Matrix(items)) => items
                .into_iter()
                .map(|i| {
                    let samples = i
                        .values
                        .iter()
                        .map(|(t, v)| Ok(Sample { t: (t * 1000.0).round() as i64, v: parse_value(v)? }))
                        .collect::<Result<Vec<_>, String>>()?;
                    Ok((labels(i.metric), samples))
                })
                .collect::<Result<_, String>>()
                .map(Value::Matrix),
            None => Err("success answer without data".to_string()),
        }
    }
}
