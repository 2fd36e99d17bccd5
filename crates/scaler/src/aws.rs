//! What the AWS clients of the scaler share (cargo feature `aws`): the SDK configuration
//! from a region and endpoint override with the standard credential chain, and one retry
//! rule for AWS Query-protocol answers.
//!
//! The SDK's own retries are turned off, as in the `cloudwatch_logs` sink: `lookout-retry`
//! runs them, so backoff, limits and the throttling rule are the ones the rest of Lookout
//! uses. Retried: throttling (`Throttling`, `ThrottlingException`, `RequestLimitExceeded`,
//! any 400 whose message is "Rate exceeded"), `ResourceContention`, 5xx and 429 answers,
//! timeouts and connection errors. Final: everything else, such as `ValidationError` or
//! `ScalingActivityInProgress` (the group's cooldown: trying again within seconds cannot
//! help; the next evaluation will).

use std::fmt;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_autoscaling::config::http::HttpResponse;
use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use lookout_retry::{Backoff, Jitter, Retrier, RetryPolicy, Retryable, Verdict};

use crate::policy::AwsApi;

/// The shared SDK configuration for `api` (region: `api.region`, else the standard chain's,
/// else `us-east-1`).
pub(crate) async fn sdk_config(api: &AwsApi) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    loader = match &api.region {
        Some(r) => loader.region(Region::new(r.clone())),
        None => loader.region(
            aws_config::meta::region::RegionProviderChain::default_provider().or_else(Region::new("us-east-1")),
        ),
    };
    if let Some(url) = &api.endpoint {
        loader = loader.endpoint_url(url);
    }
    // Per attempt: a hung endpoint must not stall a scaler for longer than an interval or two.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(10))
        .build();
    loader.timeout_config(timeouts).load().await
}

/// Retries with backoff from 200 ms doubling to 5 s (full jitter, so many scalers throttled
/// together do not retry in step), at most 6 attempts within 30 s.
pub(crate) fn retry_policy() -> RetryPolicy {
    RetryPolicy::new(Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).with_jitter(Jitter::Full))
        .max_attempts(6)
        .max_elapsed(Duration::from_secs(30))
}

/// One failed AWS call: its error code (the label of the failure counter) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// AWS's error code (`Throttling`, `ScalingActivityInProgress`, `ValidationError`, …),
    /// or `Timeout`, `Unreachable`, `InvalidResponse`, `RequestNotBuilt`.
    pub code: String,
    /// AWS's message, or what went wrong.
    pub message: String,
    pub(crate) retry: bool,
}

impl Failure {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retry
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() { f.write_str(&self.code) } else { write!(f, "{}: {}", self.code, self.message) }
    }
}

impl std::error::Error for Failure {}

impl Retryable for Failure {
    fn verdict(&self) -> Verdict {
        if self.retry { Verdict::RETRY } else { Verdict::Permanent }
    }
}

/// The retry rule of the module docs for an answer with `code`, `message` and HTTP `status`.
pub(crate) fn classify_answer(code: &str, message: &str, status: u16) -> Failure {
    let throttled = matches!(
        code,
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" | "RequestThrottled"
    ) || (status == 400 && message.contains("Rate exceeded"));
    let transient = matches!(code, "ResourceContention" | "ServiceUnavailable" | "InternalFailure");
    let code = if code.is_empty() { format!("HTTP{status}") } else { code.to_string() };
    Failure {
        code,
        message: message.to_string(),
        retry: throttled || transient || Retrier::DEFAULT.is_retryable(status),
    }
}

/// Classifies an SDK error (any operation of any Query-protocol client: they share these types).
pub(crate) fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> Failure {
    let other = |code: &str, message: String, retry| Failure { code: code.to_string(), message, retry };
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            classify_answer(err.code().unwrap_or(""), err.message().unwrap_or(""), s.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) => other("Timeout", "the request timed out".to_string(), true),
        SdkError::DispatchFailure(d) => {
            let why = if d.is_timeout() { "the connection timed out" } else { "the request could not be sent" };
            other("Unreachable", why.to_string(), !d.is_user())
        }
        SdkError::ResponseError(_) => other("InvalidResponse", "the answer could not be read".to_string(), true),
        // Credentials missing, a bad parameter: trying again does not help.
        _ => other("RequestNotBuilt", aws_sdk_autoscaling::error::DisplayErrorContext(e).to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_transient_answers_are_retried_refusals_are_not() {
        assert!(classify_answer("Throttling", "Rate exceeded", 400).is_retryable());
        assert!(classify_answer("", "Rate exceeded", 400).is_retryable());
        assert!(classify_answer("ResourceContention", "pending update", 400).is_retryable());
        assert!(classify_answer("InternalFailure", "", 500).is_retryable());
        assert!(classify_answer("", "", 503).is_retryable());
        let refused = classify_answer("ScalingActivityInProgress", "Scaling activity 1 is in progress", 400);
        assert!(!refused.is_retryable());
        assert_eq!(refused.to_string(), "ScalingActivityInProgress: Scaling activity 1 is in progress");
        assert!(!classify_answer("ValidationError", "above max", 400).is_retryable());
        assert_eq!(classify_answer("", "", 404).code, "HTTP404");
    }
}
