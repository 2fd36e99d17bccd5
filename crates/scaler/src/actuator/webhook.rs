//! The `webhook` actuator: POSTs the decision as JSON, the [`Decision`] serialization:
//! `{"scaler", "at_ms", "time", "current", "desired", "min_replicas", "max_replicas",
//! "metrics": [{"name", "value", "target", "usage_ratio", "proposal", "error"}],
//! "reasons": [{"code", "message"}]}`; the receiver scales to `desired`.
//!
//! Retries follow the usual webhook contract (Alertmanager's `notify/webhook`): connection
//! errors, timeouts, 429 and 5xx are retried with exponential backoff (0.5 s doubling to 8 s,
//! a `Retry-After` in seconds up to 30 s is honoured); other 4xx answers are final. Errors never
//! carry the URL, which may hold credentials.

use std::time::Duration;

use crate::decide::Decision;
use crate::policy::WebhookConfig;

/// A webhook target.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    max_retries: u32,
    base_backoff: Duration,
}

impl Webhook {
    /// Builds the client.
    pub fn new(cfg: &WebhookConfig) -> Result<Webhook, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name `{k}`"))?;
            let value =
                reqwest::header::HeaderValue::from_str(v).map_err(|_| format!("invalid value for header `{k}`"))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_seconds))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Webhook {
            client,
            url: cfg.url.clone(),
            headers,
            max_retries: cfg.max_retries,
            base_backoff: Duration::from_millis(500),
        })
    }

    /// Shortens the backoff (tests).
    pub fn with_base_backoff(mut self, d: Duration) -> Self {
        self.base_backoff = d;
        self
    }

    /// Sends one decision, retrying as documented above.
    pub async fn send(&self, d: &Decision) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            let r = self.client.post(&self.url).headers(self.headers.clone()).json(d).send().await;
            let (retryable, error, retry_after) = match r {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .filter(|s| *s <= 30)
                        .map(Duration::from_secs);
                    let retryable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                    (retryable, format!("webhook answered {status}"), retry_after)
                }
                Err(e) => (true, format!("webhook request failed: {}", e.without_url()), None),
            };
            if !retryable || attempt >= self.max_retries {
                let tries = attempt + 1;
                return Err(format!("{error} (after {tries} attempt{})", if tries == 1 { "" } else { "s" }));
            }
            let backoff = retry_after
                .unwrap_or_else(|| (self.base_backoff * 2u32.pow(attempt.min(4))).min(Duration::from_secs(8)));
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }
}
