//! The loop every byte-stream sink shares: drain the buffer, coalesce what is already
//! queued into one write, count it, and flush on shutdown.
//!
//! A sink only says how a batch is encoded and where bytes go ([`Output`]); the loop
//! owns metrics, health and coalescing so every sink reports the same way.

use std::future::Future;
use std::io;
use std::time::Instant;

use lookout_component::{ComponentError, ComponentState, SinkContext};
use lookout_event::{Batch, PendingAck};
use tracing::{debug, warn};

/// Stop coalescing queued batches once a write holds this many bytes.
const MAX_WRITE_BYTES: usize = 1 << 20;

/// Where a sink's bytes go.
pub(crate) trait Output: Send {
    /// Appends the encoding of `batch` to `out`.
    fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>);

    /// Writes `data` (one or more encoded batches) and flushes, so that readers see it
    /// when this returns.
    fn write(&mut self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// Flushes (and for files, syncs) everything before the sink returns.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// What to name in logs when a write fails (a path, `stdout`).
    fn describe(&self) -> String;
}

/// Runs a sink: drains `cx.input` into `output` until the buffer closes, then closes
/// the output. A failed write is counted (`errors`, `failed_events`), logged and
/// reported as `degraded`; the sink keeps going with the next batches. A failed close
/// fails the sink.
pub(crate) async fn run<O: Output>(mut cx: SinkContext, mut output: O) -> Result<(), ComponentError> {
    cx.health.ready();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut received: Vec<Instant> = Vec::new();
    let mut degraded = false;
    while let Some(first) = cx.input.recv().await {
        buf.clear();
        received.clear();
        let mut events = 0u64;
        // Whoever waits on these batches (acknowledgements, a disk buffer) hears
        // "delivered" only once the write succeeded.
        let mut acks = PendingAck::default();
        let mut add = |mut batch: Batch, buf: &mut Vec<u8>| {
            events += batch.len() as u64;
            received.push(batch.meta.received_at);
            acks.merge(batch.meta.finalizers.take());
            output.encode(&batch, buf);
        };
        add(first, &mut buf);
        // Whatever queued up meanwhile goes out in the same write.
        while buf.len() < MAX_WRITE_BYTES {
            match cx.input.try_recv() {
                Some(batch) => add(batch, &mut buf),
                None => break,
            }
        }
        cx.metrics.received_events.inc_by(events);
        if buf.is_empty() {
            acks.delivered();
            continue;
        }
        match write_with_retries(&mut output, &buf, &cx, &mut degraded).await {
            Ok(()) => {
                acks.delivered();
                let m = &cx.metrics;
                m.sent_events.inc_by(events);
                m.sent_bytes.inc_by(buf.len() as u64);
                for at in &received {
                    m.latency.observe(at.elapsed().as_secs_f64());
                }
                if degraded {
                    degraded = false;
                    cx.health.set_state(ComponentState::Running);
                    debug!(component = %cx.id, "Sink writes succeed again.");
                }
            }
            Err(e) => {
                cx.metrics.failed_events.inc_by(events);
                let target = output.describe();
                warn!(component = %cx.id, target = %target, error = %e, events, "Sink write failed after retries; events lost.");
            }
        }
    }
    output.close().await.map_err(|e| ComponentError::new(format!("cannot flush {}: {e}", output.describe())))
}

/// Attempts before a write's events are given up (about 13 s of backoff in all).
const WRITE_ATTEMPTS: u32 = 8;
#[cfg(not(test))]
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
#[cfg(test)]
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(1);

/// Writes `buf`, retrying with exponential backoff (a full disk may get space back);
/// while it fails the sink reports `degraded` and, holding its batch, pushes back.
async fn write_with_retries<O: Output>(
    output: &mut O,
    buf: &[u8],
    cx: &SinkContext,
    degraded: &mut bool,
) -> io::Result<()> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match output.write(buf).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                cx.metrics.errors.inc();
                let target = output.describe();
                *degraded = true;
                cx.health.set_state(ComponentState::Degraded(format!("write to {target} failed: {e}")));
                if attempt >= WRITE_ATTEMPTS {
                    return Err(e);
                }
                warn!(component = %cx.id, target = %target, error = %e, attempt, "Sink write failed; retrying.");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(8));
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_buffer::{WhenFull, memory};
    use lookout_component::{ComponentMetrics, Health};
    use std::sync::{Arc, Mutex};

    use crate::test_util::logs;

    /// Records every write; fails the writes whose index is in `fail`.
    struct Recording {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        fail: Vec<usize>,
        closed: Arc<Mutex<bool>>,
    }

    impl Output for Recording {
        fn encode(&mut self, batch: &Batch, out: &mut Vec<u8>) {
            out.extend_from_slice(format!("{}\n", batch.len()).as_bytes());
        }
        async fn write(&mut self, data: &[u8]) -> io::Result<()> {
            let mut w = self.writes.lock().unwrap();
            let i = w.len();
            w.push(data.to_vec());
            if self.fail.contains(&i) { Err(io::Error::other("disk on fire")) } else { Ok(()) }
        }
        async fn close(&mut self) -> io::Result<()> {
            *self.closed.lock().unwrap() = true;
            Ok(())
        }
        fn describe(&self) -> String {
            "recording".into()
        }
    }

    #[tokio::test]
    async fn coalesces_counts_and_survives_a_failed_write() {
        let (tx, rx) = memory(1000, WhenFull::Block);
        for n in [1, 2, 3] {
            tx.send(logs(n)).await.unwrap();
        }
        drop(tx);
        let health = Health::default();
        let metrics = ComponentMetrics::detached();
        let cx = SinkContext {
            id: "t".into(),
            input: rx,
            health: health.register("t", "sink", "test"),
            metrics: metrics.clone(),
            data_dir: std::env::temp_dir(),
            store: Default::default(),
        };
        let writes = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(false));
        let out = Recording { writes: writes.clone(), fail: vec![], closed: closed.clone() };
        run(cx, out).await.unwrap();
        assert_eq!(*writes.lock().unwrap(), vec![b"1\n2\n3\n".to_vec()], "queued batches go out in one write");
        assert!(*closed.lock().unwrap());
        assert_eq!(metrics.sent_events.get(), 6);
        assert_eq!(metrics.sent_bytes.get(), 6);

        // A failing write is retried: the sink degrades, then recovers with nothing lost.
        let (tx, rx) = memory(1000, WhenFull::Block);
        let metrics = ComponentMetrics::detached();
        let cx = SinkContext {
            id: "u".into(),
            input: rx,
            health: health.register("u", "sink", "test"),
            metrics: metrics.clone(),
            data_dir: std::env::temp_dir(),
            store: Default::default(),
        };
        let writes = Arc::new(Mutex::new(Vec::new()));
        let out = Recording { writes: writes.clone(), fail: vec![0, 1], closed: closed.clone() };
        let task = tokio::spawn(run(cx, out));
        tx.send(logs(4)).await.unwrap();
        while writes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(matches!(health.snapshot()["u"].state, ComponentState::Degraded(_)));
        while writes.lock().unwrap().len() < 3 {
            tokio::task::yield_now().await;
        }
        tx.send(logs(5)).await.unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        assert_eq!(metrics.errors.get(), 2);
        assert_eq!(metrics.failed_events.get(), 0);
        assert_eq!(metrics.received_events.get(), 9);
        assert_eq!(metrics.sent_events.get(), 9);
        assert_eq!(writes.lock().unwrap()[2], b"4\n".to_vec(), "the same data again");
        assert_eq!(health.snapshot()["u"].state, ComponentState::Running);

        // A write that keeps failing gives its events up, counted as failed.
        let (tx, rx) = memory(1000, WhenFull::Block);
        let metrics = ComponentMetrics::detached();
        let cx = SinkContext {
            id: "v".into(),
            input: rx,
            health: health.register("v", "sink", "test"),
            metrics: metrics.clone(),
            data_dir: std::env::temp_dir(),
            store: Default::default(),
        };
        let out = Recording { writes: Arc::default(), fail: (0..WRITE_ATTEMPTS as usize).collect(), closed };
        tx.send(logs(3)).await.unwrap();
        drop(tx);
        run(cx, out).await.unwrap();
        assert_eq!(metrics.errors.get(), WRITE_ATTEMPTS as u64);
        assert_eq!(metrics.failed_events.get(), 3);
    }
}
