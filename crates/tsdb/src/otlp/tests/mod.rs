use lookout_event::Batch;
use lookout_event::otlp::common::v1::{InstrumentationScope, KeyValue};
use lookout_event::otlp::metrics::v1::{
    ExponentialHistogram, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric::Data, number_data_point,
};
use lookout_event::otlp::resource::v1::Resource;

use super::*;

mod sdk;

#[test]
fn names_follow_prometheus_otlp_conventions() {
    assert_eq!(metric_name("http.server.request.duration", "s", false, false), "http_server_request_duration_seconds");
    assert_eq!(metric_name("http.server.active_requests", "{request}", false, true), "http_server_active_requests");
    assert_eq!(metric_name("system.cpu.utilization", "1", false, true), "system_cpu_utilization_ratio");
    assert_eq!(metric_name("requests", "1", true, false), "requests_total");
    assert_eq!(metric_name("jvm.memory.used", "By", false, true), "jvm_memory_used_bytes");
    assert_eq!(metric_name("throughput", "By/s", false, true), "throughput_bytes_per_second");
    assert_eq!(metric_name("db.errors.total", "", true, false), "db_errors_total");
    assert_eq!(metric_name("latency_seconds", "s", false, false), "latency_seconds", "suffix not doubled");
    assert_eq!(metric_name("2xx", "", false, true), "_2xx");
    assert_eq!(metric_name("queue.size", "{job}", false, true), "queue_size");
    assert_eq!(names::prometheus_unit("By/s"), "bytes_per_second");
    assert_eq!(names::prometheus_unit("{request}"), "");
    assert_eq!(names::prometheus_unit("1"), "");
    assert_eq!(label_name("http.route"), "http_route");
    assert_eq!(label_name("0abc"), "key_0abc");
    assert_eq!(label_name("_x"), "key_x");
    assert_eq!(label_name("__x"), "__x");
}

pub(super) fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue { key: k.into(), value: Some(lookout_event::any_string(v)), ..Default::default() }
}

pub(super) fn batch(metrics: Vec<Metric>) -> Batch {
    Batch::metrics(vec![ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", "api"),
                kv("service.namespace", "shop"),
                kv("service.instance.id", "i-1"),
                kv("host.name", "h1"),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope { name: "app".into(), version: "1.0".into(), ..Default::default() }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

pub(super) fn find<'a>(t: &'a Translation, text: &str) -> &'a Point {
    t.points
        .iter()
        .find(|p| p.0.to_string() == text)
        .unwrap_or_else(|| panic!("no {text} in {:#?}", t.points.iter().map(|p| p.0.to_string()).collect::<Vec<_>>()))
}

#[test]
fn histograms_counters_resource_and_refusals() {
    let hist = Metric {
        name: "http.server.request.duration".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: 2,
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("http.route", "/pay")],
                time_unix_nano: 5_000_000_000,
                count: 6,
                sum: Some(2.5),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let counter = Metric {
        name: "orders".into(),
        unit: "{order}".into(),
        data: Some(Data::Sum(Sum {
            aggregation_temporality: 2,
            is_monotonic: true,
            data_points: vec![NumberDataPoint {
                time_unix_nano: 6_000_000_000,
                value: Some(number_data_point::Value::AsInt(7)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let delta = Metric {
        name: "d".into(),
        data: Some(Data::Sum(Sum { aggregation_temporality: 1, ..Default::default() })),
        ..Default::default()
    };
    let expo = Metric {
        name: "e".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram::default())),
        ..Default::default()
    };
    let t = translate(&batch(vec![hist, counter, delta, expo]));
    let base = r#"instance="i-1", job="shop/api", otel_scope_name="app", otel_scope_version="1.0""#;
    // Labels print sorted: http_route < instance < job < le < otel_*.
    let b = |le: &str| {
        format!(
            r#"http_server_request_duration_seconds_bucket{{http_route="/pay", instance="i-1", job="shop/api", le="{le}", otel_scope_name="app", otel_scope_version="1.0"}}"#
        )
    };
    assert_eq!(find(&t, &b("0.1")).2, 1.0);
    assert_eq!(find(&t, &b("1")).2, 3.0);
    let inf = find(&t, &b("+Inf"));
    assert_eq!((inf.1, inf.2), (5000, 6.0));
    assert_eq!(find(&t, &format!(r#"http_server_request_duration_seconds_sum{{http_route="/pay", {base}}}"#)).2, 2.5);
    assert_eq!(find(&t, &format!(r#"http_server_request_duration_seconds_count{{http_route="/pay", {base}}}"#)).2, 6.0);
    assert_eq!(find(&t, &format!("orders_total{{{base}}}")).2, 7.0);
    let info = find(&t, r#"target_info{host_name="h1", instance="i-1", job="shop/api"}"#);
    assert_eq!((info.1, info.2), (6000, 1.0), "target_info at the newest point's time");
    // A delta sum and an exponential histogram without points give nothing, and are
    // not refused any more.
    assert!(t.refused.is_empty(), "{:?}", t.refused);
    assert_eq!(t.metadata.len(), 2, "{:?}", t.metadata);
    assert_eq!(t.metadata[0].family, "http_server_request_duration_seconds");
    assert_eq!((t.metadata[0].metric_type, t.metadata[0].unit.as_str()), (MetricType::Histogram, "seconds"));
    assert_eq!((t.metadata[1].family.as_str(), t.metadata[1].metric_type), ("orders_total", MetricType::Counter));
}

fn gauge(name: &str, attributes: Vec<KeyValue>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Gauge(lookout_event::otlp::metrics::v1::Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: 5_000_000_000,
                attributes,
                value: Some(number_data_point::Value::AsDouble(1.0)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

#[test]
fn limits_refuse_what_would_blow_up_before_building_labels() {
    // 80,000 attributes: refused by label_limit before any label is built (this once
    // took seconds of CPU; a quadratic path would make this test hang).
    let many: Vec<KeyValue> = (0..80_000).map(|i| kv(&format!("a{i}"), "v")).collect();
    let long_value = vec![kv("q", &"x".repeat(5000))];
    let long_name = vec![kv(&"n".repeat(300), "v")];
    let hist = Metric {
        name: "h".into(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: 2,
            data_points: vec![HistogramDataPoint {
                bucket_counts: vec![1; 20_000],
                explicit_bounds: (0..19_999).map(f64::from).collect(),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let t = translate(&batch(vec![
        gauge("wide", many),
        gauge("long_value", long_value),
        gauge("long_name", long_name),
        hist,
        gauge("ok", vec![kv("a", "b")]),
    ]));
    assert_eq!((t.refused.len(), t.refused_metrics), (4, 4), "{:?}", t.refused);
    assert!(t.refused[0].contains("label_limit 64"), "{:?}", t.refused);
    assert!(t.refused[1].contains("label_value_length_limit"), "{:?}", t.refused);
    assert!(t.refused[2].contains("label_name_length_limit"), "{:?}", t.refused);
    assert!(t.refused[3].contains("bucket_limit 1024"), "{:?}", t.refused);
    assert!(t.points.iter().any(|p| p.0.name() == Some("ok")));

    // sample_limit: the rest of the batch is refused.
    let limits = Limits { sample_limit: 2, ..Limits::default() };
    let t = translate_with(&batch(vec![gauge("a", vec![]), gauge("b", vec![]), gauge("c", vec![])]), &limits);
    assert_eq!(t.points.iter().filter(|p| p.0.name() != Some("target_info")).count(), 2);
    assert!(t.refused[0].contains("sample_limit 2"), "{:?}", t.refused);
}

#[test]
fn labels_dedup_keeps_the_later_value_in_n_log_n() {
    let l = crate::Labels::new(vec![("b".into(), "1".into()), ("a".into(), "x".into()), ("b".into(), "2".into())]);
    assert_eq!(l.pairs(), &[("a".to_string(), "x".to_string()), ("b".to_string(), "2".to_string())]);
    let l = crate::Labels::new(vec![("b".into(), "1".into()), ("b".into(), String::new())]);
    assert!(l.pairs().is_empty(), "a later empty value removes the label");
    let many: Vec<(String, String)> = (0..200_000).map(|i| (format!("k{}", i % 100_000), i.to_string())).collect();
    assert_eq!(crate::Labels::new(many).pairs().len(), 100_000);
}

#[test]
fn the_resource_tenant_labels_every_series_and_cannot_be_replaced() {
    let mut b = batch(vec![Metric {
        name: "orders".into(),
        data: Some(Data::Sum(Sum {
            aggregation_temporality: 2,
            is_monotonic: true,
            data_points: vec![NumberDataPoint {
                attributes: vec![kv("tenant", "other")],
                time_unix_nano: 5_000_000_000,
                value: Some(number_data_point::Value::AsInt(3)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }]);
    let lookout_event::Payload::Metrics(r) = &mut b.payload else { unreachable!() };
    r[0].resource.as_mut().unwrap().attributes.push(kv("tenant", "shop"));
    let t = translate(&b);
    assert!(t.points.iter().all(|p| p.0.get("tenant") == Some("shop")), "{:?}", t.points);
}
