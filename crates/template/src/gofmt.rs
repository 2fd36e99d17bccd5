//! Go's number formatting (`%v`, `%.4g`, `%.2f`, `%e`) and Prometheus's `humanize*`
//! template functions, with output identical to Prometheus's `template/template.go`.

/// Decimal digits (no leading/trailing zeros) and the decimal point position, like
/// strconv's `decimalSlice`: value = 0.DIGITS × 10^dp.
fn digits(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mant, exp) = s.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let mut d: String = mant.chars().filter(|c| *c != '.').collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    if d == "0" {
        return (d, 1);
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf".into() } else { "-Inf".into() })
    } else {
        None
    }
}

/// Go's `%g` with an optional precision (`None` = shortest, as `%v` prints floats).
pub fn fmt_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (d, dp) = digits(v, prec);
    let sign = if v.is_sign_negative() && v != 0.0 || (v == 0.0 && v.is_sign_negative()) { "-" } else { "" };
    let exp = dp - 1;
    let eprec = match prec {
        None => 6,
        Some(p) => p.max(1) as i32,
    };
    if d == "0" {
        return format!("{sign}0");
    }
    if exp < -4 || exp >= eprec {
        let mut m = d[..1].to_string();
        if d.len() > 1 {
            m.push('.');
            m.push_str(&d[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    // Fixed notation with exactly the significant digits.
    let out = if dp <= 0 {
        format!("0.{}{}", "0".repeat((-dp) as usize), d)
    } else if (dp as usize) >= d.len() {
        format!("{}{}", d, "0".repeat(dp as usize - d.len()))
    } else {
        format!("{}.{}", &d[..dp as usize], &d[dp as usize..])
    };
    format!("{sign}{out}")
}

/// Go's `%.Nf`.
pub fn fmt_f(v: f64, prec: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.prec$}"))
}

/// Go's `%.Ne` (`1.50e+03`).
pub fn fmt_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let s = format!("{v:.prec$e}");
    let (m, e) = s.split_once('e').expect("exponent form");
    let e: i32 = e.parse().expect("exponent");
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// `strconv.FormatFloat(v, 'E', -1, 64)` (how promtool prints sample values).
pub fn fmt_big_e(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (d, dp) = digits(v, None);
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let mut m = d[..1].to_string();
    if d.len() > 1 {
        m.push('.');
        m.push_str(&d[1..]);
    }
    let exp = if d == "0" { 0 } else { dp - 1 };
    format!("{sign}{m}E{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", fmt_g(v, Some(4)));
    }
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// `humanize1024`: binary prefixes.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// Go's `int64(f)` on amd64: out-of-range values become `MinInt64` (Rust's `as` saturates).
fn go_int64(v: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // NaN is outside every range too.
    if !(-TWO_63..TWO_63).contains(&v) { i64::MIN } else { v as i64 }
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.5s`, `150ms`.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = go_int64(v);
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", fmt_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, Some(4)))
}

/// `humanizePercentage`: a ratio as a percentage.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", fmt_g(v * 100.0, Some(4)))
}

/// `humanizeTimestamp`: Unix seconds as Go prints a UTC `time.Time`
/// (`2006-01-02 15:04:05.999 +0000 UTC`), millisecond precision as Prometheus.
pub fn humanize_timestamp(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    let nanos = (v * 1e9) as i64;
    let ms = nanos / 1_000_000;
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return fmt_g(v, Some(4));
    };
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = ms.rem_euclid(1000);
    if frac != 0 {
        let f = format!(".{frac:03}");
        out.push_str(f.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_formatting() {
        assert_eq!(fmt_g(1e6, None), "1e+06");
        assert_eq!(fmt_g(123456.0, None), "123456");
        assert_eq!(fmt_g(1234567.0, None), "1.234567e+06");
        assert_eq!(fmt_g(0.1, None), "0.1");
        assert_eq!(fmt_g(0.0001, None), "0.0001");
        assert_eq!(fmt_g(0.00001, None), "1e-05");
        assert_eq!(fmt_g(3.0, None), "3");
        assert_eq!(fmt_g(-2.5, None), "-2.5");
        assert_eq!(fmt_g(0.0, None), "0");
        assert_eq!(fmt_g(1234.5, Some(4)), "1234");
        assert_eq!(fmt_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(fmt_g(100.0, Some(4)), "100");
        assert_eq!(fmt_g(f64::INFINITY, Some(4)), "+Inf");
        assert_eq!(fmt_g(f64::NAN, None), "NaN");
        assert_eq!(fmt_f(2.0 / 3.0, 2), "0.67");
        assert_eq!(fmt_e(1500.0, 2), "1.50e+03");
        assert_eq!(fmt_big_e(0.5), "5E-01");
        assert_eq!(fmt_big_e(10.0), "1E+01");
        assert_eq!(fmt_big_e(1.25), "1.25E+00");
        assert_eq!(fmt_big_e(0.0), "0E+00");
    }

    #[test]
    fn humanize_like_prometheus() {
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(12.0), "12");
        assert_eq!(humanize(0.001234), "1.234m");
        assert_eq!(humanize(-1500.0), "-1.5k");
        assert_eq!(humanize1024(1024.0), "1ki");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize1024(1_073_741_824.0 * 1.5), "1.5Gi");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(90.0), "1m 30s");
        assert_eq!(humanize_duration(3661.0), "1h 1m 1s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(-90.0), "-1m 30s");
        // Go's int64 conversion of an out-of-range float (what Prometheus prints).
        assert_eq!(humanize_duration(1e300), "-106751991167300d -15h -30m -8s");
        assert_eq!(humanize_percentage(0.0523), "5.23%");
        assert_eq!(humanize_percentage(1.0 / 3.0), "33.33%");
        assert_eq!(humanize_timestamp(1.5), "1970-01-01 00:00:01.5 +0000 UTC");
        assert_eq!(humanize_timestamp(1_700_000_000.0), "2023-11-14 22:13:20 +0000 UTC");
    }
}
