//! One evaluation of a rule group (`rules/group.go` `Eval`) and the state it carries
//! between evaluations and across reloads (`CopyState`).
//!
//! Rules run in file order at one timestamp; each rule's output is appended before the
//! next rule runs, so a later rule sees an earlier one's output at the same timestamp.
//! A series a rule returned last time but not this time gets a staleness marker. A rule
//! that fails keeps its previous output set, so its series go stale only once it
//! succeeds again (as Prometheus).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use lookout_tsdb::{Labels, stale_nan};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertState};
use crate::datasource::{Appender, Datasource};
use crate::file::{Rule, RuleGroup};
use crate::{alerting, recording};

/// A rule's health, as the Prometheus API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Health {
    /// Not evaluated yet.
    #[default]
    #[serde(rename = "unknown")]
    Unknown,
    /// The last evaluation succeeded.
    #[serde(rename = "ok")]
    Ok,
    /// The last evaluation failed.
    #[serde(rename = "err")]
    Err,
}

impl Health {
    /// `unknown`, `ok` or `err`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// What one rule carries between evaluations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule's name when this state was made (for matching on reload).
    pub name: String,
    /// Health of the last evaluation.
    pub health: Health,
    /// The error of the last evaluation, if it failed.
    pub last_error: Option<String>,
    /// Timestamp of the last evaluation (Unix ms).
    pub last_eval_ms: Option<i64>,
    /// How long the last evaluation took, in seconds.
    pub last_duration_seconds: f64,
    /// Alerting rules: alerts by label set (pending, firing, and resolved ones still
    /// within the retention).
    #[serde(with = "crate::serde_labels::alerts")]
    pub alerts: BTreeMap<Labels, Alert>,
    /// The series appended by the last successful evaluation (to mark stale the ones
    /// that disappear).
    #[serde(with = "crate::serde_labels::set")]
    pub previous_series: BTreeSet<Labels>,
}

impl RuleState {
    /// The highest state of its alerts (`firing` > `pending` > `inactive`), `None` when
    /// it has none.
    pub fn state(&self) -> Option<AlertState> {
        self.alerts.values().map(|a| a.state).max()
    }
}

/// What a group carries between evaluations; persisted by the engine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupState {
    /// Per rule, in the group's rule order.
    pub rules: Vec<RuleState>,
    /// Series of rules removed by a reload: marked stale at the next evaluation.
    #[serde(with = "crate::serde_labels::set")]
    pub stale_series: BTreeSet<Labels>,
    /// Timestamp of the last group evaluation (Unix ms).
    pub last_eval_ms: Option<i64>,
    /// How long the last group evaluation took, in seconds.
    pub last_duration_seconds: f64,
}

impl GroupState {
    /// The state for `new_group` after a reload, taken from `old` (the state of
    /// `old_group`), as Prometheus's `CopyState`: a rule of the new group with the same
    /// name and labels as one of the old group (duplicates matched in order) keeps its
    /// alerts and its previous output; the output of old rules that found no match is
    /// marked stale at the next evaluation. Health starts over as unknown.
    pub fn carry_over(old: &GroupState, old_group: &RuleGroup, new_group: &RuleGroup) -> GroupState {
        let key = |r: &Rule| {
            let mut l = r.labels().to_vec();
            l.sort();
            (r.name().to_string(), l)
        };
        let mut unmatched: Vec<Option<usize>> = (0..old_group.rules.len()).map(Some).collect();
        let mut state = GroupState {
            rules: Vec::with_capacity(new_group.rules.len()),
            stale_series: old.stale_series.clone(),
            last_eval_ms: old.last_eval_ms,
            last_duration_seconds: old.last_duration_seconds,
        };
        for rule in &new_group.rules {
            let k = key(rule);
            let found = unmatched.iter_mut().find(|slot| slot.is_some_and(|i| key(&old_group.rules[i]) == k));
            let mut rs = RuleState { name: rule.name().to_string(), ..RuleState::default() };
            if let Some(slot) = found {
                let i = slot.take().expect("matched slot");
                if let Some(old_rs) = old.rules.get(i) {
                    rs.previous_series = old_rs.previous_series.clone();
                    if matches!((rule, &old_group.rules[i]), (Rule::Alerting(_), Rule::Alerting(_))) {
                        rs.alerts = old_rs.alerts.clone();
                    }
                }
            }
            state.rules.push(rs);
        }
        for i in unmatched.into_iter().flatten() {
            if let Some(old_rs) = old.rules.get(i) {
                state.stale_series.extend(old_rs.previous_series.iter().cloned());
            }
        }
        state
    }

    /// Makes the per-rule states line up with `group`'s rules when the caller did not
    /// [`carry_over`](GroupState::carry_over) (a fresh state, or a state from elsewhere):
    /// a state whose rule name differs starts over, and the output of states without a
    /// rule is marked stale.
    fn realign(&mut self, group: &RuleGroup) {
        for (i, rule) in group.rules.iter().enumerate() {
            match self.rules.get_mut(i) {
                Some(st) if st.name == rule.name() => {}
                Some(st) => {
                    self.stale_series.append(&mut st.previous_series);
                    *st = RuleState { name: rule.name().to_string(), ..RuleState::default() };
                }
                None => self.rules.push(RuleState { name: rule.name().to_string(), ..RuleState::default() }),
            }
        }
        for mut extra in self.rules.drain(group.rules.len()..) {
            self.stale_series.append(&mut extra.previous_series);
        }
    }

    /// Every alert of the group with the index of its rule.
    pub fn alerts(&self) -> impl Iterator<Item = (usize, &Alert)> {
        self.rules.iter().enumerate().flat_map(|(i, r)| r.alerts.values().map(move |a| (i, a)))
    }

    /// The state of rule `i`.
    pub fn rule(&self, i: usize) -> Option<&RuleState> {
        self.rules.get(i)
    }

    /// The health of rule `i` (unknown if never evaluated).
    pub fn rule_health(&self, i: usize) -> Health {
        self.rules.get(i).map(|r| r.health).unwrap_or_default()
    }

    /// Marks every series the group produced stale at `t_ms` (a group removed by a
    /// reload, as Prometheus does when it stops one).
    pub fn mark_stale(&self, appender: &dyn Appender, t_ms: i64) {
        let all = self.rules.iter().flat_map(|r| r.previous_series.iter()).chain(self.stale_series.iter());
        for l in all {
            appender.append(l, t_ms, stale_nan());
        }
    }
}

/// What evaluation reads from and writes to, and the global settings that shape alerts.
pub struct EvalContext<'a> {
    /// Where queries run.
    pub datasource: &'a dyn Datasource,
    /// Where output goes (usually the store the datasource reads).
    pub appender: &'a dyn Appender,
    /// Global external labels: `$externalLabels` in templates, added to sent alerts
    /// that lack them.
    pub external_labels: &'a [(String, String)],
    /// `$externalURL`, and the base of generator URLs.
    pub external_url: &'a str,
    /// How often a still-firing alert is re-sent (Prometheus default 1m).
    pub resend_delay_ms: i64,
    /// The interval of groups without `interval` (global `evaluation_interval`, default 1m).
    pub default_interval_ms: i64,
    /// The query offset of groups without `query_offset` (global `rule_query_offset`).
    pub default_query_offset_ms: i64,
}

impl<'a> EvalContext<'a> {
    /// Prometheus's defaults: no external labels or URL, 1m resend delay and interval,
    /// no query offset.
    pub fn new(datasource: &'a dyn Datasource, appender: &'a dyn Appender) -> EvalContext<'a> {
        EvalContext {
            datasource,
            appender,
            external_labels: &[],
            external_url: "",
            resend_delay_ms: 60_000,
            default_interval_ms: 60_000,
            default_query_offset_ms: 0,
        }
    }
}

/// An alert to hand to the notifier (Alertmanager's API fields).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingAlert {
    /// Alert labels, external labels added where missing.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: Vec<(String, String)>,
    /// `startsAt`: when it fired.
    pub starts_at_ms: i64,
    /// `endsAt`: when it resolved, or until when it is valid if still firing.
    pub ends_at_ms: i64,
    /// Link to the expression in the UI.
    pub generator_url: String,
    /// What made it fire (exemplars of the series its rule read).
    pub evidence: Vec<lookout_receivers::Evidence>,
}

/// Alertmanager's model of the alert: what the notifier takes, in process, exactly as
/// `POST /api/v2/alerts` would deliver it.
impl From<OutgoingAlert> for lookout_receivers::Alert {
    fn from(a: OutgoingAlert) -> Self {
        let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        lookout_receivers::Alert {
            labels: a.labels.pairs().iter().cloned().collect(),
            annotations: a.annotations.into_iter().collect(),
            starts_at: time(a.starts_at_ms),
            ends_at: Some(time(a.ends_at_ms)),
            generator_url: a.generator_url,
            evidence: a.evidence,
        }
    }
}

/// Evaluates every rule of `group` at `t_ms`, updating `state`; returns the alerts to
/// send now.
pub fn eval_group(group: &RuleGroup, state: &mut GroupState, ctx: &EvalContext, t_ms: i64) -> Vec<OutgoingAlert> {
    let started = Instant::now();
    let query_offset = group.query_offset_ms.unwrap_or(ctx.default_query_offset_ms);
    let interval = group.interval_ms.unwrap_or(ctx.default_interval_ms);
    let sample_t = t_ms.saturating_sub(query_offset);
    state.realign(group);
    // Prometheus's storage refuses a second, different sample for a series at one
    // timestamp, so within an evaluation the first write wins (a series dropped by one
    // rule and produced by a later one stays stale, as there) and the refused write is
    // the writing rule's error (`rules/group.go` sets it as the rule's last error). The
    // store would let the last write win: check what this evaluation already wrote.
    let mut written: HashMap<Labels, u64> = HashMap::new();
    let mut write = |labels: &Labels, v: f64| -> Result<(), ()> {
        match written.get(labels) {
            Some(bits) if *bits == v.to_bits() => Ok(()),
            Some(_) => Err(()),
            None => {
                ctx.appender.append(labels, sample_t, v);
                written.insert(labels.clone(), v.to_bits());
                Ok(())
            }
        }
    };
    let mut out = Vec::new();
    for (rule, st) in group.rules.iter().zip(state.rules.iter_mut()) {
        let rule_started = Instant::now();
        let result = match rule {
            Rule::Recording(r) => recording::eval(r, ctx, sample_t, group.limit),
            Rule::Alerting(r) => alerting::eval(r, st, ctx, t_ms, query_offset, group.limit),
        };
        match result {
            Err(e) => {
                st.health = Health::Err;
                st.last_error = Some(e.to_string());
            }
            Ok(samples) => {
                st.health = Health::Ok;
                st.last_error = None;
                if let Rule::Alerting(r) = rule {
                    out.extend(alerting::send(r, st, ctx, t_ms, interval));
                }
                let mut returned = BTreeSet::new();
                let mut duplicates = 0usize;
                for (labels, v) in samples {
                    match write(&labels, v) {
                        Ok(()) => {
                            returned.insert(labels);
                        }
                        Err(()) => duplicates += 1,
                    }
                }
                for gone in st.previous_series.difference(&returned) {
                    duplicates += usize::from(write(gone, stale_nan()).is_err());
                }
                st.previous_series = returned;
                if duplicates > 0 {
                    st.health = Health::Err;
                    st.last_error = Some("duplicate sample for timestamp".to_string());
                }
            }
        }
        st.last_eval_ms = Some(t_ms);
        st.last_duration_seconds = rule_started.elapsed().as_secs_f64();
    }
    for l in std::mem::take(&mut state.stale_series) {
        // A removed rule's series that a kept rule wrote stays written.
        let _ = write(&l, stale_nan());
    }
    state.last_eval_ms = Some(t_ms);
    state.last_duration_seconds = started.elapsed().as_secs_f64();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_alert_as_the_notifier_takes_it() {
        let a = OutgoingAlert {
            labels: Labels::new([("alertname".to_string(), "Down".to_string())]),
            annotations: vec![("summary".to_string(), "down".to_string())],
            starts_at_ms: 1_000,
            ends_at_ms: 61_000,
            generator_url: "http://x/graph".to_string(),
            evidence: Vec::new(),
        };
        let n: lookout_receivers::Alert = a.into();
        assert_eq!(n.labels["alertname"], "Down");
        assert_eq!(n.annotations["summary"], "down");
        assert_eq!(n.starts_at.timestamp_millis(), 1_000);
        assert_eq!(n.ends_at.map(|t| t.timestamp_millis()), Some(61_000));
        assert_eq!(n.generator_url, "http://x/graph");
    }
}
