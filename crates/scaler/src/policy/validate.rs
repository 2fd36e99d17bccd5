//! Checks of the raw file into the public types, with Kubernetes and AWS defaults filled in
//! and their API validation applied; every problem is collected as a [`ConfigError`] at its
//! position.

use std::collections::BTreeMap;
use std::sync::Arc;

use lookout_config::{ConfigError, ConfigErrors, Position};
use serde_saphyr::Spanned;

use super::raw::{
    RawActuator, RawAlert, RawMetric, RawRules, RawScaler, RawSchedule, RawStep, RawStepAdjustment, RawTarget,
};
use super::{ActuatorConfig, KubernetesConfig, MetricPolicy, ScalerPolicy, WebhookConfig, cloud};
use crate::alerts::AlertStep;
use crate::hpa::{Behavior, PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy, Target, Tolerances};
use crate::quantity::Quantity;
use crate::schedule::{Schedule, parse_cron, parse_timezone};
use crate::step::{AdjustmentType, Comparison, StepAdjustment, StepKind, StepPolicy};

/// Collects the errors of one file.
pub(crate) struct Checker {
    pub(crate) file: Arc<str>,
    pub(crate) errors: Vec<ConfigError>,
}

impl Checker {
    pub(crate) fn new(file: &str) -> Self {
        Checker { file: Arc::from(file), errors: Vec::new() }
    }

    pub(crate) fn pos<T>(&self, s: &Spanned<T>) -> Position {
        Position { file: self.file.clone(), line: s.referenced.line(), column: s.referenced.column() }
    }

    pub(crate) fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        let p = self.pos(at);
        self.errors.push(ConfigError::new(p, message));
    }

    pub(crate) fn int<T: TryFrom<i64>>(&mut self, v: &Spanned<i64>, min: i64, max: i64, what: &str) -> Option<T> {
        if v.value < min || v.value > max {
            self.err(v, format!("{what} must be between {min} and {max}, got {}", v.value));
            return None;
        }
        T::try_from(v.value).ok()
    }

    fn query(&mut self, q: &Spanned<String>) {
        if let Err(e) = lookout_tsdb::promql::parse(&q.value) {
            self.err(q, format!("invalid PromQL query: {e}"));
        }
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() { Ok(value) } else { Err(ConfigErrors(self.errors).sorted()) }
    }
}

pub(crate) fn check_scalers(c: &mut Checker, raw: Vec<Spanned<RawScaler>>) -> Vec<ScalerPolicy> {
    let mut seen: BTreeMap<String, Position> = BTreeMap::new();
    let mut out = Vec::new();
    for s in raw {
        let name = &s.value.name;
        if name.value.is_empty() {
            c.err(name, "scaler name must not be empty");
        } else if let Some(first) = seen.get(&name.value) {
            let msg = format!("scaler name `{}` is already used at {first}", name.value);
            c.err(name, msg);
        } else {
            seen.insert(name.value.clone(), c.pos(name));
        }
        if let Some(p) = check_scaler(c, s.value) {
            out.push(p);
        }
    }
    out
}

fn check_scaler(c: &mut Checker, s: RawScaler) -> Option<ScalerPolicy> {
    let before = c.errors.len();
    let max: i32 = c.int(&s.max_replicas, 1, i32::MAX as i64, "maxReplicas").unwrap_or(1);
    let min: i32 = match &s.min_replicas {
        Some(m) => c.int(m, 0, i32::MAX as i64, "minReplicas").unwrap_or(0),
        None => 1,
    };
    if min > max {
        let at = s.min_replicas.as_ref().map(|m| c.pos(m)).unwrap_or_else(|| c.pos(&s.max_replicas));
        c.errors.push(ConfigError::new(at, format!("minReplicas ({min}) must not exceed maxReplicas ({max})")));
    }
    let interval = match &s.interval_seconds {
        Some(i) => c.int(i, 1, 86_400, "intervalSeconds").unwrap_or(15),
        None => 15,
    };
    let replicas_query = s.replicas.map(|r| {
        c.query(&r.query);
        r.query.value
    });
    let mut metrics = Vec::new();
    let mut metric_names: BTreeMap<String, ()> = BTreeMap::new();
    for m in &s.metrics {
        let m = &m.value;
        if m.name.value.is_empty() {
            c.err(&m.name, "metric name must not be empty");
        } else if metric_names.insert(m.name.value.clone(), ()).is_some() {
            let msg = format!("metric name `{}` is used twice", m.name.value);
            c.err(&m.name, msg);
        }
        c.query(&m.query);
        if let Some(target) = check_target(c, &m.target) {
            metrics.push(MetricPolicy { name: m.name.value.clone(), query: m.query.value.clone(), target });
        }
    }
    if min == 0
        && let Some(m) = s.metrics.iter().find(|m| m.value.target.value.kind.value == "Utilization")
    {
        // Kubernetes allows minReplicas 0 only for Object and External metrics: there is no
        // utilization to average over zero pods.
        c.err(&m.value.target, "minReplicas 0 cannot be used with a Utilization target (no replicas to average over)");
    }
    let (behavior, tolerances) = match &s.behavior {
        None => (None, Tolerances::default()),
        Some(b) => {
            let up = check_rules(c, b.scale_up.as_ref(), ScalingRules::default_scale_up());
            let down = check_rules(c, b.scale_down.as_ref(), ScalingRules::default_scale_down());
            let tol = Tolerances { scale_down: down.tolerance, scale_up: up.tolerance };
            (Some(Behavior { scale_up: up, scale_down: down }), tol)
        }
    };
    let steps = s.steps.iter().filter_map(|st| check_step(c, &st.value, &s.metrics)).collect();
    let schedules = s.schedules.iter().filter_map(|sc| check_schedule(c, sc)).collect();
    let alerts = s.alerts.iter().filter_map(|a| check_alert(c, a)).collect();
    let actuator = match &s.actuator {
        None => ActuatorConfig::DryRun,
        Some(a) => check_actuator(c, a).unwrap_or(ActuatorConfig::DryRun),
    };
    if c.errors.len() > before {
        return None;
    }
    Some(ScalerPolicy {
        name: s.name.value,
        min_replicas: min,
        max_replicas: max,
        interval_seconds: interval,
        replicas_query,
        metrics,
        behavior,
        tolerances,
        steps,
        schedules,
        alerts,
        actuator,
    })
}

fn check_target(c: &mut Checker, t: &Spanned<RawTarget>) -> Option<Target> {
    let r = &t.value;
    let positive = |c: &mut Checker, q: &Spanned<Quantity>, what: &str| {
        if q.value.0 <= 0 {
            c.err(q, format!("{what} must be positive"));
        }
    };
    let unused = |c: &mut Checker, kind: &str, fields: &[(&str, bool)]| {
        for (f, set) in fields {
            if *set {
                c.err(t, format!("`{f}` is not used by a {kind} target"));
            }
        }
    };
    match r.kind.value.as_str() {
        "Utilization" => {
            unused(c, "Utilization", &[("averageValue", r.average_value.is_some()), ("value", r.value.is_some())]);
            let Some(u) = &r.average_utilization else {
                c.err(t, "a Utilization target needs `averageUtilization`");
                return None;
            };
            let u: i32 = c.int(u, 1, i32::MAX as i64, "averageUtilization")?;
            Some(Target::Utilization { average_utilization: u })
        }
        "AverageValue" => {
            unused(
                c,
                "AverageValue",
                &[("averageUtilization", r.average_utilization.is_some()), ("value", r.value.is_some())],
            );
            let Some(v) = &r.average_value else {
                c.err(t, "an AverageValue target needs `averageValue`");
                return None;
            };
            positive(c, v, "averageValue");
            Some(Target::AverageValue { average_value: v.value })
        }
        "Value" => {
            unused(
                c,
                "Value",
                &[("averageUtilization", r.average_utilization.is_some()), ("averageValue", r.average_value.is_some())],
            );
            let Some(v) = &r.value else {
                c.err(t, "a Value target needs `value`");
                return None;
            };
            positive(c, v, "value");
            Some(Target::Value { value: v.value })
        }
        other => {
            let msg = format!("unknown target type `{other}`, expected one of Utilization, AverageValue, Value");
            c.err(&r.kind, msg);
            None
        }
    }
}

/// Fills Kubernetes defaults into one direction's rules (`GenerateHPAScale{Up,Down}Rules`) and
/// applies the API server's validation.
fn check_rules(c: &mut Checker, r: Option<&RawRules>, defaults: ScalingRules) -> ScalingRules {
    let Some(r) = r else { return defaults };
    let mut out = defaults;
    if let Some(w) = &r.stabilization_window_seconds
        && let Some(w) = c.int(w, 0, 3600, "stabilizationWindowSeconds")
    {
        out.stabilization_window_seconds = w;
    }
    if let Some(p) = &r.select_policy {
        match p.value.as_str() {
            "Max" => out.select_policy = SelectPolicy::Max,
            "Min" => out.select_policy = SelectPolicy::Min,
            "Disabled" => out.select_policy = SelectPolicy::Disabled,
            other => {
                let msg = format!("unknown selectPolicy `{other}`, expected one of Max, Min, Disabled");
                c.err(p, msg);
            }
        }
    }
    if let Some(list) = &r.policies {
        if list.value.is_empty() {
            c.err(list, "must specify at least one policy");
        }
        let mut policies = Vec::new();
        for p in &list.value {
            let kind = match p.value.kind.value.as_str() {
                "Pods" => PolicyKind::Pods,
                "Percent" => PolicyKind::Percent,
                other => {
                    let msg = format!("unknown policy type `{other}`, expected Pods or Percent");
                    c.err(&p.value.kind, msg);
                    continue;
                }
            };
            let value = c.int(&p.value.value, 1, i32::MAX as i64, "value");
            let period = c.int(&p.value.period_seconds, 1, 1800, "periodSeconds");
            if let (Some(value), Some(period_seconds)) = (value, period) {
                policies.push(ScalingPolicy { kind, value, period_seconds });
            }
        }
        out.policies = policies;
    }
    if let Some(t) = &r.tolerance {
        if t.value.0 < 0 {
            c.err(t, "tolerance must not be negative");
        }
        out.tolerance = t.value.as_f64();
    }
    out
}

fn parse_enum<T: Copy>(c: &mut Checker, s: &Spanned<String>, what: &str, options: &[(&str, T)]) -> Option<T> {
    if let Some((_, v)) = options.iter().find(|(n, _)| *n == s.value) {
        return Some(*v);
    }
    let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
    let msg = format!("unknown {what} `{}`, expected one of {}", s.value, names.join(", "));
    c.err(s, msg);
    None
}

fn check_step(c: &mut Checker, s: &RawStep, metrics: &[Spanned<RawMetric>]) -> Option<StepPolicy> {
    let before = c.errors.len();
    let (query, metric) = match (&s.metric, &s.query) {
        (Some(m), None) => match metrics.iter().find(|x| x.value.name.value == m.value) {
            Some(x) => (x.value.query.value.clone(), Some(m.value.clone())),
            None => {
                let msg = format!("step policy reads metric `{}`, which this scaler does not define", m.value);
                c.err(m, msg);
                (String::new(), None)
            }
        },
        (None, Some(q)) => {
            c.query(q);
            (q.value.clone(), None)
        }
        _ => {
            c.err(&s.name, "a step policy needs exactly one of `metric` (a metric of this scaler) or `query`");
            (String::new(), None)
        }
    };
    use Comparison::*;
    let comparison = parse_enum(
        c,
        &s.comparison,
        "comparison",
        &[
            ("GreaterThanOrEqualToThreshold", GreaterThanOrEqualToThreshold),
            ("GreaterThanThreshold", GreaterThanThreshold),
            ("LessThanThreshold", LessThanThreshold),
            ("LessThanOrEqualToThreshold", LessThanOrEqualToThreshold),
        ],
    );
    let adjustment_type = parse_enum(
        c,
        &s.adjustment_type,
        "adjustmentType",
        &[
            ("ChangeInCapacity", AdjustmentType::ChangeInCapacity),
            ("ExactCapacity", AdjustmentType::ExactCapacity),
            ("PercentChangeInCapacity", AdjustmentType::PercentChangeInCapacity),
        ],
    );
    let exact = adjustment_type == Some(AdjustmentType::ExactCapacity);
    let kind = match (&s.scaling_adjustment, &s.step_adjustments) {
        (Some(a), None) => {
            if let Some(w) = &s.estimated_instance_warmup {
                c.err(w, "estimatedInstanceWarmup applies to step policies (`stepAdjustments`), use `cooldown`");
            }
            let cooldown = match &s.cooldown {
                Some(cd) => c.int(cd, 0, 86_400, "cooldown").unwrap_or(300),
                None => 300,
            };
            let adjustment = c.int(a, if exact { 0 } else { i32::MIN as i64 }, i32::MAX as i64, "scalingAdjustment");
            adjustment.map(|adjustment| StepKind::Simple { adjustment, cooldown_seconds: cooldown })
        }
        (None, Some(steps)) => {
            if let Some(cd) = &s.cooldown {
                c.err(cd, "cooldown applies to simple policies (`scalingAdjustment`), use `estimatedInstanceWarmup`");
            }
            let warmup = match &s.estimated_instance_warmup {
                Some(w) => c.int(w, 0, 86_400, "estimatedInstanceWarmup").unwrap_or(300),
                None => 300,
            };
            check_step_adjustments(c, steps, exact)
                .map(|adjustments| StepKind::Step { adjustments, warmup_seconds: warmup })
        }
        _ => {
            c.err(
                &s.name,
                "a step policy needs exactly one of `scalingAdjustment` (simple) or `stepAdjustments` (step)",
            );
            None
        }
    };
    let min_adjustment_magnitude = match &s.min_adjustment_magnitude {
        Some(m) => {
            if adjustment_type != Some(AdjustmentType::PercentChangeInCapacity) {
                c.err(m, "minAdjustmentMagnitude is valid only with adjustmentType PercentChangeInCapacity");
            }
            c.int(m, 1, i32::MAX as i64, "minAdjustmentMagnitude")
        }
        None => None,
    };
    if c.errors.len() > before {
        return None;
    }
    Some(StepPolicy {
        name: s.name.value.clone(),
        query,
        metric,
        comparison: comparison?,
        threshold: s.threshold.value,
        adjustment_type: adjustment_type?,
        kind: kind?,
        min_adjustment_magnitude,
    })
}

/// AWS rules: steps may not overlap or leave gaps; only the first may lack a lower bound and
/// only the last an upper bound.
fn check_step_adjustments(
    c: &mut Checker,
    steps: &Spanned<Vec<Spanned<RawStepAdjustment>>>,
    exact: bool,
) -> Option<Vec<StepAdjustment>> {
    if steps.value.is_empty() {
        c.err(steps, "stepAdjustments must not be empty");
        return None;
    }
    let mut out: Vec<(StepAdjustment, &Spanned<RawStepAdjustment>)> = Vec::new();
    for s in &steps.value {
        let r = &s.value;
        if r.metric_interval_lower_bound.is_none() && r.metric_interval_upper_bound.is_none() && steps.value.len() > 1 {
            c.err(s, "only a single step adjustment may leave both bounds open");
        }
        if let (Some(lo), Some(hi)) = (r.metric_interval_lower_bound, r.metric_interval_upper_bound)
            && lo >= hi
        {
            c.err(s, format!("metricIntervalLowerBound ({lo}) must be below metricIntervalUpperBound ({hi})"));
        }
        if exact && r.scaling_adjustment < 0 {
            c.err(s, "an ExactCapacity adjustment must not be negative");
        }
        let Ok(adjustment) = i32::try_from(r.scaling_adjustment) else {
            c.err(s, "scalingAdjustment is out of range");
            continue;
        };
        out.push((
            StepAdjustment { lower: r.metric_interval_lower_bound, upper: r.metric_interval_upper_bound, adjustment },
            s,
        ));
    }
    out.sort_by(|a, b| {
        a.0.lower
            .unwrap_or(f64::NEG_INFINITY)
            .partial_cmp(&b.0.lower.unwrap_or(f64::NEG_INFINITY))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for w in out.windows(2) {
        let (a, b) = (&w[0].0, &w[1].0);
        if a.upper != b.lower || a.upper.is_none() {
            c.err(w[1].1, "step adjustments must not overlap or leave a gap: each lower bound must equal the previous upper bound");
        }
    }
    Some(out.into_iter().map(|(s, _)| s).collect())
}

fn check_schedule(c: &mut Checker, s: &Spanned<RawSchedule>) -> Option<Schedule> {
    let r = &s.value;
    let before = c.errors.len();
    let start = parse_cron(&r.start.value).map_err(|e| c.err(&r.start, e.to_string())).ok();
    let end = parse_cron(&r.end.value).map_err(|e| c.err(&r.end, e.to_string())).ok();
    let timezone = match &r.timezone {
        Some(tz) => parse_timezone(&tz.value).map_err(|e| c.err(tz, e.to_string())).ok(),
        None => Some(chrono_tz::UTC),
    };
    let min = r.min_replicas.as_ref().and_then(|m| c.int::<i32>(m, 0, i32::MAX as i64, "minReplicas"));
    let max = r.max_replicas.as_ref().and_then(|m| c.int::<i32>(m, 1, i32::MAX as i64, "maxReplicas"));
    if r.min_replicas.is_none() && r.max_replicas.is_none() {
        c.err(s, "a schedule needs `minReplicas` and/or `maxReplicas`");
    }
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        c.err(s, format!("minReplicas ({a}) must not exceed maxReplicas ({b})"));
    }
    if c.errors.len() > before {
        return None;
    }
    Some(Schedule {
        name: r.name.value.clone(),
        start: start?,
        end: end?,
        timezone: timezone?,
        min_replicas: min,
        max_replicas: max,
    })
}

fn check_alert(c: &mut Checker, a: &Spanned<RawAlert>) -> Option<AlertStep> {
    let r = &a.value;
    if r.alert.value.is_empty() {
        c.err(&r.alert, "alert name must not be empty");
        return None;
    }
    if r.add.is_none() && r.at_least.is_none() {
        c.err(a, "an alert step needs `add` and/or `atLeast`");
        return None;
    }
    let add = r.add.as_ref().and_then(|v| c.int::<i32>(v, 1, 100_000, "add"));
    let at_least = r.at_least.as_ref().and_then(|v| c.int::<i32>(v, 0, i32::MAX as i64, "atLeast"));
    Some(AlertStep { alert: r.alert.value.clone(), add, at_least })
}

fn check_actuator(c: &mut Checker, a: &Spanned<RawActuator>) -> Option<ActuatorConfig> {
    let r = &a.value;
    let only = |c: &mut Checker, kind: &str, set: &[(&str, bool)]| {
        for (f, s) in set {
            if *s {
                c.err(a, format!("`{f}` does not apply to a {kind} actuator"));
            }
        }
    };
    let webhook_fields = [
        ("url", r.url.is_some()),
        ("headers", r.headers.is_some()),
        ("timeoutSeconds", r.timeout_seconds.is_some()),
        ("maxRetries", r.max_retries.is_some()),
    ];
    let kube_fields = [
        ("apiServer", r.api_server.is_some()),
        ("namespace", r.namespace.is_some()),
        ("resource", r.resource.is_some()),
        ("name", r.name.is_some()),
        ("tokenFile", r.token_file.is_some()),
        ("caFile", r.ca_file.is_some()),
    ];
    // The cloud groups' keys (aws_autoscaling, gcp_mig, azure_vmss): each type takes its own.
    for (f, present) in super::aws::actuator_fields(r).into_iter().chain(cloud::cloud_fields(r)) {
        if present && !cloud::accepts(&r.kind.value, f) {
            c.err(a, format!("`{f}` does not apply to a {} actuator", r.kind.value));
        }
    }
    let timeout = |c: &mut Checker, default: u64| {
        r.timeout_seconds.as_ref().and_then(|t| c.int::<u64>(t, 1, 300, "timeoutSeconds")).unwrap_or(default)
    };
    let retries =
        |c: &mut Checker| r.max_retries.as_ref().and_then(|t| c.int::<u32>(t, 0, 20, "maxRetries")).unwrap_or(3);
    match r.kind.value.as_str() {
        "dry_run" | "keda" => {
            only(c, &r.kind.value, &webhook_fields);
            only(c, &r.kind.value, &kube_fields);
            Some(if r.kind.value == "keda" { ActuatorConfig::Keda } else { ActuatorConfig::DryRun })
        }
        "webhook" => {
            only(c, "webhook", &kube_fields);
            let Some(url) = &r.url else {
                c.err(a, "a webhook actuator needs `url`");
                return None;
            };
            if reqwest::Url::parse(&url.value).map(|u| !u.scheme().starts_with("http")).unwrap_or(true) {
                // Not the URL itself: it may embed a credential.
                c.err(url, "invalid webhook url (an http:// or https:// URL is expected)");
            }
            Some(ActuatorConfig::Webhook(WebhookConfig {
                url: lookout_config::Secret::new(url.value.clone()),
                headers: r.headers.clone().unwrap_or_default(),
                timeout_seconds: timeout(c, 5),
                max_retries: retries(c),
            }))
        }
        "kubernetes" => {
            only(c, "kubernetes", &webhook_fields[..2]);
            if !cfg!(feature = "kubernetes") {
                c.err(&r.kind, "the kubernetes actuator is not compiled in (cargo feature `kubernetes`)");
            }
            let (Some(namespace), Some(name)) = (&r.namespace, &r.name) else {
                c.err(a, "a kubernetes actuator needs `namespace` and `name`");
                return None;
            };
            let resource = match &r.resource {
                Some(res) => match res.value.as_str() {
                    "deployments" | "statefulsets" | "replicasets" => res.value.clone(),
                    other => {
                        let msg =
                            format!("unknown resource `{other}`, expected deployments, statefulsets or replicasets");
                        c.err(res, msg);
                        return None;
                    }
                },
                None => "deployments".to_string(),
            };
            Some(ActuatorConfig::Kubernetes(KubernetesConfig {
                api_server: r.api_server.clone().unwrap_or_else(|| "https://kubernetes.default.svc".to_string()),
                namespace: namespace.clone(),
                resource,
                name: name.clone(),
                token_file: r.token_file.clone(),
                ca_file: r.ca_file.clone(),
            }))
        }
        "aws_autoscaling" => {
            only(c, "aws_autoscaling", &webhook_fields);
            only(c, "aws_autoscaling", &kube_fields);
            super::aws::check_autoscaling(c, a).map(ActuatorConfig::AwsAutoscaling)
        }
        "gcp_mig" => {
            only(c, "gcp_mig", &webhook_fields[..2]);
            only(c, "gcp_mig", &kube_fields.iter().filter(|(f, _)| *f != "tokenFile").copied().collect::<Vec<_>>());
            let (t, n) = (timeout(c, 15), retries(c));
            cloud::check_gcp_mig(c, a, t, n).map(ActuatorConfig::GcpMig)
        }
        "azure_vmss" => {
            only(c, "azure_vmss", &webhook_fields[..2]);
            only(c, "azure_vmss", &kube_fields);
            let (t, n) = (timeout(c, 15), retries(c));
            cloud::check_azure_vmss(c, a, t, n).map(ActuatorConfig::AzureVmss)
        }
        other => {
            let msg = format!(
                "unknown actuator type `{other}`, expected one of dry_run, webhook, keda, kubernetes, \
                 aws_autoscaling, gcp_mig, azure_vmss"
            );
            c.err(&r.kind, msg);
            None
        }
    }
}
