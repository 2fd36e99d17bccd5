//! Fan-out: one component's output to every buffer that reads it.

use std::time::Duration;

use lookout_buffer::{BufferSender, Reservation};
use lookout_event::Batch;

use crate::tap::Tap;

/// Why a batch could not be handed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FanoutError {
    /// Downstream stayed full for the whole wait: the caller should push back
    /// (HTTP 503 + Retry-After, gRPC UNAVAILABLE).
    #[error("pipeline is full")]
    Full,
    /// Downstream is gone (shutting down).
    #[error("pipeline is shutting down")]
    Closed,
}

/// The buffers one output feeds. A batch goes to all of them or to none.
#[derive(Clone, Default)]
pub struct Fanout {
    outputs: Vec<BufferSender>,
    tap: Tap,
}

impl Fanout {
    /// A fan-out over `outputs`.
    pub fn new(mut outputs: Vec<BufferSender>) -> Self {
        // Reserving in one global order means two writers sharing buffers cannot
        // each hold room in one while waiting for the other.
        outputs.sort_by_key(|o| o.id());
        outputs.dedup_by_key(|o| o.id());
        Fanout { outputs, tap: Tap::default() }
    }

    /// The same fan-out, publishing every batch it hands on to `tap` as well.
    pub fn with_tap(mut self, tap: Tap) -> Self {
        self.tap = tap;
        self
    }

    /// Whether nothing reads this output.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    async fn reserve_all(&self, events: usize) -> Result<Vec<Reservation>, FanoutError> {
        let mut reservations = Vec::with_capacity(self.outputs.len());
        for out in &self.outputs {
            reservations.push(out.reserve(events).await.map_err(|_| FanoutError::Closed)?);
        }
        Ok(reservations)
    }

    fn commit(reservations: Vec<Reservation>, batch: Batch) -> Result<(), FanoutError> {
        let mut reservations = reservations.into_iter().peekable();
        let mut batch = Some(batch);
        while let Some(r) = reservations.next() {
            let b = if reservations.peek().is_some() {
                batch.as_ref().expect("batch kept until the last output").clone()
            } else {
                batch.take().expect("last output takes the batch")
            };
            r.send(b).map_err(|_| FanoutError::Closed)?;
        }
        Ok(())
    }

    /// Sends `batch` to every output, waiting as long as it takes for room.
    pub async fn send(&self, batch: Batch) -> Result<(), FanoutError> {
        if self.outputs.is_empty() {
            self.tap.publish(&batch);
            return Ok(());
        }
        let reservations = self.reserve_all(batch.len()).await?;
        self.tap.publish(&batch);
        Self::commit(reservations, batch)
    }

    /// Sends `batch` to every output, waiting at most `wait` for room in all of
    /// them; on timeout nothing is sent and [`FanoutError::Full`] is returned.
    pub async fn send_timeout(&self, batch: Batch, wait: Duration) -> Result<(), FanoutError> {
        if self.outputs.is_empty() {
            self.tap.publish(&batch);
            return Ok(());
        }
        let reservations =
            tokio::time::timeout(wait, self.reserve_all(batch.len())).await.map_err(|_| FanoutError::Full)??;
        // Published once accepted downstream: a tap shows what really passed.
        self.tap.publish(&batch);
        Self::commit(reservations, batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_buffer::{WhenFull, memory};
    use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    fn batch(n: usize) -> Batch {
        Batch::logs(vec![ResourceLogs {
            scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); n], ..Default::default() }],
            ..Default::default()
        }])
    }

    #[tokio::test]
    async fn all_or_nothing_on_timeout() {
        let (a, mut ra) = memory(10, WhenFull::Block);
        let (b, mut rb) = memory(10, WhenFull::Block);
        b.send(batch(8)).await.unwrap();
        let fan = Fanout::new(vec![a.clone(), b.clone()]);
        let err = fan.send_timeout(batch(5), Duration::from_millis(30)).await.unwrap_err();
        assert_eq!(err, FanoutError::Full);
        assert_eq!(a.stats().events(), 0, "nothing sent to the buffer that had room");
        assert_eq!(rb.recv().await.unwrap().len(), 8);
        fan.send_timeout(batch(5), Duration::from_millis(30)).await.unwrap();
        assert_eq!(ra.recv().await.unwrap().len(), 5);
        assert_eq!(rb.recv().await.unwrap().len(), 5);
    }
}
