//! HEC's answers: classifying `{"text":..,"code":N}` replies, and waiting for indexer
//! acknowledgements.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::delivery::SendError;

/// How long to wait for acknowledgements.
#[derive(Debug, Clone, Copy)]
pub(super) struct AckPolicy {
    /// Time between polls of `/services/collector/ack`.
    pub poll_interval: Duration,
    /// How long to wait for the ack before the records are sent again.
    pub timeout: Duration,
}

/// Why HEC refused a request, and which event it blamed (code 6).
#[derive(Debug)]
pub(super) struct Refused {
    pub error: SendError,
    pub invalid_event: Option<usize>,
}

impl From<SendError> for Refused {
    fn from(error: SendError) -> Self {
        Refused { error, invalid_event: None }
    }
}

/// HEC's answer: `{"text":"Success","code":0,"ackId":7}`.
#[derive(Debug, Default, Deserialize)]
struct Reply {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
    #[serde(default, rename = "invalid-event-number")]
    invalid_event_number: Option<usize>,
}

/// Classifies HEC's answer: `Ok(ackId)` when accepted.
pub(super) fn classify(status: u16, body: &[u8]) -> Result<Option<u64>, Refused> {
    let reply: Option<Reply> = serde_json::from_slice(body).ok();
    let Some(reply) = reply else {
        return Err(SendError::from_status(status, &String::from_utf8_lossy(body)).into());
    };
    let code = reply.code.unwrap_or(if (200..300).contains(&status) { 0 } else { -1 });
    if (200..300).contains(&status) && code == 0 {
        return Ok(reply.ack_id);
    }
    let message = format!("HEC code {code} ({}), HTTP {status}", reply.text);
    let error = if status == 401 || status == 403 {
        SendError::Unauthorized(message)
    } else if crate::delivery::STORE_RETRIER.is_retryable(status) || code == 8 || code == 9 {
        SendError::Retryable(message)
    } else {
        SendError::Fatal(message)
    };
    Err(Refused { error, invalid_event: if code == 6 { reply.invalid_event_number } else { None } })
}

/// One POST, then (with acknowledgements) the wait for its ack.
pub(super) async fn deliver(
    request: reqwest::RequestBuilder,
    acks: Option<&(AckPolicy, reqwest::RequestBuilder)>,
) -> Result<(), Refused> {
    let resp = request.send().await.map_err(|e| SendError::transport(&e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| SendError::transport(&e))?;
    let ack_id = classify(status, &body)
        .map_err(|r| Refused { error: r.error.with_retry_after(&headers), invalid_event: r.invalid_event })?;
    match (acks, ack_id) {
        (Some((policy, poll)), Some(id)) => wait_for_ack(poll, *policy, id).await.map_err(Refused::from),
        _ => Ok(()),
    }
}

/// Polls `/services/collector/ack` until `id` is acknowledged or the policy's timeout.
pub(super) async fn wait_for_ack(poll: &reqwest::RequestBuilder, policy: AckPolicy, id: u64) -> Result<(), SendError> {
    let deadline = Instant::now() + policy.timeout;
    let body = format!("{{\"acks\":[{id}]}}");
    let key = id.to_string();
    let mut last;
    loop {
        tokio::time::sleep(policy.poll_interval.min(deadline.saturating_duration_since(Instant::now()))).await;
        let Some(request) = poll.try_clone() else {
            return Err(SendError::Fatal("cannot build the ack request".into()));
        };
        match request.header("content-type", "application/json").body(body.clone()).send().await {
            Ok(resp) if resp.status().is_success() => match resp.json::<serde_json::Value>().await {
                Ok(v) if v["acks"][&key] == true => return Ok(()),
                Ok(v) => last = format!("ackId {id} pending: {v}"),
                Err(e) => last = format!("unreadable ack answer: {e}"),
            },
            Ok(resp) => last = format!("ack poll answered HTTP {}", resp.status().as_u16()),
            Err(e) => last = format!("ack poll failed: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(SendError::Retryable(format!(
                "ack timeout: ackId {id} not acknowledged within {:?} ({last})",
                policy.timeout
            )));
        }
    }
}
