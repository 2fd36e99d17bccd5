//! Bounded buffers between components.
//!
//! Every sink (and every edge between components) reads from a [`memory`] buffer
//! bounded in **events**, not batches, so memory stays bounded whatever the batch
//! sizes. What happens when it is full is the user's choice ([`WhenFull`]):
//! `block` pushes back on the writer (and through it on the OTLP client, which gets
//! 429/503 and retries), `drop_newest` drops the incoming batch and counts it.
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
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lookout_event::Batch;
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

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

/// `buffer:` on a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    /// Most events held (queued, not yet taken by the sink).
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// What to do when full.
    #[serde(default)]
    pub when_full: WhenFull,
}

fn default_max_events() -> usize {
    50_000
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig { max_events: default_max_events(), when_full: WhenFull::Block }
    }
}

/// Live numbers of one buffer, shared with the metrics endpoint.
#[derive(Debug)]
pub struct BufferStats {
    /// Capacity in events.
    pub max_events: usize,
    semaphore: Arc<Semaphore>,
    dropped: AtomicU64,
}

impl BufferStats {
    /// Events currently held.
    pub fn events(&self) -> usize {
        self.max_events - self.semaphore.available_permits().min(self.max_events)
    }

    /// Events dropped because the buffer was full (`drop_newest`).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

struct Item {
    batch: Batch,
    _permit: Option<OwnedSemaphorePermit>,
}

/// The writing end of a buffer. Cloneable; the buffer closes when every clone is gone.
#[derive(Clone)]
pub struct BufferSender {
    tx: mpsc::UnboundedSender<Item>,
    stats: Arc<BufferStats>,
    when_full: WhenFull,
}

/// The reading end of a buffer.
pub struct BufferReceiver {
    rx: mpsc::UnboundedReceiver<Item>,
    stats: Arc<BufferStats>,
}

/// The buffer was closed (its reader is gone).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("buffer closed")]
pub struct Closed;

/// Room taken in a buffer for one batch; send with [`Reservation::send`].
pub struct Reservation {
    sender: BufferSender,
    permit: Option<OwnedSemaphorePermit>,
    /// `drop_newest` found no room: sending will count the batch as dropped.
    drop: bool,
}

/// Creates a buffer holding at most `max_events` events.
pub fn memory(max_events: usize, when_full: WhenFull) -> (BufferSender, BufferReceiver) {
    let max_events = max_events.max(1);
    let stats = Arc::new(BufferStats {
        max_events,
        semaphore: Arc::new(Semaphore::new(max_events)),
        dropped: AtomicU64::new(0),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    (BufferSender { tx, stats: stats.clone(), when_full }, BufferReceiver { rx, stats })
}

impl BufferSender {
    /// Takes room for `events` events. With `block` this waits for room; with
    /// `drop_newest` it returns at once, marked to drop when there is none. A batch
    /// larger than the whole buffer takes the whole buffer.
    pub async fn reserve(&self, events: usize) -> Result<Reservation, Closed> {
        if self.tx.is_closed() {
            return Err(Closed);
        }
        let n = events.clamp(1, self.stats.max_events) as u32;
        let sem = self.stats.semaphore.clone();
        let (permit, drop) = match self.when_full {
            WhenFull::Block => (Some(sem.acquire_many_owned(n).await.map_err(|_| Closed)?), false),
            WhenFull::DropNewest => match sem.try_acquire_many_owned(n) {
                Ok(p) => (Some(p), false),
                Err(_) => (None, true),
            },
        };
        Ok(Reservation { sender: self.clone(), permit, drop })
    }

    /// Reserves and sends in one step.
    pub async fn send(&self, batch: Batch) -> Result<(), Closed> {
        self.reserve(batch.len()).await?.send(batch)
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
    /// Sends the batch into the reserved room (or counts it dropped). Returns whether
    /// the batch was kept.
    pub fn send(self, batch: Batch) -> Result<(), Closed> {
        if self.drop {
            self.sender.stats.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            return Ok(());
        }
        self.sender.tx.send(Item { batch, _permit: self.permit }).map_err(|_| Closed)
    }

    /// Whether this reservation will drop its batch (`drop_newest` and no room).
    pub fn drops(&self) -> bool {
        self.drop
    }
}

impl BufferReceiver {
    /// Takes the next batch; `None` once every sender is gone and the buffer is empty.
    /// Its room is released as soon as it is taken.
    pub async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await.map(|item| item.batch)
    }

    /// Takes a batch if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok().map(|item| item.batch)
    }

    /// The buffer's live numbers.
    pub fn stats(&self) -> &Arc<BufferStats> {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use std::time::Duration;

    fn batch(n: usize) -> Batch {
        Batch::logs(vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); n], ..Default::default() }],
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn drop_newest_counts_and_keeps_bound() {
        let (tx, mut rx) = memory(10, WhenFull::DropNewest);
        tx.send(batch(6)).await.unwrap();
        tx.send(batch(6)).await.unwrap(); // no room: dropped
        assert_eq!(tx.stats().events(), 6);
        assert_eq!(tx.stats().dropped(), 6);
        assert_eq!(rx.recv().await.unwrap().len(), 6);
        assert_eq!(tx.stats().events(), 0);
        tx.send(batch(4)).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn block_waits_for_room() {
        let (tx, mut rx) = memory(10, WhenFull::Block);
        tx.send(batch(8)).await.unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(batch(8))).await;
        assert!(blocked.is_err(), "second batch must wait for room");
        let tx2 = tx.clone();
        let waiter = tokio::spawn(async move { tx2.send(batch(8)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(rx.recv().await.unwrap().len(), 8);
        waiter.await.unwrap().unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 8);
        assert_eq!(tx.stats().dropped(), 0);
    }

    #[tokio::test]
    async fn closes_when_senders_gone() {
        let (tx, mut rx) = memory(10, WhenFull::Block);
        tx.send(batch(1)).await.unwrap();
        drop(tx);
        assert!(rx.recv().await.is_some());
        assert!(rx.recv().await.is_none());
    }
}
