//! One way to serve HTTP (and gRPC, which is HTTP/2) with the limits every listener
//! needs: a header read timeout, an idle timeout, a cap on connections and on requests
//! in flight, and a shutdown that stops accepting at once, closes idle and half-open
//! connections, and gives requests in flight a bounded time to finish.
//!
//! `axum::serve` has none of these knobs, so connections are served by hyper-util's
//! HTTP/1 + HTTP/2 builder directly. Over the connection cap a new connection is closed
//! at once (counted), rather than left in the kernel's backlog where it would take a
//! file descriptor the health endpoint needs; over the request cap the request gets
//! 503, which HTTP and gRPC clients (503 → UNAVAILABLE) retry.
//!
//! With a [`Tls`], every connection is a TLS one ([`tls`] builds and reloads the
//! rustls config): the handshake runs in the connection's own task, bounded by the
//! header read timeout, and a connection that fails it is closed and counted.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use lookout_component::Shutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

pub mod tls;

pub use tls::{Tls, TlsError};

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// A connection that has not sent a whole request header within this is closed
    /// (and one that sends nothing at all, after the same time).
    pub header_read_timeout: Duration,
    /// A connection with no bytes either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Requests handled at once; more get 503.
    pub max_requests_in_flight: usize,
    /// After shutdown, how long requests in flight may take before their connections
    /// are dropped.
    pub drain_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 1024,
            max_requests_in_flight: 512,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Counters of one listener.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections closed on accept because the cap was reached.
    pub refused_connections: AtomicU64,
    /// Connections closed for being idle or too slow to send a header.
    pub timed_out_connections: AtomicU64,
    /// Requests answered 503 because the request cap was reached.
    pub shed_requests: AtomicU64,
    /// TLS connections closed because the handshake failed or took longer than the
    /// header read timeout (plain-text clients, untrusted client certificates, ...).
    pub tls_handshake_failures: AtomicU64,
    /// Connections accepted (within the cap).
    pub accepted_connections: AtomicU64,
    /// Connections open now.
    pub open_connections: AtomicU64,
}

/// A listener serving now, as `/metrics` reports it.
pub(crate) struct Serving {
    /// The bound address (the `address` label).
    pub(crate) address: String,
    pub(crate) stats: Arc<ListenerStats>,
    pub(crate) tls: Option<Tls>,
}

/// Every listener of the process serving now: whoever serves, `/metrics` shows it.
static SERVING: std::sync::Mutex<Vec<Serving>> = std::sync::Mutex::new(Vec::new());

/// Calls `f` with every listener serving now.
pub(crate) fn with_serving<R>(f: impl FnOnce(&[Serving]) -> R) -> R {
    f(&SERVING.lock().expect("listeners lock"))
}

/// Keeps a listener in [`SERVING`] while it serves.
struct ServingGuard(Arc<ListenerStats>);

impl ServingGuard {
    fn new(listener: &TcpListener, stats: &Arc<ListenerStats>, tls: Option<&Tls>) -> ServingGuard {
        let address = listener.local_addr().map_or_else(|_| "unknown".to_string(), |a| a.to_string());
        SERVING.lock().expect("listeners lock").push(Serving { address, stats: stats.clone(), tls: tls.cloned() });
        ServingGuard(stats.clone())
    }
}

impl Drop for ServingGuard {
    fn drop(&mut self) {
        SERVING.lock().expect("listeners lock").retain(|s| !Arc::ptr_eq(&s.stats, &self.0));
    }
}

/// Serves `router` on `listener` with `limits` until `shutdown` fires; then stops
/// accepting, closes idle connections at once and returns once every connection is
/// gone or `drain_timeout` has passed. With `tls`, connections are TLS (HTTP/2 and
/// HTTP/1.1 by ALPN) and the certificates reload on change and on SIGHUP meanwhile.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    stats: Arc<ListenerStats>,
    tls: Option<Tls>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let router = limit_requests(router, limits.max_requests_in_flight, stats.clone());
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(None);
    let builder = Arc::new(builder);
    let reloads = tls.as_ref().map(|t| t.watch(shutdown.clone()));
    let _serving = ServingGuard::new(&listener, &stats, tls.as_ref());
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait for some to come back
                // rather than spin.
                warn!(error = %e, "Cannot accept a connection.");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            stats.refused_connections.fetch_add(1, Ordering::Relaxed);
            debug!(%peer, "Connection cap reached; closing a new connection.");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        stats.accepted_connections.fetch_add(1, Ordering::Relaxed);
        stats.open_connections.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        let stream = Watched { inner: stream, activity: activity.clone() };
        let conn = Connection {
            builder: builder.clone(),
            service: TowerToHyperService::new(WithPeer { inner: router.clone(), peer }),
            limits,
            stats: stats.clone(),
            shutdown: shutdown.clone(),
            activity,
            peer,
        };
        // Read per connection: a reload changes new handshakes only.
        let acceptor = tls.as_ref().map(|t| tokio_rustls::TlsAcceptor::from(t.server_config()));
        let conn_stats = stats.clone();
        tasks.spawn(async move {
            match acceptor {
                None => conn.serve(stream).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        h = tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)) => h,
                        _ = conn.shutdown.cancelled() => return,
                    };
                    match handshake {
                        Ok(Ok(stream)) => conn.serve(stream).await,
                        Ok(Err(e)) => {
                            conn.stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                            debug!(%peer, error = %e, "TLS handshake failed; closing the connection.");
                        }
                        Err(_) => {
                            conn.stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                            debug!(%peer, "TLS handshake timed out; closing the connection.");
                        }
                    }
                }
            }
            conn_stats.open_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    // Connections drain (each bounded by drain_timeout).
    while tasks.join_next().await.is_some() {}
    if let Some(r) = reloads {
        r.abort();
    }
    Ok(())
}

/// One accepted connection and what serving it needs.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: TowerToHyperService<WithPeer>,
    limits: ListenerLimits,
    stats: Arc<ListenerStats>,
    shutdown: Shutdown,
    activity: Arc<Activity>,
    peer: std::net::SocketAddr,
}

impl Connection {
    /// Serves HTTP on `io` (plain or TLS) until the peer leaves, it idles out, or
    /// shutdown's drain time is up.
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { builder, service, limits, stats, shutdown, activity, peer } = self;
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut draining_since: Option<Instant> = None;
        let mut check = tokio::time::interval(Duration::from_millis(250).min(limits.header_read_timeout));
        loop {
            tokio::select! {
                _ = conn.as_mut() => break,
                _ = shutdown.cancelled(), if draining_since.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    draining_since = Some(Instant::now());
                }
                _ = check.tick() => {
                    if let Some(since) = draining_since {
                        if since.elapsed() >= limits.drain_timeout {
                            break;
                        }
                        continue;
                    }
                    let (idle, silent) = activity.idle();
                    let too_slow = silent && idle >= limits.header_read_timeout;
                    if too_slow || idle >= limits.idle_timeout {
                        stats.timed_out_connections.fetch_add(1, Ordering::Relaxed);
                        debug!(%peer, idle_secs = idle.as_secs(), "Closing an idle connection.");
                        if too_slow {
                            break;
                        }
                        conn.as_mut().graceful_shutdown();
                        draining_since = Some(Instant::now());
                    }
                }
            }
        }
    }
}

/// The router with the peer's address in every request's extensions, as axum's
/// `ConnectInfo` (what handlers and the audit trail read).
#[derive(Clone)]
struct WithPeer {
    inner: Router,
    peer: std::net::SocketAddr,
}

impl<B> tower::Service<axum::http::Request<B>> for WithPeer
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <Router as tower::Service<axum::http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<axum::http::Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        self.inner.call(req)
    }
}

/// Sheds requests beyond `max` in flight with 503.
fn limit_requests(router: Router, max: usize, stats: Arc<ListenerStats>) -> Router {
    let in_flight = Arc::new(Semaphore::new(max.max(1)));
    router.layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
        let (in_flight, stats) = (in_flight.clone(), stats.clone());
        async move {
            match in_flight.try_acquire_owned() {
                Ok(_permit) => next.run(req).await,
                Err(_) => {
                    stats.shed_requests.fetch_add(1, Ordering::Relaxed);
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "too many requests in flight\n")
                        .into_response()
                }
            }
        }
    }))
}

/// When a connection last moved bytes, and whether it ever sent any.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    read_any: std::sync::atomic::AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity { start: Instant::now(), last_ms: AtomicU64::new(0), read_any: false.into() }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the last byte, and whether the peer never sent one.
    fn idle(&self) -> (Duration, bool) {
        let now = self.start.elapsed().as_millis() as u64;
        let idle = Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)));
        (idle, !self.read_any.load(Ordering::Relaxed))
    }
}

/// A stream that records its activity.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
            self.activity.read_any.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
