//! Prometheus-compatible remote stores, for when one process's embedded store is not
//! enough: rules can evaluate against a Prometheus / VictoriaMetrics / Mimir query API
//! ([`QueryClient`]), and derived series and recording-rule output can be pushed there
//! with the remote-write protocol ([`RemoteWriter`]).
//!
//! Both speak the published wire formats: `GET /api/v1/query` with `query` and `time`
//! (RFC 3339 or Unix seconds) answering `{"status":"success","data":{"resultType",
//! "result"}}`; remote write 1.0: a snappy-compressed (block format) protobuf
//! `prometheus.WriteRequest` POSTed with `Content-Encoding: snappy`,
//! `Content-Type: application/x-protobuf` and `X-Prometheus-Remote-Write-Version: 0.1.0`.

mod encode;
mod query;
mod write;

pub use encode::{DecodeError, HEADERS, USER_AGENT, WriteRequestBuilder, compress, decompress};
pub use query::{QueryClient, QueryClientConfig};
pub use write::{RemoteWriter, RemoteWriterConfig, RemoteWriterStats};

/// Remote-write 1.0 messages (`prompb/remote.proto`, `prompb/types.proto`), only the
/// fields remote write 1.0 sends (native histograms left out: Lookout sends classic
/// buckets).
pub mod prompb {
    /// A batch of series.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// Metric family metadata.
        #[prost(message, repeated, tag = "3")]
        pub metadata: Vec<MetricMetadata>,
    }

    /// `MetricMetadata.MetricType`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
    #[repr(i32)]
    pub enum MetricType {
        /// Unknown.
        Unknown = 0,
        /// Counter.
        Counter = 1,
        /// Gauge.
        Gauge = 2,
        /// Histogram.
        Histogram = 3,
        /// Gauge histogram.
        Gaugehistogram = 4,
        /// Summary.
        Summary = 5,
        /// Info.
        Info = 6,
        /// State set.
        Stateset = 7,
    }

    /// What a metric family is.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricMetadata {
        /// [`MetricType`].
        #[prost(enumeration = "MetricType", tag = "1")]
        pub r#type: i32,
        /// The family name.
        #[prost(string, tag = "2")]
        pub metric_family_name: String,
        /// Help text.
        #[prost(string, tag = "4")]
        pub help: String,
        /// Unit.
        #[prost(string, tag = "5")]
        pub unit: String,
    }

    /// An exemplar: a sample of a trace, on its series.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        /// `trace_id`, `span_id`, ...
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Value.
        #[prost(double, tag = "2")]
        pub value: f64,
        /// Unix milliseconds.
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }

    /// One series and its samples.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Labels, sorted by name, `__name__` included.
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        /// Samples, oldest first.
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// Exemplars, oldest first.
        #[prost(message, repeated, tag = "3")]
        pub exemplars: Vec<Exemplar>,
    }

    /// A label pair.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        /// Name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// Value.
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// A sample.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Value.
        #[prost(double, tag = "1")]
        pub value: f64,
        /// Unix milliseconds.
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

#[cfg(test)]
mod tests;
