//! Self-metrics of the integrations, after Alertmanager's `alertmanager_notifications_*`:
//! per notification (what on-call cares about: was it delivered, how long did it take)
//! and per request (what the service saw: every attempt).

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::alert::Notification;
use crate::integration::{Integration, NotifyError};
use crate::retry::{RetryPolicy, deliver};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntegrationLabels {
    integration: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailedLabels {
    integration: String,
    reason: String,
}

fn latency_histogram() -> Histogram {
    // Alertmanager's buckets for notification_latency_seconds.
    Histogram::new([1.0, 5.0, 10.0, 15.0, 20.0])
}

type LatencyFamily = Family<IntegrationLabels, Histogram, fn() -> Histogram>;

/// The counters and the latency histogram; cheap to clone (shared handles).
#[derive(Clone)]
pub struct NotifyMetrics {
    notifications: Family<IntegrationLabels, Counter>,
    notifications_failed: Family<FailedLabels, Counter>,
    requests: Family<IntegrationLabels, Counter>,
    requests_failed: Family<IntegrationLabels, Counter>,
    latency: LatencyFamily,
}

impl Default for NotifyMetrics {
    fn default() -> NotifyMetrics {
        NotifyMetrics::new()
    }
}

impl NotifyMetrics {
    /// Fresh, unregistered metrics.
    pub fn new() -> NotifyMetrics {
        NotifyMetrics {
            notifications: Family::default(),
            notifications_failed: Family::default(),
            requests: Family::default(),
            requests_failed: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        }
    }

    /// Registers the families (`lookout_notifications_total`, ...) in `registry`, which
    /// must not carry a prefix of its own.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "lookout_notifications",
            "Notifications handed to an integration (counted once, however many attempts).",
            self.notifications.clone(),
        );
        registry.register(
            "lookout_notifications_failed",
            "Notifications given up after retries, by failure reason.",
            self.notifications_failed.clone(),
        );
        registry.register(
            "lookout_notification_requests",
            "Requests (attempts) sent to an integration's service.",
            self.requests.clone(),
        );
        registry.register(
            "lookout_notification_requests_failed",
            "Requests (attempts) that failed.",
            self.requests_failed.clone(),
        );
        registry.register(
            "lookout_notification_latency_seconds",
            "Time from handing a notification to an integration until delivered or given up.",
            self.latency.clone(),
        );
    }

    fn labels(integration: &str) -> IntegrationLabels {
        IntegrationLabels { integration: integration.to_string() }
    }

    /// Records one finished delivery.
    pub fn observe_delivery(&self, integration: &str, result: &Result<(), NotifyError>, took: Duration) {
        let l = Self::labels(integration);
        self.notifications.get_or_create(&l).inc();
        self.latency.get_or_create(&l).observe(took.as_secs_f64());
        if let Err(e) = result {
            let fl = FailedLabels { integration: integration.to_string(), reason: e.reason.as_str().to_string() };
            self.notifications_failed.get_or_create(&fl).inc();
        }
    }

    /// Records one request (attempt).
    pub fn observe_request(&self, integration: &str, ok: bool) {
        let l = Self::labels(integration);
        self.requests.get_or_create(&l).inc();
        if !ok {
            self.requests_failed.get_or_create(&l).inc();
        }
    }

    /// [`deliver`] with the notification counted, timed and its failure logged — what the
    /// notifier calls for each integration of a flush.
    pub async fn deliver(
        &self,
        integration: &dyn Integration,
        n: &Notification,
        policy: &RetryPolicy,
        cancel: &CancellationToken,
    ) -> Result<(), NotifyError> {
        let t0 = Instant::now();
        let measured = Measured { inner: integration, metrics: self };
        let result = deliver(&measured, n, policy, cancel).await;
        self.observe_delivery(integration.name(), &result, t0.elapsed());
        if let Err(e) = &result {
            tracing::warn!(
                integration = integration.name(),
                receiver = %n.receiver,
                reason = e.reason.as_str(),
                error = %e.message,
                "Notification failed."
            );
        }
        result
    }

    /// Current value of `lookout_notifications_total{integration}` (tests, status pages).
    pub fn notifications(&self, integration: &str) -> u64 {
        self.notifications.get_or_create(&Self::labels(integration)).get()
    }

    /// Current value of `lookout_notification_requests_total{integration}`.
    pub fn requests(&self, integration: &str) -> u64 {
        self.requests.get_or_create(&Self::labels(integration)).get()
    }

    /// Current value of `lookout_notification_requests_failed_total{integration}`.
    pub fn requests_failed(&self, integration: &str) -> u64 {
        self.requests_failed.get_or_create(&Self::labels(integration)).get()
    }

    /// Current value of `lookout_notifications_failed_total{integration,reason}`.
    pub fn notifications_failed(&self, integration: &str, reason: &str) -> u64 {
        let l = FailedLabels { integration: integration.to_string(), reason: reason.to_string() };
        self.notifications_failed.get_or_create(&l).get()
    }
}

/// Counts every attempt that goes through it.
struct Measured<'m> {
    inner: &'m dyn Integration,
    metrics: &'m NotifyMetrics,
}

impl Integration for Measured<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn send_resolved(&self) -> bool {
        self.inner.send_resolved()
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            // An attempt dropped half-way (timeout, cancellation) counts as failed.
            let mut pending = Pending { metrics: self.metrics, integration: self.inner.name(), ok: None };
            let r = self.inner.notify(n).await;
            pending.ok = Some(r.is_ok());
            r
        })
    }
}

struct Pending<'a> {
    metrics: &'a NotifyMetrics,
    integration: &'static str,
    ok: Option<bool>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.metrics.observe_request(self.integration, self.ok.unwrap_or(false));
    }
}
