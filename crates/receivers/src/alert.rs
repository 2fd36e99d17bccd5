//! Alerts and notifications: Alertmanager's data model as the integrations see it.
//!
//! An [`Alert`] is what Prometheus posts to `/api/v2/alerts`; a [`Notification`] is one
//! flush of one aggregation group to one receiver. Both are plain data so the notifier can
//! build them from its own state and the integrations never see routing internals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lookout_template::Value;
use sha2::{Digest, Sha256};

use crate::timefmt;

/// One alert (Alertmanager's `model.Alert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Identifying labels; their set is the alert's identity.
    pub labels: BTreeMap<String, String>,
    /// Descriptive annotations (summary, description, runbook_url, ...).
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved, or will resolve if not refreshed; `None` = open-ended.
    pub ends_at: Option<DateTime<Utc>>,
    /// Link back to the expression that fired it.
    pub generator_url: String,
    /// Records that made it fire (exemplars of the series its rule read), newest first;
    /// empty for alerts that came without any (e.g. posted by a Prometheus).
    pub evidence: Vec<Evidence>,
}

/// One piece of evidence: an exemplar of a series an alert's rule read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The series it belongs to.
    #[serde(rename = "seriesLabels")]
    pub series_labels: BTreeMap<String, String>,
    /// Its own labels: `trace_id`, `span_id`, `log` (the start of a log record's body).
    pub labels: BTreeMap<String, String>,
    /// The observed value, formatted as Prometheus formats sample values.
    pub value: String,
    /// When it was observed.
    pub timestamp: DateTime<Utc>,
}

impl Evidence {
    /// As templates see it (rules' `$evidence`, notifications' `.Evidence`): its labels
    /// plus `value` and `timestamp` (RFC 3339).
    pub fn to_template_value(&self) -> Value {
        let mut m = self.labels.clone();
        m.insert("value".to_string(), self.value.clone());
        m.insert("timestamp".to_string(), self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        Value::StrMap(m)
    }

    /// As JSON in the webhook and API payloads.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seriesLabels": self.series_labels,
            "labels": self.labels,
            "value": self.value,
            "timestamp": crate::timefmt::rfc3339_nano(Some(self.timestamp)),
        })
    }
}

/// FNV-1a, 64 bit: the hash `prometheus/common/model` uses for label-set fingerprints.
const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
/// `model.SeparatorByte`: cannot occur in valid UTF-8, so `a=bc` and `ab=c` differ.
const SEPARATOR: u8 = 0xff;

fn fnv_add(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The fingerprint of a label set, identical to `model.LabelSet.Fingerprint()` so the
/// fingerprints in payloads match what Alertmanager would send for the same labels.
pub fn labels_fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    // BTreeMap iterates in byte order of the names: the same order Go's sort.Strings gives.
    labels.iter().fold(FNV_OFFSET, |h, (k, v)| {
        let h = fnv_add(fnv_add(h, k.as_bytes()), &[SEPARATOR]);
        fnv_add(fnv_add(h, v.as_bytes()), &[SEPARATOR])
    })
}

impl Alert {
    /// A firing alert with these labels, started `starts_at`, open-ended.
    pub fn new(labels: BTreeMap<String, String>, starts_at: DateTime<Utc>) -> Alert {
        Alert {
            labels,
            annotations: BTreeMap::new(),
            starts_at,
            ends_at: None,
            generator_url: String::new(),
            evidence: Vec::new(),
        }
    }

    /// Stable identity across runs and processes (see [`labels_fingerprint`]).
    pub fn fingerprint(&self) -> u64 {
        labels_fingerprint(&self.labels)
    }

    /// The fingerprint as Alertmanager prints it: 16 lowercase hex digits.
    pub fn fingerprint_hex(&self) -> String {
        format!("{:016x}", self.fingerprint())
    }

    /// Resolved at `now`: it has an end time and that time is not after `now`
    /// (`model.Alert.ResolvedAt`).
    pub fn is_resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|end| end <= now)
    }

    /// `"firing"` or `"resolved"` at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> &'static str {
        if self.is_resolved_at(now) { "resolved" } else { "firing" }
    }

    /// The `alertname` label, or "" when absent.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// The end time as a payload shows it: Alertmanager hides the end of an alert that is
    /// still firing (`types.Alerts` zeroes it), so receivers see Go's zero time then.
    pub fn visible_ends_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_resolved_at(now) { self.ends_at } else { None }
    }
}

/// One flush of one aggregation group to one receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The receiver's name (`receivers[].name`).
    pub receiver: String,
    /// Whether any alert in `alerts` is firing.
    pub status_firing: bool,
    /// The aggregation group's key (route + group labels), e.g. `{}:{alertname="X"}`.
    pub group_key: String,
    /// The labels the group is keyed by (`group_by`).
    pub group_labels: BTreeMap<String, String>,
    /// Firing and resolved alerts as of `now`.
    pub alerts: Vec<Alert>,
    /// Alertmanager's external URL (links in messages).
    pub external_url: String,
    /// Alerts left out by the notifier before the receiver saw them.
    pub truncated_alerts: usize,
    /// The flush time: the reference for firing/resolved.
    pub now: DateTime<Utc>,
}

impl Notification {
    /// `"firing"` if any alert fires, else `"resolved"`.
    pub fn status(&self) -> &'static str {
        if self.status_firing { "firing" } else { "resolved" }
    }

    /// The alerts still firing at `now`.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| !a.is_resolved_at(self.now))
    }

    /// The alerts resolved at `now`.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| a.is_resolved_at(self.now))
    }

    /// Labels every alert has with the same value (`template.Data.CommonLabels`).
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert has with the same value (`CommonAnnotations`).
    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// SHA-256 of the group key, hex: Alertmanager's `notify.Key.Hash()`, used as the
    /// PagerDuty `dedup_key` and the OpsGenie `alias` so one group is one incident, also
    /// after a restart and across replicas.
    pub fn group_key_hash(&self) -> String {
        let digest = Sha256::digest(self.group_key.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What templates see as dot: Alertmanager's `template.Data` — `Receiver`, `Status`,
    /// `Alerts` (with `.Firing`/`.Resolved`), `GroupLabels`, `CommonLabels`,
    /// `CommonAnnotations`, `ExternalURL`; each alert with `Status`, `Labels`,
    /// `Annotations`, `StartsAt`, `EndsAt` (zero while firing), `GeneratorURL`, `Fingerprint`.
    pub fn template_data(&self) -> Value {
        let alerts = self.alerts.iter().map(|a| alert_value(a, self.now)).collect();
        Value::structure(
            "template.Data",
            [
                ("Receiver", Value::str(self.receiver.clone())),
                ("Status", Value::str(self.status())),
                ("Alerts", Value::Alerts(alerts)),
                ("GroupLabels", Value::KV(self.group_labels.clone())),
                ("CommonLabels", Value::KV(self.common_labels())),
                ("CommonAnnotations", Value::KV(self.common_annotations())),
                ("ExternalURL", Value::str(self.external_url.clone())),
            ],
        )
    }

    /// `now` as Go's RFC 3339 with nanoseconds (the format of JSON timestamps).
    pub fn now_rfc3339(&self) -> String {
        timefmt::rfc3339_nano(Some(self.now))
    }
}

fn time_value(t: Option<DateTime<Utc>>) -> Value {
    match t {
        Some(t) => Value::Time(t.with_timezone(&chrono_tz::Tz::UTC)),
        None => Value::zero_time(),
    }
}

/// One alert of `template.Data.Alerts`.
fn alert_value(a: &Alert, now: DateTime<Utc>) -> Value {
    Value::structure(
        "template.Alert",
        [
            ("Status", Value::str(a.status_at(now))),
            ("Labels", Value::KV(a.labels.clone())),
            ("Annotations", Value::KV(a.annotations.clone())),
            ("StartsAt", time_value(Some(a.starts_at))),
            ("EndsAt", time_value(a.visible_ends_at(now))),
            ("GeneratorURL", Value::str(a.generator_url.clone())),
            ("Fingerprint", Value::str(a.fingerprint_hex())),
            // Lookout's addition: what made it fire (see `Evidence`).
            ("Evidence", Value::List(a.evidence.iter().map(Evidence::to_template_value).collect())),
        ],
    )
}

fn common<'a>(mut sets: impl Iterator<Item = &'a BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let Some(first) = sets.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for s in sets {
        out.retain(|k, v| s.get(k) == Some(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn fingerprint_matches_prometheus_common_model() {
        // Values from prometheus/common model/signature_test.go (TestLabelsToSignature and
        // the label-set fingerprint tests): the empty set hashes to the FNV offset basis.
        assert_eq!(labels_fingerprint(&BTreeMap::new()), 14695981039346656037);
        assert_eq!(
            labels_fingerprint(&ls(&[("name", "garland, briggs"), ("fear", "love is not enough")])),
            5799056148416392346
        );
    }

    #[test]
    fn resolved_means_end_not_after_now() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut a = Alert::new(ls(&[("alertname", "X")]), t);
        assert!(!a.is_resolved_at(t));
        a.ends_at = Some(t + chrono::Duration::seconds(10));
        assert!(!a.is_resolved_at(t));
        assert!(a.is_resolved_at(t + chrono::Duration::seconds(10)));
        assert_eq!(a.visible_ends_at(t), None);
    }

    #[test]
    fn notification_templates_see_each_alerts_evidence() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut a = Alert::new(ls(&[("alertname", "DbErrors")]), t);
        a.evidence = vec![Evidence {
            series_labels: ls(&[("__name__", "db_errors_total")]),
            labels: ls(&[("trace_id", "abc"), ("log", "connection refused")]),
            value: "1".into(),
            timestamp: t,
        }];
        let n = Notification {
            receiver: "r".into(),
            status_firing: true,
            group_key: "{}".into(),
            group_labels: BTreeMap::new(),
            alerts: vec![a.clone(), Alert::new(ls(&[("alertname", "Other")]), t)],
            external_url: String::new(),
            truncated_alerts: 0,
            now: t,
        };
        let text = "{{ range .Alerts }}{{ .Labels.alertname }}:{{ range .Evidence }} {{ .trace_id }} {{ .log }} @{{ .timestamp }}{{ end }};{{ end }}";
        let out = crate::templates::Templates::builtin().render(text, &n.template_data()).unwrap();
        assert_eq!(out, "DbErrors: abc connection refused @2023-11-14T22:13:20.000Z;Other:;");
        let json = a.evidence[0].to_json();
        assert_eq!(json["labels"]["trace_id"], "abc");
        assert_eq!(json["seriesLabels"]["__name__"], "db_errors_total");
    }

    #[test]
    fn common_labels_keep_only_shared_pairs() {
        let t = DateTime::from_timestamp(0, 0).unwrap();
        let n = Notification {
            receiver: "r".into(),
            status_firing: true,
            group_key: "{}:{alertname=\"X\"}".into(),
            group_labels: ls(&[("alertname", "X")]),
            alerts: vec![
                Alert::new(ls(&[("alertname", "X"), ("job", "a"), ("env", "p")]), t),
                Alert::new(ls(&[("alertname", "X"), ("job", "b"), ("env", "p")]), t),
            ],
            external_url: String::new(),
            truncated_alerts: 0,
            now: t,
        };
        assert_eq!(n.common_labels(), ls(&[("alertname", "X"), ("env", "p")]));
        assert_eq!(n.group_key_hash().len(), 64);
    }
}
