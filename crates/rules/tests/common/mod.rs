//! A harness: one rule file over a real store, evaluated at explicit times.

#![allow(dead_code)]

use std::sync::Arc;

use lookout_rules::{EvalContext, GroupState, LocalDatasource, OutgoingAlert, RuleGroup, eval_group, parse_rule_file};
use lookout_tsdb::{Labels, MatchOp, Matcher, Store, StoreConfig, is_stale};

pub const MIN: i64 = 60_000;

pub struct Harness {
    pub store: Arc<Store>,
    pub ds: LocalDatasource,
    pub group: RuleGroup,
    pub state: GroupState,
    pub external_labels: Vec<(String, String)>,
    pub external_url: String,
    pub resend_delay_ms: i64,
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

impl Harness {
    /// The first group of `yaml`.
    pub fn new(yaml: &str) -> Harness {
        let group = parse_rule_file("t.yml", yaml).unwrap_or_else(|e| panic!("{e}")).remove(0);
        let store = Arc::new(Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 10_000 }));
        Harness {
            ds: LocalDatasource::new(store.clone()),
            store,
            group,
            state: GroupState::default(),
            external_labels: Vec::new(),
            external_url: "http://lookout:9090".to_string(),
            resend_delay_ms: MIN,
        }
    }

    /// Appends `v` at `t` to the series `pairs`.
    pub fn set(&self, pairs: &[(&str, &str)], t: i64, v: f64) {
        self.store.append(&labels(pairs), t, v).unwrap();
    }

    pub fn eval(&mut self, t: i64) -> Vec<OutgoingAlert> {
        let mut ctx = EvalContext::new(&self.ds, &*self.store);
        ctx.external_labels = &self.external_labels;
        ctx.external_url = &self.external_url;
        ctx.resend_delay_ms = self.resend_delay_ms;
        eval_group(&self.group, &mut self.state, &ctx, t)
    }

    /// The samples at exactly `t` of series named `name`, as `(labels text, value)`,
    /// staleness markers as `"stale"`.
    pub fn at(&self, name: &str, t: i64) -> Vec<(String, String)> {
        let m = [Matcher::new("__name__", MatchOp::Equal, name).unwrap()];
        let mut out: Vec<(String, String)> = self
            .store
            .select(&m, t, t)
            .into_iter()
            .flat_map(|s| {
                let l = s.labels.to_string();
                s.samples
                    .into_iter()
                    .map(move |x| (l.clone(), if is_stale(x.v) { "stale".into() } else { x.v.to_string() }))
            })
            .collect();
        out.sort();
        out
    }

    /// `(alertname/labels text, state)` of every alert in the state.
    pub fn alerts(&self) -> Vec<(String, &'static str)> {
        self.state.alerts().map(|(_, a)| (a.labels.to_string(), a.state.as_str())).collect()
    }
}

pub fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}
