//! Immutable on-disk blocks: the head's chunks of one time window (or, after
//! compaction, of several adjacent ones), written once and only read afterwards.
//!
//! `blocks/<id>/` holds:
//! - `chunks`: `LKCHUNK1`, then every chunk's bytes followed by their CRC32;
//! - `index`: `LKINDEX1`, the series count (u32 LE), then per series, sorted by labels:
//!   its labels and its chunks (`min_t` varint, `max_t - min_t` uvarint, offset and
//!   length uvarints); a CRC32 of everything before closes the file;
//! - `meta.json`: id, time range (inclusive), counts, compaction level and sources.
//!
//! A block is written into `<id>.tmp/`, every file fsynced, then renamed into place and
//! the directory fsynced: a crash leaves either no block or a whole one (leftover
//! `.tmp` directories are removed at open). An opened block keeps its index in memory
//! (labels, chunk references, postings) and reads chunk bytes with positioned reads of
//! the `chunks` file on demand, so a query decodes only the chunks it overlaps.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::matcher::SeriesFilter;
use crate::postings::Postings;
use crate::wal::{Decoder, dir_bytes, put_labels};
use crate::{Labels, Matcher, Sample};

const CHUNKS_MAGIC: &[u8; 8] = b"LKCHUNK1";
const INDEX_MAGIC: &[u8; 8] = b"LKINDEX1";

/// `meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct BlockMeta {
    pub(crate) id: String,
    /// Oldest sample, Unix ms.
    pub(crate) min_t: i64,
    /// Newest sample, Unix ms (inclusive).
    pub(crate) max_t: i64,
    pub(crate) series: u64,
    pub(crate) chunks: u64,
    pub(crate) samples: u64,
    /// 1 for a block cut from the head; the highest source's plus one after a merge.
    pub(crate) level: u32,
    /// The level-1 blocks it holds (itself when cut from the head).
    pub(crate) sources: Vec<String>,
}

/// Where a chunk is in the `chunks` file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkRef {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    offset: u64,
    len: u32,
}

struct BlockSeries {
    labels: Arc<Labels>,
    chunks: Vec<ChunkRef>,
}

/// An opened block.
pub(crate) struct Block {
    pub(crate) dir: PathBuf,
    pub(crate) meta: BlockMeta,
    pub(crate) bytes: u64,
    chunks: File,
    series: Vec<BlockSeries>,
    postings: Postings,
    /// Chunks found damaged when read (skipped).
    pub(crate) corrupt_chunks: AtomicU64,
}

/// A fresh, sortable block id: the creation time in ms and a random part, in hex.
pub(crate) fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now);
    format!("{now:012x}{:016x}", h.finish())
}

/// Writes the series (sorted by labels, each with its chunks in time order) as a new
/// block in `blocks_dir`; `None` when there is nothing to write.
pub(crate) fn write(
    blocks_dir: &Path,
    level: u32,
    sources: Vec<String>,
    series: impl Iterator<Item = io::Result<(Arc<Labels>, Vec<Chunk>)>>,
) -> io::Result<Option<Block>> {
    let id = new_id();
    let tmp = blocks_dir.join(format!("{id}.tmp"));
    fs::create_dir_all(&tmp)?;
    let result = write_into(&tmp, &id, level, sources, series);
    match result {
        Ok(Some(meta)) => {
            let dir = blocks_dir.join(&id);
            fs::rename(&tmp, &dir)?;
            File::open(blocks_dir)?.sync_all()?;
            let block = Block::open(&dir)?;
            debug_assert_eq!(block.meta, meta);
            Ok(Some(block))
        }
        Ok(None) => {
            fs::remove_dir_all(&tmp)?;
            Ok(None)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

fn write_into(
    tmp: &Path,
    id: &str,
    level: u32,
    sources: Vec<String>,
    series: impl Iterator<Item = io::Result<(Arc<Labels>, Vec<Chunk>)>>,
) -> io::Result<Option<BlockMeta>> {
    let mut chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join("chunks"))?);
    chunks.write_all(CHUNKS_MAGIC)?;
    let mut offset = CHUNKS_MAGIC.len() as u64;
    let mut index = Vec::with_capacity(1 << 16);
    index.extend_from_slice(INDEX_MAGIC);
    index.extend_from_slice(&[0; 4]);
    let mut meta = BlockMeta {
        id: id.to_string(),
        min_t: i64::MAX,
        max_t: i64::MIN,
        series: 0,
        chunks: 0,
        samples: 0,
        level,
        sources: if sources.is_empty() { vec![id.to_string()] } else { sources },
    };
    for s in series {
        let (labels, cs) = s?;
        if cs.is_empty() {
            continue;
        }
        meta.series += 1;
        put_labels(&mut index, &labels);
        put_uvarint(&mut index, cs.len() as u64);
        for c in cs {
            chunks.write_all(&c.bytes)?;
            chunks.write_all(&crc32fast::hash(&c.bytes).to_le_bytes())?;
            put_varint(&mut index, c.min_t);
            put_uvarint(&mut index, c.max_t.wrapping_sub(c.min_t) as u64);
            put_uvarint(&mut index, offset);
            put_uvarint(&mut index, c.bytes.len() as u64);
            offset += c.bytes.len() as u64 + 4;
            meta.chunks += 1;
            meta.samples += u64::from(c.len());
            meta.min_t = meta.min_t.min(c.min_t);
            meta.max_t = meta.max_t.max(c.max_t);
        }
    }
    if meta.series == 0 {
        return Ok(None);
    }
    let series = u32::try_from(meta.series).map_err(|_| io::Error::other("more than 2^32 series in a block"))?;
    index[8..12].copy_from_slice(&series.to_le_bytes());
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let chunks = chunks.into_inner().map_err(|e| e.into_error())?;
    chunks.sync_all()?;
    let mut f = File::create(tmp.join("index"))?;
    f.write_all(&index)?;
    f.sync_all()?;
    let mut f = File::create(tmp.join("meta.json"))?;
    f.write_all(&serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?)?;
    f.sync_all()?;
    File::open(tmp)?.sync_all()?;
    Ok(Some(meta))
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn invalid(dir: &Path, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("block {}: {what}", dir.display()))
}

// === impl Block ===

impl Block {
    /// Opens the block in `dir`, checking its index.
    pub(crate) fn open(dir: &Path) -> io::Result<Block> {
        let meta: BlockMeta = serde_json::from_slice(&fs::read(dir.join("meta.json"))?)
            .map_err(|e| invalid(dir, &format!("meta.json: {e}")))?;
        let index = fs::read(dir.join("index"))?;
        let (body, crc) =
            index.split_at_checked(index.len().saturating_sub(4)).ok_or_else(|| invalid(dir, "empty index"))?;
        if body.len() < 12 || &body[..8] != INDEX_MAGIC {
            return Err(invalid(dir, "index: not a Lookout block index"));
        }
        if crc.len() != 4 || crc32fast::hash(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(invalid(dir, "index: checksum mismatch"));
        }
        let count = u32::from_le_bytes([body[8], body[9], body[10], body[11]]);
        let mut d = Decoder { buf: &body[12..] };
        let mut series = Vec::with_capacity((count as usize).min(d.buf.len()));
        let mut postings = Postings::default();
        let bad = || invalid(dir, "index: truncated series entry");
        for id in 0..count {
            let labels = d.labels().ok_or_else(bad)?;
            let n = d.uvarint().ok_or_else(bad)?;
            let mut chunks = Vec::with_capacity((n as usize).min(d.buf.len()));
            for _ in 0..n {
                let min_t = d.varint().ok_or_else(bad)?;
                let max_t = min_t.wrapping_add(d.uvarint().ok_or_else(bad)? as i64);
                let offset = d.uvarint().ok_or_else(bad)?;
                let len = u32::try_from(d.uvarint().ok_or_else(bad)?).map_err(|_| bad())?;
                chunks.push(ChunkRef { min_t, max_t, offset, len });
            }
            postings.add(id, &labels);
            series.push(BlockSeries { labels: Arc::new(labels), chunks });
        }
        let chunks = File::open(dir.join("chunks"))?;
        Ok(Block {
            dir: dir.to_path_buf(),
            bytes: dir_bytes(dir),
            meta,
            chunks,
            series,
            postings,
            corrupt_chunks: AtomicU64::new(0),
        })
    }

    /// Reads one chunk, checking its CRC.
    fn read_chunk(&self, r: &ChunkRef) -> io::Result<Chunk> {
        let mut buf = vec![0u8; r.len as usize + 4];
        self.chunks.read_exact_at(&mut buf, r.offset)?;
        let (bytes, crc) = buf.split_at(r.len as usize);
        if crc32fast::hash(bytes) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(invalid(&self.dir, &format!("chunk at byte {}: checksum mismatch", r.offset)));
        }
        Ok(Chunk { min_t: r.min_t, max_t: r.max_t, bytes: bytes.into() })
    }

    /// The series matching every matcher, with their samples in `[mint, maxt]` (series
    /// without any are left out). A damaged chunk is skipped and counted.
    pub(crate) fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(Arc<Labels>, Vec<Sample>)> {
        if self.meta.max_t < mint || self.meta.min_t > maxt {
            return Vec::new();
        }
        let mut out = Vec::new();
        let (candidates, known) = self.postings.candidates(matchers, self.series.len());
        let mut filter = SeriesFilter::new(matchers, known);
        for id in candidates {
            let Some(s) = self.series.get(id as usize) else { continue };
            if !filter.matches(&s.labels) {
                continue;
            }
            let mut samples = Vec::new();
            for r in s.chunks.iter().filter(|r| r.max_t >= mint && r.min_t <= maxt) {
                match self.read_chunk(r) {
                    Ok(c) => {
                        if c.iter().decode_into(mint, maxt, &mut samples).is_some() {
                            self.corrupt_chunks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        if self.corrupt_chunks.fetch_add(1, Ordering::Relaxed) == 0 {
                            tracing::error!(error = %e, "Skipping a damaged chunk of a block.");
                        }
                    }
                }
            }
            if !samples.is_empty() {
                out.push((s.labels.clone(), samples));
            }
        }
        out
    }

    /// Every series with all its chunks read, in label order (for compaction).
    pub(crate) fn series_chunks(&self) -> impl Iterator<Item = (Arc<Labels>, io::Result<Vec<Chunk>>)> + '_ {
        self.series.iter().map(|s| (s.labels.clone(), s.chunks.iter().map(|r| self.read_chunk(r)).collect()))
    }
}

/// Opens every block in `blocks_dir`, oldest first. Leftover `.tmp` directories (a
/// crash mid-write) and blocks whose every source is held by a newer merged block (a
/// crash between a merge and the removal of its inputs) are removed; a block that does
/// not open is reported in the returned list and left on disk, renamed `*.broken`.
pub(crate) fn open_all(blocks_dir: &Path) -> io::Result<(Vec<Block>, Vec<String>)> {
    fs::create_dir_all(blocks_dir)?;
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    for entry in fs::read_dir(blocks_dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".tmp") {
            fs::remove_dir_all(&path)?;
            continue;
        }
        if !path.is_dir() || name.ends_with(".broken") {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => blocks.push(b),
            Err(e) => {
                problems.push(e.to_string());
                let _ = fs::rename(&path, path.with_extension("broken"));
            }
        }
    }
    // A merged block makes its sources redundant.
    let merged: Vec<(String, Vec<String>)> =
        blocks.iter().filter(|b| b.meta.level > 1).map(|b| (b.meta.id.clone(), b.meta.sources.clone())).collect();
    let mut keep = Vec::with_capacity(blocks.len());
    for b in blocks {
        // Of two merges of the same sources, the one with the larger id stays.
        let covered = merged.iter().any(|(id, sources)| {
            *id != b.meta.id
                && b.meta.sources.iter().all(|s| sources.contains(s))
                && (b.meta.sources.len() < sources.len() || b.meta.id < *id)
        });
        if covered {
            fs::remove_dir_all(&b.dir)?;
        } else {
            keep.push(b);
        }
    }
    keep.sort_by_key(|b| (b.meta.min_t, b.meta.max_t));
    Ok((keep, problems))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Appender;

    fn l(job: &str) -> Arc<Labels> {
        Arc::new(Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), job.to_string())]))
    }

    fn chunk(from: i64, n: i64) -> Chunk {
        let mut a = Appender::default();
        for i in 0..n {
            a.append(from + i * 1000, i as f64);
        }
        a.snapshot()
    }

    #[test]
    fn written_blocks_read_back_and_select_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![(l("a"), vec![chunk(0, 120), chunk(120_000, 10)]), (l("b"), vec![chunk(5_000, 3)])];
        let b = write(dir.path(), 1, vec![], series.into_iter().map(Ok)).unwrap().unwrap();
        assert_eq!((b.meta.min_t, b.meta.max_t, b.meta.series, b.meta.chunks, b.meta.samples), (0, 129_000, 2, 3, 133));
        let (all, problems) = open_all(dir.path()).unwrap();
        assert!(problems.is_empty());
        assert_eq!(all.len(), 1);
        let got = all[0].select(&[Matcher::equal("job", "a")], 119_000, 121_000);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].1,
            vec![Sample { t: 119_000, v: 119.0 }, Sample { t: 120_000, v: 0.0 }, Sample { t: 121_000, v: 1.0 }]
        );
        assert_eq!(all[0].select(&[Matcher::equal("__name__", "up")], 0, 10_000).len(), 2);
        assert!(all[0].select(&[Matcher::equal("job", "b")], 10_000, 20_000).is_empty());
        assert!(write(dir.path(), 1, vec![], std::iter::empty()).unwrap().is_none(), "nothing to write");
    }

    #[test]
    fn damage_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let b = write(dir.path(), 1, vec![], vec![(l("a"), vec![chunk(0, 50), chunk(50_000, 50)])].into_iter().map(Ok))
            .unwrap()
            .unwrap();
        // A flipped byte in the first chunk: that chunk is skipped, the second read.
        let path = b.dir.join("chunks");
        let mut bytes = fs::read(&path).unwrap();
        bytes[12] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let b = Block::open(&b.dir).unwrap();
        let got = b.select(&[Matcher::equal("job", "a")], 0, i64::MAX);
        assert_eq!(got[0].1.len(), 50);
        assert_eq!(b.corrupt_chunks.load(Ordering::Relaxed), 1);
        // A damaged index: the block is set aside, the store still opens.
        let mut index = fs::read(b.dir.join("index")).unwrap();
        index[14] ^= 1;
        fs::write(b.dir.join("index"), &index).unwrap();
        fs::create_dir_all(dir.path().join("x.tmp")).unwrap();
        let (all, problems) = open_all(dir.path()).unwrap();
        assert!(all.is_empty());
        assert!(problems[0].contains("checksum mismatch"), "{problems:?}");
        assert!(!dir.path().join("x.tmp").exists());
    }
}
