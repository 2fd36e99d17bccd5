//! The API's self-metrics: requests by endpoint and outcome, and how long queries take
//! (what Prometheus exposes as `prometheus_http_requests_total` and
//! `prometheus_engine_query_duration_seconds`), so a slow or failing dashboard shows
//! on Lookout's `/metrics`.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    /// `success` or the error type (`bad_data`, `execution`, `timeout`, …).
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: &'static str,
}

fn duration_histogram() -> Histogram {
    // 1 ms … ~65 s: dashboard queries, up to the 2-minute timeout's neighbourhood.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 4.0, 9))
}

/// Counters and histograms of the query API; clones share them.
#[derive(Clone)]
pub(crate) struct QueryMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<EndpointLabel, Histogram, fn() -> Histogram>,
}

impl Default for QueryMetrics {
    fn default() -> Self {
        QueryMetrics { requests: Family::default(), durations: Family::new_with_constructor(duration_histogram) }
    }
}

impl QueryMetrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "lookout_query_requests",
            "Query API requests, by endpoint and result (success or Prometheus's error type)",
            self.requests.clone(),
        );
        registry.register(
            "lookout_query_duration_seconds",
            "Time to answer a query API request, by endpoint",
            self.durations.clone(),
        );
    }

    pub(crate) fn observe(&self, endpoint: &'static str, result: &'static str, took: Duration) {
        self.requests.get_or_create(&RequestLabels { endpoint, result }).inc();
        self.durations.get_or_create(&EndpointLabel { endpoint }).observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_endpoint_and_result() {
        let m = QueryMetrics::default();
        let mut registry = Registry::default();
        m.register(&mut registry);
        m.observe("query", "success", Duration::from_millis(3));
        m.observe("query", "success", Duration::from_millis(3));
        m.observe("query_range", "bad_data", Duration::from_micros(10));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("lookout_query_requests_total{endpoint=\"query\",result=\"success\"} 2"), "{text}");
        assert!(
            text.contains("lookout_query_requests_total{endpoint=\"query_range\",result=\"bad_data\"} 1"),
            "{text}"
        );
        assert!(text.contains("lookout_query_duration_seconds_count{endpoint=\"query\"} 2"), "{text}");
    }
}
