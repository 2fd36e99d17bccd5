//! Load through the sources other than OTLP: `vector` (gRPC `PushEvents`),
//! `http_server` (NDJSON POSTs), `syslog` (RFC 5424 over TCP, newline-framed) and `file`
//! (lines appended to a tailed file). Each record is the OTLP load's record in that
//! source's shape: a 256-byte message, three fields, service and host.
//!
//! `vector` and `http_server` answer every request, so their events are the accepted
//! ones, as for OTLP. `syslog` over TCP and `file` acknowledge nothing: their events are
//! the lines written, and the run's time lasts until the last of them reached the sink,
//! so their events/s is delivered throughput (the drain included).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::AsyncWriteExt as _;

use crate::Args;
use crate::load::Report;
use crate::tail::Observed;

#[path = "../../ingest/src/vector/proto.rs"]
#[allow(dead_code, clippy::all)]
mod vector_proto;

/// The source the load goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// OTLP over HTTP and gRPC (`--protocols`).
    Otlp,
    /// Vector's native protocol (`vector.Vector/PushEvents`).
    Vector,
    /// NDJSON POSTs to an `http_server` source.
    HttpServer,
    /// RFC 5424 lines over TCP to a `syslog` source.
    Syslog,
    /// Lines appended to a file a `file` source tails.
    File,
}

impl Source {
    /// Whether a sender hears that its records were taken (else the run's time includes
    /// the drain: delivered throughput).
    pub fn answers(self) -> bool {
        !matches!(self, Source::Syslog | Source::File)
    }

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Source::Otlp => "otlp",
            Source::Vector => "vector",
            Source::HttpServer => "http_server",
            Source::Syslog => "syslog",
            Source::File => "file",
        }
    }

    /// The pipeline's `input` source for a non-OTLP run, listening on `port` or tailing
    /// `dir/input.log`.
    pub fn config(self, port: u16, dir: &Path) -> String {
        match self {
            Source::Otlp => unreachable!("the otlp source has its own config"),
            Source::Vector => format!("  input: {{ type: vector, address: 127.0.0.1:{port} }}\n"),
            Source::HttpServer => {
                format!("  input: {{ type: http_server, address: 127.0.0.1:{port}, path: /logs, encoding: ndjson }}\n")
            }
            Source::Syslog => format!("  input: {{ type: syslog, address: 127.0.0.1:{port}, mode: tcp }}\n"),
            Source::File => {
                format!(
                    "  input: {{ type: file, include: [\"{}\"], read_from: beginning }}\n",
                    input_file(dir).display()
                )
            }
        }
    }
}

/// The file a `file` run appends to.
pub fn input_file(dir: &Path) -> std::path::PathBuf {
    dir.join("input.log")
}

fn message() -> String {
    "lorem ipsum dolor sit amet, consectetur adipiscing elit; ".chars().cycle().take(256).collect()
}

fn json_line() -> String {
    serde_json::json!({
        "message": message(),
        "level": "info",
        "service": "bench",
        "host": "bench-host",
        "http.method": "GET",
        "http.status_code": 200,
        "user.id": "u-12345",
    })
    .to_string()
}

fn syslog_line() -> String {
    format!(
        "<134>1 2026-12-07T14:00:00.000Z bench-host bench 4242 ID47 [req@32473 method=\"GET\" status=\"200\" user=\"u-12345\"] {}",
        message()
    )
}

fn vector_request(records: usize) -> vector_proto::PushEventsRequest {
    use vector_proto::{Event, EventWrapper, Kind, Log, Value, ValueMap};
    let text = |s: &str| Value { kind: Some(Kind::RawBytes(s.as_bytes().to_vec())) };
    let fields: HashMap<String, Value> = [
        ("message", text(&message())),
        ("host", text("bench-host")),
        ("source_type", text("bench")),
        ("service", text("bench")),
        ("http.method", text("GET")),
        ("user.id", text("u-12345")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain([("http.status_code".to_string(), Value { kind: Some(Kind::Integer(200)) })])
    .collect();
    let log = Log { value: Some(Value { kind: Some(Kind::Map(ValueMap { fields })) }), ..Default::default() };
    vector_proto::PushEventsRequest { events: vec![EventWrapper { event: Some(Event::Log(log)) }; records] }
}

/// `records` lines, each ending in a newline.
fn lines(line: &str, records: usize) -> bytes::Bytes {
    let mut out = String::with_capacity((line.len() + 1) * records);
    for _ in 0..records {
        out.push_str(line);
        out.push('\n');
    }
    out.into()
}

/// How far (in lines) the `file` run's writer may run ahead of the sink.
const FILE_BACKLOG: u64 = 200_000;

/// Counters the senders share.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    bytes: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    /// Counts one request or chunk; a refused one backs off briefly (not retried).
    async fn count(&self, accepted: bool, records: u64, bytes: u64) {
        if accepted {
            self.accepted.fetch_add(records, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn report(&self, elapsed: Duration) -> Report {
        Report {
            accepted_events: self.accepted.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            elapsed,
            probes_sent: HashMap::new(),
        }
    }
}

/// Sends `args.seconds` of load through `source` at `target` (an address, or the
/// pipeline's directory for `file`).
pub async fn run(source: Source, target: &str, args: &Args, observed: &Arc<Observed>) -> anyhow::Result<Report> {
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let records = args.batch as u64;
    let mut workers = tokio::task::JoinSet::new();
    match source {
        Source::Otlp => unreachable!("the otlp load is load::run"),
        Source::Vector => {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{target}"))?.connect().await?;
            let request = vector_request(args.batch);
            let size = prost::Message::encoded_len(&request) as u64;
            for _ in 0..args.concurrency {
                let (mut client, request, c) =
                    (tonic::client::Grpc::new(channel.clone()), request.clone(), counters.clone());
                workers.spawn(async move {
                    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/vector.Vector/PushEvents");
                    while Instant::now() < deadline {
                        client.ready().await?;
                        let codec = tonic_prost::ProstCodec::<_, vector_proto::PushEventsResponse>::default();
                        let sent = client.unary(tonic::Request::new(request.clone()), path.clone(), codec).await;
                        c.count(sent.is_ok(), records, size).await;
                    }
                    anyhow::Ok(())
                });
            }
        }
        Source::HttpServer => {
            let (client, url) = (reqwest::Client::new(), format!("http://{target}/logs"));
            let body = lines(&json_line(), args.batch);
            for _ in 0..args.concurrency {
                let (client, url, body, c) = (client.clone(), url.clone(), body.clone(), counters.clone());
                workers.spawn(async move {
                    while Instant::now() < deadline {
                        let sent = client
                            .post(&url)
                            .header("content-type", "application/x-ndjson")
                            .body(body.clone())
                            .send()
                            .await?;
                        let ok = sent.status().is_success();
                        let _ = sent.bytes().await;
                        c.count(ok, records, body.len() as u64).await;
                    }
                    anyhow::Ok(())
                });
            }
        }
        Source::Syslog => {
            let chunk = lines(&syslog_line(), args.batch);
            for _ in 0..args.concurrency {
                let mut stream = tokio::net::TcpStream::connect(target).await?;
                let (chunk, c) = (chunk.clone(), counters.clone());
                workers.spawn(async move {
                    while Instant::now() < deadline {
                        stream.write_all(&chunk).await?;
                        c.count(true, records, chunk.len() as u64).await;
                    }
                    stream.shutdown().await?;
                    anyhow::Ok(())
                });
            }
        }
        Source::File => {
            // One writer appends whole chunks while the source tails the file; it stays at
            // most `FILE_BACKLOG` lines ahead of the sink, so the file stays small.
            let path = input_file(Path::new(target));
            let chunk = lines(&json_line(), args.batch);
            let (c, observed) = (counters.clone(), observed.clone());
            workers.spawn_blocking(move || {
                let mut file =
                    std::fs::OpenOptions::new().append(true).create(true).open(&path).context("input file")?;
                while Instant::now() < deadline {
                    while c.accepted.load(Ordering::Relaxed) > observed.records() + FILE_BACKLOG {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    file.write_all(&chunk)?;
                    c.accepted.fetch_add(records, Ordering::Relaxed);
                    c.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                anyhow::Ok(())
            });
        }
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    Ok(counters.report(started.elapsed()))
}
