//! The replay loop: evaluate every group at each of its steps in time order, and turn
//! the alert states seen after each evaluation into episodes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use lookout_template::QueryHook;
use lookout_tsdb::promql::Value;
use lookout_tsdb::{Labels, Store, StoreConfig};
use promql_parser::parser::Expr;

use super::selectors::{SelectorWindow, could_match_name, selector_windows};
use super::source::{SampleSource, selector_text};
use super::{BacktestError, Episode, GroupRun, Report, RuleErrors, SentAlert, Settings};
use crate::EvalError;
use crate::alert::AlertState;
use crate::datasource::{Datasource, LocalDatasource, template_samples};
use crate::file::{Rule, RuleGroup};
use crate::group::{EvalContext, GroupState, Health, eval_group};

/// Names the backtest produces itself, so never reads from the source.
fn produced_names(groups: &[RuleGroup]) -> HashSet<String> {
    let mut names = HashSet::new();
    for r in groups.iter().flat_map(|g| &g.rules) {
        match r {
            Rule::Recording(r) => {
                names.insert(r.name.clone());
            }
            Rule::Alerting(_) => {
                names.insert("ALERTS".to_string());
                names.insert("ALERTS_FOR_STATE".to_string());
            }
        }
    }
    names
}

/// Rules go to the source unless they read a produced name; those run locally.
struct BacktestDatasource {
    source: Arc<dyn SampleSource>,
    local: LocalDatasource,
    local_exprs: HashSet<String>,
}

impl Datasource for BacktestDatasource {
    fn query(&self, expr: &Expr, text: &str, t_ms: i64) -> Result<Value, EvalError> {
        if self.local_exprs.contains(text) {
            self.local.query(expr, text, t_ms)
        } else {
            self.source.query(expr, text, t_ms).map_err(|e| EvalError::Query(e.0))
        }
    }

    /// Template `query` calls read the source, as they would on a live evaluation.
    fn template_query(&self, t_ms: i64) -> Option<QueryHook> {
        let source = self.source.clone();
        Some(Arc::new(move |q: &str| {
            let expr = lookout_tsdb::promql::parse(q)?;
            let v = source.query(&expr, q, t_ms).map_err(|e| e.0)?;
            template_samples(v).map_err(|e| e.to_string().into())
        }))
    }
}

/// One group prepared for replay.
struct Prepared {
    group: RuleGroup,
    interval_ms: i64,
    steps: u64,
    state: GroupState,
    /// Open episodes per rule: alert labels → index in the episode list.
    open: Vec<HashMap<Labels, usize>>,
    evaluations: u64,
    local_rules: usize,
}

/// Replays `groups` over `settings`' range against `source`.
pub fn run(groups: &[RuleGroup], source: Arc<dyn SampleSource>, settings: &Settings) -> Result<Report, BacktestError> {
    settings.validate()?;
    let produced = produced_names(groups);
    let lookback = settings.eval_options.lookback_delta_ms;
    let mut local_exprs = HashSet::new();
    // Per selector text: its matchers and the union of the windows rules need.
    let mut wanted: BTreeMap<String, SelectorWindow> = BTreeMap::new();
    let mut prepared = Vec::with_capacity(groups.len());
    for g in groups {
        let interval_ms = settings.step_ms.or(g.interval_ms).unwrap_or(settings.default_interval_ms).max(1);
        let steps = ((settings.to_ms - settings.from_ms) / interval_ms) as u64 + 1;
        if steps > settings.max_steps {
            return Err(BacktestError::TooManySteps { group: g.name.clone(), steps, max: settings.max_steps });
        }
        let offset = g.query_offset_ms.unwrap_or(0);
        let mut local_rules = 0;
        for rule in &g.rules {
            let windows = selector_windows(rule.expr(), settings.from_ms - offset, settings.to_ms - offset, lookback)
                .map_err(|source| BacktestError::Selector { rule: rule.name().to_string(), source })?;
            let reads_produced = windows.iter().any(|w| produced.iter().any(|n| could_match_name(&w.matchers, n)));
            if !reads_produced {
                continue;
            }
            local_rules += 1;
            local_exprs.insert(rule.expr_text().to_string());
            for w in windows {
                let key = selector_text(&w.matchers);
                match wanted.get_mut(&key) {
                    Some(have) => {
                        have.mint = have.mint.min(w.mint);
                        have.maxt = have.maxt.max(w.maxt);
                    }
                    None => {
                        wanted.insert(key, w);
                    }
                }
            }
        }
        let mut group = g.clone();
        // `eval_group` derives how long a sent alert stays valid from the interval.
        group.interval_ms = Some(interval_ms);
        prepared.push(Prepared {
            open: vec![HashMap::new(); g.rules.len()],
            group,
            interval_ms,
            steps,
            state: GroupState::default(),
            evaluations: 0,
            local_rules,
        });
    }

    let scratch = Arc::new(Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: usize::MAX }));
    let copied = copy_inputs(&*source, &wanted, &produced, &scratch, settings.max_samples)?;
    let datasource = BacktestDatasource {
        source: source.clone(),
        local: LocalDatasource { store: scratch.clone(), opts: settings.eval_options },
        local_exprs,
    };
    let mut ctx = EvalContext::new(&datasource, &*scratch);
    ctx.external_labels = &settings.external_labels;
    ctx.external_url = &settings.external_url;
    ctx.resend_delay_ms = settings.resend_delay_ms;
    ctx.default_interval_ms = settings.default_interval_ms;

    let mut episodes: Vec<Episode> = Vec::new();
    let mut errors: BTreeMap<(usize, usize), RuleErrors> = BTreeMap::new();
    let mut sent = Vec::new();
    // Groups evaluate in time order; at equal times in file order, as a later group
    // would (in the best case) see an earlier one's output.
    loop {
        let next = prepared
            .iter()
            .enumerate()
            .filter(|(_, p)| p.evaluations < p.steps)
            .map(|(i, p)| (settings.from_ms + p.evaluations as i64 * p.interval_ms, i))
            .min();
        let Some((t, gi)) = next else { break };
        let p = &mut prepared[gi];
        let out = eval_group(&p.group, &mut p.state, &ctx, t);
        p.evaluations += 1;
        if settings.keep_sent {
            if sent.len() + out.len() > settings.max_sent {
                return Err(BacktestError::TooManySends { max: settings.max_sent });
            }
            sent.extend(out.into_iter().map(|alert| SentAlert { at_ms: t, alert }));
        }
        for (ri, rule) in p.group.rules.iter().enumerate() {
            let Some(st) = p.state.rules.get(ri) else { continue };
            if st.health == Health::Err {
                let e = errors.entry((gi, ri)).or_insert_with(|| RuleErrors {
                    file: p.group.file.to_string(),
                    group: p.group.name.clone(),
                    rule: rule.name().to_string(),
                    count: 0,
                    first_at_ms: t,
                    first_error: st.last_error.clone().unwrap_or_default(),
                });
                e.count += 1;
            }
            if let Rule::Alerting(_) = rule {
                track(&p.group, rule.name(), &st.alerts, &mut p.open[ri], &mut episodes, t);
            }
        }
    }
    episodes
        .sort_by(|a, b| (a.pending_at_ms, &a.alertname, &a.labels).cmp(&(b.pending_at_ms, &b.alertname, &b.labels)));
    Ok(Report {
        source: source.describe(),
        from_ms: settings.from_ms,
        to_ms: settings.to_ms,
        groups: prepared
            .iter()
            .map(|p| GroupRun {
                file: p.group.file.to_string(),
                name: p.group.name.clone(),
                interval_ms: p.interval_ms,
                evaluations: p.evaluations,
                local_rules: p.local_rules,
            })
            .collect(),
        episodes,
        rule_errors: errors.into_values().collect(),
        sent,
        copied_samples: copied,
    })
}

/// Copies the source series that locally evaluated rules read, minus produced names.
fn copy_inputs(
    source: &dyn SampleSource,
    wanted: &BTreeMap<String, SelectorWindow>,
    produced: &HashSet<String>,
    scratch: &Store,
    max_samples: usize,
) -> Result<usize, BacktestError> {
    let mut copied = 0usize;
    let mut seen: HashSet<Labels> = HashSet::new();
    for w in wanted.values() {
        for s in source.select(&w.matchers, w.mint, w.maxt)? {
            if s.labels.name().is_some_and(|n| produced.contains(n)) {
                continue;
            }
            // Two selectors may return one series over different windows: the first
            // copy wins and later windows add only newer samples.
            let fresh = seen.insert(s.labels.clone());
            let newest = if fresh {
                i64::MIN
            } else {
                scratch
                    .select(&labels_matchers(&s.labels), i64::MIN, i64::MAX)
                    .first()
                    .and_then(|d| d.samples.last())
                    .map_or(i64::MIN, |x| x.t)
            };
            for x in s.samples.iter().filter(|x| x.t > newest) {
                copied += 1;
                if copied > max_samples {
                    return Err(BacktestError::TooManySamples { max: max_samples });
                }
                // Out-of-order samples are refused by the store, as by Prometheus.
                let _ = scratch.append(&s.labels, x.t, x.v);
            }
        }
    }
    Ok(copied)
}

fn labels_matchers(l: &Labels) -> Vec<lookout_tsdb::Matcher> {
    l.pairs().iter().map(|(k, v)| lookout_tsdb::Matcher::equal(k.clone(), v.clone())).collect()
}

/// Updates the episodes of one alerting rule from its alerts after an evaluation at `t`.
fn track(
    group: &RuleGroup,
    alertname: &str,
    alerts: &BTreeMap<Labels, crate::Alert>,
    open: &mut HashMap<Labels, usize>,
    episodes: &mut Vec<Episode>,
    t: i64,
) {
    for (labels, a) in alerts {
        match a.state {
            AlertState::Inactive => {
                if let Some(i) = open.remove(labels) {
                    episodes[i].ended_at_ms = Some(a.resolved_at_ms.unwrap_or(t));
                }
            }
            AlertState::Pending | AlertState::Firing => {
                let i = match open.get(labels) {
                    Some(&i) if episodes[i].pending_at_ms == a.active_at_ms => i,
                    stale => {
                        // A different stint under the same labels: the old one is over.
                        if let Some(&old) = stale {
                            episodes[old].ended_at_ms.get_or_insert(t);
                        }
                        episodes.push(Episode {
                            file: group.file.to_string(),
                            group: group.name.clone(),
                            alertname: alertname.to_string(),
                            labels: labels.pairs().iter().cloned().collect(),
                            pending_at_ms: a.active_at_ms,
                            firing_at_ms: None,
                            ended_at_ms: None,
                            kept_firing_since_ms: None,
                            value: a.value,
                            max_value: a.value,
                            annotations: BTreeMap::new(),
                        });
                        open.insert(labels.clone(), episodes.len() - 1);
                        episodes.len() - 1
                    }
                };
                let e = &mut episodes[i];
                e.max_value = e.max_value.max(a.value);
                if e.firing_at_ms.is_none() {
                    e.value = a.value;
                    e.annotations = a.annotations.iter().cloned().collect();
                    if a.state == AlertState::Firing {
                        e.firing_at_ms = Some(a.fired_at_ms.unwrap_or(t));
                    }
                }
                e.kept_firing_since_ms = a.keep_firing_since_ms;
            }
        }
    }
    // Pending alerts that disappeared, or every alert dropped by the group's limit.
    open.retain(|labels, i| {
        if alerts.contains_key(labels) {
            return true;
        }
        episodes[*i].ended_at_ms.get_or_insert(t);
        false
    });
}
