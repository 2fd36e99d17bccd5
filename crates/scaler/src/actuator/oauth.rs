//! OAuth 2.0 access tokens for the cloud actuators: a cache holding one token until shortly
//! before it expires (dropped early when the API answers 401), and the token-endpoint
//! exchange both clouds use (RFC 6749: a form POST answered by `{"access_token",
//! "expires_in", "token_type"}`, or by `{"error", "error_description"}` on failure).
//!
//! Tokens are [`Secret`]s: they never reach a log line, an error or a Debug output.

use std::future::Future;
use std::time::{Duration, Instant};

use lookout_config::Secret;
use serde::Deserialize;

use super::cloud_http::{Error, Failed, send_retried};

/// Refresh this long before the token's stated expiry, so a request never leaves with a
/// token that dies in flight.
const EARLY_REFRESH: Duration = Duration::from_secs(60);

/// An access token and when to stop using it.
pub(crate) struct AccessToken {
    pub(crate) value: Secret,
    pub(crate) refresh_at: Instant,
}

impl AccessToken {
    /// A token valid for `expires_in` seconds from now.
    pub(crate) fn expiring_in(value: Secret, expires_in: u64) -> AccessToken {
        let life = Duration::from_secs(expires_in).saturating_sub(EARLY_REFRESH).max(Duration::from_secs(1));
        AccessToken { value, refresh_at: Instant::now() + life }
    }
}

/// A source of access tokens (a service-account key, a token file, a client secret...).
pub(crate) trait Credential: Send + Sync {
    /// Fetches a fresh token.
    /// `http` and `policy` are the actuator's, for token endpoints that are HTTP APIs too.
    fn fetch(
        &self,
        http: &reqwest::Client,
        policy: &lookout_retry::RetryPolicy,
    ) -> impl Future<Output = Result<AccessToken, Error>> + Send;
}

/// One token, shared by the requests of one actuator.
#[derive(Default)]
pub(crate) struct TokenCache {
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

impl TokenCache {
    /// The cached token, or a fresh one from `credential` when there is none or it is due.
    /// The lock is held while fetching, so concurrent callers wait for one fetch.
    pub(crate) async fn get<C: Credential>(
        &self,
        credential: &C,
        http: &reqwest::Client,
        policy: &lookout_retry::RetryPolicy,
    ) -> Result<Secret, Error> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        let fresh = credential.fetch(http, policy).await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    /// Forgets the token (the API refused it).
    pub(crate) async fn invalidate(&self) {
        *self.token.lock().await = None;
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    access_token: Secret,
    /// Seconds; Google and Microsoft always send it. Missing: assume five minutes.
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenResponse {
    pub(crate) fn into_token(self) -> AccessToken {
        AccessToken::expiring_in(self.access_token, self.expires_in.unwrap_or(300))
    }
}

/// POSTs `form` to a token endpoint (retrying 429, 5xx and no answer like any other call)
/// and reads the token.
pub(crate) async fn exchange(
    client: &reqwest::Client,
    policy: &lookout_retry::RetryPolicy,
    url: &str,
    form: &[(&str, &str)],
) -> Result<AccessToken, Error> {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let resp = send_retried(policy, || async {
        let req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.clone());
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(r),
            Ok(r) => Err(Failed::from_token_endpoint(r).await),
            Err(e) => Err(Failed::no_answer("token request", e)),
        }
    })
    .await?;
    let t: TokenResponse =
        resp.json().await.map_err(|e| Error::Invalid(format!("token response: {}", e.without_url())))?;
    Ok(t.into_token())
}
