//! The notification pipeline (`notify/notify.go`), built from same-shaped stages: each takes
//! the flush context and the alerts and returns the (possibly fewer) alerts to pass on.
//!
//! Per receiver: settle (in a cluster: the shared state was read) → mute (inhibition →
//! active time intervals → mute time intervals → silences, one [`MuteStage`] over a
//! [`Muter`] each) → fan out to every integration, where each runs wait (position ×
//! peer timeout) → dedup (notification log) → retry (deliver) → record (notification
//! log). An empty alert list ends the chain early, exactly as `MultiStage` does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use lookout_receivers::{Alert, Integration, Notification, NotifyMetrics, RetryPolicy};
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::inhibit::Inhibitor;
use crate::nflog::{NotificationLog, ReceiverKey};
use crate::silence::Silences;
use crate::timeinterval::{TimeInterval, any_contains};

/// What one flush of one group carries through the stages.
#[derive(Clone)]
pub(crate) struct FlushContext {
    /// The flush time.
    pub(crate) now: DateTime<Utc>,
    pub(crate) group_key: Arc<str>,
    pub(crate) group_labels: Arc<BTreeMap<String, String>>,
    pub(crate) receiver: Arc<str>,
    pub(crate) repeat_interval: Duration,
    pub(crate) mute_time_intervals: Arc<[String]>,
    pub(crate) active_time_intervals: Arc<[String]>,
    /// Cancelled on reload, shutdown or when the flush runs out of time.
    pub(crate) cancel: CancellationToken,
    /// Set by the dedup stage for the retry and record stages.
    pub(crate) firing: Vec<u64>,
    pub(crate) resolved: Vec<u64>,
}

/// Why a flush did not notify every integration of its receiver.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlushError {
    /// The flush was cancelled (the group stopped, or its deadline passed).
    #[error("flush canceled")]
    Canceled,
    /// One integration failed to deliver (after its retries).
    #[error("{receiver}/{integration}: {message}")]
    Delivery { receiver: Arc<str>, integration: &'static str, message: String },
    /// Some branches of a fan-out failed (each after all had finished).
    #[error("{}", join(.0))]
    Fanout(Vec<FlushError>),
    /// The receiver has no pipeline in the running config.
    #[error("receiver {0:?} has no pipeline")]
    NoPipeline(Arc<str>),
}

fn join(errors: &[FlushError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

pub(crate) type StageResult = Result<(FlushContext, Vec<Alert>), FlushError>;

/// One pipeline stage.
pub(crate) trait Stage: Send + Sync {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult>;
}

/// Stages in order; stops as soon as no alert is left.
pub(crate) struct MultiStage(pub(crate) Vec<Box<dyn Stage>>);

impl Stage for MultiStage {
    fn exec<'a>(&'a self, mut ctx: FlushContext, mut alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            for s in &self.0 {
                if alerts.is_empty() {
                    return Ok((ctx, alerts));
                }
                (ctx, alerts) = s.exec(ctx, alerts).await?;
            }
            Ok((ctx, alerts))
        })
    }
}

/// Runs every branch concurrently on the same input; fails if any branch fails, after
/// all have finished (one slow or broken integration never blocks the others).
pub(crate) struct FanoutStage(pub(crate) Vec<Box<dyn Stage>>);

impl Stage for FanoutStage {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            let runs = self.0.iter().map(|s| s.exec(ctx.clone(), alerts.clone()));
            let results = futures::future::join_all(runs).await;
            let errors: Vec<FlushError> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() { Ok((ctx, alerts)) } else { Err(FlushError::Fanout(errors)) }
        })
    }
}

/// Decides whether alerts with these labels are muted for this flush.
pub(crate) trait Muter: Send + Sync {
    fn mutes(&self, ctx: &FlushContext, labels: &BTreeMap<String, String>) -> bool;
}

impl Muter for Inhibitor {
    fn mutes(&self, ctx: &FlushContext, labels: &BTreeMap<String, String>) -> bool {
        self.inhibited_by(labels, ctx.now).is_some()
    }
}

impl Muter for Silences {
    fn mutes(&self, ctx: &FlushContext, labels: &BTreeMap<String, String>) -> bool {
        !self.silenced_by(labels, ctx.now).is_empty()
    }
}

/// Mutes everything by time: inside a route's `mute_time_intervals`, or outside its
/// `active_time_intervals` (when it has any).
pub(crate) struct TimeMuter {
    pub(crate) intervals: Arc<BTreeMap<String, Vec<TimeInterval>>>,
    pub(crate) active: bool,
}

impl Muter for TimeMuter {
    fn mutes(&self, ctx: &FlushContext, _labels: &BTreeMap<String, String>) -> bool {
        let names = if self.active { &ctx.active_time_intervals } else { &ctx.mute_time_intervals };
        if names.is_empty() {
            return false;
        }
        let inside = names.iter().any(|n| self.intervals.get(n).is_some_and(|ti| any_contains(ti, ctx.now)));
        if self.active { !inside } else { inside }
    }
}

/// Drops the alerts its muter mutes.
pub(crate) struct MuteStage<M: ?Sized>(pub(crate) Arc<M>);

impl<M: Muter + ?Sized> Stage for MuteStage<M> {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            let kept = alerts.into_iter().filter(|a| !self.0.mutes(&ctx, &a.labels)).collect();
            Ok((ctx, kept))
        })
    }
}

/// Holds a flush until the cluster's shared state was read at start
/// (`GossipSettleStage`), so a restarted replica does not repeat what the log says was
/// sent. Without a cluster it passes at once.
pub(crate) struct SettleStage(pub(crate) Option<Arc<Cluster>>);

impl Stage for SettleStage {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            if let Some(c) = &self.0
                && !c.settled(&ctx.cancel).await
            {
                return Err(FlushError::Canceled);
            }
            Ok((ctx, alerts))
        })
    }
}

/// Waits before notifying: the replica's position times the peer timeout in a cluster
/// (Alertmanager's `WaitStage` with `clusterWait`), so the first replica notifies and the
/// others find its entry in the log. Without a cluster the wait is zero.
pub(crate) struct WaitStage(pub(crate) Option<Arc<Cluster>>);

impl Stage for WaitStage {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            let wait = self.0.as_ref().map_or(Duration::ZERO, |c| c.wait());
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.cancel.cancelled() => return Err(FlushError::Canceled),
                }
            }
            Ok((ctx, alerts))
        })
    }
}

/// Passes the alerts on only when the receiver needs to hear about them (`DedupStage`).
pub(crate) struct DedupStage {
    pub(crate) nflog: Arc<NotificationLog>,
    pub(crate) key: ReceiverKey,
    pub(crate) send_resolved: bool,
}

impl DedupStage {
    fn needs_update(
        &self,
        entry: Option<&crate::nflog::Entry>,
        firing: &HashSet<u64>,
        resolved: &HashSet<u64>,
        ctx: &FlushContext,
    ) -> bool {
        let Some(entry) = entry else {
            // Never notified: only if something fires.
            return !firing.is_empty();
        };
        if !entry.is_firing_subset(firing) {
            return true;
        }
        // All resolved: notify (whatever send_resolved says) so the log forgets them, unless
        // nothing we told the receiver about was firing.
        if firing.is_empty() {
            return !entry.firing.is_empty();
        }
        if self.send_resolved && !entry.is_resolved_subset(resolved) {
            return true;
        }
        let repeat = chrono::Duration::from_std(ctx.repeat_interval).unwrap_or(chrono::Duration::MAX);
        entry.timestamp < ctx.now.checked_sub_signed(repeat).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

impl Stage for DedupStage {
    fn exec<'a>(&'a self, mut ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            let (mut firing, mut resolved) = (Vec::new(), Vec::new());
            for a in &alerts {
                if a.is_resolved_at(ctx.now) { resolved.push(a.fingerprint()) } else { firing.push(a.fingerprint()) }
            }
            let fs: HashSet<u64> = firing.iter().copied().collect();
            let rs: HashSet<u64> = resolved.iter().copied().collect();
            let entry = self.nflog.query(&ctx.group_key, &self.key);
            let pass = self.needs_update(entry.as_ref(), &fs, &rs, &ctx);
            ctx.firing = firing;
            ctx.resolved = resolved;
            Ok((ctx, if pass { alerts } else { Vec::new() }))
        })
    }
}

/// Delivers through one integration with retries (`RetryStage`).
pub(crate) struct RetryStage {
    pub(crate) integration: Arc<dyn Integration>,
    pub(crate) policy: RetryPolicy,
    pub(crate) metrics: Arc<NotifyMetrics>,
    pub(crate) external_url: Arc<str>,
}

impl Stage for RetryStage {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            let sent: Vec<Alert> = if self.integration.send_resolved() {
                alerts.clone()
            } else {
                // Only resolved alerts and no interest in them: count as notified so the log
                // records the resolution.
                if ctx.firing.is_empty() {
                    return Ok((ctx, alerts));
                }
                alerts.iter().filter(|a| !a.is_resolved_at(ctx.now)).cloned().collect()
            };
            let n = Notification {
                receiver: ctx.receiver.to_string(),
                status_firing: sent.iter().any(|a| !a.is_resolved_at(ctx.now)),
                group_key: ctx.group_key.to_string(),
                group_labels: (*ctx.group_labels).clone(),
                alerts: sent,
                external_url: self.external_url.to_string(),
                truncated_alerts: 0,
                now: ctx.now,
            };
            self.metrics.deliver(self.integration.as_ref(), &n, &self.policy, &ctx.cancel).await.map_err(|e| {
                FlushError::Delivery {
                    receiver: ctx.receiver.clone(),
                    integration: self.integration.name(),
                    message: e.message,
                }
            })?;
            Ok((ctx, alerts))
        })
    }
}

/// Records a successful notification in the log (`SetNotifiesStage`).
pub(crate) struct SetNotifiesStage {
    pub(crate) nflog: Arc<NotificationLog>,
    pub(crate) key: ReceiverKey,
}

impl Stage for SetNotifiesStage {
    fn exec<'a>(&'a self, ctx: FlushContext, alerts: Vec<Alert>) -> BoxFuture<'a, StageResult> {
        Box::pin(async move {
            self.nflog.log(&ctx.group_key, &self.key, ctx.firing.clone(), ctx.resolved.clone(), Utc::now());
            Ok((ctx, alerts))
        })
    }
}

/// Everything needed to build the per-receiver pipelines.
pub(crate) struct PipelineParts {
    pub(crate) inhibitor: Arc<Inhibitor>,
    pub(crate) silences: Arc<Silences>,
    pub(crate) nflog: Arc<NotificationLog>,
    pub(crate) intervals: Arc<BTreeMap<String, Vec<TimeInterval>>>,
    pub(crate) metrics: Arc<NotifyMetrics>,
    pub(crate) external_url: Arc<str>,
    /// The cluster this replica is in, if any.
    pub(crate) cluster: Option<Arc<Cluster>>,
}

/// The pipelines of one config, by receiver name.
pub(crate) struct Pipeline {
    receivers: HashMap<String, MultiStage>,
    cluster: Option<Arc<Cluster>>,
}

impl Pipeline {
    pub(crate) fn new(parts: &PipelineParts, integrations: Vec<(String, Vec<Arc<dyn Integration>>)>) -> Pipeline {
        let mut receivers = HashMap::new();
        for (name, ints) in integrations {
            let mut per_kind: HashMap<&'static str, usize> = HashMap::new();
            let mut branches: Vec<Box<dyn Stage>> = Vec::new();
            for i in ints {
                let idx = per_kind.entry(i.name()).or_insert(0);
                let key = ReceiverKey { receiver: name.clone(), integration: i.name().to_string(), index: *idx };
                *idx += 1;
                branches.push(Box::new(MultiStage(vec![
                    Box::new(WaitStage(parts.cluster.clone())),
                    Box::new(DedupStage {
                        nflog: parts.nflog.clone(),
                        key: key.clone(),
                        send_resolved: i.send_resolved(),
                    }),
                    Box::new(RetryStage {
                        integration: i.clone(),
                        // Retry until the flush's deadline cancels it, as Alertmanager does.
                        policy: RetryPolicy { max_elapsed: None, ..RetryPolicy::default() },
                        metrics: parts.metrics.clone(),
                        external_url: parts.external_url.clone(),
                    }),
                    Box::new(SetNotifiesStage { nflog: parts.nflog.clone(), key }),
                ])));
            }
            let stages: Vec<Box<dyn Stage>> = vec![
                Box::new(SettleStage(parts.cluster.clone())),
                Box::new(MuteStage(parts.inhibitor.clone())),
                Box::new(MuteStage(Arc::new(TimeMuter { intervals: parts.intervals.clone(), active: true }))),
                Box::new(MuteStage(Arc::new(TimeMuter { intervals: parts.intervals.clone(), active: false }))),
                Box::new(MuteStage(parts.silences.clone())),
                Box::new(FanoutStage(branches)),
            ];
            receivers.insert(name, MultiStage(stages));
        }
        Pipeline { receivers, cluster: parts.cluster.clone() }
    }

    /// How long the wait stage holds a flush now: a flush's deadline is extended by it,
    /// as Alertmanager's is.
    pub(crate) fn cluster_wait(&self) -> Duration {
        self.cluster.as_ref().map_or(Duration::ZERO, |c| c.wait())
    }

    /// Runs a flush through the receiver's pipeline.
    pub(crate) async fn exec(&self, ctx: FlushContext, alerts: Vec<Alert>) -> Result<(), FlushError> {
        match self.receivers.get(&*ctx.receiver) {
            Some(p) => p.exec(ctx, alerts).await.map(|_| ()),
            None => Err(FlushError::NoPipeline(ctx.receiver.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(now: DateTime<Utc>, repeat: Duration) -> FlushContext {
        FlushContext {
            now,
            group_key: Arc::from("{}:{}"),
            group_labels: Arc::new(BTreeMap::new()),
            receiver: Arc::from("r"),
            repeat_interval: repeat,
            mute_time_intervals: Arc::from(Vec::new()),
            active_time_intervals: Arc::from(Vec::new()),
            cancel: CancellationToken::new(),
            firing: Vec::new(),
            resolved: Vec::new(),
        }
    }

    fn set(v: &[u64]) -> HashSet<u64> {
        v.iter().copied().collect()
    }

    /// The cases of Alertmanager's `TestDedupStageNeedsUpdate`.
    #[test]
    fn dedup_needs_update_table() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let entry = |firing: &[u64], resolved: &[u64], ago_s: i64| crate::nflog::Entry {
            firing: firing.to_vec(),
            resolved: resolved.to_vec(),
            timestamp: now - chrono::Duration::seconds(ago_s),
            expires_at: now,
        };
        let stage = |send_resolved: bool| DedupStage {
            nflog: Arc::new(NotificationLog::new(None, Duration::from_secs(3600), None)),
            key: ReceiverKey { receiver: "r".into(), integration: "webhook".into(), index: 0 },
            send_resolved,
        };
        let c = ctx(now, Duration::from_secs(3600));
        type Case<'a> = (Option<crate::nflog::Entry>, &'a [u64], &'a [u64], bool, bool);
        let cases: Vec<Case> = vec![
            // Never notified: only when something fires.
            (None, &[2, 3, 4], &[], false, true),
            (None, &[], &[1], true, false),
            // New firing alert.
            (Some(entry(&[1, 2, 3], &[], 10)), &[2, 3, 4], &[], false, true),
            // Fewer firing, nothing new, repeat not due.
            (Some(entry(&[1, 2, 3], &[], 10)), &[1, 2], &[3], false, false),
            // Newly resolved and the receiver wants resolutions.
            (Some(entry(&[1, 2, 3], &[], 10)), &[1, 2], &[3], true, true),
            // Resolved already reported.
            (Some(entry(&[1, 2], &[3], 10)), &[1, 2], &[3], true, false),
            // Everything resolved: notify even without send_resolved, to clear the log.
            (Some(entry(&[1, 2, 3], &[], 10)), &[], &[1, 2, 3], false, true),
            // Fired and resolved between two notifications: the receiver never knew.
            (Some(entry(&[], &[1], 10)), &[], &[1, 2], true, false),
            // Repeat interval passed.
            (Some(entry(&[1, 2, 3], &[], 3601)), &[1, 2, 3], &[], false, true),
        ];
        for (i, (e, firing, resolved, send_resolved, want)) in cases.into_iter().enumerate() {
            let got = stage(send_resolved).needs_update(e.as_ref(), &set(firing), &set(resolved), &c);
            assert_eq!(got, want, "case {i}");
        }
    }
}
