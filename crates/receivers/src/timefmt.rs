//! Timestamps printed the way Go prints them, because receivers (and people comparing
//! payloads with Alertmanager's) see Go's formats: JSON uses RFC 3339 with trailing zeros
//! of the fraction trimmed, templates print `time.Time.String()`.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Go's zero `time.Time` in JSON: what Alertmanager sends as `endsAt` of a firing alert.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn trimmed_fraction(nanos: u32) -> String {
    if nanos == 0 {
        return String::new();
    }
    let s = format!(".{nanos:09}");
    s.trim_end_matches('0').to_string()
}

/// `time.RFC3339Nano` in UTC; `None` is Go's zero time.
pub fn rfc3339_nano(t: Option<DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return GO_ZERO_TIME.to_string();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        trimmed_fraction(t.nanosecond())
    )
}

/// `time.Time.String()` for a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`;
/// `None` is Go's zero time (`0001-01-01 00:00:00 +0000 UTC`).
pub fn go_string(t: Option<DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{} +0000 UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        trimmed_fraction(t.nanosecond())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_trimmed_like_go() {
        let t = DateTime::from_timestamp(1_700_000_000, 120_000_000).unwrap();
        assert_eq!(rfc3339_nano(Some(t)), "2023-11-14T22:13:20.12Z");
        assert_eq!(go_string(Some(t)), "2023-11-14 22:13:20.12 +0000 UTC");
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(rfc3339_nano(Some(t)), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_nano(None), GO_ZERO_TIME);
    }
}
