//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP date.

use std::time::{Duration, SystemTime};

/// The wait a `Retry-After` value asks for, read at the current time. `None` when the
/// value is neither form.
pub fn parse(value: &str) -> Option<Duration> {
    parse_at(value, SystemTime::now())
}

/// The wait a `Retry-After` value asks for, seen at `now`: delta-seconds as they are,
/// an HTTP date as the time left until it (zero when it has passed).
pub fn parse_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // RFC 2822 covers the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`).
    let when: SystemTime = chrono::DateTime::parse_from_rfc2822(value).ok()?.into();
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds() {
        assert_eq!(parse("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse("0"), Some(Duration::ZERO));
    }

    #[test]
    fn http_dates() {
        // 1994-11-06T08:49:37Z
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let v = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(parse_at(v, date - Duration::from_secs(30)), Some(Duration::from_secs(30)));
        assert_eq!(parse_at(v, date + Duration::from_secs(30)), Some(Duration::ZERO), "past dates wait nothing");
        assert_eq!(parse(v), Some(Duration::ZERO));
    }

    #[test]
    fn garbage() {
        for v in ["soon", "", "-5", "1.5", "Sun, 06 Nov"] {
            assert_eq!(parse(v), None, "{v:?}");
        }
    }
}
