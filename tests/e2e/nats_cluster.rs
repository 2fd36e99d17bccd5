//! The scale-out layout on a real 3-server JetStream cluster (Debian's `nats-server`,
//! routed on 127.0.0.1 ports): two ingest Lookouts (otlp → `nats` sink, stream with 3
//! replicas) and two processing Lookouts (one shared durable consumer → file sink), fed
//! by four paced OTLP clients. Mid-load a processing worker is killed with `kill -9`, and
//! then the server leading the stream. Every record an ingest worker answered 200 for
//! must be in the union of the workers' files; redeliveries are counted as duplicates
//! and printed, with how long publishing stalled while the cluster elected a new stream
//! leader. Bounded: about 10 s of load, at most 30 s to drain.

use std::time::{Duration, Instant};

use crate::nats_util::{
    Load, NatsServer, assert_all_delivered, duplicates, file_seqs, ingest_pipeline, kill9, out_file, start,
    start_cluster, stream_leader, wait_until_both_wrote, worker_pipeline,
};
use crate::util::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tiers_on_a_3_server_cluster_lose_nothing_acknowledged_through_a_worker_and_a_server_kill_9() {
    let Some(mut nodes) = start_cluster(3).await else { return };
    let urls = nodes.iter().map(NatsServer::url).collect::<Vec<_>>().join(",");

    let mut ingests = Vec::new();
    let mut targets = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let (api, http) = (free_port(), free_port());
        ingests.push(start(dir.path(), &ingest_pipeline(dir.path(), api, http, &urls, 3), api).await);
        targets.push(format!("127.0.0.1:{http}"));
        dirs.push(dir);
    }
    // Sinks do not gate readiness: wait for the ingest workers' sinks to create the stream.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (leader, replicas) = loop {
        if let Some(found) = stream_leader(&nodes[0], "TELEMETRY").await {
            break found;
        }
        assert!(Instant::now() < deadline, "no stream TELEMETRY after 15 s; ingest log:\n{}", ingests[0].log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(replicas, 3, "the ingest workers create the stream with 3 replicas");

    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a_api, b_api) = (free_port(), free_port());
    let worker_a = start(a_dir.path(), &worker_pipeline(a_dir.path(), a_api, &urls), a_api).await;
    let mut worker_b = start(b_dir.path(), &worker_pipeline(b_dir.path(), b_api, &urls), b_api).await;

    let load = Load::start(&targets, 4);
    let load_started = Instant::now();
    wait_until_both_wrote(a_dir.path(), b_dir.path(), || worker_b.log()).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    kill9(&mut worker_b);
    let b_seqs = file_seqs(&out_file(b_dir.path()));
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // Kill the server leading the stream: the two left must elect a new leader, and the
    // ingest workers' publishes (retried with the same message id) must go through again.
    let killed = nodes.iter().position(|n| n.name == leader).expect("the leader is one of ours");
    let acked_at_kill = load.acked_count();
    let killed_at = Instant::now();
    let rate_before = acked_at_kill as f64 / load_started.elapsed().as_secs_f64();
    nodes[killed].kill9();
    let survivor = nodes.iter().find(|n| n.name != leader).unwrap();
    let resumed = loop {
        if load.acked_count() >= acked_at_kill + 2_000 {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "after the stream leader's kill -9, fewer than 2000 more records were acknowledged within 20 s \
             ({} then {}); ingest log:\n{}\nsurvivor log:\n{}",
            acked_at_kill,
            load.acked_count(),
            ingests[0].log(),
            survivor.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let want = load.stop().await;
    let (new_leader, _) = stream_leader(survivor, "TELEMETRY").await.expect("the stream survives one server");
    assert_ne!(new_leader, leader, "a surviving server leads the stream");

    let counts = assert_all_delivered(&want, a_dir.path(), &b_seqs, Duration::from_secs(30), || worker_a.log()).await;
    eprintln!(
        "nats cluster e2e: {} records acknowledged ({} before the server kill), worker B wrote {} before its \
         kill -9, stream leader {leader} killed → {new_leader}, 2000 more acknowledged {:.1} s after (at the \
         {:.0} records/s before the kill that takes {:.1} s), duplicates (redelivered) {}",
        want.len(),
        acked_at_kill,
        b_seqs.len(),
        resumed.as_secs_f64(),
        rate_before,
        2000.0 / rate_before,
        duplicates(&counts)
    );
    drop(ingests);
}
