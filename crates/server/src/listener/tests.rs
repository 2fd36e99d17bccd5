//! Listener limits over real sockets.

use std::time::Duration;

use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

fn limits() -> ListenerLimits {
    ListenerLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(800),
        max_connections: 3,
        max_requests_in_flight: 1,
        drain_timeout: Duration::from_millis(500),
    }
}

async fn start(
    limits: ListenerLimits,
) -> (std::net::SocketAddr, Arc<ListenerStats>, Shutdown, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            "slow"
        }),
    );
    let stats = Arc::new(ListenerStats::default());
    let shutdown = Shutdown::new();
    let task = tokio::spawn({
        let (stats, shutdown) = (stats.clone(), shutdown.clone());
        async move { serve(listener, router, limits, stats, None, shutdown).await.unwrap() }
    });
    (addr, stats, shutdown, task)
}

/// Reads until the peer closes; returns what came, or None if still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    match read {
        Ok(_) => Some(out),
        Err(_) => None,
    }
}

async fn get_status(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let out = closed_within(&mut s, Duration::from_secs(5)).await.expect("answered");
    String::from_utf8_lossy(&out).lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn half_a_header_or_silence_is_cut_off() {
    let (addr, stats, _shutdown, _task) = start(limits()).await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut half, Duration::from_secs(3)).await.is_some(), "half header closed");
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await.is_some(), "silent connection closed");
    assert!(stats.timed_out_connections.load(Ordering::Relaxed) >= 1);
    assert_eq!(get_status(addr, "/").await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let (addr, _stats, _shutdown, _task) = start(limits()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut s, Duration::from_secs(3)).await.is_some(), "idle keep-alive closed");
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_and_requests_over_the_cap_get_503() {
    let mut l = limits();
    l.header_read_timeout = Duration::from_secs(5);
    l.idle_timeout = Duration::from_secs(5);
    let (addr, stats, _shutdown, _task) = start(l).await;
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    let _c = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = TcpStream::connect(addr).await.unwrap();
    assert_eq!(closed_within(&mut over, Duration::from_secs(2)).await, Some(vec![]), "closed at once");
    assert_eq!(stats.refused_connections.load(Ordering::Relaxed), 1);
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let slow = tokio::spawn(get_status(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get_status(addr, "/").await, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(slow.await.unwrap(), "HTTP/1.1 200 OK");
    assert_eq!(stats.shed_requests.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn shutdown_returns_promptly_with_a_half_open_connection() {
    let mut l = limits();
    l.header_read_timeout = Duration::from_secs(60);
    l.idle_timeout = Duration::from_secs(60);
    let (addr, _stats, shutdown, task) = start(l).await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(3), task).await.expect("serve returns by the drain deadline").unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(addr).await.is_err(), "no longer accepting");
}
