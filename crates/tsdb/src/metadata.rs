//! Metric metadata: what each metric family is (type, help, unit), as OTLP senders
//! describe it, kept beside the series for `/api/v1/metadata` (Grafana's metric browser
//! and query hints read it).
//!
//! Bounded like everything in the store: at most [`MAX_FAMILIES`] families; past that a
//! new family's metadata is not kept (its series are, and are counted in the refusals).
//! The latest description of a family wins, as in Prometheus's scrape cache.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::otlp::Metadata;

/// The most metric families whose metadata is kept.
pub const MAX_FAMILIES: usize = 100_000;

/// Metadata by metric family name.
#[derive(Default)]
pub struct MetadataStore {
    families: RwLock<HashMap<String, Metadata>>,
    refused: AtomicU64,
}

impl MetadataStore {
    /// Keeps (or updates) what `entries` say; a family past [`MAX_FAMILIES`] is refused.
    pub fn record(&self, entries: &[Metadata]) {
        if entries.is_empty() {
            return;
        }
        // Most batches describe families already known the same way: read first.
        {
            let known = self.families.read().expect("metadata lock");
            if entries.iter().all(|m| known.get(&m.family) == Some(m)) {
                return;
            }
        }
        let mut families = self.families.write().expect("metadata lock");
        for m in entries {
            let full = families.len() >= MAX_FAMILIES;
            match families.get_mut(&m.family) {
                Some(known) => {
                    if known != m {
                        *known = m.clone();
                    }
                }
                None if !full => {
                    families.insert(m.family.clone(), m.clone());
                }
                None => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Every family's metadata, by family name.
    pub fn snapshot(&self) -> Vec<Metadata> {
        let mut all: Vec<Metadata> = self.families.read().expect("metadata lock").values().cloned().collect();
        all.sort_by(|a, b| a.family.cmp(&b.family));
        all
    }

    /// Families refused for the bound since start.
    pub fn refused_total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::MetricType;

    fn m(family: &str, help: &str) -> Metadata {
        Metadata { family: family.into(), metric_type: MetricType::Counter, help: help.into(), unit: String::new() }
    }

    #[test]
    fn the_latest_description_wins_and_families_are_sorted() {
        let store = MetadataStore::default();
        store.record(&[m("b_total", "old"), m("a_total", "A")]);
        store.record(&[m("b_total", "new")]);
        let all = store.snapshot();
        assert_eq!(
            all.iter().map(|x| (x.family.as_str(), x.help.as_str())).collect::<Vec<_>>(),
            [("a_total", "A"), ("b_total", "new")]
        );
        assert_eq!(store.refused_total(), 0);
    }
}
