//! Alerting rule evaluation: the state machine of `rules/alerting.go` (`Eval`,
//! `sendAlerts`), step by step.
//!
//! Per evaluation at `t`: every result sample becomes an alert (result labels without
//! `__name__`, rule labels expanded and applied, `alertname` set); a new label set starts
//! pending with `active_at = t`; a pending alert fires once `t - active_at >= for`; an
//! alert missing from the result is dropped if pending, else resolved at `t` (unless
//! `keep_firing_for` keeps it firing since it first went missing) and kept for
//! [`RESOLVED_RETENTION_MS`] so that its resolution is re-sent.

use std::collections::{BTreeMap, BTreeSet};

use lookout_tsdb::Labels;

use crate::EvalError;
use crate::alert::{Alert, AlertState, RESOLVED_RETENTION_MS};
use crate::evidence;
use crate::file::AlertingRule;
use crate::group::{EvalContext, OutgoingAlert, RuleState};
use crate::recording::query_vector;
use crate::template::{AlertTemplateData, funcs};

/// Evaluates at `t_ms` (querying at `t_ms - query_offset_ms`); the `ALERTS` and
/// `ALERTS_FOR_STATE` samples to append.
pub(crate) fn eval(
    rule: &AlertingRule,
    st: &mut RuleState,
    ctx: &EvalContext,
    t_ms: i64,
    query_offset_ms: i64,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let query_t = t_ms.saturating_sub(query_offset_ms);
    let result = query_vector(ctx, &rule.expr, &rule.expr_text, query_t)?;
    let mut fresh: BTreeMap<Labels, Alert> = BTreeMap::new();
    // Looked up once per evaluation, shared out to the alerts below.
    let candidates = if result.is_empty() {
        Vec::new()
    } else {
        let (selectors, window) = evidence::selectors(&rule.expr);
        ctx.datasource.exemplars(&selectors, query_t.saturating_sub(window), query_t)
    };
    // Templates' `query` runs at the evaluation time, not the offset query time (as
    // Prometheus's expander is given `ts`); the hook is only made when it can be called.
    let templated = rule.templates.any() && !result.is_empty();
    let funcs = funcs(if templated && rule.templates.may_query() { ctx.datasource.template_query(t_ms) } else { None });
    for (labels, value) in result {
        let evidence = evidence::for_alert(&candidates, &labels, &[]);
        let (label_values, annotation_values) = if templated {
            let data = AlertTemplateData {
                labels: labels.pairs(),
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value,
                evidence: &evidence,
            }
            .to_value();
            (rule.templates.expand_labels(&data, &funcs), rule.templates.expand_annotations(&data, &funcs))
        } else {
            (
                rule.labels.iter().map(|(_, v)| v.clone()).collect(),
                rule.annotations.iter().map(|(_, v)| v.clone()).collect(),
            )
        };
        let pairs = labels.pairs().iter().filter(|(k, _)| k != "__name__").cloned();
        let rule_labels = rule.labels.iter().map(|(k, _)| k.clone()).zip(label_values);
        let alert_labels = Labels::new(pairs.chain(rule_labels).chain([("alertname".to_string(), rule.name.clone())]));
        let mut annotations: Vec<(String, String)> =
            rule.annotations.iter().map(|(k, _)| k.clone()).zip(annotation_values).collect();
        annotations.sort();
        if fresh.contains_key(&alert_labels) {
            return Err(EvalError::DuplicateLabelset("alert"));
        }
        let alert = Alert {
            labels: alert_labels.clone(),
            annotations,
            state: AlertState::Pending,
            value,
            active_at_ms: t_ms,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_sent_ms: None,
            valid_until_ms: 0,
            keep_firing_since_ms: None,
            evidence,
        };
        fresh.insert(alert_labels, alert);
    }
    let returned: BTreeSet<Labels> = fresh.keys().cloned().collect();
    for (labels, a) in fresh {
        match st.alerts.get_mut(&labels) {
            // An alert still active keeps its timestamps; only value and annotations move.
            Some(existing) if existing.state != AlertState::Inactive => {
                existing.value = a.value;
                existing.annotations = a.annotations;
                existing.evidence = a.evidence;
            }
            // New, or resolved and back: starts over as pending.
            _ => {
                st.alerts.insert(labels, a);
            }
        }
    }

    let mut samples = Vec::new();
    let mut active = 0usize;
    st.alerts.retain(|labels, a| {
        if !returned.contains(labels) {
            let mut keep_firing = false;
            if a.state == AlertState::Firing && rule.keep_firing_for_ms > 0 {
                let since = *a.keep_firing_since_ms.get_or_insert(t_ms);
                keep_firing = t_ms.saturating_sub(since) < rule.keep_firing_for_ms;
            }
            let delete = a.state == AlertState::Pending
                || a.resolved_at_ms.is_some_and(|r| t_ms.saturating_sub(r) > RESOLVED_RETENTION_MS);
            if a.state != AlertState::Inactive && !keep_firing {
                a.state = AlertState::Inactive;
                a.resolved_at_ms = Some(t_ms);
            }
            if !keep_firing {
                return !delete;
            }
        } else {
            a.keep_firing_since_ms = None;
        }
        active += 1;
        if a.state == AlertState::Pending && t_ms.saturating_sub(a.active_at_ms) >= rule.for_ms {
            a.state = AlertState::Firing;
            a.fired_at_ms = Some(t_ms);
        }
        samples.push((series(rule, a, "ALERTS", Some(a.state)), 1.0));
        samples.push((series(rule, a, "ALERTS_FOR_STATE", None), a.active_at_ms.div_euclid(1000) as f64));
        true
    });
    if limit > 0 && active > limit {
        // Prometheus drops every alert of the rule, so that they all resolve.
        st.alerts.clear();
        return Err(EvalError::Limit { limit, count: active, what: "alerts" });
    }
    Ok(samples)
}

/// `ALERTS{...}` / `ALERTS_FOR_STATE{...}`: the rule's (unexpanded) labels, overridden
/// by the alert's, then the name, `alertname` and (for `ALERTS`) `alertstate`.
fn series(rule: &AlertingRule, a: &Alert, name: &str, state: Option<AlertState>) -> Labels {
    let mut pairs: Vec<(String, String)> = rule.labels.clone();
    pairs.extend(a.labels.pairs().iter().cloned());
    pairs.push(("__name__".to_string(), name.to_string()));
    pairs.push(("alertname".to_string(), rule.name.clone()));
    if let Some(s) = state {
        pairs.push(("alertstate".to_string(), s.as_str().to_string()));
    }
    Labels::new(pairs)
}

/// The alerts due at `t_ms` (`sendAlerts` + `SendAlerts`), marking them sent.
pub(crate) fn send(
    rule: &AlertingRule,
    st: &mut RuleState,
    ctx: &EvalContext,
    t_ms: i64,
    interval_ms: i64,
) -> Vec<OutgoingAlert> {
    let generator_url = format!("{}{}", ctx.external_url, rule.graph_path);
    let mut out = Vec::new();
    for a in st.alerts.values_mut() {
        if !a.needs_sending(t_ms, ctx.resend_delay_ms) {
            continue;
        }
        a.last_sent_ms = Some(t_ms);
        // Allow for two failed evaluations or sends before Alertmanager resolves it.
        a.valid_until_ms = t_ms.saturating_add(interval_ms.max(ctx.resend_delay_ms).saturating_mul(4));
        // External labels only where the alert lacks the label (the notifier's rule).
        let extra = ctx.external_labels.iter().filter(|(k, _)| a.labels.get(k).is_none()).cloned();
        let labels = Labels::new(a.labels.pairs().iter().cloned().chain(extra));
        out.push(OutgoingAlert {
            labels,
            annotations: a.annotations.clone(),
            starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
            ends_at_ms: a.resolved_at_ms.unwrap_or(a.valid_until_ms),
            generator_url: generator_url.clone(),
            evidence: a.evidence.clone(),
        });
    }
    out
}

/// `strutil.TableLinkForExpression`: `/graph?g0.expr=ESCAPED&g0.tab=1`.
pub fn table_link(expr: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", query_escape(expr))
}

/// Go's `url.QueryEscape` (one copy, in `lookout-template`).
pub fn query_escape(s: &str) -> String {
    lookout_template::quote::query_escape(s)
}
