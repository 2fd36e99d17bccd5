//! The disk buffer: batches appended to checksummed segment files by one writer
//! thread, read back in order by the sink, and forgotten only once the sink confirms
//! delivery.
//!
//! - **Writing** (group commit): senders hand batches to the writer thread, which
//!   appends every batch waiting, then `fdatasync`s once and only then tells each
//!   batch's acknowledgement notifier that it is durable. A source with
//!   `acknowledgements: true` answers its client after that.
//! - **Reading**: the reader hands out batches in file order, each with a notifier of
//!   its own. When the sink reports it delivered (or refused for good), the record is
//!   acknowledged; when it reports failure, the record is handed out again.
//! - **Forgetting**: the acknowledged position (everything before it confirmed) is
//!   saved in `acknowledged`; segments wholly before it are deleted, except one kept as
//!   a spare that the next segment reuses (see [`segment`]). After a crash, everything
//!   from that position is sent again: at least once, never lost.
//! - **Bounded**: `max_size` bytes of files (segments, the reused live segment's
//!   old tail and the spare, which goes first when room is short); when full, senders wait (`block`) or
//!   the batch is dropped (`drop_newest`). A write that fails (disk full, ENOSPC) is
//!   cut back to the last whole record and the buffer counts as full for a moment:
//!   backpressure, not a crash.

mod segment;
mod writer;

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_event::{Batch, BatchNotifier, DeliveryStatus, Finalizers};
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use crate::{BufferStats, Closed, WhenFull};
use segment::{Format, Pos, Read1};
use writer::Op;

/// How long a failed write (disk full) makes the buffer count as full.
const FULL_AFTER_WRITE_ERROR: Duration = Duration::from_millis(500);
/// At most this many batches share one fsync.
const GROUP_COMMIT: usize = 256;
/// Bytes of batches handed to the writer thread and not yet written: the part of a
/// disk buffer that lives in memory. Past it, senders wait (or drop) as when the disk
/// part is full, so memory stays bounded whatever `max_size` is.
const MAX_QUEUED_BYTES: u64 = 8 << 20;
/// Bytes (encoded) of written batches also kept in memory for the reader. A sink that
/// keeps up gets each batch without reading it back and decoding it: the disk copy is
/// there for a crash or a redelivery. Past this, the reader reads from disk.
const MAX_HOT_BYTES: u64 = 8 << 20;

/// Live state shared by senders, the writer thread, the reader and acknowledgements.
struct State {
    /// End of what is written and synced: the reader may read up to here.
    written: Pos,
    /// Where the reader is.
    read: Pos,
    /// Records handed to the sink and not yet confirmed, in read order.
    in_flight: VecDeque<InFlight>,
    /// Sequence number of `in_flight[0]`.
    first_seq: u64,
    /// Records the sink failed to deliver: handed out again first.
    redeliver: VecDeque<u64>,
    /// Bytes of segment files on disk.
    bytes: u64,
    /// Batches handed to the writer and not yet written (bytes estimated).
    queued_bytes: u64,
    /// The position saved in `acknowledged`.
    acked: Pos,
    /// The `acknowledged` file, overwritten in place.
    ack_file: File,
    acked_saved_at: Instant,
    /// A write failed: count as full until then.
    full_until: Option<Instant>,
    /// The writer thread has ended (every sender gone).
    writer_done: bool,
    /// Sizes of the segments, for freeing space when one is deleted.
    segments: VecDeque<(u64, u64)>,
    /// A delivered segment's file kept for the next segment: the number it had, its length.
    spare: Option<(u64, u64)>,
    /// Length of the live segment's file: more than is written when it is a reused file.
    live_file_len: u64,
    /// Written records still held in memory, in file order (see [`MAX_HOT_BYTES`]).
    hot: VecDeque<Hot>,
    /// Encoded bytes of `hot`.
    hot_bytes: u64,
}

impl State {
    /// Bytes of files that hold no records: the spare and the reused live segment's
    /// old tail.
    fn reserved(&self) -> u64 {
        self.spare.map_or(0, |s| s.1) + self.live_file_len.saturating_sub(self.written.1)
    }
}

/// A written record whose batch is still in memory.
struct Hot {
    start: Pos,
    next: Pos,
    events: u64,
    size: u64,
    batch: Batch,
}

struct InFlight {
    start: Pos,
    next: Pos,
    events: u64,
    done: bool,
}

struct Shared {
    dir: PathBuf,
    name: String,
    max_size: u64,
    segment_size: u64,
    /// Segments in the format of an earlier version, found at open (none are written).
    legacy: HashSet<u64>,
    state: Mutex<State>,
    /// Something was written (or the writer ended).
    written: Notify,
    /// Room was freed.
    room: Notify,
    stats: Arc<BufferStats>,
    /// Asks the writer to finish a wholly confirmed live segment (weak: it must not keep
    /// the writer alive once every sender is gone).
    writer: Mutex<Option<mpsc::WeakUnboundedSender<Op>>>,
}

/// The writing end (cloneable).
#[derive(Clone)]
pub(crate) struct DiskSender {
    tx: mpsc::UnboundedSender<Op>,
    shared: Arc<Shared>,
    when_full: WhenFull,
}

/// The reading end.
pub(crate) struct DiskReceiver {
    shared: Arc<Shared>,
    /// The segment being read and its open file.
    file: Option<(u64, File)>,
}

/// Opens (or creates) the disk buffer in `dir`: what an earlier run left unconfirmed
/// is read first.
pub(crate) fn open(
    dir: &Path,
    name: &str,
    max_size: u64,
    max_events: usize,
    when_full: WhenFull,
) -> io::Result<(DiskSender, DiskReceiver, Arc<BufferStats>)> {
    std::fs::create_dir_all(dir)?;
    let existing = segment::list_segments(dir)?;
    let acked = segment::read_ack(dir).unwrap_or((existing.first().map_or(1, |s| s.0), 0));
    // One spare is kept (the newest); an earlier crash may have left more.
    let mut spares = segment::list_spares(dir)?;
    let spare = spares.pop().map(|was| (was, std::fs::metadata(segment::spare_path(dir, was)).map_or(0, |m| m.len())));
    for was in spares {
        let _ = std::fs::remove_file(segment::spare_path(dir, was));
    }
    let mut segments = VecDeque::new();
    let (mut bytes, mut replay_records, mut replay_events) = (0u64, 0u64, 0u64);
    // A segment listed here may vanish meanwhile: the writer of this buffer's previous
    // instance (a reload) can still be deleting what its sink confirmed.
    let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    for &(s, format) in &existing {
        let path = segment::segment_path(dir, s, format);
        if s < acked.0 {
            match std::fs::remove_file(&path) {
                Err(e) if !gone(&e) => return Err(e),
                _ => continue,
            }
        }
        let scanned = std::fs::metadata(&path)
            .and_then(|m| Ok((m.len(), segment::scan(&path, s, format, if s == acked.0 { acked.1 } else { 0 })?)));
        let (len, (records, events)) = match scanned {
            Ok(found) => found,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e),
        };
        replay_records += records;
        replay_events += events;
        bytes += len;
        segments.push_back((s, len));
    }
    // Never append to a segment an earlier run wrote: its tail may be torn. Never reuse
    // a number either: the spare's old records must not match the segment it becomes.
    let mut first_new = existing.last().map_or(acked.0.max(1), |l| l.0 + 1).max(spare.map_or(0, |s| s.0 + 1));
    // A writer of a buffer just closed may still be finishing a segment: skip its number.
    let file = loop {
        match segment::create_segment(dir, first_new, None) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => first_new += 1,
            other => break other?,
        }
    };
    let legacy = existing.iter().filter(|s| s.1 == Format::Legacy).map(|s| s.0).collect();
    segments.push_back((first_new, 0));
    let read = if segments.front().map(|s| s.0) == Some(acked.0) { acked } else { (segments[0].0, 0) };
    if replay_records > 0 {
        info!(buffer = %name, records = replay_records, events = replay_events, "Disk buffer: sending what an earlier run left unconfirmed.");
    }
    let stats = Arc::new(BufferStats::disk(max_events, max_size));
    stats.events.store(replay_events, Ordering::Relaxed);
    stats.bytes.store(bytes, Ordering::Relaxed);
    stats.replayed.store(replay_events, Ordering::Relaxed);
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        name: name.to_string(),
        max_size,
        // Small enough that the live segment (never deleted) holds at most an eighth.
        segment_size: (max_size / 8).clamp(64 << 10, 128 << 20),
        legacy,
        state: Mutex::new(State {
            written: (first_new, 0),
            read,
            in_flight: VecDeque::new(),
            first_seq: 0,
            redeliver: VecDeque::new(),
            bytes,
            queued_bytes: 0,
            acked: read,
            ack_file: segment::open_ack(dir)?,
            acked_saved_at: Instant::now(),
            full_until: None,
            writer_done: false,
            segments,
            spare,
            live_file_len: 0,
            hot: VecDeque::new(),
            hot_bytes: 0,
        }),
        written: Notify::new(),
        room: Notify::new(),
        stats: stats.clone(),
        writer: Mutex::new(None),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    *shared.writer.lock().expect("writer handle") = Some(tx.downgrade());
    writer::spawn(shared.clone(), rx, first_new, file)?;
    Ok((DiskSender { tx, shared: shared.clone(), when_full }, DiskReceiver { shared, file: None }, stats))
}

impl DiskSender {
    /// Waits for room (`block`), or says there is none (`drop_newest`: `false`).
    pub(crate) async fn reserve(&self) -> Result<bool, Closed> {
        loop {
            if self.tx.is_closed() {
                return Err(Closed);
            }
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.has_room() {
                return Ok(true);
            }
            if self.when_full == WhenFull::DropNewest {
                return Ok(false);
            }
            // A disk-full pause ends by time, not by a notification.
            let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
        }
    }

    pub(crate) fn send(&self, batch: Batch) -> Result<(), Closed> {
        let estimate = batch.encoded_len() as u64;
        self.shared.state.lock().expect("buffer state").queued_bytes += estimate;
        self.tx.send(Op::Write(batch, estimate)).map_err(|_| Closed)
    }
}

impl Shared {
    fn has_room(&self) -> bool {
        let mut s = self.state.lock().expect("buffer state");
        if let Some(until) = s.full_until {
            if Instant::now() < until {
                return false;
            }
            s.full_until = None;
        }
        let used = s.bytes + s.queued_bytes;
        // What the files hold beyond the records: the spare goes when room is short.
        if used + s.reserved() >= self.max_size {
            self.drop_spare(&mut s);
        }
        s.queued_bytes < MAX_QUEUED_BYTES && used + s.reserved() < self.max_size
    }

    /// Deletes the spare file, if any: its space is the first to give back.
    fn drop_spare(&self, s: &mut State) {
        if let Some((was, _)) = s.spare.take() {
            self.remove(&segment::spare_path(&self.dir, was));
        }
    }

    fn format(&self, segment: u64) -> Format {
        if self.legacy.contains(&segment) { Format::Legacy } else { Format::Numbered }
    }

    fn remove(&self, path: &Path) {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!(buffer = %self.name, error = %e, "Disk buffer: cannot delete a delivered segment."),
        }
    }

    /// A record handed out earlier has an outcome.
    fn settle(self: &Arc<Self>, seq: u64, status: DeliveryStatus) {
        let mut s = self.state.lock().expect("buffer state");
        let Some(index) = seq.checked_sub(s.first_seq).map(|i| i as usize) else { return };
        if index >= s.in_flight.len() {
            return;
        }
        if !status.is_kept() {
            s.redeliver.push_back(seq);
            drop(s);
            self.written.notify_one();
            return;
        }
        let events = {
            let entry = &mut s.in_flight[index];
            entry.done = true;
            entry.events
        };
        self.stats.events.fetch_sub(events.min(self.stats.events.load(Ordering::Relaxed)), Ordering::Relaxed);
        while s.in_flight.front().is_some_and(|e| e.done) {
            s.in_flight.pop_front();
            s.first_seq += 1;
        }
        let acked = s.in_flight.front().map_or(s.read, |e| e.start);
        self.advance_ack(&mut s, acked);
        if s.in_flight.is_empty() && s.acked >= s.written && s.written.1 > 0 {
            drop(s);
            if let Some(tx) = self.writer.lock().expect("writer handle").as_ref().and_then(|w| w.upgrade()) {
                tracing::debug!(buffer = %self.name, "Disk buffer: everything confirmed; finishing the live segment.");
                let _ = tx.send(Op::FinishSegment);
            }
        }
    }

    /// Moves the acknowledged position to `acked`, deleting segments wholly before it.
    fn advance_ack(&self, s: &mut State, acked: Pos) {
        if acked <= s.acked {
            return;
        }
        s.acked = acked;
        let mut freed = false;
        while let Some(&(seg, len)) = s.segments.front() {
            if seg >= acked.0 || seg >= s.written.0 {
                break;
            }
            s.segments.pop_front();
            s.bytes = s.bytes.saturating_sub(len);
            let path = segment::segment_path(&self.dir, seg, self.format(seg));
            // Kept for reuse while there is room for it; never synced: a crash that
            // undoes the rename leaves a segment before the acknowledged position,
            // deleted at the next start.
            let keep = s.spare.is_none()
                && self.format(seg) == Format::Numbered
                && s.bytes + s.queued_bytes + s.reserved() + len < self.max_size;
            if keep && std::fs::rename(&path, segment::spare_path(&self.dir, seg)).is_ok() {
                s.spare = Some((seg, len));
            } else {
                self.remove(&path);
            }
            freed = true;
        }
        self.stats.bytes.store(s.bytes, Ordering::Relaxed);
        // Saving every few milliseconds bounds both the write rate and what a crash
        // sends again.
        if freed || s.acked_saved_at.elapsed() >= Duration::from_millis(20) {
            self.save_ack(s);
        }
        if freed {
            self.room.notify_waiters();
        }
    }

    fn save_ack(&self, s: &mut State) {
        s.acked_saved_at = Instant::now();
        if let Err(e) = segment::write_ack(&s.ack_file, s.acked) {
            warn!(buffer = %self.name, error = %e, "Disk buffer: cannot save the acknowledged position.");
        }
    }
}

impl DiskReceiver {
    pub(crate) async fn recv(&mut self) -> Option<Batch> {
        loop {
            let shared = self.shared.clone();
            let notified = shared.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.next() {
                Next::Batch(b) => return Some(b),
                Next::Wait => {
                    // Let go of the segment file while idle: a segment deleted meanwhile
                    // keeps its space for as long as anyone holds it open.
                    self.file = None;
                    notified.await;
                }
                Next::Closed => return None,
            }
        }
    }

    pub(crate) fn try_recv(&mut self) -> Option<Batch> {
        match self.next() {
            Next::Batch(b) => Some(b),
            _ => None,
        }
    }

    fn next(&mut self) -> Next {
        loop {
            let mut s = self.shared.state.lock().expect("buffer state");
            if let Some(seq) = s.redeliver.pop_front() {
                let index = (seq - s.first_seq) as usize;
                let (start, limit) = (s.in_flight[index].start, s.in_flight[index].next.1);
                drop(s);
                match self.read_at(start, limit) {
                    Ok(Read1::Record { body, .. }) => match self.batch(seq, &body) {
                        Some(b) => return Next::Batch(b),
                        None => continue,
                    },
                    other => {
                        self.count_corrupt(start, &other);
                        self.shared.settle(seq, DeliveryStatus::Rejected);
                        continue;
                    }
                }
            }
            let read = s.read;
            if read >= s.written {
                return if s.writer_done { Next::Closed } else { Next::Wait };
            }
            if let Some(hot) = take_hot(&mut s, read) {
                let seq = s.first_seq + s.in_flight.len() as u64;
                s.in_flight.push_back(InFlight { start: read, next: hot.next, events: hot.events, done: false });
                s.read = hot.next;
                drop(s);
                return Next::Batch(self.with_notifier(seq, hot.batch));
            }
            // Whole earlier segments are read to their end; the live one up to `written`.
            let limit = if read.0 == s.written.0 { s.written.1 } else { u64::MAX };
            drop(s);
            let found = self.read_at(read, limit);
            let mut s = self.shared.state.lock().expect("buffer state");
            match found {
                Ok(Read1::Record { events, body, next }) => {
                    let seq = s.first_seq + s.in_flight.len() as u64;
                    s.in_flight.push_back(InFlight {
                        start: read,
                        next: (read.0, next),
                        events: events as u64,
                        done: false,
                    });
                    s.read = (read.0, next);
                    drop(s);
                    if let Some(b) = self.batch(seq, &body) {
                        return Next::Batch(b);
                    }
                }
                Ok(Read1::End) => self.next_segment(&mut s, read.0),
                other => {
                    drop(s);
                    self.count_corrupt(read, &other);
                    let mut s = self.shared.state.lock().expect("buffer state");
                    self.next_segment(&mut s, read.0);
                }
            }
        }
    }

    /// Moves the read position to the start of the segment after `current`.
    fn next_segment(&self, s: &mut State, current: u64) {
        let next = s.segments.iter().map(|&(seg, _)| seg).find(|&seg| seg > current).unwrap_or(s.written.0);
        s.read = (next, 0);
        if s.in_flight.is_empty() {
            let read = s.read;
            self.shared.advance_ack(s, read);
        }
    }

    fn read_at(&mut self, pos: Pos, limit: u64) -> io::Result<Read1> {
        let format = self.shared.format(pos.0);
        if self.file.as_ref().map(|f| f.0) != Some(pos.0) {
            self.file = Some((pos.0, File::open(segment::segment_path(&self.shared.dir, pos.0, format))?));
        }
        let file = &mut self.file.as_mut().expect("opened").1;
        // A finished segment is read to its end (a reused file's old records read as
        // the end); otherwise the caller knows where the written (or the record's)
        // bytes end, and no stat per record is needed.
        let limit = if limit == u64::MAX { file.metadata()?.len() } else { limit };
        segment::read_record(file, pos.0, format, pos.1, limit)
    }

    fn count_corrupt(&self, pos: Pos, found: &io::Result<Read1>) {
        let why = match found {
            Ok(Read1::Corrupt(why)) => (*why).to_string(),
            Err(e) => e.to_string(),
            _ => return,
        };
        self.shared.stats.corrupt.fetch_add(1, Ordering::Relaxed);
        warn!(buffer = %self.shared.name, segment = pos.0, offset = pos.1, error = %why, "Disk buffer: skipping the rest of a damaged segment.");
    }

    /// The batch of record `seq`, with a notifier that settles it; a record that does
    /// not decode is counted and settled as refused.
    fn batch(&self, seq: u64, body: &[u8]) -> Option<Batch> {
        match lookout_event::codec::decode(body) {
            Ok(batch) => Some(self.with_notifier(seq, batch)),
            Err(e) => {
                self.shared.stats.corrupt.fetch_add(1, Ordering::Relaxed);
                warn!(buffer = %self.shared.name, error = %e, "Disk buffer: a record does not decode; skipped.");
                self.shared.settle(seq, DeliveryStatus::Rejected);
                None
            }
        }
    }
}

impl DiskReceiver {
    /// `batch` (record `seq`) with a notifier that settles the record.
    fn with_notifier(&self, seq: u64, mut batch: Batch) -> Batch {
        let shared = self.shared.clone();
        let notifier = BatchNotifier::with_callback(move |status| shared.settle(seq, status));
        batch.meta.finalizers = Finalizers::new(notifier);
        batch
    }
}

/// The in-memory copy of the record at `read`, if it is still held; copies of records
/// before it (passed over, e.g. after a damaged segment) are let go.
fn take_hot(s: &mut State, read: Pos) -> Option<Hot> {
    while let Some(front) = s.hot.front() {
        if front.start > read {
            return None;
        }
        let hot = s.hot.pop_front().expect("front");
        s.hot_bytes -= hot.size;
        if hot.start == read {
            return Some(hot);
        }
    }
    None
}

impl Drop for DiskReceiver {
    fn drop(&mut self) {
        let mut s = self.shared.state.lock().expect("buffer state");
        self.shared.save_ack(&mut s);
    }
}

enum Next {
    Batch(Batch),
    Wait,
    Closed,
}

#[cfg(test)]
mod tests;
