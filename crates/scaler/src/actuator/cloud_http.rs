//! Calls to a cloud provider's REST API for the `gcp_mig` and `azure_vmss` actuators: a
//! bearer token from the actuator's [`Credential`], retries, and one error type.
//!
//! Retrying follows both providers' guidance, run by `lookout-retry`: 429, 5xx and no answer
//! are retried with exponential backoff (0.5 s doubling to 8 s), a `Retry-After` is honoured
//! up to 30 s; other 4xx answers are final. A 401 drops the cached token and the call is made
//! once more with a fresh one (a token revoked or expired early). The provider's error body
//! (`{"error": {"code", "message", ...}}`, the shape Google and Azure Resource Manager share
//! closely enough) becomes the error's code and message. Errors never carry a URL or a token.

use std::future::Future;
use std::time::Duration;

use lookout_retry::{Backoff, Jitter, Retrier, RetryPolicy, Retryable, Verdict};
use reqwest::StatusCode;
use serde_json::Value;

use super::oauth::{Credential, TokenCache};

/// The longest provider message kept in an error (bounded memory, readable reasons).
const MAX_MESSAGE: usize = 300;

/// Why a cloud actuator could not read or change its group.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// A credential file cannot be read or is not what it should be (named by path; its
    /// contents never appear).
    Credentials(String),
    /// The token endpoint refused to issue a token.
    Token {
        /// The HTTP status.
        status: StatusCode,
        /// The OAuth `error` code (e.g. `invalid_client`).
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The API refused the request (after the retries 429 and 5xx get).
    Refused {
        /// The call, e.g. `instanceGroupManagers.resize`.
        what: &'static str,
        /// The HTTP status.
        status: StatusCode,
        /// The provider's error code (`OperationNotAllowed`, `resourceNotReady`...).
        code: String,
        /// The provider's message.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No answer (after retries).
    Unavailable(String),
    /// An answer that is not what the API documents.
    Invalid(String),
    /// The HTTP client cannot be built.
    HttpClient(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Credentials(m) | Error::Unavailable(m) => f.write_str(m),
            Error::Token { status, error, description } => {
                write!(f, "token endpoint answered {status}: {error}{}", prefixed(": ", description))
            }
            Error::Refused { what, status, code, message, attempts } => write!(
                f,
                "{what} answered {status}{}{} (after {attempts} attempt{})",
                prefixed(" ", code),
                prefixed(": ", message),
                if *attempts == 1 { "" } else { "s" }
            ),
            Error::Invalid(m) => write!(f, "unexpected answer: {m}"),
            Error::HttpClient(m) => write!(f, "cannot build HTTP client: {m}"),
        }
    }
}

impl std::error::Error for Error {}

fn prefixed(p: &str, s: &str) -> String {
    if s.is_empty() { String::new() } else { format!("{p}{s}") }
}

impl Error {
    /// A short label for the failure counter: the provider's error code when it sent one
    /// (`resourceNotReady`, `OperationNotAllowed`, `SubscriptionRequestsThrottled`...), else
    /// `auth`, `throttled`, `unavailable`, `refused`, `invalid` or `config`.
    pub fn reason(&self) -> String {
        let class = match self {
            Error::Refused { code, .. } if !code.is_empty() => {
                // Provider codes are identifiers; anything else is cut to keep the label sane.
                return code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
            }
            Error::Credentials(_) | Error::Token { .. } => "auth",
            Error::Refused { status, .. } if matches!(status.as_u16(), 401 | 403) => "auth",
            Error::Refused { status, .. } if status.as_u16() == 429 => "throttled",
            Error::Refused { status, .. } if status.is_server_error() => "unavailable",
            Error::Refused { .. } => "refused",
            Error::Unavailable(_) => "unavailable",
            Error::Invalid(_) => "invalid",
            Error::HttpClient(_) => "config",
        };
        class.to_string()
    }

    fn with_attempts(mut self, n: u32) -> Error {
        if let Error::Refused { attempts, .. } = &mut self {
            *attempts = n;
        }
        if let Error::Unavailable(m) = &mut self {
            m.push_str(&format!(" (after {n} attempt{})", if n == 1 { "" } else { "s" }));
        }
        self
    }
}

/// One failed attempt and whether another is worth it.
#[derive(Debug)]
pub(crate) struct Failed {
    error: Error,
    verdict: Verdict,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl Retryable for Failed {
    fn verdict(&self) -> Verdict {
        self.verdict
    }
}

fn verdict_for(resp: &reqwest::Response) -> Verdict {
    if Retrier::DEFAULT.is_retryable(resp.status().as_u16()) {
        let after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(lookout_retry::retry_after::parse);
        Verdict::Retry { after }
    } else {
        Verdict::Permanent
    }
}

fn bounded(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Reads a JSON error body without ever failing.
async fn error_body(resp: reqwest::Response) -> Value {
    resp.json::<Value>().await.unwrap_or(Value::Null)
}

impl Failed {
    /// An API's error answer: `{"error": {"code", "message"}}` (Azure: `code` is a string;
    /// Google: a number, with `errors[].reason` and `status`).
    pub(crate) async fn from_api(what: &'static str, resp: reqwest::Response) -> Failed {
        let status = resp.status();
        let verdict = verdict_for(&resp);
        let body = error_body(resp).await;
        let e = &body["error"];
        // The most specific code: Azure's, Google's `errors[].reason`, Google's canonical status.
        let code = e["code"]
            .as_str()
            .or_else(|| e["errors"][0]["reason"].as_str())
            .or_else(|| e["status"].as_str())
            .unwrap_or_default();
        let message = e["message"].as_str().unwrap_or_default();
        let error = Error::Refused { what, status, code: bounded(code), message: bounded(message), attempts: 1 };
        Failed { error, verdict }
    }

    /// A token endpoint's error answer (RFC 6749 §5.2).
    pub(crate) async fn from_token_endpoint(resp: reqwest::Response) -> Failed {
        let status = resp.status();
        let verdict = verdict_for(&resp);
        let body = error_body(resp).await;
        let error = Error::Token {
            status,
            error: bounded(body["error"].as_str().unwrap_or_default()),
            description: bounded(body["error_description"].as_str().unwrap_or_default()),
        };
        Failed { error, verdict }
    }

    /// No answer: worth another attempt.
    pub(crate) fn no_answer(what: &str, e: reqwest::Error) -> Failed {
        Failed { error: Error::Unavailable(format!("{what} failed: {}", e.without_url())), verdict: Verdict::RETRY }
    }

    /// A failure no retry can fix.
    pub(crate) fn permanent(error: Error) -> Failed {
        Failed { error, verdict: Verdict::Permanent }
    }
}

/// The retry policy of a cloud actuator: `max_retries` after the first attempt.
pub(crate) fn retry_policy(max_retries: u32, base: Duration) -> RetryPolicy {
    let max = (base * 16).min(Duration::from_secs(8));
    RetryPolicy::new(Backoff::new(base, max).with_jitter(Jitter::Full))
        .max_attempts(max_retries.saturating_add(1))
        .max_retry_after(Duration::from_secs(30))
}

/// Runs `attempt` under `policy`; the error is the last attempt's, with the count.
pub(crate) async fn send_retried<F, Fut>(policy: &RetryPolicy, attempt: F) -> Result<reqwest::Response, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, Failed>>,
{
    lookout_retry::retry(policy, attempt).await.map_err(|e| {
        let n = e.attempts();
        e.into_last().error.with_attempts(n)
    })
}

/// An HTTP client that authorizes each request with a cached token from `C`.
pub(crate) struct CloudClient<C> {
    http: reqwest::Client,
    credential: C,
    tokens: TokenCache,
    policy: RetryPolicy,
}

impl<C: Credential> CloudClient<C> {
    /// A client with a per-request `timeout`.
    pub(crate) fn new(credential: C, timeout: Duration, policy: RetryPolicy) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::HttpClient(e.without_url().to_string()))?;
        Ok(CloudClient { http, credential, tokens: TokenCache::default(), policy })
    }

    /// Sends the request `build` makes with a bearer token, retried as the module says; a
    /// 401 refreshes the token and sends once more.
    pub(crate) async fn send(
        &self,
        what: &'static str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        match self.send_with_token(what, &build).await {
            Err(Error::Refused { status: StatusCode::UNAUTHORIZED, .. }) => {
                tracing::debug!(call = what, "Access token refused; fetching a new one.");
                self.tokens.invalidate().await;
                self.send_with_token(what, &build).await
            }
            other => other,
        }
    }

    async fn send_with_token(
        &self,
        what: &'static str,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        send_retried(&self.policy, || async {
            // Token requests retry on their own: a failure here is final.
            let token = self.tokens.get(&self.credential, &self.http, &self.policy).await.map_err(Failed::permanent)?;
            match build(&self.http).bearer_auth(token.expose()).send().await {
                Ok(r) if r.status().is_success() => Ok(r),
                Ok(r) => Err(Failed::from_api(what, r).await),
                Err(e) => Err(Failed::no_answer(what, e)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use lookout_config::Secret;

    use super::*;
    use crate::actuator::oauth::AccessToken;

    /// Hands out `token-1`, `token-2`, ... and counts the fetches.
    struct Counting(Arc<AtomicUsize>);

    impl Credential for Counting {
        async fn fetch(&self, _: &reqwest::Client, _: &RetryPolicy) -> Result<AccessToken, Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken::expiring_in(Secret::new(format!("token-{n}")), 3600))
        }
    }

    /// A fake API: the first call answers 401 (whatever the token), the next two 429 with
    /// `Retry-After: 0`, then 200 for `token-2` only; `/refused` answers Azure's 409.
    async fn fake() -> String {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/ok",
                axum::routing::get(move |h: HeaderMap| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let auth = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                        match n {
                            0 => (StatusCode::UNAUTHORIZED, "{}").into_response(),
                            1 | 2 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "{}").into_response(),
                            _ if auth == "Bearer token-2" => (StatusCode::OK, "{\"ok\":true}").into_response(),
                            _ => (StatusCode::UNAUTHORIZED, "{}").into_response(),
                        }
                    }
                }),
            )
            .route(
                "/refused",
                axum::routing::patch(|| async {
                    let body = r#"{"error":{"code":"OperationNotAllowed","message":"quota"}}"#;
                    (StatusCode::CONFLICT, body).into_response()
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn a_401_refreshes_the_token_once_and_429s_are_retried() {
        let url = fake().await;
        let fetches = Arc::new(AtomicUsize::new(0));
        let policy = retry_policy(3, Duration::from_millis(1));
        let client = CloudClient::new(Counting(fetches.clone()), Duration::from_secs(5), policy).unwrap();
        let resp = client.send("get", |c| c.get(format!("{url}/ok"))).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "one token, then one more after the 401");

        let e = client.send("update", |c| c.patch(format!("{url}/refused"))).await.unwrap_err();
        assert_eq!(e.to_string(), "update answered 409 Conflict OperationNotAllowed: quota (after 1 attempt)");
        assert_eq!(e.reason(), "OperationNotAllowed");
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "a 409 keeps the token");
    }
}
