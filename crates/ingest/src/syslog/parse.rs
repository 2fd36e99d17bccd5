//! One syslog message → one OTLP log record: RFC 5424 (with structured data), RFC 3164
//! (`Mmm dd hh:mm:ss`, and rsyslog's RFC 3339 timestamp in its place). A message that
//! is neither still becomes a record: its raw text as the body and a `syslog.error`
//! attribute saying what was wrong.

use chrono::{Datelike, TimeZone, Utc};
use lookout_event::otlp::common::v1::{AnyValue, KeyValue, KeyValueList, any_value::Value};
use lookout_event::otlp::logs::v1::LogRecord;

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Syslog severities 0..=7 → (name, OTel severity number).
const SEVERITIES: [(&str, i32); 8] = [
    ("emerg", 21),
    ("alert", 19),
    ("crit", 18),
    ("err", 17),
    ("warning", 13),
    ("notice", 10),
    ("info", 9),
    ("debug", 5),
];

/// Parses `raw` (one message, framing removed) received at `now` (unix ns).
pub fn parse(raw: &[u8], now: u64) -> LogRecord {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    let mut record = LogRecord { time_unix_nano: now, observed_time_unix_nano: now, ..Default::default() };
    if let Err(error) = parse_into(text, now, &mut record) {
        record = LogRecord { time_unix_nano: now, observed_time_unix_nano: now, ..Default::default() };
        record.body = Some(string(text));
        record.attributes.push(kv("syslog.error", string(&error)));
    }
    record
}

fn parse_into(text: &str, now: u64, record: &mut LogRecord) -> Result<(), String> {
    let rest = text.strip_prefix('<').ok_or("no <PRI> at the start")?;
    let end = rest.find('>').filter(|&e| (1..=3).contains(&e)).ok_or("no <PRI> at the start")?;
    let pri: u8 = rest[..end].parse().ok().filter(|p| *p <= 191).ok_or("<PRI> is not 0..191")?;
    let rest = &rest[end + 1..];
    let (facility, severity) = (pri >> 3, pri & 7);
    let (name, number) = SEVERITIES[severity as usize];
    record.severity_text = name.to_string();
    record.severity_number = number;
    record.attributes.push(kv("syslog.facility", string(FACILITIES[facility as usize])));
    record.attributes.push(kv("syslog.severity", int(severity as i64)));
    match rest.strip_prefix("1 ") {
        Some(rfc5424) => parse_5424(rfc5424, record),
        None => {
            parse_3164(rest, now, record);
            Ok(())
        }
    }
}

/// `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]` (after `<PRI>1 `).
fn parse_5424(text: &str, record: &mut LogRecord) -> Result<(), String> {
    let mut rest = text;
    let mut header = Vec::with_capacity(5);
    for field in ["TIMESTAMP", "HOSTNAME", "APP-NAME", "PROCID", "MSGID"] {
        let (value, after) = rest.split_once(' ').ok_or_else(|| format!("RFC 5424 header ends before {field}"))?;
        if value.is_empty() {
            return Err(format!("RFC 5424 {field} is empty"));
        }
        header.push(value);
        rest = after;
    }
    if header[0] != "-" {
        let t = chrono::DateTime::parse_from_rfc3339(header[0])
            .map_err(|e| format!("RFC 5424 TIMESTAMP {:?}: {e}", header[0]))?;
        record.time_unix_nano = t.timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
    }
    for (key, value) in [
        ("syslog.hostname", header[1]),
        ("syslog.appname", header[2]),
        ("syslog.procid", header[3]),
        ("syslog.msgid", header[4]),
    ] {
        if value != "-" {
            record.attributes.push(kv(key, string(value)));
        }
    }
    let (sd, message) = structured_data(rest)?;
    if !sd.is_empty() {
        record.attributes.push(kv(
            "syslog.structured_data",
            AnyValue { value: Some(Value::KvlistValue(KeyValueList { values: sd })) },
        ));
    }
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    record.body = Some(string(message));
    Ok(())
}

/// `-` or `[id param="value" …]…`, then an optional ` MSG`; elements become
/// `{id: {param: value}}`.
fn structured_data(text: &str) -> Result<(Vec<KeyValue>, &str), String> {
    if let Some(rest) = text.strip_prefix('-') {
        return Ok((Vec::new(), rest.strip_prefix(' ').unwrap_or(rest)));
    }
    let mut elements = Vec::new();
    let mut rest = text;
    if !rest.starts_with('[') {
        return Err("RFC 5424 STRUCTURED-DATA must be `-` or start with `[`".into());
    }
    while let Some(inner) = rest.strip_prefix('[') {
        let id_end = inner.find([' ', ']']).ok_or("unterminated SD-ELEMENT")?;
        let id = &inner[..id_end];
        if id.is_empty() {
            return Err("empty SD-ID".into());
        }
        let mut params = Vec::new();
        let mut p = &inner[id_end..];
        loop {
            if let Some(after) = p.strip_prefix(']') {
                rest = after;
                break;
            }
            let q = p.strip_prefix(' ').ok_or("expected a space or `]` in an SD-ELEMENT")?;
            let (name, after) = q.split_once("=\"").ok_or("SD-PARAM without =\"value\"")?;
            let (value, after) = quoted(after).ok_or("unterminated SD-PARAM value")?;
            params.push(kv(name, string(&value)));
            p = after;
        }
        elements.push(kv(id, AnyValue { value: Some(Value::KvlistValue(KeyValueList { values: params })) }));
    }
    Ok((elements, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// A PARAM-VALUE up to its closing `"`, with `\"`, `\\` and `\]` unescaped.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                Some((_, e)) => {
                    value.push('\\');
                    value.push(e);
                }
                None => return None,
            },
            c => value.push(c),
        }
    }
    None
}

/// `Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`, or an RFC 3339 timestamp in the same
/// place (rsyslog). Whatever does not fit is the message: RFC 3164 §4.3.3 takes any
/// text after `<PRI>` as a message.
fn parse_3164(text: &str, now: u64, record: &mut LogRecord) {
    let (time, rest) = match bsd_timestamp(text, now) {
        Some(found) => found,
        None => {
            match text.split_once(' ').and_then(|(t, r)| Some((chrono::DateTime::parse_from_rfc3339(t).ok()?, r))) {
                Some((t, r)) => (t.timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).unwrap_or(now), r),
                None => {
                    record.body = Some(string(text));
                    return;
                }
            }
        }
    };
    record.time_unix_nano = time;
    let Some((host, rest)) = rest.split_once(' ') else {
        record.body = Some(string(rest));
        return;
    };
    record.attributes.push(kv("syslog.hostname", string(host)));
    let tag_end = rest.find([':', '[', ' ']).unwrap_or(rest.len());
    let after_tag = &rest[tag_end..];
    let message = if tag_end > 0 && (after_tag.starts_with(':') || after_tag.starts_with('[')) {
        record.attributes.push(kv("syslog.appname", string(&rest[..tag_end])));
        let mut after = after_tag;
        if let Some(pid) = after.strip_prefix('[').and_then(|a| a.split_once(']')) {
            record.attributes.push(kv("syslog.procid", string(pid.0)));
            after = pid.1;
        }
        let after = after.strip_prefix(':').unwrap_or(after);
        after.strip_prefix(' ').unwrap_or(after)
    } else {
        rest
    };
    record.body = Some(string(message));
}

/// `Mmm dd hh:mm:ss ` (day space-padded or not) in UTC; the year is the current one,
/// or the last if that would put the time more than a day ahead (December's lines
/// read in January).
fn bsd_timestamp(text: &str, now: u64) -> Option<(u64, &str)> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| text.starts_with(m))? as u32 + 1;
    let rest = text.get(3..)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let (day, rest) = rest.split_once(' ')?;
    let (clock, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let day: u32 = day.parse().ok()?;
    let mut hms = clock.splitn(3, ':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let now_utc = Utc.timestamp_nanos(now as i64);
    let at = |year| Utc.with_ymd_and_hms(year, month, day, h, m, s).single();
    let mut t = at(now_utc.year())?;
    if t > now_utc + chrono::Duration::days(1) {
        t = at(now_utc.year() - 1)?;
    }
    Some((u64::try_from(t.timestamp_nanos_opt()?).ok()?, rest))
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(value), ..Default::default() }
}

fn string(s: &str) -> AnyValue {
    AnyValue { value: Some(Value::StringValue(s.to_string())) }
}

fn int(i: i64) -> AnyValue {
    AnyValue { value: Some(Value::IntValue(i)) }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
