//! The lease against a real `nats-server -js` (Debian's; scripts/test.sh installs it).
//! Without the binary each test says SKIPPED and passes.

use std::time::{Duration, Instant};

use super::*;
use crate::testing::NatsServer;

const TTL: Duration = Duration::from_millis(1500);
const RENEW: Duration = Duration::from_millis(300);

fn nats() -> Option<NatsServer> {
    let server = NatsServer::start();
    if server.is_none() {
        eprintln!("SKIPPED: nats-server is not installed (scripts/test.sh installs it)");
    }
    server
}

fn config(port: u16) -> KvConfig {
    KvConfig {
        url: format!("nats://127.0.0.1:{port}"),
        bucket: "lease-test".into(),
        replicas: 1,
        creds_file: None,
        token: None,
        user: None,
        password: None,
        tls: None,
    }
}

async fn contender(port: u16, name: &str) -> (Lease, kv::Store) {
    let store = config(port).open(name, 1, Duration::ZERO).await.expect("bucket");
    (Lease::start(store.clone(), "leader", name.to_string(), TTL, RENEW), store)
}

/// Waits until `cond` holds on the status, at most `within`; returns how long it took.
async fn until(lease: &Lease, within: Duration, cond: impl Fn(&LeaseStatus) -> bool) -> Duration {
    let started = Instant::now();
    let mut rx = lease.status();
    tokio::time::timeout(within, rx.wait_for(|s| cond(s)))
        .await
        .unwrap_or_else(|_| panic!("{}: not reached within {within:?}: {:?}", lease.holder(), *lease.status().borrow()))
        .unwrap();
    started.elapsed()
}

fn leaders(leases: &[&Lease]) -> usize {
    leases.iter().filter(|l| l.is_leader()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_release_hands_over_and_a_dead_holder_is_replaced_after_its_ttl() {
    let Some(server) = nats() else { return };
    let (a, _) = contender(server.port, "a").await;
    until(&a, Duration::from_secs(5), |s| s.leader).await;
    let (b, _) = contender(server.port, "b").await;
    until(&b, Duration::from_secs(5), |s| s.holder.as_deref() == Some("a")).await;
    // Several renewals: b never leads while a is alive.
    for _ in 0..10 {
        tokio::time::sleep(RENEW / 2).await;
        assert_eq!(leaders(&[&a, &b]), 1);
        assert!(a.is_leader());
    }

    // A clean release: b takes over within about one look.
    a.release().await;
    let took = until(&b, Duration::from_secs(5), |s| s.leader).await;
    assert!(took < RENEW * 3, "takeover after release took {took:?}");

    // A crash (dropped without release): c waits for the TTL, then takes over.
    let (c, _) = contender(server.port, "c").await;
    until(&c, Duration::from_secs(5), |s| s.holder.as_deref() == Some("b")).await;
    tokio::time::sleep(RENEW * 2).await;
    let crashed = Instant::now();
    drop(b);
    until(&c, TTL + RENEW * 4, |s| s.leader).await;
    let took = crashed.elapsed();
    assert!(took >= TTL - RENEW, "took over {took:?} after the crash, before the TTL {TTL:?} could pass");
    assert!(took <= TTL + RENEW * 3, "took over {took:?} after the crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_write_steps_the_holder_down_at_once() {
    let Some(server) = nats() else { return };
    let (a, store) = contender(server.port, "a").await;
    until(&a, Duration::from_secs(5), |s| s.leader).await;
    // Someone else (an operator, a contender with a skewed view) writes the key.
    let other = serde_json::json!({"holder": "intruder", "ttl_ms": 60_000, "renewed_unix_ms": 0, "expires_unix_ms": 0});
    store.put("leader", serde_json::to_vec(&other).unwrap().into()).await.unwrap();
    let took = until(&a, RENEW * 3, |s| !s.leader).await;
    assert!(took <= RENEW * 2, "stepped down after {took:?}");
    // And it does not take the lease back while the intruder's TTL runs.
    tokio::time::sleep(TTL).await;
    assert!(!a.is_leader());
    assert_eq!(a.status().borrow().holder.as_deref(), Some("intruder"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_cut_off_from_the_bus_steps_down_before_its_lease_expires() {
    let Some(server) = nats() else { return };
    let port = server.port;
    let (a, _) = contender(port, "a").await;
    until(&a, Duration::from_secs(5), |s| s.leader).await;
    let cut = Instant::now();
    let dir = server.kill();
    let took = until(&a, TTL, |s| !s.leader).await;
    // Its last renewal was at most RENEW before the cut; it must stop before a contender
    // could count the TTL from that renewal.
    assert!(took < TTL, "still leader {:?} after the bus went away", cut.elapsed());
    // The bus comes back (same store): the lease is taken again, by a or a new contender,
    // only after its TTL.
    let _server = NatsServer::start_in(dir, port).expect("restart");
    until(&a, Duration::from_secs(10), |s| s.leader).await;
}

#[test]
fn config_defaults_and_checks() {
    let parse = |y: &str| serde_saphyr::from_str::<LeaseConfig>(y).map_err(|e| e.to_string());
    let c = parse("nats: { url: nats://127.0.0.1:4222, bucket: lookout-scaler }").unwrap();
    assert_eq!(c.ttl.0, Duration::from_secs(15));
    assert_eq!(c.renew_interval(), Duration::from_secs(5));
    c.check().unwrap();
    assert!(c.holder().contains(&std::process::id().to_string()));
    let c = parse("nats: { url: nats://x:4222, bucket: b }\nttl: 3s\nrenew_interval: 2s").unwrap();
    assert!(c.check().unwrap_err().contains("renew_interval"));
    let c = parse("nats: { url: http://x, bucket: b }").unwrap();
    assert!(c.check().unwrap_err().starts_with("nats: `url`"));
    assert!(parse("nats: { url: nats://x, bucket: b }\nttl: 3s\nttll: 1s").unwrap_err().contains("ttll"));
}
