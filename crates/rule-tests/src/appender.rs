//! The TSDB's append checks, which promtool reports as rule errors.
//!
//! Prometheus's head refuses a sample older than its series' newest ("out of order
//! sample") and one on the same timestamp with a different value ("duplicate sample
//! for timestamp"), and the group evaluation sets that as the rule's error, which ends
//! a promtool test group. The store replaces a same-timestamp sample instead, so the
//! test runner appends through this checker and attributes refusals to rules itself.

use std::sync::{Arc, Mutex};

use lookout_rules::Appender;
use lookout_tsdb::{Labels, Matcher, Store, is_stale};

/// Appends to the store with the TSDB's refusals, remembering them.
pub struct CheckingAppender {
    store: Arc<Store>,
    refused: Mutex<Vec<(Labels, &'static str)>>,
}

impl CheckingAppender {
    /// Over `store`.
    pub fn new(store: Arc<Store>) -> CheckingAppender {
        CheckingAppender { store, refused: Mutex::new(Vec::new()) }
    }

    /// The refusals since the last call: series and Prometheus's error text.
    pub fn take_refused(&self) -> Vec<(Labels, &'static str)> {
        std::mem::take(&mut *self.refused.lock().expect("refusals lock"))
    }

    /// The newest sample of exactly this series, if it is at or after `t` (older ones
    /// cannot refuse `t`, and are not copied out).
    fn newest_from(&self, labels: &Labels, t: i64) -> Option<(i64, f64)> {
        let matchers: Vec<Matcher> = labels.pairs().iter().map(|(k, v)| Matcher::equal(k, v)).collect();
        self.store
            .select(&matchers, t, i64::MAX)
            .into_iter()
            .find(|s| s.labels == *labels)
            .and_then(|s| s.samples.last().map(|x| (x.t, x.v)))
    }
}

impl Appender for CheckingAppender {
    fn append(&self, labels: &Labels, t_ms: i64, v: f64) {
        let refusal = match self.newest_from(labels, t_ms) {
            Some((lt, _)) if lt > t_ms => Some("out of order sample"),
            // The same value again is accepted silently, as in the TSDB.
            Some((_, lv)) => (lv.to_bits() != v.to_bits()).then_some("duplicate sample for timestamp"),
            _ => {
                let _ = self.store.append(labels, t_ms, v);
                None
            }
        };
        // Prometheus only logs refused staleness markers.
        if let Some(why) = refusal
            && !is_stale(v)
        {
            self.refused.lock().expect("refusals lock").push((labels.clone(), why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_tsdb::StoreConfig;

    #[test]
    fn refuses_like_the_tsdb() {
        let store = Arc::new(Store::new(StoreConfig::default()));
        let app = CheckingAppender::new(store.clone());
        let l = Labels::new([("__name__".to_string(), "r".to_string())]);
        app.append(&l, 1000, 1.0);
        app.append(&l, 1000, 1.0);
        assert!(app.take_refused().is_empty(), "same value, same time: accepted");
        app.append(&l, 1000, 2.0);
        app.append(&l, 500, 2.0);
        app.append(&l, 500, lookout_tsdb::stale_nan());
        let refused: Vec<&str> = app.take_refused().into_iter().map(|(_, w)| w).collect();
        assert_eq!(refused, vec!["duplicate sample for timestamp", "out of order sample"]);
        let other = Labels::new([("__name__".to_string(), "r".to_string()), ("a".to_string(), "b".to_string())]);
        app.append(&other, 500, 3.0);
        assert!(app.take_refused().is_empty(), "a superset of labels is another series");
        assert_eq!(store.select(&[Matcher::equal("__name__", "r")], 0, 2000).len(), 2);
    }
}
