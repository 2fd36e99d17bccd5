//! TLS for a listener: a rustls [`ServerConfig`] built from a [`TlsConfig`], swapped for
//! a fresh one when the certificate files change on disk or the process gets SIGHUP.
//!
//! [`Tls`] holds the current config; the listener reads it once per accepted connection,
//! so a reload changes what new handshakes see and never touches open connections. A
//! reload that fails (a half-written file, a key that does not match the certificate
//! yet) is logged and counted and the last good config stays in use.
//!
//! The files' directories are watched rather than the files, because certificates are
//! usually rotated by replacing files (rename, or Kubernetes' `..data` symlink swap),
//! which a watch on the old file would not see. Events are debounced and a reload whose
//! files read back byte-for-byte the same is a no-op, so unrelated files in the same
//! directory cost a few small reads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lookout_component::Shutdown;
use lookout_config::{ClientAuthType, TlsConfig, TlsConfigError, TlsVersion};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use tracing::{error, info, warn};

/// How long file events are collected before one reload: rotations write several files.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Why TLS settings cannot be served. Every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The settings contradict each other.
    #[error(transparent)]
    Config(#[from] TlsConfigError),
    /// A file cannot be read.
    #[error("tls: cannot read {what} {}: {source}", path.display())]
    Read {
        /// `cert_file`, `key_file` or `client_ca_file`.
        what: &'static str,
        /// The path as opened.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("tls: {what} {}: {message}", path.display())]
    Pem {
        /// `cert_file`, `key_file` or `client_ca_file`.
        what: &'static str,
        /// The path as opened.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The certificate and key do not make a usable pair (e.g. the key is another one's).
    #[error("tls: cert_file {} with key_file {}: {source}", cert.display(), key.display())]
    KeyPair {
        /// `cert_file`.
        cert: PathBuf,
        /// `key_file`.
        key: PathBuf,
        /// rustls' verdict.
        source: rustls::Error,
    },
    /// The client CAs cannot verify anything.
    #[error("tls: client_ca_file {}: {message}", path.display())]
    ClientCa {
        /// `client_ca_file`.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the protocol settings.
    #[error("tls: {0}")]
    Rustls(rustls::Error),
}

/// A listener's TLS: the current rustls config and how it got there. Cheap to clone
/// (clones share the config and its reloads).
#[derive(Clone)]
pub struct Tls(Arc<Inner>);

struct Inner {
    config: TlsConfig,
    current: RwLock<Loaded>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

/// A config and the file contents it was built from.
struct Loaded {
    server: Arc<ServerConfig>,
    files: Files,
}

/// The raw bytes of the files, to tell a real change from a touched directory.
#[derive(PartialEq, Eq)]
struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert_file", &self.0.config.cert_path()).finish_non_exhaustive()
    }
}

impl Tls {
    /// Validates `config`, reads its files and builds the first rustls config; any
    /// problem is an error naming the file, so a bad certificate stops the start.
    pub fn new(config: TlsConfig) -> Result<Tls, TlsError> {
        config.validate()?;
        let files = read_files(&config)?;
        let server = Arc::new(build(&config, &files)?);
        Ok(Tls(Arc::new(Inner {
            config,
            current: RwLock::new(Loaded { server, files }),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        })))
    }

    /// Checks that `config` can be served (what `lookout check` reports), without
    /// keeping anything.
    pub fn check(config: &TlsConfig) -> Result<(), TlsError> {
        config.validate()?;
        build(config, &read_files(config)?).map(drop)
    }

    /// The settings this was built from.
    pub fn config(&self) -> &TlsConfig {
        &self.0.config
    }

    /// The config new handshakes use.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.0.current.read().unwrap_or_else(|e| e.into_inner()).server.clone()
    }

    /// Re-reads the files: `Ok(true)` when they changed and the new config is in use,
    /// `Ok(false)` when they are unchanged; on error the current config stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let result = self.try_reload();
        match &result {
            Ok(true) => {
                self.0.reloads.fetch_add(1, Ordering::Relaxed);
                info!(cert_file = %self.0.config.cert_path().display(), "TLS certificate reloaded.");
            }
            Ok(false) => {}
            Err(e) => {
                self.0.reload_failures.fetch_add(1, Ordering::Relaxed);
                error!(error = %e, "TLS certificate reload failed; keeping the certificate in use.");
            }
        }
        result
    }

    fn try_reload(&self) -> Result<bool, TlsError> {
        let files = read_files(&self.0.config)?;
        if self.0.current.read().unwrap_or_else(|e| e.into_inner()).files == files {
            return Ok(false);
        }
        let server = Arc::new(build(&self.0.config, &files)?);
        *self.0.current.write().unwrap_or_else(|e| e.into_inner()) = Loaded { server, files };
        Ok(true)
    }

    /// Reloads that changed the config.
    pub fn reloads(&self) -> u64 {
        self.0.reloads.load(Ordering::Relaxed)
    }

    /// Reloads that failed (the previous config stayed).
    pub fn reload_failures(&self) -> u64 {
        self.0.reload_failures.load(Ordering::Relaxed)
    }

    /// Reloads on file changes and on SIGHUP until `shutdown` fires. The listener
    /// starts this itself; call it only for a config served some other way.
    pub fn watch(&self, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let watcher = watch_dirs(&self.0.config, tx);
        // Registered before returning, so a SIGHUP sent once this returns is seen.
        let mut hup = hangup();
        tokio::spawn(async move {
            // Kept alive for as long as the task: dropping it stops the events.
            let _watcher = watcher;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    Some(()) = rx.recv() => {
                        tokio::time::sleep(DEBOUNCE).await;
                        while rx.try_recv().is_ok() {}
                    }
                    Some(()) = next_hangup(&mut hup) => {}
                }
                let _ = tls.reload();
            }
        })
    }
}

/// SIGHUP, where there is such a thing. Another handler (the binary's) may listen too:
/// tokio delivers the signal to every listener.
#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup() -> Hangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "Cannot listen for SIGHUP; TLS certificates reload on file changes only.");
            None
        }
    }
}

#[cfg(unix)]
async fn next_hangup(hup: &mut Hangup) -> Option<()> {
    match hup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn hangup() -> Hangup {}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}

/// Watches the directories holding the files; each event nudges `tx`. `None` (logged)
/// when the platform refuses: SIGHUP still reloads.
fn watch_dirs(config: &TlsConfig, tx: tokio::sync::mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            // Full means a reload is already due.
            let _ = tx.try_send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "Cannot watch the TLS files; they reload on SIGHUP only.");
            return None;
        }
    };
    let mut dirs: Vec<PathBuf> = [Some(config.cert_path()), Some(config.key_path()), config.client_ca_path()]
        .into_iter()
        .flatten()
        .map(|p| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            warn!(dir = %dir.display(), error = %e, "Cannot watch a TLS directory; its files reload on SIGHUP only.");
        }
    }
    Some(watcher)
}

fn read(what: &'static str, path: PathBuf) -> Result<Vec<u8>, TlsError> {
    std::fs::read(&path).map_err(|source| TlsError::Read { what, path, source })
}

fn read_files(config: &TlsConfig) -> Result<Files, TlsError> {
    Ok(Files {
        cert: read("cert_file", config.cert_path())?,
        key: read("key_file", config.key_path())?,
        client_ca: config.client_ca_path().map(|p| read("client_ca_file", p)).transpose()?,
    })
}

/// Every certificate in a PEM file; at least one.
fn certificates(what: &'static str, path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |message: String| TlsError::Pem { what, path: path.to_path_buf(), message };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

fn build(config: &TlsConfig, files: &Files) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (cert_path, key_path) = (config.cert_path(), config.key_path());
    let certs = certificates("cert_file", &cert_path, &files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&files.key).map_err(|e| TlsError::Pem {
        what: "key_file",
        path: key_path.clone(),
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "holds no PEM private key".to_string(),
            e => format!("not a PEM private key: {e}"),
        },
    })?;
    let (min, max) = config.versions();
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(TlsVersion::Tls12, &rustls::version::TLS12), (TlsVersion::Tls13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, r)| r)
            .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(TlsError::Rustls)?;
    let verifier = client_verifier(config, files, &provider)?;
    let mut server = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::KeyPair { cert: cert_path, key: key_path, source })?;
    // gRPC clients insist on h2 by ALPN; HTTP clients may speak either.
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}

fn client_verifier(
    config: &TlsConfig,
    files: &Files,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let auth = config.client_auth();
    let algorithms = provider.signature_verification_algorithms;
    Ok(match auth {
        ClientAuthType::NoClientCert => Arc::new(NoClientAuth),
        ClientAuthType::RequestClientCert => Arc::new(AnyClientCert { mandatory: false, algorithms }),
        ClientAuthType::RequireAnyClientCert => Arc::new(AnyClientCert { mandatory: true, algorithms }),
        ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert => {
            // validate() made sure a verifying mode has a CA file.
            let (Some(path), Some(pem)) = (config.client_ca_path(), files.client_ca.as_deref()) else {
                return Err(TlsConfigError::MissingClientCa(auth).into());
            };
            let mut roots = RootCertStore::empty();
            for cert in certificates("client_ca_file", &path, pem)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsError::ClientCa { path: path.clone(), message: format!("not a usable CA: {e}") })?;
            }
            let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if auth == ClientAuthType::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            b.build().map_err(|e| TlsError::ClientCa { path, message: e.to_string() })?
        }
    })
}

/// `RequestClientCert` / `RequireAnyClientCert`: Go's modes that take any client
/// certificate without checking who issued it. The handshake signature is still
/// checked, so the client does hold the certificate's key.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
