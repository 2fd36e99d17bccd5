//! Prometheus durations (`model.Duration`) as Alertmanager's config uses them: `1y2w3d4h5m6s7ms`,
//! each unit at most once and in that order, or `0`; `100ms` is as valid as `4h`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// A config duration, parsed with Prometheus's rules and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// Parses `5m`, `1h30m`, `100ms`, `0`.
    pub fn parse(s: &str) -> Result<PromDuration, String> {
        if s.is_empty() {
            return Err("empty duration string".to_string());
        }
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        let invalid = || format!("not a valid duration string: {s:?}");
        let mut rest = s;
        let mut next_unit = 0;
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            // "ms" must win over "m" at the same position.
            let unit = UNITS
                .iter()
                .enumerate()
                .skip(next_unit)
                .find(|(_, (u, _))| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")));
            let Some((i, (u, mult))) = unit else {
                return Err(invalid());
            };
            rest = &rest[u.len()..];
            next_unit = i + 1;
            total = n
                .checked_mul(*mult)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| "duration out of range".to_string())?;
        }
        Ok(PromDuration(Duration::from_millis(total)))
    }
}

impl fmt::Display for PromDuration {
    /// Formats like `model.Duration.String()`: `5m`, `1h30m`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (i, (unit, mult)) in UNITS.iter().enumerate() {
            // Years and weeks only when exact, as Prometheus does.
            if i < 2 && !ms.is_multiple_of(*mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{unit}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PromDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        for (s, ms) in [("0", 0), ("100ms", 100), ("5m", 300_000), ("1h30m", 5_400_000), ("1d", 86_400_000)] {
            let d = PromDuration::parse(s).unwrap();
            assert_eq!(d.0.as_millis() as u64, ms, "{s}");
        }
        assert_eq!(PromDuration::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(PromDuration::parse("0").unwrap().to_string(), "0s");
        assert_eq!(PromDuration::parse("5x").unwrap_err(), "not a valid duration string: \"5x\"");
        assert!(PromDuration::parse("5s1m").is_err());
        assert!(PromDuration::parse("").is_err());
    }
}
