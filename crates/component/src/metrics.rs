//! Per-component telemetry, exposed in the Prometheus text format on `/metrics`.
//!
//! Names follow Vector's component specification so dashboards translate directly:
//! `lookout_component_{received,sent}_{events,bytes}_total`,
//! `lookout_component_discarded_events_total` (dropped on purpose: filter, sample),
//! `lookout_component_dropped_events_total` (lost to a full `drop_newest` buffer),
//! `lookout_component_failed_events_total` and `lookout_component_errors_total`,
//! `lookout_buffer_events` / `lookout_buffer_max_events`, and the
//! `lookout_component_latency_seconds` histogram of ingest→sink time per batch.

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use lookout_buffer::BufferStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// The labels every component metric carries.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    /// The component's name.
    pub component_id: String,
    /// `source`, `transform` or `sink`.
    pub component_kind: String,
    /// Its `type`.
    pub component_type: String,
}

type HistogramFamily = Family<ComponentLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

struct Families {
    received_events: Family<ComponentLabels, Counter>,
    received_bytes: Family<ComponentLabels, Counter>,
    sent_events: Family<ComponentLabels, Counter>,
    sent_bytes: Family<ComponentLabels, Counter>,
    discarded_events: Family<ComponentLabels, Counter>,
    dropped_events: Family<ComponentLabels, Counter>,
    failed_events: Family<ComponentLabels, Counter>,
    dead_letter_events: Family<ComponentLabels, Counter>,
    retries: Family<ComponentLabels, Counter>,
    errors: Family<ComponentLabels, Counter>,
    buffer_events: Family<ComponentLabels, Gauge>,
    buffer_max_events: Family<ComponentLabels, Gauge>,
    buffer_bytes: Family<ComponentLabels, Gauge>,
    buffer_max_bytes: Family<ComponentLabels, Gauge>,
    buffer_corrupt: Family<ComponentLabels, Counter>,
    buffer_replayed: Family<ComponentLabels, Counter>,
    buffer_write_errors: Family<ComponentLabels, Counter>,
    latency: HistogramFamily,
}

struct WatchedBuffer {
    labels: ComponentLabels,
    stats: Arc<BufferStats>,
    dropped_seen: u64,
    /// Corrupt, replayed and write-error counts already reported.
    seen: [u64; 3],
}

/// The process-wide metrics registry.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Mutex<Registry>>,
    families: Arc<Families>,
    buffers: Arc<Mutex<Vec<WatchedBuffer>>>,
    /// The last handles given out per component id, for [`Telemetry::counters`].
    components: Arc<Mutex<IndexMap<String, ComponentMetrics>>>,
}

/// One component's counters at one moment (`GET /api/v1/pipeline`): totals since the
/// process started, as on `/metrics`; rates come from two reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ComponentCounters {
    /// Events accepted.
    pub received_events: u64,
    /// Bytes accepted (wire size).
    pub received_bytes: u64,
    /// Events handed on or delivered.
    pub sent_events: u64,
    /// Bytes delivered.
    pub sent_bytes: u64,
    /// Events dropped on purpose (filter, sample).
    pub discarded_events: u64,
    /// Events lost to a full `drop_newest` buffer.
    pub dropped_events: u64,
    /// Events that failed.
    pub failed_events: u64,
    /// Events written to a dead-letter file.
    pub dead_letter_events: u64,
    /// Errors met.
    pub errors: u64,
    /// Attempts retried.
    pub retries: u64,
}

/// A sink's buffer at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BufferFill {
    /// Events held.
    pub events: u64,
    /// Capacity in events.
    pub max_events: u64,
    /// Bytes held (disk buffers).
    pub bytes: u64,
    /// Capacity in bytes (0: unbounded).
    pub max_bytes: u64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A registry with every component family registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let families = Families {
            received_events: Family::default(),
            received_bytes: Family::default(),
            sent_events: Family::default(),
            sent_bytes: Family::default(),
            discarded_events: Family::default(),
            dropped_events: Family::default(),
            failed_events: Family::default(),
            dead_letter_events: Family::default(),
            retries: Family::default(),
            errors: Family::default(),
            buffer_events: Family::default(),
            buffer_max_events: Family::default(),
            buffer_bytes: Family::default(),
            buffer_max_bytes: Family::default(),
            buffer_corrupt: Family::default(),
            buffer_replayed: Family::default(),
            buffer_write_errors: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        let f = &families;
        registry.register(
            "lookout_component_received_events",
            "Events a component accepted.",
            f.received_events.clone(),
        );
        registry.register(
            "lookout_component_received_bytes",
            "Bytes a component accepted (wire size).",
            f.received_bytes.clone(),
        );
        registry.register(
            "lookout_component_sent_events",
            "Events a component handed on or delivered.",
            f.sent_events.clone(),
        );
        registry.register("lookout_component_sent_bytes", "Bytes a component delivered.", f.sent_bytes.clone());
        registry.register(
            "lookout_component_discarded_events",
            "Events dropped on purpose (filter, sample).",
            f.discarded_events.clone(),
        );
        registry.register(
            "lookout_component_dropped_events",
            "Events lost because a drop_newest buffer was full.",
            f.dropped_events.clone(),
        );
        registry.register(
            "lookout_component_failed_events",
            "Events a component failed to handle.",
            f.failed_events.clone(),
        );
        registry.register(
            "lookout_component_dead_letter_events",
            "Events a sink wrote to its dead-letter file (refused for good, or retries exhausted).",
            f.dead_letter_events.clone(),
        );
        registry.register("lookout_component_retries", "Request attempts a sink retried.", f.retries.clone());
        registry.register("lookout_component_errors", "Errors a component met.", f.errors.clone());
        registry.register("lookout_buffer_bytes", "Bytes a sink's disk buffer holds on disk.", f.buffer_bytes.clone());
        registry.register(
            "lookout_buffer_max_bytes",
            "Capacity of a sink's buffer in bytes (disk: max_size; memory: max_bytes, 0 when unbounded).",
            f.buffer_max_bytes.clone(),
        );
        registry.register(
            "lookout_buffer_corrupt_records",
            "Disk buffer records skipped as damaged (torn by a crash, checksum mismatch).",
            f.buffer_corrupt.clone(),
        );
        registry.register(
            "lookout_buffer_replayed_events",
            "Events found unconfirmed in a disk buffer at start and sent again (the most a restart can duplicate).",
            f.buffer_replayed.clone(),
        );
        registry.register(
            "lookout_buffer_write_errors",
            "Disk buffer writes that failed (disk full, I/O error): the buffer counted as full meanwhile.",
            f.buffer_write_errors.clone(),
        );
        registry.register("lookout_buffer_events", "Events held in a sink's buffer.", f.buffer_events.clone());
        registry.register(
            "lookout_buffer_max_events",
            "Capacity of a sink's buffer in events.",
            f.buffer_max_events.clone(),
        );
        registry.register(
            "lookout_component_latency_seconds",
            "Time from a batch's acceptance by a source to its delivery by a sink.",
            f.latency.clone(),
        );
        Telemetry {
            registry: Arc::new(Mutex::new(registry)),
            families: Arc::new(families),
            buffers: Arc::new(Mutex::new(Vec::new())),
            components: Arc::new(Mutex::new(IndexMap::new())),
        }
    }

    /// The handles one component updates.
    pub fn component(&self, id: &str, kind: &str, type_name: &str) -> ComponentMetrics {
        let labels = ComponentLabels {
            component_id: id.to_string(),
            component_kind: kind.to_string(),
            component_type: type_name.to_string(),
        };
        let f = &self.families;
        let metrics = ComponentMetrics {
            received_events: f.received_events.get_or_create(&labels).clone(),
            received_bytes: f.received_bytes.get_or_create(&labels).clone(),
            sent_events: f.sent_events.get_or_create(&labels).clone(),
            sent_bytes: f.sent_bytes.get_or_create(&labels).clone(),
            discarded_events: f.discarded_events.get_or_create(&labels).clone(),
            failed_events: f.failed_events.get_or_create(&labels).clone(),
            dead_letter_events: f.dead_letter_events.get_or_create(&labels).clone(),
            retries: f.retries.get_or_create(&labels).clone(),
            errors: f.errors.get_or_create(&labels).clone(),
            latency: f.latency.get_or_create(&labels).clone(),
            labels,
        };
        self.components.lock().expect("components lock").insert(id.to_string(), metrics.clone());
        metrics
    }

    /// The counters of component `id` and its buffer (sinks), `None` for an id never
    /// given handles.
    pub fn counters(&self, id: &str) -> Option<(ComponentCounters, Option<BufferFill>)> {
        let m = self.components.lock().expect("components lock").get(id)?.clone();
        let buffers = self.buffers.lock().expect("buffers lock");
        // A reload watches the new buffer under the same labels: the last one is live.
        let buffer = buffers.iter().rev().find(|b| b.labels == m.labels);
        let fill = buffer.map(|b| BufferFill {
            events: b.stats.events() as u64,
            max_events: b.stats.max_events as u64,
            bytes: b.stats.bytes(),
            max_bytes: b.stats.max_bytes,
        });
        // Drops are counted by the buffer and folded into the family on each scrape.
        let dropped = self.families.dropped_events.get_or_create(&m.labels).get()
            + buffer.map_or(0, |b| b.stats.dropped().saturating_sub(b.dropped_seen));
        let counters = ComponentCounters {
            received_events: m.received_events.get(),
            received_bytes: m.received_bytes.get(),
            sent_events: m.sent_events.get(),
            sent_bytes: m.sent_bytes.get(),
            discarded_events: m.discarded_events.get(),
            dropped_events: dropped,
            failed_events: m.failed_events.get(),
            dead_letter_events: m.dead_letter_events.get(),
            errors: m.errors.get(),
            retries: m.retries.get(),
        };
        Some((counters, fill))
    }

    /// Reports a sink's buffer (fill, capacity, drops) under the sink's labels.
    pub fn watch_buffer(&self, metrics: &ComponentMetrics, stats: Arc<BufferStats>) {
        let f = &self.families;
        f.buffer_max_events.get_or_create(&metrics.labels).set(stats.max_events as i64);
        f.buffer_max_bytes.get_or_create(&metrics.labels).set(stats.max_bytes as i64);
        let _ = f.dropped_events.get_or_create(&metrics.labels);
        self.buffers.lock().expect("buffers lock").push(WatchedBuffer {
            labels: metrics.labels.clone(),
            stats,
            dropped_seen: 0,
            seen: [0; 3],
        });
    }

    /// Lets another crate register its own metrics (e.g. the OTLP source's requests).
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.registry.lock().expect("registry lock"))
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        for b in self.buffers.lock().expect("buffers lock").iter_mut() {
            self.families.buffer_events.get_or_create(&b.labels).set(b.stats.events() as i64);
            let dropped = b.stats.dropped();
            self.families.dropped_events.get_or_create(&b.labels).inc_by(dropped - b.dropped_seen);
            b.dropped_seen = dropped;
            self.families.buffer_bytes.get_or_create(&b.labels).set(b.stats.bytes() as i64);
            let now = [b.stats.corrupt(), b.stats.replayed(), b.stats.write_errors()];
            let families =
                [&self.families.buffer_corrupt, &self.families.buffer_replayed, &self.families.buffer_write_errors];
            for ((family, now), seen) in families.into_iter().zip(now).zip(b.seen.iter_mut()) {
                family.get_or_create(&b.labels).inc_by(now.saturating_sub(*seen));
                *seen = now;
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry.lock().expect("registry lock"))
            .expect("encoding into a String cannot fail");
        out
    }
}

/// One component's counters. Cheap to clone; every clone updates the same series.
#[derive(Clone, Debug)]
pub struct ComponentMetrics {
    /// Its labels.
    pub labels: ComponentLabels,
    /// Events accepted.
    pub received_events: Counter,
    /// Bytes accepted.
    pub received_bytes: Counter,
    /// Events handed on / delivered.
    pub sent_events: Counter,
    /// Bytes delivered.
    pub sent_bytes: Counter,
    /// Events dropped on purpose.
    pub discarded_events: Counter,
    /// Events that failed.
    pub failed_events: Counter,
    /// Events written to a dead-letter file.
    pub dead_letter_events: Counter,
    /// Attempts retried.
    pub retries: Counter,
    /// Errors met.
    pub errors: Counter,
    /// Ingest→sink latency per batch, in seconds.
    pub latency: Histogram,
}

impl ComponentMetrics {
    /// Metrics not attached to any registry (for tests and tools).
    pub fn detached() -> Self {
        Telemetry::new().component("test", "sink", "test")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_component_counters_and_buffers() {
        let t = Telemetry::new();
        let m = t.component("archive", "sink", "file");
        m.sent_events.inc_by(42);
        m.latency.observe(0.002);
        let (tx, _rx) = lookout_buffer::memory(100, lookout_buffer::WhenFull::Block);
        t.watch_buffer(&m, tx.stats().clone());
        let text = t.encode();
        let labels = r#"component_id="archive",component_kind="sink",component_type="file""#;
        assert!(text.contains(&format!("lookout_component_sent_events_total{{{labels}}} 42")), "{text}");
        assert!(text.contains(&format!("lookout_buffer_max_events{{{labels}}} 100")), "{text}");
        assert!(text.contains(&format!("lookout_component_latency_seconds_count{{{labels}}} 1")), "{text}");
    }

    #[test]
    fn counters_read_one_component_and_its_buffer() {
        let t = Telemetry::new();
        let m = t.component("archive", "sink", "file");
        m.received_events.inc_by(7);
        m.sent_bytes.inc_by(300);
        m.errors.inc();
        let (tx, _rx) = lookout_buffer::memory(100, lookout_buffer::WhenFull::Block);
        t.watch_buffer(&m, tx.stats().clone());
        let (c, fill) = t.counters("archive").unwrap();
        assert_eq!((c.received_events, c.sent_bytes, c.errors, c.sent_events), (7, 300, 1, 0));
        assert_eq!(fill.unwrap().max_events, 100);
        // A second set of handles (a reload) keeps counting the same series.
        t.component("archive", "sink", "file").received_events.inc();
        assert_eq!(t.counters("archive").unwrap().0.received_events, 8);
        assert!(t.counters("nope").is_none());
        let src = t.component("otlp", "source", "otlp");
        src.sent_events.inc_by(3);
        assert_eq!(t.counters("otlp").unwrap(), (ComponentCounters { sent_events: 3, ..Default::default() }, None));
    }
}
