//! CloudWatch Logs' request limits as pure functions: which events go in which
//! `PutLogEvents` call ([`plan`]) and which events it would refuse for their age
//! ([`age_verdict`]).

use std::collections::HashMap;

/// Events per `PutLogEvents` call at most.
pub const MAX_EVENTS: usize = 10_000;
/// Bytes per call at most, counted as every message's UTF-8 bytes plus [`OVERHEAD`].
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// What CloudWatch adds to each message's size.
pub const OVERHEAD: usize = 26;
/// The largest message one event can carry.
pub const MAX_EVENT_BYTES: usize = MAX_BATCH_BYTES - OVERHEAD;
/// The first and last event of a call must be less than this far apart. (AWS says a
/// call "cannot span more than 24 hours"; exactly 24 hours is split too, to be safe.)
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Events older than this are refused.
pub const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
/// Events further ahead than this are refused.
pub const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;

/// What planning needs to know of an event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Its (group, stream), as one string.
    pub route: &'a str,
    /// Its time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Its message's size.
    pub bytes: usize,
}

/// Groups `events` into calls: one (group, stream) per call, events sorted by
/// timestamp (ties keep their order), within [`MAX_EVENTS`], [`MAX_BATCH_BYTES`]
/// (with the [`OVERHEAD`]) and [`MAX_SPAN_MS`]. Returns indexes into `events`; every
/// index appears once. Routes come in the order they first appear.
pub fn plan(events: &[Event<'_>]) -> Vec<Vec<usize>> {
    let mut slot: HashMap<&str, usize> = HashMap::new();
    let mut routes: Vec<Vec<usize>> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let r = *slot.entry(e.route).or_insert_with(|| {
            routes.push(Vec::new());
            routes.len() - 1
        });
        routes[r].push(i);
    }
    let mut calls = Vec::new();
    for mut route in routes {
        route.sort_by_key(|&i| events[i].timestamp_ms);
        let mut current: Vec<usize> = Vec::new();
        let (mut bytes, mut first) = (0usize, 0i64);
        for i in route {
            let e = &events[i];
            let size = e.bytes + OVERHEAD;
            if !current.is_empty()
                && (current.len() >= MAX_EVENTS
                    || bytes + size > MAX_BATCH_BYTES
                    || e.timestamp_ms - first >= MAX_SPAN_MS)
            {
                calls.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                bytes = 0;
                first = e.timestamp_ms;
            }
            bytes += size;
            current.push(i);
        }
        if !current.is_empty() {
            calls.push(current);
        }
    }
    calls
}

/// Why CloudWatch would refuse an event of this age at `now_ms`, if it would.
pub fn age_verdict(timestamp_ms: i64, now_ms: i64) -> Option<&'static str> {
    if timestamp_ms < now_ms - MAX_AGE_MS {
        Some("older than 14 days")
    } else if timestamp_ms > now_ms + MAX_AHEAD_MS {
        Some("more than 2 hours in the future")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(route: &str, timestamp_ms: i64, bytes: usize) -> Event<'_> {
        Event { route, timestamp_ms, bytes }
    }

    fn sizes(calls: &[Vec<usize>]) -> Vec<usize> {
        calls.iter().map(Vec::len).collect()
    }

    #[test]
    fn at_most_10000_events_per_call() {
        let events: Vec<Event> = (0..MAX_EVENTS * 2 + 1).map(|i| ev("g\0s", i as i64, 1)).collect();
        assert_eq!(sizes(&plan(&events)), vec![10_000, 10_000, 1]);
        assert_eq!(sizes(&plan(&events[..MAX_EVENTS])), vec![10_000]);
    }

    #[test]
    fn bytes_count_26_per_event() {
        // 16 events of 65_510 bytes: 16 × (65_510 + 26) = 1_048_576 exactly — one call.
        let fits: Vec<Event> = (0..16).map(|i| ev("r", i, 65_510)).collect();
        assert_eq!(sizes(&plan(&fits)), vec![16]);
        // One byte more in total, and the last event needs a call of its own.
        let mut over = fits.clone();
        over[15].bytes += 1;
        assert_eq!(sizes(&plan(&over)), vec![15, 1]);
        // Without the overhead, 16 × 65_535 = 1_048_560 would have fitted.
        let overhead: Vec<Event> = (0..16).map(|i| ev("r", i, 65_535)).collect();
        assert_eq!(sizes(&plan(&overhead)), vec![15, 1]);
        // The largest message fills a call alone.
        let big = [ev("r", 0, MAX_EVENT_BYTES), ev("r", 1, 0)];
        assert_eq!(sizes(&plan(&big)), vec![1, 1]);
        assert_eq!(MAX_EVENT_BYTES, 1_048_550);
    }

    #[test]
    fn a_call_spans_less_than_24_hours() {
        let just = [ev("r", 0, 1), ev("r", MAX_SPAN_MS - 1, 1)];
        assert_eq!(sizes(&plan(&just)), vec![2]);
        let day = [ev("r", 0, 1), ev("r", MAX_SPAN_MS, 1)];
        assert_eq!(sizes(&plan(&day)), vec![1, 1]);
        // The span restarts at each call's first event.
        let three = [ev("r", 0, 1), ev("r", MAX_SPAN_MS, 1), ev("r", 2 * MAX_SPAN_MS - 1, 1)];
        assert_eq!(plan(&three), vec![vec![0], vec![1, 2]]);
    }

    #[test]
    fn sorted_by_time_within_a_call_and_split_by_route() {
        let events = [ev("a", 30, 1), ev("b", 5, 1), ev("a", 10, 1), ev("a", 20, 1), ev("b", 1, 1), ev("a", 10, 1)];
        let calls = plan(&events);
        assert_eq!(calls, vec![vec![2, 5, 3, 0], vec![4, 1]], "ties keep their order");
        for call in &calls {
            let route = events[call[0]].route;
            assert!(call.iter().all(|&i| events[i].route == route));
            assert!(call.windows(2).all(|w| events[w[0]].timestamp_ms <= events[w[1]].timestamp_ms));
        }
        // Sorting happens before cutting: out-of-order input still gets tight calls.
        let shuffled: Vec<Event> = [3, 0, 2, 1].iter().map(|&t| ev("r", t * (MAX_SPAN_MS / 2), 1)).collect();
        assert_eq!(plan(&shuffled), vec![vec![1, 3], vec![2, 0]]);
        assert!(plan(&[]).is_empty());
    }

    #[test]
    fn age_window_is_14_days_back_and_2_hours_ahead() {
        let now = 1_800_000_000_000;
        assert_eq!(age_verdict(now, now), None);
        assert_eq!(age_verdict(now - MAX_AGE_MS, now), None);
        assert_eq!(age_verdict(now - MAX_AGE_MS - 1, now), Some("older than 14 days"));
        assert_eq!(age_verdict(now - 20 * 24 * 3600 * 1000, now), Some("older than 14 days"));
        assert_eq!(age_verdict(now + MAX_AHEAD_MS, now), None);
        assert_eq!(age_verdict(now + MAX_AHEAD_MS + 1, now), Some("more than 2 hours in the future"));
        assert_eq!(MAX_AGE_MS, 1_209_600_000);
        assert_eq!(MAX_AHEAD_MS, 7_200_000);
    }
}
