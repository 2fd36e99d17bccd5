//! A backtest report as people read it (a table) and as programs read it (JSON, the
//! CLI's `--output json` and the API's answer share it).

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use super::{Episode, Report};

/// RFC 3339 in UTC with up to milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `1h5m30s`, `45s`, `250ms`: a duration as Prometheus prints one.
pub fn duration(ms: i64) -> String {
    if ms <= 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if rest >= size {
            let _ = write!(out, "{}{unit}", rest / size);
            rest %= size;
        }
    }
    out
}

fn float(v: f64) -> Json {
    // JSON has no NaN or infinities: print those as Prometheus's API does, as text.
    let text = || {
        if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        }
    };
    serde_json::Number::from_f64(v).map_or_else(|| Json::String(text().to_string()), Json::Number)
}

fn episode_json(e: &Episode) -> Json {
    let pending_end = e.firing_at_ms.or(e.ended_at_ms);
    let mut o = json!({
        "alertname": e.alertname,
        "labels": e.labels,
        "group": e.group,
        "file": e.file,
        "pending": { "from": rfc3339(e.pending_at_ms), "to": pending_end.map(rfc3339) },
        "firing": e.firing_at_ms.map(|f| json!({ "from": rfc3339(f), "to": e.ended_at_ms.map(rfc3339) })),
        "resolved_at": e.firing_at_ms.and(e.ended_at_ms).map(rfc3339),
        "value": float(e.value),
        "max_value": float(e.max_value),
        "annotations": e.annotations,
    });
    if let Some(k) = e.kept_firing_since_ms {
        o["kept_firing_since"] = Json::String(rfc3339(k));
    }
    o
}

/// The report as JSON: range, groups, alert episodes and rule errors.
pub fn to_json(r: &Report) -> Json {
    json!({
        "source": r.source,
        "from": rfc3339(r.from_ms),
        "to": rfc3339(r.to_ms),
        "groups": r.groups.iter().map(|g| json!({
            "file": g.file,
            "name": g.name,
            "interval_seconds": g.interval_ms as f64 / 1000.0,
            "evaluations": g.evaluations,
            "local_rules": g.local_rules,
        })).collect::<Vec<_>>(),
        "alerts": r.episodes.iter().map(episode_json).collect::<Vec<_>>(),
        "rule_errors": r.rule_errors.iter().map(|e| json!({
            "file": e.file,
            "group": e.group,
            "rule": e.rule,
            "count": e.count,
            "first_at": rfc3339(e.first_at_ms),
            "first_error": e.first_error,
        })).collect::<Vec<_>>(),
        "copied_samples": r.copied_samples,
    })
}

fn labels_text(e: &Episode) -> String {
    let pairs: Vec<String> =
        e.labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("{k}={v:?}")).collect();
    pairs.join(", ")
}

/// The report as an aligned table, one line per episode, then a summary and errors.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let evaluations: u64 = r.groups.iter().map(|g| g.evaluations).sum();
    let _ = writeln!(
        out,
        "Backtest of {} group(s) from {} to {} over {} ({} evaluations).",
        r.groups.len(),
        rfc3339(r.from_ms),
        rfc3339(r.to_ms),
        r.source,
        evaluations
    );
    let header = ["ALERT", "LABELS", "PENDING", "FIRING", "RESOLVED", "FIRED FOR"];
    let rows: Vec<[String; 6]> = r
        .episodes
        .iter()
        .map(|e| {
            let (firing, resolved, fired_for) = match (e.firing_at_ms, e.ended_at_ms) {
                (Some(f), Some(end)) => (rfc3339(f), rfc3339(end), duration(end - f)),
                (Some(f), None) => (rfc3339(f), "still firing".to_string(), format!(">= {}", duration(r.to_ms - f))),
                (None, Some(end)) => (format!("never (pending until {})", rfc3339(end)), "-".into(), "-".into()),
                (None, None) => ("never (still pending)".to_string(), "-".into(), "-".into()),
            };
            [e.alertname.clone(), labels_text(e), rfc3339(e.pending_at_ms), firing, resolved, fired_for]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No alert went pending or fired.\n");
    } else {
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{c:<w$}  ");
                }
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&header.map(String::from)));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row));
        }
    }
    let fired = r.episodes.iter().filter(|e| e.fired()).count();
    let _ =
        writeln!(out, "{} episode(s): {} fired, {} only pending.", r.episodes.len(), fired, r.episodes.len() - fired);
    for e in &r.rule_errors {
        let _ = writeln!(
            out,
            "Rule {:?} (group {:?}, {}) failed {} evaluation(s), first at {}: {}",
            e.rule,
            e.group,
            e.file,
            e.count,
            rfc3339(e.first_at_ms),
            e.first_error
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_prometheus() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(250), "250ms");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(3_600_000 + 5 * 60_000), "1h5m");
        assert_eq!(duration(2 * 86_400_000 + 1000), "2d1s");
    }
}
