//! A remote-write 1.0 client: a bounded queue of samples, sent in batches by one task.
//!
//! Appends never wait on the network: [`RemoteWriter::push`] puts the sample in the queue
//! (at most `max_pending_samples`; past that new samples are dropped and counted, so a
//! dead endpoint costs bounded memory, never a stalled rule evaluation). The task sends
//! up to `max_samples_per_send` samples per request every `flush_interval` or as soon as
//! a full batch is queued; 5xx, 429 and connection errors are retried with capped
//! exponential backoff and jitter, honouring `Retry-After` up to `max_backoff`
//! (`lookout-retry`; the batch stays at the head of the queue, as Prometheus's queue
//! manager does), other 4xx answers drop the batch and count it as failed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::encode::{HEADERS, USER_AGENT, WriteRequestBuilder};
use crate::Labels;
use lookout_config::Secret;

/// Settings.
#[derive(Debug, Clone)]
pub struct RemoteWriterConfig {
    /// The write endpoint, e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub url: String,
    /// Queue bound (samples); beyond it new samples are dropped and counted.
    pub max_pending_samples: usize,
    /// Samples per request.
    pub max_samples_per_send: usize,
    /// How long a partial batch may wait.
    pub flush_interval: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// First retry delay (doubles up to `max_backoff`).
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// `Authorization: Bearer …`, if set.
    pub bearer_token: Option<Secret>,
    /// A file holding the bearer token, read for every request (it may rotate).
    pub bearer_token_file: Option<PathBuf>,
}

impl RemoteWriterConfig {
    /// Defaults for `url` (Prometheus's queue defaults, scaled to one sender).
    pub fn new(url: impl Into<String>) -> Self {
        RemoteWriterConfig {
            url: url.into(),
            max_pending_samples: 100_000,
            max_samples_per_send: 2000,
            flush_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            bearer_token: None,
            bearer_token_file: None,
        }
    }
}

/// Counters, as read by [`RemoteWriter::stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RemoteWriterStats {
    /// Samples the endpoint accepted.
    pub sent_samples: u64,
    /// Samples dropped because the queue was full.
    pub dropped_samples: u64,
    /// Samples the endpoint refused with a non-retryable answer.
    pub failed_samples: u64,
    /// Retried requests.
    pub retries: u64,
    /// Samples waiting.
    pub pending_samples: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
}

struct Shared {
    config: RemoteWriterConfig,
    queue: Mutex<Vec<(Labels, i64, f64)>>,
    wake: tokio::sync::Notify,
    closed: AtomicBool,
    counters: Counters,
}

/// The handle: cheap to clone; the sending task runs until [`RemoteWriter::close`].
#[derive(Clone)]
pub struct RemoteWriter {
    shared: Arc<Shared>,
}

impl RemoteWriter {
    /// Starts the sending task on the current Tokio runtime.
    pub fn start(config: RemoteWriterConfig) -> Result<(RemoteWriter, tokio::task::JoinHandle<()>), String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let shared = Arc::new(Shared {
            config,
            queue: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let task = tokio::spawn(run(shared.clone(), http));
        Ok((RemoteWriter { shared }, task))
    }

    /// Queues one sample; false when the queue is full (the sample is dropped and counted).
    pub fn push(&self, labels: &Labels, t_ms: i64, v: f64) -> bool {
        let mut queue = self.shared.queue.lock().expect("remote write queue");
        if queue.len() >= self.shared.config.max_pending_samples {
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        queue.push((labels.clone(), t_ms, v));
        let full = queue.len() >= self.shared.config.max_samples_per_send;
        drop(queue);
        if full {
            self.shared.wake.notify_one();
        }
        true
    }

    /// The counters now.
    pub fn stats(&self) -> RemoteWriterStats {
        let c = &self.shared.counters;
        RemoteWriterStats {
            sent_samples: c.sent.load(Ordering::Relaxed),
            dropped_samples: c.dropped.load(Ordering::Relaxed),
            failed_samples: c.failed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            pending_samples: self.shared.queue.lock().expect("remote write queue").len() as u64,
        }
    }

    /// Asks the task to send what is queued and stop (it gives up retrying after that).
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }
}

/// The request body of a batch of queued samples.
pub(crate) fn encode(points: &[(Labels, i64, f64)]) -> Vec<u8> {
    let mut request = WriteRequestBuilder::new();
    for (labels, t, v) in points {
        request.sample(labels, *t, *v);
    }
    request.encode()
}

/// Why a batch was not sent.
enum Failure {
    /// Refused for good (4xx).
    Refused(String),
    /// Worth another attempt, after the wait the endpoint asked for, if any.
    Retry(String, Option<Duration>),
    /// Worth another attempt, but the writer is closing.
    Closing(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(m) | Failure::Retry(m, _) | Failure::Closing(m) => f.write_str(m),
        }
    }
}

impl lookout_retry::Retryable for Failure {
    fn verdict(&self) -> lookout_retry::Verdict {
        match self {
            Failure::Retry(_, after) => lookout_retry::Verdict::Retry { after: *after },
            Failure::Refused(_) | Failure::Closing(_) => lookout_retry::Verdict::Permanent,
        }
    }
}

async fn send(shared: &Shared, http: &reqwest::Client, body: Vec<u8>) -> Result<(), Failure> {
    let mut req = http.post(&shared.config.url).header("user-agent", USER_AGENT).body(body);
    for (name, value) in HEADERS {
        req = req.header(name, value);
    }
    if let Some(token) = &shared.config.bearer_token {
        req = req.bearer_auth(token.expose());
    }
    if let Some(file) = &shared.config.bearer_token_file {
        // Retried like an outage: the file may be mid-rotation.
        let token = Secret::from_file(file).map_err(|e| Failure::Retry(e.to_string(), None))?;
        req = req.bearer_auth(token.expose());
    }
    match req.send().await {
        // The URL is logged next to the error (redacted): not again, whole, in it.
        Err(e) => Err(Failure::Retry(e.without_url().to_string(), None)),
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => {
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(lookout_retry::retry_after::parse);
            let text = resp.text().await.unwrap_or_default();
            let msg = format!("HTTP {status}: {}", text.trim());
            if lookout_retry::Retrier::DEFAULT.is_retryable(status.as_u16()) {
                Err(Failure::Retry(msg, retry_after))
            } else {
                Err(Failure::Refused(msg))
            }
        }
    }
}

async fn run(shared: Arc<Shared>, http: reqwest::Client) {
    let per_send = shared.config.max_samples_per_send.max(1);
    let backoff = lookout_retry::Backoff::new(shared.config.min_backoff, shared.config.max_backoff)
        .with_jitter(lookout_retry::Jitter::Equal);
    let policy = lookout_retry::RetryPolicy::new(backoff);
    loop {
        let closing = shared.closed.load(Ordering::Acquire);
        let batch: Vec<(Labels, i64, f64)> = {
            let mut queue = shared.queue.lock().expect("remote write queue");
            let n = queue.len().min(per_send);
            queue.drain(..n).collect()
        };
        if batch.is_empty() {
            if closing {
                return;
            }
            let _ = tokio::time::timeout(shared.config.flush_interval, shared.wake.notified()).await;
            continue;
        }
        let body = encode(&batch);
        let (shared, http, body) = (&shared, &http, &body);
        let mut attempts = 0u32;
        let sent = lookout_retry::retry(&policy, || {
            attempts += 1;
            if attempts > 1 {
                shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            async move {
                match send(shared, http, body.clone()).await {
                    Err(Failure::Retry(msg, _)) if shared.closed.load(Ordering::Acquire) => Err(Failure::Closing(msg)),
                    other => other,
                }
            }
        })
        .await;
        match sent.map_err(|e| e.into_last()) {
            Ok(()) => {
                shared.counters.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(Failure::Closing(msg)) => {
                tracing::warn!(url = %lookout_config::redact_url(&shared.config.url), error = %msg, samples = batch.len(), "Remote write still failing at shutdown; dropping the batch.");
                shared.counters.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(url = %lookout_config::redact_url(&shared.config.url), error = %e, samples = batch.len(), "Remote write refused a batch; dropping it.");
                shared.counters.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }
}
