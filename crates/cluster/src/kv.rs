//! A JetStream key-value bucket that several Lookout processes share: the notifier
//! cluster's notification log and silences, the scaler's leader lease.
//!
//! ```yaml
//! nats: { url: nats://127.0.0.1:4222, bucket: lookout-notify, replicas: 3 }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use lookout_config::Secret;
use serde::Deserialize;

use crate::{NatsConnection, NatsTls};

/// Where a shared bucket lives: the connection keys plus the bucket's own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvConfig {
    /// `nats://host:port` (or `tls://`), or several separated by commas.
    pub url: String,
    /// The bucket (created if missing).
    pub bucket: String,
    /// Copies JetStream keeps of the bucket (1 on a single server, 3 in a cluster).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// A `.creds` file (JWT + NKey seed).
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
    /// A token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// User name, with `password`.
    #[serde(default)]
    pub user: Option<Secret>,
    /// Password, with `user`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// TLS; present means required.
    #[serde(default)]
    pub tls: Option<NatsTls>,
}

fn default_replicas() -> usize {
    1
}

impl KvConfig {
    /// The connection part.
    pub fn connection(&self) -> NatsConnection {
        NatsConnection {
            url: self.url.clone(),
            creds_file: self.creds_file.clone(),
            token: self.token.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            tls: self.tls.clone(),
        }
    }

    /// Checks that the keys fit together; the message is for the user.
    pub fn check(&self) -> Result<(), String> {
        self.connection().check()?;
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.bucket.is_empty() || !self.bucket.chars().all(valid) {
            return Err(format!("`bucket` `{}` must be letters, digits, `-` or `_`", self.bucket));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err("`replicas` must be between 1 and 5".into());
        }
        Ok(())
    }

    /// Connects and opens the bucket, creating it when missing with `history` revisions
    /// per key and entries expiring after `max_age` (zero: never).
    pub async fn open(&self, client_name: &str, history: i64, max_age: Duration) -> Result<kv::Store, String> {
        let client = self.connection().connect(client_name).await?;
        let js = jetstream::new(client);
        if let Ok(store) = js.get_key_value(&self.bucket).await {
            return Ok(store);
        }
        // The bucket's stream as `create_key_value` would make it (ADR-8), created directly:
        // async-nats 0.51's `create_key_value` first reads the account info, whose reply
        // from a 2.9 server (Debian's) it cannot parse, and it needs nothing from it.
        js.get_or_create_stream(kv_stream(&self.bucket, history, max_age, self.replicas))
            .await
            .map_err(|e| format!("cannot create key-value bucket `{}`: {e}", self.bucket))?;
        js.get_key_value(&self.bucket).await.map_err(|e| format!("cannot open key-value bucket `{}`: {e}", self.bucket))
    }
}

/// The stream behind a key-value bucket (`KV_<bucket>` on `$KV.<bucket>.>`).
fn kv_stream(bucket: &str, history: i64, max_age: Duration, replicas: usize) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: history.max(1),
        max_age,
        max_bytes: -1,
        max_message_size: -1,
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        num_replicas: replicas.max(1),
        discard: jetstream::stream::DiscardPolicy::New,
        // The server refuses a duplicate window (default 2 min) longer than max_age.
        duplicate_window: if max_age.is_zero() { Duration::ZERO } else { max_age.min(Duration::from_secs(120)) },
        ..Default::default()
    }
}
