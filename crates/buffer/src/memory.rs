//! The memory buffer: a queue bounded in events (and optionally bytes), with room
//! taken by semaphores before a batch is sent.

use std::sync::Arc;

use lookout_event::{Batch, DeliveryStatus};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::{BufferStats, Closed, WhenFull};

/// Bytes are counted in KiB permits: a semaphore takes at most `u32` permits at once.
const BYTES_PER_PERMIT: u64 = 1024;

struct Item {
    batch: Batch,
    _permits: Permits,
}

/// Room held by a queued batch, given back when it is taken.
#[derive(Default)]
#[allow(dead_code)] // held for their Drop
pub(crate) struct Permits {
    events: Option<OwnedSemaphorePermit>,
    bytes: Option<OwnedSemaphorePermit>,
}

#[derive(Clone)]
pub(crate) struct MemorySender {
    tx: mpsc::UnboundedSender<Item>,
    events: Arc<Semaphore>,
    bytes: Option<Arc<Semaphore>>,
    max_events: usize,
    max_kib: u32,
    when_full: WhenFull,
}

pub(crate) struct MemoryReceiver {
    rx: mpsc::UnboundedReceiver<Item>,
}

pub(crate) fn channel(
    max_events: usize,
    max_bytes: Option<u64>,
    when_full: WhenFull,
) -> (MemorySender, MemoryReceiver, Arc<BufferStats>) {
    let max_events = max_events.max(1);
    let events = Arc::new(Semaphore::new(max_events));
    let max_kib = max_bytes.map_or(0, |b| (b / BYTES_PER_PERMIT).clamp(1, u32::MAX as u64) as u32);
    let bytes = max_bytes.map(|_| Arc::new(Semaphore::new(max_kib as usize)));
    let stats = Arc::new(BufferStats::memory(max_events, events.clone(), max_bytes.unwrap_or(0)));
    let (tx, rx) = mpsc::unbounded_channel();
    (MemorySender { tx, events, bytes, max_events, max_kib, when_full }, MemoryReceiver { rx }, stats)
}

impl MemorySender {
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Takes room for `events` events and `bytes` bytes; `None` when `drop_newest`
    /// finds none.
    pub(crate) async fn reserve(&self, events: usize, bytes: usize) -> Result<Option<Permits>, Closed> {
        let n = events.clamp(1, self.max_events) as u32;
        let kib = (bytes as u64).div_ceil(BYTES_PER_PERMIT).clamp(1, self.max_kib.max(1) as u64) as u32;
        match self.when_full {
            WhenFull::Block => {
                let events = Some(self.events.clone().acquire_many_owned(n).await.map_err(|_| Closed)?);
                let bytes = match &self.bytes {
                    Some(sem) => Some(sem.clone().acquire_many_owned(kib).await.map_err(|_| Closed)?),
                    None => None,
                };
                Ok(Some(Permits { events, bytes }))
            }
            WhenFull::DropNewest => {
                let Ok(events) = self.events.clone().try_acquire_many_owned(n) else { return Ok(None) };
                let bytes = match &self.bytes {
                    Some(sem) => match sem.clone().try_acquire_many_owned(kib) {
                        Ok(p) => Some(p),
                        Err(_) => return Ok(None),
                    },
                    None => None,
                };
                Ok(Some(Permits { events: Some(events), bytes }))
            }
        }
    }

    pub(crate) fn counts_bytes(&self) -> bool {
        self.bytes.is_some()
    }

    pub(crate) fn send(&self, batch: Batch, permits: Permits) -> Result<(), Closed> {
        self.tx.send(Item { batch, _permits: permits }).map_err(|_| Closed)
    }
}

impl MemoryReceiver {
    pub(crate) async fn recv(&mut self) -> Option<Batch> {
        self.rx.recv().await.map(|item| item.batch)
    }

    pub(crate) fn try_recv(&mut self) -> Option<Batch> {
        self.rx.try_recv().ok().map(|item| item.batch)
    }
}

impl Drop for MemoryReceiver {
    /// Batches still queued when the reader goes were not delivered: whoever waits on
    /// them must hear so (a dropped batch would otherwise count as delivered).
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(item) = self.rx.try_recv() {
            item.batch.meta.finalizers.update(DeliveryStatus::Errored);
        }
    }
}
