//! Joins the lines of one record (a stack trace after its first line) by a start
//! pattern, and bounds every record to `max_line_bytes`.
//!
//! A line matching the pattern starts a record; other lines are appended to the
//! current one. A record is complete when the next one starts or when no line came for
//! `timeout`. Without a pattern every line is a record.

use std::time::{Duration, Instant};

use regex::bytes::Regex;

/// One complete record read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The text, lines joined by `\n`, at most `max_line_bytes`.
    pub text: Vec<u8>,
    /// The file offset just past its last line: where reading resumes once it is delivered.
    pub end: u64,
    /// Longer than `max_line_bytes` and cut.
    pub truncated: bool,
}

/// Groups lines into records.
#[derive(Debug, Clone)]
pub struct Merger {
    start: Option<Regex>,
    timeout: Duration,
    max_bytes: usize,
    open: Option<(Entry, Instant)>,
}

impl Merger {
    /// Every line a record when `start` is `None`.
    pub fn new(start: Option<Regex>, timeout: Duration, max_bytes: usize) -> Merger {
        Merger { start, timeout, max_bytes, open: None }
    }

    /// Adds one line (without its newline) that ends at `end`; returns a record if one completed.
    pub fn push(&mut self, line: &[u8], end: u64, truncated: bool, now: Instant) -> Option<Entry> {
        let Some(start) = &self.start else {
            return Some(Entry { text: line.to_vec(), end, truncated });
        };
        if let Some((entry, last)) = self.open.as_mut().filter(|_| !start.is_match(line)) {
            let room = self.max_bytes.saturating_sub(entry.text.len());
            if room > 0 {
                entry.text.push(b'\n');
                let take = line.len().min(room - 1);
                entry.text.extend_from_slice(&line[..take]);
                entry.truncated |= take < line.len();
            } else {
                entry.truncated = true;
            }
            entry.truncated |= truncated;
            entry.end = end;
            *last = now;
            return None;
        }
        let done = self.open.take().map(|(e, _)| e);
        self.open = Some((Entry { text: line.to_vec(), end, truncated }, now));
        done
    }

    /// The open record if no line came for `timeout`.
    pub fn due(&mut self, now: Instant) -> Option<Entry> {
        match &self.open {
            Some((_, last)) if now.duration_since(*last) >= self.timeout => self.flush(),
            _ => None,
        }
    }

    /// The open record, whatever its age (the file is gone).
    pub fn flush(&mut self) -> Option<Entry> {
        self.open.take().map(|(e, _)| e)
    }

    /// Forgets the open record (the file was truncated: it is read again from 0).
    pub fn reset(&mut self) {
        self.open = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(entries: &[Entry]) -> Vec<String> {
        entries.iter().map(|e| String::from_utf8_lossy(&e.text).into_owned()).collect()
    }

    #[test]
    fn stack_trace_lines_join_their_first_line() {
        let t0 = Instant::now();
        let mut m = Merger::new(Some(Regex::new(r"^\d{4}-").unwrap()), Duration::from_millis(1000), 1024);
        let lines = ["2024-01-01 boom", "  at a()", "  at b()", "2024-01-01 ok", "2024-01-02 next", "\tat c()"];
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            out.extend(m.push(l.as_bytes(), (i as u64 + 1) * 10, false, t0));
        }
        assert_eq!(texts(&out), ["2024-01-01 boom\n  at a()\n  at b()", "2024-01-01 ok"]);
        assert_eq!(out[0].end, 30);
        assert_eq!(out[1].end, 40);
        // The last record waits for its timeout.
        assert!(m.due(t0 + Duration::from_millis(999)).is_none());
        let last = m.due(t0 + Duration::from_millis(1000)).unwrap();
        assert_eq!(texts(std::slice::from_ref(&last)), ["2024-01-02 next\n\tat c()"]);
        assert_eq!(last.end, 60);
        assert!(m.flush().is_none());
    }

    #[test]
    fn a_merged_record_is_cut_at_max_bytes_and_flagged() {
        let t0 = Instant::now();
        let mut m = Merger::new(Some(Regex::new("^S").unwrap()), Duration::from_secs(1), 10);
        assert!(m.push(b"S12345", 7, false, t0).is_none());
        assert!(m.push(b"abcdef", 14, false, t0).is_none());
        assert!(m.push(b"more", 19, false, t0).is_none());
        let e = m.push(b"S2", 22, false, t0).unwrap();
        assert_eq!(e.text, b"S12345\nabc");
        assert!(e.truncated);
        assert_eq!(e.end, 19);
        assert!(!m.flush().unwrap().truncated);
    }

    #[test]
    fn without_a_pattern_every_line_is_a_record() {
        let mut m = Merger::new(None, Duration::from_secs(1), 10);
        let e = m.push(b"  indented", 11, true, Instant::now()).unwrap();
        assert_eq!((e.text.as_slice(), e.end, e.truncated), (&b"  indented"[..], 11, true));
        assert!(m.flush().is_none());
    }
}
