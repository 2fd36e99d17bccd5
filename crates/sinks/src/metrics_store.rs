//! The `metrics_store` sink: metric points into Lookout's embedded series store, as
//! Prometheus series (see `lookout_tsdb::otlp` for the naming rules), where rules and
//! the scaler read them.
//!
//! ```yaml
//! sinks:
//!   metrics:
//!     type: metrics_store
//!     inputs: [enrich]
//! ```
//!
//! Log records and spans are ignored (derive series from them with `log_to_metric` /
//! `span_metrics` first). Delta temporality is made cumulative by one
//! `lookout_tsdb::otlp::Translator` kept for the sink's life. Metrics the store cannot
//! take — series past the limit, out-of-order samples — are counted as failed and
//! logged once per distinct reason. Retention is the store's own job
//! (`lookout_tsdb::StoreService`), not the sink's.

use std::collections::HashSet;

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentError, ComponentFuture, SinkConfig, SinkContext};
use serde::Deserialize;

/// `type: metrics_store`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsStoreConfig {
    /// The sink's buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
}

impl SinkConfig for MetricsStoreConfig {
    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        async move {
            let fut: ComponentFuture = run(cx).boxed();
            Ok(fut)
        }
        .boxed()
    }
}

async fn run(mut cx: SinkContext) -> Result<(), ComponentError> {
    let store = cx.store.clone();
    cx.health.ready();
    let mut reported: HashSet<String> = HashSet::new();
    let mut translator = lookout_tsdb::otlp::Translator::default();
    while let Some(batch) = cx.input.recv().await {
        cx.metrics.received_events.inc_by(batch.len() as u64);
        let t = translator.translate(&batch);
        let mut failed = 0u64;
        let mut appended = 0u64;
        for (labels, ts, v) in &t.points {
            match store.append(labels, *ts, *v) {
                Ok(()) => appended += 1,
                Err(e) => {
                    failed += 1;
                    if reported.insert(e.to_string()) {
                        tracing::warn!(sink = %cx.id, series = %labels, error = %e, "Sample refused by the metrics store.");
                    }
                }
            }
        }
        store.metadata().record(&t.metadata);
        // Exemplars beside their samples (evidence for alerts, `/api/v1/query_exemplars`);
        // one refused (out of order, a repeat) loses only that piece of evidence.
        for e in &t.exemplars {
            if let Some((labels, _, _)) = t.points.get(e.point) {
                let labels_of = lookout_tsdb::Labels::new(e.labels.iter().cloned());
                let exemplar = lookout_tsdb::exemplars::Exemplar { labels: labels_of, value: e.v, t: e.t };
                let _ = store.exemplars().append(labels, exemplar);
            }
        }
        for why in &t.refused {
            if reported.insert(why.clone()) {
                tracing::warn!(sink = %cx.id, reason = %why, "Metric refused by the metrics store.");
            }
        }
        // Into the WAL (and fsynced with `wal_fsync: always`) before the batch counts as sent.
        store.commit();
        cx.metrics.sent_events.inc_by(appended);
        cx.metrics.failed_events.inc_by(failed + t.refused_metrics + t.dropped);
        cx.metrics.latency.observe(batch.meta.received_at.elapsed().as_secs_f64());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use lookout_event::Batch;
    use lookout_event::otlp::metrics::v1::{
        AggregationTemporality, Exemplar, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exemplar,
        metric::Data, number_data_point,
    };

    use super::*;

    #[tokio::test]
    async fn metric_points_become_series() {
        let store = std::sync::Arc::new(lookout_tsdb::Store::new(Default::default()));
        let (tx, rx) = lookout_buffer::memory(100, lookout_buffer::WhenFull::Block);
        let health = lookout_component::Health::default();
        let metrics = lookout_component::ComponentMetrics::detached();
        let cx = SinkContext {
            id: "m".into(),
            input: rx,
            health: health.register("m", "sink", "metrics_store"),
            metrics: metrics.clone(),
            data_dir: std::env::temp_dir(),
            store: store.clone(),
        };
        let gauge = Metric {
            name: "queue.depth".into(),
            unit: "{job}".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: 7_000_000_000,
                    value: Some(number_data_point::Value::AsInt(42)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let requests = Metric {
            name: "requests".into(),
            data: Some(Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: 7_000_000_000,
                    value: Some(number_data_point::Value::AsInt(3)),
                    exemplars: vec![Exemplar {
                        time_unix_nano: 6_500_000_000,
                        trace_id: vec![0xab; 16],
                        value: Some(exemplar::Value::AsInt(1)),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let batch = Batch::metrics(vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics { metrics: vec![gauge, requests], ..Default::default() }],
            ..Default::default()
        }]);
        tx.send(batch).await.unwrap();
        drop(tx);
        run(cx).await.unwrap();
        let got = store.select(&[lookout_tsdb::Matcher::equal("__name__", "queue_depth")], 0, i64::MAX);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples[0].v, 42.0);
        assert_eq!(got[0].samples[0].t, 7000);
        assert_eq!(metrics.sent_events.get(), 2);
        // What each family is, for /api/v1/metadata.
        let families: Vec<(String, &str, String)> =
            store.metadata().snapshot().into_iter().map(|m| (m.family, m.metric_type.as_str(), m.unit)).collect();
        assert_eq!(
            families,
            [
                ("queue_depth".to_string(), "gauge", String::new()),
                ("requests_total".to_string(), "counter", String::new())
            ]
        );
        // The sum's exemplar is kept beside its series.
        let ex =
            store.exemplars().select(&[vec![lookout_tsdb::Matcher::equal("__name__", "requests_total")]], 0, i64::MAX);
        assert_eq!(ex.len(), 1, "{ex:?}");
        assert_eq!(ex[0].exemplars[0].labels.get("trace_id"), Some("abababababababababababababababab"));
        assert_eq!((ex[0].exemplars[0].t, ex[0].exemplars[0].value), (6500, 1.0));
    }
}
