//! The TCP (optionally TLS) and UDP listeners: frames → records → one batch per read.

use std::sync::Arc;
use std::time::Duration;

use lookout_component::Shutdown;
use lookout_event::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_event::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_event::otlp::resource::v1::Resource;
use lookout_server::listener::Tls;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::framing::{Frame, Framer};
use super::parse::parse;
use crate::otlp::{Ingest, Rejection};

/// A bound socket.
pub enum Socket {
    /// `mode: tcp`.
    Tcp(TcpListener),
    /// `mode: udp`.
    Udp(UdpSocket),
}

/// Per-listener limits from the config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_line_length: usize,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Datagrams already queued are taken into one batch, up to this many.
const UDP_BATCH: usize = 1000;
/// Room made in a connection's buffer before each read.
const READ_CHUNK: usize = 64 * 1024;

/// Serves until `shutdown`.
pub async fn serve(
    socket: Socket,
    ingest: Ingest,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    match socket {
        Socket::Udp(s) => serve_udp(s, ingest, limits, shutdown).await,
        Socket::Tcp(l) => serve_tcp(l, ingest, limits, tls, shutdown).await,
    }
}

async fn serve_tcp(
    listener: TcpListener,
    ingest: Ingest,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let _reloads = tls.as_ref().map(|t| t.watch(shutdown.clone()));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    warn!(error = %e, "syslog accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(%peer, "syslog connection cap reached; closing the new connection");
            continue;
        };
        let (ingest, shutdown, tls) = (ingest.clone(), shutdown.clone(), tls.clone());
        tasks.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, &ingest, limits, &shutdown).await,
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, &ingest, limits, &shutdown).await,
                        Ok(Err(e)) => debug!(%peer, error = %e, "syslog TLS handshake failed"),
                        Err(_) => debug!(%peer, "syslog TLS handshake timed out"),
                    }
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    // Connections see the shutdown too: they hand on what they hold and end.
    let _ = tokio::time::timeout(Duration::from_secs(5), async { while tasks.join_next().await.is_some() {} }).await;
    Ok(())
}

/// Reads one connection until it ends, goes idle or Lookout stops; bad input never closes it.
async fn connection<S: AsyncRead + Unpin>(mut stream: S, ingest: &Ingest, limits: Limits, shutdown: &Shutdown) {
    let mut framer = Framer::new(limits.max_line_length);
    loop {
        framer.buffer().reserve(READ_CHUNK);
        let read = tokio::select! {
            _ = shutdown.cancelled() => None,
            r = tokio::time::timeout(limits.idle_timeout, stream.read_buf(framer.buffer())) => match r {
                Ok(Ok(n)) if n > 0 => Some(n),
                _ => None,
            },
        };
        let now = now_nanos();
        let mut records = Vec::new();
        while let Some(frame) = framer.next_frame() {
            records.push(record(frame, limits.max_line_length, now));
        }
        if read.is_none() {
            records.extend(framer.finish().map(|f| record(f, limits.max_line_length, now)));
        }
        deliver(ingest, records, read.unwrap_or(0), shutdown).await;
        if read.is_none() {
            return;
        }
    }
}

async fn serve_udp(socket: UdpSocket, ingest: Ingest, limits: Limits, shutdown: Shutdown) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, _)) => n,
                Err(e) => {
                    debug!(error = %e, "syslog UDP receive failed");
                    continue;
                }
            },
        };
        let now = now_nanos();
        let mut records = vec![datagram(&buf[..n], limits.max_line_length, now)];
        let mut bytes = n;
        while records.len() < UDP_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, _)) => {
                    records.push(datagram(&buf[..n], limits.max_line_length, now));
                    bytes += n;
                }
                Err(_) => break,
            }
        }
        deliver(&ingest, records, bytes, &shutdown).await;
    }
}

/// One datagram is one message (RFC 5426).
fn datagram(data: &[u8], max: usize, now: u64) -> LogRecord {
    if data.len() > max {
        record(Frame::Truncated(bytes::Bytes::copy_from_slice(&data[..max])), max, now)
    } else {
        parse(data, now)
    }
}

fn record(frame: Frame, max: usize, now: u64) -> LogRecord {
    match frame {
        Frame::Message(m) => parse(&m, now),
        Frame::Truncated(m) => {
            let mut r = parse(&m, now);
            if !r.attributes.iter().any(|a| a.key == "syslog.error") {
                let why = format!("message longer than max_line_length ({max} bytes): cut");
                r.attributes.push(KeyValue {
                    key: "syslog.error".into(),
                    value: Some(AnyValue { value: Some(any_value::Value::StringValue(why)) }),
                    ..Default::default()
                });
            }
            r
        }
    }
}

/// Hands `records` on; while the pipeline is full (or the process over its memory
/// limit) the caller waits here, which stops its reads: TCP senders feel the
/// back-pressure instead of losing records. Only shutting down lets go of them.
async fn deliver(ingest: &Ingest, records: Vec<LogRecord>, bytes: usize, shutdown: &Shutdown) {
    if records.is_empty() {
        return;
    }
    // Checked before the records are handed over: a refusal here keeps them.
    while ingest.check_memory().is_err() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let n = records.len();
    let scope = InstrumentationScope { name: "lookout.syslog".into(), ..Default::default() };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource::default()),
            scope_logs: vec![ScopeLogs { scope: Some(scope), log_records: records, ..Default::default() }],
            ..Default::default()
        }],
    };
    // The ingest path waits for room without a timeout (see `mod.rs`), so the only
    // refusal left is the pipeline closing.
    let accept = ingest.accept(request, bytes);
    tokio::pin!(accept);
    let result = tokio::select! {
        biased;
        r = &mut accept => r.map(|_| ()),
        // Stopping: a last second for room, then the records are let go.
        _ = shutdown.cancelled() => tokio::time::timeout(Duration::from_secs(1), &mut accept)
            .await
            .unwrap_or(Err(Rejection::ShuttingDown))
            .map(|_| ()),
    };
    if let Err(e) = result {
        warn!(records = n, reason = %e.message(), "syslog records not taken");
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_buffer::{WhenFull, memory};
    use lookout_component::{ComponentMetrics, Fanout};
    use tokio::io::AsyncWriteExt;

    /// A pipeline full for longer than any timeout: the connection's reads wait, and
    /// every line arrives once there is room (none lost, none doubled).
    #[tokio::test]
    async fn a_full_pipeline_holds_the_reads_and_loses_nothing() {
        let (tx, mut rx) = memory(10, WhenFull::Block);
        let ingest = Ingest::new(Fanout::new(vec![tx]), ComponentMetrics::detached(), usize::MAX, Duration::MAX, 1);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let limits = Limits { max_line_length: 1024, idle_timeout: Duration::from_secs(30), max_connections: 4 };
        tokio::spawn(serve(Socket::Tcp(listener), ingest, limits, None, shutdown.clone()));
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        for i in 0..200 {
            stream.write_all(format!("<13>1 - host app - - - line {i}\n").as_bytes()).await.unwrap();
            if i % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Nothing is taken for a while: longer than the old one-second give-up.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut lines = Vec::new();
        while lines.len() < 200 {
            let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("more lines").unwrap();
            batch.for_each(|r| match r.body().and_then(|b| b.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => lines.push(s.clone()),
                other => panic!("a line's body: {other:?}"),
            });
        }
        let expected: Vec<String> = (0..200).map(|i| format!("line {i}")).collect();
        assert_eq!(lines, expected);
        shutdown.cancel();
    }
}
