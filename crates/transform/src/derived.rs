//! Series derived from records (`log_to_metric`, `span_metrics`): cumulative counters and
//! histograms kept in the transform, appended to the series store after every batch so
//! rules can read them like any Prometheus series.
//!
//! A counter or histogram seen for the first time gets a zero sample 1 ms before its
//! first value (what Prometheus's created-timestamp zero ingestion does), so `rate` and
//! `increase` count the very first events: "more than 3 errors in a minute" fires on
//! the fourth error of a new series, not the fifth.
//!
//! The state is bounded ([`Limits`]):
//!
//! - **cardinality**: at most `max_series_per_metric` label sets per metric name (a
//!   histogram's label set counts once, whatever its buckets). A sample that would
//!   create one more is folded into the metric's overflow series, which has only the
//!   label `otel_metric_overflow="true"` (what the OpenTelemetry Collector's
//!   `spanmetrics` connector does past `aggregation_cardinality_limit`), so totals stay
//!   right while the breakdown is lost. The first overflow of a metric is logged once.
//! - **idle expiry**: a series with no sample for `series_idle_timeout` is forgotten,
//!   which frees its slot under the limit. Nothing is written to the store when it goes
//!   (it simply gets no more samples); if it comes back it starts again from zero with
//!   a zero sample, a counter reset that `rate`/`increase` handle. The check runs at the
//!   start of a batch, at most once per tenth of the timeout, so its cost is a scan of
//!   the state every few batches, not work per record. Time is the batches' arrival
//!   time ([`batch_time_ms`]).
//!
//! A record whose resource carries a `tenant` (set by an `otlp` source with `auth:`)
//! gives its derived series a `tenant` label ([`tenant_label`]), so they count against
//! that tenant's `max_series` in the store and rules can group by tenant; a metric's
//! overflow series keeps it too (one overflow series per tenant).
//!
//! **Evidence**: per batch, each series touched keeps one exemplar pointing at a record
//! that moved it ([`evidence`]: the record's `trace_id`, `span_id` and, for a log, the
//! start of its body), in the store's exemplar storage beside the sample; a histogram's
//! exemplar sits on the bucket its value fell in, as Prometheus places them. Rules read
//! them back to show which log lines and traces made an alert fire.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lookout_config::PromDuration;
use lookout_event::{FieldPath, RecordRef};
use lookout_tsdb::exemplars::Exemplar;
use lookout_tsdb::{Labels, Store, TENANT_LABEL};

/// Prometheus's limit on the characters of an exemplar's label names and values together.
pub const EXEMPLAR_MAX_LABEL_CHARS: usize = 128;

/// Exemplar labels pointing at `record`: its `trace_id` and `span_id` (hex) when it has
/// them and, for a log, `log` with the start of its body, cut so that the whole set
/// stays within [`EXEMPLAR_MAX_LABEL_CHARS`] (what Prometheus accepts).
pub fn evidence(record: &RecordRef<'_>) -> Labels {
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(3);
    for (name, id) in [("trace_id", record.trace_id()), ("span_id", record.span_id())] {
        if let Some(id) = id.filter(|id| id.iter().any(|b| *b != 0)) {
            pairs.push((name.to_string(), lookout_event::hex(id)));
        }
    }
    if let Some(body) = record.body().and(record.get(&FieldPath::Body)) {
        let used: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() + "log".len();
        let text = body.to_string();
        let excerpt: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let excerpt: String = excerpt.chars().take(EXEMPLAR_MAX_LABEL_CHARS.saturating_sub(used)).collect();
        if !excerpt.is_empty() {
            pairs.push(("log".to_string(), excerpt));
        }
    }
    Labels::new(pairs)
}

/// Default histogram buckets, in the unit of the observed value (seconds for
/// `span_metrics`): the Prometheus client defaults.
pub const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Default `max_series_per_metric`.
pub const DEFAULT_MAX_SERIES_PER_METRIC: usize = 10_000;

/// Default `series_idle_timeout`: 10 minutes.
pub const DEFAULT_SERIES_IDLE_TIMEOUT: PromDuration = PromDuration(std::time::Duration::from_secs(600));

/// The label of the series that collects samples past the cardinality limit.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// The `tenant` label of the series a record derives, if its resource has a tenant.
/// Push it after the configured labels: a later duplicate wins in [`Labels::new`], so
/// no configured label named `tenant` can replace it.
pub fn tenant_label(record: &RecordRef<'_>, field: &FieldPath) -> Option<(String, String)> {
    let tenant = record.get(field)?.to_string();
    (!tenant.is_empty()).then(|| (TENANT_LABEL.to_string(), tenant))
}

/// Serde default of `max_series_per_metric`.
pub fn default_max_series_per_metric() -> usize {
    DEFAULT_MAX_SERIES_PER_METRIC
}

/// Serde default of `series_idle_timeout`.
pub fn default_series_idle_timeout() -> PromDuration {
    DEFAULT_SERIES_IDLE_TIMEOUT
}

/// Checks the two keys; the message names the key.
pub fn check_limits(max_series_per_metric: usize) -> Result<(), &'static str> {
    if max_series_per_metric == 0 {
        return Err("`max_series_per_metric` must be at least 1");
    }
    Ok(())
}

/// Bounds on the state of an [`Accumulator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Label sets kept per metric name; more are folded into the overflow series.
    pub max_series_per_metric: usize,
    /// A series with no sample for this long (ms) is forgotten; 0 = never.
    pub idle_timeout_ms: i64,
}

impl Limits {
    /// From the config keys.
    pub fn new(max_series_per_metric: usize, series_idle_timeout: PromDuration) -> Limits {
        Limits { max_series_per_metric: max_series_per_metric.max(1), idle_timeout_ms: series_idle_timeout.ms() }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(DEFAULT_MAX_SERIES_PER_METRIC, DEFAULT_SERIES_IDLE_TIMEOUT)
    }
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Counts per bucket (not cumulative), the last being +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// One series' state.
#[derive(Debug, Clone)]
struct Slot<T> {
    value: T,
    /// Time (ms) of its last sample.
    last: i64,
    /// The overflow series (not counted against the limit).
    overflow: bool,
}

impl<T> Slot<T> {
    fn new(value: T, overflow: bool) -> Slot<T> {
        Slot { value, last: i64::MIN, overflow }
    }
}

/// Per metric name: how many series it has, and whether its overflow was logged.
#[derive(Debug, Default)]
struct Family {
    series: usize,
    logged: bool,
}

/// Cumulative state of derived series.
pub struct Accumulator {
    store: Arc<Store>,
    limits: Limits,
    counters: HashMap<Labels, Slot<f64>>,
    gauges: HashMap<Labels, Slot<f64>>,
    histograms: HashMap<(Labels, String), Slot<Histogram>>,
    bounds: HashMap<String, Vec<f64>>,
    families: HashMap<String, Family>,
    touched_counters: Vec<Labels>,
    touched_gauges: Vec<Labels>,
    touched_histograms: Vec<(Labels, String)>,
    /// One exemplar per series touched since the last flush (labels, observed value).
    evidence: HashMap<Labels, (Labels, f64)>,
    histogram_evidence: HashMap<(Labels, String), (Labels, f64)>,
    /// Series created since the last flush: they start with a zero sample.
    fresh_counters: Vec<Labels>,
    fresh_histograms: HashSet<(Labels, String)>,
    /// When the next idle sweep is due (ms); `None` before the first batch.
    next_sweep: Option<i64>,
    /// Samples the store refused (series limit, out of order).
    pub refused: u64,
    /// Samples folded into an overflow series.
    pub overflowed: u64,
    /// Series forgotten after being idle.
    pub expired: u64,
}

/// Where a new series goes.
enum Admit {
    /// Under the limit: its own series.
    Own,
    /// Past the limit: the overflow series.
    Overflow,
}

impl Accumulator {
    /// State writing into `store`, bounded by `limits`.
    pub fn new(store: Arc<Store>, limits: Limits) -> Accumulator {
        Accumulator {
            store,
            limits,
            counters: HashMap::new(),
            gauges: HashMap::new(),
            histograms: HashMap::new(),
            bounds: HashMap::new(),
            families: HashMap::new(),
            touched_counters: Vec::new(),
            touched_gauges: Vec::new(),
            touched_histograms: Vec::new(),
            evidence: HashMap::new(),
            histogram_evidence: HashMap::new(),
            fresh_counters: Vec::new(),
            fresh_histograms: HashSet::new(),
            next_sweep: None,
            refused: 0,
            overflowed: 0,
            expired: 0,
        }
    }

    /// Series held in memory (a histogram counts once), overflow series included.
    #[cfg(test)]
    pub fn series(&self) -> usize {
        self.counters.len() + self.gauges.len() + self.histograms.len()
    }

    /// Whether a new series of metric `name` may be created; counts it if so.
    fn admit(&mut self, name: &str) -> Admit {
        let max = self.limits.max_series_per_metric;
        let family = match self.families.get_mut(name) {
            Some(f) => f,
            None => self.families.entry(name.to_string()).or_default(),
        };
        if family.series < max {
            family.series += 1;
            return Admit::Own;
        }
        if !family.logged {
            family.logged = true;
            tracing::warn!(
                metric = name,
                max_series_per_metric = max,
                "derived metric `{name}` reached its cardinality limit of {max} series; samples of new label sets \
                 go to `{name}{{{OVERFLOW_LABEL}=\"true\"}}` until idle series expire"
            );
        }
        self.overflowed += 1;
        Admit::Overflow
    }

    /// The overflow series of a counter or gauge named `name` (or of a histogram, with
    /// no name), of the tenant of `labels` if they have one.
    fn overflow_labels(name: Option<&str>, labels: &Labels) -> Labels {
        let tenant = labels.get(TENANT_LABEL).map(|t| (TENANT_LABEL.to_string(), t.to_string()));
        let name = name.map(|n| ("__name__".to_string(), n.to_string()));
        Labels::new(name.into_iter().chain([(OVERFLOW_LABEL.to_string(), "true".to_string())]).chain(tenant))
    }

    /// Resolves `labels` of a counter or gauge to the series it updates: itself, or
    /// its metric's overflow series when it is new and the metric is full.
    fn resolve(&mut self, gauge: bool, labels: Labels) -> (Labels, bool) {
        let map = if gauge { &self.gauges } else { &self.counters };
        if map.contains_key(&labels) {
            return (labels, false);
        }
        let name = labels.name().unwrap_or_default().to_string();
        match self.admit(&name) {
            Admit::Own => (labels, false),
            Admit::Overflow => (Self::overflow_labels(Some(&name), &labels), true),
        }
    }

    /// Whether exemplars are kept at all (the store may be configured without room).
    fn wants_evidence(&self) -> bool {
        self.store.exemplars().capacity() > 0
    }

    /// Notes `evidence` (called only if the series has none yet this batch) as the
    /// exemplar of the series `labels`.
    fn note(&mut self, labels: &Labels, v: f64, evidence: impl FnOnce() -> Labels) {
        if self.wants_evidence() && !self.evidence.contains_key(labels) {
            self.evidence.insert(labels.clone(), (evidence(), v));
        }
    }

    /// Adds `by` to a counter; true if it went to the overflow series. `evidence` gives
    /// the exemplar labels of the record behind it (see [`evidence`]).
    pub fn inc(&mut self, labels: Labels, by: f64, evidence: impl FnOnce() -> Labels) -> bool {
        let (labels, overflow) = self.resolve(false, labels);
        let e = self.counters.entry(labels.clone()).or_insert_with(|| {
            self.fresh_counters.push(labels.clone());
            Slot::new(0.0, overflow)
        });
        e.value += by;
        self.note(&labels, by, evidence);
        self.touched_counters.push(labels);
        overflow
    }

    /// Sets a gauge; true if it went to the overflow series.
    pub fn set(&mut self, labels: Labels, v: f64, evidence: impl FnOnce() -> Labels) -> bool {
        let (labels, overflow) = self.resolve(true, labels);
        self.gauges.entry(labels.clone()).or_insert_with(|| Slot::new(0.0, overflow)).value = v;
        self.note(&labels, v, evidence);
        self.touched_gauges.push(labels);
        overflow
    }

    /// Observes `v` in the histogram `name` (without `_bucket`) with `labels` (no `le`);
    /// true if it went to the overflow series.
    pub fn observe(
        &mut self,
        name: &str,
        labels: Labels,
        bounds: &[f64],
        v: f64,
        evidence: impl FnOnce() -> Labels,
    ) -> bool {
        if !self.bounds.contains_key(name) {
            self.bounds.insert(name.to_string(), bounds.to_vec());
        }
        let mut key = (labels, name.to_string());
        let mut overflow = false;
        if !self.histograms.contains_key(&key) && matches!(self.admit(name), Admit::Overflow) {
            overflow = true;
            key.0 = Self::overflow_labels(None, &key.0);
        }
        let h = &mut self
            .histograms
            .entry(key.clone())
            .or_insert_with(|| {
                self.fresh_histograms.insert(key.clone());
                Slot::new(Histogram { counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }, overflow)
            })
            .value;
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        h.counts[i] += 1;
        h.sum += v;
        h.count += 1;
        if self.wants_evidence() && !self.histogram_evidence.contains_key(&key) {
            self.histogram_evidence.insert(key.clone(), (evidence(), v));
        }
        self.touched_histograms.push(key);
        overflow
    }

    /// Forgets series idle for the timeout, if a sweep is due at time `t` (ms). Call
    /// it before a batch's samples so the slots it frees can be used by them.
    pub fn expire(&mut self, t: i64) {
        let timeout = self.limits.idle_timeout_ms;
        if timeout <= 0 {
            return;
        }
        let every = (timeout / 10).max(1);
        match self.next_sweep {
            None => {
                self.next_sweep = Some(t.saturating_add(every));
                return;
            }
            Some(due) if t < due => return,
            Some(_) => self.next_sweep = Some(t.saturating_add(every)),
        }
        let before = t.saturating_sub(timeout);
        let mut gone: Vec<(String, bool)> = Vec::new();
        sweep(&mut self.counters, before, |l| l.name(), &mut gone);
        sweep(&mut self.gauges, before, |l| l.name(), &mut gone);
        sweep(&mut self.histograms, before, |(_, name)| Some(name.as_str()), &mut gone);
        self.expired += gone.len() as u64;
        for (name, overflow) in gone {
            if !overflow && let Some(f) = self.families.get_mut(&name) {
                f.series = f.series.saturating_sub(1);
            }
        }
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        if self.store.append(labels, t, v).is_err() {
            self.refused += 1;
        }
    }

    /// Keeps the exemplar noted for `series` this batch, if any (a refusal — out of
    /// order, a repeat — only loses that piece of evidence).
    fn append_evidence(&self, series: &Labels, noted: Option<(Labels, f64)>, t: i64) {
        if let Some((labels, value)) = noted.filter(|(l, _)| !l.pairs().is_empty()) {
            let _ = self.store.exemplars().append(series, Exemplar { labels, value, t });
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
            let s = self.counters.get_mut(l).expect("touched series exist");
            s.last = t;
            let v = s.value;
            self.append(l, t, v);
            let noted = self.evidence.remove(l);
            self.append_evidence(l, noted, t);
        }
        let mut gauges = std::mem::take(&mut self.touched_gauges);
        gauges.sort();
        gauges.dedup();
        for l in &gauges {
            let s = self.gauges.get_mut(l).expect("touched series exist");
            s.last = t;
            let v = s.value;
            self.append(l, t, v);
            let noted = self.evidence.remove(l);
            self.append_evidence(l, noted, t);
        }
        self.evidence.clear();
        let mut hists = std::mem::take(&mut self.touched_histograms);
        hists.sort();
        hists.dedup();
        for key in &hists {
            let s = self.histograms.get_mut(key).expect("touched series exist");
            s.last = t;
            let h = s.value.clone();
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
            let mut noted = self.histogram_evidence.remove(key);
            // The bucket the exemplar's value fell in (the first whose bound holds it).
            let noted_bucket = noted.as_ref().map(|(_, v)| bounds.iter().position(|b| v <= b).unwrap_or(bounds.len()));
            let mut cumulative = 0u64;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative += c;
                let le = bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| lookout_tsdb::otlp::format_float(*b));
                let l = with("_bucket", Some(("le".into(), le)));
                if fresh {
                    self.append(&l, t - 1, 0.0);
                }
                self.append(&l, t, cumulative as f64);
                if noted_bucket == Some(i) {
                    self.append_evidence(&l, noted.take(), t);
                }
            }
            for (suffix, v) in [("_sum", h.sum), ("_count", h.count as f64)] {
                let l = with(suffix, None);
                if fresh {
                    self.append(&l, t - 1, 0.0);
                }
                self.append(&l, t, v);
            }
        }
        self.histogram_evidence.clear();
    }
}

/// Removes the entries of `map` last updated at or before `before` (ms), noting each one's metric name and
/// whether it was an overflow series in `gone`.
fn sweep<K, T>(
    map: &mut HashMap<K, Slot<T>>,
    before: i64,
    name: impl Fn(&K) -> Option<&str>,
    gone: &mut Vec<(String, bool)>,
) {
    map.retain(|k, s| {
        if s.last > before {
            return true;
        }
        gone.push((name(k).unwrap_or_default().to_string(), s.overflow));
        false
    });
}

/// The store's time for a batch: when it was received, in ms.
pub fn batch_time_ms(batch: &lookout_event::Batch) -> i64 {
    (batch.meta.received_unix_nano / 1_000_000) as i64
}
