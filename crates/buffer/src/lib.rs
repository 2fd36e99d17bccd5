//! Bounded buffers between components, in memory or on disk.
//!
//! Every sink (and every edge between components) reads from a buffer bounded in
//! **events** (memory, optionally also in bytes) or in **bytes** (disk), so memory and
//! disk stay bounded whatever the batch sizes. What happens when it is full is the
//! user's choice ([`WhenFull`]): `block` pushes back on the writer (and through it on
//! the OTLP client, which gets 503 and retries), `drop_newest` drops the incoming batch
//! and counts it.
//!
//! - [`memory`]: a queue in memory; fast, lost on a crash.
//! - [`disk`](BufferConfig::open): checksummed segment files under
//!   `data_dir/buffers/<sink>/`; a record is forgotten only once its sink confirms
//!   delivery through the batch's acknowledgement notifier
//!   ([`lookout_event::finalize`]), so `kill -9` loses nothing that was written.
//!
//! Writers reserve room before sending ([`BufferSender::reserve`]) so that a fan-out
//! to several buffers can take room in all of them before committing to any: a batch
//! either goes to every downstream or to none, and a client retry never duplicates.
//!
//! ```
//! # tokio_test_block_on(async {
//! use lookout_buffer::{memory, WhenFull};
//! use lookout_event::Batch;
//! let (tx, mut rx) = memory(100, WhenFull::Block);
//! tx.send(Batch::logs(vec![])).await.unwrap();
//! drop(tx);
//! assert!(rx.recv().await.is_some());
//! assert!(rx.recv().await.is_none());
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod disk;
mod memory;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lookout_config::ByteSize;
use lookout_event::{Batch, DeliveryStatus};
use serde::Deserialize;
use tokio::sync::Semaphore;

/// What a full buffer does with a new batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: backpressure to the writer.
    #[default]
    Block,
    /// Drop the incoming batch and count its events as dropped.
    DropNewest,
}

/// Where a buffer keeps its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BufferType {
    /// In memory, bounded in events (and `max_bytes`).
    #[default]
    Memory,
    /// In segment files under `data_dir/buffers/<sink>/`, bounded by `max_size`.
    Disk,
}

/// `buffer:` on a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// `memory` (default) or `disk`.
    #[serde(default, rename = "type")]
    pub kind: BufferType,
    /// Memory: most events held (queued, not yet taken by the sink).
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Memory: most bytes held (protobuf size of the batches), when set.
    #[serde(default)]
    pub max_bytes: Option<ByteSize>,
    /// Disk: most bytes of segment files (default 1GiB).
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// What to do when full.
    #[serde(default)]
    pub when_full: WhenFull,
}

fn default_max_events() -> usize {
    50_000
}

/// The default size of a disk buffer.
pub const DEFAULT_DISK_MAX_SIZE: u64 = 1 << 30;

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            kind: BufferType::Memory,
            max_events: default_max_events(),
            max_bytes: None,
            max_size: None,
            when_full: WhenFull::Block,
        }
    }
}

/// A buffer could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A key that belongs to the other buffer type.
    #[error("{0}")]
    Invalid(String),
    /// The disk buffer's directory or files.
    #[error("cannot open the disk buffer in {path}: {source}")]
    Io {
        /// The buffer's directory.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

impl BufferConfig {
    /// Checks keys that only one buffer type takes.
    pub fn validate(&self) -> Result<(), String> {
        match self.kind {
            BufferType::Memory if self.max_size.is_some() => {
                Err("`max_size` is for `type: disk` buffers (memory buffers take `max_events` and `max_bytes`)".into())
            }
            BufferType::Disk if self.max_bytes.is_some() => {
                Err("`max_bytes` is for memory buffers (disk buffers are bounded by `max_size`)".into())
            }
            BufferType::Disk if self.max_size.is_some_and(|s| s.bytes() < 1 << 20) => {
                Err("`max_size` of a disk buffer must be at least 1MiB".into())
            }
            _ => Ok(()),
        }
    }

    /// Opens the buffer this config describes; a disk buffer for component `name`
    /// lives in `data_dir/buffers/<name>/`.
    pub fn open(&self, data_dir: &Path, name: &str) -> Result<(BufferSender, BufferReceiver), OpenError> {
        self.validate().map_err(OpenError::Invalid)?;
        match self.kind {
            BufferType::Memory => Ok(memory_with(self.max_events, self.max_bytes.map(ByteSize::bytes), self.when_full)),
            BufferType::Disk => {
                let dir = data_dir.join("buffers").join(name);
                let max_size = self.max_size.map_or(DEFAULT_DISK_MAX_SIZE, ByteSize::bytes);
                let (tx, rx, stats) = disk::open(&dir, name, max_size, self.max_events, self.when_full)
                    .map_err(|source| OpenError::Io { path: dir.display().to_string(), source })?;
                Ok((
                    BufferSender { inner: SenderInner::Disk(tx), stats: stats.clone() },
                    BufferReceiver { inner: ReceiverInner::Disk(rx), stats },
                ))
            }
        }
    }
}

/// Live numbers of one buffer, shared with the metrics endpoint.
#[derive(Debug)]
pub struct BufferStats {
    /// Capacity in events (memory buffers).
    pub max_events: usize,
    /// Capacity in bytes (disk: `max_size`; memory: `max_bytes` or 0 when unbounded).
    pub max_bytes: u64,
    semaphore: Option<Arc<Semaphore>>,
    pub(crate) events: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) write_errors: AtomicU64,
}

impl BufferStats {
    fn memory(max_events: usize, semaphore: Arc<Semaphore>, max_bytes: u64) -> BufferStats {
        BufferStats { max_events, max_bytes, semaphore: Some(semaphore), ..BufferStats::disk(max_events, 0) }
    }

    fn disk(max_events: usize, max_bytes: u64) -> BufferStats {
        BufferStats {
            max_events,
            max_bytes,
            semaphore: None,
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        }
    }

    /// Events currently held (disk: written and not yet confirmed by the sink).
    pub fn events(&self) -> usize {
        match &self.semaphore {
            Some(sem) => self.max_events - sem.available_permits().min(self.max_events),
            None => self.events.load(Ordering::Relaxed) as usize,
        }
    }

    /// Bytes currently held on disk (0 for memory buffers).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Events dropped because the buffer was full (`drop_newest`) or a disk write failed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Disk records skipped as damaged (torn by a crash, checksum mismatch).
    pub fn corrupt(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }

    /// Events found unconfirmed on disk at start and sent again: the upper bound of
    /// duplicates a restart can cause.
    pub fn replayed(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
    }

    /// Disk writes that failed (disk full, I/O error).
    pub fn write_errors(&self) -> u64 {
        self.write_errors.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
enum SenderInner {
    Memory(memory::MemorySender),
    Disk(disk::DiskSender),
}

/// The writing end of a buffer. Cloneable; the buffer closes when every clone is gone.
#[derive(Clone)]
pub struct BufferSender {
    inner: SenderInner,
    stats: Arc<BufferStats>,
}

enum ReceiverInner {
    Memory(memory::MemoryReceiver),
    Disk(disk::DiskReceiver),
}

/// The reading end of a buffer.
pub struct BufferReceiver {
    inner: ReceiverInner,
    stats: Arc<BufferStats>,
}

/// The buffer was closed (its reader is gone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("buffer closed")]
pub struct Closed;

/// Room taken in a buffer for one batch; send with [`Reservation::send`].
pub struct Reservation {
    sender: BufferSender,
    permits: Option<memory::Permits>,
    /// `drop_newest` found no room: sending will count the batch as dropped.
    drop: bool,
}

/// Creates a memory buffer holding at most `max_events` events.
pub fn memory(max_events: usize, when_full: WhenFull) -> (BufferSender, BufferReceiver) {
    memory_with(max_events, None, when_full)
}

fn memory_with(max_events: usize, max_bytes: Option<u64>, when_full: WhenFull) -> (BufferSender, BufferReceiver) {
    let (tx, rx, stats) = memory::channel(max_events, max_bytes, when_full);
    (
        BufferSender { inner: SenderInner::Memory(tx), stats: stats.clone() },
        BufferReceiver { inner: ReceiverInner::Memory(rx), stats },
    )
}

impl BufferSender {
    /// Takes room for `events` events. With `block` this waits for room; with
    /// `drop_newest` it returns at once, marked to drop when there is none. A batch
    /// larger than the whole buffer takes the whole buffer.
    pub async fn reserve(&self, events: usize) -> Result<Reservation, Closed> {
        self.reserve_bytes(events, 0).await
    }

    /// Takes room for `batch` (its events, and its bytes where the buffer counts them).
    pub async fn reserve_for(&self, batch: &Batch) -> Result<Reservation, Closed> {
        let bytes = match &self.inner {
            SenderInner::Memory(m) if m.counts_bytes() => batch.encoded_len(),
            _ => 0,
        };
        self.reserve_bytes(batch.len(), bytes).await
    }

    async fn reserve_bytes(&self, events: usize, bytes: usize) -> Result<Reservation, Closed> {
        let (permits, drop) = match &self.inner {
            SenderInner::Memory(m) => {
                if m.is_closed() {
                    return Err(Closed);
                }
                match m.reserve(events, bytes).await? {
                    Some(p) => (Some(p), false),
                    None => (None, true),
                }
            }
            SenderInner::Disk(d) => (None, !d.reserve().await?),
        };
        Ok(Reservation { sender: self.clone(), permits, drop })
    }

    /// Reserves and sends in one step.
    pub async fn send(&self, batch: Batch) -> Result<(), Closed> {
        self.reserve_for(&batch).await?.send(batch)
    }

    /// The buffer's live numbers.
    pub fn stats(&self) -> &Arc<BufferStats> {
        &self.stats
    }

    /// A stable identity, used to reserve in a fixed order across buffers.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.stats) as usize
    }
}

impl Reservation {
    /// Sends the batch into the reserved room (or counts it dropped, telling whoever
    /// waits on it that it was not delivered).
    pub fn send(self, batch: Batch) -> Result<(), Closed> {
        if self.drop {
            self.sender.stats.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch.meta.finalizers.update(DeliveryStatus::Errored);
            return Ok(());
        }
        match &self.sender.inner {
            SenderInner::Memory(m) => m.send(batch, self.permits.unwrap_or_default()),
            SenderInner::Disk(d) => d.send(batch),
        }
    }

    /// Whether this reservation will drop its batch (`drop_newest` and no room).
    pub fn drops(&self) -> bool {
        self.drop
    }
}

impl BufferReceiver {
    /// Takes the next batch; `None` once every sender is gone and the buffer is empty.
    /// A memory buffer's room is released as soon as the batch is taken; a disk
    /// buffer's once the batch's acknowledgement reports it delivered.
    pub async fn recv(&mut self) -> Option<Batch> {
        match &mut self.inner {
            ReceiverInner::Memory(m) => m.recv().await,
            ReceiverInner::Disk(d) => d.recv().await,
        }
    }

    /// Takes a batch if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Batch> {
        match &mut self.inner {
            ReceiverInner::Memory(m) => m.try_recv(),
            ReceiverInner::Disk(d) => d.try_recv(),
        }
    }

    /// The buffer's live numbers.
    pub fn stats(&self) -> &Arc<BufferStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests;
