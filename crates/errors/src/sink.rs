//! The `error_groups` sink: exceptions from spans and logs into error groups, the
//! group series into the store.
//!
//! ```yaml
//! sinks:
//!   errors:
//!     type: error_groups
//!     inputs: [enrich]
//!     max_groups: 10000          # the default; full: evict 1%, oldest resolved first, then oldest
//!     samples_per_group: 5       # the default: the latest occurrences kept with each group
//!     stack_frames: 3            # the default: top in-app frames in the fingerprint
//!     fingerprint_rules:         # first match wins; at least one of type/message
//!       - type: '^(ConnectionRefusedError|psycopg2\.OperationalError)$'
//!         message: 'connection refused'
//!         fingerprint: database-unreachable
//! ```
//!
//! A sink, not a transform: it only reads records (nothing downstream changes), it
//! owns state under `data_dir`, and its own buffer keeps a slow disk from holding up
//! the other outputs. Batches are acknowledged once their groups are saved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{BuildError, ComponentError, ComponentFuture, SinkConfig, SinkContext, spanned_error};
use lookout_config::{ComponentDecl, ConfigError, ConfigErrors};
use lookout_event::{Batch, DeliveryStatus};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::fingerprint::{FingerprintRule, Fingerprinter, is_slug};
use crate::groups::{DEFAULT_MAX_GROUPS, DEFAULT_SAMPLES, ErrorGroups};
use crate::series::SeriesWriter;

/// `type: error_groups`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorGroupsConfig {
    /// Groups kept; past it a new group evicts 1% of them, oldest resolved first.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
    /// Latest occurrences kept with each group (trace ids, messages, stack traces).
    #[serde(default = "default_samples")]
    pub samples_per_group: usize,
    /// Top in-app stack frames that make the fingerprint.
    #[serde(default = "default_stack_frames")]
    pub stack_frames: usize,
    /// Fixed fingerprints for exceptions matching a type and/or message regex.
    #[serde(default)]
    pub fingerprint_rules: Vec<RuleConfig>,
    /// The sink's buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
}

/// One `fingerprint_rules` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Regex on `exception.type`.
    #[serde(default, rename = "type")]
    pub r#type: Option<Spanned<String>>,
    /// Regex on `exception.message`.
    #[serde(default)]
    pub message: Option<Spanned<String>>,
    /// The fingerprint given to matching exceptions.
    pub fingerprint: Spanned<String>,
}

fn default_max_groups() -> usize {
    DEFAULT_MAX_GROUPS
}

fn default_samples() -> usize {
    DEFAULT_SAMPLES
}

fn default_stack_frames() -> usize {
    3
}

/// Most samples a group may keep (each holds a stack trace of up to 16 KiB).
const MAX_SAMPLES: usize = 100;
/// Saved at most this often while records flow (and always on shutdown).
const FLUSH_EVERY: Duration = Duration::from_secs(1);

impl ErrorGroupsConfig {
    fn rules(&self) -> Result<Vec<FingerprintRule>, String> {
        self.fingerprint_rules
            .iter()
            .map(|r| {
                let compile = |s: &Option<Spanned<String>>| {
                    s.as_ref().map(|s| regex::Regex::new(&s.value).map_err(|e| e.to_string())).transpose()
                };
                Ok(FingerprintRule {
                    r#type: compile(&r.r#type)?,
                    message: compile(&r.message)?,
                    fingerprint: r.fingerprint.value.clone(),
                })
            })
            .collect()
    }
}

impl SinkConfig for ErrorGroupsConfig {
    fn validate(&self, decl: &ComponentDecl) -> Result<(), ConfigErrors> {
        let mut errors: Vec<ConfigError> = Vec::new();
        if self.max_groups == 0 {
            errors.push(decl.error("`max_groups` must be at least 1"));
        }
        if self.samples_per_group > MAX_SAMPLES {
            errors.push(decl.error(format!("`samples_per_group` must be at most {MAX_SAMPLES}")));
        }
        if self.stack_frames == 0 {
            errors.push(decl.error("`stack_frames` must be at least 1"));
        }
        for rule in &self.fingerprint_rules {
            if rule.r#type.is_none() && rule.message.is_none() {
                errors.push(spanned_error(
                    decl,
                    &rule.fingerprint,
                    "a fingerprint rule needs `type` or `message` (or both) to match",
                ));
            }
            for re in [&rule.r#type, &rule.message].into_iter().flatten() {
                if let Err(e) = regex::Regex::new(&re.value) {
                    let text = e.to_string();
                    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
                    errors.push(spanned_error(
                        decl,
                        re,
                        format!("invalid regex: {}", last.trim_start_matches("error: ")),
                    ));
                }
            }
            if !is_slug(&rule.fingerprint.value) {
                errors.push(spanned_error(
                    decl,
                    &rule.fingerprint,
                    format!(
                        "fingerprint `{}` must be 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                        rule.fingerprint.value
                    ),
                ));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors)) }
    }

    fn buffer(&self) -> BufferConfig {
        self.buffer
    }

    fn build(&self, cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let rules = self.rules();
        let (max_groups, samples, frames) = (self.max_groups, self.samples_per_group, self.stack_frames);
        async move {
            let rules = rules.map_err(BuildError)?;
            let dir = cx.data_dir.clone();
            let groups = tokio::task::spawn_blocking(move || ErrorGroups::shared(&dir))
                .await
                .map_err(|e| BuildError(format!("cannot open the error groups: {e}")))?
                .map_err(|e| BuildError(e.to_string()))?;
            groups.configure(max_groups, samples);
            let fut: ComponentFuture = run(cx, groups, Fingerprinter::new(rules, frames)).boxed();
            Ok(fut)
        }
        .boxed()
    }
}

async fn run(
    mut cx: SinkContext,
    groups: Arc<ErrorGroups>,
    fingerprinter: Fingerprinter,
) -> Result<(), ComponentError> {
    cx.health.ready();
    // After `ready`, which sets the state to running.
    if let Some(aside) = groups.moved_aside() {
        cx.health.set_state(lookout_component::ComponentState::Degraded(format!(
            "state file was corrupt; moved to {}; started without its error groups",
            aside.display()
        )));
    }
    let mut series = SeriesWriter::new(cx.store.clone());
    // Batches whose groups are not saved yet: acknowledged (dropped) after the flush.
    let mut unsaved: Vec<Batch> = Vec::new();
    let mut last_flush = Instant::now();
    loop {
        let next = if unsaved.is_empty() {
            cx.input.recv().await
        } else {
            match tokio::time::timeout(FLUSH_EVERY.saturating_sub(last_flush.elapsed()), cx.input.recv()).await {
                Ok(b) => b,
                Err(_) => {
                    flush(&cx, &groups, &mut unsaved).await;
                    last_flush = Instant::now();
                    continue;
                }
            }
        };
        let Some(batch) = next else { break };
        cx.metrics.received_events.inc_by(batch.len() as u64);
        let received_ms = (batch.meta.received_unix_nano / 1_000_000) as i64;
        let found = crate::extract::exceptions(&batch, received_ms);
        if !found.is_empty() {
            let identified = found.into_iter().map(|(e, o)| (fingerprinter.identify(&e).for_tenant(&o.tenant), o));
            let recorded = groups.record(identified);
            series.write(&recorded, received_ms);
            cx.store.commit();
        }
        cx.metrics.latency.observe(batch.meta.received_at.elapsed().as_secs_f64());
        unsaved.push(batch);
        if last_flush.elapsed() >= FLUSH_EVERY {
            flush(&cx, &groups, &mut unsaved).await;
            last_flush = Instant::now();
        }
    }
    flush(&cx, &groups, &mut unsaved).await;
    Ok(())
}

/// Saves the groups, then acknowledges the batches that changed them.
async fn flush(cx: &SinkContext, groups: &Arc<ErrorGroups>, unsaved: &mut Vec<Batch>) {
    let g = groups.clone();
    let result = tokio::task::spawn_blocking(move || g.flush()).await;
    let events: u64 = unsaved.iter().map(|b| b.len() as u64).sum();
    let failed = match result {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    match failed {
        None => {
            cx.metrics.sent_events.inc_by(events);
        }
        Some(error) => {
            tracing::error!(sink = %cx.id, error = %error, "Failed to save error groups; they stay in memory and are retried.");
            cx.metrics.failed_events.inc_by(events);
            for b in unsaved.iter() {
                b.meta.finalizers.update(DeliveryStatus::Errored);
            }
        }
    }
    unsaved.clear();
}

#[cfg(test)]
mod tests {
    use lookout_component::Registry;

    #[test]
    fn bad_rules_are_reported_at_their_position() {
        let yaml = "sources:\n  in: { type: x }\nsinks:\n  errors:\n    type: error_groups\n    inputs: [in]\n    max_groups: 0\n    fingerprint_rules:\n      - type: '(unclosed'\n        fingerprint: db\n      - fingerprint: 'has spaces'\n";
        let cfg = lookout_config::load_str("p.yaml", yaml, &|_| None).unwrap();
        let mut registry = Registry::default();
        crate::register(&mut registry);
        let err = registry.parse_sink(&cfg.sinks["errors"]).unwrap_err().to_string();
        assert!(err.contains("`max_groups` must be at least 1"), "{err}");
        assert!(err.contains("p.yaml:9:15: invalid regex"), "{err}");
        assert!(err.contains("p.yaml:11:22: a fingerprint rule needs `type` or `message`"), "{err}");
        assert!(err.contains("p.yaml:11:22: fingerprint `has spaces` must be"), "{err}");
    }

    #[test]
    fn the_documented_config_parses() {
        let yaml = "sources:\n  in: { type: x }\nsinks:\n  errors:\n    type: error_groups\n    inputs: [in]\n    max_groups: 500\n    samples_per_group: 3\n    stack_frames: 2\n    fingerprint_rules:\n      - type: '^(ConnectionRefusedError|psycopg2\\.OperationalError)$'\n        message: 'connection refused'\n        fingerprint: database-unreachable\n";
        let cfg = lookout_config::load_str("p.yaml", yaml, &|_| None).unwrap();
        let mut registry = Registry::default();
        crate::register(&mut registry);
        registry.parse_sink(&cfg.sinks["errors"]).unwrap();
    }
}
