//! `bench-notify`: an alert storm through the notifier's HTTP API into a webhook.
//!
//! Posts `--alerts` alerts (default 10 000) spread over `--groups` aggregation groups
//! (default 100) to `POST /api/v2/alerts` in batches of `--batch` (default 64, Prometheus's
//! batch size), and records when each alert first reaches a local webhook receiver. Prints
//! one JSON line: POST throughput, POST-to-delivery latency p50/p99/max (which includes
//! `group_wait` for the first flush and `group_interval` for alerts that join a group after
//! it flushed), notifications sent and the process's CPU time (notifier, API server,
//! client and receiver all run in this process).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

async fn hook(State((arrivals, count)): State<(Arrivals, Arc<Mutex<u64>>)>, Json(body): Json<Value>) -> &'static str {
    let now = Instant::now();
    *count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let mut a = arrivals.lock().unwrap_or_else(|e| e.into_inner());
    for alert in body["alerts"].as_array().into_iter().flatten() {
        if let Some(i) = alert["labels"]["i"].as_str().and_then(|s| s.parse::<u64>().ok()) {
            a.entry(i).or_insert(now);
        }
    }
    "ok"
}

/// User + system CPU seconds of this process (`/proc/self/stat`, 100 ticks per second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn arg(name: &str, default: u64) -> Result<u64, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => {
            args.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a positive integer"))
        }
        None => Ok(default),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let n_alerts = arg("--alerts", 10_000)?;
    let n_groups = arg("--groups", 100)?.max(1);
    let batch = arg("--batch", 64)?.max(1) as usize;
    let (group_wait_ms, group_interval_ms) = (arg("--group-wait-ms", 100)?, arg("--group-interval-ms", 1000)?);

    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let count = Arc::new(Mutex::new(0u64));
    let app = axum::Router::new().route("/hook", post(hook)).with_state((arrivals.clone(), count.clone()));
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let hook_url = format!("http://{}/hook", hook_listener.local_addr().map_err(|e| e.to_string())?);
    tokio::spawn(async move {
        let _ = axum::serve(hook_listener, app).await;
    });

    let yaml = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: {group_wait_ms}ms\n  group_interval: {group_interval_ms}ms\n  repeat_interval: 1h\n\
         receivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook_url}\n"
    );
    let cfg = lookout_notify::parse_config("bench.yml", &yaml).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("bench-notify-{}", std::process::id()));
    let shutdown = CancellationToken::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let notifier =
        lookout_notify::Notifier::start(cfg, &dir, &mut registry, shutdown.clone()).await.map_err(|e| e.to_string())?;
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let api = format!("http://{}", api_listener.local_addr().map_err(|e| e.to_string())?);
    let router = notifier.router();
    let s = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(api_listener, router).with_graceful_shutdown(async move { s.cancelled().await }).await;
    });

    let client = reqwest::Client::new();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut posted_at: HashMap<u64, Instant> = HashMap::with_capacity(n_alerts as usize);
    let ids: Vec<u64> = (0..n_alerts).collect();
    for chunk in ids.chunks(batch) {
        let body: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({
                    "labels": { "alertname": format!("Storm{}", i % n_groups), "i": i.to_string(), "job": "bench" },
                    "annotations": { "summary": "alert storm" },
                })
            })
            .collect();
        let sent = Instant::now();
        let resp = client.post(format!("{api}/api/v2/alerts")).json(&body).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("POST failed: {}", resp.status()));
        }
        for i in chunk {
            posted_at.insert(*i, sent);
        }
    }
    let post_secs = t0.elapsed().as_secs_f64();

    // Wait until every alert was delivered (or give up after a generous bound).
    let deadline =
        Instant::now() + Duration::from_millis(group_wait_ms + 3 * group_interval_ms) + Duration::from_secs(30);
    loop {
        let done = arrivals.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
        if done >= n_alerts || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total_secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let arrivals = arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut lat: Vec<f64> = posted_at
        .iter()
        .filter_map(|(i, sent)| arrivals.get(i).map(|at| at.saturating_duration_since(*sent).as_secs_f64() * 1000.0))
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let notifications = *count.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "{}",
        json!({
            "bench": "notify",
            "alerts": n_alerts,
            "groups": n_groups,
            "batch": batch,
            "group_wait_ms": group_wait_ms,
            "group_interval_ms": group_interval_ms,
            "delivered": lat.len(),
            "notifications": notifications,
            "post_seconds": (post_secs * 1000.0).round() / 1000.0,
            "alerts_per_second": (n_alerts as f64 / post_secs).round(),
            "latency_ms": {
                "p50": (percentile(&lat, 0.50) * 10.0).round() / 10.0,
                "p99": (percentile(&lat, 0.99) * 10.0).round() / 10.0,
                "max": (lat.last().copied().unwrap_or(0.0) * 10.0).round() / 10.0,
            },
            "cpu_seconds": (cpu * 100.0).round() / 100.0,
            "wall_seconds": (total_secs * 1000.0).round() / 1000.0,
        })
    );
    shutdown.cancel();
    notifier.stopped().await;
    let _ = std::fs::remove_dir_all(&dir);
    if (lat.len() as u64) < n_alerts {
        return Err(format!("only {} of {n_alerts} alerts were delivered", lat.len()));
    }
    Ok(())
}
