//! Memory buffer behaviour.
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

#[tokio::test]
async fn max_bytes_bounds_a_memory_buffer() {
    let (tx, mut rx) = memory_with(1_000_000, Some(4096), WhenFull::DropNewest);
    let big = {
        let mut b = batch(1);
        if let lookout_event::Payload::Logs(r) = &mut b.payload {
            r[0].scope_logs[0].log_records[0].body = Some(lookout_event::otlp::common::v1::AnyValue {
                value: Some(lookout_event::otlp::common::v1::any_value::Value::StringValue("x".repeat(3000))),
            });
        }
        b
    };
    tx.send(big.clone()).await.unwrap();
    tx.send(big.clone()).await.unwrap(); // 6 KB > 4 KiB: dropped
    assert_eq!(tx.stats().dropped(), 1);
    assert!(rx.recv().await.is_some());
    tx.send(big).await.unwrap();
    assert!(rx.recv().await.is_some());
}

#[tokio::test]
async fn batches_left_in_a_dropped_memory_buffer_report_not_delivered() {
    let (tx, rx) = memory(10, WhenFull::Block);
    let (notifier, outcome) = lookout_event::BatchNotifier::new();
    let mut b = batch(1);
    b.meta.finalizers = lookout_event::Finalizers::new(notifier);
    tx.send(b).await.unwrap();
    drop(rx);
    assert_eq!(outcome.wait().await, DeliveryStatus::Errored);
}

#[test]
fn buffer_config_keys_by_type() {
    let parse = |y: &str| serde_saphyr::from_str::<BufferConfig>(y).unwrap();
    let c = parse("type: disk\nmax_size: 256MiB\nwhen_full: block\n");
    assert_eq!((c.kind, c.max_size.unwrap().bytes()), (BufferType::Disk, 256 << 20));
    assert!(c.validate().is_ok());
    assert!(parse("max_size: 1GiB\n").validate().unwrap_err().contains("type: disk"));
    assert!(parse("type: disk\nmax_bytes: 1GiB\n").validate().is_err());
    assert!(parse("type: disk\nmax_size: 1000\n").validate().unwrap_err().contains("at least 1MiB"));
    assert!(serde_saphyr::from_str::<BufferConfig>("type: tape\n").is_err());
}
