//! Load balancer health as input (cargo feature `aws`): each `target_health:` entry of a
//! policy file polls `DescribeTargetHealth` for an ALB/NLB target group and writes the
//! counts into the series store, where scaler queries and alert rules read them:
//!
//! - `lookout_lb_targets{target_group="api", state="healthy"}`: targets per state, every
//!   state written each poll (0 when none), so `lookout_lb_targets{state="unhealthy"} > 0`
//!   holds or not rather than vanishing;
//! - `lookout_lb_target_health_up{target_group="api"}`: 1 when the poll succeeded, 0 when it
//!   failed (the target counts are then not written, and go stale as Prometheus' would).
//!
//! States are ELBv2's: `initial`, `healthy`, `unhealthy`, `unhealthy.draining`, `unused`,
//! `draining`, `unavailable`. HTTP health endpoints need no load balancer: uptime probes
//! (`probes:` in the pipeline) check them and write `probe_success`.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::config::retry::RetryConfig;
use tokio_util::sync::CancellationToken;

use crate::aws::{Failure, classify, retry_policy, sdk_config};
use crate::policy::TargetHealthConfig;
use crate::{MetricSource, Sample};

/// ELBv2's target health states, in its documentation's order.
const STATES: [&str; 7] =
    ["initial", "healthy", "unhealthy", "unhealthy.draining", "unused", "draining", "unavailable"];

/// Polls `cfg`'s target group every `interval_seconds` until `shutdown`, writing to `source`.
pub(crate) async fn run(cfg: TargetHealthConfig, source: Arc<dyn MetricSource>, shutdown: CancellationToken) {
    let shared = sdk_config(&cfg.api).await;
    let conf =
        aws_sdk_elasticloadbalancingv2::config::Builder::from(&shared).retry_config(RetryConfig::disabled()).build();
    let client = Client::from_conf(conf);
    let mut ticker = tokio::time::interval(Duration::from_secs(cfg.interval_seconds));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let polled = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = poll(&client, &cfg.target_group_arn) => r,
        };
        let now = chrono::Utc::now().timestamp_millis();
        let states = match polled {
            Ok(states) => Some(states),
            Err(e) => {
                tracing::warn!(target_group = %cfg.target_group_arn, error = %e, "Cannot read target health.");
                None
            }
        };
        source.record(&samples(&cfg.name, states.as_deref()), now);
    }
}

/// The state of every registered target.
async fn poll(client: &Client, arn: &str) -> Result<Vec<String>, lookout_retry::Error<Failure>> {
    let call = || async {
        let out = client.describe_target_health().target_group_arn(arn).send().await.map_err(|e| classify(&e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| d.target_health().and_then(|h| h.state()).map_or("unknown", |s| s.as_str()).to_string())
            .collect())
    };
    lookout_retry::retry(&retry_policy(), call).await
}

/// The series of one poll; `states` is `None` when it failed.
fn samples(target_group: &str, states: Option<&[String]>) -> Vec<Sample> {
    let sample = |name: &str, extra: Option<(&str, &str)>, value: f64| {
        let mut labels = vec![("target_group".to_string(), target_group.to_string())];
        labels.extend(extra.map(|(k, v)| (k.to_string(), v.to_string())));
        Sample { name: name.to_string(), labels, value }
    };
    let mut out = vec![sample("lookout_lb_target_health_up", None, if states.is_some() { 1.0 } else { 0.0 })];
    if let Some(states) = states {
        // A state ELBv2 adds later is counted too, under its own name.
        let new: std::collections::BTreeSet<&str> =
            states.iter().map(String::as_str).filter(|s| !STATES.contains(s)).collect();
        for s in STATES.into_iter().chain(new) {
            let n = states.iter().filter(|x| x.as_str() == s).count();
            out.push(sample("lookout_lb_targets", Some(("state", s)), n as f64));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_written_and_a_failed_poll_only_says_so() {
        let states = ["healthy", "warming", "healthy", "unhealthy", "warming"].map(String::from);
        let out = samples("api", Some(&states));
        let value = |state: &str| {
            out.iter().find(|s| s.labels.contains(&("state".to_string(), state.to_string()))).map(|s| s.value)
        };
        assert_eq!(value("healthy"), Some(2.0));
        assert_eq!(value("unhealthy"), Some(1.0));
        assert_eq!(value("draining"), Some(0.0));
        assert_eq!(value("warming"), Some(2.0));
        assert_eq!(out.len(), 1 + STATES.len() + 1);
        assert!(out.iter().all(|s| s.labels[0] == ("target_group".to_string(), "api".to_string())));
        assert_eq!(out[0].value, 1.0);

        let failed = samples("api", None);
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].name.as_str(), failed[0].value), ("lookout_lb_target_health_up", 0.0));
    }
}
