//! Vector's native (v2) wire messages, written for Lookout: the `vector.Vector`
//! service's requests and the `event.*` messages they carry, with the names, field
//! numbers and types Vector's `vector` sink sends. Only what the source maps is
//! decoded; unknown fields (sketches, metadata) are skipped by protobuf itself.
//!
//! Self-contained (prost only), so the e2e suite's client includes this same file.
#![allow(missing_docs)]

use std::collections::HashMap;

/// `vector.PushEventsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushEventsRequest {
    #[prost(message, repeated, tag = "1")]
    pub events: Vec<EventWrapper>,
}

/// `vector.PushEventsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushEventsResponse {}

/// `vector.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ServingStatus {
    Serving = 0,
    NotServing = 1,
}

/// `vector.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckRequest {}

/// `vector.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HealthCheckResponse {
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub status: i32,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `event.EventWrapper`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EventWrapper {
    #[prost(oneof = "Event", tags = "1, 2, 3")]
    pub event: Option<Event>,
}

/// `event.EventWrapper.event`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Event {
    #[prost(message, tag = "1")]
    Log(Log),
    #[prost(message, tag = "2")]
    Metric(Metric),
    #[prost(message, tag = "3")]
    Trace(Trace),
}

/// `event.Log`: current Vector sends `value` (a map); older versions `fields`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Log {
    #[prost(map = "string, message", tag = "1")]
    pub fields: HashMap<String, Value>,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Value>,
}

/// `event.Trace`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Trace {
    #[prost(map = "string, message", tag = "1")]
    pub fields: HashMap<String, Value>,
}

/// `event.ValueMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueMap {
    #[prost(map = "string, message", tag = "1")]
    pub fields: HashMap<String, Value>,
}

/// `event.ValueArray`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueArray {
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<Value>,
}

/// `event.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Value {
    #[prost(oneof = "Kind", tags = "1, 2, 4, 5, 6, 7, 8, 9")]
    pub kind: Option<Kind>,
}

/// `event.Value.kind`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(bytes = "vec", tag = "1")]
    RawBytes(Vec<u8>),
    #[prost(message, tag = "2")]
    Timestamp(Timestamp),
    #[prost(int64, tag = "4")]
    Integer(i64),
    #[prost(double, tag = "5")]
    Float(f64),
    #[prost(bool, tag = "6")]
    Boolean(bool),
    #[prost(message, tag = "7")]
    Map(ValueMap),
    #[prost(message, tag = "8")]
    Array(ValueArray),
    /// `event.ValueNull` (always `NULL_VALUE = 0`).
    #[prost(int32, tag = "9")]
    Null(i32),
}

/// `event.Metric.Kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricKind {
    Incremental = 0,
    Absolute = 1,
}

/// `event.Metric`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub timestamp: Option<Timestamp>,
    #[prost(map = "string, string", tag = "3")]
    pub tags_v1: HashMap<String, String>,
    #[prost(map = "string, message", tag = "20")]
    pub tags_v2: HashMap<String, TagValues>,
    #[prost(enumeration = "MetricKind", tag = "4")]
    pub kind: i32,
    #[prost(oneof = "MetricValue", tags = "5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17")]
    pub value: Option<MetricValue>,
    #[prost(string, tag = "11")]
    pub namespace: String,
    #[prost(uint32, tag = "18")]
    pub interval_ms: u32,
}

/// `event.Metric.value`; the kinds Lookout does not map are kept as raw bytes so a
/// request carrying them still decodes (and they are reported as rejected).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricValue {
    #[prost(message, tag = "5")]
    Counter(Counter),
    #[prost(message, tag = "6")]
    Gauge(Gauge),
    #[prost(bytes = "vec", tag = "7")]
    Set(Vec<u8>),
    #[prost(bytes = "vec", tag = "8")]
    Distribution1(Vec<u8>),
    #[prost(bytes = "vec", tag = "9")]
    AggregatedHistogram1(Vec<u8>),
    #[prost(bytes = "vec", tag = "10")]
    AggregatedSummary1(Vec<u8>),
    #[prost(bytes = "vec", tag = "12")]
    Distribution2(Vec<u8>),
    #[prost(message, tag = "13")]
    AggregatedHistogram2(AggregatedHistogram2),
    #[prost(bytes = "vec", tag = "14")]
    AggregatedSummary2(Vec<u8>),
    #[prost(bytes = "vec", tag = "15")]
    Sketch(Vec<u8>),
    #[prost(message, tag = "16")]
    AggregatedHistogram3(AggregatedHistogram3),
    #[prost(bytes = "vec", tag = "17")]
    AggregatedSummary3(Vec<u8>),
}

/// `event.TagValues`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TagValues {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<TagValue>,
}

/// `event.TagValue`: no value is a bare tag.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TagValue {
    #[prost(string, optional, tag = "1")]
    pub value: Option<String>,
}

/// `event.Counter`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Counter {
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// `event.Gauge`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Gauge {
    #[prost(double, tag = "1")]
    pub value: f64,
}

/// `event.AggregatedHistogram2`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AggregatedHistogram2 {
    #[prost(message, repeated, tag = "1")]
    pub buckets: Vec<HistogramBucket>,
    #[prost(uint32, tag = "2")]
    pub count: u32,
    #[prost(double, tag = "3")]
    pub sum: f64,
}

/// `event.HistogramBucket`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct HistogramBucket {
    #[prost(double, tag = "1")]
    pub upper_limit: f64,
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// `event.AggregatedHistogram3`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AggregatedHistogram3 {
    #[prost(message, repeated, tag = "1")]
    pub buckets: Vec<HistogramBucket3>,
    #[prost(uint64, tag = "2")]
    pub count: u64,
    #[prost(double, tag = "3")]
    pub sum: f64,
}

/// `event.HistogramBucket3`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct HistogramBucket3 {
    #[prost(double, tag = "1")]
    pub upper_limit: f64,
    #[prost(uint64, tag = "2")]
    pub count: u64,
}
