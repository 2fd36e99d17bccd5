//! Schedules: cron windows (with a time zone) that replace a scaler's min and/or max.
//!
//! A window opens at each occurrence of `start` and closes at the next occurrence of `end`
//! (the shape of KEDA's cron scaler: `start`, `end`, `timezone`). At a time `t` the window is open
//! when the latest `start` at or before `t` is later than the latest `end` at or before `t`.
//! Occurrences are computed in the schedule's zone, so `0 8 * * 1-5` in `Europe/Berlin` follows
//! daylight-saving changes.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its name (for reasons).
    pub name: String,
    /// Opens the window.
    pub start: Cron,
    /// Closes the window.
    pub end: Cron,
    /// Zone the cron fields are read in.
    pub timezone: Tz,
    /// minReplicas while open.
    pub min_replicas: Option<i32>,
    /// maxReplicas while open.
    pub max_replicas: Option<i32>,
}

/// A schedule field that does not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// `start` or `end` is not a cron expression.
    #[error("invalid cron expression `{expr}`: {source}")]
    Cron {
        /// The expression.
        expr: String,
        /// Why croner refused it.
        #[source]
        source: croner::errors::CronError,
    },
    /// `timezone` is not an IANA zone name; holds the name.
    #[error("unknown time zone `{0}` (expected an IANA name such as Europe/Berlin)")]
    Timezone(String),
}

/// Parses a 5-field (or 6-field, with seconds) cron expression.
pub fn parse_cron(expr: &str) -> Result<Cron, ScheduleError> {
    Cron::from_str(expr).map_err(|source| ScheduleError::Cron { expr: expr.to_string(), source })
}

/// Parses an IANA zone name (`UTC`, `Europe/Berlin`).
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    Tz::from_str(name).map_err(|_| ScheduleError::Timezone(name.to_string()))
}

impl Schedule {
    /// Whether the window is open at `now_ms` (unix ms).
    pub fn is_active(&self, now_ms: i64) -> bool {
        let Some(now) = Utc.timestamp_millis_opt(now_ms).single() else { return false };
        let now = now.with_timezone(&self.timezone);
        let Ok(start) = self.start.find_previous_occurrence(&now, true) else { return false };
        match self.end.find_previous_occurrence(&now, true) {
            Ok(end) => end < start,
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn weekday_business_hours_in_a_zone() {
        let s = Schedule {
            name: "office".into(),
            start: parse_cron("0 8 * * 1-5").unwrap(),
            end: parse_cron("0 18 * * 1-5").unwrap(),
            timezone: parse_timezone("Europe/Berlin").unwrap(),
            min_replicas: Some(4),
            max_replicas: None,
        };
        // 2026-12-01 is a Tuesday; Berlin is UTC+1 in winter.
        assert!(!s.is_active(at("2026-12-01T06:59:00Z")));
        assert!(s.is_active(at("2026-12-01T07:00:00Z")), "08:00 Berlin opens");
        assert!(s.is_active(at("2026-12-01T16:59:59Z")));
        assert!(!s.is_active(at("2026-12-01T17:00:00Z")), "18:00 Berlin closes");
        // Saturday.
        assert!(!s.is_active(at("2026-12-05T10:00:00Z")));
        // Summer time: UTC+2.
        assert!(s.is_active(at("2026-07-01T06:00:00Z")));
        assert!(!s.is_active(at("2026-07-01T05:59:00Z")));
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_timezone("Mars/Olympus").is_err());
    }
}
