//! Tap points: a copy of the records leaving a source or transform, or entering a sink,
//! for whoever watches (`lookout tap`, `GET /api/v1/tap`).
//!
//! Tapping must cost nothing when nobody taps and must never slow the pipeline when
//! somebody does:
//! - every [`Fanout`](crate::Fanout) carries a [`Tap`]; its first step is one relaxed
//!   load of the process-wide subscription count, and with no subscription that is all;
//! - a subscriber has a bounded queue of batches; when it is full (a slow client), the
//!   batch is skipped for that subscriber and counted ([`Subscription::take_lagged`]),
//!   the pipeline never waits;
//! - copies carry no acknowledgement finalizers, so a tap never delays or fakes a
//!   delivery confirmation;
//! - at most [`MAX_TAPS`] subscriptions exist at once;
//! - points are kept by component name in [`Taps`], which lives as long as the process:
//!   a config reload wires the new components to the same points, so a running tap
//!   keeps streaming across it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lookout_event::{Batch, BatchMeta};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

/// Most subscriptions open at once, over all components.
pub const MAX_TAPS: usize = 16;

/// Batches a subscriber may have waiting before newer ones are skipped for it.
const QUEUE_BATCHES: usize = 64;

/// Why a tap could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    /// No component of the running pipeline has this name.
    #[error("unknown component `{name}`; the running pipeline has: {}", known.join(", "))]
    UnknownComponent {
        /// The name asked for.
        name: String,
        /// Every component name of the running pipeline, sorted.
        known: Vec<String>,
    },
    /// [`MAX_TAPS`] subscriptions are open already.
    #[error("{MAX_TAPS} taps are open already; close one and retry")]
    TooMany,
}

/// Why records were skipped for a subscriber (the `reason` label of
/// `lookout_tap_skipped_events_total`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    /// `lagged` (the subscriber's queue was full) or `rate` (over its rate limit).
    pub reason: &'static str,
}

/// The process-wide set of tap points, one per component name.
#[derive(Clone, Default)]
pub struct Taps {
    inner: Arc<TapsInner>,
}

#[derive(Default)]
struct TapsInner {
    /// Open subscriptions over every point: the one load the pipeline pays per batch.
    open: AtomicUsize,
    points: Mutex<HashMap<String, Arc<TapPoint>>>,
    /// `(name, kind)` of every component of the running pipeline.
    components: Mutex<Vec<(String, String)>>,
    next_id: AtomicU64,
    subscribers: Gauge,
    skipped: Family<SkipLabels, Counter>,
}

/// One component's tap point: the subscribers that watch it.
#[derive(Default)]
struct TapPoint {
    subscribers: Mutex<Vec<Subscriber>>,
}

struct Subscriber {
    id: u64,
    queue: mpsc::Sender<Batch>,
    lagged: Arc<AtomicU64>,
}

impl TapPoint {
    fn publish(&self, batch: &Batch, skipped: &Family<SkipLabels, Counter>) {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if subscribers.is_empty() {
            return;
        }
        // A copy without finalizers: a tap must never hold up or confirm a delivery.
        let copy = Batch {
            payload: batch.payload.clone(),
            meta: BatchMeta {
                received_at: batch.meta.received_at,
                received_unix_nano: batch.meta.received_unix_nano,
                promote: batch.meta.promote.clone(),
                finalizers: Default::default(),
            },
        };
        for s in subscribers.iter() {
            if let Err(mpsc::error::TrySendError::Full(b)) = s.queue.try_send(copy.clone()) {
                let n = b.len() as u64;
                s.lagged.fetch_add(n, Ordering::Relaxed);
                skipped.get_or_create(&SkipLabels { reason: "lagged" }).inc_by(n);
            }
        }
    }
}

impl Taps {
    /// An empty set: no components, no subscriptions.
    pub fn new() -> Taps {
        Taps::default()
    }

    /// Registers `lookout_tap_subscribers` and `lookout_tap_skipped_events_total`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register("lookout_tap_subscribers", "Taps open now.", self.inner.subscribers.clone());
        registry.register(
            "lookout_tap_skipped_events",
            "Records a tap did not pass on: its client was too slow (lagged) or over its rate limit (rate).",
            self.inner.skipped.clone(),
        );
    }

    fn point(&self, name: &str) -> Arc<TapPoint> {
        let mut points = self.inner.points.lock().unwrap_or_else(|e| e.into_inner());
        points.entry(name.to_string()).or_default().clone()
    }

    /// The tap of a fan-out that carries `own`'s output into the inputs of `consumers`
    /// (the sinks among them: a sink's tap shows what enters it).
    pub fn tap<'a>(&self, own: &str, consumers: impl IntoIterator<Item = &'a str>) -> Tap {
        let mut points = vec![self.point(own)];
        points.extend(consumers.into_iter().map(|c| self.point(c)));
        Tap { taps: Some(self.inner.clone()), points }
    }

    /// Sets the components of the running pipeline, as `(name, kind)`; a start or
    /// reload calls it. Subscriptions to components that are gone stay open and quiet.
    pub fn set_components(&self, components: Vec<(String, String)>) {
        *self.inner.components.lock().unwrap_or_else(|e| e.into_inner()) = components;
    }

    /// The components of the running pipeline, as `(name, kind)`, sorted by name.
    pub fn components(&self) -> Vec<(String, String)> {
        let mut c = self.inner.components.lock().unwrap_or_else(|e| e.into_inner()).clone();
        c.sort();
        c
    }

    /// Counts `n` records skipped for being over a subscriber's rate limit.
    pub fn count_rate_limited(&self, n: u64) {
        self.inner.skipped.get_or_create(&SkipLabels { reason: "rate" }).inc_by(n);
    }

    /// Opens a subscription to what component `name` emits (or, for a sink, receives).
    pub fn subscribe(&self, name: &str) -> Result<Subscription, TapError> {
        let known = self.components();
        if !known.iter().any(|(n, _)| n == name) {
            return Err(TapError::UnknownComponent {
                name: name.to_string(),
                known: known.into_iter().map(|(n, _)| n).collect(),
            });
        }
        let open = &self.inner.open;
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_TAPS).then_some(n + 1))
            .map_err(|_| TapError::TooMany)?;
        self.inner.subscribers.inc();
        let (queue, rx) = mpsc::channel(QUEUE_BATCHES);
        let lagged = Arc::new(AtomicU64::new(0));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let point = self.point(name);
        point.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(Subscriber {
            id,
            queue,
            lagged: lagged.clone(),
        });
        Ok(Subscription { rx, lagged, point, id, taps: self.inner.clone() })
    }
}

/// Where a fan-out publishes: the producer's point and its consumers' points.
#[derive(Clone, Default)]
pub struct Tap {
    taps: Option<Arc<TapsInner>>,
    points: Vec<Arc<TapPoint>>,
}

impl Tap {
    /// Hands a copy of `batch` to every subscriber of these points; with no
    /// subscription anywhere, one relaxed atomic load.
    #[inline]
    pub fn publish(&self, batch: &Batch) {
        let Some(taps) = &self.taps else { return };
        if taps.open.load(Ordering::Relaxed) == 0 {
            return;
        }
        for p in &self.points {
            p.publish(batch, &taps.skipped);
        }
    }
}

/// An open tap: batches as they pass, until dropped.
pub struct Subscription {
    rx: mpsc::Receiver<Batch>,
    lagged: Arc<AtomicU64>,
    point: Arc<TapPoint>,
    id: u64,
    taps: Arc<TapsInner>,
}

impl Subscription {
    /// The next batch that passed the point (never `None` while the process runs: a
    /// point outlives reloads).
    pub async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await
    }

    /// A batch already waiting, if any.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok()
    }

    /// Records skipped since the last call because this subscriber's queue was full.
    pub fn take_lagged(&self) -> u64 {
        self.lagged.swap(0, Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.point.subscribers.lock().unwrap_or_else(|e| e.into_inner()).retain(|s| s.id != self.id);
        self.taps.open.fetch_sub(1, Ordering::AcqRel);
        self.taps.subscribers.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    fn batch(n: usize) -> Batch {
        Batch::logs(vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); n], ..Default::default() }],
            ..Default::default()
        }])
    }

    fn taps() -> Taps {
        let taps = Taps::new();
        taps.set_components(vec![("enrich".into(), "transform".into()), ("archive".into(), "sink".into())]);
        taps
    }

    #[tokio::test]
    async fn subscriber_sees_own_and_consumer_points() {
        let taps = taps();
        let tap = taps.tap("enrich", ["archive"]);
        let mut on_enrich = taps.subscribe("enrich").unwrap();
        let mut on_archive = taps.subscribe("archive").unwrap();
        tap.publish(&batch(3));
        assert_eq!(on_enrich.recv().await.unwrap().len(), 3);
        assert_eq!(on_archive.recv().await.unwrap().len(), 3);
    }

    #[test]
    fn unknown_component_lists_the_known_ones() {
        let err = taps().subscribe("nope").err().unwrap();
        assert_eq!(err.to_string(), "unknown component `nope`; the running pipeline has: archive, enrich");
    }

    #[test]
    fn at_most_sixteen_and_drop_frees_a_slot() {
        let taps = taps();
        let mut open: Vec<_> = (0..MAX_TAPS).map(|_| taps.subscribe("enrich").unwrap()).collect();
        assert_eq!(taps.subscribe("enrich").err().unwrap(), TapError::TooMany);
        open.pop();
        assert!(taps.subscribe("enrich").is_ok());
    }

    #[test]
    fn a_slow_subscriber_lags_instead_of_blocking() {
        let taps = taps();
        let tap = taps.tap("enrich", []);
        let sub = taps.subscribe("enrich").unwrap();
        for _ in 0..QUEUE_BATCHES + 5 {
            tap.publish(&batch(2)); // never waits
        }
        assert_eq!(sub.take_lagged(), 10);
        assert_eq!(sub.take_lagged(), 0);
    }

    #[test]
    fn dropped_subscription_stops_publishing() {
        let taps = taps();
        let tap = taps.tap("enrich", []);
        drop(taps.subscribe("enrich").unwrap());
        assert_eq!(taps.inner.open.load(Ordering::Relaxed), 0);
        tap.publish(&batch(1));
        assert!(taps.inner.points.lock().unwrap()["enrich"].subscribers.lock().unwrap().is_empty());
    }
}
