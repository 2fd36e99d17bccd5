//! Series derived from records (`log_to_metric`, `span_metrics`): cumulative counters and
//! histograms kept in the transform, appended to the series store after every batch so
//! rules can read them like any Prometheus series.
//!
//! A counter or histogram seen for the first time gets a zero sample 1 ms before its
//! first value (what Prometheus's created-timestamp zero ingestion does), so `rate` and
//! `increase` count the very first events: "more than 3 errors in a minute" fires on
//! the fourth error of a new series, not the fifth.

use std::collections::HashMap;
use std::sync::Arc;

use lookout_tsdb::{Labels, Store};

/// Default histogram buckets, in the unit of the observed value (seconds for
/// `span_metrics`): the Prometheus client defaults.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone)]
struct Histogram {
    /// Counts per bucket (not cumulative), the last being +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Cumulative state of derived series.
pub struct Accumulator {
    store: Arc<Store>,
    counters: HashMap<Labels, f64>,
    gauges: HashMap<Labels, f64>,
    histograms: HashMap<(Labels, String), Histogram>,
    bounds: HashMap<String, Vec<f64>>,
    touched_counters: Vec<Labels>,
    touched_gauges: Vec<Labels>,
    touched_histograms: Vec<(Labels, String)>,
    /// Series created since the last flush: they start with a zero sample.
    fresh_counters: Vec<Labels>,
    fresh_histograms: Vec<(Labels, String)>,
    /// Samples the store refused (series limit, out of order).
    pub refused: u64,
}

impl Accumulator {
    /// State writing into `store`.
    pub fn new(store: Arc<Store>) -> Accumulator {
        Accumulator {
            store,
            counters: HashMap::new(),
            gauges: HashMap::new(),
            histograms: HashMap::new(),
            bounds: HashMap::new(),
            touched_counters: Vec::new(),
            touched_gauges: Vec::new(),
            touched_histograms: Vec::new(),
            fresh_counters: Vec::new(),
            fresh_histograms: Vec::new(),
            refused: 0,
        }
    }

    /// Adds `by` to a counter.
    pub fn inc(&mut self, labels: Labels, by: f64) {
        let e = self.counters.entry(labels.clone()).or_insert_with(|| {
            self.fresh_counters.push(labels.clone());
            0.0
        });
        *e += by;
        self.touched_counters.push(labels);
    }

    /// Sets a gauge.
    pub fn set(&mut self, labels: Labels, v: f64) {
        self.gauges.insert(labels.clone(), v);
        self.touched_gauges.push(labels);
    }

    /// Observes `v` in the histogram `name` (without `_bucket`) with `labels` (no `le`).
    pub fn observe(&mut self, name: &str, labels: Labels, bounds: &[f64], v: f64) {
        self.bounds.entry(name.to_string()).or_insert_with(|| bounds.to_vec());
        let key = (labels, name.to_string());
        let h = self.histograms.entry(key.clone()).or_insert_with(|| {
            self.fresh_histograms.push(key.clone());
            Histogram { counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }
        });
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        h.counts[i] += 1;
        h.sum += v;
        h.count += 1;
        self.touched_histograms.push(key);
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        if self.store.append(labels, t, v).is_err() {
            self.refused += 1;
        }
    }

    /// Appends every series touched since the last flush at time `t` (ms).
    pub fn flush(&mut self, t: i64) {
        for l in std::mem::take(&mut self.fresh_counters) {
            self.append(&l, t - 1, 0.0);
        }
        let fresh_histograms = std::mem::take(&mut self.fresh_histograms);
        let mut counters = std::mem::take(&mut self.touched_counters);
        counters.sort();
        counters.dedup();
        for l in &counters {
            let v = self.counters[l];
            self.append(l, t, v);
        }
        let mut gauges = std::mem::take(&mut self.touched_gauges);
        gauges.sort();
        gauges.dedup();
        for l in &gauges {
            let v = self.gauges[l];
            self.append(l, t, v);
        }
        let mut hists = std::mem::take(&mut self.touched_histograms);
        hists.sort();
        hists.dedup();
        for key in &hists {
            let h = self.histograms[key].clone();
            let (labels, name) = key;
            let bounds = self.bounds[name].clone();
            let with = |suffix: &str, extra: Option<(String, String)>| {
                let mut pairs: Vec<(String, String)> =
                    labels.pairs().iter().filter(|(k, _)| k != "__name__").cloned().collect();
                pairs.push(("__name__".into(), format!("{name}{suffix}")));
                pairs.extend(extra);
                Labels::new(pairs)
            };
            let fresh = fresh_histograms.contains(key);
            let mut cumulative = 0u64;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative += c;
                let le = bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| lookout_tsdb::otlp::format_float(*b));
                let l = with("_bucket", Some(("le".into(), le)));
                if fresh {
                    self.append(&l, t - 1, 0.0);
                }
                self.append(&l, t, cumulative as f64);
            }
            for (suffix, v) in [("_sum", h.sum), ("_count", h.count as f64)] {
                let l = with(suffix, None);
                if fresh {
                    self.append(&l, t - 1, 0.0);
                }
                self.append(&l, t, v);
            }
        }
    }
}

/// The store's time for a batch: when it was received, in ms.
pub fn batch_time_ms(batch: &lookout_event::Batch) -> i64 {
    (batch.meta.received_unix_nano / 1_000_000) as i64
}
