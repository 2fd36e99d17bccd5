//! Series identity.
//!
//! A label set is read far more often than it is built: every query hands out the
//! labels of each series it selects, and most PromQL functions drop `__name__` from
//! them. So [`Labels`] is a reference-counted slice of pairs plus a start offset:
//! cloning is a reference-count bump, and dropping `__name__` when it sorts first (as
//! it does unless a name sorts before `_`, such as an upper-case one) is a view one
//! pair later, no copy.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

/// Label pairs sorted by name, `__name__` included; names are unique.
#[derive(Clone)]
pub struct Labels {
    all: Arc<[(String, String)]>,
    /// The first pair of `all` this set holds (the ones before are dropped).
    start: usize,
}

/// One shared empty set, so `Labels::default()` does not allocate.
static EMPTY: LazyLock<Arc<[(String, String)]>> = LazyLock::new(|| Arc::from(Vec::new()));

impl Default for Labels {
    fn default() -> Labels {
        Labels { all: EMPTY.clone(), start: 0 }
    }
}

impl Labels {
    /// From pairs in any order; empty values are dropped (Prometheus treats an empty
    /// label as absent) and a later duplicate name wins.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Labels {
        // A stable sort by name keeps equal names in arrival order, so keeping the last
        // of each run is "a later duplicate wins", in O(n log n).
        let mut sorted: Vec<(String, String)> = pairs.into_iter().collect();
        if !sorted.is_sorted_by(|a, b| a.0 < b.0) {
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let mut v: Vec<(String, String)> = Vec::with_capacity(sorted.len());
            for pair in sorted {
                match v.last_mut() {
                    Some(last) if last.0 == pair.0 => *last = pair,
                    _ => v.push(pair),
                }
            }
            sorted = v;
        }
        sorted.retain(|(_, val)| !val.is_empty());
        Labels::from_sorted(sorted)
    }

    /// From pairs already sorted by unique name with no empty value (checked in debug
    /// builds only: the callers take them from another `Labels`).
    pub(crate) fn from_sorted(pairs: Vec<(String, String)>) -> Labels {
        debug_assert!(pairs.is_sorted_by(|a, b| a.0 < b.0) && pairs.iter().all(|p| !p.1.is_empty()));
        if pairs.is_empty() {
            return Labels::default();
        }
        Labels { all: pairs.into(), start: 0 }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let pairs = self.pairs();
        if pairs.len() <= 16 {
            // Most sets are small: a scan that mostly compares lengths beats a binary
            // search that compares bytes at every step.
            return pairs.iter().find(|(n, _)| n.len() == name.len() && n == name).map(|(_, v)| v.as_str());
        }
        pairs.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| pairs[i].1.as_str())
    }

    /// The metric name.
    pub fn name(&self) -> Option<&str> {
        self.get("__name__")
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.all[self.start..]
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// Without `__name__`: a view (no copy) when it is the first pair, a new set
    /// otherwise.
    pub fn without_name(&self) -> Labels {
        let pairs = self.pairs();
        match pairs.first() {
            Some((n, _)) if n == "__name__" => Labels { all: self.all.clone(), start: self.start + 1 },
            _ if self.name().is_none() => self.clone(),
            _ => Labels::from_sorted(pairs.iter().filter(|(k, _)| k != "__name__").cloned().collect()),
        }
    }

    /// Whether both are the same stored set (a cheap test before comparing pairs).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.all, &other.all) && self.start == other.start
    }

    /// Approximate heap bytes (for the memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.pairs().iter().map(|(k, v)| k.len() + v.len() + 48).sum()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        self.ptr_eq(other) || self.pairs() == other.pairs()
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pairs().hash(state);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> Ordering {
        if self.ptr_eq(other) {
            return Ordering::Equal;
        }
        self.pairs().cmp(other.pairs())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.pairs()).finish()
    }
}

impl fmt::Display for Labels {
    /// Prometheus text form: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.name() {
            f.write_str(n)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.pairs().iter().filter(|(k, _)| k != "__name__") {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn new_sorts_drops_empty_and_keeps_the_later_duplicate() {
        let got = l(&[("b", "2"), ("a", "1"), ("c", ""), ("b", "3")]);
        assert_eq!(got.pairs(), &[("a".to_string(), "1".to_string()), ("b".to_string(), "3".to_string())]);
        assert!(l(&[("a", "")]).is_empty());
        assert_eq!(l(&[]), Labels::default());
    }

    /// A view without `__name__` equals, hashes and orders as a set built without it.
    #[test]
    fn without_name_is_a_view_equal_to_a_copy() {
        let full = l(&[("__name__", "up"), ("job", "a"), ("zone", "z")]);
        let view = full.without_name();
        let built = l(&[("job", "a"), ("zone", "z")]);
        assert!(Arc::ptr_eq(&view.all, &full.all), "no copy");
        assert_eq!(view, built);
        assert_eq!(view.cmp(&built), Ordering::Equal);
        assert_eq!(view.get("job"), Some("a"));
        assert_eq!(view.name(), None);
        assert_eq!(view.to_string(), "{job=\"a\", zone=\"z\"}");
        let mut m = HashMap::new();
        m.insert(built.clone(), 1);
        assert_eq!(m.get(&view), Some(&1));
        assert_eq!(view.without_name(), view);
        // Past the view, order is by pairs: `{job="a"}` < `{job="a", zone="z"}` < `{job="b"}`.
        assert!(l(&[("job", "a")]) < view && view < l(&[("job", "b")]));
        assert!(full < view, "by pairs: `__name__` < `job`");
    }

    /// A name sorting before `__name__` (upper case) makes dropping it a copy, same result.
    #[test]
    fn without_name_when_it_is_not_first() {
        let full = l(&[("Zone", "z"), ("__name__", "up"), ("job", "a")]);
        let dropped = full.without_name();
        assert_eq!(dropped, l(&[("Zone", "z"), ("job", "a")]));
        assert_eq!(l(&[("job", "a")]).without_name(), l(&[("job", "a")]));
        assert_eq!(Labels::default().without_name(), Labels::default());
    }
}
