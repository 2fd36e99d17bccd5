//! The remote-write 1.0 request, built once for both senders (the store's
//! [`RemoteWriter`](super::RemoteWriter) and the `prometheus_remote_write` sink):
//!
//! - one `TimeSeries` per label set per request (labels sorted by name, as
//!   [`Labels`] keeps them, which the spec requires);
//! - its samples sorted by timestamp (the spec: "in timestamp order"); two samples of
//!   one series at the same millisecond keep the later-pushed one, since a receiver
//!   refuses a second, different value for a timestamp (Prometheus: 400 "duplicate
//!   sample for timestamp") and that would fail the whole request;
//! - exemplars on their series, sorted by timestamp too;
//! - `metadata`, one entry per metric family;
//! - protobuf, then snappy's block format (not the framed one), with the headers in
//!   [`HEADERS`].

use std::collections::{HashMap, HashSet};

use prost::Message;

use super::prompb::{self, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use crate::Labels;
use crate::otlp::{Metadata, MetricType};

/// The headers every remote-write 1.0 request carries (besides `User-Agent`, which
/// is [`USER_AGENT`]).
pub const HEADERS: [(&str, &str); 3] = [
    ("content-encoding", "snappy"),
    ("content-type", "application/x-protobuf"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

/// `User-Agent` of Lookout's remote-write requests (the spec asks senders to send one).
pub const USER_AGENT: &str = concat!("Lookout/", env!("CARGO_PKG_VERSION"));

/// A request being built.
#[derive(Debug, Default)]
pub struct WriteRequestBuilder {
    index: HashMap<Labels, usize>,
    series: Vec<TimeSeries>,
    families: HashSet<String>,
    metadata: Vec<MetricMetadata>,
    samples: usize,
}

fn labels_of(labels: &Labels) -> Vec<Label> {
    labels.pairs().iter().map(|(name, value)| Label { name: name.clone(), value: value.clone() }).collect()
}

impl WriteRequestBuilder {
    /// An empty request.
    pub fn new() -> WriteRequestBuilder {
        WriteRequestBuilder::default()
    }

    fn series(&mut self, labels: &Labels) -> &mut TimeSeries {
        let i = match self.index.get(labels) {
            Some(i) => *i,
            None => {
                self.series.push(TimeSeries { labels: labels_of(labels), ..Default::default() });
                self.index.insert(labels.clone(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        &mut self.series[i]
    }

    /// Adds a sample (Unix milliseconds).
    pub fn sample(&mut self, labels: &Labels, t: i64, v: f64) {
        self.samples += 1;
        self.series(labels).samples.push(Sample { value: v, timestamp: t });
    }

    /// Adds an exemplar to the series `labels`.
    pub fn exemplar(&mut self, labels: &Labels, exemplar: &[(String, String)], t: i64, v: f64) {
        let labels_ = exemplar.iter().map(|(name, value)| Label { name: name.clone(), value: value.clone() }).collect();
        self.series(labels).exemplars.push(prompb::Exemplar { labels: labels_, value: v, timestamp: t });
    }

    /// Adds a metric family's metadata (once per family).
    pub fn metadata(&mut self, m: &Metadata) {
        if self.families.insert(m.family.clone()) {
            let kind = match m.metric_type {
                MetricType::Counter => prompb::MetricType::Counter,
                MetricType::Gauge => prompb::MetricType::Gauge,
                MetricType::Histogram => prompb::MetricType::Histogram,
                MetricType::Summary => prompb::MetricType::Summary,
            };
            self.metadata.push(MetricMetadata {
                r#type: kind as i32,
                metric_family_name: m.family.clone(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            });
        }
    }

    /// Samples added.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty() && self.metadata.is_empty()
    }

    /// The request: samples and exemplars sorted by time per series.
    pub fn build(self) -> WriteRequest {
        let mut timeseries = self.series;
        for ts in &mut timeseries {
            // Stable: of equal timestamps the later-pushed comes last, and is kept.
            ts.samples.sort_by_key(|s| s.timestamp);
            let mut kept: Vec<Sample> = Vec::with_capacity(ts.samples.len());
            for s in ts.samples.drain(..) {
                match kept.last_mut() {
                    Some(last) if last.timestamp == s.timestamp => *last = s,
                    _ => kept.push(s),
                }
            }
            ts.samples = kept;
            ts.exemplars.sort_by_key(|e| e.timestamp);
        }
        WriteRequest { timeseries, metadata: self.metadata }
    }

    /// The request, protobuf-encoded and snappy-compressed: the body to POST.
    pub fn encode(self) -> Vec<u8> {
        compress(&self.build())
    }
}

/// A request as a body: protobuf, then snappy (block format).
pub fn compress(request: &WriteRequest) -> Vec<u8> {
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).expect("snappy compression of an in-memory buffer")
}

/// Why a body is not a remote-write request.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not snappy's block format.
    #[error("not snappy-compressed: {0}")]
    Snappy(#[from] snap::Error),
    /// Not a `WriteRequest`.
    #[error("not a remote-write WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// A body back into the request (receivers, tests).
pub fn decompress(body: &[u8]) -> Result<WriteRequest, DecodeError> {
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}
