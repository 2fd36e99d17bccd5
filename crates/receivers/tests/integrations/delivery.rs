//! Delivery over real sockets: retries with backoff on 5xx/429/connection errors,
//! `Retry-After`, no retry on 4xx, the rate limit, the metrics, and secret-free errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use lookout_receivers::{GlobalConfig, NotifyMetrics, RetryPolicy, Templates, build_integrations, deliver};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::support::{Fake, fixture, one, receiver};

fn fast() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_elapsed: Some(Duration::from_secs(10)),
        ..RetryPolicy::default()
    }
}

fn webhook(url: &str) -> Arc<dyn lookout_receivers::Integration> {
    one(&format!("name: ops\nwebhook_configs:\n  - url: {url}\n"), &GlobalConfig::default())
}

#[tokio::test]
async fn retries_503_twice_then_delivers_once_with_backoff() {
    let fake = Fake::start(|_, i| {
        if i < 2 {
            (StatusCode::SERVICE_UNAVAILABLE, vec![], "busy".into())
        } else {
            (StatusCode::OK, vec![], String::new())
        }
    })
    .await;
    let w = webhook(&fake.url("/hook"));
    let t = Instant::now();
    deliver(w.as_ref(), &fixture(), &fast(), &CancellationToken::new()).await.unwrap();
    let took = t.elapsed();
    assert_eq!(fake.taken().len(), 3, "two failures and one success, nothing after");
    // Backoffs: [50, 100] ms then [100, 200] ms (equal jitter).
    assert!(took >= Duration::from_millis(150), "retried too fast: {took:?}");
    assert!(took < Duration::from_secs(3), "retried too slowly: {took:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fake = Fake::always(StatusCode::BAD_REQUEST, "bad payload").await;
    let w = webhook(&fake.url("/hook"));
    let e = deliver(w.as_ref(), &fixture(), &fast(), &CancellationToken::new()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(e.message, "webhook: unexpected status 400 Bad Request: bad payload");
    assert_eq!(fake.taken().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let fake = Fake::start(|_, i| {
        if i == 0 {
            (StatusCode::TOO_MANY_REQUESTS, vec![("retry-after", "1".to_string())], "slow down".into())
        } else {
            (StatusCode::OK, vec![], String::new())
        }
    })
    .await;
    let w = webhook(&fake.url("/hook"));
    let t = Instant::now();
    deliver(w.as_ref(), &fixture(), &fast(), &CancellationToken::new()).await.unwrap();
    let took = t.elapsed();
    assert_eq!(fake.taken().len(), 2);
    // The backoff alone would have waited at most 100 ms.
    assert!(took >= Duration::from_millis(950), "Retry-After ignored: {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_receiver_appears() {
    // Reserve a port, then free it: the first attempts are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let w = webhook(&format!("http://127.0.0.1:{port}/hook"));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let server = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let app = axum::Router::new().fallback(move || {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "ok" }
        });
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        axum::serve(l, app).await.unwrap();
    });
    deliver(w.as_ref(), &fixture(), &fast(), &CancellationToken::new()).await.unwrap();
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.abort();

    // With nobody ever listening, it gives up with a retryable connection error.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let w = webhook(&format!("http://127.0.0.1:{port}/hook?token=SECRET"));
    let p = RetryPolicy { max_attempts: Some(3), ..fast() };
    let e = deliver(w.as_ref(), &fixture(), &p, &CancellationToken::new()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.reason, lookout_receivers::FailureReason::Connection);
    assert!(e.message.contains("gave up after 3 attempts"), "{}", e.message);
    assert!(!e.message.contains("SECRET") && !e.message.contains("token"), "URL leaked: {}", e.message);
}

#[tokio::test]
async fn rate_limit_spaces_requests_and_metrics_count_them() {
    let fake = Fake::start(|_, i| {
        if i == 0 {
            (StatusCode::INTERNAL_SERVER_ERROR, vec![], String::new())
        } else {
            (StatusCode::OK, vec![], String::new())
        }
    })
    .await;
    let r = receiver(&format!(
        "name: ops\nwebhook_configs:\n  - url: {}\nrate_limit:\n  requests_per_second: 10\n  burst: 1\n",
        fake.url("/hook")
    ));
    let metrics = NotifyMetrics::new();
    let mut reg = Registry::default();
    metrics.register(&mut reg);
    let ints = build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap();
    let w = ints[0].clone();
    let p = RetryPolicy { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(2), ..fast() };
    let t = Instant::now();
    for _ in 0..4 {
        metrics.deliver(w.as_ref(), &fixture(), &p, &CancellationToken::new()).await.unwrap();
    }
    let took = t.elapsed();
    // 5 requests (one retried) through a 10/s bucket of 1: at least 4 × 100 ms.
    assert_eq!(fake.taken().len(), 5);
    assert!(took >= Duration::from_millis(380), "rate limit not applied: {took:?}");
    assert_eq!(metrics.notifications("webhook"), 4);
    assert_eq!(metrics.requests("webhook"), 5);
    assert_eq!(metrics.requests_failed("webhook"), 1);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &reg).unwrap();
    assert!(text.contains("lookout_notifications_total{integration=\"webhook\"} 4"), "{text}");
    assert!(text.contains("lookout_notification_requests_total{integration=\"webhook\"} 5"), "{text}");
    assert!(text.contains("lookout_notification_requests_failed_total{integration=\"webhook\"} 1"), "{text}");
    assert!(text.contains("lookout_notification_latency_seconds_count{integration=\"webhook\"} 4"), "{text}");

    // A failure is counted with its reason.
    let bad = Fake::always(StatusCode::FORBIDDEN, "").await;
    let r = receiver(&format!("name: ops\nwebhook_configs:\n  - url: {}\n", bad.url("/x")));
    let ints = build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap();
    metrics.deliver(ints[0].as_ref(), &fixture(), &p, &CancellationToken::new()).await.unwrap_err();
    assert_eq!(metrics.notifications_failed("webhook", "clientError"), 1);
}

#[tokio::test]
async fn cancellation_interrupts_a_hanging_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers.
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            conns.push(s);
        }
    });
    let w = webhook(&format!("http://{addr}/hook"));
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.cancel();
    });
    let t = Instant::now();
    let e = deliver(w.as_ref(), &fixture(), &fast(), &cancel).await.unwrap_err();
    assert_eq!(e.reason, lookout_receivers::FailureReason::Canceled);
    assert!(t.elapsed() < Duration::from_secs(2));
    hold.abort();
}

/// The shared secret-leak check: whatever fails, no error message and no `Debug` of a
/// config shows a webhook URL's token, a routing key, an API key or a password.
#[tokio::test]
async fn errors_and_configs_never_show_secrets() {
    const SECRET: &str = "TOPSECRET42";
    let refused = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://127.0.0.1:{port}")
    };
    let failing = Fake::always(StatusCode::INTERNAL_SERVER_ERROR, "internal error").await;
    let denied = Fake::always(StatusCode::FORBIDDEN, "forbidden").await;
    for base in [refused.clone(), failing.url(""), denied.url("")] {
        let yamls = [
            format!("name: s\nslack_configs:\n  - api_url: {base}/services/T0/B0/{SECRET}\n"),
            format!("name: w\nwebhook_configs:\n  - url: {base}/hook?token={SECRET}\n"),
            format!(
                "name: w\nwebhook_configs:\n  - url: {base}/hook\n    http_config:\n      basic_auth:\n        username: u\n        password: {SECRET}\n"
            ),
            format!("name: p\npagerduty_configs:\n  - routing_key: {SECRET}\n    url: {base}/v2/enqueue\n"),
            format!("name: p\npagerduty_configs:\n  - service_key: {SECRET}\n    url: {base}/v1\n"),
            format!("name: o\nopsgenie_configs:\n  - api_key: {SECRET}\n    api_url: {base}/\n"),
            format!(
                "name: e\nemail_configs:\n  - to: a@example.com\n    from: b@example.com\n    smarthost: {}\n    require_tls: false\n    auth_username: u\n    auth_password: {SECRET}\n",
                base.trim_start_matches("http://")
            ),
        ];
        for yaml in yamls {
            if yaml.contains("email_configs") && base != refused {
                continue; // an HTTP server never greets an SMTP client: nothing new to learn
            }
            let r = receiver(&yaml);
            assert!(!format!("{r:?}").contains(SECRET), "Debug shows the secret: {r:?}");
            let i = one(&yaml, &GlobalConfig::default());
            let p = RetryPolicy { max_attempts: Some(2), attempt_timeout: Some(Duration::from_secs(2)), ..fast() };
            let e = deliver(i.as_ref(), &fixture(), &p, &CancellationToken::new()).await.unwrap_err();
            assert!(!e.message.contains(SECRET), "{}: error shows the secret: {}", i.name(), e.message);
        }
    }
}
