//! The load: pre-built OTLP log batches sent over HTTP or gRPC, plus latency probes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::Args;
use crate::tail::PROBE_KEY;

/// How the load is sent.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP protobuf.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

impl Protocol {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }
}

/// What one run sent.
pub struct Report {
    /// Records in requests answered with success.
    pub accepted_events: u64,
    /// Request bytes of those requests.
    pub bytes: u64,
    /// Requests refused (e.g. 503 under push-back); they are not retried.
    pub refused: u64,
    /// Load time.
    pub elapsed: Duration,
    /// When each probe was sent.
    pub probes_sent: HashMap<u64, Instant>,
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn request(records: usize, probe: Option<u64>) -> ExportLogsServiceRequest {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let body: String = "lorem ipsum dolor sit amet, consectetur adipiscing elit; ".chars().cycle().take(256).collect();
    let mut attributes = vec![
        kv("http.method", Value::StringValue("GET".into())),
        kv("http.status_code", Value::IntValue(200)),
        kv("user.id", Value::StringValue("u-12345".into())),
    ];
    if let Some(id) = probe {
        attributes.push(kv(PROBE_KEY, Value::StringValue(id.to_string())));
    }
    let record = LogRecord {
        time_unix_nano: now,
        observed_time_unix_nano: now,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(AnyValue { value: Some(Value::StringValue(body)) }),
        attributes,
        trace_id: vec![7; 16],
        span_id: vec![3; 8],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue("bench".into())),
                    kv("host.name", Value::StringValue("bench-host".into())),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope { name: "bench".into(), ..Default::default() }),
                log_records: vec![record; records],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[derive(Clone)]
enum Client {
    Http { client: reqwest::Client, url: String },
    Grpc(LogsServiceClient<tonic::transport::Channel>),
}

impl Client {
    async fn connect(protocol: Protocol, target: &str) -> anyhow::Result<Client> {
        Ok(match protocol {
            Protocol::Http => Client::Http { client: reqwest::Client::new(), url: format!("http://{target}/v1/logs") },
            Protocol::Grpc => Client::Grpc(
                LogsServiceClient::connect(format!("http://{target}")).await?.max_decoding_message_size(64 << 20),
            ),
        })
    }

    /// Sends one request; `Ok(true)` when accepted.
    async fn send(&mut self, request: &ExportLogsServiceRequest, encoded: &bytes::Bytes) -> anyhow::Result<bool> {
        match self {
            Client::Http { client, url } => {
                let resp = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(encoded.clone())
                    .send()
                    .await?;
                let ok = resp.status().is_success();
                let _ = resp.bytes().await;
                Ok(ok)
            }
            Client::Grpc(c) => Ok(c.export(request.clone()).await.is_ok()),
        }
    }
}

/// Sends load for `args.seconds`, then returns what was accepted.
pub async fn run(protocol: Protocol, target: &str, args: &Args) -> anyhow::Result<Report> {
    let client = Client::connect(protocol, target).await?;
    let batch = Arc::new(request(args.batch, None));
    let encoded = bytes::Bytes::from(batch.encode_to_vec());
    let accepted = Arc::new(AtomicU64::new(0));
    let bytes_sent = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        let (mut client, batch, encoded) = (client.clone(), batch.clone(), encoded.clone());
        let (accepted, bytes_sent, refused) = (accepted.clone(), bytes_sent.clone(), refused.clone());
        let records = args.batch as u64;
        let mut pace = (args.rate > 0).then(|| {
            let every = Duration::from_secs_f64(records as f64 * args.concurrency as f64 / args.rate as f64);
            // Senders are spread evenly over the period: a fixed rate is a steady stream,
            // not `concurrency` requests at once every period.
            let offset = every.mul_f64(worker as f64 / args.concurrency as f64);
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                match client.send(&batch, &encoded).await {
                    Ok(true) => {
                        accepted.fetch_add(records, Ordering::Relaxed);
                        bytes_sent.fetch_add(encoded.len() as u64, Ordering::Relaxed);
                    }
                    _ => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }));
    }
    let mut probes_sent = HashMap::new();
    let mut probe_client = client.clone();
    let mut id = 0u64;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let probe = request(1, Some(id));
        let encoded = bytes::Bytes::from(probe.encode_to_vec());
        let at = Instant::now();
        if probe_client.send(&probe, &encoded).await.unwrap_or(false) {
            probes_sent.insert(id, at);
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        id += 1;
    }
    for w in workers {
        w.await?;
    }
    Ok(Report {
        accepted_events: accepted.load(Ordering::Relaxed),
        bytes: bytes_sent.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        probes_sent,
    })
}
