//! Block merging: runs of small adjacent blocks become one bigger block, so a long
//! retention is a few files per period rather than one per two hours, and a query over
//! days opens few blocks (Prometheus's leveled compaction, in spirit).
//!
//! Ranges grow by 3x from the block duration (2h → 6h → 18h → …), up to a tenth of
//! the retention. A run is merged once its range is over (some newer block or the head
//! starts past it). The merge reads the source blocks' chunks with no store lock held,
//! streams series in label order (a k-way merge, so memory holds one series' chunks at
//! a time), writes the new block, and only then swaps it in for its sources under the
//! blocks lock; a query in flight keeps reading the sources it already holds.

use std::io;
use std::iter::Peekable;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::block::{self, Block};
use crate::chunk::{Appender, Chunk, SAMPLES_PER_CHUNK};
use crate::{Labels, Sample, Store};

/// Merges at most one run of blocks; returns the blocks written (0 or 1).
pub(crate) fn merge_blocks(store: &Store, blocks_dir: &Path, window: i64) -> io::Result<usize> {
    let blocks = store.blocks();
    let max_range = store.limits().retention_ms / 10;
    let newest = blocks.iter().map(|b| b.meta.max_t).max().unwrap_or(i64::MIN);
    let mut range = window.saturating_mul(3);
    while range <= max_range {
        if let Some(run) = finished_run(&blocks, range, newest) {
            let sources: Vec<String> = run.iter().flat_map(|b| b.meta.sources.iter().cloned()).collect();
            let level = run.iter().map(|b| b.meta.level).max().unwrap_or(1) + 1;
            let merged = block::write(blocks_dir, level, sources, MergedSeries::new(&run))?;
            let Some(merged) = merged else { return Ok(0) };
            tracing::info!(block = %merged.meta.id, sources = run.len(), level, "Blocks merged.");
            store.swap_blocks(&run, merged);
            store.counters.compactions.fetch_add(1, Ordering::Relaxed);
            for b in &run {
                if let Err(e) = std::fs::remove_dir_all(&b.dir) {
                    tracing::warn!(block = %b.dir.display(), error = %e, "Cannot remove a merged block's source.");
                }
            }
            return Ok(1);
        }
        range = range.saturating_mul(3);
    }
    Ok(0)
}

/// The first run of two or more blocks inside one aligned `range` that is over.
fn finished_run(blocks: &[Arc<Block>], range: i64, newest: i64) -> Option<Vec<Arc<Block>>> {
    let mut i = 0;
    while i < blocks.len() {
        let start = blocks[i].meta.min_t.div_euclid(range) * range;
        let end = start.saturating_add(range);
        let run: Vec<Arc<Block>> =
            blocks[i..].iter().take_while(|b| b.meta.min_t >= start && b.meta.max_t < end).cloned().collect();
        if run.len() >= 2 && newest >= end {
            return Some(run);
        }
        i += run.len().max(1);
    }
    None
}

/// A block's series with their chunks read.
type BlockSeries<'a> = Box<dyn Iterator<Item = (Arc<Labels>, io::Result<Vec<Chunk>>)> + 'a>;
type SeriesIter<'a> = Peekable<BlockSeries<'a>>;

/// The union of the blocks' series in label order, each with its chunks in time order.
struct MergedSeries<'a> {
    sources: Vec<SeriesIter<'a>>,
}

impl<'a> MergedSeries<'a> {
    fn new(blocks: &'a [Arc<Block>]) -> MergedSeries<'a> {
        let sources = blocks
            .iter()
            .map(|b| {
                let it: BlockSeries<'a> = Box::new(b.series_chunks());
                it.peekable()
            })
            .collect();
        MergedSeries { sources }
    }
}

impl Iterator for MergedSeries<'_> {
    type Item = io::Result<(Arc<Labels>, Vec<Chunk>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let smallest = self.sources.iter_mut().filter_map(|s| s.peek().map(|(l, _)| l.clone())).min()?;
        let mut chunks = Vec::new();
        for s in &mut self.sources {
            if s.peek().is_some_and(|(l, _)| *l == smallest) {
                let (_, cs) = s.next().expect("peeked");
                match cs {
                    Ok(cs) => chunks.extend(cs),
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        chunks.sort_by_key(|c| c.min_t);
        if chunks.windows(2).any(|w| w[1].min_t <= w[0].max_t) {
            chunks = reencode(&chunks);
        }
        Some(Ok((smallest, chunks)))
    }
}

/// Overlapping chunks (blocks written over the same time): decoded, deduplicated by
/// timestamp (the later chunk wins) and encoded again.
fn reencode(chunks: &[Chunk]) -> Vec<Chunk> {
    let mut samples: Vec<Sample> = chunks.iter().rev().flat_map(Chunk::iter).collect();
    samples.sort_by_key(|s| s.t);
    samples.dedup_by_key(|s| s.t);
    samples
        .chunks(usize::from(SAMPLES_PER_CHUNK))
        .map(|part| {
            let mut a = Appender::default();
            for s in part {
                a.append(s.t, s.v);
            }
            a.snapshot()
        })
        .collect()
}
