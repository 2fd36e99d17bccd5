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
        self.settle_many(status, 1);
    }

    /// `items` items' outcome at once.
    pub fn settle_many(&self, status: DeliveryStatus, items: usize) {
        let mut s = self.state.lock().expect("ack state");
        s.worst = s.worst.max(status);
        s.unsettled = s.unsettled.saturating_sub(items);
        if s.unsettled == 0 {
            let worst = s.worst;
            s.pending.mark(worst);
        }
    }
}

/// Settles items' acknowledgements a run at a time: consecutive items of one batch with
/// one outcome take the batch's lock once (a response settles a thousand items).
#[derive(Default)]
pub(crate) struct Settler {
    run: Option<(Arc<BatchAck>, DeliveryStatus, usize)>,
}

impl Settler {
    /// Records `item`'s outcome (settled at the latest when the settler is dropped).
    pub(crate) fn settle(&mut self, item: &super::Item, status: DeliveryStatus) {
        let Some(ack) = &item.ack else { return };
        if let Some((current, s, n)) = &mut self.run
            && Arc::ptr_eq(current, ack)
            && *s == status
        {
            *n += 1;
            return;
        }
        self.flush();
        self.run = Some((ack.clone(), status, 1));
    }

    fn flush(&mut self) {
        if let Some((ack, status, n)) = self.run.take() {
            ack.settle_many(status, n);
        }
    }
}

impl Drop for Settler {
    fn drop(&mut self) {
        self.flush();
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

    #[tokio::test]
    async fn a_settler_settles_runs_and_keeps_the_worst_outcome() {
        let item = |ack: &Arc<BatchAck>| super::super::Item {
            doc: bytes::Bytes::new(),
            route: Arc::from("i"),
            id: None,
            time_unix_nano: 0,
            received_at: std::time::Instant::now(),
            origin: None,
            ack: Some(ack.clone()),
        };
        let (n1, rx1) = BatchNotifier::new();
        let (n2, rx2) = BatchNotifier::new();
        let a = BatchAck::new(Finalizers::new(n1), 3).unwrap();
        let b = BatchAck::new(Finalizers::new(n2), 2).unwrap();
        let items = [item(&a), item(&a), item(&b), item(&a), item(&b)];
        drop((a, b));
        let mut settler = Settler::default();
        settler.settle(&items[0], DeliveryStatus::Delivered);
        settler.settle(&items[1], DeliveryStatus::Delivered);
        settler.settle(&items[2], DeliveryStatus::Delivered);
        settler.settle(&items[3], DeliveryStatus::Rejected);
        settler.settle(&items[4], DeliveryStatus::Delivered);
        drop(items);
        drop(settler);
        assert_eq!(rx1.wait().await, DeliveryStatus::Rejected);
        assert_eq!(rx2.wait().await, DeliveryStatus::Delivered);
    }
}
