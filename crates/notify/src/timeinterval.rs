//! Time intervals (`timeinterval`): named sets of times of day, weekdays, days of month,
//! months and years in a location, used by `mute_time_intervals` and `active_time_intervals`.

use chrono::{DateTime, Datelike, Local, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Deserializer};

/// An inclusive integer range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First value.
    pub begin: i32,
    /// Last value (inclusive).
    pub end: i32,
}

/// A time-of-day range in minutes since midnight, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start minute.
    pub start_minute: u32,
    /// End minute (exclusive).
    pub end_minute: u32,
}

/// Where the interval's calendar is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Location {
    /// UTC (the default).
    #[default]
    Utc,
    /// The process's local time zone.
    Local,
    /// An IANA zone.
    Tz(chrono_tz::Tz),
}

/// One interval: every set field must contain the instant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    /// `times`: `start_time`/`end_time` as `HH:MM`.
    #[serde(default, deserialize_with = "de_times")]
    pub times: Option<Vec<TimeRange>>,
    /// `weekdays`: `monday:friday`, `sunday`.
    #[serde(default, deserialize_with = "de_weekdays")]
    pub weekdays: Option<Vec<Range>>,
    /// `days_of_month`: `1:5`, `-3:-1` (from the end of the month).
    #[serde(default, deserialize_with = "de_days")]
    pub days_of_month: Option<Vec<Range>>,
    /// `months`: `january:march`, `1:3`.
    #[serde(default, deserialize_with = "de_months")]
    pub months: Option<Vec<Range>>,
    /// `years`: `2020:2022`.
    #[serde(default, deserialize_with = "de_years")]
    pub years: Option<Vec<Range>>,
    /// `location`: `UTC`, `Local` or an IANA name.
    #[serde(default, deserialize_with = "de_location")]
    pub location: Location,
}

/// `time_intervals:` / `mute_time_intervals:` entries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    /// The name routes refer to.
    pub name: String,
    /// Matches when any of these does.
    #[serde(default)]
    pub time_intervals: Vec<TimeInterval>,
}

struct Fields {
    minute_of_day: u32,
    day: i32,
    days_in_month: i32,
    month: i32,
    weekday: i32,
    year: i32,
}

fn fields_in<Tz: chrono::TimeZone>(t: DateTime<Tz>) -> Fields {
    let (y, m) = (t.year(), t.month());
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default();
    let next = if m == 12 { NaiveDate::from_ymd_opt(y + 1, 1, 1) } else { NaiveDate::from_ymd_opt(y, m + 1, 1) };
    let days_in_month = next.map(|n| (n - first).num_days() as i32).unwrap_or(31);
    Fields {
        minute_of_day: t.hour() * 60 + t.minute(),
        day: t.day() as i32,
        days_in_month,
        month: m as i32,
        weekday: t.weekday().num_days_from_sunday() as i32,
        year: y,
    }
}

impl TimeInterval {
    /// Whether the instant falls inside this interval.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let f = match self.location {
            Location::Utc => fields_in(t),
            Location::Local => fields_in(t.with_timezone(&Local)),
            Location::Tz(tz) => fields_in(t.with_timezone(&tz)),
        };
        if let Some(times) = &self.times
            && !times.iter().any(|r| f.minute_of_day >= r.start_minute && f.minute_of_day < r.end_minute)
        {
            return false;
        }
        if let Some(days) = &self.days_of_month {
            let dim = f.days_in_month;
            let hit = days.iter().any(|r| {
                let begin = if r.begin < 0 { dim + r.begin + 1 } else { r.begin };
                let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                // A range starting after the end of this month does not wrap into the next.
                if begin > dim {
                    return false;
                }
                let (begin, end) = (begin.clamp(-dim, dim), end.clamp(-dim, dim));
                f.day >= begin && f.day <= end
            });
            if !hit {
                return false;
            }
        }
        let within = |rs: &Option<Vec<Range>>, v: i32| {
            rs.as_ref().is_none_or(|rs| rs.iter().any(|r| v >= r.begin && v <= r.end))
        };
        within(&self.months, f.month) && within(&self.weekdays, f.weekday) && within(&self.years, f.year)
    }
}

/// Whether `t` is inside any of the intervals.
pub fn any_contains(intervals: &[TimeInterval], t: DateTime<Utc>) -> bool {
    intervals.iter().any(|i| i.contains(t))
}

/// Why a `time_intervals` field does not load; displays as Alertmanager words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum FieldError {
    #[error("couldn't parse timestamp {0}, invalid format")]
    Timestamp(String),
    #[error("start time cannot be equal or greater than end time")]
    TimesOrder,
    #[error("{0} is not a valid weekday")]
    Weekday(String),
    #[error("start day cannot be before end day")]
    WeekdaysOrder,
    #[error("{0} is not a valid month")]
    Month(String),
    #[error("end month must be greater than start month")]
    MonthsOrder,
    #[error("{0} is not a valid day of month")]
    DayOfMonth(String),
    #[error("{0} is not a valid day of the month: out of range")]
    DayOutOfRange(i32),
    #[error("end day must be greater than start day")]
    DaysOrder,
    #[error("{0} is not a valid year")]
    Year(String),
    #[error("end year must be greater than start year")]
    YearsOrder,
}

fn parse_hhmm(s: &str) -> Result<u32, FieldError> {
    let bad = || FieldError::Timestamp(s.to_owned());
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    start_time: String,
    end_time: String,
}

fn de_times<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<TimeRange>>, D::Error> {
    let raw = Option::<Vec<RawTime>>::deserialize(d)?;
    raw.map(|v| {
        v.into_iter()
            .map(|t| {
                let start = parse_hhmm(&t.start_time)?;
                let end = parse_hhmm(&t.end_time)?;
                if start >= end {
                    return Err(FieldError::TimesOrder);
                }
                Ok(TimeRange { start_minute: start, end_minute: end })
            })
            .collect::<Result<Vec<_>, FieldError>>()
    })
    .transpose()
    .map_err(serde::de::Error::custom)
}

fn split_range(s: &str) -> (&str, &str) {
    match s.split_once(':') {
        Some((a, b)) => (a, b),
        None => (s, s),
    }
}

fn de_ranges<'de, D: Deserializer<'de>>(
    d: D,
    one: impl Fn(&str) -> Result<i32, FieldError>,
    check: impl Fn(Range) -> Result<(), FieldError>,
) -> Result<Option<Vec<Range>>, D::Error> {
    let raw = Option::<Vec<String>>::deserialize(d)?;
    raw.map(|v| {
        v.iter()
            .map(|s| {
                let (a, b) = split_range(s);
                let r = Range { begin: one(a)?, end: one(b)? };
                check(r)?;
                Ok(r)
            })
            .collect::<Result<Vec<_>, FieldError>>()
    })
    .transpose()
    .map_err(serde::de::Error::custom)
}

const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn de_weekdays<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Range>>, D::Error> {
    de_ranges(
        d,
        |s| {
            WEEKDAYS
                .iter()
                .position(|w| w.eq_ignore_ascii_case(s.trim()))
                .map(|i| i as i32)
                .ok_or_else(|| FieldError::Weekday(s.to_owned()))
        },
        |r| if r.begin > r.end { Err(FieldError::WeekdaysOrder) } else { Ok(()) },
    )
}

fn de_months<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Range>>, D::Error> {
    de_ranges(
        d,
        |s| {
            let s = s.trim();
            if let Ok(n) = s.parse::<i32>() {
                return if (1..=12).contains(&n) { Ok(n) } else { Err(FieldError::Month(n.to_string())) };
            }
            MONTHS
                .iter()
                .position(|m| m.eq_ignore_ascii_case(s))
                .map(|i| i as i32 + 1)
                .ok_or_else(|| FieldError::Month(s.to_owned()))
        },
        |r| if r.begin > r.end { Err(FieldError::MonthsOrder) } else { Ok(()) },
    )
}

fn de_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Range>>, D::Error> {
    de_ranges(
        d,
        |s| {
            let n: i32 = s.trim().parse().map_err(|_| FieldError::DayOfMonth(s.to_owned()))?;
            if n == 0 || !(-31..=31).contains(&n) {
                return Err(FieldError::DayOutOfRange(n));
            }
            Ok(n)
        },
        |r| {
            // Only ranges with both ends on the same side can be ordered at load.
            if (r.begin > 0) == (r.end > 0) && r.begin > r.end { Err(FieldError::DaysOrder) } else { Ok(()) }
        },
    )
}

fn de_years<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Range>>, D::Error> {
    de_ranges(
        d,
        |s| s.trim().parse::<i32>().map_err(|_| FieldError::Year(s.to_owned())),
        |r| if r.begin > r.end { Err(FieldError::YearsOrder) } else { Ok(()) },
    )
}

fn de_location<'de, D: Deserializer<'de>>(d: D) -> Result<Location, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "" | "UTC" => Ok(Location::Utc),
        "Local" => Ok(Location::Local),
        name => name
            .parse::<chrono_tz::Tz>()
            .map(Location::Tz)
            .map_err(|_| serde::de::Error::custom(format!("unknown time zone {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> TimeInterval {
        serde_saphyr::from_str(y).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekday_and_time_windows() {
        let ti = parse("times:\n- start_time: '09:00'\n  end_time: '17:00'\nweekdays: ['monday:friday']\n");
        assert!(ti.contains(at("2024-01-01T09:00:00Z"))); // a Monday
        assert!(!ti.contains(at("2024-01-01T17:00:00Z")));
        assert!(!ti.contains(at("2024-01-06T10:00:00Z"))); // Saturday
    }

    #[test]
    fn negative_days_months_years_and_zones() {
        let ti = parse("days_of_month: ['-1']\nmonths: ['february']\nyears: ['2024']\n");
        assert!(ti.contains(at("2024-02-29T12:00:00Z")));
        assert!(!ti.contains(at("2024-02-28T12:00:00Z")));
        assert!(!ti.contains(at("2023-02-28T12:00:00Z")));
        let tz = parse("times:\n- start_time: '00:00'\n  end_time: '01:00'\nlocation: Asia/Tokyo\n");
        assert!(tz.contains(at("2024-01-01T15:30:00Z")));
        assert!(!tz.contains(at("2024-01-01T00:30:00Z")));
    }

    #[test]
    fn unquoted_times_and_names_in_any_case() {
        let ti =
            parse("times:\n- start_time: 09:00\n  end_time: 17:30\nweekdays: [Saturday, 'SUNDAY']\nmonths: ['1:3']\n");
        assert_eq!(ti.times.as_ref().unwrap()[0], TimeRange { start_minute: 540, end_minute: 1050 });
        assert!(ti.contains(at("2024-01-06T17:29:00Z")));
        assert!(!ti.contains(at("2024-04-06T10:00:00Z")));
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            "weekdays: [funday]\n",
            "times:\n- start_time: '10:00'\n  end_time: '09:00'\n",
            "days_of_month: ['0']\n",
            "months: ['13']\n",
            "location: Mars/Base\n",
            "bogus: 1\n",
        ] {
            assert!(serde_saphyr::from_str::<TimeInterval>(bad).is_err(), "{bad}");
        }
    }
}
