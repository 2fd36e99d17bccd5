//! The timed steps every probe shares: resolve a name, connect over TCP, and shake
//! hands over TLS; and the `tcp` probe, which is exactly those steps.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::outcome::Measure;
use crate::tls::{TlsSettings, cert_expiry, server_name};

/// A connection, over TLS or not.
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Resolves `host` (timed as the `resolve` phase): the first address.
pub(crate) async fn resolve(host: &str, port: u16, m: &mut Measure) -> Result<SocketAddr, String> {
    let started = Instant::now();
    let found = tokio::net::lookup_host((host, port)).await;
    m.phases.resolve += started.elapsed();
    found.map_err(|e| format!("cannot resolve `{host}`: {e}"))?.next().ok_or_else(|| format!("`{host}` has no address"))
}

/// Resolves and connects (the `resolve` and `connect` phases), then shakes hands over
/// TLS with `tls` (the `tls` phase; the certificates' expiry goes into `m`).
pub(crate) async fn connect(
    host: &str,
    port: u16,
    tls: Option<(&TlsSettings, &Arc<ClientConfig>)>,
    m: &mut Measure,
) -> Result<Stream, String> {
    let address = resolve(host, port, m).await?;
    let started = Instant::now();
    let tcp = TcpStream::connect(address).await;
    m.phases.connect += started.elapsed();
    let tcp = tcp.map_err(|e| format!("cannot connect to {address}: {e}"))?;
    m.ip_protocol = Some(if address.is_ipv4() { 4 } else { 6 });
    let _ = tcp.set_nodelay(true);
    let Some((settings, config)) = tls else { return Ok(Stream::Plain(tcp)) };
    let name = server_name(settings, host)?;
    let started = Instant::now();
    let handshake = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp);
    let result = handshake.await;
    m.phases.tls += started.elapsed();
    match result {
        Ok(stream) => {
            let session = stream.get_ref().1;
            if let Some(certs) = session.peer_certificates() {
                m.tls = cert_expiry(certs);
            }
            m.tls_version = session.protocol_version().map(tls_version_name);
            Ok(Stream::Tls(Box::new(stream)))
        }
        Err(e) => Err(format!("TLS handshake with {address} failed: {}", tls_error(&e))),
    }
}

/// blackbox_exporter's names for TLS versions.
fn tls_version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2",
        _ => "unknown",
    }
}

/// The rustls error inside an I/O error, when there is one (it says why a certificate
/// was refused).
fn tls_error(e: &io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

/// The `tcp` probe: connected (and, with `tls:`, handshake done) = success.
pub(crate) async fn probe_tcp(probe: &crate::Probe, m: &mut Measure) -> Result<(), String> {
    let (host, port) = crate::config::split_host_port(&probe.target).ok_or("address is not host:port")?;
    let tls = probe.tls.as_ref().map(|t| (t, &t.plain));
    let stream = connect(host, port, tls, m).await?;
    drop(stream);
    Ok(())
}

// === impl Stream ===

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
