//! Request parameters as Prometheus reads them: the URL query and, for a form-encoded
//! `POST`, the body (body values first, as Go's `Request.Form` orders them); times as
//! RFC 3339 or Unix seconds; durations as `1h30m` or seconds; `match[]` selectors.

use lookout_tsdb::Matcher;
use lookout_tsdb::promql::{parse, selector_matchers};
use promql_parser::parser::Expr;

use crate::error::ApiError;

/// The smallest time a parameter can name (Prometheus's `minTime`), Unix ms.
pub(crate) const MIN_TIME_MS: i64 = -9_223_309_901_257_974;
/// The largest time a parameter can name (Prometheus's `maxTime`), Unix ms.
pub(crate) const MAX_TIME_MS: i64 = 9_223_309_901_257_974;

/// How Prometheus prints [`MIN_TIME_MS`] / [`MAX_TIME_MS`]; clients send them back.
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// A request's parameters, in Go's `Request.Form` order.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// From the raw URL query and a form-encoded body (empty when there is none).
    pub(crate) fn new(query: Option<&str>, form_body: &[u8]) -> Result<Params, ApiError> {
        let bad = |e: serde_urlencoded::de::Error| ApiError::bad_data(format!("error parsing form values: {e}"));
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(form_body).map_err(bad)?;
        if let Some(q) = query {
            pairs.extend(serde_urlencoded::from_str::<Vec<(String, String)>>(q).map_err(bad)?);
        }
        Ok(Params(pairs))
    }

    /// The first value of `name`, `""` when absent (Go's `FormValue`).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A time parameter, `default` when absent (Prometheus's `parseTimeParam`).
    pub(crate) fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            "" => Ok(default),
            v => parse_time(v)
                .map_err(|e| ApiError::invalid_param(name, format!("Invalid time value for '{name}': {e}"))),
        }
    }

    /// A required time parameter (`query_range`'s `start`/`end`).
    pub(crate) fn time(&self, name: &str) -> Result<i64, ApiError> {
        parse_time(self.get(name)).map_err(|e| ApiError::invalid_param(name, e))
    }
}

/// Unix seconds (`1700000000.123`, milliseconds kept) or RFC 3339 → Unix ms.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Some(secs) = go_parse_float(s) {
        if secs.is_finite() {
            // Go: whole seconds, then the fraction rounded to milliseconds.
            let whole = secs.trunc();
            let frac = ((secs - whole) * 1000.0).round();
            let ms = whole * 1000.0 + frac;
            if ms >= MIN_TIME_MS as f64 && ms <= MAX_TIME_MS as f64 {
                return Ok(ms as i64);
            }
        }
        return Err(format!("cannot parse {s:?} to a valid timestamp"));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    match s {
        MIN_TIME_TEXT => Ok(MIN_TIME_MS),
        MAX_TIME_TEXT => Ok(MAX_TIME_MS),
        _ => Err(format!("cannot parse {s:?} to a valid timestamp")),
    }
}

/// Go's `strconv.ParseFloat` for what clients send: decimals, exponents, `Inf`, `NaN`.
fn go_parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    s.parse().ok()
}

/// Seconds (`30`, `1.5`) or a Prometheus duration (`1h30m`, `5m`, `1d`) → ms
/// (Prometheus's `parseDuration`).
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Some(secs) = go_parse_float(s) {
        let ns = secs * 1e9;
        if !(ns.is_finite() && ns < i64::MAX as f64 && ns > i64::MIN as f64) {
            return Err(format!("cannot parse {s:?} to a valid duration. It overflows int64"));
        }
        return Ok((ns / 1e6) as i64);
    }
    lookout_config::duration::parse_duration(s).map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

/// `match[]` selectors → one matcher list each (Prometheus's `parseMatchersParam`).
pub(crate) fn matcher_sets(values: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let expr = parse(v)?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(format!("{v:?} is not a series selector"));
        };
        if !vs.matchers.or_matchers.is_empty() {
            return Err(format!("{v:?}: `or` inside label matchers is not supported"));
        }
        let matchers = selector_matchers(&vs).map_err(|e| e.to_string())?;
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err("match[] must contain at least one non-empty matcher".into());
        }
        out.push(matchers);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.1234"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("1700000000.9996"), Ok(1_700_000_001_000));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("1e9"), Ok(1_000_000_000_000));
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("2015-07-01T22:10:51+02:00"), Ok(1_435_781_451_000));
        assert_eq!(parse_time(MAX_TIME_TEXT), Ok(MAX_TIME_MS));
        assert_eq!(parse_time(MIN_TIME_TEXT), Ok(MIN_TIME_MS));
        for bad in ["", "now", "Inf", "NaN", "1e300", "2015-07-01"] {
            assert_eq!(parse_time(bad), Err(format!("cannot parse {bad:?} to a valid timestamp")), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1d2h3m4s5ms"), Ok(93_784_005));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400_000));
        assert_eq!(parse_duration("1y"), Ok(365 * 86_400_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in ["", "m", "5x", "1m1h", "1m1m", "-5m", "1.5m"] {
            assert_eq!(parse_duration(bad), Err(format!("cannot parse {bad:?} to a valid duration")), "{bad}");
        }
        assert!(parse_duration("1e300").unwrap_err().contains("overflows int64"));
    }

    #[test]
    fn form_then_query_and_matchers() {
        let p = Params::new(Some("query=up&match%5B%5D=a&time=1"), b"query=down&match[]=b").unwrap();
        assert_eq!(p.get("query"), "down", "the body first, as Go's FormValue");
        assert_eq!(p.all("match[]"), ["b", "a"]);
        assert_eq!(p.get("nothing"), "");
        assert_eq!(p.time_or("time", 0).unwrap(), 1000);
        assert_eq!(p.time_or("absent", 7).unwrap(), 7);
        let e = p.time_or("query", 0).unwrap_err();
        assert_eq!(
            e.message(),
            "invalid parameter \"query\": Invalid time value for 'query': cannot parse \"down\" to a valid timestamp"
        );

        let sets = matcher_sets(&["up{job=~\"a.*\"}", "{__name__=\"x\"}"]).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].len(), 2);
        assert!(matcher_sets(&["{job=\"\"}"]).unwrap_err().contains("at least one non-empty matcher"));
        assert!(matcher_sets(&["rate(x[5m])"]).unwrap_err().contains("not a series selector"));
        assert!(matcher_sets(&["up{"]).is_err());
    }
}
