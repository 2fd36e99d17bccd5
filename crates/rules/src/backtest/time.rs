//! Backtest range bounds as people type them: RFC 3339 (`2026-12-01T10:00:00Z`), Unix
//! seconds (`1764583200`, fractions allowed), `now`, and times relative to now
//! (`-6h`, `now-90m`, Prometheus duration units).

use lookout_config::duration::parse_duration;

/// A time that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid time {text:?}: {why} (use RFC 3339, Unix seconds, `now`, or `-6h`/`now-6h`)")]
pub struct TimeError {
    text: String,
    why: String,
}

/// Parses `text` into Unix ms, relative forms against `now_ms`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, TimeError> {
    let err = |why: String| TimeError { text: text.to_string(), why };
    let s = text.trim();
    if s == "now" {
        return Ok(now_ms);
    }
    if let Some(rel) = s.strip_prefix("now-").or_else(|| {
        s.strip_prefix('-').filter(|r| !r.starts_with(char::is_numeric) || r.ends_with(char::is_alphabetic))
    }) {
        let d = parse_duration(rel).map_err(|e| err(e.to_string()))?;
        return Ok(now_ms.saturating_sub(d));
    }
    if let Some(rel) = s.strip_prefix("now+") {
        let d = parse_duration(rel).map_err(|e| err(e.to_string()))?;
        return Ok(now_ms.saturating_add(d));
    }
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs.abs() > 1e14 {
            return Err(err("out of range".to_string()));
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_forms() {
        let now = 1_765_000_000_000;
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("-6h", now).unwrap(), now - 6 * 3_600_000);
        assert_eq!(parse_time("now-1h30m", now).unwrap(), now - 90 * 60_000);
        assert_eq!(parse_time("now+5m", now).unwrap(), now + 300_000);
        assert_eq!(parse_time("1764583200", now).unwrap(), 1_764_583_200_000);
        assert_eq!(parse_time("1764583200.5", now).unwrap(), 1_764_583_200_500);
        assert_eq!(parse_time("0", now).unwrap(), 0);
        assert_eq!(parse_time("-60", now).unwrap(), -60_000);
        assert_eq!(parse_time("2025-12-01T10:00:00Z", now).unwrap(), 1_764_583_200_000);
        assert_eq!(parse_time("2025-12-01T11:00:00+01:00", now).unwrap(), 1_764_583_200_000);
        for bad in ["", "yesterday", "-6x", "now-", "2025-13-01T00:00:00Z", "1e300"] {
            let e = parse_time(bad, now).unwrap_err().to_string();
            assert!(e.contains("invalid time"), "{bad}: {e}");
        }
    }
}
