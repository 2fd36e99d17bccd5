//! Prometheus durations (`model.Duration`): `1y2w3d4h5m6s7ms`, each unit at most once
//! and in that order, or `0`.

const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// A duration that does not parse, with Prometheus's messages (`model.ParseDuration`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is empty.
    #[error("empty duration string")]
    Empty,
    /// Not `1y2w3d4h5m6s7ms` (units in that order, each at most once) nor `0`; holds the text.
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    /// More milliseconds than an `i64` holds.
    #[error("duration out of range")]
    OutOfRange,
}

/// Parses a duration into milliseconds, with Prometheus's error messages.
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(0);
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        // "ms" before "m": try the longest unit that matches at this position.
        let unit = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
            .map(|(i, u)| (i, *u))
            .next();
        let Some((i, (u, mult))) = unit else {
            return Err(invalid());
        };
        rest = &rest[u.len()..];
        next_unit = i + 1;
        total = n.checked_mul(mult).and_then(|v| total.checked_add(v)).ok_or(DurationError::OutOfRange)?;
    }
    Ok(total)
}

/// Formats milliseconds like `model.Duration.String()` (`5m`, `1h30m`, `0s`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut ms = ms;
    let mut out = String::new();
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        // Years and weeks only when exact, as Prometheus does.
        if i < 2 && ms % mult != 0 {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

/// Formats milliseconds like Go's `time.Duration.String()` (`5m0s`, `1h0m0s`, `1.5s`).
pub fn format_go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let h = ms / 3_600_000;
    let m = (ms / 60_000) % 60;
    let s = (ms % 60_000) as f64 / 1000.0;
    let secs = if s.fract() == 0.0 { format!("{}", s as u64) } else { format!("{s}") };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("10s"), Ok(10_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_duration("1w"), Ok(604_800_000));
        assert_eq!(parse_duration("1y"), Ok(31_536_000_000));
        assert_eq!(parse_duration("1m500ms"), Ok(60_500));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn refuses_bad_durations() {
        assert_eq!(parse_duration("").map_err(|e| e.to_string()), Err("empty duration string".into()));
        for bad in ["5", "m", "5x", "1m1h", "1.5m", "5m5m", "-5m", "5 m"] {
            assert_eq!(
                parse_duration(bad).map_err(|e| e.to_string()),
                Err(format!("not a valid duration string: {bad:?}")),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_like_prometheus_and_go() {
        assert_eq!(format_duration(300_000), "5m");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(8 * 86_400_000), "8d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_go_duration(300_000), "5m0s");
        assert_eq!(format_go_duration(3_600_000), "1h0m0s");
        assert_eq!(format_go_duration(1500), "1.5s");
    }
}

/// A Prometheus duration in a config file (rule files, the pipeline file,
/// `alertmanager.yml`), checked while deserializing so a bad value is reported at its
/// `FILE:LINE:COL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub std::time::Duration);

impl PromDuration {
    /// Parses `5m`, `1h30m`, `100ms`, `0` with Prometheus's rules and messages.
    pub fn parse(s: &str) -> Result<PromDuration, DurationError> {
        parse_duration(s).map(|ms| PromDuration(std::time::Duration::from_millis(ms as u64)))
    }

    /// Milliseconds.
    pub fn ms(self) -> i64 {
        self.0.as_millis() as i64
    }

    /// As a std duration.
    pub fn std(self) -> std::time::Duration {
        self.0
    }
}

impl std::fmt::Display for PromDuration {
    /// Like `model.Duration.String()`: `5m`, `1h30m`, `0s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_duration(self.ms()))
    }
}

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}
