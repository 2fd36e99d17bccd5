//! What OpenTelemetry SDKs send besides cumulative sums and explicit histograms: delta
//! temporality, exponential histograms, summaries, exemplars. Expected values follow
//! the Collector's `deltatocumulative` rules and Prometheus's `otlptranslator`.

use std::time::{Duration, Instant};

use lookout_event::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
use lookout_event::otlp::metrics::v1::summary_data_point::ValueAtQuantile;
use lookout_event::otlp::metrics::v1::{
    Exemplar as OtlpExemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, Sum, Summary, SummaryDataPoint, exemplar, metric::Data, number_data_point,
};

use super::{batch, find, kv};
use crate::otlp::*;

const BASE: &str = r#"instance="i-1", job="shop/api", otel_scope_name="app", otel_scope_version="1.0""#;
const S: u64 = 1_000_000_000;

fn delta_sum(points: &[(u64, u64, i64)]) -> Metric {
    Metric {
        name: "requests".into(),
        data: Some(Data::Sum(Sum {
            aggregation_temporality: 1,
            is_monotonic: true,
            data_points: points
                .iter()
                .map(|&(start, time, v)| NumberDataPoint {
                    start_time_unix_nano: start * S,
                    time_unix_nano: time * S,
                    value: Some(number_data_point::Value::AsInt(v)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    }
}

fn values(t: &Translation, name: &str) -> Vec<(i64, f64)> {
    t.points.iter().filter(|p| p.0.name() == Some(name)).map(|p| (p.1, p.2)).collect()
}

#[test]
fn delta_sums_accumulate_per_series_and_drop_what_deltatocumulative_drops() {
    let mut tr = Translator::default();
    let t = tr.translate(&batch(vec![delta_sum(&[(10, 11, 5), (11, 12, 3)])]));
    assert_eq!(values(&t, "requests_total"), [(11_000, 5.0), (12_000, 8.0)]);
    // The next batch continues the series; the same time again is out of order, a start
    // before the series' start is an older run; both dropped and reported.
    let t = tr.translate(&batch(vec![delta_sum(&[(11, 12, 1), (5, 13, 7), (12, 13, 2)])]));
    assert_eq!(values(&t, "requests_total"), [(13_000, 10.0)]);
    assert_eq!((t.dropped, t.refused_metrics), (2, 0));
    assert_eq!(t.refused.len(), 2, "{:?}", t.refused);
    assert!(t.refused[0].contains("1 delta point(s) dropped") && t.refused[0].contains("out of order"));
    assert!(t.refused[1].contains("older run"), "{:?}", t.refused);
    let stats = tr.delta_stats();
    assert_eq!((stats.streams, stats.dropped_out_of_order, stats.dropped_older_start), (1, 1, 1));
    // A producer restart (a later start, as a new process sends) keeps accumulating, as
    // the Collector does: the series stays monotonic.
    let t = tr.translate(&batch(vec![delta_sum(&[(100, 101, 4)])]));
    assert_eq!(values(&t, "requests_total"), [(101_000, 14.0)]);

    // One-shot translation: deltas accumulate within the batch only.
    let t = translate(&batch(vec![delta_sum(&[(1, 2, 1), (2, 3, 1)])]));
    assert_eq!(values(&t, "requests_total"), [(2000, 1.0), (3000, 2.0)]);
}

#[test]
fn delta_state_is_bounded_by_max_streams_and_max_stale() {
    let config = DeltaConfig { max_streams: 1, max_stale: Duration::from_secs(60), ..DeltaConfig::default() };
    let mut tr = Translator::new(Limits::default(), config);
    let mut other = delta_sum(&[(1, 2, 1)]);
    other.name = "errors".into();
    let now = Instant::now();
    let t = tr.translate_at(&batch(vec![delta_sum(&[(1, 2, 1)]), other.clone()]), now);
    assert_eq!(values(&t, "requests_total"), [(2000, 1.0)]);
    assert!(values(&t, "errors_total").is_empty());
    assert_eq!((t.dropped, tr.delta_stats().dropped_stream_limit), (1, 1));
    assert!(t.refused[0].contains("max_streams"), "{:?}", t.refused);
    // After max_stale without points the stream is forgotten, which frees its slot.
    let later = now + Duration::from_secs(61);
    if let Some(Data::Sum(s)) = &mut other.data {
        s.data_points[0].time_unix_nano = 70 * S;
    }
    let t = tr.translate_at(&batch(vec![other]), later);
    assert_eq!(values(&t, "errors_total"), [(70_000, 1.0)]);
    assert_eq!((tr.delta_stats().evicted, tr.delta_stats().streams), (1, 1));
}

fn delta_histogram(start: u64, time: u64, bounds: &[f64], counts: &[u64], sum: f64) -> Metric {
    Metric {
        name: "latency".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            aggregation_temporality: 1,
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start * S,
                time_unix_nano: time * S,
                count: counts.iter().sum(),
                sum: Some(sum),
                bucket_counts: counts.to_vec(),
                explicit_bounds: bounds.to_vec(),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

fn bucket(t: &Translation, name: &str, le: &str) -> f64 {
    let name = format!("{name}_bucket");
    let p = t.points.iter().find(|p| p.0.name() == Some(name.as_str()) && p.0.get("le") == Some(le));
    p.unwrap_or_else(|| panic!("no {name} le={le}")).2
}

#[test]
fn delta_histograms_add_buckets_and_restart_when_bounds_change() {
    let mut tr = Translator::default();
    tr.translate(&batch(vec![delta_histogram(0, 1, &[0.1, 1.0], &[1, 2, 0], 1.5)]));
    let t = tr.translate(&batch(vec![delta_histogram(1, 2, &[0.1, 1.0], &[0, 1, 3], 9.0)]));
    let name = "latency_seconds";
    assert_eq!(bucket(&t, name, "0.1"), 1.0);
    assert_eq!(bucket(&t, name, "1"), 4.0);
    assert_eq!(bucket(&t, name, "+Inf"), 7.0);
    assert_eq!(values(&t, "latency_seconds_sum"), [(2000, 10.5)]);
    assert_eq!(values(&t, "latency_seconds_count"), [(2000, 7.0)]);
    // New bounds cannot be added to the old: the series restarts from the point.
    let t = tr.translate(&batch(vec![delta_histogram(2, 3, &[0.5], &[2, 0], 0.4)]));
    assert_eq!(bucket(&t, name, "0.5"), 2.0);
    assert_eq!(values(&t, "latency_seconds_count"), [(3000, 2.0)]);
}

fn expo(temporality: i32, p: ExponentialHistogramDataPoint) -> Metric {
    Metric {
        name: "size".into(),
        unit: "By".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            aggregation_temporality: temporality,
            data_points: vec![p],
        })),
        ..Default::default()
    }
}

fn buckets(offset: i32, counts: &[u64]) -> Option<Buckets> {
    Some(Buckets { offset, bucket_counts: counts.to_vec() })
}

fn les(t: &Translation) -> Vec<(String, f64)> {
    t.points
        .iter()
        .filter(|p| p.0.name() == Some("size_bytes_bucket"))
        .map(|p| (p.0.get("le").unwrap().to_string(), p.2))
        .collect()
}

#[test]
fn exponential_histograms_become_classic_buckets() {
    // Scale 0 (base 2): negative bucket 0 = [-2, -1), zero bucket, positive buckets
    // 0 = (1, 2] and 1 = (2, 4].
    let p = ExponentialHistogramDataPoint {
        time_unix_nano: 5 * S,
        count: 5,
        sum: Some(6.5),
        scale: 0,
        zero_count: 1,
        positive: buckets(0, &[1, 2]),
        negative: buckets(0, &[1]),
        ..Default::default()
    };
    let t = translate(&batch(vec![expo(2, p)]));
    assert_eq!(
        les(&t),
        [("-1".into(), 1.0), ("0".into(), 2.0), ("2".into(), 3.0), ("4".into(), 5.0), ("+Inf".into(), 5.0)]
    );
    assert_eq!(values(&t, "size_bytes_sum"), [(5000, 6.5)]);
    assert_eq!(values(&t, "size_bytes_count"), [(5000, 5.0)]);
    assert_eq!(t.metadata[0].metric_type, MetricType::Histogram);

    // Scale 3 is lowered to the default max scale 1 (base √2): indexes 8..=15 at scale
    // 3 are (2, 4]; at scale 1 they are buckets 2 = (2, 2^1.5] and 3 = (2^1.5, 4].
    let p = ExponentialHistogramDataPoint {
        time_unix_nano: 5 * S,
        count: 8,
        scale: 3,
        positive: buckets(8, &[1; 8]),
        zero_threshold: 0.0,
        ..Default::default()
    };
    let t = translate(&batch(vec![expo(2, p.clone())]));
    assert_eq!(les(&t), [("2.8284271247461903".into(), 4.0), ("4".into(), 8.0), ("+Inf".into(), 8.0)]);

    // Past exponential_max_buckets the scale is lowered further: one bucket (2, 4] at
    // scale 0... then (1, 4] at scale -1.
    let limits = Limits { exponential_max_buckets: 1, ..Limits::default() };
    let t = translate_with(&batch(vec![expo(2, p)]), &limits);
    assert_eq!(les(&t), [("4".into(), 8.0), ("+Inf".into(), 8.0)]);

    // A zero threshold is the zero bucket's `le`; a point with too many buckets is
    // refused by bucket_limit.
    let p = ExponentialHistogramDataPoint {
        count: 3,
        scale: 0,
        zero_count: 2,
        zero_threshold: 0.001,
        positive: buckets(-1, &[1]),
        ..Default::default()
    };
    let t = translate(&batch(vec![expo(2, p)]));
    assert_eq!(les(&t), [("0.001".into(), 2.0), ("1".into(), 3.0), ("+Inf".into(), 3.0)]);
    let huge = ExponentialHistogramDataPoint { positive: buckets(0, &[1; 2000]), ..Default::default() };
    let t = translate(&batch(vec![expo(2, huge)]));
    assert!(t.refused[0].contains("bucket_limit"), "{:?}", t.refused);
}

#[test]
fn delta_exponential_histograms_merge_at_the_smaller_scale() {
    let mut tr = Translator::default();
    let first = ExponentialHistogramDataPoint {
        start_time_unix_nano: 0,
        time_unix_nano: S,
        count: 2,
        sum: Some(5.0),
        scale: 1,
        positive: buckets(2, &[1, 1]), // (2, 2.83], (2.83, 4]
        ..Default::default()
    };
    let second = ExponentialHistogramDataPoint {
        start_time_unix_nano: S,
        time_unix_nano: 2 * S,
        count: 3,
        sum: Some(9.0),
        scale: 0,
        zero_count: 1,
        positive: buckets(1, &[1, 1]), // (2, 4], (4, 8]
        ..Default::default()
    };
    tr.translate(&batch(vec![expo(1, first)]));
    let t = tr.translate(&batch(vec![expo(1, second)]));
    // Merged at scale 0: zero 1, (2, 4] 3, (4, 8] 1.
    assert_eq!(les(&t), [("0".into(), 1.0), ("4".into(), 4.0), ("8".into(), 5.0), ("+Inf".into(), 5.0)]);
    assert_eq!(values(&t, "size_bytes_sum"), [(2000, 14.0)]);
}

#[test]
fn summaries_become_quantile_series_sum_and_count() {
    let m = Metric {
        name: "rpc.latency".into(),
        unit: "ms".into(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: 5 * S,
                count: 10,
                sum: 120.0,
                quantile_values: vec![
                    ValueAtQuantile { quantile: 0.5, value: 9.0 },
                    ValueAtQuantile { quantile: 0.99, value: 30.0 },
                ],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let t = translate(&batch(vec![m]));
    let name = "rpc_latency_milliseconds";
    let q = |q: &str| find(&t, &format!(r#"{name}{{{BASE}, quantile="{q}"}}"#)).2;
    assert_eq!((q("0.5"), q("0.99")), (9.0, 30.0));
    assert_eq!(values(&t, "rpc_latency_milliseconds_sum"), [(5000, 120.0)]);
    assert_eq!(values(&t, "rpc_latency_milliseconds_count"), [(5000, 10.0)]);
    assert_eq!(t.metadata[0].metric_type, MetricType::Summary);
}

fn otlp_exemplar(v: f64, attrs: Vec<lookout_event::otlp::common::v1::KeyValue>) -> OtlpExemplar {
    OtlpExemplar {
        filtered_attributes: attrs,
        time_unix_nano: 4 * S + 500_000_000,
        value: Some(exemplar::Value::AsDouble(v)),
        span_id: vec![0xab; 8],
        trace_id: vec![0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 1],
    }
}

#[test]
fn exemplars_are_kept_on_the_series_prometheus_puts_them_on() {
    let mut sum = delta_sum(&[(0, 5, 3)]);
    if let Some(Data::Sum(s)) = &mut sum.data {
        s.aggregation_temporality = 2;
        s.data_points[0].exemplars = vec![otlp_exemplar(1.0, vec![kv("user.id", "42")])];
    }
    let mut hist = delta_histogram(0, 5, &[0.1, 1.0], &[1, 1, 1], 3.0);
    if let Some(Data::Histogram(h)) = &mut hist.data {
        h.aggregation_temporality = 2;
        h.data_points[0].exemplars =
            vec![otlp_exemplar(0.5, vec![]), otlp_exemplar(7.0, vec![kv("long", &"x".repeat(200))])];
    }
    let t = translate(&batch(vec![sum, hist]));
    assert_eq!(t.exemplars.len(), 3, "{:?}", t.exemplars);
    let on = |e: &Exemplar| t.points[e.point].0.to_string();
    let e = &t.exemplars[0];
    assert_eq!(on(e), format!("requests_total{{{BASE}}}"));
    assert_eq!(
        e.labels,
        [
            ("trace_id".to_string(), "0123456789abcdef0000000000000001".to_string()),
            ("span_id".to_string(), "abababababababab".to_string()),
            ("user_id".to_string(), "42".to_string()),
        ]
    );
    assert_eq!((e.t, e.v), (4500, 1.0));
    // 0.5 goes to the first bucket that holds it (le="1"); 7 to +Inf, its 200-rune
    // attribute left out (past Prometheus's 128-rune limit), the ids kept.
    assert_eq!(t.points[t.exemplars[1].point].0.get("le"), Some("1"));
    assert_eq!(t.points[t.exemplars[2].point].0.get("le"), Some("+Inf"));
    assert_eq!(t.exemplars[2].labels.len(), 2);
}

#[test]
fn exponential_bucket_arithmetic() {
    use crate::otlp::exponential::{Dense, ExpState, boundary};
    // Downscaling floors negative indexes too: -3 >> 1 = -2, -1 >> 1 = -1.
    let mut d = Dense { offset: -3, counts: vec![1, 2, 3, 4] }; // -3..=0
    d.downscale(1);
    assert_eq!(d, Dense { offset: -2, counts: vec![1, 5, 4] });
    let mut far = Dense { offset: 100, counts: vec![7] };
    far.merge(&Dense { offset: 98, counts: vec![1] });
    assert_eq!(far, Dense { offset: 98, counts: vec![1, 0, 7] });
    assert_eq!((boundary(0, 3), boundary(1, 1), boundary(-1, 1)), (8.0, std::f64::consts::SQRT_2, 4.0));

    // Different zero thresholds: the buckets under the larger one move into the zero
    // bucket, whose threshold becomes a bucket boundary (the Collector's WidenZero).
    let mut state = ExpState::from_point(&ExponentialHistogramDataPoint {
        count: 4,
        scale: 0,
        zero_count: 1,
        zero_threshold: 0.0,
        positive: buckets(-2, &[1, 1, 1]), // (0.25, 0.5], (0.5, 1], (1, 2]
        ..Default::default()
    });
    state.add(
        &ExponentialHistogramDataPoint { count: 2, scale: 0, zero_count: 2, zero_threshold: 0.6, ..Default::default() },
        160,
    );
    // 0.6 lies in bucket -1 = (0.5, 1]: buckets -2 and -1 join the zero bucket.
    assert_eq!((state.zero_threshold, state.zero_count, state.count), (1.0, 5, 6));
    assert_eq!(state.positive, Dense { offset: 0, counts: vec![1] });

    // Merging far-apart buckets lowers the scale until 160 buckets per sign hold both.
    let mut state = ExpState::from_point(&ExponentialHistogramDataPoint {
        count: 1,
        scale: 4,
        positive: buckets(0, &[1]),
        ..Default::default()
    });
    state.add(
        &ExponentialHistogramDataPoint { count: 1, scale: 4, positive: buckets(1000, &[1]), ..Default::default() },
        160,
    );
    assert_eq!(state.scale, 1, "1000 buckets apart at scale 4 is 125 at scale 1");
    assert_eq!(state.positive.counts.iter().sum::<u64>(), 2);
    assert!(state.positive.counts.len() <= 160);
}
