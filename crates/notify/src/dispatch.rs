//! The dispatcher (`dispatch/dispatch.go`): every alert update is routed, and each matching
//! route files it into the aggregation group named by the route and the alert's group
//! labels. A group notifies `group_wait` after it was created (at once when an alert in it
//! is already older than that), then every `group_interval`; each flush runs the
//! receiver's pipeline and, if it succeeded, drops the alerts it reported as resolved.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lookout_receivers::{Alert, labels_fingerprint};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::{StoredAlert, compare_alerts};
use crate::config::AlertmanagerConfig;
use crate::inhibit::Inhibitor;
use crate::pipeline::{FlushContext, Pipeline};
use crate::route::{RouteOpts, RouteTree, labels_string};

/// Alertmanager's `notify.MinTimeout`: a flush gets at least this long before it is cut off.
const MIN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// On reload or shutdown, how long a flush already under way may take to finish before it
/// is cancelled: a notification that is being delivered gets recorded in the log, so the
/// next config or process does not send it again.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Everything derived from one config.
pub(crate) struct Runtime {
    pub(crate) cfg: AlertmanagerConfig,
    pub(crate) tree: RouteTree,
    pub(crate) inhibitor: Arc<Inhibitor>,
    pub(crate) pipeline: Pipeline,
}

struct GroupState {
    alerts: HashMap<u64, StoredAlert>,
    has_flushed: bool,
}

/// One aggregation group.
pub(crate) struct AggrGroup {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) key: String,
    opts: RouteOpts,
    state: Mutex<GroupState>,
    flush_now: Notify,
    /// Stops scheduling flushes.
    cancel: CancellationToken,
    /// Cancels a flush in flight.
    abort: CancellationToken,
}

impl AggrGroup {
    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, a: &StoredAlert, now: DateTime<Utc>) {
        let mut st = self.lock();
        st.alerts.insert(a.fingerprint(), a.clone());
        // Flush at once if this alert already waited out group_wait.
        let wait = chrono::Duration::from_std(self.opts.group_wait).unwrap_or(chrono::Duration::MAX);
        if !st.has_flushed && a.alert.starts_at.checked_add_signed(wait).is_some_and(|t| t < now) {
            self.flush_now.notify_one();
        }
    }

    fn is_empty(&self) -> bool {
        self.lock().alerts.is_empty()
    }

    /// The group's alerts (stored form).
    pub(crate) fn alerts(&self) -> Vec<StoredAlert> {
        self.lock().alerts.values().cloned().collect()
    }

    /// The receiver this group notifies.
    pub(crate) fn receiver(&self) -> &str {
        &self.opts.receiver
    }

    async fn run(self: Arc<Self>, rt: Arc<Runtime>) {
        let mut next = Instant::now() + self.opts.group_wait;
        loop {
            let first = !self.lock().has_flushed;
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.flush_now.notified(), if first => {}
                _ = self.cancel.cancelled() => return,
            }
            // The next tick is set before flushing, so a slow flush does not shift the schedule.
            next = Instant::now() + self.opts.group_interval;
            self.lock().has_flushed = true;
            let limit = self.opts.group_interval.max(MIN_FLUSH_TIMEOUT) + rt.pipeline.cluster_wait();
            let flush = self.flush(&rt, self.abort.child_token());
            tokio::select! {
                _ = flush => {}
                _ = tokio::time::sleep(limit) => {
                    tracing::warn!(group = %self.key, "Notification flush ran out of time.");
                }
                _ = self.abort.cancelled() => return,
            }
        }
    }

    async fn flush(&self, rt: &Runtime, cancel: CancellationToken) -> bool {
        let stored = self.alerts();
        if stored.is_empty() {
            return true;
        }
        let now = Utc::now();
        let mut alerts: Vec<Alert> = stored
            .iter()
            .map(|s| {
                let mut a = s.alert.clone();
                // Still firing at the flush: do not let it resolve as time moves on.
                if !a.is_resolved_at(now) {
                    a.ends_at = None;
                }
                a
            })
            .collect();
        alerts.sort_by(|a, b| compare_alerts(&a.labels, &b.labels));
        let ctx = FlushContext {
            now,
            group_key: Arc::from(self.key.as_str()),
            group_labels: Arc::new(self.labels.clone()),
            receiver: Arc::from(self.opts.receiver.as_str()),
            repeat_interval: self.opts.repeat_interval,
            mute_time_intervals: self.opts.mute_time_intervals.clone().into(),
            active_time_intervals: self.opts.active_time_intervals.clone().into(),
            cancel,
            firing: Vec::new(),
            resolved: Vec::new(),
        };
        match rt.pipeline.exec(ctx, alerts).await {
            Ok(()) => {
                let mut st = self.lock();
                for s in &stored {
                    let fp = s.fingerprint();
                    // Only if it was not updated while we were notifying.
                    if s.resolved_at(now) && st.alerts.get(&fp).is_some_and(|g| g.updated_at == s.updated_at) {
                        st.alerts.remove(&fp);
                    }
                }
                true
            }
            Err(e) => {
                tracing::error!(group = %self.key, error = %e, "Notify for alerts failed.");
                false
            }
        }
    }
}

/// Groups of one config.
pub(crate) struct Dispatcher {
    pub(crate) rt: Arc<Runtime>,
    groups: Mutex<HashMap<(usize, u64), Arc<AggrGroup>>>,
    cancel: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
    handle: tokio::runtime::Handle,
}

impl Dispatcher {
    pub(crate) fn new(rt: Arc<Runtime>, parent: &CancellationToken, handle: tokio::runtime::Handle) -> Dispatcher {
        Dispatcher {
            rt,
            groups: Mutex::new(HashMap::new()),
            cancel: parent.child_token(),
            abort: CancellationToken::new(),
            tracker: TaskTracker::new(),
            handle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(usize, u64), Arc<AggrGroup>>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Files an alert update into its groups, creating them as needed.
    pub(crate) fn process(&self, a: &StoredAlert, now: DateTime<Utc>) {
        if self.cancel.is_cancelled() {
            return;
        }
        let mut groups = self.lock();
        for r in self.rt.tree.matches(&a.alert.labels) {
            let route = self.rt.tree.get(r);
            let labels = route.group_labels(&a.alert.labels);
            let fp = labels_fingerprint(&labels);
            if let Some(g) = groups.get(&(r, fp)) {
                g.insert(a, now);
                continue;
            }
            let g = Arc::new(AggrGroup {
                key: format!("{}:{}", route.key, labels_string(&labels)),
                labels,
                opts: route.opts.clone(),
                state: Mutex::new(GroupState { alerts: HashMap::new(), has_flushed: false }),
                flush_now: Notify::new(),
                cancel: self.cancel.child_token(),
                abort: self.abort.child_token(),
            });
            // The first alert is in before the group's timer starts.
            g.insert(a, now);
            groups.insert((r, fp), g.clone());
            let _guard = self.handle.enter();
            self.tracker.spawn(g.run(self.rt.clone()));
        }
    }

    /// Stops and forgets groups without alerts (Alertmanager does this every 30 s).
    pub(crate) fn maintenance(&self) {
        self.lock().retain(|_, g| {
            let keep = !g.is_empty();
            if !keep {
                g.cancel.cancel();
            }
            keep
        });
    }

    /// The current groups.
    pub(crate) fn groups(&self) -> Vec<Arc<AggrGroup>> {
        self.lock().values().cloned().collect()
    }

    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Stops every group and waits for them; flushes under way get [`STOP_GRACE`] to
    /// finish, then they are cancelled.
    pub(crate) async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(STOP_GRACE, self.tracker.wait()).await.is_err() {
            self.abort.cancel();
            self.tracker.wait().await;
        }
    }
}
