//! Exemplars: a few concrete events (a trace id, a span id, a pointer to a log record)
//! kept beside a series as evidence of what its samples counted.
//!
//! Like Prometheus's circular exemplar storage: one ring of fixed capacity shared by
//! every series, oldest overwritten first, so memory is bounded whatever the series
//! count; per series, exemplars must arrive in time order and an exact repeat of the
//! newest one is dropped (Prometheus refuses out-of-order and duplicate exemplars too).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Labels, Matcher};

/// Prometheus's default `storage.exemplars.max_exemplars`.
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;

/// One exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its own labels (`trace_id`, `span_id`, ...), not the series'.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// Unix milliseconds.
    pub t: i64,
}

/// The exemplars of one series, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesExemplars {
    /// The series' labels.
    pub series: Labels,
    /// Its exemplars in the asked range.
    pub exemplars: Vec<Exemplar>,
}

/// Why an exemplar was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExemplarError {
    /// Older than the series' newest exemplar.
    #[error("out of order exemplar")]
    OutOfOrder,
    /// The same as the series' newest exemplar.
    #[error("duplicate exemplar")]
    Duplicate,
    /// Storage is configured with no room.
    #[error("exemplar storage is disabled")]
    Disabled,
}

struct Slot {
    series: Arc<Labels>,
    exemplar: Exemplar,
}

#[derive(Default)]
struct Ring {
    slots: Vec<Slot>,
    /// Where the next exemplar goes once `slots` is full.
    next: usize,
    /// Ring positions of each series' exemplars, oldest first. Ring order is arrival
    /// order, so the slot being overwritten is always the front of its series' list.
    by_series: HashMap<Arc<Labels>, VecDeque<usize>>,
}

/// Bounded exemplar storage shared by every series.
pub struct ExemplarStore {
    capacity: usize,
    ring: Mutex<Ring>,
    appended: AtomicU64,
    refused: AtomicU64,
}

impl Default for ExemplarStore {
    fn default() -> Self {
        ExemplarStore::new(DEFAULT_MAX_EXEMPLARS)
    }
}

impl ExemplarStore {
    /// Storage for at most `capacity` exemplars (0 keeps none).
    pub fn new(capacity: usize) -> ExemplarStore {
        ExemplarStore { capacity, ring: Mutex::default(), appended: AtomicU64::new(0), refused: AtomicU64::new(0) }
    }

    /// Keeps `exemplar` for `series`, overwriting the oldest exemplar of any series when
    /// full.
    pub fn append(&self, series: &Labels, exemplar: Exemplar) -> Result<(), ExemplarError> {
        if self.capacity == 0 {
            return Err(ExemplarError::Disabled);
        }
        let mut ring = self.ring.lock().expect("exemplar ring");
        let ring = &mut *ring;
        if let Some((key, positions)) = ring.by_series.get_key_value(series) {
            if let Some(&newest) = positions.back() {
                let last = &ring.slots[newest].exemplar;
                let verdict = if exemplar.t < last.t {
                    Some(ExemplarError::OutOfOrder)
                } else if exemplar.t == last.t
                    && exemplar.labels == last.labels
                    && same_value(exemplar.value, last.value)
                {
                    Some(ExemplarError::Duplicate)
                } else {
                    None
                };
                if let Some(e) = verdict {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
            let key = key.clone();
            push(ring, self.capacity, key, exemplar);
        } else {
            push(ring, self.capacity, Arc::new(series.clone()), exemplar);
        }
        self.appended.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Exemplars in `[mint, maxt]` of the series matching every matcher of any one of
    /// `selectors` (an empty list of selectors selects nothing), series sorted by labels.
    pub fn select(&self, selectors: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<SeriesExemplars> {
        let ring = self.ring.lock().expect("exemplar ring");
        let mut out: Vec<SeriesExemplars> = ring
            .by_series
            .iter()
            .filter(|(series, _)| selectors.iter().any(|ms| ms.iter().all(|m| m.matches(series))))
            .filter_map(|(series, positions)| {
                let exemplars: Vec<Exemplar> = positions
                    .iter()
                    .map(|&i| &ring.slots[i].exemplar)
                    .filter(|e| e.t >= mint && e.t <= maxt)
                    .cloned()
                    .collect();
                (!exemplars.is_empty()).then(|| SeriesExemplars { series: (**series).clone(), exemplars })
            })
            .collect();
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }

    /// Exemplars held now.
    pub fn len(&self) -> usize {
        self.ring.lock().expect("exemplar ring").slots.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most this storage holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Exemplars kept since start.
    pub fn appended_total(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Exemplars refused (out of order or duplicate) since start.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Equal values, NaN equal to NaN (a repeated NaN observation is still a repeat).
fn same_value(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || a == b
}

fn push(ring: &mut Ring, capacity: usize, series: Arc<Labels>, exemplar: Exemplar) {
    let position = if ring.slots.len() < capacity {
        ring.slots.push(Slot { series: series.clone(), exemplar });
        ring.slots.len() - 1
    } else {
        let at = ring.next;
        ring.next = (at + 1) % capacity;
        let old = std::mem::replace(&mut ring.slots[at], Slot { series: series.clone(), exemplar });
        if let Some(positions) = ring.by_series.get_mut(&old.series) {
            debug_assert_eq!(positions.front(), Some(&at), "the oldest slot is its series' oldest");
            positions.pop_front();
            if positions.is_empty() {
                ring.by_series.remove(&old.series);
            }
        }
        at
    };
    ring.by_series.entry(series).or_default().push_back(position);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, job: &str) -> Labels {
        Labels::new([("__name__".into(), name.into()), ("job".into(), job.into())])
    }

    fn ex(trace: &str, value: f64, t: i64) -> Exemplar {
        Exemplar { labels: Labels::new([("trace_id".to_string(), trace.to_string())]), value, t }
    }

    #[test]
    fn keeps_in_order_refuses_repeats_and_selects_by_matchers_and_time() {
        let store = ExemplarStore::new(10);
        let api = series("errors_total", "api");
        store.append(&api, ex("a", 1.0, 100)).unwrap();
        store.append(&api, ex("b", 1.0, 200)).unwrap();
        assert_eq!(store.append(&api, ex("x", 1.0, 150)), Err(ExemplarError::OutOfOrder));
        assert_eq!(store.append(&api, ex("b", 1.0, 200)), Err(ExemplarError::Duplicate));
        store.append(&api, ex("c", 2.0, 200)).unwrap();
        store.append(&series("errors_total", "db"), ex("d", 1.0, 300)).unwrap();
        assert_eq!((store.appended_total(), store.refused_total(), store.len()), (4, 2, 4));

        let all = store.select(&[vec![Matcher::equal("__name__", "errors_total")]], 0, 1000);
        assert_eq!(all.iter().map(|s| s.series.get("job").unwrap()).collect::<Vec<_>>(), ["api", "db"]);
        assert_eq!(all[0].exemplars, vec![ex("a", 1.0, 100), ex("b", 1.0, 200), ex("c", 2.0, 200)]);
        let late = store.select(&[vec![Matcher::equal("job", "api")]], 150, 1000);
        assert_eq!(late[0].exemplars.len(), 2, "time range applies");
        assert!(store.select(&[], 0, 1000).is_empty());
        let either = store.select(&[vec![Matcher::equal("job", "api")], vec![Matcher::equal("job", "db")]], 0, 1000);
        assert_eq!(either.len(), 2, "selectors are alternatives");
    }

    #[test]
    fn the_oldest_exemplar_of_any_series_goes_first_when_full() {
        let store = ExemplarStore::new(3);
        let (a, b) = (series("m", "a"), series("m", "b"));
        store.append(&a, ex("a1", 1.0, 1)).unwrap();
        store.append(&b, ex("b1", 1.0, 2)).unwrap();
        store.append(&a, ex("a2", 1.0, 3)).unwrap();
        store.append(&b, ex("b2", 1.0, 4)).unwrap(); // overwrites a1
        store.append(&b, ex("b3", 1.0, 5)).unwrap(); // overwrites b1
        assert_eq!(store.len(), 3);
        let got = store.select(&[vec![Matcher::equal("__name__", "m")]], 0, 10);
        assert_eq!(got[0].exemplars, vec![ex("a2", 1.0, 3)]);
        assert_eq!(got[1].exemplars, vec![ex("b2", 1.0, 4), ex("b3", 1.0, 5)]);
        store.append(&b, ex("b4", 1.0, 6)).unwrap(); // overwrites a2: series a is gone
        let got = store.select(&[vec![Matcher::equal("__name__", "m")]], 0, 10);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].exemplars.iter().map(|e| e.t).collect::<Vec<_>>(), [4, 5, 6]);
        // Many rounds keep every series' positions consistent with the ring.
        for t in 7..1000 {
            let s = if t % 3 == 0 { &a } else { &b };
            store.append(s, ex("r", t as f64, t)).unwrap();
        }
        let held: usize =
            store.select(&[vec![Matcher::equal("__name__", "m")]], 0, 2000).iter().map(|s| s.exemplars.len()).sum();
        assert_eq!(held, 3);
        assert!(ExemplarStore::new(0).append(&a, ex("z", 1.0, 1)).is_err());
    }
}
