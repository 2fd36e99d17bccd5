use super::*;
use crate::vector::proto::{
    AggregatedHistogram3, Counter, EventWrapper, HistogramBucket3, Log, PushEventsRequest, TagValue, TagValues,
    Timestamp, Trace, Value, ValueArray, ValueMap,
};

const NOW: u64 = 1_700_000_000_000_000_000;

fn bytes(s: &str) -> Value {
    Value { kind: Some(Kind::RawBytes(s.as_bytes().to_vec())) }
}

fn log(fields: Vec<(&str, Value)>) -> EventWrapper {
    let map = ValueMap { fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
    EventWrapper {
        event: Some(Event::Log(Log { value: Some(Value { kind: Some(Kind::Map(map)) }), ..Default::default() })),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()?.value.as_ref())
}

fn str_of(v: Option<&any_value::Value>) -> &str {
    match v {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn log_fields_map_to_body_time_resource_and_nested_attributes() {
    let nested = ValueMap { fields: [("id".to_string(), Value { kind: Some(Kind::Integer(7)) })].into() };
    let request = PushEventsRequest {
        events: vec![log(vec![
            ("message", bytes("disk full")),
            ("timestamp", Value { kind: Some(Kind::Timestamp(Timestamp { seconds: 1_714_979_290, nanos: 5 })) }),
            ("host", bytes("web-1")),
            ("service", bytes("checkout")),
            ("source_type", bytes("file")),
            ("level", bytes("error")),
            ("user", Value { kind: Some(Kind::Map(nested)) }),
            ("tags", Value { kind: Some(Kind::Array(ValueArray { items: vec![bytes("a"), bytes("b")] })) }),
            ("ratio", Value { kind: Some(Kind::Float(0.5)) }),
            ("ok", Value { kind: Some(Kind::Boolean(false)) }),
            ("gone", Value { kind: Some(Kind::Null(0)) }),
        ])],
    };
    let mapped = map(request, NOW).unwrap();
    assert!(mapped.metrics.is_none());
    let logs = mapped.logs.unwrap();
    let resource = logs.resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(str_of(attr(&resource.attributes, "service.name")), "checkout");
    assert_eq!(str_of(attr(&resource.attributes, "host.name")), "web-1");
    let r = &logs.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(r.time_unix_nano, 1_714_979_290_000_000_005);
    assert_eq!(r.observed_time_unix_nano, NOW);
    assert_eq!(str_of(r.body.as_ref().unwrap().value.as_ref()), "disk full");
    assert_eq!((r.severity_text.as_str(), r.severity_number), ("error", 17));
    let keys: Vec<&str> = r.attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["ok", "ratio", "source_type", "tags", "user"], "sorted, null left out");
    assert_eq!(str_of(attr(&r.attributes, "source_type")), "file");
    match attr(&r.attributes, "user") {
        Some(any_value::Value::KvlistValue(kv)) => {
            assert_eq!(kv.values[0].key, "id");
            assert_eq!(kv.values[0].value.as_ref().unwrap().value, Some(any_value::Value::IntValue(7)));
        }
        other => panic!("user not kept nested: {other:?}"),
    }
}

#[test]
fn old_fields_map_string_timestamps_and_missing_time() {
    let old = EventWrapper {
        event: Some(Event::Log(Log {
            fields: [
                ("message".to_string(), bytes("legacy")),
                ("timestamp".to_string(), bytes("2024-05-06T07:08:09Z")),
            ]
            .into(),
            value: None,
        })),
    };
    let bare = log(vec![("message", bytes("no time")), ("host", Value { kind: Some(Kind::Integer(1)) })]);
    let mapped = map(PushEventsRequest { events: vec![old, bare] }, NOW).unwrap();
    let logs = mapped.logs.unwrap();
    assert_eq!(logs.resource_logs.len(), 1, "neither names a service or host");
    let records = &logs.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records[0].time_unix_nano, 1_714_979_289_000_000_000);
    assert_eq!(records[1].time_unix_nano, NOW);
    assert!(attr(&records[1].attributes, "host").is_some(), "a non-text host stays an attribute");
}

#[test]
fn counters_gauges_histograms_and_tags() {
    let tagged = |k: &str, v: Option<&str>| {
        (k.to_string(), TagValues { values: vec![TagValue { value: v.map(str::to_string) }] })
    };
    let counter = proto::Metric {
        name: "requests_total".into(),
        namespace: "app".into(),
        kind: MetricKind::Absolute as i32,
        tags_v2: [tagged("route", Some("/a")), tagged("canary", None)].into(),
        timestamp: Some(Timestamp { seconds: 100, nanos: 0 }),
        value: Some(MetricValue::Counter(Counter { value: 5.0 })),
        ..Default::default()
    };
    let delta = proto::Metric {
        name: "hits".into(),
        kind: MetricKind::Incremental as i32,
        interval_ms: 10_000,
        tags_v1: [("a".to_string(), "b".to_string())].into(),
        timestamp: Some(Timestamp { seconds: 100, nanos: 0 }),
        value: Some(MetricValue::Counter(Counter { value: 2.0 })),
        ..Default::default()
    };
    let gauge = proto::Metric {
        name: "temp".into(),
        kind: MetricKind::Absolute as i32,
        value: Some(MetricValue::Gauge(proto::Gauge { value: -3.5 })),
        ..Default::default()
    };
    let histogram = proto::Metric {
        name: "latency".into(),
        kind: MetricKind::Absolute as i32,
        value: Some(MetricValue::AggregatedHistogram3(AggregatedHistogram3 {
            buckets: vec![
                HistogramBucket3 { upper_limit: 0.1, count: 3 },
                HistogramBucket3 { upper_limit: 1.0, count: 2 },
                HistogramBucket3 { upper_limit: f64::INFINITY, count: 1 },
            ],
            count: 6,
            sum: 4.2,
        })),
        ..Default::default()
    };
    let set = proto::Metric { name: "users".into(), value: Some(MetricValue::Set(vec![])), ..Default::default() };
    let events = [counter, delta, gauge, histogram, set]
        .into_iter()
        .map(|m| EventWrapper { event: Some(Event::Metric(m)) })
        .collect();
    let mapped = map(PushEventsRequest { events }, NOW).unwrap();
    assert!(mapped.logs.is_none());
    assert_eq!(mapped.unsupported_metrics, 1, "the set");
    let metrics = &mapped.metrics.unwrap().resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 4);

    assert_eq!(metrics[0].name, "app_requests_total");
    let Some(metric::Data::Sum(sum)) = &metrics[0].data else { panic!("{:?}", metrics[0]) };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, AggregationTemporality::Cumulative as i32);
    let p = &sum.data_points[0];
    assert_eq!(p.time_unix_nano, 100_000_000_000);
    assert_eq!(p.value, Some(number_data_point::Value::AsDouble(5.0)));
    assert_eq!(str_of(attr(&p.attributes, "canary")), "");
    assert_eq!(str_of(attr(&p.attributes, "route")), "/a");

    let Some(metric::Data::Sum(sum)) = &metrics[1].data else { panic!("{:?}", metrics[1]) };
    assert_eq!(sum.aggregation_temporality, AggregationTemporality::Delta as i32);
    assert_eq!(sum.data_points[0].start_time_unix_nano, 90_000_000_000);
    assert_eq!(str_of(attr(&sum.data_points[0].attributes, "a")), "b");

    let Some(metric::Data::Gauge(g)) = &metrics[2].data else { panic!("{:?}", metrics[2]) };
    assert_eq!(g.data_points[0].value, Some(number_data_point::Value::AsDouble(-3.5)));
    assert_eq!(g.data_points[0].time_unix_nano, NOW, "no timestamp: now");

    let Some(metric::Data::Histogram(h)) = &metrics[3].data else { panic!("{:?}", metrics[3]) };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, [0.1, 1.0]);
    assert_eq!(p.bucket_counts, [3, 2, 1], "the +Inf bucket is the overflow");
    assert_eq!((p.count, p.sum), (6, Some(4.2)));
}

#[test]
fn traces_and_empty_events_refuse_the_request() {
    let trace = EventWrapper { event: Some(Event::Trace(Trace::default())) };
    let err = map(PushEventsRequest { events: vec![log(vec![]), trace] }, NOW).unwrap_err();
    assert!(err.contains("event 1 is a trace"), "{err}");
    let err = map(PushEventsRequest { events: vec![EventWrapper { event: None }] }, NOW).unwrap_err();
    assert!(err.contains("event 0 carries no"), "{err}");
}

#[test]
fn the_wire_format_round_trips_through_prost() {
    use prost::Message;
    let request = PushEventsRequest { events: vec![log(vec![("message", bytes("over the wire"))])] };
    let decoded = PushEventsRequest::decode(request.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, request);
    assert!(PushEventsRequest::decode(&b"\x0a\xff\xff"[..]).is_err(), "truncated bytes do not decode");
}
