//! The inverted index: label name → value → series ids (what Prometheus calls
//! postings), so `{job="api"}` visits the series of `api`, not every series. Shared
//! by the head and by every block.

use std::collections::HashMap;

use crate::{Labels, MatchOp, Matcher};

/// Label name → value → ids, each list in insertion order.
#[derive(Debug, Default)]
pub(crate) struct Postings(HashMap<String, HashMap<String, Vec<u32>>>);

impl Postings {
    pub(crate) fn add(&mut self, id: u32, labels: &Labels) {
        for (name, value) in labels.pairs() {
            self.0.entry(name.clone()).or_default().entry(value.clone()).or_default().push(id);
        }
    }

    pub(crate) fn remove(&mut self, id: u32, labels: &Labels) {
        for (name, value) in labels.pairs() {
            if let Some(values) = self.0.get_mut(name) {
                if let Some(ids) = values.get_mut(value) {
                    ids.retain(|x| *x != id);
                    if ids.is_empty() {
                        values.remove(value);
                    }
                }
                if values.is_empty() {
                    self.0.remove(name);
                }
            }
        }
    }

    /// The ids worth checking against `matchers`: the shortest postings list of the
    /// non-empty equality matchers, or every id below `all` when there is none; with
    /// the index of the matcher whose list it is (every id of it matches that one, so
    /// only the others need checking).
    pub(crate) fn candidates(
        &self,
        matchers: &[Matcher],
        all: usize,
    ) -> (Box<dyn Iterator<Item = u32> + '_>, Option<usize>) {
        let shortest = matchers
            .iter()
            .enumerate()
            .filter(|(_, m)| m.op == MatchOp::Equal && !m.value.is_empty())
            .map(|(i, m)| (i, self.0.get(&m.name).and_then(|v| v.get(&m.value)).map_or(&[][..], Vec::as_slice)))
            .min_by_key(|(_, ids)| ids.len());
        match shortest {
            Some((i, ids)) => (Box::new(ids.iter().copied()), Some(i)),
            None => (Box::new(0..all as u32), None),
        }
    }
}
