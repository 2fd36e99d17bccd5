//! End-to-end acknowledgements for network sinks: a received batch becomes many items,
//! sent in requests that may mix batches and split one; the batch is confirmed to
//! whoever waits on it (a source with `acknowledgements: true`, a disk buffer) only
//! when every one of its items is settled.
//!
//! - delivered → [`DeliveryStatus::Delivered`];
//! - refused for good (dead-lettered or counted lost) → [`DeliveryStatus::Rejected`];
//! - never settled (retries ran out on a transient error, the task was aborted at the
//!   shutdown deadline) → [`DeliveryStatus::Errored`]: the client retries, the disk
//!   buffer hands the batch out again (or keeps it for the next start).

use std::sync::{Arc, Mutex};

use lookout_event::{DeliveryStatus, Finalizers, PendingAck};

/// One received batch's acknowledgement, shared by its items.
#[derive(Debug)]
pub struct BatchAck {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    pending: PendingAck,
    worst: DeliveryStatus,
    unsettled: usize,
}

impl BatchAck {
    /// The acknowledgement of a batch that became `items` items; `None` when no one
    /// waits on it. A batch that gave no item is settled at once.
    pub fn new(finalizers: Finalizers, items: usize) -> Option<Arc<BatchAck>> {
        if finalizers.is_empty() {
            return None;
        }
        let mut pending = PendingAck::new(finalizers);
        if items == 0 {
            pending.mark(DeliveryStatus::Delivered);
        }
        let state = State { pending, worst: DeliveryStatus::Delivered, unsettled: items };
        Some(Arc::new(BatchAck { state: Mutex::new(state) }))
    }

    /// One item's outcome; the batch's is the worst of its items', known when the last
    /// one settles.
    pub fn settle(&self, status: DeliveryStatus) {
        let mut s = self.state.lock().expect("ack state");
        s.worst = s.worst.max(status);
        s.unsettled = s.unsettled.saturating_sub(1);
        if s.unsettled == 0 {
            let worst = s.worst;
            s.pending.mark(worst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_event::BatchNotifier;

    #[tokio::test]
    async fn the_batch_is_confirmed_when_its_last_item_settles() {
        let (n, rx) = BatchNotifier::new();
        let ack = BatchAck::new(Finalizers::new(n), 3).unwrap();
        let copies = [ack.clone(), ack.clone(), ack];
        copies[0].settle(DeliveryStatus::Delivered);
        copies[1].settle(DeliveryStatus::Rejected);
        copies[2].settle(DeliveryStatus::Delivered);
        drop(copies);
        assert_eq!(rx.wait().await, DeliveryStatus::Rejected);

        let (n, rx) = BatchNotifier::new();
        let ack = BatchAck::new(Finalizers::new(n), 2).unwrap();
        ack.settle(DeliveryStatus::Delivered);
        drop(ack); // one item never settled: given up or aborted
        assert_eq!(rx.wait().await, DeliveryStatus::Errored);

        assert!(BatchAck::new(Finalizers::default(), 5).is_none());
    }
}
