//! The write-ahead log: every new series and every accepted sample, so that a restart
//! (even after `kill -9`) rebuilds the head.
//!
//! `wal/` holds numbered segment files (`00000001`, …) of records, and at most one
//! checkpoint (`checkpoint.NNNNNNNN`: the live series of every segment before
//! `NNNNNNNN`, written when those segments were dropped). A record is
//! `[type u8][payload length u32 LE][CRC32 u32 LE of type and payload][payload]`:
//! - series (type 1): `(ref uvarint, label count uvarint, (name, value)*)*`, strings as
//!   uvarint length + bytes;
//! - samples (type 2): `base_t varint, (ref uvarint, t - base_t varint, value u64 LE)*`.
//!
//! Appends encode into a memory buffer under the store's lock; [`Wal::flush`] writes
//! it out (series before samples, so a sample never precedes its series) and, when
//! asked, fsyncs — on every commit with `wal_fsync: always`, on a timer with
//! `interval`. A segment is cut past `segment_size`; a new process never appends to an
//! old segment, so a torn tail stays where it was and is reported once.
//!
//! Reading stops at a torn record (the rest of that segment is skipped) and skips a
//! record whose checksum does not match; both are counted as corruptions and the
//! replay goes on with the next record or segment, never refusing to start. (CRC32
//! here is IEEE, through `crc32fast`, where Prometheus uses Castagnoli: our files are
//! our own format either way.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Labels;

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;
const HEADER: usize = 9;
/// A record larger than this is not one we wrote: the length field is damaged.
const MAX_RECORD: usize = 64 << 20;
/// Appends past this much unwritten WAL write it out themselves (bounds the buffer).
pub(crate) const FLUSH_AT: usize = 1 << 20;
/// Samples per record: one checksum per few KB.
const SAMPLES_PER_RECORD: usize = 1000;

/// When the WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every committed batch (slowest, nothing lost on power failure).
    Always,
    /// Every this long (a power failure loses at most this much; a crashed process
    /// loses nothing that was committed).
    Interval(Duration),
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// New series.
    Series(Vec<(u64, Labels)>),
    /// Samples: (series ref, t, v).
    Samples(Vec<(u64, i64, f64)>),
}

// === encoding ===

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

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Reads what [`put_uvarint`] and friends write; `None` past the end or on overflow.
pub(crate) struct Decoder<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(head)
    }

    pub(crate) fn str(&mut self) -> Option<String> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        String::from_utf8(self.bytes(n)?.to_vec()).ok()
    }

    pub(crate) fn u64_le(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }

    pub(crate) fn labels(&mut self) -> Option<Labels> {
        let n = self.uvarint()?;
        // Each pair takes at least two bytes: a bigger count is damage, not a reason to
        // reserve gigabytes.
        if n > self.buf.len() as u64 {
            return None;
        }
        let mut pairs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            pairs.push((self.str()?, self.str()?));
        }
        Some(Labels::new(pairs))
    }
}

pub(crate) fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(out, labels.pairs().len() as u64);
    for (k, v) in labels.pairs() {
        put_str(out, k);
        put_str(out, v);
    }
}

fn frame(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

fn decode(kind: u8, payload: &[u8]) -> Option<Record> {
    let mut d = Decoder { buf: payload };
    match kind {
        SERIES => {
            let mut out = Vec::new();
            while !d.buf.is_empty() {
                out.push((d.uvarint()?, d.labels()?));
            }
            Some(Record::Series(out))
        }
        SAMPLES => {
            let base = d.varint()?;
            let mut out = Vec::new();
            while !d.buf.is_empty() {
                let r = d.uvarint()?;
                let t = base.wrapping_add(d.varint()?);
                out.push((r, t, f64::from_bits(d.u64_le()?)));
            }
            Some(Record::Samples(out))
        }
        _ => None,
    }
}

/// The records of one file, and the damage met.
#[derive(Debug, Default)]
pub(crate) struct ReadOutcome {
    pub(crate) records: Vec<Record>,
    /// Human-readable descriptions of the corruptions skipped.
    pub(crate) corruptions: Vec<String>,
}

/// Decodes every record of `bytes` (a segment or checkpoint named `name`).
pub(crate) fn read_records(name: &str, bytes: &[u8]) -> ReadOutcome {
    let mut out = ReadOutcome::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(h) = bytes.get(pos..pos + HEADER) else {
            out.corruptions.push(format!("{name}: torn record header at byte {pos}"));
            break;
        };
        let kind = h[0];
        let len = u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize;
        let crc = u32::from_le_bytes([h[5], h[6], h[7], h[8]]);
        if len > MAX_RECORD {
            out.corruptions.push(format!("{name}: impossible record length {len} at byte {pos}; rest skipped"));
            break;
        }
        let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else {
            out.corruptions.push(format!("{name}: torn record at byte {pos} ({len} bytes announced)"));
            break;
        };
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[kind]);
        hasher.update(payload);
        if hasher.finalize() != crc {
            out.corruptions.push(format!("{name}: checksum mismatch in the record at byte {pos}; skipped"));
        } else {
            match decode(kind, payload) {
                Some(r) => out.records.push(r),
                None => out.corruptions.push(format!("{name}: undecodable record at byte {pos}; skipped")),
            }
        }
        pos += HEADER + len;
    }
    out
}

// === impl Wal ===

/// Unwritten records.
#[derive(Default)]
struct Pending {
    series: Vec<u8>,
    /// Framed sample records already complete.
    samples: Vec<u8>,
    /// The sample record being filled: (base t, payload, count).
    open: Option<(i64, Vec<u8>, usize)>,
    max_t: i64,
}

impl Pending {
    fn close_open(&mut self) {
        if let Some((_, payload, _)) = self.open.take() {
            frame(&mut self.samples, SAMPLES, &payload);
        }
    }

    fn len(&self) -> usize {
        self.series.len() + self.samples.len() + self.open.as_ref().map_or(0, |o| o.1.len())
    }
}

struct Segment {
    n: u64,
    file: File,
    size: u64,
    /// Written since the last fsync (an idle store does not fsync every interval).
    dirty: bool,
}

struct Files {
    current: Segment,
    /// The newest sample timestamp of every segment (ours and replayed ones), so a
    /// segment can go once every sample in it is in a block.
    max_t: Vec<(u64, i64)>,
}

/// The WAL of one store.
pub(crate) struct Wal {
    dir: PathBuf,
    segment_size: u64,
    pending: Mutex<Pending>,
    files: Mutex<Files>,
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
    write_errors: AtomicU64,
}

/// The newest checkpoint: the first segment after it, and its path.
pub(crate) type Checkpoint = (u64, PathBuf);

/// Segment numbers present in `dir`, sorted, and the newest checkpoint.
pub(crate) fn list(dir: &Path) -> io::Result<(Vec<u64>, Option<Checkpoint>)> {
    let mut segments = Vec::new();
    let mut checkpoint: Option<Checkpoint> = None;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(n) = name.parse::<u64>() {
            segments.push(n);
        } else if let Some(n) = name.strip_prefix("checkpoint.").and_then(|n| n.parse::<u64>().ok())
            && checkpoint.as_ref().is_none_or(|c| c.0 < n)
        {
            checkpoint = Some((n, entry.path()));
        }
    }
    segments.sort_unstable();
    Ok((segments, checkpoint))
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Wal {
    /// Opens `dir` for writing a fresh segment after the newest one; `replayed` are the
    /// newest sample timestamps of the segments already there.
    pub(crate) fn create(dir: &Path, segment_size: u64, replayed: Vec<(u64, i64)>) -> io::Result<Wal> {
        fs::create_dir_all(dir)?;
        let (segments, _) = list(dir)?;
        let n = segments.last().map_or(1, |n| n + 1);
        let file = OpenOptions::new().create_new(true).append(true).open(segment_path(dir, n))?;
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment_size,
            pending: Mutex::default(),
            files: Mutex::new(Files { current: Segment { n, file, size: 0, dirty: false }, max_t: replayed }),
            fsyncs: AtomicU64::new(0),
            fsync_nanos: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        })
    }

    /// Logs a new series.
    pub(crate) fn series(&self, r: u64, labels: &Labels) -> usize {
        let mut p = self.pending.lock().expect("wal lock");
        let mut payload = Vec::with_capacity(64);
        put_uvarint(&mut payload, r);
        put_labels(&mut payload, labels);
        frame(&mut p.series, SERIES, &payload);
        p.len()
    }

    /// Logs an accepted sample; returns the unwritten bytes.
    pub(crate) fn sample(&self, r: u64, t: i64, v: f64) -> usize {
        let mut p = self.pending.lock().expect("wal lock");
        p.max_t = p.max_t.max(t);
        let (base, payload, count) = p.open.get_or_insert_with(|| {
            let mut payload = Vec::with_capacity(4096);
            put_varint(&mut payload, t);
            (t, payload, 0)
        });
        put_uvarint(payload, r);
        put_varint(payload, t.wrapping_sub(*base));
        payload.extend_from_slice(&v.to_bits().to_le_bytes());
        *count += 1;
        if *count >= SAMPLES_PER_RECORD {
            p.close_open();
        }
        p.len()
    }

    /// Writes out what was logged, then fsyncs if `sync`. An I/O error is returned
    /// (and counted); the records stay lost for the WAL but live in the head.
    pub(crate) fn flush(&self, sync: bool) -> io::Result<()> {
        let mut files = self.files.lock().expect("wal files lock");
        let (bytes, max_t) = {
            let mut p = self.pending.lock().expect("wal lock");
            p.close_open();
            let mut bytes = std::mem::take(&mut p.series);
            bytes.append(&mut p.samples);
            (bytes, std::mem::replace(&mut p.max_t, i64::MIN))
        };
        let result = self.write(&mut files, &bytes, max_t, sync);
        if result.is_err() {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn write(&self, files: &mut Files, bytes: &[u8], max_t: i64, sync: bool) -> io::Result<()> {
        if !bytes.is_empty() {
            if files.current.size >= self.segment_size {
                self.cut(files)?;
            }
            files.current.file.write_all(bytes)?;
            files.current.size += bytes.len() as u64;
            files.current.dirty = true;
            let n = files.current.n;
            match files.max_t.last_mut() {
                Some((last, t)) if *last == n => *t = (*t).max(max_t),
                _ => files.max_t.push((n, max_t)),
            }
        }
        if sync && files.current.dirty {
            let start = Instant::now();
            files.current.file.sync_data()?;
            files.current.dirty = false;
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            self.fsync_nanos.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    fn cut(&self, files: &mut Files) -> io::Result<()> {
        files.current.file.sync_data()?;
        let n = files.current.n + 1;
        let file = OpenOptions::new().create_new(true).append(true).open(segment_path(&self.dir, n))?;
        sync_dir(&self.dir)?;
        files.current = Segment { n, file, size: 0, dirty: false };
        Ok(())
    }

    /// Drops the segments whose every sample is older than `before` (they are in
    /// blocks), after writing `live` — every series still in the head — as a
    /// checkpoint that replaces them. Returns the segments dropped.
    pub(crate) fn truncate(&self, before: i64, live: &[(u64, std::sync::Arc<Labels>)]) -> io::Result<usize> {
        let mut files = self.files.lock().expect("wal files lock");
        let current = files.current.n;
        // A prefix only: replay reads the checkpoint and then the segments after it.
        let upto = files.max_t.iter().take_while(|(n, t)| *n < current && *t < before).map(|(n, _)| *n).last();
        let Some(upto) = upto else { return Ok(0) };
        let (segments, old_checkpoint) = list(&self.dir)?;
        let first_kept = upto + 1;
        let tmp = self.dir.join(format!("checkpoint.{first_kept:08}.tmp"));
        {
            let mut file = File::create(&tmp)?;
            let mut buf = Vec::new();
            for group in live.chunks(1000) {
                let mut payload = Vec::new();
                for (r, labels) in group {
                    put_uvarint(&mut payload, *r);
                    put_labels(&mut payload, labels);
                }
                frame(&mut buf, SERIES, &payload);
                if buf.len() > FLUSH_AT {
                    file.write_all(&buf)?;
                    buf.clear();
                }
            }
            file.write_all(&buf)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(format!("checkpoint.{first_kept:08}")))?;
        sync_dir(&self.dir)?;
        let mut dropped = 0;
        for n in segments.into_iter().filter(|n| *n < first_kept) {
            fs::remove_file(segment_path(&self.dir, n))?;
            dropped += 1;
        }
        if let Some((n, path)) = old_checkpoint
            && n < first_kept
        {
            fs::remove_file(path)?;
        }
        files.max_t.retain(|(n, _)| *n >= first_kept);
        Ok(dropped)
    }

    /// Bytes on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }

    /// Fsyncs done and their total duration.
    pub(crate) fn fsync_stats(&self) -> (u64, Duration) {
        (self.fsyncs.load(Ordering::Relaxed), Duration::from_nanos(self.fsync_nanos.load(Ordering::Relaxed)))
    }

    /// Writes that failed.
    pub(crate) fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

/// Total size of the files in `dir` and below.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &str) -> Labels {
        Labels::new([("__name__".to_string(), "up".to_string()), ("job".to_string(), v.to_string())])
    }

    fn read_dir_records(dir: &Path) -> (Vec<Record>, Vec<String>) {
        let (segments, checkpoint) = list(dir).unwrap();
        let mut records = Vec::new();
        let mut corruptions = Vec::new();
        let mut files: Vec<PathBuf> = checkpoint.map(|c| c.1).into_iter().collect();
        files.extend(segments.iter().map(|n| segment_path(dir, *n)));
        for f in files {
            let out = read_records(&f.display().to_string(), &fs::read(&f).unwrap());
            records.extend(out.records);
            corruptions.extend(out.corruptions);
        }
        (records, corruptions)
    }

    #[test]
    fn records_round_trip_through_segments() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(dir.path(), 100, vec![]).unwrap();
        wal.series(1, &l("a"));
        for t in 0..10 {
            wal.sample(1, t * 1000, t as f64);
        }
        wal.flush(true).unwrap();
        wal.series(2, &l("b"));
        wal.sample(2, 50_000, crate::stale_nan());
        wal.flush(false).unwrap();
        let (segments, _) = list(dir.path()).unwrap();
        assert_eq!(segments, vec![1, 2], "cut past the segment size");
        let (records, corruptions) = read_dir_records(dir.path());
        assert!(corruptions.is_empty(), "{corruptions:?}");
        assert_eq!(records[0], Record::Series(vec![(1, l("a"))]));
        let Record::Samples(s) = &records[1] else { panic!("{records:?}") };
        assert_eq!(s.len(), 10);
        assert_eq!(s[9], (1, 9000, 9.0));
        let Record::Samples(s) = &records[3] else { panic!("{records:?}") };
        assert_eq!(s[0].2.to_bits(), crate::STALE_NAN_BITS);
        assert_eq!(wal.fsync_stats().0, 1);
    }

    #[test]
    fn torn_tails_and_flipped_bytes_are_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(dir.path(), 1 << 20, vec![]).unwrap();
        for r in 0..3 {
            wal.series(r, &l(&r.to_string()));
            wal.flush(false).unwrap();
        }
        let path = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        let one = bytes.len() / 3;
        bytes[one + HEADER + 2] ^= 0x40; // the second record's payload
        bytes.truncate(bytes.len() - 3); // the third record torn
        fs::write(&path, &bytes).unwrap();
        let (records, corruptions) = read_dir_records(dir.path());
        assert_eq!(records, vec![Record::Series(vec![(0, l("0"))])]);
        assert_eq!(corruptions.len(), 2, "{corruptions:?}");
        assert!(corruptions[0].contains("checksum mismatch"), "{corruptions:?}");
        assert!(corruptions[1].contains("torn record"), "{corruptions:?}");
        // Garbage everywhere never panics.
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..500 {
            let junk: Vec<u8> = (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect();
            let _ = read_records("junk", &junk);
        }
    }

    #[test]
    fn truncation_keeps_live_series_in_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::create(dir.path(), 1, vec![]).unwrap();
        wal.series(1, &l("old"));
        wal.sample(1, 100, 1.0);
        wal.flush(false).unwrap();
        wal.series(2, &l("new"));
        wal.sample(2, 5000, 1.0);
        wal.flush(false).unwrap();
        wal.sample(2, 6000, 2.0);
        wal.flush(false).unwrap();
        // Segment 1 holds t=100 only: everything before 1000 is in blocks.
        let live = vec![(2, std::sync::Arc::new(l("new")))];
        assert_eq!(wal.truncate(1000, &live).unwrap(), 1);
        let (segments, checkpoint) = list(dir.path()).unwrap();
        assert_eq!(segments, vec![2, 3]);
        assert_eq!(checkpoint.unwrap().0, 2);
        let (records, corruptions) = read_dir_records(dir.path());
        assert!(corruptions.is_empty());
        assert_eq!(records[0], Record::Series(vec![(2, l("new"))]));
        assert_eq!(wal.truncate(1000, &live).unwrap(), 0, "nothing more is old enough");
    }
}
