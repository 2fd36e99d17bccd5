//! Series identity.

use std::fmt;

/// Label pairs sorted by name, `__name__` included; names are unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// From pairs in any order; empty values are dropped (Prometheus treats an empty
    /// label as absent) and a later duplicate name wins.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Labels {
        // A stable sort by name keeps equal names in arrival order, so keeping the last
        // of each run is "a later duplicate wins", in O(n log n).
        let mut sorted: Vec<(String, String)> = pairs.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut v: Vec<(String, String)> = Vec::with_capacity(sorted.len());
        for pair in sorted {
            match v.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => v.push(pair),
            }
        }
        v.retain(|(_, val)| !val.is_empty());
        Labels(v)
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| self.0[i].1.as_str())
    }

    /// The metric name.
    pub fn name(&self) -> Option<&str> {
        self.get("__name__")
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Approximate heap bytes (for the memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len() + 48).sum()
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
        for (k, v) in self.0.iter().filter(|(k, _)| k != "__name__") {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))?;
        }
        f.write_str("}")
    }
}
