//! Disk buffer behaviour: order, acknowledgement, restart, damage, bounds.

use std::time::Duration;

use lookout_event::otlp::common::v1::{AnyValue, any_value::Value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::{Batch, BatchNotifier, DeliveryStatus, Finalizers, Payload};

use crate::{BufferConfig, BufferReceiver, BufferSender, BufferType, WhenFull};
use lookout_config::ByteSize;

fn batch(id: usize, body_len: usize) -> Batch {
    let record = LogRecord {
        body: Some(AnyValue { value: Some(Value::StringValue(format!("{id:08} {}", "x".repeat(body_len)))) }),
        ..Default::default()
    };
    Batch::logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs { log_records: vec![record], ..Default::default() }],
        ..Default::default()
    }])
}

fn id_of(b: &Batch) -> usize {
    let Payload::Logs(r) = &b.payload else { panic!("logs") };
    let Some(Value::StringValue(s)) = &r[0].scope_logs[0].log_records[0].body.as_ref().unwrap().value else {
        panic!("string body")
    };
    s[..8].parse().unwrap()
}

fn open(dir: &std::path::Path, max_size: u64, when_full: WhenFull) -> (BufferSender, BufferReceiver) {
    let config = BufferConfig {
        kind: BufferType::Disk,
        max_size: Some(ByteSize(max_size)),
        when_full,
        ..BufferConfig::default()
    };
    config.open(dir, "test").unwrap()
}

async fn recv(rx: &mut BufferReceiver) -> Batch {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a batch within 5 s").expect("open")
}

#[tokio::test]
async fn delivers_in_order_and_forgets_what_was_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    for i in 0..50 {
        tx.send(batch(i, 100)).await.unwrap();
    }
    for i in 0..50 {
        let b = recv(&mut rx).await;
        assert_eq!(id_of(&b), i);
        drop(b); // no sink objection: delivered
    }
    drop((tx, rx));
    let (_tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    assert_eq!(rx.stats().replayed(), 0);
    assert!(tokio::time::timeout(Duration::from_millis(100), rx.recv()).await.is_err(), "nothing left to send");
}

#[tokio::test]
async fn a_reader_far_behind_gets_memory_copies_then_reads_the_rest_from_disk() {
    // 24 MiB written before anything is read: the first ~8 MiB come from memory, the
    // rest from the segment files, in one order.
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = open(dir.path(), 64 << 20, WhenFull::Block);
    let writer = tokio::spawn(async move {
        for i in 0..240 {
            tx.send(batch(i, 100 << 10)).await.unwrap();
        }
        tx
    });
    let _tx = writer.await.unwrap();
    for i in 0..240 {
        let b = recv(&mut rx).await;
        assert_eq!(id_of(&b), i);
        if i % 2 == 0 {
            drop(b);
        } else {
            b.meta.finalizers.update(DeliveryStatus::Delivered);
        }
    }
    assert!(tokio::time::timeout(Duration::from_millis(100), rx.recv()).await.is_err(), "nothing more");
}

#[tokio::test]
async fn a_source_hears_durable_only_after_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    let (notifier, outcome) = BatchNotifier::new();
    let mut b = batch(7, 10);
    b.meta.finalizers = Finalizers::new(notifier);
    tx.send(b).await.unwrap();
    assert_eq!(outcome.wait().await, DeliveryStatus::Delivered);
    let files = dir.path().join("buffers/test");
    let segments = super::segment::list_segments(&files).unwrap();
    let on_disk: u64 =
        segments.iter().map(|s| std::fs::metadata(super::segment::segment_path(&files, s.0, s.1)).unwrap().len()).sum();
    assert!(on_disk > 16, "the record is in a segment file when the source is told");
    assert_eq!(id_of(&recv(&mut rx).await), 7);
}

#[tokio::test]
async fn unconfirmed_records_survive_a_restart_and_confirmed_ones_do_not_return() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
        for i in 0..20 {
            tx.send(batch(i, 50)).await.unwrap();
        }
        // The sink confirms the first 10, holds 10..15 in flight, never sees the rest.
        let mut held = Vec::new();
        for i in 0..15 {
            let mut b = recv(&mut rx).await;
            if i < 10 {
                drop(b);
            } else {
                held.push(lookout_event::PendingAck::new(b.meta.finalizers.take()));
            }
        }
        // A crash: the in-flight records' outcome never arrives.
        std::mem::forget(held);
        std::mem::forget(rx);
        drop(tx);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    // At least once: what was confirmed may come again (the saved position trails by
    // a few milliseconds), what was not must.
    let replayed = rx.stats().replayed();
    assert!((10..=20).contains(&replayed), "replayed {replayed}");
    let mut next = id_of(&recv(&mut rx).await);
    assert!(next <= 10);
    while next < 10 {
        next = id_of(&recv(&mut rx).await);
    }
    for i in 11..20 {
        assert_eq!(id_of(&recv(&mut rx).await), i);
    }
}

#[tokio::test]
async fn a_failed_delivery_is_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    tx.send(batch(1, 10)).await.unwrap();
    tx.send(batch(2, 10)).await.unwrap();
    let mut first = recv(&mut rx).await;
    drop(lookout_event::PendingAck::new(first.meta.finalizers.take())); // sink: not delivered
    assert_eq!(id_of(&recv(&mut rx).await), 1, "the failed record comes back first");
    assert_eq!(id_of(&recv(&mut rx).await), 2);
}

/// Writes `n` batches and "crashes" (nothing read); returns the first segment's path.
async fn write_and_crash(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let (tx, rx) = open(dir, 8 << 20, WhenFull::Block);
    for i in 0..n {
        tx.send(batch(i, 20)).await.unwrap();
    }
    while rx.stats().events() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::mem::forget(rx);
    drop(tx);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let files = dir.join("buffers/test");
    let segments = super::segment::list_segments(&files).unwrap();
    super::segment::segment_path(&files, segments[0].0, segments[0].1)
}

/// Where a segment's records end (the file is padded to whole blocks with zeros).
fn records_end(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while pos + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        pos += 8 + len;
    }
    pos
}

#[tokio::test]
async fn a_torn_tail_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_and_crash(dir.path(), 5).await;
    let mut bytes = std::fs::read(&path).unwrap();
    // A record whose write a crash cut short: its header (segment 1), part of its body.
    bytes.truncate(records_end(&bytes));
    bytes.extend_from_slice(&[200, 0, 0, 0, 9, 9, 9, 9, 1, 0, 0, 0, 1, 0, 0, 0, 1, 2]);
    std::fs::write(&path, &bytes).unwrap();
    let (_tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    for i in 0..5 {
        assert_eq!(id_of(&recv(&mut rx).await), i);
    }
    assert!(tokio::time::timeout(Duration::from_millis(100), rx.recv()).await.is_err());
    assert_eq!(rx.stats().corrupt(), 1);
}

#[tokio::test]
async fn a_damaged_record_ends_its_segment_never_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_and_crash(dir.path(), 5).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let second = records_end(&bytes) / 5 + 20; // inside the second record
    bytes[second] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (_tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    assert_eq!(id_of(&recv(&mut rx).await), 0);
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err());
    assert_eq!(rx.stats().corrupt(), 1);
}

#[tokio::test]
async fn full_means_wait_or_drop_and_room_returns_after_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = open(dir.path(), 1 << 20, WhenFull::Block);
    // 1 MiB buffer, 128 KiB segments: ~100 KB batches fill it in about ten.
    let mut sent = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(300), tx.send(batch(sent, 100_000))).await {
            Ok(r) => {
                r.unwrap();
                sent += 1;
            }
            Err(_) => break,
        }
        assert!(sent < 40, "the buffer never filled");
    }
    assert!(sent >= 8, "sent {sent}");
    assert!(tx.stats().bytes() <= (1 << 20) + 200_000);
    // Deliver everything: whole segments are deleted and room returns.
    for i in 0..sent {
        assert_eq!(id_of(&recv(&mut rx).await), i);
    }
    tokio::time::timeout(Duration::from_secs(2), tx.send(batch(999, 100_000))).await.expect("room again").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (tx, _rx) = open(dir.path(), 1 << 20, WhenFull::DropNewest);
    for i in 0..30 {
        tx.send(batch(i, 100_000)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(tx.stats().dropped() > 0);
}

#[tokio::test]
async fn a_delivered_live_segment_gives_its_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = open(dir.path(), 64 << 20, WhenFull::Block);
    for i in 0..3 {
        tx.send(batch(i, 10_000)).await.unwrap();
    }
    for i in 0..3 {
        assert_eq!(id_of(&recv(&mut rx).await), i);
    }
    assert!(tx.stats().bytes() > 30_000, "the live segment still holds its records");
    tx.send(batch(3, 100)).await.unwrap();
    assert_eq!(id_of(&recv(&mut rx).await), 3);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tx.stats().bytes() > 1_000 {
        assert!(std::time::Instant::now() < deadline, "{} bytes still held", tx.stats().bytes());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_reused_segment_file_replays_only_its_own_records() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("buffers/test");
    let first_inode = {
        // 1 MiB: 128 KiB segments; 10 KB records, each delivered at once, so segments
        // roll, are delivered and their files come back as later segments.
        let (tx, mut rx) = open(dir.path(), 1 << 20, WhenFull::Block);
        tx.send(batch(0, 10_000)).await.unwrap();
        let first = super::segment::list_segments(&files).unwrap()[0];
        let inode = std::fs::metadata(super::segment::segment_path(&files, first.0, first.1)).unwrap().ino();
        assert_eq!(id_of(&recv(&mut rx).await), 0);
        for i in 1..60 {
            tx.send(batch(i, 10_000)).await.unwrap();
            assert_eq!(id_of(&recv(&mut rx).await), i);
        }
        // Three more that the sink never sees, written over the old records of a
        // reused file, then a crash.
        for i in 100..103 {
            tx.send(batch(i, 100)).await.unwrap();
        }
        while rx.stats().events() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::mem::forget(rx);
        drop(tx);
        tokio::time::sleep(Duration::from_millis(50)).await;
        inode
    };
    let reused = std::fs::read_dir(&files)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.metadata().unwrap().ino() == first_inode && e.file_name() != "00000000000000000001.seg2");
    let names: Vec<String> =
        std::fs::read_dir(&files).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(reused, "the first segment's file was reused (files: {names:?})");
    let (_tx, mut rx) = open(dir.path(), 1 << 20, WhenFull::Block);
    assert_eq!(rx.stats().replayed(), 3, "the old records past the new ones are not replayed");
    for i in 100..103 {
        assert_eq!(id_of(&recv(&mut rx).await), i);
    }
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err(), "nothing old comes back");
    assert_eq!(rx.stats().corrupt(), 0);
}

#[tokio::test]
async fn segments_of_an_earlier_version_are_still_read() {
    // The format before files were reused: `len | crc | events | batch`, in `.seg` files.
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("buffers/test");
    std::fs::create_dir_all(&files).unwrap();
    let mut bytes = Vec::new();
    for i in 0..3 {
        let mut body = 1u32.to_le_bytes().to_vec();
        lookout_event::codec::encode(&batch(i, 30), &mut body);
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
    }
    std::fs::write(files.join("00000000000000000004.seg"), &bytes).unwrap();
    std::fs::write(files.join("acknowledged"), "4 0\n").unwrap();
    let (tx, mut rx) = open(dir.path(), 8 << 20, WhenFull::Block);
    assert_eq!(rx.stats().replayed(), 3);
    for i in 0..3 {
        assert_eq!(id_of(&recv(&mut rx).await), i);
    }
    tx.send(batch(3, 30)).await.unwrap();
    assert_eq!(id_of(&recv(&mut rx).await), 3);
    // Delivered, the old segment goes (not kept for reuse: its format is the old one).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while files.join("00000000000000000004.seg").exists() {
        assert!(std::time::Instant::now() < deadline, "the delivered legacy segment is deleted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rx.stats().corrupt(), 0);
}

#[test]
fn the_saved_position_is_checked_and_a_damaged_one_means_sending_again() {
    use super::segment::{open_ack, read_ack, write_ack};
    let dir = tempfile::tempdir().unwrap();
    let file = open_ack(dir.path()).unwrap();
    write_ack(&file, (123, 4_567_890)).unwrap();
    assert_eq!(read_ack(dir.path()), Some((123, 4_567_890)));
    // Overwritten in place: a smaller position leaves nothing of the longer one behind.
    write_ack(&file, (124, 0)).unwrap();
    assert_eq!(read_ack(dir.path()), Some((124, 0)));
    // A flipped digit fails the checksum: no position, so everything left is replayed.
    let path = dir.path().join("acknowledged");
    let text = std::fs::read_to_string(&path).unwrap().replacen("124", "125", 1);
    std::fs::write(&path, text).unwrap();
    assert_eq!(read_ack(dir.path()), None);
    // The line an earlier version wrote (no checksum) is still read.
    std::fs::write(&path, "7 42\n").unwrap();
    assert_eq!(read_ack(dir.path()), Some((7, 42)));
}
