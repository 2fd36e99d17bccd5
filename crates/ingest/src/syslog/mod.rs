//! The `syslog` source: RFC 5424 and RFC 3164 messages over TCP (octet-counted or
//! newline-ended, detected per message; optionally TLS) or UDP.
//!
//! Every message becomes a record; one that cannot be parsed keeps its raw text with a
//! `syslog.error` attribute, so nothing is dropped and no connection is closed for bad
//! input. Records go through the otlp source's admission path ([`Ingest`]); on TCP a
//! full pipeline holds the connection's reads (back-pressure) until there is room.

mod framing;
mod listen;
pub mod parse;

use std::net::SocketAddr;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_component::{BuildError, ComponentError, ComponentFuture, SourceConfig, SourceContext};
use lookout_config::{ComponentDecl, ConfigErrors, TlsConfig};
use lookout_server::listener::Tls;
use serde::Deserialize;

use crate::otlp::Ingest;

/// `mode:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A stream of messages per connection.
    #[default]
    Tcp,
    /// One message per datagram.
    Udp,
}

/// `type: syslog`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSourceConfig {
    /// `host:port` to listen on.
    pub address: SocketAddr,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub mode: Mode,
    /// TLS on TCP (RFC 5425); relative paths start at the pipeline file's directory.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Longer messages are cut here (and flagged with `syslog.error`).
    #[serde(default = "default_max_line_length")]
    pub max_line_length: usize,
    /// A TCP connection that sends nothing for this long is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// TCP connections served at once; more are closed on accept.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_max_line_length() -> usize {
    64 * 1024
}

fn default_idle_timeout_secs() -> u64 {
    300
}

fn default_max_connections() -> usize {
    1024
}

impl SourceConfig for SyslogSourceConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        if self.max_line_length == 0 || self.max_connections == 0 || self.idle_timeout_secs == 0 {
            return Err(decl
                .error("`max_line_length`, `max_connections` and `idle_timeout_secs` must be greater than 0")
                .into());
        }
        if let Some(tls) = &self.tls {
            if self.mode == Mode::Udp {
                return Err(decl.error("`tls` needs `mode: tcp`").into());
            }
            tls.set_config_file(std::path::Path::new(&*decl.position.file));
            Tls::check(tls).map_err(|e| decl.error(e.to_string()))?;
        }
        Ok(())
    }

    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let config = self.clone();
        async move {
            let tls = match config.tls.clone() {
                Some(c) => Some(Tls::new(c).map_err(|e| BuildError(e.to_string()))?),
                None => None,
            };
            let cannot = |e: std::io::Error| BuildError(format!("cannot listen for syslog on {}: {e}", config.address));
            let socket = match config.mode {
                Mode::Tcp => listen::Socket::Tcp(tokio::net::TcpListener::bind(config.address).await.map_err(cannot)?),
                Mode::Udp => listen::Socket::Udp(tokio::net::UdpSocket::bind(config.address).await.map_err(cannot)?),
            };
            // The size limit is the framing's; a batch is what one read brought. A full
            // pipeline is waited out for as long as it lasts (no timeout): the reads stop,
            // so TCP senders feel the back-pressure, and the records are never copied
            // to be offered again.
            let ingest = Ingest::new(cx.out, cx.metrics, usize::MAX, Duration::MAX, 1);
            let limits = listen::Limits {
                max_line_length: config.max_line_length,
                idle_timeout: Duration::from_secs(config.idle_timeout_secs),
                max_connections: config.max_connections,
            };
            let (id, health, shutdown) = (cx.id, cx.health, cx.shutdown);
            let fut: ComponentFuture = async move {
                tracing::info!(source = %id, address = %config.address, mode = ?config.mode, "syslog listening");
                health.ready();
                listen::serve(socket, ingest, limits, tls, shutdown).await.map_err(ComponentError::new)
            }
            .boxed();
            Ok(fut)
        }
        .boxed()
    }
}
