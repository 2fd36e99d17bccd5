//! The `webhook` actuator: POSTs the decision as JSON, the [`Decision`] serialization:
//! `{"scaler", "at_ms", "time", "current", "desired", "min_replicas", "max_replicas",
//! "metrics": [{"name", "value", "target", "usage_ratio", "proposal", "error"}],
//! "reasons": [{"code", "message"}]}`; the receiver scales to `desired`.
//!
//! Retries follow the usual webhook contract (Alertmanager's `notify/webhook`): connection
//! errors, timeouts, 429 and 5xx are retried with exponential backoff (0.5 s doubling to 8 s,
//! a `Retry-After` is honoured up to 30 s; `lookout-retry` runs it); other 4xx answers are
//! final. Errors never carry the URL, which may hold credentials.

use std::time::Duration;

use lookout_retry::{Backoff, Jitter, Retrier, RetryPolicy, Retryable, Verdict};

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
            let mut value = reqwest::header::HeaderValue::from_str(v.expose())
                .map_err(|_| format!("invalid value for header `{k}`"))?;
            // Keeps the value out of reqwest's and hyper's Debug output.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_seconds))
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Webhook {
            client,
            url: cfg.url.expose().to_string(),
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
        // Four doublings: 0.5 s to 8 s by default.
        let max = (self.base_backoff * 16).min(Duration::from_secs(8));
        let policy = RetryPolicy::new(Backoff::new(self.base_backoff, max).with_jitter(Jitter::None))
            .max_attempts(self.max_retries.saturating_add(1))
            .max_retry_after(Duration::from_secs(30));
        let attempt = || async {
            match self.client.post(&self.url).headers(self.headers.clone()).json(d).send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(lookout_retry::retry_after::parse);
                    let verdict = if Retrier::DEFAULT.is_retryable(status.as_u16()) {
                        Verdict::Retry { after }
                    } else {
                        Verdict::Permanent
                    };
                    Err(Failed { message: format!("webhook answered {status}"), verdict })
                }
                Err(e) => Err(Failed {
                    message: format!("webhook request failed: {}", e.without_url()),
                    verdict: Verdict::RETRY,
                }),
            }
        };
        lookout_retry::retry(&policy, attempt).await.map_err(|e| {
            let tries = e.attempts();
            format!("{} (after {tries} attempt{})", e.last(), if tries == 1 { "" } else { "s" })
        })
    }
}

/// One failed attempt.
#[derive(Debug)]
struct Failed {
    message: String,
    verdict: Verdict,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Retryable for Failed {
    fn verdict(&self) -> Verdict {
        self.verdict
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::{ActuatorConfig, parse_policy_file};

    #[test]
    fn url_and_header_values_are_secrets() {
        let file = parse_policy_file(
            "s.yml",
            "scalers:\n  - name: api\n    maxReplicas: 3\n    actuator:\n      type: webhook\n      \
             url: https://hooks.example.org/PlantedScalerUrl1\n      headers:\n        \
             authorization: \"Bearer PlantedScalerHeader2\"\n",
        )
        .unwrap();
        let debug = format!("{file:?}");
        assert!(!debug.contains("PlantedScaler") && debug.contains("authorization"), "{debug}");
        let ActuatorConfig::Webhook(w) = &file.scalers[0].actuator else { panic!("a webhook actuator") };
        assert_eq!(w.url.expose(), "https://hooks.example.org/PlantedScalerUrl1");
        assert_eq!(w.headers["authorization"].expose(), "Bearer PlantedScalerHeader2");
        let hook = super::Webhook::new(w).unwrap();
        assert!(hook.headers["authorization"].is_sensitive());

        let e = parse_policy_file(
            "s.yml",
            "scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: {type: webhook, url: 'ftp://PlantedScalerUrl3'}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid webhook url") && !e.contains("PlantedScalerUrl3"), "{e}");
    }
}
