//! The writer thread: appends batches to the live segment in groups that share one
//! `fdatasync` (group commit), then tells each batch's acknowledgement that it is durable.
//!
//! Segment files are written with direct I/O where the file system allows it: whole
//! blocks from block-aligned memory, so the data goes from the writer's buffer to the
//! device without a copy into the page cache (and no write-back of it afterwards); the
//! last, partial block is written again, with what follows it, by the next group.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use lookout_event::{Batch, PendingAck};
use tokio::sync::mpsc;
use tracing::warn;

use super::segment;
use super::{FULL_AFTER_WRITE_ERROR, GROUP_COMMIT, Hot, MAX_HOT_BYTES, Shared};

/// The unit of direct I/O: offsets, lengths and memory addresses are multiples of it.
const BLOCK: usize = 4096;

/// What the writer thread is asked to do.
pub(super) enum Op {
    /// Append a batch (with the size `queued_bytes` counted for it).
    Write(Batch, u64),
    /// The live segment may be wholly confirmed: finish it so it can be deleted.
    FinishSegment,
}

/// Starts the writer thread on the live segment `segment` (new and empty).
pub(super) fn spawn(
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Op>,
    segment: u64,
    file: segment::SegmentFile,
) -> io::Result<()> {
    let name = format!("buffer-{}", shared.name);
    let writer = Writer { shared, rx, segment, file, offset: 0, staging: Staging::new() };
    std::thread::Builder::new().name(name).spawn(move || writer.run())?;
    Ok(())
}

/// The writer thread.
struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Op>,
    segment: u64,
    file: segment::SegmentFile,
    /// End of the last whole record written.
    offset: u64,
    staging: Staging,
}

impl Writer {
    fn run(mut self) {
        let segment_size = self.shared.segment_size;
        let mut group: Vec<Hot> = Vec::new();
        loop {
            let first = match self.rx.blocking_recv() {
                Some(Op::Write(b, size)) => (b, size),
                Some(Op::FinishSegment) => {
                    self.finish_delivered_segment();
                    continue;
                }
                None => break,
            };
            // Group commit: every batch waiting shares one fsync, up to the segment's end.
            if self.offset >= segment_size
                && let Err(e) = self.roll()
            {
                warn!(buffer = %self.shared.name, error = %e, "Disk buffer: cannot start a new segment.");
            }
            let mut acks = PendingAck::default();
            let (mut estimate, mut events) = (0u64, 0u64);
            group.clear();
            let mut next = Some(first);
            let mut yielded = false;
            while let Some((mut batch, size)) = next.take() {
                estimate += size;
                events += batch.len() as u64;
                acks.merge(batch.meta.finalizers.take());
                let start = self.offset + self.staging.records_len();
                segment::frame_with(
                    self.segment,
                    batch.len().min(u32::MAX as usize) as u32,
                    self.staging.buf(),
                    |out| {
                        lookout_event::codec::encode(&batch, out);
                    },
                );
                let next_offset = self.offset + self.staging.records_len();
                group.push(Hot {
                    start: (self.segment, start),
                    next: (self.segment, next_offset),
                    events: batch.len() as u64,
                    size: next_offset - start,
                    batch,
                });
                if group.len() >= GROUP_COMMIT || next_offset >= segment_size {
                    break;
                }
                let mut received = self.rx.try_recv();
                if received.is_err() && !yielded {
                    // Nothing more waiting: let whatever else is runnable on this core
                    // (the ingest that sent this batch) go first, once, so that what it
                    // sends meanwhile shares this group's sync. On an idle core this
                    // returns at once.
                    yielded = true;
                    std::thread::yield_now();
                    received = self.rx.try_recv();
                }
                match received {
                    Ok(Op::Write(b, size)) => next = Some((b, size)),
                    // This group adds to the live segment, so it is not wholly confirmed:
                    // the confirmation of these records asks again.
                    Ok(Op::FinishSegment) | Err(_) => {}
                }
            }
            let added = self.staging.records_len();
            let result = self.append();
            let mut s = self.shared.state.lock().expect("buffer state");
            s.queued_bytes = s.queued_bytes.saturating_sub(estimate);
            match result {
                Ok(()) => {
                    s.written = (self.segment, self.offset);
                    s.bytes += added;
                    if let Some(last) = s.segments.back_mut() {
                        last.1 = self.offset;
                    }
                    self.shared.stats.bytes.store(s.bytes, Ordering::Relaxed);
                    self.shared.stats.events.fetch_add(events, Ordering::Relaxed);
                    for hot in group.drain(..) {
                        if s.hot_bytes + hot.size > MAX_HOT_BYTES {
                            break;
                        }
                        s.hot_bytes += hot.size;
                        s.hot.push_back(hot);
                    }
                    drop(s);
                    acks.delivered();
                    self.shared.written.notify_one();
                }
                Err(e) => {
                    s.full_until = Some(Instant::now() + FULL_AFTER_WRITE_ERROR);
                    drop(s);
                    self.shared.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(buffer = %self.shared.name, error = %e, "Disk buffer: write failed; refusing new data for a moment.");
                    self.shared.stats.dropped.fetch_add(events, Ordering::Relaxed);
                    // `acks` reports Errored when dropped: the client retries.
                    drop(acks);
                }
            }
            self.shared.room.notify_waiters();
        }
        let _ = self.file.file.sync_data();
        self.shared.state.lock().expect("buffer state").writer_done = true;
        self.shared.written.notify_one();
    }

    /// Every record of the live segment was confirmed: start a new one, so the old one
    /// (and its space) can go. Without this a quiet buffer, or one on a full disk, would
    /// hold its last segment's space for good.
    fn finish_delivered_segment(&mut self) {
        let delivered = {
            let s = self.shared.state.lock().expect("buffer state");
            self.offset > 0 && s.in_flight.is_empty() && s.acked >= (self.segment, self.offset)
        };
        if !delivered {
            tracing::debug!(buffer = %self.shared.name, segment = self.segment, offset = self.offset, "Disk buffer: live segment not wholly confirmed yet.");
            return;
        }
        if let Err(e) = self.roll() {
            warn!(buffer = %self.shared.name, error = %e, "Disk buffer: cannot start a new segment.");
            return;
        }
        let mut s = self.shared.state.lock().expect("buffer state");
        let start = (self.segment, 0);
        if s.in_flight.is_empty() && s.read < start {
            s.read = start;
        }
        let read = s.read;
        self.shared.advance_ack(&mut s, read);
        drop(s);
        self.shared.room.notify_waiters();
    }

    /// Writes the staged records after the last whole record and syncs, or cuts the
    /// file back to that record.
    fn append(&mut self) -> io::Result<()> {
        let added = self.staging.records_len();
        let at = self.offset - self.offset % BLOCK as u64;
        let mut result = self.file.file.write_all_at(self.staging.blocks(), at);
        if self.file.direct && result.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput) {
            // Direct I/O opened but refused (alignment this file system does not take):
            // write through the page cache from now on.
            result = self
                .file
                .buffered(&self.shared.dir, self.segment)
                .and_then(|()| self.file.file.write_all_at(self.staging.blocks(), at));
        }
        match result.and_then(|()| self.file.file.sync_data()) {
            Ok(()) => {
                self.staging.written(self.offset, self.offset + added);
                self.offset += added;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.file.set_len(self.offset);
                self.staging.discard();
                let mut s = self.shared.state.lock().expect("buffer state");
                s.live_file_len = self.offset;
                // The disk may be full.
                self.shared.drop_spare(&mut s);
                Err(e)
            }
        }
    }

    fn roll(&mut self) -> io::Result<()> {
        let next = self.segment + 1;
        let spare = self.shared.state.lock().expect("buffer state").spare.take();
        let file = segment::create_segment(&self.shared.dir, next, spare.map(|s| s.0))?;
        let file_len = file.file.metadata()?.len();
        self.file = file;
        self.segment = next;
        self.offset = 0;
        self.staging.reset();
        let mut s = self.shared.state.lock().expect("buffer state");
        s.live_file_len = file_len;
        s.segments.push_back((next, 0));
        // Readers move on from the finished segment once they reach its end.
        s.written = (next, 0);
        Ok(())
    }
}

/// The writer's buffer: the live segment's last partial block (already written, to be
/// written again) followed by the records of the group being framed, starting at a
/// block boundary in memory.
struct Staging {
    buf: Vec<u8>,
    /// Where the block-aligned data starts in `buf`.
    start: usize,
    /// Bytes of the partial block before the new records.
    tail: usize,
}

impl Staging {
    fn new() -> Staging {
        let mut staging = Staging { buf: Vec::with_capacity(4 << 20), start: 0, tail: 0 };
        staging.align();
        staging
    }

    /// The buffer records are framed onto.
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes of records framed since the last write.
    fn records_len(&self) -> u64 {
        (self.buf.len() - self.start - self.tail) as u64
    }

    /// The partial block and the new records, padded with zeros to whole blocks (read
    /// as the end: a record's segment number is never 0), from a block-aligned address.
    fn blocks(&mut self) -> &[u8] {
        let data = self.buf.len() - self.start;
        self.buf.resize(self.start + data.div_ceil(BLOCK) * BLOCK, 0);
        // Framing may have grown (moved) the buffer.
        self.align();
        &self.buf[self.start..]
    }

    /// The records from `from` to `to` (offsets in the segment) are written: keep the
    /// partial block `to` ends in, to be written again with the next records.
    fn written(&mut self, from: u64, to: u64) {
        let block = |o: u64| o - o % BLOCK as u64;
        let keep = (to % BLOCK as u64) as usize;
        let at = self.start + (block(to) - block(from)) as usize;
        self.buf.copy_within(at..at + keep, self.start);
        self.buf.truncate(self.start + keep);
        self.tail = keep;
    }

    /// A new, empty segment.
    fn reset(&mut self) {
        self.buf.truncate(self.start);
        self.tail = 0;
    }

    /// The staged records were not written: back to the partial block alone.
    fn discard(&mut self) {
        self.buf.truncate(self.start + self.tail);
    }

    /// Moves the data so that it starts at a block boundary in memory.
    fn align(&mut self) {
        loop {
            let want = (BLOCK - self.buf.as_ptr() as usize % BLOCK) % BLOCK;
            if want == self.start {
                return;
            }
            let len = self.buf.len() - self.start;
            if want > self.start {
                // Growing can move the buffer: then the next round aligns again.
                self.buf.resize(want + len, 0);
                self.buf.copy_within(self.start..self.start + len, want);
            } else {
                self.buf.copy_within(self.start.., want);
                self.buf.truncate(want + len);
            }
            self.start = want;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, Staging};

    /// Groups of records of awkward sizes, written as the writer writes them into a
    /// byte vector standing for the file: every write is whole blocks from an aligned
    /// address at a block offset, and the file ends up holding exactly the records.
    #[test]
    fn staged_writes_are_whole_aligned_blocks_that_rebuild_the_records() {
        let mut staging = Staging::new();
        let (mut file, mut expected, mut offset) = (Vec::new(), Vec::new(), 0u64);
        for group in 0..200u32 {
            for record in 0..(group % 4 + 1) {
                // One group outgrows the buffer's first allocation: it moves and realigns.
                let len =
                    if group == 100 { 5 << 20 } else { (group as usize * 977 + record as usize * 131) % 9000 + 1 };
                let bytes: Vec<u8> = (0..len).map(|i| (i as u32 + group) as u8 | 1).collect();
                staging.buf().extend_from_slice(&bytes);
                expected.extend_from_slice(&bytes);
            }
            let added = staging.records_len();
            let at = (offset - offset % BLOCK as u64) as usize;
            let blocks = staging.blocks();
            assert_eq!(blocks.as_ptr() as usize % BLOCK, 0, "aligned memory");
            assert_eq!(blocks.len() % BLOCK, 0, "whole blocks");
            file.resize(file.len().max(at + blocks.len()), 0);
            file[at..at + blocks.len()].copy_from_slice(blocks);
            staging.written(offset, offset + added);
            offset += added;
            if group == 150 {
                // A failed write: the next group starts from the same partial block.
                staging.buf().extend_from_slice(b"lost");
                staging.discard();
            }
        }
        assert_eq!(&file[..expected.len()], &expected[..]);
        assert!(file[expected.len()..].iter().all(|&b| b == 0), "zeros after the records");
        staging.reset();
        assert_eq!(staging.records_len(), 0);
    }
}
