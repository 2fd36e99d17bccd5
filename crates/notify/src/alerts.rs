//! The alert store (`provider/mem`): one entry per fingerprint, merged on update the way
//! Alertmanager merges (`types.Alert.Merge`), plus the checks `POST /api/v2/alerts` applies.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use lookout_receivers::Alert;
use serde::{Deserialize, Serialize};

use crate::matcher::valid_label_name;

/// An alert as the notifier keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// The alert; `ends_at` is always set once stored.
    pub alert: Alert,
    /// When it was last received.
    pub updated_at: DateTime<Utc>,
    /// Whether `ends_at` was derived from `resolve_timeout` rather than sent.
    pub timeout: bool,
}

impl StoredAlert {
    /// Fingerprint of its labels.
    pub fn fingerprint(&self) -> u64 {
        self.alert.fingerprint()
    }

    /// Resolved at `now`.
    pub fn resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.alert.is_resolved_at(now)
    }

    /// `types.Alert.Merge`: `o` is the newer update of the same alert.
    fn merge(&self, o: &StoredAlert, now: DateTime<Utc>) -> StoredAlert {
        if o.updated_at < self.updated_at {
            return o.merge(self, now);
        }
        let mut res = o.clone();
        // The earliest start wins.
        if self.alert.starts_at < o.alert.starts_at {
            res.alert.starts_at = self.alert.starts_at;
        }
        let (a_end, o_end) = (self.alert.ends_at, o.alert.ends_at);
        if o.resolved_at(now) {
            // The latest explicit resolution wins when both are resolved.
            if self.resolved_at(now) && a_end > o_end {
                res.alert.ends_at = a_end;
            }
        } else if a_end > o_end && !self.timeout {
            // A sent end time beats a timeout-derived one if it is later.
            res.alert.ends_at = a_end;
        }
        res
    }
}

/// Alertmanager's `AlertSlice` order: by `job`, then `instance`, then the label sets.
pub fn compare_alerts(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Ordering {
    for key in ["job", "instance"] {
        match (a.get(key), b.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    if labels_before(a, b) {
        Ordering::Less
    } else if labels_before(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// `model.LabelSet.Before`.
pub(crate) fn labels_before(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for n in names {
        let Some(av) = a.get(n) else { return true };
        let Some(bv) = b.get(n) else { return false };
        match av.cmp(bv) {
            Ordering::Less => return true,
            Ordering::Greater => return false,
            Ordering::Equal => {}
        }
    }
    false
}

/// What `POST /api/v2/alerts` does to each alert before storing it: stamp `updated_at`,
/// default `starts_at`, and give open-ended alerts `ends_at = now + resolve_timeout`.
pub fn normalize(
    mut alert: Alert,
    now: DateTime<Utc>,
    resolve_timeout: std::time::Duration,
    starts_unset: bool,
) -> StoredAlert {
    if starts_unset {
        alert.starts_at = alert.ends_at.unwrap_or(now);
    }
    let timeout = alert.ends_at.is_none();
    if timeout {
        alert.ends_at = Some(now + ChronoDuration::from_std(resolve_timeout).unwrap_or(ChronoDuration::minutes(5)));
    }
    // Empty label values mean "no label" (`removeEmptyLabels`).
    alert.labels.retain(|_, v| !v.is_empty());
    StoredAlert { alert, updated_at: now, timeout }
}

/// Why `types.Alert.Validate` refuses an alert; displays as Alertmanager words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidAlert {
    /// No labels (after empty values were dropped).
    #[error("at least one label pair required")]
    NoLabels,
    /// `endsAt` before `startsAt`.
    #[error("start time must be before end time")]
    EndsBeforeStart,
    /// A label name that is not a valid Prometheus label name.
    #[error("invalid label set: invalid name {0:?}")]
    LabelName(String),
    /// An annotation name that is not a valid Prometheus label name.
    #[error("invalid annotations: invalid name {0:?}")]
    AnnotationName(String),
}

/// `types.Alert.Validate`.
pub(crate) fn validate(a: &StoredAlert) -> Result<(), InvalidAlert> {
    if a.alert.labels.is_empty() {
        return Err(InvalidAlert::NoLabels);
    }
    if let Some(end) = a.alert.ends_at
        && end < a.alert.starts_at
    {
        return Err(InvalidAlert::EndsBeforeStart);
    }
    if let Some(k) = a.alert.labels.keys().find(|k| !valid_label_name(k)) {
        return Err(InvalidAlert::LabelName(k.clone()));
    }
    if let Some(k) = a.alert.annotations.keys().find(|k| !valid_label_name(k)) {
        return Err(InvalidAlert::AnnotationName(k.clone()));
    }
    Ok(())
}

/// Where an alert entered the notifier. Each origin has its own budget of held alerts, so a
/// flood through one never crowds out the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    /// `POST /api/v2/alerts` (also what records persisted before origins were kept read as).
    #[default]
    Api,
    /// [`crate::Notifier::put_alerts`], called in process by the rule engine.
    Rules,
}

impl Origin {
    /// The `origin` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Api => "api",
            Origin::Rules => "rules",
        }
    }

    fn index(self) -> usize {
        match self {
            Origin::Api => 0,
            Origin::Rules => 1,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every alert by fingerprint, with the origin that first sent it.
#[derive(Debug, Default)]
pub(crate) struct AlertStore {
    alerts: HashMap<u64, (StoredAlert, Origin)>,
    /// How many held alerts each origin first sent (indexed by [`Origin::index`]).
    held: [usize; 2],
}

impl AlertStore {
    /// Stores an update, merging it with the alert of the same fingerprint when their
    /// active ranges overlap; returns what is now stored. An update keeps the origin of the
    /// alert it updates.
    pub(crate) fn put(&mut self, alert: StoredAlert, origin: Origin, now: DateTime<Utc>) -> StoredAlert {
        let fp = alert.fingerprint();
        let (merged, origin) = match self.alerts.get(&fp) {
            Some((old, first)) => {
                let (start, end) = (alert.alert.starts_at, alert.alert.ends_at.unwrap_or(DateTime::<Utc>::MAX_UTC));
                let (ostart, oend) = (old.alert.starts_at, old.alert.ends_at.unwrap_or(DateTime::<Utc>::MAX_UTC));
                let merged = if (end > ostart && end < oend) || (start > ostart && start < oend) {
                    old.merge(&alert, now)
                } else {
                    alert
                };
                (merged, *first)
            }
            None => {
                self.held[origin.index()] += 1;
                (alert, origin)
            }
        };
        self.alerts.insert(fp, (merged.clone(), origin));
        merged
    }

    /// Inserts as loaded from disk, without merging.
    pub(crate) fn restore(&mut self, alert: StoredAlert, origin: Origin) {
        if let Some((_, old)) = self.alerts.insert(alert.fingerprint(), (alert, origin)) {
            self.held[old.index()] -= 1;
        }
        self.held[origin.index()] += 1;
    }

    /// Drops resolved alerts; returns their fingerprints.
    pub(crate) fn gc(&mut self, now: DateTime<Utc>) -> Vec<u64> {
        let gone: Vec<u64> = self.alerts.iter().filter(|(_, (a, _))| a.resolved_at(now)).map(|(fp, _)| *fp).collect();
        for fp in &gone {
            if let Some((_, origin)) = self.alerts.remove(fp) {
                self.held[origin.index()] -= 1;
            }
        }
        gone
    }

    /// Every stored alert.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &StoredAlert> {
        self.alerts.values().map(|(a, _)| a)
    }

    /// How many held alerts `origin` first sent.
    pub(crate) fn held(&self, origin: Origin) -> usize {
        self.held[origin.index()]
    }

    /// The origin that first sent the alert with this fingerprint, if it is stored.
    pub(crate) fn origin_of(&self, fp: u64) -> Option<Origin> {
        self.alerts.get(&fp).map(|(_, o)| *o)
    }

    /// Whether an alert with this fingerprint is stored.
    pub(crate) fn contains(&self, fp: u64) -> bool {
        self.alerts.contains_key(&fp)
    }

    /// Whether the store is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// The on-disk form of a stored alert.
#[derive(Serialize, Deserialize)]
pub(crate) struct AlertRecord {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    generator_url: String,
    /// Absent in records written before alerts carried evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    evidence: Vec<lookout_receivers::Evidence>,
    updated_at: DateTime<Utc>,
    timeout: bool,
    /// Absent in records written before origins were kept.
    #[serde(default)]
    origin: Origin,
}

impl AlertRecord {
    pub(crate) fn new(a: &StoredAlert, origin: Origin) -> Self {
        AlertRecord {
            labels: a.alert.labels.clone(),
            annotations: a.alert.annotations.clone(),
            starts_at: a.alert.starts_at,
            ends_at: a.alert.ends_at,
            generator_url: a.alert.generator_url.clone(),
            evidence: a.alert.evidence.clone(),
            updated_at: a.updated_at,
            timeout: a.timeout,
            origin,
        }
    }

    /// The alert and its origin.
    pub(crate) fn into_parts(self) -> (StoredAlert, Origin) {
        let r = self;
        let alert = StoredAlert {
            alert: Alert {
                labels: r.labels,
                annotations: r.annotations,
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                generator_url: r.generator_url,
                evidence: r.evidence,
            },
            updated_at: r.updated_at,
            timeout: r.timeout,
        };
        (alert, r.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn alert(start: i64, end: Option<i64>, updated: i64, timeout: bool) -> StoredAlert {
        let mut a = Alert::new([("alertname".to_string(), "A".to_string())].into(), t(start));
        a.ends_at = end.map(t);
        StoredAlert { alert: a, updated_at: t(updated), timeout }
    }

    #[test]
    fn merge_keeps_earliest_start_and_explicit_resolution() {
        let mut store = AlertStore::default();
        store.put(alert(0, Some(300), 0, true), Origin::Api, t(0));
        // A refresh that started later keeps the first start and extends the timeout.
        let m = store.put(alert(10, Some(310), 10, true), Origin::Api, t(10));
        assert_eq!(m.alert.starts_at, t(0));
        assert_eq!(m.alert.ends_at, Some(t(310)));
        // An explicit resolution inside the active range wins.
        let m = store.put(alert(10, Some(20), 20, false), Origin::Api, t(20));
        assert_eq!(m.alert.ends_at, Some(t(20)));
        assert_eq!(m.alert.starts_at, t(0));
        assert_eq!(store.gc(t(21)).len(), 1);
        assert!(store.is_empty());
    }

    #[test]
    fn normalize_and_validate() {
        let a = Alert::new(BTreeMap::new(), t(0));
        let s = normalize(a, t(5), std::time::Duration::from_secs(300), true);
        assert_eq!(s.alert.starts_at, t(5));
        assert_eq!(s.alert.ends_at, Some(t(305)));
        assert!(s.timeout);
        assert_eq!(validate(&s).unwrap_err().to_string(), "at least one label pair required");
    }

    #[test]
    fn alert_order_prefers_job_then_instance() {
        let l = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(compare_alerts(&l(&[("job", "a")]), &l(&[("job", "b")])), Ordering::Less);
        assert_eq!(compare_alerts(&l(&[("x", "z")]), &l(&[("job", "b")])), Ordering::Greater);
        assert_eq!(compare_alerts(&l(&[("a", "1")]), &l(&[("a", "1"), ("b", "2")])), Ordering::Less);
    }
}
