//! Go's `time.Time.Format` reference-layout formatting (`2006-01-02T15:04:05Z07:00`), what
//! `{{ .StartsAt.Format "…" }}` and Alertmanager's `date` use.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike as _, Offset as _, Timelike as _};
use chrono_tz::Tz;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// The English month name (`time.Month.String()`).
pub(crate) fn month_name(t: &DateTime<Tz>) -> &'static str {
    MONTHS[t.month0() as usize]
}

/// The English weekday name (`time.Weekday.String()`).
pub(crate) fn weekday_name(t: &DateTime<Tz>) -> &'static str {
    DAYS[t.weekday().num_days_from_sunday() as usize]
}

/// Formats `t` with a Go reference layout.
pub(crate) fn format(t: &DateTime<Tz>, layout: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 10);
    let b = layout.as_bytes();
    let mut i = 0;
    // Copies layout text verbatim up to the next element, then writes the element.
    while i < b.len() {
        let rest = &layout[i..];
        let (len, elem) = match b[i] {
            b'J' if rest.starts_with("January") => (7, Elem::LongMonth),
            b'J' if rest.starts_with("Jan") => (3, Elem::Month),
            b'M' if rest.starts_with("Monday") => (6, Elem::LongWeekday),
            b'M' if rest.starts_with("Mon") => (3, Elem::Weekday),
            b'M' if rest.starts_with("MST") => (3, Elem::Zone),
            b'0' if rest.starts_with("002") => (3, Elem::ZeroYearDay),
            b'0' if rest.len() >= 2 && (b'1'..=b'6').contains(&b[i + 1]) => (2, Elem::Zero(b[i + 1])),
            b'1' if rest.starts_with("15") => (2, Elem::Hour),
            b'1' => (1, Elem::NumMonth),
            b'2' if rest.starts_with("2006") => (4, Elem::LongYear),
            b'2' => (1, Elem::Day),
            b'_' if rest.starts_with("__2") => (3, Elem::UnderYearDay),
            b'_' if rest.starts_with("_2006") => {
                out.push('_');
                (5, Elem::LongYear)
            }
            b'_' if rest.starts_with("_2") => (2, Elem::UnderDay),
            b'3' => (1, Elem::Hour12),
            b'4' => (1, Elem::Minute),
            b'5' => (1, Elem::Second),
            b'P' if rest.starts_with("PM") => (2, Elem::Pm(true)),
            b'p' if rest.starts_with("pm") => (2, Elem::Pm(false)),
            b'-' | b'Z' => match zone_elem(rest) {
                Some((n, colon, secs, hours_only)) => (n, Elem::Offset { z: b[i] == b'Z', colon, secs, hours_only }),
                None => (0, Elem::None),
            },
            b'.' | b',' if rest.len() >= 2 && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    (0, Elem::None)
                } else {
                    (j - i, Elem::Frac { digits: j - i - 1, trim: ch == b'9', sep: b[i] as char })
                }
            }
            _ => (0, Elem::None),
        };
        if len == 0 {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        write_elem(&mut out, t, elem);
        i += len;
    }
    out
}

/// `-0700`-style elements: (length, colon, seconds, hours only).
fn zone_elem(rest: &str) -> Option<(usize, bool, bool, bool)> {
    let body = &rest[1..];
    [
        ("070000", false, true, false),
        ("07:00:00", true, true, false),
        ("0700", false, false, false),
        ("07:00", true, false, false),
        ("07", false, false, true),
    ]
    .into_iter()
    .find(|(p, ..)| body.starts_with(p))
    .map(|(p, colon, secs, hours)| (p.len() + 1, colon, secs, hours))
}

enum Elem {
    None,
    LongMonth,
    Month,
    NumMonth,
    Zero(u8),
    LongWeekday,
    Weekday,
    Zone,
    ZeroYearDay,
    UnderYearDay,
    Hour,
    LongYear,
    Day,
    UnderDay,
    Hour12,
    Minute,
    Second,
    Pm(bool),
    Offset { z: bool, colon: bool, secs: bool, hours_only: bool },
    Frac { digits: usize, trim: bool, sep: char },
}

fn write_elem(out: &mut String, t: &DateTime<Tz>, elem: Elem) {
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let _ = match elem {
        Elem::None => Ok(()),
        Elem::LongMonth => write!(out, "{}", month_name(t)),
        Elem::Month => write!(out, "{}", &month_name(t)[..3]),
        Elem::NumMonth => write!(out, "{}", t.month()),
        Elem::Zero(b'1') => write!(out, "{:02}", t.month()),
        Elem::Zero(b'2') => write!(out, "{:02}", t.day()),
        Elem::Zero(b'3') => write!(out, "{hour12:02}"),
        Elem::Zero(b'4') => write!(out, "{:02}", t.minute()),
        Elem::Zero(b'5') => write!(out, "{:02}", t.second()),
        Elem::Zero(_) => write!(out, "{:02}", t.year().rem_euclid(100)),
        Elem::LongWeekday => write!(out, "{}", weekday_name(t)),
        Elem::Weekday => write!(out, "{}", &weekday_name(t)[..3]),
        Elem::Zone => write!(out, "{}", t.format("%Z")),
        Elem::ZeroYearDay => write!(out, "{:03}", t.ordinal()),
        Elem::UnderYearDay => write!(out, "{:>3}", t.ordinal()),
        Elem::Hour => write!(out, "{:02}", t.hour()),
        Elem::LongYear => write!(out, "{:04}", t.year()),
        Elem::Day => write!(out, "{}", t.day()),
        Elem::UnderDay => write!(out, "{:>2}", t.day()),
        Elem::Hour12 => write!(out, "{hour12}"),
        Elem::Minute => write!(out, "{}", t.minute()),
        Elem::Second => write!(out, "{}", t.second()),
        Elem::Pm(upper) => {
            let pm = t.hour() >= 12;
            out.push_str(match (pm, upper) {
                (true, true) => "PM",
                (false, true) => "AM",
                (true, false) => "pm",
                (false, false) => "am",
            });
            Ok(())
        }
        Elem::Offset { z, colon, secs, hours_only } => {
            let off = t.offset().fix().local_minus_utc();
            if z && off == 0 {
                out.push('Z');
                return;
            }
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            let _ = write!(out, "{sign}{:02}", a / 3600);
            if !hours_only {
                if colon {
                    out.push(':');
                }
                let _ = write!(out, "{:02}", (a / 60) % 60);
                if secs {
                    if colon {
                        out.push(':');
                    }
                    let _ = write!(out, "{:02}", a % 60);
                }
            }
            Ok(())
        }
        Elem::Frac { digits, trim, sep } => {
            let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let mut frac = &ns[..digits.min(9)];
            if trim {
                frac = frac.trim_end_matches('0');
                if frac.is_empty() {
                    return;
                }
            }
            out.push(sep);
            out.push_str(frac);
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn go_layouts() {
        // Go's reference time, Mon Jan 2 15:04:05 MST 2006, shown in two zones.
        let utc = Tz::UTC.with_ymd_and_hms(2006, 1, 2, 22, 4, 5).unwrap() + chrono::Duration::milliseconds(120);
        let denver = utc.with_timezone(&chrono_tz::America::Denver);
        let cases = [
            (&utc, "2006-01-02T15:04:05Z07:00", "2006-01-02T22:04:05Z"),
            (&denver, "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05-07:00"),
            (&denver, "Mon Jan _2 15:04:05 MST 2006", "Mon Jan  2 15:04:05 MST 2006"),
            (&denver, "Monday, January 2, 2006 3:04PM", "Monday, January 2, 2006 3:04PM"),
            (&utc, "15:04:05.000", "22:04:05.120"),
            (&utc, "15:04:05.999", "22:04:05.12"),
            (&utc, "2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02 22:04:05.12 +0000 UTC"),
            (&utc, "02/01/06 03:04 pm", "02/01/06 10:04 pm"),
            (&utc, "002 __2", "002   2"),
        ];
        for (t, layout, want) in cases {
            assert_eq!(format(t, layout), want, "{layout}");
        }
    }
}
