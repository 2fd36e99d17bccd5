//! `GET /api/v1/rules` and `GET /api/v1/alerts`, shaped exactly like Prometheus's
//! (`web/api/v1/api.go`: `RuleDiscovery`, `AlertDiscovery`), so Grafana, `promtool`-style
//! scripts and dashboards that read a Prometheus read Lookout unchanged.
//!
//! `/api/v1/rules` takes Prometheus's filters: `type=alert|record`, `rule_name[]`,
//! `rule_group[]`, `file[]`, `exclude_alerts=true`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

use super::Engine;
use crate::alert::{Alert, AlertState};
use crate::file::Rule;
use crate::group::GroupState;

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, which Prometheus uses for alert values.
pub(crate) fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// RFC 3339 with up to nanoseconds, as Go marshals `time.Time`.
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn labels_json(pairs: impl IntoIterator<Item = (String, String)>) -> Json {
    Json::Object(pairs.into_iter().map(|(k, v)| (k, Json::String(v))).collect())
}

fn alert_json(a: &Alert) -> Json {
    let mut o = json!({
        "labels": labels_json(a.labels.pairs().iter().cloned()),
        "annotations": labels_json(a.annotations.iter().cloned().collect::<BTreeMap<_, _>>()),
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at_ms),
        "value": go_float_e(a.value),
    });
    if let Some(since) = a.keep_firing_since_ms {
        o["keepFiringSince"] = Json::String(rfc3339(since));
    }
    o
}

fn active(a: &Alert) -> bool {
    matches!(a.state, AlertState::Pending | AlertState::Firing)
}

#[derive(Default)]
struct RulesFilter {
    kind: Option<String>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

/// A `type` filter other than `alert` or `record`.
#[derive(Debug, thiserror::Error)]
#[error("unsupported type {0:?}")]
struct UnsupportedType(String);

fn parse_filter(pairs: &[(String, String)]) -> Result<RulesFilter, UnsupportedType> {
    let mut f = RulesFilter::default();
    for (k, v) in pairs {
        match k.as_str() {
            "type" => match v.as_str() {
                "alert" | "record" => f.kind = Some(v.clone()),
                "" => {}
                other => return Err(UnsupportedType(other.to_string())),
            },
            "rule_name[]" => f.names.push(v.clone()),
            "rule_group[]" => f.groups.push(v.clone()),
            "file[]" => f.files.push(v.clone()),
            "exclude_alerts" => f.exclude_alerts = v == "true",
            _ => {}
        }
    }
    Ok(f)
}

fn rule_json(rule: &Rule, state: &GroupState, i: usize, exclude_alerts: bool) -> Json {
    let rs = state.rule(i);
    let health = state.rule_health(i).as_str();
    let last_error = rs.and_then(|r| r.last_error.clone()).unwrap_or_default();
    let last_eval = rs.and_then(|r| r.last_eval_ms).map(rfc3339).unwrap_or_else(|| ZERO_TIME.into());
    let eval_time = rs.map_or(0.0, |r| r.last_duration_seconds);
    match rule {
        Rule::Alerting(a) => {
            let alerts: Vec<Json> = if exclude_alerts {
                Vec::new()
            } else {
                rs.map(|r| r.alerts.values().filter(|a| active(a)).map(alert_json).collect()).unwrap_or_default()
            };
            let state_str = rs.and_then(|r| r.alerts.values().filter(|a| active(a)).map(|a| a.state).max());
            json!({
                "state": state_str.map_or("inactive", AlertState::as_str),
                "name": a.name,
                "query": a.expr_text,
                "duration": a.for_ms as f64 / 1000.0,
                "keepFiringFor": a.keep_firing_for_ms as f64 / 1000.0,
                "labels": labels_json(a.labels.iter().cloned().collect::<BTreeMap<_, _>>()),
                "annotations": labels_json(a.annotations.iter().cloned().collect::<BTreeMap<_, _>>()),
                "alerts": alerts,
                "health": health,
                "lastError": last_error,
                "evaluationTime": eval_time,
                "lastEvaluation": last_eval,
                "type": "alerting",
            })
        }
        Rule::Recording(r) => json!({
            "name": r.name,
            "query": r.expr_text,
            "labels": labels_json(r.labels.iter().cloned().collect::<BTreeMap<_, _>>()),
            "health": health,
            "lastError": last_error,
            "evaluationTime": eval_time,
            "lastEvaluation": last_eval,
            "type": "recording",
        }),
    }
}

fn success(data: Json) -> Response {
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "status": "error", "errorType": "bad_data", "error": msg })))
        .into_response()
}

pub(crate) async fn rules(State(engine): State<Engine>, Query(query): Query<Vec<(String, String)>>) -> Response {
    let f = match parse_filter(&query) {
        Ok(f) => f,
        Err(e) => return bad_request(e.to_string()),
    };
    let mut groups = Vec::new();
    for g in engine.groups().iter() {
        let group = &g.group;
        if (!f.groups.is_empty() && !f.groups.contains(&group.name))
            || (!f.files.is_empty() && !f.files.iter().any(|x| **x == *group.file))
        {
            continue;
        }
        let state = g.state.lock().expect("group state").clone();
        let rules: Vec<Json> = group
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| match f.kind.as_deref() {
                Some("alert") => matches!(r, Rule::Alerting(_)),
                Some("record") => matches!(r, Rule::Recording(_)),
                _ => true,
            })
            .filter(|(_, r)| f.names.is_empty() || f.names.iter().any(|n| n == r.name()))
            .map(|(i, r)| rule_json(r, &state, i, f.exclude_alerts))
            .collect();
        // Prometheus drops groups left empty by a rule filter.
        if rules.is_empty() && (f.kind.is_some() || !f.names.is_empty()) {
            continue;
        }
        groups.push(json!({
            "name": group.name,
            "file": &*group.file,
            "rules": rules,
            "interval": g.interval_ms as f64 / 1000.0,
            "limit": group.limit,
            "evaluationTime": state.last_duration_seconds,
            "lastEvaluation": state.last_eval_ms.map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
        }));
    }
    success(json!({ "groups": groups }))
}

pub(crate) async fn alerts(State(engine): State<Engine>) -> Response {
    let mut out = Vec::new();
    for g in engine.groups().iter() {
        let state = g.state.lock().expect("group state");
        out.extend(state.alerts().map(|(_, a)| a).filter(|a| active(a)).map(alert_json));
    }
    success(json!({ "alerts": out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_print_like_go() {
        assert_eq!(go_float_e(1.0), "1e+00");
        assert_eq!(go_float_e(0.15), "1.5e-01");
        assert_eq!(go_float_e(1234.5), "1.2345e+03");
        assert_eq!(go_float_e(1e100), "1e+100");
        assert_eq!(go_float_e(-2.0), "-2e+00");
        assert_eq!(go_float_e(f64::INFINITY), "+Inf");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_700_000_000_250), "2023-11-14T22:13:20.250Z");
    }

    fn serde_urlencoded_pairs(s: &str) -> Vec<(String, String)> {
        let uri: axum::http::Uri = format!("/?{s}").parse().unwrap();
        Query::<Vec<(String, String)>>::try_from_uri(&uri).unwrap().0
    }

    #[test]
    fn filters_parse_like_prometheus() {
        let q = |s: &str| -> Vec<(String, String)> { serde_urlencoded_pairs(s) };
        let f = parse_filter(&q("type=alert&rule_name[]=High%20CPU&rule_group%5B%5D=g&exclude_alerts=true")).unwrap();
        assert_eq!(f.kind.as_deref(), Some("alert"));
        assert_eq!(f.names, ["High CPU"]);
        assert_eq!(f.groups, ["g"]);
        assert!(f.exclude_alerts);
        assert!(parse_filter(&q("type=bogus")).is_err());
    }
}
