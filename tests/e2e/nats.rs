//! Scaling out over NATS JetStream with a real `nats-server -js`: one ingest Lookout
//! (otlp → `nats` sink) and two processing Lookouts (`nats` source on one shared durable
//! consumer → file sink). Under OTLP load one processing worker is killed with
//! `kill -9`; every record the ingest side acknowledged (HTTP 200, which with
//! `acknowledgements: true` means JetStream stored it) must be in the union of the two
//! files. Redeliveries of what the killed worker wrote but never acked are duplicates,
//! counted and reported. Bounded: about 4 s of load, then at most 25 s to drain.

use std::time::Duration;

use crate::nats_util::{
    Load, assert_all_delivered, duplicates, file_seqs, ingest_pipeline, kill9, out_file, start, start_nats,
    wait_until_both_wrote, worker_pipeline,
};
use crate::util::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_a_consumer_and_a_kill_9_loses_nothing_acknowledged() {
    let Some(nats) = start_nats().await else { return };
    let (ingest_dir, a_dir, b_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ingest_api, http) = (free_port(), free_port());
    let ingest_config = ingest_pipeline(ingest_dir.path(), ingest_api, http, &nats.url(), 1);
    let ingest = start(ingest_dir.path(), &ingest_config, ingest_api).await;
    let (a_api, b_api) = (free_port(), free_port());
    let worker_a = start(a_dir.path(), &worker_pipeline(a_dir.path(), a_api, &nats.url()), a_api).await;
    let mut worker_b = start(b_dir.path(), &worker_pipeline(b_dir.path(), b_api, &nats.url()), b_api).await;

    // Two clients send paced requests and record every seq they got a 200 for.
    let load = Load::start(&[format!("127.0.0.1:{http}")], 2);

    // Both workers must get a share before one is killed.
    wait_until_both_wrote(a_dir.path(), b_dir.path(), || worker_b.log()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill9(&mut worker_b);
    let b_seqs = file_seqs(&out_file(b_dir.path()));
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let want = load.stop().await;
    assert!(want.len() > 1000, "the load should get well over 1000 records acknowledged, got {}", want.len());

    let counts = assert_all_delivered(&want, a_dir.path(), &b_seqs, Duration::from_secs(25), || worker_a.log()).await;
    // Drained: the consumer's backlog reads 0 in worker A's store (queried as a rule or
    // the scaler would) and on its /metrics.
    let query = format!(
        "http://127.0.0.1:{a_api}/api/v1/query?query=lookout_nats_consumer_pending%2Blookout_nats_consumer_ack_pending"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v: serde_json::Value = reqwest::get(&query).await.unwrap().json().await.unwrap();
        let result = &v["data"]["result"];
        assert!(result.as_array().is_some_and(|r| r.len() <= 1), "one series per consumer: {v}");
        if result[0]["value"][1] == "0" {
            assert_eq!(result[0]["metric"]["stream"], "TELEMETRY", "{v}");
            assert_eq!(result[0]["metric"]["consumer"], "processors", "{v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the consumer lag series never read 0: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{a_api}/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"lookout_nats_consumer_pending{stream="TELEMETRY",consumer="processors"} 0"#),
        "{metrics}"
    );
    eprintln!(
        "nats e2e: {} records acknowledged, worker B wrote {} before kill -9, duplicates (redelivered) {}",
        want.len(),
        b_seqs.len(),
        duplicates(&counts)
    );
    drop(ingest);
}
