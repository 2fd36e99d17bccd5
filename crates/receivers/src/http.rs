//! Sending one HTTP request for an integration and turning the outcome into a
//! [`NotifyError`]: the single place where status codes decide retryability (2xx ok, 429
//! and 5xx retry with `Retry-After`, other statuses never) and where URLs are kept out of
//! error messages, because webhook URLs carry their secret.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};

use crate::config::{HttpClientConfig, Secret};
use crate::integration::{FailureReason, NotifyError};

/// At most this much of a response body goes into an error message.
const BODY_SNIPPET: usize = 512;
/// Responses are read up to this size (integrations parse short JSON answers).
const MAX_BODY: usize = 64 * 1024;

/// An HTTP client with its `http_config` (auth headers are read per request so rotated
/// `*_file` credentials take effect).
#[derive(Clone)]
pub(crate) struct HttpSender {
    client: reqwest::Client,
    config: HttpClientConfig,
    timeout: Option<Duration>,
}

impl HttpSender {
    /// Uses `shared` unless the settings need a client of their own (TLS, proxy, ...).
    pub(crate) fn new(
        config: HttpClientConfig,
        shared: reqwest::Client,
        timeout: Option<Duration>,
    ) -> Result<HttpSender, crate::Error> {
        config.validate()?;
        let client = if config.needs_own_client() { config.build_client()? } else { shared };
        Ok(HttpSender { client, config, timeout: timeout.filter(|t| !t.is_zero()) })
    }

    /// Sends `body` as JSON and classifies the answer. `what` names the target in errors
    /// (never the URL).
    pub(crate) async fn send_json(
        &self,
        method: Method,
        url: &str,
        extra_auth: Option<&Secret>,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Vec<u8>, NotifyError> {
        let a = self.send(method, url, extra_auth, body, what).await?;
        check_status(what, a.status, a.retry_after, &a.body)?;
        Ok(a.body)
    }

    /// Sends `body` as JSON; only transport failures are errors here.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        extra_auth: Option<&Secret>,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Answer, NotifyError> {
        let bytes = serde_json::to_vec(body).map_err(|e| NotifyError::config(format!("cannot encode {what}: {e}")))?;
        let mut req =
            self.client.request(method, url).header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes);
        let auth = match extra_auth {
            Some(a) => Some(a.clone()),
            None => self.config.authorization_header()?,
        };
        if let Some(a) = auth {
            let mut v = HeaderValue::from_str(a.expose())
                .map_err(|_| NotifyError::config(format!("{what}: credentials are not a valid header value")))?;
            v.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        if let Some(t) = self.timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(|e| transport_error(what, e))?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let body = read_bounded(resp).await;
        Ok(Answer { status, retry_after, body })
    }
}

/// A response, read (bounded).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
}

/// A transport failure: always retryable (the request may not have arrived).
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> NotifyError {
    let reason = if e.is_timeout() { FailureReason::Timeout } else { FailureReason::Connection };
    // `without_url`: the URL can hold the webhook's secret token.
    let e = e.without_url();
    let mut msg = format!("{what}: request failed: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    NotifyError::retryable(reason, msg)
}

async fn read_bounded(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_BODY.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_BODY {
            break;
        }
    }
    out
}

/// The status rule shared by every HTTP integration.
pub(crate) fn check_status(
    what: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), NotifyError> {
    if status.is_success() {
        return Ok(());
    }
    let snippet = String::from_utf8_lossy(&body[..body.len().min(BODY_SNIPPET)]).trim().to_string();
    let msg = if snippet.is_empty() {
        format!("{what}: unexpected status {status}")
    } else {
        format!("{what}: unexpected status {status}: {snippet}")
    };
    let retryable = lookout_retry::Retrier::DEFAULT.is_retryable(status.as_u16());
    let mut err = if retryable && status.is_server_error() {
        NotifyError::retryable(FailureReason::ServerError, msg)
    } else if retryable {
        NotifyError::retryable(FailureReason::ClientError, msg)
    } else if status.is_client_error() {
        NotifyError::permanent(FailureReason::ClientError, msg)
    } else {
        NotifyError::permanent(FailureReason::Other, msg)
    };
    if err.retryable {
        err.retry_after = retry_after;
    }
    Err(err)
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn retry_after(h: &HeaderMap) -> Option<Duration> {
    lookout_retry::retry_after::parse(h.get(RETRY_AFTER)?.to_str().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_decide_retry() {
        assert!(check_status("x", StatusCode::OK, None, b"").is_ok());
        let e = check_status("x", StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(3)), b"busy").unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.message, "x: unexpected status 503 Service Unavailable: busy");
        assert!(check_status("x", StatusCode::TOO_MANY_REQUESTS, None, b"").unwrap_err().retryable);
        let e = check_status("x", StatusCode::BAD_REQUEST, Some(Duration::from_secs(3)), b"").unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.retry_after, None);
        assert!(!check_status("x", StatusCode::FOUND, None, b"").unwrap_err().retryable);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
