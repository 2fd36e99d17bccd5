//! Batches: the unit that moves between components.

use std::sync::Arc;
use std::time::Instant;

use crate::finalize::Finalizers;
use crate::otlp::common::v1::InstrumentationScope;
use crate::otlp::logs::v1::ResourceLogs;
use crate::otlp::metrics::v1::{ResourceMetrics, metric::Data};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::ResourceSpans;
use crate::record::{PointRef, RecordMut, RecordRef, points_len};

/// Which OTLP signal a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Log records.
    Logs,
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
}

impl Signal {
    /// The name used in output documents and metrics labels (`log`, `span`, `metric`).
    pub fn record_name(self) -> &'static str {
        match self {
            Signal::Logs => "log",
            Signal::Traces => "span",
            Signal::Metrics => "metric",
        }
    }
}

/// The records of a batch, grouped as OTLP groups them.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `ResourceLogs` of an export request.
    Logs(Vec<ResourceLogs>),
    /// `ResourceSpans` of an export request.
    Traces(Vec<ResourceSpans>),
    /// `ResourceMetrics` of an export request; each data point is one record.
    Metrics(Vec<ResourceMetrics>),
}

impl Payload {
    /// The signal it carries.
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Logs(_) => Signal::Logs,
            Payload::Traces(_) => Signal::Traces,
            Payload::Metrics(_) => Signal::Metrics,
        }
    }

    /// Appends `other`'s resources when it carries the same signal; returns it back
    /// otherwise.
    pub fn append(&mut self, other: Payload) -> Result<(), Payload> {
        match (self, other) {
            (Payload::Logs(a), Payload::Logs(b)) => a.extend(b),
            (Payload::Traces(a), Payload::Traces(b)) => a.extend(b),
            (Payload::Metrics(a), Payload::Metrics(b)) => a.extend(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }
}

/// Resource attribute names that output encoders lift to the top level of every record
/// (set by the `enrich` transform's `promote`). Patterns are exact keys or end in `*`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Promote {
    patterns: Vec<String>,
}

impl Promote {
    /// Builds a set from patterns such as `service.name` or `k8s.*`.
    pub fn new(patterns: impl IntoIterator<Item = String>) -> Self {
        Promote { patterns: patterns.into_iter().collect() }
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `key` is promoted.
    pub fn matches(&self, key: &str) -> bool {
        self.patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => p == key,
        })
    }

    /// The union of two sets.
    pub fn union(&self, other: &Promote) -> Promote {
        let mut patterns = self.patterns.clone();
        for p in &other.patterns {
            if !patterns.contains(p) {
                patterns.push(p.clone());
            }
        }
        Promote { patterns }
    }
}

/// What a batch carries besides its records: shared per batch, never per record.
#[derive(Debug, Clone)]
pub struct BatchMeta {
    /// When the source accepted the batch; sinks measure ingest→sink latency from it.
    pub received_at: Instant,
    /// Wall-clock time of `received_at` in Unix nanoseconds: the `@timestamp` of
    /// records that carry no time of their own.
    pub received_unix_nano: u64,
    /// Resource attributes to lift to the top level in output documents.
    pub promote: Option<Arc<Promote>>,
    /// Who waits to hear that this batch was delivered (end-to-end acknowledgements).
    pub finalizers: Finalizers,
}

impl Default for BatchMeta {
    fn default() -> Self {
        let received_unix_nano =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        BatchMeta { received_at: Instant::now(), received_unix_nano, promote: None, finalizers: Finalizers::default() }
    }
}

/// A batch of telemetry of one signal, in OTLP grouping.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The records.
    pub payload: Payload,
    /// Batch-wide metadata.
    pub meta: BatchMeta,
}

impl PartialEq for Batch {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload
    }
}

fn scope_ref(scope: &Option<InstrumentationScope>) -> Option<&InstrumentationScope> {
    scope.as_ref()
}

impl Batch {
    /// A batch of logs.
    pub fn logs(resources: Vec<ResourceLogs>) -> Self {
        Batch { payload: Payload::Logs(resources), meta: BatchMeta::default() }
    }

    /// A batch of spans.
    pub fn traces(resources: Vec<ResourceSpans>) -> Self {
        Batch { payload: Payload::Traces(resources), meta: BatchMeta::default() }
    }

    /// A batch of metrics.
    pub fn metrics(resources: Vec<ResourceMetrics>) -> Self {
        Batch { payload: Payload::Metrics(resources), meta: BatchMeta::default() }
    }

    /// The signal this batch carries.
    pub fn signal(&self) -> Signal {
        self.payload.signal()
    }

    /// Number of records (log records, spans or metric data points).
    pub fn len(&self) -> usize {
        match &self.payload {
            Payload::Logs(r) => r.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum(),
            Payload::Traces(r) => r.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum(),
            Payload::Metrics(r) => r
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| m.data.as_ref().map_or(0, points_len))
                .sum(),
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with every record.
    pub fn for_each<'a>(&'a self, mut f: impl FnMut(RecordRef<'a>)) {
        match &self.payload {
            Payload::Logs(rs) => {
                for r in rs {
                    for s in &r.scope_logs {
                        for rec in &s.log_records {
                            f(RecordRef::Log {
                                resource: r.resource.as_ref(),
                                scope: scope_ref(&s.scope),
                                record: rec,
                            });
                        }
                    }
                }
            }
            Payload::Traces(rs) => {
                for r in rs {
                    for s in &r.scope_spans {
                        for span in &s.spans {
                            f(RecordRef::Span { resource: r.resource.as_ref(), scope: scope_ref(&s.scope), span });
                        }
                    }
                }
            }
            Payload::Metrics(rs) => {
                for r in rs {
                    for s in &r.scope_metrics {
                        for m in &s.metrics {
                            let Some(data) = &m.data else { continue };
                            PointRef::each(data, |point| {
                                f(RecordRef::Point {
                                    resource: r.resource.as_ref(),
                                    scope: scope_ref(&s.scope),
                                    metric: m,
                                    point,
                                });
                            });
                        }
                    }
                }
            }
        }
    }

    /// Calls `f` with mutable access to every record.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(RecordMut<'_>)) {
        match &mut self.payload {
            Payload::Logs(rs) => {
                for r in rs {
                    for s in &mut r.scope_logs {
                        for rec in &mut s.log_records {
                            f(RecordMut::Log { resource: r.resource.as_ref(), record: rec });
                        }
                    }
                }
            }
            Payload::Traces(rs) => {
                for r in rs {
                    for s in &mut r.scope_spans {
                        for span in &mut s.spans {
                            f(RecordMut::Span { resource: r.resource.as_ref(), span });
                        }
                    }
                }
            }
            Payload::Metrics(rs) => {
                for r in rs {
                    for s in &mut r.scope_metrics {
                        for m in &mut s.metrics {
                            let name = m.name.as_str();
                            match &mut m.data {
                                Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| {
                                    f(RecordMut::Point {
                                        resource: r.resource.as_ref(),
                                        name,
                                        attributes: &mut p.attributes,
                                    });
                                }),
                                Some(Data::Sum(g)) => g.data_points.iter_mut().for_each(|p| {
                                    f(RecordMut::Point {
                                        resource: r.resource.as_ref(),
                                        name,
                                        attributes: &mut p.attributes,
                                    });
                                }),
                                Some(Data::Histogram(g)) => g.data_points.iter_mut().for_each(|p| {
                                    f(RecordMut::Point {
                                        resource: r.resource.as_ref(),
                                        name,
                                        attributes: &mut p.attributes,
                                    });
                                }),
                                Some(Data::ExponentialHistogram(g)) => g.data_points.iter_mut().for_each(|p| {
                                    f(RecordMut::Point {
                                        resource: r.resource.as_ref(),
                                        name,
                                        attributes: &mut p.attributes,
                                    });
                                }),
                                Some(Data::Summary(g)) => g.data_points.iter_mut().for_each(|p| {
                                    f(RecordMut::Point {
                                        resource: r.resource.as_ref(),
                                        name,
                                        attributes: &mut p.attributes,
                                    });
                                }),
                                None => {}
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `f` once per resource with that resource (created empty where the sender
    /// sent none). Cheaper than per-record edits for anything resource-wide.
    pub fn for_each_resource_mut(&mut self, mut f: impl FnMut(&mut Resource)) {
        match &mut self.payload {
            Payload::Logs(rs) => rs.iter_mut().for_each(|r| f(r.resource.get_or_insert_with(Default::default))),
            Payload::Traces(rs) => rs.iter_mut().for_each(|r| f(r.resource.get_or_insert_with(Default::default))),
            Payload::Metrics(rs) => rs.iter_mut().for_each(|r| f(r.resource.get_or_insert_with(Default::default))),
        }
    }

    /// Keeps only the records for which `keep` returns true, dropping scopes, metrics and
    /// resources left empty. Returns how many records were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&RecordRef<'_>) -> bool) -> usize {
        let before = self.len();
        match &mut self.payload {
            Payload::Logs(rs) => {
                for r in rs.iter_mut() {
                    let resource = r.resource.as_ref();
                    for s in &mut r.scope_logs {
                        let scope = s.scope.as_ref();
                        s.log_records.retain(|record| keep(&RecordRef::Log { resource, scope, record }));
                    }
                    r.scope_logs.retain(|s| !s.log_records.is_empty());
                }
                rs.retain(|r| !r.scope_logs.is_empty());
            }
            Payload::Traces(rs) => {
                for r in rs.iter_mut() {
                    let resource = r.resource.as_ref();
                    for s in &mut r.scope_spans {
                        let scope = s.scope.as_ref();
                        s.spans.retain(|span| keep(&RecordRef::Span { resource, scope, span }));
                    }
                    r.scope_spans.retain(|s| !s.spans.is_empty());
                }
                rs.retain(|r| !r.scope_spans.is_empty());
            }
            Payload::Metrics(rs) => {
                for r in rs.iter_mut() {
                    let resource = r.resource.as_ref();
                    for s in &mut r.scope_metrics {
                        let scope = s.scope.as_ref();
                        for m in &mut s.metrics {
                            crate::record::retain_points(m, |metric, point| {
                                keep(&RecordRef::Point { resource, scope, metric, point })
                            });
                        }
                        s.metrics.retain(|m| m.data.as_ref().is_some_and(|d| points_len(d) > 0));
                    }
                    r.scope_metrics.retain(|s| !s.metrics.is_empty());
                }
                rs.retain(|r| !r.scope_metrics.is_empty());
            }
        }
        before - self.len()
    }

    /// A copy holding only the records for which `keep` returns true (same metadata).
    /// Used where one record may go to several outputs, as in `route`.
    pub fn filtered(&self, keep: impl FnMut(&RecordRef<'_>) -> bool) -> Batch {
        // Cloning then retaining keeps the grouping logic in one place; route outputs
        // are usually a large share of the batch, so the copy is not wasted.
        let mut copy = self.clone();
        copy.retain(keep);
        copy
    }

    /// Appends `other` (same signal) to this batch, with its acknowledgement
    /// notifiers; returns it back when the signals differ.
    pub fn merge(&mut self, mut other: Batch) -> Result<(), Batch> {
        let finalizers = other.meta.finalizers.take();
        match self.payload.append(other.payload) {
            Ok(()) => {
                self.meta.finalizers.merge(finalizers);
                Ok(())
            }
            Err(payload) => {
                other.payload = payload;
                other.meta.finalizers = finalizers;
                Err(other)
            }
        }
    }

    /// An estimate of the batch's encoded protobuf size in bytes.
    pub fn encoded_len(&self) -> usize {
        use prost::Message;
        match &self.payload {
            Payload::Logs(r) => r.iter().map(|r| r.encoded_len()).sum(),
            Payload::Traces(r) => r.iter().map(|r| r.encoded_len()).sum(),
            Payload::Metrics(r) => r.iter().map(|r| r.encoded_len()).sum(),
        }
    }
}
