//! A client of the Prometheus HTTP query API (instant queries).

use std::path::PathBuf;
use std::time::Duration;

use lookout_config::Secret;

use serde::Deserialize;

use crate::promql::Value;
use crate::{Error, Labels, Sample};

/// Where and how to query.
#[derive(Debug, Clone)]
pub struct QueryClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:9090` (the client appends `/api/v1/query`).
    pub url: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `Authorization: Bearer …`, if set.
    pub bearer_token: Option<Secret>,
    /// A file holding the bearer token, read for every query (it may rotate).
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth `(user, password)`, if set.
    pub basic_auth: Option<(String, Secret)>,
}

impl QueryClientConfig {
    /// Defaults for `url`: 30 s timeout, no auth.
    pub fn new(url: impl Into<String>) -> Self {
        QueryClientConfig {
            url: url.into(),
            timeout: Duration::from_secs(30),
            bearer_token: None,
            bearer_token_file: None,
            basic_auth: None,
        }
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
fn parse_value(s: &str) -> Result<f64, Error> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| Error::InvalidValue(s.to_string())),
    }
}

fn labels(metric: std::collections::BTreeMap<String, String>) -> Labels {
    Labels::new(metric)
}

impl QueryClient {
    /// A client for `config`.
    pub fn new(config: QueryClientConfig) -> Result<QueryClient, Error> {
        let http = reqwest::Client::builder().timeout(config.timeout).build().map_err(Error::HttpClient)?;
        let endpoint = format!("{}/api/v1/query", config.url.trim_end_matches('/'));
        Ok(QueryClient { config, endpoint, http })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// Evaluates `expr` at `t_ms` remotely. Errors carry the server's `errorType: error`
    /// or the transport failure.
    pub async fn query(&self, expr: &str, t_ms: i64) -> Result<Value, Error> {
        let time = format!("{}.{:03}", t_ms.div_euclid(1000), t_ms.rem_euclid(1000));
        let mut req = self.http.post(&self.endpoint).form(&[("query", expr), ("time", time.as_str())]);
        if let Some(token) = &self.config.bearer_token {
            req = req.bearer_auth(token.expose());
        }
        if let Some(file) = &self.config.bearer_token_file {
            req = req.bearer_auth(Secret::from_file(file)?.expose());
        }
        if let Some((user, password)) = &self.config.basic_auth {
            req = req.basic_auth(user, Some(password.expose()));
        }
        // Errors name the URL with a password in it redacted; reqwest's own message
        // (which would repeat it whole) without it.
        let url = || lookout_config::redact_url(&self.config.url).into_owned();
        let resp = req.send().await.map_err(|source| Error::Request { url: url(), source: source.without_url() })?;
        let status = resp.status();
        let body =
            resp.bytes().await.map_err(|source| Error::ReadAnswer { url: url(), source: source.without_url() })?;
        let parsed: Response = serde_json::from_slice(&body).map_err(|source| Error::NotPrometheus {
            url: url(),
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            source,
        })?;
        if parsed.status != "success" {
            return Err(Error::Refused {
                error_type: parsed.error_type.unwrap_or_else(|| "error".into()),
                message: parsed.error.unwrap_or_else(|| format!("HTTP {status}")),
            });
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
                        .collect::<Result<Vec<_>, Error>>()?;
                    Ok((labels(i.metric), samples))
                })
                .collect::<Result<_, Error>>()
                .map(Value::Matrix),
            None => Err(Error::NoData),
        }
    }
}
