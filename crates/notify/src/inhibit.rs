//! Inhibition (`inhibit/inhibit.go`): an alert matching a rule's target matchers is muted
//! while an alert matching its source matchers fires with the same values for the `equal`
//! labels. Each rule caches the source-side alerts as they arrive, so a check costs one
//! pass over that rule's sources and never a scan of every alert.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::alerts::StoredAlert;
use crate::config::InhibitRuleConfig;
use crate::matcher::Matchers;

/// A source-side alert as a rule remembers it: labels and end time.
type Source = (BTreeMap<String, String>, Option<DateTime<Utc>>);

struct Rule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
    /// Source-side alerts by fingerprint: labels and end time.
    cache: HashMap<u64, Source>,
}

/// The inhibitor for one config.
pub struct Inhibitor {
    rules: Mutex<Vec<Rule>>,
}

impl Inhibitor {
    /// Builds the rules.
    pub fn new(cfgs: &[InhibitRuleConfig]) -> Inhibitor {
        let rules = cfgs
            .iter()
            .map(|c| Rule { source: c.source(), target: c.target(), equal: c.equal.clone(), cache: HashMap::new() })
            .collect();
        Inhibitor { rules: Mutex::new(rules) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds an alert update (every alert, routed or not, as Alertmanager subscribes to all).
    pub fn observe(&self, a: &StoredAlert) {
        let mut rules = self.lock();
        for r in rules.iter_mut() {
            if r.source.matches(&a.alert.labels) {
                r.cache.insert(a.fingerprint(), (a.alert.labels.clone(), a.alert.ends_at));
            }
        }
    }

    /// Forgets alerts removed from the store.
    pub fn forget(&self, fps: &[u64]) {
        let mut rules = self.lock();
        for r in rules.iter_mut() {
            for fp in fps {
                r.cache.remove(fp);
            }
        }
    }

    /// The fingerprint of an alert inhibiting `labels` at `now`, if any.
    pub fn inhibited_by(&self, labels: &BTreeMap<String, String>, now: DateTime<Utc>) -> Option<u64> {
        let rules = self.lock();
        for r in rules.iter() {
            if !r.target.matches(labels) {
                continue;
            }
            // An alert matching both sides cannot inhibit another such alert.
            let exclude_two_sided = r.source.matches(labels);
            for (fp, (src, ends_at)) in &r.cache {
                if ends_at.is_some_and(|e| e <= now) {
                    continue;
                }
                let empty = String::new();
                let equal = r.equal.iter().all(|n| src.get(n).unwrap_or(&empty) == labels.get(n).unwrap_or(&empty));
                if !equal || (exclude_two_sided && r.target.matches(src)) {
                    continue;
                }
                return Some(*fp);
            }
        }
        None
    }
}
