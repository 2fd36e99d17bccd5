//! End-to-end acknowledgements: who is told when a batch has been delivered.
//!
//! A source that promises acknowledgements attaches a [`BatchNotifier`] to the batch it
//! accepts and waits on the matching [`BatchReceiver`]. The notifier travels with the
//! batch (and every clone of it, through fan-out and transforms) in
//! [`Finalizers`]; it reports once the last holder lets go of it, with the worst
//! [`DeliveryStatus`] any holder reported.
//!
//! Dropping a batch without a word counts as delivered: that is what a `filter` or a
//! `sample` transform does on purpose. A sink, which must *prove* delivery, takes the
//! finalizers out of the batch as a [`PendingAck`] whose default is the opposite:
//! [`DeliveryStatus::Errored`] unless the sink marks it delivered. So a sink task that
//! is aborted at the shutdown deadline reports failure, never a false success.
//!
//! Everything here is per batch, never per record: one `Arc` per accepted request.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// The outcome of delivering a batch, worst wins when several holders report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DeliveryStatus {
    /// Delivered (or intentionally dropped by a transform).
    Delivered = 0,
    /// Refused for good by the destination (bad data): kept in a dead-letter file or
    /// counted as failed. Retrying the same data cannot help, so a source answers the
    /// client as accepted.
    Rejected = 1,
    /// Not delivered (outage, shutdown, a full `drop_newest` buffer): the client should
    /// retry, a disk buffer keeps the record.
    Errored = 2,
}

impl DeliveryStatus {
    fn from_u8(v: u8) -> DeliveryStatus {
        match v {
            0 => DeliveryStatus::Delivered,
            1 => DeliveryStatus::Rejected,
            _ => DeliveryStatus::Errored,
        }
    }

    /// Whether the data is safe (delivered or durably refused): the record can be
    /// forgotten and the client answered with success.
    pub fn is_kept(self) -> bool {
        self != DeliveryStatus::Errored
    }
}

type Callback = Box<dyn FnOnce(DeliveryStatus) + Send>;

/// Reports a batch's outcome once every holder has let go of it.
pub struct BatchNotifier {
    status: AtomicU8,
    done: Mutex<Option<Callback>>,
}

impl std::fmt::Debug for BatchNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchNotifier").field("status", &self.status()).finish()
    }
}

impl BatchNotifier {
    /// A notifier and the receiver that learns the outcome.
    pub fn new() -> (Arc<BatchNotifier>, BatchReceiver) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let notifier = BatchNotifier::with_callback(move |status| {
            let _ = tx.send(status);
        });
        (notifier, BatchReceiver { rx })
    }

    /// A notifier that calls `done` with the outcome (used by disk buffers to advance
    /// their acknowledged position).
    pub fn with_callback(done: impl FnOnce(DeliveryStatus) + Send + 'static) -> Arc<BatchNotifier> {
        Arc::new(BatchNotifier {
            status: AtomicU8::new(DeliveryStatus::Delivered as u8),
            done: Mutex::new(Some(Box::new(done))),
        })
    }

    /// Records `status` if it is worse than what is recorded.
    pub fn update(&self, status: DeliveryStatus) {
        self.status.fetch_max(status as u8, Ordering::AcqRel);
    }

    /// The worst status reported so far.
    pub fn status(&self) -> DeliveryStatus {
        DeliveryStatus::from_u8(self.status.load(Ordering::Acquire))
    }
}

impl Drop for BatchNotifier {
    fn drop(&mut self) {
        let done = self.done.get_mut().ok().and_then(Option::take);
        if let Some(done) = done {
            done(self.status());
        }
    }
}

/// Waits for a batch's outcome.
#[derive(Debug)]
pub struct BatchReceiver {
    rx: tokio::sync::oneshot::Receiver<DeliveryStatus>,
}

impl BatchReceiver {
    /// The outcome, once every holder let go ([`DeliveryStatus::Errored`] if the
    /// notifier vanished without reporting, which cannot happen short of a leak).
    pub async fn wait(self) -> DeliveryStatus {
        self.rx.await.unwrap_or(DeliveryStatus::Errored)
    }
}

/// The notifiers a batch carries. Empty (no allocation) unless a source asked for
/// acknowledgements.
#[derive(Debug, Clone, Default)]
pub struct Finalizers(Vec<Arc<BatchNotifier>>);

impl Finalizers {
    /// Finalizers holding one notifier.
    pub fn new(notifier: Arc<BatchNotifier>) -> Finalizers {
        Finalizers(vec![notifier])
    }

    /// Whether no one waits on this batch.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `other`'s notifiers (when batches are merged).
    pub fn merge(&mut self, other: Finalizers) {
        self.0.extend(other.0);
    }

    /// Reports `status` to every notifier now (they still report only when dropped).
    pub fn update(&self, status: DeliveryStatus) {
        for n in &self.0 {
            n.update(status);
        }
    }

    /// Takes the notifiers out, leaving none.
    pub fn take(&mut self) -> Finalizers {
        Finalizers(std::mem::take(&mut self.0))
    }
}

/// A sink's hold on the notifiers of what it is delivering: reports
/// [`DeliveryStatus::Errored`] when dropped unless marked otherwise.
#[derive(Debug, Default)]
pub struct PendingAck {
    finalizers: Finalizers,
    status: Option<DeliveryStatus>,
}

impl PendingAck {
    /// Takes over `finalizers`.
    pub fn new(finalizers: Finalizers) -> PendingAck {
        PendingAck { finalizers, status: None }
    }

    /// Adds more notifiers to the same outcome.
    pub fn merge(&mut self, finalizers: Finalizers) {
        self.finalizers.merge(finalizers);
    }

    /// Records the outcome; the worst outcome marked wins.
    pub fn mark(&mut self, status: DeliveryStatus) {
        self.status = Some(self.status.map_or(status, |s| s.max(status)));
    }

    /// Marks delivered and lets go.
    pub fn delivered(mut self) {
        self.mark(DeliveryStatus::Delivered);
    }

    /// Whether anyone waits on this.
    pub fn is_empty(&self) -> bool {
        self.finalizers.is_empty()
    }
}

impl Drop for PendingAck {
    fn drop(&mut self) {
        self.finalizers.update(self.status.unwrap_or(DeliveryStatus::Errored));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_once_every_clone_is_gone_with_the_worst_status() {
        let (n, rx) = BatchNotifier::new();
        let a = Finalizers::new(n);
        let b = a.clone();
        let c = a.clone();
        drop(a);
        b.update(DeliveryStatus::Rejected);
        drop(b);
        let mut rx = Box::pin(rx.wait());
        assert!(futures_poll(&mut rx).is_none(), "one holder left: no outcome yet");
        drop(c);
        assert_eq!(rx.await, DeliveryStatus::Rejected);
    }

    #[tokio::test]
    async fn a_dropped_batch_counts_as_delivered_but_a_pending_ack_does_not() {
        let (n, rx) = BatchNotifier::new();
        drop(Finalizers::new(n));
        assert_eq!(rx.wait().await, DeliveryStatus::Delivered);

        let (n, rx) = BatchNotifier::new();
        drop(PendingAck::new(Finalizers::new(n)));
        assert_eq!(rx.wait().await, DeliveryStatus::Errored);

        let (n, rx) = BatchNotifier::new();
        PendingAck::new(Finalizers::new(n)).delivered();
        assert_eq!(rx.wait().await, DeliveryStatus::Delivered);
    }

    fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
