//! The head: the recent samples of every live series, in memory, in compressed chunks.
//!
//! A series keeps its cut chunks ([`Chunk`], immutable), one open [`Appender`], and its
//! newest sample uncompressed: a sample with the same timestamp replaces it (as the
//! store always did), which a compressed stream could not do. A chunk is cut at
//! [`SAMPLES_PER_CHUNK`] samples or when a sample falls in the next block window, so
//! every chunk belongs to exactly one window and moves to a block whole.

use std::collections::HashMap;
use std::sync::Arc;

use crate::chunk::{Appender, Chunk, SAMPLES_PER_CHUNK};
use crate::matcher::SeriesFilter;
use crate::postings::Postings;
use crate::store::AppendHook;
use crate::tenants::TenantSeries;
use crate::{AppendError, Labels, Matcher, Sample};

/// The rank of a series not ranked yet.
const UNRANKED: u32 = u32::MAX;

pub(crate) struct HeadSeries {
    pub(crate) labels: Labels,
    /// Its place in label order at the last ranking ([`UNRANKED`] if created since),
    /// so selections sort by a number, not by labels.
    rank: u32,
    /// The series' id in the WAL.
    pub(crate) wal_ref: u64,
    closed: Vec<Chunk>,
    open: Appender,
    last: Option<Sample>,
    /// The newest timestamp ever accepted (later ones must be newer).
    max_t: i64,
}

impl HeadSeries {
    fn new(labels: Labels, wal_ref: u64) -> HeadSeries {
        HeadSeries {
            labels,
            rank: UNRANKED,
            wal_ref,
            closed: Vec::new(),
            open: Appender::default(),
            last: None,
            max_t: i64::MIN,
        }
    }

    /// Moves the newest sample into the open chunk, cutting first when it is full or
    /// the sample is in another window.
    fn commit_last(&mut self, window: i64) {
        let Some(s) = self.last.take() else { return };
        if self.open.len() >= SAMPLES_PER_CHUNK
            || (self.open.len() > 0 && s.t.div_euclid(window) != self.open.min_t().div_euclid(window))
        {
            self.cut();
        }
        self.open.append(s.t, s.v);
    }

    fn cut(&mut self) {
        if self.open.len() > 0 {
            self.closed.push(self.open.snapshot());
            self.open = Appender::default();
        }
    }

    fn append(&mut self, t: i64, v: f64, window: i64) -> Result<(), AppendError> {
        match self.last {
            Some(ref mut last) if t == last.t => {
                last.v = v;
                return Ok(());
            }
            _ if t <= self.max_t => return Err(AppendError::OutOfOrder),
            _ => {}
        }
        self.commit_last(window);
        self.last = Some(Sample { t, v });
        self.max_t = t;
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.len() == 0 && self.last.is_none()
    }

    fn samples(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        for c in self.closed.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt) {
            // Head chunks are written by this process: nothing to report.
            let _ = c.iter().decode_into(mint, maxt, out);
        }
        if self.open.len() > 0 && self.open.max_t() >= mint && self.open.min_t() <= maxt {
            let _ = self.open.iter().decode_into(mint, maxt, out);
        }
        out.extend(self.last.filter(|s| s.t >= mint && s.t <= maxt));
    }

    fn heap_bytes(&self) -> usize {
        self.closed.iter().map(|c| c.bytes.len() + 48).sum::<usize>() + self.open.heap_bytes()
    }
}

/// What an append did, for the WAL.
pub(crate) struct Appended {
    /// The series' WAL id.
    pub(crate) wal_ref: u64,
    /// Set when the append created the series.
    pub(crate) created: Option<Labels>,
}

#[derive(Default)]
pub(crate) struct Head {
    series: Vec<Option<HeadSeries>>,
    free: Vec<u32>,
    by_labels: HashMap<Labels, u32>,
    postings: Postings,
    /// Series created since the last ranking.
    pub(crate) unranked: usize,
    // Under the same lock as the data, so appends pay no extra synchronisation.
    pub(crate) hook: Option<AppendHook>,
    pub(crate) tenants: TenantSeries,
    next_ref: u64,
    /// Samples older than this are in blocks: refused (Prometheus's "out of bounds").
    pub(crate) min_valid_t: i64,
    /// The oldest and newest sample timestamps taken since the last cut to a block.
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
}

impl Head {
    pub(crate) fn new() -> Head {
        Head { min_valid_t: i64::MIN, min_t: i64::MAX, max_t: i64::MIN, next_ref: 1, ..Head::default() }
    }

    pub(crate) fn series_count(&self) -> usize {
        self.by_labels.len()
    }

    /// Appends; `wal_ref` names the series when replaying the WAL.
    pub(crate) fn append(
        &mut self,
        labels: &Labels,
        t: i64,
        v: f64,
        max_series: usize,
        window: i64,
        wal_ref: Option<u64>,
    ) -> Result<Appended, AppendError> {
        if t < self.min_valid_t {
            return Err(AppendError::OutOfBounds);
        }
        let (id, created) = match self.by_labels.get(labels) {
            Some(&id) => (id, None),
            None => {
                let (id, labels) = self.create(labels, max_series, wal_ref)?;
                (id, Some(labels))
            }
        };
        let series = self.series[id as usize].as_mut().expect("live series");
        series.append(t, v, window)?;
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
        Ok(Appended { wal_ref: series.wal_ref, created })
    }

    /// Appends to the series with head id `id` (WAL replay: no label lookup per
    /// sample). `false` when refused.
    pub(crate) fn append_id(&mut self, id: u32, t: i64, v: f64, window: i64) -> bool {
        if t < self.min_valid_t {
            return false;
        }
        let Some(series) = self.series.get_mut(id as usize).and_then(Option::as_mut) else { return false };
        if series.append(t, v, window).is_err() {
            return false;
        }
        self.min_t = self.min_t.min(t);
        self.max_t = self.max_t.max(t);
        true
    }

    /// Creates a series (WAL replay gives its id; new ones get the next).
    pub(crate) fn create(
        &mut self,
        labels: &Labels,
        max_series: usize,
        wal_ref: Option<u64>,
    ) -> Result<(u32, Labels), AppendError> {
        if let Some(&id) = self.by_labels.get(labels) {
            let s = self.series[id as usize].as_ref().expect("live series");
            return Ok((id, s.labels.clone()));
        }
        if self.by_labels.len() >= max_series {
            return Err(AppendError::SeriesLimit(max_series));
        }
        if let Err((tenant, limit)) = self.tenants.admit(labels) {
            return Err(AppendError::TenantSeriesLimit { tenant, limit });
        }
        self.tenants.created(labels);
        let wal_ref = wal_ref.unwrap_or(self.next_ref);
        self.next_ref = self.next_ref.max(wal_ref + 1);
        let labels = labels.clone();
        let series = HeadSeries::new(labels.clone(), wal_ref);
        let id = match self.free.pop() {
            Some(id) => {
                self.series[id as usize] = Some(series);
                id
            }
            None => {
                self.series.push(Some(series));
                (self.series.len() - 1) as u32
            }
        };
        self.unranked += 1;
        self.by_labels.insert(labels.clone(), id);
        self.postings.add(id, &labels);
        Ok((id, labels))
    }

    /// The ids of the series matching every matcher, in label order.
    fn matching(&self, matchers: &[Matcher]) -> Vec<u32> {
        let (candidates, known) = self.postings.candidates(matchers, self.series.len());
        let mut filter = SeriesFilter::new(matchers, known);
        // (rank, id): while every series is ranked, sorting these is label order.
        let mut ranked: Vec<(u32, u32)> = candidates
            .filter_map(|id| {
                let s = self.series.get(id as usize).and_then(Option::as_ref)?;
                filter.matches(&s.labels).then_some((s.rank, id))
            })
            .collect();
        if ranked.iter().all(|(rank, _)| *rank != UNRANKED) {
            ranked.sort_unstable();
            return ranked.into_iter().map(|(_, id)| id).collect();
        }
        let mut ids: Vec<u32> = ranked.into_iter().map(|(_, id)| id).collect();
        // Ranks agree with label order wherever both series have one, so comparing
        // ranks when both do and labels otherwise is label order.
        ids.sort_unstable_by(|&a, &b| {
            let (a, b) = (self.live_series(a), self.live_series(b));
            if a.rank != UNRANKED && b.rank != UNRANKED { a.rank.cmp(&b.rank) } else { a.labels.cmp(&b.labels) }
        });
        ids
    }

    fn live_series(&self, id: u32) -> &HeadSeries {
        self.series[id as usize].as_ref().expect("live series")
    }

    /// Series matching every matcher, in label order, with their samples in
    /// `[mint, maxt]` (possibly none).
    pub(crate) fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(Labels, Vec<Sample>)> {
        self.matching(matchers)
            .into_iter()
            .map(|id| {
                let s = self.series[id as usize].as_ref().expect("live series");
                let mut samples = Vec::new();
                s.samples(mint, maxt, &mut samples);
                (s.labels.clone(), samples)
            })
            .collect()
    }

    /// [`Head::select`] without copying: each series' samples are decoded into one
    /// reused buffer and handed to `visit` with its labels.
    pub(crate) fn for_each_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        visit: &mut dyn FnMut(&Labels, &[Sample]),
    ) {
        let mut buf = Vec::with_capacity(usize::from(SAMPLES_PER_CHUNK));
        for id in self.matching(matchers) {
            let s = self.series[id as usize].as_ref().expect("live series");
            buf.clear();
            s.samples(mint, maxt, &mut buf);
            visit(&s.labels, &buf);
        }
    }

    /// Every live series' id and labels, for a ranking outside the lock.
    /// Every live series' id, labels and current rank ([`UNRANKED`] if new).
    pub(crate) fn rank_snapshot(&self) -> Vec<(u32, Labels, u32)> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(id, s)| s.as_ref().map(|s| (id as u32, s.labels.clone(), s.rank)))
            .collect()
    }

    /// Installs the ranking of `sorted` (a snapshot sorted by labels); a series
    /// created or replaced since the snapshot stays unranked.
    pub(crate) fn set_ranks(&mut self, sorted: &[(u32, Labels)], unranked_at_snapshot: usize) {
        self.series.iter_mut().flatten().for_each(|s| s.rank = UNRANKED);
        for (rank, (id, labels)) in sorted.iter().enumerate() {
            if let Some(Some(s)) = self.series.get_mut(*id as usize)
                && s.labels.ptr_eq(labels)
            {
                s.rank = rank as u32;
            }
        }
        self.unranked = self.unranked.saturating_sub(unranked_at_snapshot);
    }

    /// Closes every chunk of samples older than `end`, so they can move to a block.
    pub(crate) fn cut_before(&mut self, end: i64, window: i64) {
        for s in self.series.iter_mut().flatten() {
            if s.last.is_some_and(|l| l.t < end) {
                s.commit_last(window);
            }
            if s.open.len() > 0 && s.open.max_t() < end {
                s.cut();
            }
        }
    }

    /// Every series' closed chunks older than `end`, sorted by labels.
    pub(crate) fn chunks_before(&self, end: i64) -> Vec<(Arc<Labels>, Vec<Chunk>)> {
        let mut out: Vec<(Arc<Labels>, Vec<Chunk>)> = self
            .series
            .iter()
            .flatten()
            .filter_map(|s| {
                let cs: Vec<Chunk> = s.closed.iter().filter(|c| c.max_t < end).cloned().collect();
                (!cs.is_empty()).then(|| (Arc::new(s.labels.clone()), cs))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Forgets the chunks older than `end` (they are in a block now) and refuses
    /// samples older than it from now on.
    pub(crate) fn drop_before(&mut self, end: i64) {
        for s in self.series.iter_mut().flatten() {
            s.closed.retain(|c| c.max_t >= end);
        }
        self.min_valid_t = self.min_valid_t.max(end);
        self.min_t = self.min_t.max(end);
        self.remove_where(|s| s.is_empty());
    }

    /// Drops chunks wholly older than `cutoff` and series with nothing newer.
    pub(crate) fn gc(&mut self, cutoff: i64) {
        for s in self.series.iter_mut().flatten() {
            s.closed.retain(|c| c.max_t >= cutoff);
        }
        self.remove_where(|s| s.max_t < cutoff || s.is_empty());
    }

    fn remove_where(&mut self, dead: impl Fn(&HeadSeries) -> bool) {
        for id in 0..self.series.len() {
            if !self.series[id].as_ref().is_some_and(&dead) {
                continue;
            }
            if let Some(s) = self.series[id].take() {
                self.by_labels.remove(&s.labels);
                self.tenants.removed(&s.labels);
                self.postings.remove(id as u32, &s.labels);
                self.free.push(id as u32);
            }
        }
    }

    /// Every live series' WAL id and labels (for a WAL checkpoint).
    pub(crate) fn live(&self) -> Vec<(u64, Arc<Labels>)> {
        self.series.iter().flatten().map(|s| (s.wal_ref, Arc::new(s.labels.clone()))).collect()
    }

    /// (chunks, samples, heap bytes of sample data) held.
    pub(crate) fn stats(&self) -> (usize, usize, usize) {
        let mut chunks = 0;
        let mut samples = 0;
        let mut bytes = 0;
        for s in self.series.iter().flatten() {
            chunks += s.closed.len() + usize::from(s.open.len() > 0);
            samples += s.closed.iter().map(|c| usize::from(c.len())).sum::<usize>()
                + usize::from(s.open.len())
                + usize::from(s.last.is_some());
            bytes += s.heap_bytes();
        }
        (chunks, samples, bytes)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Labels, Matcher, Store, StoreConfig};

    fn series(job: &str, pod: u32) -> Labels {
        Labels::new([
            ("__name__".to_string(), "up".to_string()),
            ("job".to_string(), job.to_string()),
            ("pod".to_string(), format!("p{pod}")),
        ])
    }

    /// Both reads hand series out in label order, whatever their ranks.
    fn assert_label_order(store: &Store, what: &str) {
        let selected: Vec<Labels> =
            store.select(&[Matcher::equal("__name__", "up")], 0, i64::MAX).into_iter().map(|s| s.labels).collect();
        let mut sorted = selected.clone();
        sorted.sort();
        assert_eq!(selected, sorted, "{what}: select");
        let mut visited = Vec::new();
        store.for_each_series(&[Matcher::equal("__name__", "up")], 0, i64::MAX, &mut |l, _| visited.push(l.clone()));
        assert_eq!(visited, sorted, "{what}: for_each_series");
    }

    #[test]
    fn ranked_partly_ranked_and_reused_ids_sort_by_labels() {
        let store = Store::new(StoreConfig { retention_ms: 1000, max_series: 10_000 });
        let mut rng = fastrand::Rng::with_seed(5);
        let job = |rng: &mut fastrand::Rng| ["api", "db", "web", "cache"][rng.usize(..4)].to_string();
        for _ in 0..300 {
            store.append(&series(&job(&mut rng), rng.u32(..1000)), 100, 1.0).unwrap();
        }
        assert_label_order(&store, "unranked");
        store.rank_series();
        assert_label_order(&store, "ranked");
        for _ in 0..100 {
            store.append(&series(&job(&mut rng), rng.u32(..1000)), 200, 1.0).unwrap();
        }
        assert_label_order(&store, "partly ranked");
        // Retention drops the series without a sample at 200; their ids are reused by
        // new series that sort elsewhere and must not inherit the old ranks.
        store.gc(1150);
        for _ in 0..150 {
            store.append(&series(&job(&mut rng), 1000 + rng.u32(..1000)), 300, 1.0).unwrap();
        }
        assert_label_order(&store, "reused ids");
        assert!(store.ranking_due(false), "most series are new");
        store.rank_series();
        assert!(!store.ranking_due(true));
        assert_label_order(&store, "ranked again");
        // New series merged into an existing ranking, twice.
        for round in 0..2 {
            for _ in 0..50 {
                store.append(&series(&job(&mut rng), 3000 + rng.u32(..1000)), 400 + round, 1.0).unwrap();
            }
            store.rank_series();
            assert_label_order(&store, "merged into a ranking");
        }
    }
}
