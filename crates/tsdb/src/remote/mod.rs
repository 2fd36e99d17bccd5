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

mod query;
mod write;

pub use query::{QueryClient, QueryClientConfig};
pub use write::{RemoteWriter, RemoteWriterConfig, RemoteWriterStats};

/// Remote-write 1.0 messages (`prompb/remote.proto`, `prompb/types.proto`), only the
/// fields remote write 1.0 sends.
pub mod prompb {
    /// A batch of series.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        /// The series.
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
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
