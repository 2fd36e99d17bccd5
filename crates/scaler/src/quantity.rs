//! Kubernetes resource quantities (`500m`, `1k`, `2Gi`, `1e3`, `1000`), so `averageValue` and
//! `value` targets pasted from an HPA spec mean what they meant there.
//!
//! The HPA compares milli-values (`Quantity.MilliValue()`, an `int64`), so a quantity is kept as
//! an integer count of thousandths; query results are converted the same way before the ratio is
//! taken, which makes the float arithmetic (and the 0.1 tolerance boundary) identical to the
//! controller's.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Text that is not a Kubernetes quantity (or one out of range); holds the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity `{0}`: expected a number with an optional suffix such as 500m, 2k or 1Gi")]
pub struct QuantityError(pub String);

/// A quantity in thousandths (`"500m"` is 500, `2` is 2000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(pub i64);

impl Quantity {
    /// Parses Kubernetes quantity syntax: a decimal number with an optional decimal SI suffix
    /// (`m`, `k`, `M`, `G`, `T`, `P`, `E`), binary suffix (`Ki` … `Ei`) or exponent (`e3`).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let s = s.trim();
        let bad = || QuantityError(s.to_string());
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let factor: f64 = match suffix {
            "" => 1.0,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 1024.0,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            e if e.starts_with(['e', 'E']) => {
                let exp: i32 = e[1..].parse().map_err(|_| bad())?;
                10f64.powi(exp)
            }
            _ => return Err(bad()),
        };
        Quantity::from_f64(value * factor).ok_or_else(bad)
    }

    /// The milli-value of a plain number, rounded up like `Quantity.MilliValue()`; `None` when not finite
    /// or out of range.
    pub fn from_f64(v: f64) -> Option<Quantity> {
        // A float from a query stands for a decimal: snap binary noise (8.6 * 1000 = 8599.999…) to
        // the nearest milli before rounding up.
        let m = v * 1000.0;
        let r = m.round();
        let milli = if (m - r).abs() <= 1e-9 * r.abs().max(1.0) { r } else { m.ceil() };
        if !milli.is_finite() || milli.abs() >= i64::MAX as f64 {
            return None;
        }
        Some(Quantity(milli as i64))
    }

    /// The value as a float (`500m` is 0.5).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 { write!(f, "{}", self.0 / 1000) } else { write!(f, "{}m", self.0) }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a quantity such as 500m or 2k")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Quantity::from_f64(v as f64).ok_or_else(|| E::custom("quantity out of range"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Quantity::from_f64(v as f64).ok_or_else(|| E::custom("quantity out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Quantity::from_f64(v).ok_or_else(|| E::custom("quantity out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubernetes_suffixes() {
        assert_eq!(Quantity::parse("500m").unwrap(), Quantity(500));
        assert_eq!(Quantity::parse("1000").unwrap(), Quantity(1_000_000));
        assert_eq!(Quantity::parse("1.5k").unwrap(), Quantity(1_500_000));
        assert_eq!(Quantity::parse("1Ki").unwrap(), Quantity(1_024_000));
        assert_eq!(Quantity::parse("2e3").unwrap(), Quantity(2_000_000));
        assert_eq!(Quantity::parse("0.0001").unwrap(), Quantity(1), "milli-values round up");
        assert!(Quantity::parse("12 apples").is_err());
        assert!(Quantity::parse("").is_err());
        assert_eq!(Quantity(1500).to_string(), "1500m");
        assert_eq!(Quantity(2000).to_string(), "2");
    }
}
