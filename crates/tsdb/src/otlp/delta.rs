//! Delta temporality → cumulative, per stream, as the OpenTelemetry Collector's
//! `deltatocumulative` processor does (which is also what Prometheus's OTLP receiver
//! runs with `--enable-feature=otlp-deltatocumulative`):
//!
//! - a stream's first point is taken as it is: its start time becomes the stream's;
//! - a later point whose start time is before the stream's belongs to an older run of
//!   the producer: dropped ("older start");
//! - a point not newer than the stream's last is out of order: dropped;
//! - otherwise it is added: sums add values; explicit-bucket histograms add counts,
//!   buckets and sums, and restart from the point when the bucket bounds changed;
//!   exponential histograms merge at the smaller scale ([`ExpState::add`]).
//!
//! A stream is one Prometheus series of one metric type (its label set without `le`),
//! so two OTLP streams that translate to the same series are accumulated together,
//! as Prometheus would have stored them together anyway.
//!
//! The state is bounded ([`DeltaConfig`]): at most `max_streams` streams (points of new
//! streams past it are dropped and counted), and a stream not updated for `max_stale`
//! is forgotten (counted), which frees its slot; if it comes back it starts again from
//! its next point, a counter reset that `rate`/`increase` handle.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lookout_event::otlp::metrics::v1::{ExponentialHistogramDataPoint, HistogramDataPoint};

use super::exponential::ExpState;
use crate::Labels;

/// Bounds of the delta → cumulative state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaConfig {
    /// Most streams tracked; points of further streams are dropped and counted.
    pub max_streams: usize,
    /// A stream with no point for this long is forgotten.
    pub max_stale: Duration,
    /// Most buckets per sign an accumulated exponential histogram keeps (the scale is
    /// lowered to fit; 160 is the SDKs' and the Collector's default).
    pub max_exponential_buckets: usize,
}

impl Default for DeltaConfig {
    fn default() -> Self {
        DeltaConfig { max_streams: 50_000, max_stale: Duration::from_secs(300), max_exponential_buckets: 160 }
    }
}

/// Counters of the delta → cumulative state, since it was created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeltaStats {
    /// Streams tracked now.
    pub streams: usize,
    /// Streams forgotten after `max_stale`.
    pub evicted: u64,
    /// Points dropped: not newer than their stream's last point.
    pub dropped_out_of_order: u64,
    /// Points dropped: their start time is before their stream's.
    pub dropped_older_start: u64,
    /// Points dropped: a new stream past `max_streams`.
    pub dropped_stream_limit: u64,
}

/// Why a delta point was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropped {
    OutOfOrder,
    OlderStart,
    StreamLimit,
}

impl Dropped {
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::OutOfOrder => "not newer than the series' last delta point (out of order)",
            Dropped::OlderStart => "start time before the series' start (an older run of the producer)",
            Dropped::StreamLimit => "a new series past max_streams of the delta state",
        }
    }
}

/// What kind of stream (part of its identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Sum,
    Histogram,
    Exponential,
}

#[derive(Debug)]
enum Acc {
    Number(f64),
    Histogram { bounds: Vec<f64>, counts: Vec<u64>, count: u64, sum: Option<f64> },
    Exponential(ExpState),
}

#[derive(Debug)]
struct Stream {
    start: u64,
    time: u64,
    seen: Instant,
    acc: Acc,
}

/// The per-stream state.
#[derive(Debug, Default)]
pub(crate) struct DeltaState {
    config: DeltaConfig,
    streams: HashMap<(Kind, Labels), Stream>,
    stats: DeltaStats,
    last_sweep: Option<Instant>,
}

impl DeltaState {
    pub fn new(config: DeltaConfig) -> DeltaState {
        DeltaState { config, ..DeltaState::default() }
    }

    pub fn stats(&self) -> DeltaStats {
        DeltaStats { streams: self.streams.len(), ..self.stats }
    }

    /// Forgets stale streams; runs at most every tenth of `max_stale`, so its cost is a
    /// scan every few batches, not per point.
    pub fn sweep(&mut self, now: Instant) {
        let every = self.config.max_stale / 10;
        if self.last_sweep.is_some_and(|t| now.saturating_duration_since(t) < every) {
            return;
        }
        self.last_sweep = Some(now);
        let before = self.streams.len();
        let max_stale = self.config.max_stale;
        self.streams.retain(|_, s| now.saturating_duration_since(s.seen) < max_stale);
        self.stats.evicted += (before - self.streams.len()) as u64;
    }

    /// The stream's state after the ordering checks, or `None` when it is new (then
    /// `insert` it).
    fn existing(
        &mut self,
        key: &(Kind, Labels),
        start: u64,
        time: u64,
        now: Instant,
    ) -> Result<Option<&mut Stream>, Dropped> {
        let full = self.streams.len() >= self.config.max_streams;
        match self.streams.get_mut(key) {
            Some(s) => {
                let verdict = if start < s.start {
                    Err(Dropped::OlderStart)
                } else if time <= s.time {
                    Err(Dropped::OutOfOrder)
                } else {
                    Ok(())
                };
                if let Err(d) = verdict {
                    match d {
                        Dropped::OlderStart => self.stats.dropped_older_start += 1,
                        _ => self.stats.dropped_out_of_order += 1,
                    }
                    return Err(d);
                }
                s.time = time;
                s.seen = now;
                Ok(Some(s))
            }
            None if full => {
                self.stats.dropped_stream_limit += 1;
                Err(Dropped::StreamLimit)
            }
            None => Ok(None),
        }
    }

    fn insert(&mut self, key: (Kind, Labels), start: u64, time: u64, now: Instant, acc: Acc) {
        self.streams.insert(key, Stream { start, time, seen: now, acc });
    }

    /// A delta sum point → the cumulative value and start time.
    pub fn sum(&mut self, labels: &Labels, start: u64, time: u64, v: f64, now: Instant) -> Result<(f64, u64), Dropped> {
        let key = (Kind::Sum, labels.clone());
        if let Some(s) = self.existing(&key, start, time, now)?
            && let Acc::Number(total) = &mut s.acc
        {
            *total += v;
            return Ok((*total, s.start));
        }
        self.insert(key, start, time, now, Acc::Number(v));
        Ok((v, start))
    }

    /// A delta histogram point → the cumulative point.
    pub fn histogram(
        &mut self,
        labels: &Labels,
        p: &HistogramDataPoint,
        now: Instant,
    ) -> Result<HistogramDataPoint, Dropped> {
        let key = (Kind::Histogram, labels.clone());
        let (start, time) = (p.start_time_unix_nano, p.time_unix_nano);
        let fresh = || Acc::Histogram {
            bounds: p.explicit_bounds.clone(),
            counts: p.bucket_counts.clone(),
            count: p.count,
            sum: p.sum,
        };
        let cumulative = |acc: &Acc, start: u64| match acc {
            Acc::Histogram { bounds, counts, count, sum } => HistogramDataPoint {
                start_time_unix_nano: start,
                explicit_bounds: bounds.clone(),
                bucket_counts: counts.clone(),
                count: *count,
                sum: *sum,
                min: None,
                max: None,
                ..p.clone()
            },
            _ => p.clone(),
        };
        if let Some(s) = self.existing(&key, start, time, now)? {
            match &mut s.acc {
                Acc::Histogram { bounds, counts, count, sum } if *bounds == p.explicit_bounds => {
                    // The spec wants bounds + 1 counts; add what both have, as the
                    // Collector does.
                    for (c, d) in counts.iter_mut().zip(&p.bucket_counts) {
                        *c = c.saturating_add(*d);
                    }
                    *count = count.saturating_add(p.count);
                    *sum = match (*sum, p.sum) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                }
                // New bounds cannot be merged: start over from this point.
                acc => {
                    *acc = fresh();
                    s.start = start;
                }
            }
            return Ok(cumulative(&s.acc, s.start));
        }
        let acc = fresh();
        let out = cumulative(&acc, start);
        self.insert(key, start, time, now, acc);
        Ok(out)
    }

    /// A delta exponential histogram point → the cumulative point.
    pub fn exponential(
        &mut self,
        labels: &Labels,
        p: &ExponentialHistogramDataPoint,
        now: Instant,
    ) -> Result<ExponentialHistogramDataPoint, Dropped> {
        let key = (Kind::Exponential, labels.clone());
        let max_buckets = self.config.max_exponential_buckets;
        if let Some(s) = self.existing(&key, p.start_time_unix_nano, p.time_unix_nano, now)?
            && let Acc::Exponential(state) = &mut s.acc
        {
            state.add(p, max_buckets);
            return Ok(state.to_point(p, s.start));
        }
        let state = ExpState::from_point(p);
        let out = state.to_point(p, p.start_time_unix_nano);
        self.insert(key, p.start_time_unix_nano, p.time_unix_nano, now, Acc::Exponential(state));
        Ok(out)
    }
}
