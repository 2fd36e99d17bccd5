//! Prometheus label matchers: `=`, `!=`, `=~`, `!~` (regexes fully anchored).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use crate::Labels;

/// Compiled patterns, so a rule evaluated every interval does not compile its
/// regexes each time (compiling costs far more than matching a short label value).
/// Bounded: emptied when full, as a query API fed distinct patterns must not grow it.
/// Shared behind an `Arc`: a `Regex` clone would get its own match-state pool, built
/// again at its first match.
static COMPILED: LazyLock<Mutex<HashMap<String, Arc<Regex>>>> = LazyLock::new(Mutex::default);
const MAX_COMPILED: usize = 4096;

/// `pattern` anchored as Prometheus anchors it, compiled once.
fn compiled(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    if let Some(r) = COMPILED.lock().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(r.clone());
    }
    let r = Arc::new(Regex::new(&format!("^(?s:{pattern})$"))?);
    let mut cache = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= MAX_COMPILED {
        cache.clear();
    }
    cache.insert(pattern.to_string(), r.clone());
    Ok(r)
}

/// A matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value or pattern.
    pub value: String,
    regex: Option<Arc<Regex>>,
}

impl Matcher {
    /// A matcher; regexes are anchored as Prometheus anchors them.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Matcher, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(compiled(&value)?),
            _ => None,
        };
        Ok(Matcher { name: name.into(), op, value, regex })
    }

    /// `name="value"`.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher { name: name.into(), op: MatchOp::Equal, value: value.into(), regex: None }
    }

    /// Whether a label value (`""` when absent) matches.
    pub fn matches_value(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether a series matches.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }
}

/// The matchers of one selection, checked against many series: a regex's verdict is
/// remembered per label value (the series of a selection share few values, and a
/// string comparison is cheaper than a regex), and the matcher whose postings list
/// gave the candidates is not checked again.
pub(crate) struct SeriesFilter<'m> {
    matchers: &'m [Matcher],
    /// The matcher every candidate is known to match.
    skip: Option<usize>,
    /// Per matcher, (value, verdict) for regex matchers.
    memo: Vec<Vec<(String, bool)>>,
}

/// Values remembered per regex matcher; past this, matching runs the regex.
const MEMO_VALUES: usize = 16;

impl<'m> SeriesFilter<'m> {
    pub(crate) fn new(matchers: &'m [Matcher], skip: Option<usize>) -> SeriesFilter<'m> {
        SeriesFilter { matchers, skip, memo: matchers.iter().map(|_| Vec::new()).collect() }
    }

    /// Whether `labels` matches every matcher.
    pub(crate) fn matches(&mut self, labels: &Labels) -> bool {
        for (i, m) in self.matchers.iter().enumerate() {
            if self.skip == Some(i) {
                continue;
            }
            let v = labels.get(&m.name).unwrap_or("");
            let ok = match m.op {
                MatchOp::Equal | MatchOp::NotEqual => m.matches_value(v),
                MatchOp::Regex | MatchOp::NotRegex => {
                    let memo = &mut self.memo[i];
                    match memo.iter().find(|(k, _)| k == v) {
                        Some(&(_, ok)) => ok,
                        None => {
                            let ok = m.matches_value(v);
                            if memo.len() < MEMO_VALUES {
                                memo.push((v.to_string(), ok));
                            }
                            ok
                        }
                    }
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }
}
