//! TLS for probes: the client configuration (the system's roots, a `ca_file`, or no
//! verification at all) and the expiry dates of the certificates a server presents.
//!
//! Verification is on unless `insecure_skip_verify: true`. Expiry is read from the
//! certificates of a completed handshake: with verification on, an untrusted or expired
//! certificate fails the handshake (the error says why) and gives no expiry series;
//! with `insecure_skip_verify` the expiry of any certificate is reported.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::ProbeTlsConfig;

/// The TLS client settings of one probe, built once when the config is checked.
#[derive(Clone)]
pub struct TlsSettings {
    /// For HTTP/1.1 and plain TLS (no ALPN).
    pub(crate) plain: Arc<ClientConfig>,
    /// For gRPC (ALPN `h2`).
    pub(crate) h2: Arc<ClientConfig>,
    /// The name checked against the certificate, when not the host probed.
    pub(crate) server_name: Option<String>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

/// Builds the client settings for `tls:` (or the defaults without it).
pub(crate) fn client_config(tls: Option<&ProbeTlsConfig>, base_dir: &Path) -> Result<TlsSettings, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = tls.cloned().unwrap_or_default();
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAny(provider.clone()))
    } else if let Some(ca_file) = &tls.ca_file {
        let path = base_dir.join(ca_file);
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(&path)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_file {}: no PEM certificate in it", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        }
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?
    } else {
        Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone())
                .map_err(|e| format!("cannot load the system's certificate roots: {e}"))?,
        )
    };
    let build = |alpn: &[&[u8]]| -> Result<Arc<ClientConfig>, String> {
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    };
    Ok(TlsSettings { plain: build(&[b"http/1.1"])?, h2: build(&[b"h2"])?, server_name: tls.server_name })
}

/// The server name to send (SNI) and verify.
pub(crate) fn server_name(settings: &TlsSettings, host: &str) -> Result<ServerName<'static>, String> {
    let name = settings.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string()).map_err(|e| format!("invalid TLS server name `{name}`: {e}"))
}

/// `insecure_skip_verify: true`: any certificate, but handshake signatures are still
/// checked (the connection is still TLS, just to an unverified peer).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a TLS handshake showed about the server's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CertExpiry {
    /// The earliest `notAfter` of every certificate presented (unix seconds):
    /// `probe_ssl_earliest_cert_expiry`.
    pub earliest: i64,
    /// The expiry of the chain presented, i.e. its earliest `notAfter` (unix seconds):
    /// `probe_ssl_last_chain_expiry_timestamp_seconds`. blackbox_exporter takes the
    /// latest expiring of the *verified* chains; a server presents one chain, so it is
    /// that chain's expiry.
    pub last_chain: i64,
}

/// The expiry dates of the certificates `certs` (the server's chain, leaf first).
pub(crate) fn cert_expiry(certs: &[CertificateDer<'_>]) -> Option<CertExpiry> {
    let earliest = certs.iter().filter_map(|c| crate::der::not_after(c.as_ref())).min()?;
    Some(CertExpiry { earliest, last_chain: earliest })
}
