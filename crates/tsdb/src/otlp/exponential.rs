//! Exponential histograms: bucket arithmetic (downscaling, merging, widening the zero
//! bucket — what delta accumulation needs) and the conversion to classic cumulative
//! `le` buckets (what a Prometheus series store without native histograms can hold).
//!
//! OTLP exponential buckets at scale `s` have base `b = 2^(2^-s)`; positive bucket `i`
//! holds values in `(b^i, b^(i+1)]`, negative bucket `i` the values in
//! `[-b^(i+1), -b^i)`, and the zero bucket the values in `[-zero_threshold,
//! zero_threshold]`. Lowering the scale by one merges buckets pairwise (`i → i >> 1`),
//! which is exact: every boundary at scale `s - 1` is a boundary at scale `s`.
//!
//! # The classic conversion, and what it loses
//!
//! A point is first lowered to at most `max_scale` (default 1: base √2, each bucket
//! ~41% wide), then lowered further, one scale at a time, until its populated buckets
//! (positive plus negative) number at most `max_buckets`. Each classic bucket is then
//! one exponential bucket, `le` its upper boundary, counts cumulative:
//!
//! - negative buckets first, most negative first, `le = -b^i` (the boundary nearest
//!   zero; values exactly on it are counted one bucket low, as `le` is "≤" and OTLP's
//!   negative buckets are open there);
//! - the zero bucket, `le = zero_threshold` (`0` when the threshold is 0), emitted when
//!   it or a negative bucket holds anything;
//! - positive buckets, `le = b^(i+1)`; `+Inf` is the point's count.
//!
//! Lost: resolution finer than the output scale (quantiles interpolate inside buckets
//! ~41% wide by default), `min`/`max`, and buckets outside the populated range (a
//! bucket's series appears once it holds something, so `rate` over a bucket that was
//! empty before its first sample misses that first increase). Because the boundaries
//! are powers of one base, the same `le` values come back in every point as long as the
//! scale is not lowered below `max_scale`, which happens only for data spanning more
//! than `2^(max_buckets / 2^max_scale)` (2^32 with the defaults).

use lookout_event::otlp::metrics::v1::ExponentialHistogramDataPoint;
use lookout_event::otlp::metrics::v1::exponential_histogram_data_point::Buckets;

/// The lowest scale OTLP defines; conversions stop lowering below it only to stay
/// within a bucket limit.
const MIN_SCALE: i32 = -10;

/// Contiguous buckets at one scale: `counts[k]` is bucket index `offset + k`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dense {
    pub offset: i32,
    pub counts: Vec<u64>,
}

impl Dense {
    /// From OTLP buckets, leading and trailing empty buckets trimmed.
    pub fn from_otlp(b: Option<&Buckets>) -> Dense {
        let mut d = b.map_or_else(Dense::default, |b| Dense { offset: b.offset, counts: b.bucket_counts.clone() });
        d.trim();
        d
    }

    /// Back to OTLP.
    pub fn to_otlp(&self) -> Buckets {
        Buckets { offset: self.offset, bucket_counts: self.counts.clone() }
    }

    fn trim(&mut self) {
        let lead = self.counts.iter().take_while(|c| **c == 0).count();
        if lead == self.counts.len() {
            *self = Dense::default();
            return;
        }
        self.counts.drain(..lead);
        self.offset = self.offset.saturating_add(lead as i32);
        while self.counts.last() == Some(&0) {
            self.counts.pop();
        }
    }

    /// First and one-past-last index, if any bucket is populated.
    fn range(&self) -> Option<(i64, i64)> {
        (!self.counts.is_empty()).then(|| (self.offset as i64, self.offset as i64 + self.counts.len() as i64))
    }

    /// Lowers the scale by `by`: bucket `i` becomes `i >> by` (a floor, also for
    /// negative indexes).
    pub fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let by = by.min(62);
        let lo = (self.offset as i64) >> by;
        let hi = (self.offset as i64 + self.counts.len() as i64 - 1) >> by;
        let mut counts = vec![0u64; (hi - lo + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            let i = ((self.offset as i64 + k as i64) >> by) - lo;
            counts[i as usize] = counts[i as usize].saturating_add(*c);
        }
        self.offset = lo as i32;
        self.counts = counts;
    }

    /// Adds `other` (same scale) bucket by bucket.
    pub fn merge(&mut self, other: &Dense) {
        let Some((olo, ohi)) = other.range() else { return };
        let (lo, hi) = match self.range() {
            Some((lo, hi)) => (lo.min(olo), hi.max(ohi)),
            None => (olo, ohi),
        };
        let mut counts = vec![0u64; (hi - lo) as usize];
        for (d, base) in [(&*self, lo), (other, lo)] {
            for (k, c) in d.counts.iter().enumerate() {
                let i = (d.offset as i64 + k as i64 - base) as usize;
                counts[i] = counts[i].saturating_add(*c);
            }
        }
        self.offset = lo as i32;
        self.counts = counts;
    }

    /// Removes the buckets with index ≤ `last` and returns their total.
    fn take_up_to(&mut self, last: i64) -> u64 {
        let Some((lo, hi)) = self.range() else { return 0 };
        let cut = (last + 1).clamp(lo, hi) - lo;
        let taken: u64 = self.counts.drain(..cut as usize).sum();
        self.offset = (self.offset as i64 + cut) as i32;
        self.trim();
        taken
    }

    fn len(&self) -> usize {
        self.counts.len()
    }
}

/// `b^i` at `scale`: the lower boundary of bucket `i` (the upper boundary of `i - 1`).
pub(crate) fn boundary(scale: i32, i: i64) -> f64 {
    (i as f64 * (-scale as f64).exp2()).exp2()
}

/// The bucket index holding `v > 0` at `scale`.
fn index_of(scale: i32, v: f64) -> i64 {
    ((v.log2() * (scale as f64).exp2()).ceil() as i64) - 1
}

/// How many scales to lower so that the union of `a` and `b` spans at most `max`
/// buckets.
fn reduction_for(a: &Dense, b: &Dense, max: usize) -> u32 {
    let (lo, hi) = match (a.range(), b.range()) {
        (Some((alo, ahi)), Some((blo, bhi))) => (alo.min(blo), ahi.max(bhi) - 1),
        (Some((lo, hi)), None) | (None, Some((lo, hi))) => (lo, hi - 1),
        (None, None) => return 0,
    };
    let mut by = 0u32;
    while by < 62 && ((hi >> by) - (lo >> by) + 1) as usize > max.max(1) {
        by += 1;
    }
    by
}

/// An exponential histogram as accumulated state (delta → cumulative).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExpState {
    pub scale: i32,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub positive: Dense,
    pub negative: Dense,
    pub count: u64,
    pub sum: Option<f64>,
}

impl ExpState {
    pub fn from_point(p: &ExponentialHistogramDataPoint) -> ExpState {
        ExpState {
            scale: p.scale,
            zero_threshold: p.zero_threshold,
            zero_count: p.zero_count,
            positive: Dense::from_otlp(p.positive.as_ref()),
            negative: Dense::from_otlp(p.negative.as_ref()),
            count: p.count,
            sum: p.sum,
        }
    }

    fn downscale(&mut self, by: u32) {
        self.positive.downscale(by);
        self.negative.downscale(by);
        self.scale -= by as i32;
    }

    /// Moves every bucket below `threshold` into the zero bucket; the threshold becomes
    /// the upper boundary of the last bucket moved (as the Collector's `WidenZero`).
    fn widen_zero(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold || threshold <= 0.0 {
            return;
        }
        let last = index_of(self.scale, threshold);
        self.zero_count += self.positive.take_up_to(last) + self.negative.take_up_to(last);
        self.zero_threshold = boundary(self.scale, last + 1);
    }

    /// `self += other`, as the OpenTelemetry Collector's `deltatocumulative` adds
    /// exponential histograms: both lowered to the smaller scale, then lowered further
    /// until the merged buckets fit in `max_buckets` per sign; the smaller zero bucket
    /// widened to the larger; buckets, counts and sums added (a sum missing on either
    /// side is dropped).
    pub fn add(&mut self, other: &ExponentialHistogramDataPoint, max_buckets: usize) {
        let mut other = ExpState::from_point(other);
        let low = self.scale.min(other.scale);
        self.downscale((self.scale - low) as u32);
        other.downscale((other.scale - low) as u32);
        let by = reduction_for(&self.positive, &other.positive, max_buckets).max(reduction_for(
            &self.negative,
            &other.negative,
            max_buckets,
        ));
        self.downscale(by);
        other.downscale(by);
        let threshold = self.zero_threshold.max(other.zero_threshold);
        self.widen_zero(threshold);
        other.widen_zero(threshold);
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.count = self.count.saturating_add(other.count);
        self.sum = match (self.sum, other.sum) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    /// The state as an OTLP point (for the cumulative translation), carrying `like`'s
    /// attributes, times, flags and exemplars.
    pub fn to_point(&self, like: &ExponentialHistogramDataPoint, start: u64) -> ExponentialHistogramDataPoint {
        ExponentialHistogramDataPoint {
            attributes: like.attributes.clone(),
            start_time_unix_nano: start,
            time_unix_nano: like.time_unix_nano,
            count: self.count,
            sum: self.sum,
            scale: self.scale,
            zero_count: self.zero_count,
            positive: Some(self.positive.to_otlp()),
            negative: Some(self.negative.to_otlp()),
            flags: like.flags,
            exemplars: like.exemplars.clone(),
            min: None,
            max: None,
            zero_threshold: self.zero_threshold,
        }
    }
}

/// Classic cumulative buckets of an exponential point: `(le, count of values ≤ le)`,
/// `le` strictly increasing and finite (the `+Inf` bucket is the point's count). See
/// the module docs for the boundaries and what is lost.
pub(crate) fn to_classic(p: &ExponentialHistogramDataPoint, max_scale: i32, max_buckets: usize) -> Vec<(f64, u64)> {
    let mut s = ExpState::from_point(p);
    if s.scale > max_scale {
        s.downscale((s.scale - max_scale) as u32);
    }
    while s.positive.len() + s.negative.len() > max_buckets.max(1) && s.scale > MIN_SCALE - 52 {
        s.downscale(1);
    }
    let mut out: Vec<(f64, u64)> = Vec::with_capacity(s.positive.len() + s.negative.len() + 1);
    let mut total = 0u64;
    let add = |le: f64, count: u64, total: &mut u64, out: &mut Vec<(f64, u64)>| {
        *total = total.saturating_add(count);
        if !le.is_finite() {
            // Beyond f64: counted in +Inf (the point's count) only.
            return;
        }
        match out.last_mut() {
            Some(last) if le <= last.0 => last.1 = *total,
            _ => out.push((le, *total)),
        }
    };
    for (k, c) in s.negative.counts.iter().enumerate().rev() {
        let i = s.negative.offset as i64 + k as i64;
        add(-boundary(s.scale, i), *c, &mut total, &mut out);
    }
    if s.zero_count > 0 || !s.negative.counts.is_empty() {
        add(s.zero_threshold.max(0.0), s.zero_count, &mut total, &mut out);
    }
    for (k, c) in s.positive.counts.iter().enumerate() {
        let i = s.positive.offset as i64 + k as i64;
        add(boundary(s.scale, i + 1), *c, &mut total, &mut out);
    }
    // Empty buckets inside the populated range still print (their cumulative count
    // repeats), so every `le` between the lowest and highest is there.
    out
}
