//! Ingest authentication and tenants.
//!
//! With `auth: { tenants_file: tenants.yaml }` on an `otlp` source, every request must
//! carry a bearer token the tenants file knows ([`file`]); missing or unknown tokens get
//! 401 / `UNAUTHENTICATED` before the body is read ([`auth`]), counted and written to
//! the `lookout::audit` log target. The token's tenant:
//! - is set as the `tenant` resource attribute of every record ([`stamp`]), replacing
//!   whatever the client sent, so conditions, routes, index templates and rules can use
//!   it and a client cannot claim another tenant's name;
//! - has its own limits ([`limits`]: events/s, bytes/s with bursts, request size, and
//!   series in the metrics store) and counters on `/metrics` ([`metrics`]);
//! - may restrict where its records land ([`file::Destinations`], read by sinks through
//!   [`directory`]).

pub mod auth;
pub mod directory;
pub mod file;
pub mod limits;
pub mod metrics;
mod stamp;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use auth::{Authenticated, Authenticator};
pub use file::{Destinations, Limits, Tenant, Tenants, glob_match};
pub use metrics::register_metrics;
use serde::Deserialize;
pub use stamp::stamp;

/// The resource attribute (and series label) carrying a record's tenant.
pub const TENANT_ATTRIBUTE: &str = lookout_event::TENANT;

/// `auth:` of an `otlp` source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The tenants file; a relative path is relative to the pipeline file's directory.
    pub tenants_file: PathBuf,
    /// `tenants_file` resolved against the pipeline file (set when the config is
    /// validated).
    #[serde(skip)]
    resolved: Arc<OnceLock<PathBuf>>,
}

impl AuthConfig {
    /// Resolves `tenants_file` against the directory of `pipeline_file`, once.
    pub fn resolve(&self, pipeline_file: &Path) -> &Path {
        self.resolved.get_or_init(|| match pipeline_file.parent() {
            Some(dir) if self.tenants_file.is_relative() => dir.join(&self.tenants_file),
            _ => self.tenants_file.clone(),
        })
    }

    /// The tenants file to read: resolved if [`AuthConfig::resolve`] ran, else as written.
    pub fn path(&self) -> &Path {
        self.resolved.get().unwrap_or(&self.tenants_file)
    }

    /// The running authenticator of source `source` (every listening source's `auth:`).
    pub(crate) fn authenticator(
        &self,
        source: &str,
        store: Arc<lookout_tsdb::Store>,
    ) -> Result<Arc<Authenticator>, lookout_component::BuildError> {
        Authenticator::load(source, self.path().to_path_buf(), store)
            .map_err(|e| lookout_component::BuildError(format!("auth.tenants_file: {e}")))
    }
}
