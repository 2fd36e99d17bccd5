//! Shared test helpers: a webhook recorder (an axum server that keeps every Alertmanager
//! version-4 payload it receives, with its arrival time) and a notifier served on
//! 127.0.0.1:0.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One webhook delivery.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub body: Value,
}

impl Received {
    pub fn status(&self) -> &str {
        self.body["status"].as_str().unwrap_or("")
    }
    pub fn receiver(&self) -> &str {
        self.body["receiver"].as_str().unwrap_or("")
    }
    pub fn group_key(&self) -> &str {
        self.body["groupKey"].as_str().unwrap_or("")
    }
    /// `(alertname-or-first-label-values, status)` of each alert, sorted.
    pub fn alerts(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.body["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let labels = a["labels"].as_object().cloned().unwrap_or_default();
                let id: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
                (id.join(","), a["status"].as_str().unwrap_or("").to_string())
            })
            .collect();
        out.sort();
        out
    }
}

/// Records webhook posts.
pub struct Recorder {
    pub url: String,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

type Tx = mpsc::UnboundedSender<Received>;

async fn hook(State(tx): State<Tx>, Json(body): Json<Value>) -> &'static str {
    let r = Received { at: Instant::now(), body };
    let _ = tx.send(r);
    "ok"
}

impl Recorder {
    pub async fn start() -> Recorder {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = axum::Router::new().route("/hook", post(hook)).route("/hook/{name}", post(hook)).with_state(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Recorder { url: format!("http://{addr}/hook"), rx: tokio::sync::Mutex::new(rx), _stop: stop }
    }

    /// The next delivery within `within`.
    pub async fn next(&self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.rx.lock().await.recv()).await.ok().flatten()
    }

    /// Asserts nothing arrives for `d`.
    pub async fn quiet(&self, d: Duration) {
        if let Some(r) = self.next(d).await {
            panic!("unexpected notification: {:#}", r.body);
        }
    }
}

/// A notifier with its API on 127.0.0.1.
pub struct Running {
    pub notifier: lookout_notify::Notifier,
    pub api: String,
    pub shutdown: CancellationToken,
    pub registry: prometheus_client::registry::Registry,
}

impl Running {
    pub async fn start(yaml: &str, dir: &Path) -> Running {
        Running::start_with(yaml, dir, |_| {}).await
    }

    /// [`Running::start`] with `tune` applied to the start options (limits).
    pub async fn start_with(yaml: &str, dir: &Path, tune: impl FnOnce(&mut lookout_notify::StartOptions)) -> Running {
        let cfg = lookout_notify::parse_config("am.yml", yaml).unwrap_or_else(|e| panic!("{e}"));
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = lookout_notify::NotifierMetrics::new();
        metrics.register(&mut registry);
        let shutdown = CancellationToken::new();
        let mut opts = lookout_notify::StartOptions {
            external_url: "http://lookout.test:9093".into(),
            maintenance_interval: Duration::from_millis(200),
            ..Default::default()
        };
        tune(&mut opts);
        let notifier = lookout_notify::Notifier::start_with(cfg, dir, metrics, shutdown.clone(), opts).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let app = notifier.router();
        let s = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await.unwrap();
        });
        Running { notifier, api, shutdown, registry }
    }

    /// The metrics as `/metrics` would serve them.
    pub fn metrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).unwrap();
        out
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.notifier.stopped().await;
    }
}

/// POSTs alerts to an Alertmanager-compatible API.
pub async fn post_alerts(api: &str, alerts: Value) -> reqwest::StatusCode {
    reqwest::Client::new().post(format!("{api}/api/v2/alerts")).json(&alerts).send().await.unwrap().status()
}

/// `{"labels": {...}}` with optional start/end offsets from now, in seconds.
pub fn alert(labels: &[(&str, &str)], start: Option<i64>, end: Option<i64>) -> Value {
    let now = chrono::Utc::now();
    let mut a = serde_json::json!({
        "labels": labels.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        "annotations": { "summary": "test" },
    });
    if let Some(s) = start {
        a["startsAt"] = Value::String((now + chrono::Duration::seconds(s)).to_rfc3339());
    }
    if let Some(e) = end {
        a["endsAt"] = Value::String((now + chrono::Duration::seconds(e)).to_rfc3339());
    }
    a
}
