//! End-to-end tests of the notifier, one binary.

/// Debian's `amtool` against the API.
mod amtool;
/// Webhook recorder and notifier harness.
mod common;
/// The same config and alerts against the real Alertmanager 0.25.
mod differential;
/// Reloads and metrics.
mod lifecycle;
/// Restarting the notifier neither repeats nor loses notifications.
mod persistence;
/// Debian's Prometheus posting its alerts to Lookout.
mod prometheus;
/// Inhibition, silences, `continue`, `group_by: [...]`, time intervals.
mod semantics;
/// group_wait / group_interval / repeat_interval timelines.
mod timing;
