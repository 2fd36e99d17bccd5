//! Reusable byte buffers for encoded batches and request bodies.
//!
//! A sink builds each request body into a buffer of about a MiB. Allocations that large
//! come straight from the kernel (`mmap`), and every fresh page is zeroed on first touch:
//! under load a `perf` profile of the Elasticsearch sink with a disk buffer spent ~4% of
//! its time in page faults on its bodies. A pool hands the same buffers out again, so
//! their pages stay mapped. (Pooling the encoded batches too removed the rest of the
//! faults but cost ~8 MiB of peak RSS at saturation, more than it saved.)
//!
//! A buffer is returned when the last [`Bytes`] made from it is dropped (the request body
//! written out). The idle buffers' capacities add up
//! to at most [`BufferPool::new`]'s budget: memory stays bounded.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

/// A bounded pool of `Vec<u8>` buffers; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct BufferPool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    free: Mutex<Idle>,
    budget: usize,
}

#[derive(Debug, Default)]
struct Idle {
    buffers: Vec<Vec<u8>>,
    /// The sum of `buffers`' capacities.
    bytes: usize,
}

impl BufferPool {
    /// A pool keeping idle buffers of `budget` bytes (capacity) in all.
    pub fn new(budget: usize) -> Self {
        Self { shared: Arc::new(Shared { free: Mutex::new(Idle::default()), budget }) }
    }

    /// An empty buffer with room for at least `capacity` bytes: an idle one when there is
    /// one, else a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = {
            let mut idle = self.shared.free.lock().unwrap_or_else(|e| e.into_inner());
            let buf = idle.buffers.pop();
            idle.bytes -= buf.as_ref().map_or(0, Vec::capacity);
            buf
        };
        match reused {
            Some(mut buf) => {
                // Exact: growing by doubling would turn ~1 MiB bodies into 2 MiB buffers.
                buf.reserve_exact(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// `buf` as [`Bytes`]; the buffer comes back to the pool once every slice of it is
    /// dropped.
    pub fn freeze(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: Arc::downgrade(&self.shared) })
    }

    /// Returns a buffer no longer needed (kept if the budget has room).
    pub fn give_back(&self, buf: Vec<u8>) {
        self.shared.give_back(buf);
    }

    /// Idle buffers held.
    pub fn idle(&self) -> usize {
        self.shared.free.lock().unwrap_or_else(|e| e.into_inner()).buffers.len()
    }
}

impl Shared {
    fn give_back(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut idle = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if idle.bytes + buf.capacity() <= self.budget {
            idle.bytes += buf.capacity();
            idle.buffers.push(buf);
        }
    }
}

/// A buffer lent out as [`Bytes`]; its drop gives it back.
struct Pooled {
    buf: Vec<u8>,
    /// Weak: buffers still in flight when the sink stops are simply freed.
    pool: Weak<Shared>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_its_last_slice_is_dropped() {
        let pool = BufferPool::new(1 << 20);
        let mut buf = pool.take(1000);
        buf.extend_from_slice(b"hello world");
        let address = buf.as_ptr();
        let bytes = pool.freeze(buf);
        let hello = bytes.slice(0..5);
        drop(bytes);
        assert_eq!(pool.idle(), 0, "a slice is still alive");
        assert_eq!(&hello[..], b"hello");
        drop(hello);
        assert_eq!(pool.idle(), 1);
        let again = pool.take(10);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), address, "the same allocation is handed out again");
    }

    #[test]
    fn idle_buffers_stay_within_the_budget() {
        let pool = BufferPool::new(250);
        let held: Vec<Bytes> = (0..5).map(|_| pool.freeze(pool.take(100))).collect();
        drop(held);
        assert_eq!(pool.idle(), 2, "two of 100 bytes fit in 250");
        // An idle buffer taken and grown past the budget is freed when it comes back.
        drop(pool.freeze(pool.take(4096)));
        assert_eq!(pool.idle(), 1, "an oversized buffer is freed, not kept");
        let reused = pool.take(100);
        assert_eq!(pool.idle(), 0);
        drop(pool.freeze(reused));
        assert_eq!(pool.idle(), 1, "its room is given back with it");
        drop(pool.freeze(pool.take(100)));
        assert_eq!(pool.idle(), 1);
    }
}
