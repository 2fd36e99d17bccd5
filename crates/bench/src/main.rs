//! `bench`: the ingest benchmark (not a test).
//!
//! Starts `lookout run` pinned to one core (`taskset -c CPU`, `--threads 1`) on an
//! otlp → enrich → file pipeline, pushes OTLP log batches (256-byte bodies, a few
//! attributes) over HTTP and then gRPC for a fixed time, and prints one JSON line per
//! protocol: sustained events/s and MiB/s (request bytes), p50/p99 ingest→file latency,
//! Lookout's peak RSS (`VmHWM` of the lookout process, read at the end of the run), the
//! CPU seconds lookout used while loaded and events per CPU second, and
//! how many accepted records never reached the file.
//!
//! `--source vector|http-server|syslog|file` sends the same records through another
//! source instead (see `sources.rs`: one run each, no latency probes).
//!
//! `--sink elasticsearch` swaps the file for a built-in `_bulk` receiver; `--buffer disk`
//! gives the sink a disk buffer, and `--acks` turns on the otlp source's end-to-end
//! acknowledgements (a request is answered once the sink holds it durably), which makes
//! every request wait for an fsync: raise `--concurrency` with it.
//!
//! `--topology nats` runs the scale-out layout instead (docs/scaling-out.md): an ingest
//! Lookout (otlp with acknowledgements → `nats` sink) and a processing Lookout (`nats`
//! source with acknowledgements → enrich → the sink), each pinned to its own core (`--cpu`,
//! `--processing-cpu`), with Debian's `nats-server -js` between them; the line then also
//! has the processing worker's CPU, events per CPU second and peak RSS. A request is
//! answered once JetStream stored it, so raise `--concurrency`.
//!
//! Latency is measured from outside: every 20 ms a one-record probe carrying its own id
//! goes in with the load, and a tailer on the output file notes when its line appears.
//! Run the benchmark process itself on another core (`taskset -c 1`) so load generation
//! does not steal Lookout's core.

mod bulk;
mod load;
mod sources;
mod tail;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(version, about = "Push OTLP logs at lookout and report throughput, latency and memory as JSON lines")]
pub struct Args {
    /// The lookout binary (default: target/release/lookout next to this binary).
    #[arg(long)]
    pub lookout: Option<PathBuf>,
    /// Seconds of load per protocol.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Log records per export request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Offered load in events/s across all senders (0 = as fast as Lookout accepts).
    /// Latency is only meaningful below saturation: at full speed it measures queueing.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// The CPU lookout is pinned to (`taskset -c`); empty to not pin.
    #[arg(long, default_value = "0")]
    pub cpu: String,
    /// Lookout's runtime worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where the pipeline writes: `file` (tailed) or `elasticsearch` (a built-in `_bulk`
    /// receiver).
    #[arg(long, default_value = "file")]
    pub sink: String,
    /// The source the load goes through: `otlp` (over each of `--protocols`), or
    /// `vector`, `http-server`, `syslog` (TCP) or `file` (one run each, no latency probes).
    #[arg(long, value_enum, default_value_t = sources::Source::Otlp)]
    pub source: sources::Source,
    /// Protocols to run, in order (with `--source otlp`).
    #[arg(long, value_delimiter = ',', default_value = "http,grpc")]
    pub protocols: Vec<load::Protocol>,
    /// The sink's buffer: `memory` (the default buffer) or `disk` (segment files under
    /// data_dir/buffers/<sink>/, group-committed with fdatasync).
    #[arg(long, value_enum, default_value_t = BufferKind::Memory)]
    pub buffer: BufferKind,
    /// The disk buffer's `max_size` (with `--buffer disk`).
    #[arg(long, default_value = "256MiB")]
    pub buffer_max_size: String,
    /// Turn on the otlp source's `acknowledgements`: a request is answered only once the
    /// sink holds the batch durably (disk buffer) or delivered it (memory buffer). Each
    /// request then waits for an fsync or a delivery, so raise `--concurrency`.
    #[arg(long)]
    pub acks: bool,
    /// `single` (one Lookout) or `nats` (ingest worker → nats-server → processing worker).
    #[arg(long, value_enum, default_value_t = Topology::Single)]
    pub topology: Topology,
    /// The CPU the processing worker is pinned to with `--topology nats`; empty to not pin.
    #[arg(long, default_value = "1")]
    pub processing_cpu: String,
}

/// What runs between the load and the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Topology {
    /// One Lookout: otlp → enrich → sink.
    Single,
    /// An ingest worker and a processing worker with NATS JetStream between them.
    Nats,
}

/// The sink's buffer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BufferKind {
    /// The default memory buffer.
    Memory,
    /// `buffer: { type: disk, max_size: <--buffer-max-size>, when_full: block }`.
    Disk,
}

impl BufferKind {
    fn name(self) -> &'static str {
        match self {
            BufferKind::Memory => "memory",
            BufferKind::Disk => "disk",
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// CPU seconds (user + system) the process has used: `/proc/<pid>/stat` fields 14 and 15,
/// in USER_HZ (100 per second on Linux whatever the kernel's tick).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

struct Lookout {
    /// The process the load goes to (the ingest worker with `--topology nats`).
    child: tokio::process::Child,
    /// The processing worker, with `--topology nats`.
    processing: Option<tokio::process::Child>,
    _nats: Option<tokio::process::Child>,
    http: String,
    grpc: String,
    _dir: tempfile::TempDir,
    _tail: Option<tail::Tail>,
}

/// Starts `lookout run` on `config` (`--threads`, pinned to `cpu` unless empty), logging
/// to `dir/NAME.log`, once `/health/ready` on `api` answers.
async fn spawn_lookout(
    args: &Args,
    bin: &PathBuf,
    cpu: &str,
    dir: &std::path::Path,
    name: &str,
    config: String,
    api: u16,
) -> anyhow::Result<tokio::process::Child> {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, config)?;
    let mut cmd = if cpu.is_empty() {
        tokio::process::Command::new(bin)
    } else {
        let mut c = tokio::process::Command::new("taskset");
        c.args(["-c", cpu]).arg(bin);
        c
    };
    cmd.args(["run", "--config"]).arg(&file).args(["--threads", &args.threads.to_string()]);
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    cmd.stdout(Stdio::null()).stderr(Stdio::from(log)).kill_on_drop(true);
    let child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
    let ready = format!("http://127.0.0.1:{api}/health/ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(child);
        }
        if Instant::now() > deadline {
            bail!("lookout ({name}) did not become ready on {ready}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `nats-server -js` on a free port with its store in `dir`, once it accepts connections.
async fn start_nats(dir: &std::path::Path) -> anyhow::Result<(tokio::process::Child, u16)> {
    let port = free_port()?;
    let child = tokio::process::Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.join("nats"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.join("nats.log"))?))
        .kill_on_drop(true)
        .spawn()
        .context("starting nats-server (Debian's package `nats-server`)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("nats-server did not listen on {port}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, port))
}

async fn start_lookout(args: &Args, bin: &PathBuf, observed: Arc<tail::Observed>) -> anyhow::Result<Lookout> {
    let (api, grpc, http) = (free_port()?, free_port()?, free_port()?);
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out.ndjson");
    let buffer = match args.buffer {
        BufferKind::Memory => String::new(),
        BufferKind::Disk => {
            format!("    buffer: {{ type: disk, max_size: {}, when_full: block }}\n", args.buffer_max_size)
        }
    };
    // The receiver binds first, so the free ports picked below cannot be its own.
    let (mut sink, tail) = match args.sink.as_str() {
        "file" => (
            format!("  archive:\n    type: file\n    inputs: [enrich]\n    path: {}\n", out.display()),
            Some(tail::Tail::start(out.clone(), observed)),
        ),
        "elasticsearch" => {
            let address = bulk::start(observed).await?;
            (
                format!(
                    "  es:\n    type: elasticsearch\n    inputs: [enrich]\n    endpoints: [http://{address}]\n    index: \"logs-{{service.name}}-%Y.%m.%d\"\n    batch: {{ max_events: 2000, timeout_ms: 200 }}\n"
                ),
                None,
            )
        }
        other => bail!("unknown --sink {other}: use file or elasticsearch"),
    };
    sink.push_str(&buffer);
    // The scale-out layout's ingest worker always answers after JetStream's ack.
    let acks = if args.acks || args.topology == Topology::Nats { "    acknowledgements: true\n" } else { "" };
    let source = match args.source {
        sources::Source::Otlp => format!(
            "  input:\n    type: otlp\n    grpc: {{ address: 127.0.0.1:{grpc} }}\n    http: {{ address: 127.0.0.1:{http} }}\n{acks}"
        ),
        other => other.config(http, dir.path()),
    };
    for d in ["ingest", "processing"] {
        std::fs::create_dir_all(dir.path().join(d))?;
    }
    let head = |api: u16, data: &str| {
        format!("api: {{ address: 127.0.0.1:{api} }}\ndata_dir: {}\n", dir.path().join(data).display())
    };
    let enrich = "transforms:\n  enrich:\n    type: enrich\n    inputs: [{input}]\n    set:\n      deployment.environment: bench\n";
    let (child, processing, nats) = match args.topology {
        Topology::Single => {
            let config = format!(
                "{}sources:\n{source}{}sinks:\n{sink}",
                head(api, "ingest"),
                enrich.replace("{input}", "input")
            );
            (spawn_lookout(args, bin, &args.cpu, dir.path(), "lookout", config, api).await?, None, None)
        }
        Topology::Nats => {
            let (nats, port) = start_nats(dir.path()).await?;
            let ingest = format!(
                "{}sources:\n{source}sinks:\n  bus:\n    type: nats\n    inputs: [input]\n    url: nats://127.0.0.1:{port}\n    stream: TELEMETRY\n    retention: workqueue\n    stream_max_bytes: 1GiB\n",
                head(api, "ingest")
            );
            let worker_api = free_port()?;
            let worker = format!(
                "{}sources:\n  bus:\n    type: nats\n    url: nats://127.0.0.1:{port}\n    stream: TELEMETRY\n    consumer: processors\n    max_in_flight: 256\n    acknowledgements: true\n{}sinks:\n{sink}",
                head(worker_api, "processing"),
                enrich.replace("{input}", "bus"),
            );
            let child = spawn_lookout(args, bin, &args.cpu, dir.path(), "ingest", ingest, api).await?;
            let processing =
                spawn_lookout(args, bin, &args.processing_cpu, dir.path(), "processing", worker, worker_api).await?;
            (child, Some(processing), Some(nats))
        }
    };
    Ok(Lookout {
        child,
        processing,
        _nats: nats,
        http: format!("127.0.0.1:{http}"),
        grpc: format!("127.0.0.1:{grpc}"),
        _dir: dir,
        _tail: tail,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run_protocol(args: &Args, bin: &PathBuf, protocol: load::Protocol) -> anyhow::Result<serde_json::Value> {
    let observed = Arc::new(tail::Observed::default());
    let mut lookout = start_lookout(args, bin, observed.clone()).await?;
    let pid = lookout.child.id().context("lookout pid")?;
    let target = match protocol {
        load::Protocol::Http => lookout.http.clone(),
        load::Protocol::Grpc => lookout.grpc.clone(),
    };
    let processing_pid = lookout.processing.as_ref().and_then(|c| c.id());
    let cpu_before = cpu_seconds(pid).unwrap_or(0.0);
    let processing_cpu_before = processing_pid.and_then(cpu_seconds).unwrap_or(0.0);
    let sent = match args.source {
        sources::Source::Otlp => load::run(protocol, &target, args).await,
        sources::Source::File => {
            sources::run(args.source, &lookout._dir.path().display().to_string(), args, &observed).await
        }
        other => sources::run(other, &lookout.http, args, &observed).await,
    };
    let report = match sent {
        Ok(r) => r,
        Err(e) => {
            let name = if args.topology == Topology::Nats { "ingest.log" } else { "lookout.log" };
            let log = std::fs::read_to_string(lookout._dir.path().join(name)).unwrap_or_default();
            bail!("{e:#} (sending to {target}); lookout log:\n{log}")
        }
    };
    // Everything accepted must reach the file: wait for the tail to catch up.
    let drain_started = Instant::now();
    let drain_deadline = drain_started + Duration::from_secs(30);
    while observed.records() < report.accepted_events && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = drain_started.elapsed();
    let peak_rss = peak_rss_bytes(pid).unwrap_or(0);
    let cpu = cpu_seconds(pid).unwrap_or(f64::NAN) - cpu_before;
    let processing = processing_pid.map(|p| {
        let cpu = cpu_seconds(p).unwrap_or(f64::NAN) - processing_cpu_before;
        (cpu, peak_rss_bytes(p).unwrap_or(0))
    });
    let _ = lookout.child.start_kill();
    let _ = lookout.child.wait().await;
    if let Some(mut p) = lookout.processing.take() {
        let _ = p.start_kill();
        let _ = p.wait().await;
    }
    let written = observed.records();
    let mut latencies = observed.probe_latencies(&report.probes_sent);
    latencies.sort();
    // Syslog and file answer nothing: their time lasts until the last line arrived.
    let elapsed = if args.source.answers() { report.elapsed } else { report.elapsed + drained };
    let secs = elapsed.as_secs_f64();
    let mut line = serde_json::json!({
        "topology": if args.topology == Topology::Nats { "nats" } else { "single" },
        "source": args.source.name(),
        "protocol": if args.source == sources::Source::Otlp { protocol.name() } else { args.source.name() },
        "sink": args.sink,
        "threads": args.threads,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "buffer": args.buffer.name(),
        "acks": args.acks || args.topology == Topology::Nats,
        "offered_rate": if args.rate == 0 { serde_json::Value::from("max") } else { args.rate.into() },
        "seconds": (secs * 100.0).round() / 100.0,
        "events": report.accepted_events,
        "events_per_sec": (report.accepted_events as f64 / secs).round(),
        // Throughput per CPU second of lookout: what the load of other processes on the
        // machine does not change, unlike events_per_sec.
        "cpu_seconds": (cpu * 100.0).round() / 100.0,
        "events_per_cpu_sec": (report.accepted_events as f64 / cpu).round(),
        "mib_per_sec": ((report.bytes as f64 / secs / 1048576.0) * 10.0).round() / 10.0,
        "latency_p50_ms": (percentile(&latencies, 0.5) * 100.0).round() / 100.0,
        "latency_p99_ms": (percentile(&latencies, 0.99) * 100.0).round() / 100.0,
        "probes": latencies.len(),
        "refused_requests": report.refused,
        "peak_rss_mib": ((peak_rss as f64 / 1048576.0) * 10.0).round() / 10.0,
        "lost": report.accepted_events.saturating_sub(written),
    });
    // With --topology nats the fields above without a prefix are the ingest worker's.
    if let Some((cpu, rss)) = processing {
        // What the processing worker delivered over the load and its drain: its rate when
        // it is slower than the ingest worker (the stream holds the difference meanwhile).
        line["drain_seconds"] = ((drained.as_secs_f64() * 100.0).round() / 100.0).into();
        line["processing_events_per_sec"] =
            (written.min(report.accepted_events) as f64 / (secs + drained.as_secs_f64())).round().into();
        line["processing_cpu_seconds"] = ((cpu * 100.0).round() / 100.0).into();
        line["processing_events_per_cpu_sec"] = (report.accepted_events as f64 / cpu).round().into();
        line["processing_peak_rss_mib"] = ((rss as f64 / 1048576.0 * 10.0).round() / 10.0).into();
    }
    Ok(line)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = match &args.lookout {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("lookout"),
    };
    if !bin.exists() {
        bail!("{} not found: build it with `cargo build --release -p lookout` or pass --lookout", bin.display());
    }
    // Sources other than OTLP have one protocol each.
    let protocols =
        if args.source == sources::Source::Otlp { args.protocols.clone() } else { vec![load::Protocol::Http] };
    for protocol in protocols {
        let line = run_protocol(&args, &bin, protocol).await?;
        println!("{line}");
    }
    Ok(())
}
