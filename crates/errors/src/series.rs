//! The series rules page on, written into the embedded store:
//!
//! | series | labels | value |
//! |---|---|---|
//! | `lookout_error_group_events_total` | `fingerprint`, `service`, `type` (+ `tenant`) | occurrences of the group from the service |
//! | `lookout_error_group_new_total` | `fingerprint`, `service`, `type`, `environment`, `release`, `culprit` | 1 when the group first appears |
//! | `lookout_error_group_regressions_total` | the same | regressions of the group (resolved, then seen in a new release) |
//!
//! All three are counters, so the Prometheus idiom works: `increase(…[10m]) > 0`. A
//! series first written by this process starts with its previous value one millisecond
//! before the new one (0 for a new group), so `increase` sees the step even for the first
//! occurrence and after a restart, and the count carries on from the persisted group
//! instead of resetting. Empty label values are left out, as Prometheus does. Like every
//! series derived from records, each carries the record's `tenant` label when its
//! resource has one (so per-tenant series limits count it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lookout_tsdb::{Labels, Store};

use crate::group::Change;
use crate::groups::Recorded;

/// Occurrences per group and service.
pub const EVENTS: &str = "lookout_error_group_events_total";
/// A new group.
pub const NEW: &str = "lookout_error_group_new_total";
/// A regression.
pub const REGRESSIONS: &str = "lookout_error_group_regressions_total";

/// Series remembered as written before the set is cleared (then they get their
/// previous value again, which changes nothing: the store keeps the older sample).
const REMEMBERED: usize = 100_000;

/// Writes the series for recorded occurrences.
pub struct SeriesWriter {
    store: Arc<Store>,
    written: HashSet<Labels>,
    /// Samples the store refused (out of order, series limit).
    pub refused: u64,
}

impl SeriesWriter {
    /// Writing into `store`.
    pub fn new(store: Arc<Store>) -> SeriesWriter {
        SeriesWriter { store, written: HashSet::new(), refused: 0 }
    }

    /// Appends the series of `recorded` (one batch) at `t_ms`.
    pub fn write(&mut self, recorded: &[Recorded], t_ms: i64) {
        // Per series: (value before the batch, value after it).
        let mut steps: HashMap<Labels, (f64, f64)> = HashMap::new();
        let mut step = |labels: Labels, before: f64, after: f64| {
            steps.entry(labels).and_modify(|s| s.1 = after).or_insert((before, after));
        };
        for r in recorded {
            let events = labels(
                EVENTS,
                &[("fingerprint", &r.fingerprint), ("service", &r.service), ("type", &r.r#type), ("tenant", &r.tenant)],
            );
            step(events, r.service_count.saturating_sub(1) as f64, r.service_count as f64);
            let event_labels = |name| {
                labels(
                    name,
                    &[
                        ("fingerprint", &r.fingerprint),
                        ("service", &r.service),
                        ("type", &r.r#type),
                        ("environment", &r.environment),
                        ("release", &r.release),
                        ("culprit", &r.culprit),
                        ("tenant", &r.tenant),
                    ],
                )
            };
            match r.change {
                Change::New => step(event_labels(NEW), 0.0, 1.0),
                Change::Regression => {
                    step(event_labels(REGRESSIONS), r.regressions.saturating_sub(1) as f64, r.regressions as f64);
                }
                Change::Seen => {}
            }
        }
        if self.written.len() + steps.len() > REMEMBERED {
            self.written.clear();
        }
        for (labels, (before, after)) in steps {
            if self.written.insert(labels.clone()) {
                // Refused when the store has a later sample already (a restart within
                // the millisecond): harmless, the series has its history.
                let _ = self.store.append(&labels, t_ms - 1, before);
            }
            if self.store.append(&labels, t_ms, after).is_err() {
                self.refused += 1;
            }
        }
    }
}

fn labels(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut all = vec![("__name__".to_string(), name.to_string())];
    all.extend(pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())));
    Labels::new(all)
}

#[cfg(test)]
mod tests {
    use lookout_tsdb::{Matcher, StoreConfig};

    use super::*;
    use crate::group::GroupState;

    fn recorded(change: Change, count: u64, regressions: u64, release: &str) -> Recorded {
        Recorded {
            fingerprint: "fp1".into(),
            r#type: "KeyError".into(),
            culprit: "load (orders.py:17)".into(),
            service: "checkout".into(),
            release: release.into(),
            environment: "production".into(),
            tenant: "shop".into(),
            change,
            state: GroupState::Open,
            service_count: count,
            regressions,
        }
    }

    fn samples(store: &Store, name: &str) -> Vec<(i64, f64)> {
        let s = store.select(&[Matcher::equal("__name__", name)], 0, i64::MAX);
        assert!(s.len() <= 1, "{s:?}");
        s.first().map(|s| s.samples.iter().map(|p| (p.t, p.v)).collect()).unwrap_or_default()
    }

    #[test]
    fn counters_step_from_their_previous_value() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut w = SeriesWriter::new(store.clone());
        w.write(&[recorded(Change::New, 1, 0, "1.0"), recorded(Change::Seen, 2, 0, "1.0")], 1000);
        assert_eq!(samples(&store, EVENTS), [(999, 0.0), (1000, 2.0)]);
        assert_eq!(samples(&store, NEW), [(999, 0.0), (1000, 1.0)]);
        assert!(samples(&store, REGRESSIONS).is_empty());
        w.write(&[recorded(Change::Seen, 3, 0, "1.0")], 2000);
        assert_eq!(samples(&store, EVENTS), [(999, 0.0), (1000, 2.0), (2000, 3.0)]);
        w.write(&[recorded(Change::Regression, 4, 1, "1.1")], 3000);
        assert_eq!(samples(&store, REGRESSIONS), [(2999, 0.0), (3000, 1.0)]);
        let r = store.select(&[Matcher::equal("__name__", REGRESSIONS)], 0, i64::MAX);
        let l = &r[0].labels;
        assert_eq!(l.get("release"), Some("1.1"));
        assert_eq!(l.get("culprit"), Some("load (orders.py:17)"));
        assert_eq!(l.get("environment"), Some("production"));
        assert_eq!(l.get("tenant"), Some("shop"));
        assert_eq!(w.refused, 0);
    }

    #[test]
    fn after_a_restart_the_count_carries_on() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let mut w = SeriesWriter::new(store.clone());
        // The persisted group had 41 from this service: the 42nd occurrence.
        w.write(&[recorded(Change::Seen, 42, 0, "1.0")], 5000);
        assert_eq!(samples(&store, EVENTS), [(4999, 41.0), (5000, 42.0)]);
    }
}
