//! `alerting.cluster`: where the notifier replicas meet (a JetStream key-value bucket),
//! how long each waits for the ones before it, and how this one is named.
//!
//! ```yaml
//! alerting:
//!   config: alerting/alertmanager.yml
//!   cluster: { nats: { url: nats://127.0.0.1:4222, bucket: lookout-notify }, peer_timeout: 15s }
//! ```
//!
//! The section lives in the pipeline file but its type lives here (the config crate
//! cannot know `lookout-cluster`'s types), so it is read with
//! [`PipelineConfig::parse_whole`] and its errors point into the pipeline file.

use std::time::Duration;

use lookout_cluster::KvConfig;
use lookout_config::{ConfigError, ConfigErrors, PipelineConfig, Position, PromDuration};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// The notifier cluster, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The bucket the replicas share: notification log, silences, heartbeats.
    pub nats: KvConfig,
    /// How much longer each position waits than the one before it before notifying
    /// (Alertmanager's `--cluster.peer-timeout`, 15s): the time the first replica has to
    /// notify and replicate its log entry.
    #[serde(default = "default_peer_timeout")]
    pub peer_timeout: PromDuration,
    /// This replica's name, unique in the cluster; positions are the sorted names.
    /// Default: `HOST:PORT` of the API (set by the binary), stable across restarts.
    #[serde(default)]
    pub name: Option<String>,
    /// How often this replica writes its heartbeat; a replica not heard of for three
    /// intervals is no longer a peer.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval: PromDuration,
    /// How long a start waits for the bucket's content before notifying anyway (an
    /// unreachable bus must not silence the replica). Default: `peer_timeout`.
    #[serde(default)]
    pub settle_timeout: Option<PromDuration>,
}

fn default_peer_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(15))
}

fn default_heartbeat_interval() -> PromDuration {
    PromDuration(Duration::from_secs(2))
}

/// Names are written into bucket keys (hex-encoded) and shown by the API.
const MAX_NAME_LEN: usize = 128;

impl ClusterConfig {
    /// A replica is no longer a peer when not heard of for this long.
    pub fn dead_after(&self) -> Duration {
        self.heartbeat_interval.0 * 3
    }

    /// How long a start waits for the bucket's content.
    pub fn settle_timeout(&self) -> Duration {
        self.settle_timeout.map_or(self.peer_timeout.0, |d| d.0)
    }

    /// Checks that the keys fit together; the message is for the user.
    pub fn check(&self) -> Result<(), String> {
        self.nats.check().map_err(|e| format!("nats: {e}"))?;
        if self.peer_timeout.0.is_zero() {
            return Err("`peer_timeout` must be greater than 0".into());
        }
        if self.heartbeat_interval.0 < Duration::from_millis(100) {
            return Err("`heartbeat_interval` must be at least 100ms".into());
        }
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        Ok(())
    }
}

/// Checks a replica name.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(format!("`name` must be 1 to {MAX_NAME_LEN} printable characters"));
    }
    Ok(())
}

/// The pipeline file as far as this section is concerned (everything else is ignored).
#[derive(Deserialize)]
struct Whole {
    #[serde(default)]
    alerting: Option<AlertingSection>,
}

/// `alerting:`, whose other keys `lookout-config` checks.
#[derive(Deserialize)]
struct AlertingSection {
    #[serde(default)]
    cluster: Option<Spanned<ClusterConfig>>,
}

/// `alerting.cluster` of a loaded pipeline, checked; `None` without one. Errors are
/// `FILE:LINE:COL: message`.
pub fn cluster_config(pipeline: &PipelineConfig) -> Result<Option<ClusterConfig>, ConfigErrors> {
    if pipeline.alerting.as_ref().and_then(|a| a.cluster).is_none() {
        return Ok(None);
    }
    let whole: Whole = pipeline.parse_whole()?;
    let Some(cluster) = whole.alerting.and_then(|a| a.cluster) else { return Ok(None) };
    cluster.value.check().map_err(|e| {
        let position = Position {
            file: pipeline.file.clone(),
            line: cluster.referenced.line(),
            column: cluster.referenced.column(),
        };
        ConfigError::new(position, format!("alerting.cluster: {e}"))
    })?;
    Ok(Some(cluster.value))
}

/// The default replica name and address: `HOST:PORT` of the API address, with the
/// machine's host name when the API listens on every interface.
pub fn default_peer_name(api_address: &str) -> String {
    let (host, port) = api_address.rsplit_once(':').unwrap_or((api_address, ""));
    let unspecified = matches!(host, "" | "0.0.0.0" | "[::]" | "::");
    let host = if unspecified {
        hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
    } else {
        host.to_string()
    };
    if port.is_empty() { host } else { format!("{host}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Option<ClusterConfig>, ConfigErrors> {
        let p = lookout_config::load_str("p.yaml", text, &|_| None)?;
        cluster_config(&p)
    }

    #[test]
    fn the_documented_shape_loads() {
        let c = load(
            "alerting:\n  config: am.yml\n  cluster: { nats: { url: nats://127.0.0.1:4222, bucket: lookout-notify }, peer_timeout: 15s }\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.nats.bucket, "lookout-notify");
        assert_eq!(c.peer_timeout.0, Duration::from_secs(15));
        assert_eq!(c.heartbeat_interval.0, Duration::from_secs(2));
        assert_eq!(c.settle_timeout(), Duration::from_secs(15));
        assert!(load("alerting:\n  config: am.yml\n").unwrap().is_none());
        assert!(load("sources: {}\n").unwrap().is_none());
    }

    #[test]
    fn errors_point_into_the_pipeline_file() {
        let bad_key = "alerting:\n  cluster:\n    nats: { url: nats://x:4222, bucket: b }\n    peer_timeuot: 1s\n";
        let e = load(bad_key).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:4:") && e.contains("peer_timeuot"), "{e}");
        let bad_duration =
            "alerting:\n  cluster:\n    nats: { url: nats://x:4222, bucket: b }\n    peer_timeout: soon\n";
        let e = load(bad_duration).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:4:"), "{e}");
        let bad_url = "alerting:\n  cluster:\n    nats: { url: http://x, bucket: b }\n";
        let e = load(bad_url).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:3:") && e.contains("alerting.cluster: nats: `url`"), "{e}");
        let bad_bucket = "alerting:\n  cluster: { nats: { url: nats://x:4222, bucket: 'a.b' } }\n";
        let e = load(bad_bucket).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:2:") && e.contains("bucket"), "{e}");
        let zero = "alerting:\n  cluster: { nats: { url: nats://x:4222, bucket: b }, peer_timeout: 0s }\n";
        assert!(load(zero).unwrap_err().to_string().contains("peer_timeout"));
        let missing_nats = "alerting:\n  cluster: { peer_timeout: 1s }\n";
        let e = load(missing_nats).unwrap_err().to_string();
        assert!(e.starts_with("p.yaml:2:") && e.contains("nats"), "{e}");
    }

    #[test]
    fn default_names_are_host_and_port() {
        assert_eq!(default_peer_name("127.0.0.1:8686"), "127.0.0.1:8686");
        let host = hostname::get().unwrap().into_string().unwrap();
        assert_eq!(default_peer_name("0.0.0.0:9093"), format!("{host}:9093"));
        assert_eq!(default_peer_name("[::]:9093"), format!("{host}:9093"));
        assert!(check_name("a").is_ok());
        assert!(check_name("").is_err() && check_name("a\nb").is_err() && check_name(&"x".repeat(200)).is_err());
    }
}
