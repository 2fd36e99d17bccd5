//! The data Prometheus and Alertmanager hand to templates, built the way they build it: a
//! rule's `AlertTemplateData` (and the variable prefix Prometheus prepends), and Alertmanager's
//! `template.Data` for notifications.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::DataError;
use crate::value::{Value, zero_time};

/// What Prometheus prepends to every alerting rule's label and annotation template, so
/// `$labels`, `$externalLabels`, `$externalURL` and `$value` exist. (Error columns on line 1
/// count it, as in Prometheus.)
pub const PROMETHEUS_ALERT_PREFIX: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// The Go type of Prometheus's alert template data (shown in errors such as
/// `can't evaluate field Foo in type struct { … }`).
const PROMETHEUS_DATA_TYPE: &str =
    "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

/// Prometheus's `AlertTemplateData`: `.Labels` and `.ExternalLabels` (label maps: a missing
/// label is `""`), `.ExternalURL`, and `.Value` (the sample value, a `float64`).
pub fn prometheus_alert_data<'l>(
    labels: impl IntoIterator<Item = (&'l str, &'l str)>,
    external_labels: impl IntoIterator<Item = (&'l str, &'l str)>,
    external_url: &str,
    value: f64,
) -> Value {
    Value::structure(
        PROMETHEUS_DATA_TYPE,
        [
            ("Labels", Value::str_map(labels)),
            ("ExternalLabels", Value::str_map(external_labels)),
            ("ExternalURL", Value::str(external_url)),
            ("Value", Value::Float(value)),
        ],
    )
}

/// One alert of a notification (Alertmanager's `template.Alert`).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationAlert {
    /// Resolved (its end time has passed) rather than firing.
    pub resolved: bool,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started.
    pub starts_at: DateTime<Utc>,
    /// When it ends or ended; `None` prints as Go's zero time, as Alertmanager's does.
    pub ends_at: Option<DateTime<Utc>>,
    /// The rule's link back to its source.
    pub generator_url: String,
    /// The label set's fingerprint ([`fingerprint`]).
    pub fingerprint: String,
}

impl NotificationAlert {
    /// The alert as templates see it: `.Status`, `.Labels`, `.Annotations`, `.StartsAt`,
    /// `.EndsAt`, `.GeneratorURL`, `.Fingerprint`.
    pub fn to_value(&self) -> Value {
        let utc = |t: &DateTime<Utc>| Value::Time(t.with_timezone(&chrono_tz::Tz::UTC));
        Value::structure(
            "template.Alert",
            [
                ("Status", Value::str(if self.resolved { "resolved" } else { "firing" })),
                ("Labels", Value::KV(self.labels.clone())),
                ("Annotations", Value::KV(self.annotations.clone())),
                ("StartsAt", utc(&self.starts_at)),
                ("EndsAt", self.ends_at.as_ref().map_or_else(|| Value::Time(zero_time()), utc)),
                ("GeneratorURL", Value::str(&self.generator_url)),
                ("Fingerprint", Value::str(&self.fingerprint)),
            ],
        )
    }
}

/// Alertmanager's `template.Data` for a notification to `receiver`: `.Receiver` (regexp-quoted,
/// as Alertmanager does), `.Status` (`firing` if any alert fires), `.Alerts`, `.GroupLabels`,
/// `.CommonLabels` and `.CommonAnnotations` (pairs every alert shares), `.ExternalURL`.
pub fn notification_data(
    receiver: &str,
    group_labels: &BTreeMap<String, String>,
    alerts: &[NotificationAlert],
    external_url: &str,
) -> Value {
    let common = |get: fn(&NotificationAlert) -> &BTreeMap<String, String>| -> BTreeMap<String, String> {
        let Some((first, rest)) = alerts.split_first() else { return BTreeMap::new() };
        let mut c = get(first).clone();
        for a in rest {
            c.retain(|k, v| get(a).get(k) == Some(v));
        }
        c
    };
    let firing = alerts.iter().any(|a| !a.resolved);
    Value::structure(
        "template.Data",
        [
            ("Receiver", Value::String(regex::escape(receiver))),
            ("Status", Value::str(if firing { "firing" } else { "resolved" })),
            ("Alerts", Value::Alerts(alerts.iter().map(NotificationAlert::to_value).collect())),
            ("GroupLabels", Value::KV(group_labels.clone())),
            ("CommonLabels", Value::KV(common(|a| &a.labels))),
            ("CommonAnnotations", Value::KV(common(|a| &a.annotations))),
            ("ExternalURL", Value::str(external_url)),
        ],
    )
}

/// `template.Data` from its JSON form (Alertmanager's webhook payload, what
/// `amtool template render --template.data` reads): camelCase keys, RFC 3339 times.
pub fn notification_data_from_json(json: &serde_json::Value) -> Result<Value, DataError> {
    let bad = |m: &str| DataError(m.to_owned());
    let obj = json.as_object().ok_or_else(|| bad("template data must be a JSON object"))?;
    let s = |o: &serde_json::Map<String, serde_json::Value>, k: &str| {
        o.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned()
    };
    let kv = |o: &serde_json::Map<String, serde_json::Value>, k: &str| -> Result<Value, DataError> {
        let mut m = BTreeMap::new();
        if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
            for (name, val) in v.as_object().ok_or_else(|| DataError(format!("{k} must be an object")))? {
                let val = val.as_str().ok_or_else(|| DataError(format!("{k}.{name} must be a string")))?;
                m.insert(name.clone(), val.to_owned());
            }
        }
        Ok(Value::KV(m))
    };
    let time = |o: &serde_json::Map<String, serde_json::Value>, k: &str| -> Result<Value, DataError> {
        match o.get(k).and_then(serde_json::Value::as_str) {
            None | Some("") => Ok(Value::Time(zero_time())),
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map(|t| Value::Time(t.with_timezone(&chrono_tz::Tz::UTC)))
                .map_err(|e| DataError(format!("{k}: {t:?}: {e}"))),
        }
    };
    let mut alerts = Vec::new();
    if let Some(list) = obj.get("alerts").filter(|v| !v.is_null()) {
        for a in list.as_array().ok_or_else(|| bad("alerts must be an array"))? {
            let a = a.as_object().ok_or_else(|| bad("each alert must be an object"))?;
            alerts.push(Value::structure(
                "template.Alert",
                [
                    ("Status", Value::String(s(a, "status"))),
                    ("Labels", kv(a, "labels")?),
                    ("Annotations", kv(a, "annotations")?),
                    ("StartsAt", time(a, "startsAt")?),
                    ("EndsAt", time(a, "endsAt")?),
                    ("GeneratorURL", Value::String(s(a, "generatorURL"))),
                    ("Fingerprint", Value::String(s(a, "fingerprint"))),
                ],
            ));
        }
    }
    Ok(Value::structure(
        "template.Data",
        [
            ("Receiver", Value::String(s(obj, "receiver"))),
            ("Status", Value::String(s(obj, "status"))),
            ("Alerts", Value::Alerts(alerts)),
            ("GroupLabels", kv(obj, "groupLabels")?),
            ("CommonLabels", kv(obj, "commonLabels")?),
            ("CommonAnnotations", kv(obj, "commonAnnotations")?),
            ("ExternalURL", Value::String(s(obj, "externalURL"))),
        ],
    ))
}

/// A label set's fingerprint as Alertmanager prints it (`model.LabelSet.Fingerprint()`:
/// FNV-1a 64 over sorted `name 0xff value 0xff`, 16 hex digits).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[0xff]);
        add(v.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn fingerprints_match_alertmanager() {
        // From alertmanager's template_test.go TestData.
        assert_eq!(fingerprint(&labels(&[("severity", "warning"), ("job", "foo")])), "9266ef3da838ad95");
        assert_eq!(fingerprint(&labels(&[("severity", "critical"), ("job", "foo")])), "3b15fd163d36582e");
        assert_eq!(fingerprint(&labels(&[("severity", "critical"), ("job", "bar")])), "c7e68cb08e3e67f9");
    }

    #[test]
    fn common_labels_and_status() {
        let t = DateTime::from_timestamp(1, 0).unwrap();
        let a = |sev: &str, job: &str, resolved: bool| NotificationAlert {
            resolved,
            labels: labels(&[("severity", sev), ("job", job)]),
            annotations: labels(&[("runbook", "foo")]),
            starts_at: t,
            ends_at: None,
            generator_url: String::new(),
            fingerprint: String::new(),
        };
        let d = notification_data(
            "web.hook",
            &labels(&[("job", "foo")]),
            &[a("warning", "foo", false), a("critical", "foo", true)],
            "http://example.com/",
        );
        assert_eq!(d.get("Receiver"), Some(&Value::str("web\\.hook")));
        assert_eq!(d.get("Status"), Some(&Value::str("firing")));
        assert_eq!(d.get("CommonLabels"), Some(&Value::kv([("job", "foo")])));
        assert_eq!(d.get("CommonAnnotations"), Some(&Value::kv([("runbook", "foo")])));
        let empty = notification_data("x", &BTreeMap::new(), &[], "");
        assert_eq!(empty.get("Status"), Some(&Value::str("resolved")));
        assert_eq!(empty.get("CommonLabels"), Some(&Value::KV(BTreeMap::new())));
    }
}
