//! TLS listeners over real sockets, with certificates made here by rcgen.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use lookout_component::Shutdown;
use lookout_config::{ClientAuthType, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

use super::super::{ListenerLimits, ListenerStats, serve};
use super::*;

/// A CA that issues server and client certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), der: cert.der().clone(), issuer: Issuer::new(params, key) }
    }

    /// A certificate for `localhost` / 127.0.0.1 named `cn`.
    fn leaf(&self, cn: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

fn write_leaf(dir: &Path, leaf: &Leaf) {
    // Written aside and renamed in, the way certificate managers rotate files.
    for (name, text) in [("server.crt", &leaf.cert), ("server.key", &leaf.key)] {
        std::fs::write(dir.join(format!("{name}.tmp")), text).unwrap();
        std::fs::rename(dir.join(format!("{name}.tmp")), dir.join(name)).unwrap();
    }
}

/// Settings over `dir`'s `server.crt` / `server.key`, given relative to `dir`.
fn settings(dir: &Path) -> TlsConfig {
    let c = TlsConfig::new("server.crt", "server.key");
    c.set_base_dir(dir);
    c
}

fn limits() -> ListenerLimits {
    ListenerLimits { header_read_timeout: Duration::from_millis(500), ..ListenerLimits::default() }
}

struct Server {
    addr: SocketAddr,
    stats: Arc<ListenerStats>,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(tls: Tls) -> Server {
        Server::start_with(tls, limits()).await
    }

    async fn start_with(tls: Tls, limits: ListenerLimits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let stats = Arc::new(ListenerStats::default());
        let shutdown = Shutdown::new();
        let task = tokio::spawn({
            let (stats, shutdown) = (stats.clone(), shutdown.clone());
            async move { serve(listener, router, limits, stats, Some(tls), shutdown).await.unwrap() }
        });
        Server { addr, stats, shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task).await.unwrap().unwrap();
    }
}

fn client_config(ca: &Ca, client: Option<&Leaf>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap();
    let builder = builder.with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(leaf.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

async fn connect(addr: SocketAddr, config: rustls::ClientConfig) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

/// One keep-alive HTTP/1.1 GET on `stream`; the response's body. Err if the server
/// closed the connection instead of answering (TLS 1.3 reports a refused client
/// certificate only when the client next reads).
async fn request(stream: &mut TlsStream<TcpStream>) -> std::io::Result<String> {
    stream.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n").await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n")
            && head.starts_with("HTTP/1.1 200")
            && body.len() >= 2
        {
            return Ok(body.to_string());
        }
    }
}

/// The common name the server presented, from its certificate's DER (rcgen writes it
/// as a UTF8String, so the text is right there).
fn presented_cn(stream: &TlsStream<TcpStream>, candidates: &[&str]) -> String {
    let der = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let found: Vec<&str> =
        candidates.iter().copied().filter(|c| der.windows(c.len()).any(|w| w == c.as_bytes())).collect();
    assert_eq!(found.len(), 1, "exactly one of {candidates:?} in the certificate");
    found[0].to_string()
}

#[tokio::test]
async fn serves_https_and_negotiates_h2_or_http1_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test ca");
    write_leaf(dir.path(), &ca.leaf("server one"));
    let server = Server::start(Tls::new(settings(dir.path())).unwrap()).await;

    let mut s = connect(server.addr, client_config(&ca, None, &[b"http/1.1"])).await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(request(&mut s).await.unwrap(), "ok");
    let h2 = connect(server.addr, client_config(&ca, None, &[b"h2", b"http/1.1"])).await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(server.stats.tls_handshake_failures.load(Ordering::Relaxed), 0);
    server.stop().await;
}

#[tokio::test]
async fn plain_text_and_silent_clients_are_closed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test ca");
    write_leaf(dir.path(), &ca.leaf("server"));
    let server = Server::start(Tls::new(settings(dir.path())).unwrap()).await;

    // Plain HTTP to a TLS port: no HTTP answer, the connection is closed.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), plain.read_to_end(&mut out)).await.expect("closed");
    assert!(!String::from_utf8_lossy(&out).contains("HTTP/1.1"), "{out:?}");

    // A client that never starts the handshake is closed after the header read timeout.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(2), silent.read(&mut [0u8; 16])).await.expect("closed");
    assert_eq!(n.unwrap_or(0), 0);
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert_eq!(server.stats.tls_handshake_failures.load(Ordering::Relaxed), 2);
    server.stop().await;
}

#[tokio::test]
async fn mtls_takes_clients_of_the_configured_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients, strangers) = (Ca::new("server ca"), Ca::new("client ca"), Ca::new("unknown ca"));
    write_leaf(dir.path(), &ca.leaf("server"));
    std::fs::write(dir.path().join("clients.crt"), &clients.pem).unwrap();
    let mut config = settings(dir.path());
    config.client_ca_file = Some("clients.crt".into());
    let server = Server::start(Tls::new(config).unwrap()).await;

    let known = clients.leaf("known client");
    let mut ok = connect(server.addr, client_config(&ca, Some(&known), &[])).await.unwrap();
    assert_eq!(request(&mut ok).await.unwrap(), "ok");

    for client in [None, Some(strangers.leaf("stranger"))] {
        let refused = match connect(server.addr, client_config(&ca, client.as_ref(), &[])).await {
            Err(_) => true,
            Ok(mut s) => request(&mut s).await.is_err(),
        };
        assert!(refused, "client cert {:?} refused", client.map(|c| c.cert));
    }
    assert_eq!(server.stats.tls_handshake_failures.load(Ordering::Relaxed), 2);
    server.stop().await;
}

#[tokio::test]
async fn optional_and_unverified_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients, strangers) = (Ca::new("server ca"), Ca::new("client ca"), Ca::new("unknown ca"));
    write_leaf(dir.path(), &ca.leaf("server"));
    std::fs::write(dir.path().join("clients.crt"), &clients.pem).unwrap();
    let works = |addr, client: Option<&Leaf>| {
        let config = client_config(&ca, client, &[]);
        async move {
            match connect(addr, config).await {
                Err(_) => false,
                Ok(mut s) => request(&mut s).await.is_ok(),
            }
        }
    };
    let (known, stranger) = (clients.leaf("known"), strangers.leaf("stranger"));

    // VerifyClientCertIfGiven: none is fine, a known one is fine, a stranger's is not.
    let mut config = settings(dir.path());
    config.client_ca_file = Some("clients.crt".into());
    config.client_auth_type = Some(ClientAuthType::VerifyClientCertIfGiven);
    let server = Server::start(Tls::new(config).unwrap()).await;
    assert!(works(server.addr, None).await);
    assert!(works(server.addr, Some(&known)).await);
    assert!(!works(server.addr, Some(&stranger)).await);
    server.stop().await;

    // RequireAnyClientCert: any certificate, none is refused.
    let mut config = settings(dir.path());
    config.client_auth_type = Some(ClientAuthType::RequireAnyClientCert);
    let server = Server::start(Tls::new(config).unwrap()).await;
    assert!(works(server.addr, Some(&stranger)).await);
    assert!(!works(server.addr, None).await);
    server.stop().await;
}

#[tokio::test]
async fn rotated_files_serve_new_connections_and_open_ones_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test ca");
    write_leaf(dir.path(), &ca.leaf("first cert"));
    let tls = Tls::new(settings(dir.path())).unwrap();
    // hyper closes a keep-alive HTTP/1.1 connection that waits longer than the header
    // read timeout for its next request: long enough here to span the rotation.
    let limits = ListenerLimits { header_read_timeout: Duration::from_secs(10), ..ListenerLimits::default() };
    let server = Server::start_with(tls.clone(), limits).await;
    let names = ["first cert", "second cert"];

    let mut open = connect(server.addr, client_config(&ca, None, &[])).await.unwrap();
    assert_eq!(request(&mut open).await.unwrap(), "ok");
    assert_eq!(presented_cn(&open, &names), "first cert");

    // The watcher may start a moment after the listener: give it that moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    write_leaf(dir.path(), &ca.leaf("second cert"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = connect(server.addr, client_config(&ca, None, &[])).await.unwrap();
        if presented_cn(&fresh, &names) == "second cert" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tls.reloads(), 1);
    // The connection opened before the rotation still answers, on its old session.
    assert_eq!(request(&mut open).await.unwrap(), "ok");
    assert_eq!(presented_cn(&open, &names), "first cert");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_reload_keeps_the_last_good_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, other) = (Ca::new("test ca"), Ca::new("other ca"));
    write_leaf(dir.path(), &ca.leaf("good"));
    let tls = Tls::new(settings(dir.path())).unwrap();
    let before = tls.server_config();

    assert!(!tls.reload().unwrap(), "unchanged files are no reload");
    // A key that belongs to another certificate (a rotation half done).
    std::fs::write(dir.path().join("server.key"), other.leaf("x").key).unwrap();
    let e = tls.reload().unwrap_err();
    assert!(matches!(e, TlsError::KeyPair { .. }), "{e}");
    std::fs::write(dir.path().join("server.crt"), "not pem").unwrap();
    assert!(tls.reload().is_err());
    assert!(Arc::ptr_eq(&before, &tls.server_config()));
    assert_eq!((tls.reloads(), tls.reload_failures()), (0, 2));

    let server = Server::start(tls.clone()).await;
    let mut s = connect(server.addr, client_config(&ca, None, &[])).await.unwrap();
    assert_eq!(request(&mut s).await.unwrap(), "ok");
    server.stop().await;
}

#[tokio::test]
async fn sighup_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test ca");
    write_leaf(dir.path(), &ca.leaf("first"));
    let config = settings(dir.path());
    let tls = Tls::new(config).unwrap();
    // Only the signal can reload here: the files change before the watch starts.
    write_leaf(dir.path(), &ca.leaf("second"));
    let shutdown = Shutdown::new();
    let watch = tls.watch(shutdown.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The standard library cannot send a signal; the `kill` command can.
    let status = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while tls.reloads() == 0 {
        assert!(std::time::Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    watch.await.unwrap();
}

#[test]
fn bad_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, other) = (Ca::new("test ca"), Ca::new("other"));
    let message = |config: &TlsConfig| Tls::check(config).unwrap_err().to_string();

    let missing = settings(dir.path());
    let m = message(&missing);
    assert!(
        m.contains("cannot read cert_file") && m.contains(&dir.path().join("server.crt").display().to_string()),
        "{m}"
    );

    std::fs::write(dir.path().join("server.crt"), "hello").unwrap();
    std::fs::write(dir.path().join("server.key"), ca.leaf("x").key).unwrap();
    let m = message(&settings(dir.path()));
    assert!(m.contains("cert_file") && m.contains("holds no PEM certificate"), "{m}");

    let leaf = ca.leaf("server");
    std::fs::write(dir.path().join("server.crt"), &leaf.cert).unwrap();
    std::fs::write(dir.path().join("server.key"), &leaf.cert).unwrap();
    let m = message(&settings(dir.path()));
    assert!(m.contains("key_file") && m.contains("server.key") && m.contains("no PEM private key"), "{m}");

    std::fs::write(dir.path().join("server.key"), other.leaf("y").key).unwrap();
    let m = message(&settings(dir.path()));
    assert!(m.contains("server.crt") && m.contains("server.key"), "{m}");

    write_leaf(dir.path(), &leaf);
    let mut with_ca = settings(dir.path());
    with_ca.client_ca_file = Some("missing-ca.crt".into());
    let m = message(&with_ca);
    assert!(m.contains("client_ca_file") && m.contains("missing-ca.crt"), "{m}");
    Tls::check(&settings(dir.path())).unwrap();
}

#[tokio::test]
async fn the_api_serves_over_tls() {
    use lookout_component::{Health, Telemetry};
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test ca");
    write_leaf(dir.path(), &ca.leaf("api"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let state = crate::ApiState::new(Telemetry::new(), Health::default(), "1.2.3");
    let tls = Tls::new(settings(dir.path())).unwrap();
    let task = tokio::spawn(crate::serve_with(listener, state, Router::new(), Some(tls), shutdown.clone()));

    let mut s = connect(addr, client_config(&ca, None, &[])).await.unwrap();
    s.write_all(b"GET /health/live HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
    // Plain HTTP gets no answer.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), plain.read_to_end(&mut out)).await.expect("closed");
    assert!(!String::from_utf8_lossy(&out).contains("200"));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap().unwrap();
}
