//! Email over SMTP with `lettre`, following Alertmanager's `notify/email/email.go`: one
//! connection per notification; implicit TLS when the smarthost port is 465, otherwise
//! STARTTLS when `require_tls` (refusing a server that does not offer it); AUTH PLAIN or
//! LOGIN when `auth_username` is set and the server advertises AUTH; headers from
//! `headers` (Subject, To, From defaulted, all templated); a multipart/alternative body
//! with the text and HTML parts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::future::BoxFuture;
use lettre::Address;
use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue, To};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Identity, TlsParameters, TlsVersion,
};
use lettre::transport::smtp::extension::ClientId;

use crate::alert::Notification;
use crate::config::{EmailConfig, GlobalConfig, Secret, TlsConfig, read_secret_file};
use crate::integration::{FailureReason, Integration, NotifyError};
use crate::templates::{FieldRenderer, Templates};

const DEFAULT_SUBJECT: &str = "{{ template \"email.default.subject\" . }}";
const DEFAULT_HTML: &str = "{{ template \"email.default.html\" . }}";
const DEFAULT_TEXT: &str = "{{ template \"email.default.text\" . }}";
/// Per SMTP step (connect, each command); the whole transaction is bounded by the retry
/// policy's attempt timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// rustls needs one process-wide crypto provider when more than one could be linked in.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means another part of the process installed one first: fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// An `email_configs[]` entry, built (global defaults applied).
pub struct Email {
    send_resolved: bool,
    to: String,
    from: String,
    hello: String,
    host: String,
    port: u16,
    auth_username: String,
    auth_password: Secret,
    auth_password_file: String,
    require_tls: bool,
    tls: TlsConfig,
    /// Canonical header name → template.
    headers: BTreeMap<String, String>,
    html: String,
    text: String,
    templates: Arc<Templates>,
}

impl Email {
    /// From its config with the global defaults applied (Alertmanager's `config.go` rules).
    pub fn new(c: &EmailConfig, g: &GlobalConfig, templates: Arc<Templates>) -> Result<Email, crate::Error> {
        c.validate(g)?;
        install_crypto_provider();
        let smarthost = if c.smarthost.is_empty() { &g.smtp_smarthost } else { &c.smarthost };
        let (host, port) = crate::config::split_host_port(smarthost)?;
        let auth_username =
            if c.auth_username.is_empty() { g.smtp_auth_username.clone() } else { c.auth_username.clone() };
        let (auth_password, auth_password_file) = if c.auth_password.is_empty() && c.auth_password_file.is_empty() {
            (g.smtp_auth_password.clone(), g.smtp_auth_password_file.clone())
        } else {
            (c.auth_password.clone(), c.auth_password_file.clone())
        };
        let identity = if c.auth_identity.is_empty() { &g.smtp_auth_identity } else { &c.auth_identity };
        if !identity.is_empty() && *identity != auth_username {
            // lettre's PLAIN sends an empty authorization identity; acting as someone else
            // is not possible, so refuse rather than log in as the wrong user.
            return Err(crate::Error::config("auth_identity different from auth_username is not supported"));
        }
        let mut headers = BTreeMap::new();
        for (k, v) in &c.headers {
            headers.insert(crate::config::canonical_header(k), v.clone());
        }
        headers.entry("Subject".to_string()).or_insert_with(|| DEFAULT_SUBJECT.to_string());
        headers.entry("To".to_string()).or_insert_with(|| c.to.clone());
        let from = if c.from.is_empty() { g.smtp_from.clone() } else { c.from.clone() };
        headers.entry("From".to_string()).or_insert_with(|| from.clone());
        let tls = c.tls_config.clone().or_else(|| g.smtp_tls_config.clone()).unwrap_or_default();
        Ok(Email {
            send_resolved: c.send_resolved,
            to: c.to.clone(),
            from,
            hello: if c.hello.is_empty() { g.smtp_hello.clone() } else { c.hello.clone() },
            host,
            port,
            auth_username,
            auth_password,
            auth_password_file,
            require_tls: c.require_tls.unwrap_or(g.smtp_require_tls),
            tls,
            headers,
            html: c.html.clone().unwrap_or_else(|| DEFAULT_HTML.to_string()),
            text: c.text.clone().unwrap_or_else(|| DEFAULT_TEXT.to_string()),
            templates,
        })
    }

    /// The envelope and the RFC 5322 message for `n`.
    pub fn message(&self, n: &Notification) -> Result<(Envelope, Vec<u8>), NotifyError> {
        let mut r = FieldRenderer::new(&self.templates, n);
        let to = r.field("to", &self.to);
        let from = r.field("from", &self.from);
        let headers: Vec<(String, String)> =
            self.headers.iter().map(|(k, v)| (k.clone(), r.field(&format!("headers.{k}"), v))).collect();
        let html = r.html_field("html", &self.html);
        let text = r.field("text", &self.text);
        r.finish("email")?;

        let bad = |what: &str, v: &str, e: &dyn std::fmt::Display| {
            NotifyError::config(format!("email: invalid {what} {v:?}: {e}"))
        };
        let envelope_from: Mailbox = from.parse().map_err(|e| bad("from address", &from, &e))?;
        let envelope_to: Mailboxes = to.parse().map_err(|e| bad("to address", &to, &e))?;
        let rcpt: Vec<Address> = envelope_to.into_iter().map(|m| m.email).collect();
        let envelope = Envelope::new(Some(envelope_from.email), rcpt).map_err(|e| bad("envelope", &to, &e))?;

        let mut b = lettre::Message::builder().envelope(envelope.clone()).message_id(None);
        for (k, v) in headers {
            b = match k.as_str() {
                "From" => b.from(v.parse().map_err(|e| bad("From header", &v, &e))?),
                "To" => {
                    let list: Mailboxes = v.parse().map_err(|e| bad("To header", &v, &e))?;
                    b.mailbox(To::from(list))
                }
                "Subject" => b.subject(v),
                _ => {
                    let name = HeaderName::new_from_ascii(k.clone()).map_err(|e| bad("header name", &k, &e))?;
                    b.raw_header(HeaderValue::new(name, v))
                }
            };
        }
        let mut parts = MultiPart::alternative().build();
        if !text.is_empty() {
            parts = parts.singlepart(SinglePart::plain(text));
        }
        if !html.is_empty() {
            parts = parts.singlepart(SinglePart::html(html));
        }
        let msg = b.multipart(parts).map_err(|e| NotifyError::config(format!("email: cannot build message: {e}")))?;
        Ok((envelope, msg.formatted()))
    }

    fn tls_parameters(&self) -> Result<TlsParameters, NotifyError> {
        let t = &self.tls;
        let domain = if t.server_name.is_empty() { self.host.clone() } else { t.server_name.clone() };
        let cfg = |e: String| NotifyError::config(format!("email: tls_config: {e}"));
        let mut b = TlsParameters::builder(domain);
        if !t.ca_file.is_empty() {
            let pem = std::fs::read(&t.ca_file).map_err(|e| cfg(format!("cannot read ca_file {}: {e}", t.ca_file)))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| cfg(format!("ca_file {}: {e}", t.ca_file)))?;
            // Like Go's RootCAs: when a CA file is given, only it is trusted.
            b = b.certificate_store(CertificateStore::None).add_root_certificate(cert);
        }
        if !t.cert_file.is_empty() {
            let cert = std::fs::read(&t.cert_file).map_err(|e| cfg(format!("cannot read cert_file: {e}")))?;
            let key = std::fs::read(&t.key_file).map_err(|e| cfg(format!("cannot read key_file: {e}")))?;
            b = b.identify_with(Identity::from_pem(&cert, &key).map_err(|e| cfg(e.to_string()))?);
        }
        if t.insecure_skip_verify {
            b = b.dangerous_accept_invalid_certs(true).dangerous_accept_invalid_hostnames(true);
        }
        if t.min_version == "TLS13" {
            b = b.set_min_tls_version(TlsVersion::Tlsv13);
        }
        b.build_rustls().map_err(|e| cfg(e.to_string()))
    }

    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), NotifyError> {
        let hello = match self.hello.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => ClientId::Ipv4(a),
            Ok(IpAddr::V6(a)) => ClientId::Ipv6(a),
            Err(_) => ClientId::Domain(self.hello.clone()),
        };
        let implicit_tls = self.port == 465;
        let wrapper = if implicit_tls { Some(self.tls_parameters()?) } else { None };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(SMTP_TIMEOUT),
            &hello,
            wrapper,
            None,
        )
        .await
        .map_err(|e| smtp_error("connect", e))?;
        let result = self.transaction(&mut conn, &hello, envelope, bytes).await;
        if result.is_ok() {
            let _ = conn.quit().await;
        }
        // On error the connection is just dropped (closed): after a failed STARTTLS lettre's
        // stream is gone and `abort` would panic.
        result
    }

    async fn transaction(
        &self,
        conn: &mut AsyncSmtpConnection,
        hello: &ClientId,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), NotifyError> {
        if self.require_tls && !conn.is_encrypted() {
            if !conn.can_starttls() {
                return Err(NotifyError::retryable(
                    FailureReason::Other,
                    format!(
                        "email: 'require_tls' is true (default) but \"{}:{}\" does not advertise the STARTTLS extension",
                        self.host, self.port
                    ),
                ));
            }
            conn.starttls(self.tls_parameters()?, hello).await.map_err(|e| smtp_error("starttls", e))?;
        }
        // As Alertmanager: authenticate when a user is configured and the server offers AUTH.
        let mechanisms = [Mechanism::Plain, Mechanism::Login];
        if !self.auth_username.is_empty() && conn.server_info().get_auth_mechanism(&mechanisms).is_some() {
            if !conn.is_encrypted() && !is_loopback(&self.host) {
                // Go's smtp.PlainAuth rule: never send a password in clear over the network.
                return Err(NotifyError::permanent(
                    FailureReason::Config,
                    "email: refusing to send credentials over an unencrypted connection (enable require_tls or use port 465)",
                ));
            }
            let password = if self.auth_password_file.is_empty() {
                self.auth_password.clone()
            } else {
                read_secret_file(&self.auth_password_file, "auth_password").map_err(NotifyError::from)?
            };
            let creds = Credentials::new(self.auth_username.clone(), password.expose().to_string());
            conn.auth(&mechanisms, &creds).await.map_err(|e| smtp_error("auth", e))?;
        }
        conn.send(envelope, bytes).await.map_err(|e| smtp_error("send", e))?;
        Ok(())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// SMTP 5xx is permanent; 4xx, network, TLS and timeouts may pass.
fn smtp_error(step: &str, e: lettre::transport::smtp::Error) -> NotifyError {
    let msg = format!("email: {step}: {e}");
    if e.is_permanent() {
        NotifyError::permanent(FailureReason::ClientError, msg)
    } else if e.is_transient() {
        NotifyError::retryable(FailureReason::ServerError, msg)
    } else if e.is_timeout() {
        NotifyError::retryable(FailureReason::Timeout, msg)
    } else {
        NotifyError::retryable(FailureReason::Connection, msg)
    }
}

impl Integration for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let (envelope, bytes) = self.message(n)?;
            self.send(&envelope, &bytes).await
        })
    }
}
