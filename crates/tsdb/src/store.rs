//! The in-memory series store.

use std::collections::{HashMap, VecDeque};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Labels, MatchOp, Matcher};

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix milliseconds.
    pub t: i64,
    /// The value (a staleness marker is a special NaN).
    pub v: f64,
}

/// A selected series and its samples in the asked range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// Its labels.
    pub labels: Labels,
    /// Its samples, oldest first.
    pub samples: Vec<Sample>,
}

/// Limits.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// How long samples are kept, in milliseconds.
    pub retention_ms: i64,
    /// Series beyond this are refused.
    pub max_series: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { retention_ms: 6 * 3600 * 1000, max_series: 1_000_000 }
    }
}

/// Why an append was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The series would exceed `max_series`.
    #[error("series limit ({0}) reached")]
    SeriesLimit(usize),
    /// Older than the series' newest sample (Prometheus refuses these too).
    #[error("out of order sample")]
    OutOfOrder,
}

struct Series {
    labels: Labels,
    samples: VecDeque<Sample>,
}

/// Called with every accepted sample (e.g. to remote-write what the store receives).
pub type AppendHook = std::sync::Arc<dyn Fn(&Labels, i64, f64) + Send + Sync>;

#[derive(Default)]
struct Inner {
    series: Vec<Option<Series>>,
    free: Vec<usize>,
    by_labels: HashMap<Labels, usize>,
    /// Inverted index: label name → value → series ids (what Prometheus calls
    /// postings), so `{job="api"}` visits the series of `api`, not every series of the
    /// metric.
    postings: HashMap<String, HashMap<String, Vec<usize>>>,
    // Under the same lock as the data, so appends pay no extra synchronisation.
    hook: Option<AppendHook>,
}

/// The store. Appends and selects may come from many tasks.
pub struct Store {
    // Atomics so the process-wide store can take the pipeline file's limits after it
    // was first handed out.
    retention_ms: std::sync::atomic::AtomicI64,
    max_series: std::sync::atomic::AtomicUsize,
    inner: RwLock<Inner>,
    series_limit_hits: AtomicU64,
    out_of_order: AtomicU64,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Store {
        Store {
            retention_ms: config.retention_ms.into(),
            max_series: config.max_series.into(),
            inner: RwLock::default(),
            series_limit_hits: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
        }
    }

    /// Changes the retention window and the series limit (existing series stay).
    pub fn set_limits(&self, config: StoreConfig) {
        self.retention_ms.store(config.retention_ms, Ordering::Relaxed);
        self.max_series.store(config.max_series, Ordering::Relaxed);
    }

    /// The limits in force.
    pub fn limits(&self) -> StoreConfig {
        StoreConfig {
            retention_ms: self.retention_ms.load(Ordering::Relaxed),
            max_series: self.max_series.load(Ordering::Relaxed),
        }
    }

    /// Appends a sample; an equal timestamp replaces the last sample.
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        let mut inner = self.inner.write().expect("store lock");
        let id = match inner.by_labels.get(labels) {
            Some(&id) => id,
            None => {
                let max_series = self.max_series.load(Ordering::Relaxed);
                if inner.by_labels.len() >= max_series {
                    self.series_limit_hits.fetch_add(1, Ordering::Relaxed);
                    return Err(AppendError::SeriesLimit(max_series));
                }
                let series = Series { labels: labels.clone(), samples: VecDeque::new() };
                let id = match inner.free.pop() {
                    Some(id) => {
                        inner.series[id] = Some(series);
                        id
                    }
                    None => {
                        inner.series.push(Some(series));
                        inner.series.len() - 1
                    }
                };
                inner.by_labels.insert(labels.clone(), id);
                for (name, value) in labels.pairs() {
                    inner.postings.entry(name.clone()).or_default().entry(value.clone()).or_default().push(id);
                }
                id
            }
        };
        let series = inner.series[id].as_mut().expect("live series");
        match series.samples.back_mut() {
            Some(last) if t < last.t => {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
                return Err(AppendError::OutOfOrder);
            }
            Some(last) if t == last.t => last.v = v,
            _ => series.samples.push_back(Sample { t, v }),
        }
        if let Some(hook) = &inner.hook {
            hook(labels, t, v);
        }
        Ok(())
    }

    /// Installs (or with `None` removes) a hook called with every accepted sample. It
    /// runs under the store's write lock: it must be quick and must not use the store.
    pub fn set_append_hook(&self, hook: Option<AppendHook>) {
        self.inner.write().expect("store lock").hook = hook;
    }

    /// Series matching every matcher, with their samples in `[mint, maxt]`.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesData> {
        let inner = self.inner.read().expect("store lock");
        // The shortest postings list of the non-empty equality matchers bounds the scan;
        // every matcher is still checked on each candidate.
        let shortest = matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal && !m.value.is_empty())
            .map(|m| inner.postings.get(&m.name).and_then(|v| v.get(&m.value)).map_or(&[][..], Vec::as_slice))
            .min_by_key(|ids| ids.len());
        let candidates: Box<dyn Iterator<Item = usize>> = match shortest {
            Some(ids) => Box::new(ids.iter().copied()),
            None => Box::new(0..inner.series.len()),
        };
        let mut out = Vec::new();
        for id in candidates {
            let Some(s) = inner.series[id].as_ref() else { continue };
            if !matchers.iter().all(|m| m.matches(&s.labels)) {
                continue;
            }
            let start = s.samples.partition_point(|x| x.t < mint);
            let samples: Vec<Sample> = s.samples.range(start..).take_while(|x| x.t <= maxt).copied().collect();
            out.push(SeriesData { labels: s.labels.clone(), samples });
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Drops samples older than the retention window before `now_ms`, and series left
    /// empty.
    pub fn gc(&self, now_ms: i64) {
        let cutoff = now_ms - self.retention_ms.load(Ordering::Relaxed);
        let mut inner = self.inner.write().expect("store lock");
        let mut dead = Vec::new();
        for (id, slot) in inner.series.iter_mut().enumerate() {
            if let Some(s) = slot {
                while s.samples.front().is_some_and(|x| x.t < cutoff) {
                    s.samples.pop_front();
                }
                if s.samples.is_empty() {
                    dead.push(id);
                }
            }
        }
        for id in dead {
            if let Some(s) = inner.series[id].take() {
                inner.by_labels.remove(&s.labels);
                for (name, value) in s.labels.pairs() {
                    if let Some(values) = inner.postings.get_mut(name) {
                        if let Some(ids) = values.get_mut(value) {
                            ids.retain(|x| *x != id);
                            if ids.is_empty() {
                                values.remove(value);
                            }
                        }
                        if values.is_empty() {
                            inner.postings.remove(name);
                        }
                    }
                }
                inner.free.push(id);
            }
        }
    }

    /// Live series.
    pub fn series_count(&self) -> usize {
        self.inner.read().expect("store lock").by_labels.len()
    }

    /// Appends refused by the series limit.
    pub fn series_limit_hits(&self) -> u64 {
        self.series_limit_hits.load(Ordering::Relaxed)
    }

    /// Appends refused as out of order.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, job: &str) -> Labels {
        Labels::new([("__name__".to_string(), name.to_string()), ("job".to_string(), job.to_string())])
    }

    #[test]
    fn append_select_retention_and_limits() {
        let store = Store::new(StoreConfig { retention_ms: 1000, max_series: 2 });
        store.append(&l("up", "api"), 100, 1.0).unwrap();
        store.append(&l("up", "api"), 200, 0.0).unwrap();
        store.append(&l("up", "db"), 200, 1.0).unwrap();
        assert_eq!(store.append(&l("up", "api"), 150, 5.0), Err(AppendError::OutOfOrder));
        assert_eq!(store.append(&l("other", "x"), 200, 1.0), Err(AppendError::SeriesLimit(2)));
        assert_eq!(store.series_limit_hits(), 1);

        let api = store.select(&[Matcher::equal("__name__", "up"), Matcher::equal("job", "api")], 0, 1000);
        assert_eq!(api.len(), 1);
        assert_eq!(api[0].samples, vec![Sample { t: 100, v: 1.0 }, Sample { t: 200, v: 0.0 }]);
        let re = Matcher::new("job", MatchOp::Regex, "a.*").unwrap();
        assert_eq!(store.select(&[re], 150, 1000)[0].samples.len(), 1, "range and anchored regex");
        let not = Matcher::new("job", MatchOp::NotRegex, "a").unwrap();
        assert_eq!(store.select(&[Matcher::equal("__name__", "up"), not], 0, 1000).len(), 2, "`a` is anchored");

        store.gc(1150);
        assert_eq!(store.select(&[Matcher::equal("__name__", "up")], 0, 2000)[0].samples.len(), 1);
        store.gc(5000);
        assert_eq!(store.series_count(), 0);
        store.append(&l("other", "x"), 6000, 1.0).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        store.set_append_hook(Some(std::sync::Arc::new(move |l: &Labels, t, v| {
            sink.lock().unwrap().push((l.clone(), t, v));
        })));
        store.append(&l("other", "x"), 7000, 2.0).unwrap();
        let _ = store.append(&l("other", "x"), 6500, 3.0);
        store.set_append_hook(None);
        store.append(&l("other", "x"), 8000, 4.0).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(l("other", "x"), 7000, 2.0)], "accepted samples only, until removed");
        assert_eq!(format!("{}", l("up", "a\"b")), "up{job=\"a\\\"b\"}");
    }
}
