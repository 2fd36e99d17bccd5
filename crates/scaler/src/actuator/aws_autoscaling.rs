//! The `aws_autoscaling` actuator (cargo feature `aws`): an EC2 Auto Scaling group through
//! `aws-sdk-autoscaling`.
//!
//! - **Observe**: `DescribeAutoScalingGroups` for the group gives `DesiredCapacity` (the
//!   scaler's `current` when the policy has no `replicas` query), `MinSize`/`MaxSize` (the
//!   decision's bounds are narrowed to them, with a `GroupLimits` reason) and the instances,
//!   counted as series: `lookout_asg_desired_capacity`, `lookout_asg_min_size`,
//!   `lookout_asg_max_size`, `lookout_asg_in_service_instances` (lifecycle `InService`) and
//!   `lookout_asg_healthy_instances` (`InService` and health `Healthy`), each with `group`
//!   (and, from the engine, `scaler`) labels, so queries and alert rules can use them.
//! - **Apply**: `SetDesiredCapacity` with `HonorCooldown` as configured, only when the count
//!   changes. AWS's refusal (`ScalingActivityInProgress` during the cooldown, a
//!   `ValidationError`) is returned with its code; the engine records it in the decision's
//!   reasons and counts it.
//!
//! Credentials come from the standard chain; retries are [`crate::aws`]'s.

use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::config::retry::RetryConfig;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use tokio::sync::OnceCell;

use crate::Sample;
use crate::aws::{Failure, classify, retry_policy, sdk_config};
use crate::decide::GroupLimits;
use crate::policy::AwsAutoscalingConfig;

use super::Observation;

/// Why the group cannot be read or resized: the last AWS failure and how many attempts ran.
#[derive(Debug, thiserror::Error)]
#[error("{call} on Auto Scaling group {group}: {failure} (after {attempts} attempt{s})", s = if *.attempts == 1 { "" } else { "s" })]
pub struct Error {
    /// `DescribeAutoScalingGroups` or `SetDesiredCapacity`.
    pub call: &'static str,
    /// The group.
    pub group: String,
    /// The last failure.
    pub failure: Failure,
    /// Attempts made.
    pub attempts: u32,
}

/// One Auto Scaling group.
pub struct AutoScalingGroupClient {
    cfg: AwsAutoscalingConfig,
    // The SDK configuration loads asynchronously (credential chain); built at first use.
    client: OnceCell<Client>,
}

impl AutoScalingGroupClient {
    /// A client for the group of `cfg`.
    pub fn new(cfg: &AwsAutoscalingConfig) -> AutoScalingGroupClient {
        AutoScalingGroupClient { cfg: cfg.clone(), client: OnceCell::new() }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let shared = sdk_config(&self.cfg.api).await;
                let conf =
                    aws_sdk_autoscaling::config::Builder::from(&shared).retry_config(RetryConfig::disabled()).build();
                Client::from_conf(conf)
            })
            .await
    }

    fn error(&self, call: &'static str, e: lookout_retry::Error<Failure>) -> Error {
        let attempts = e.attempts();
        Error { call, group: self.cfg.group.clone(), failure: e.into_last(), attempts }
    }

    /// Reads the group.
    pub async fn observe(&self) -> Result<Observation, Error> {
        let client = self.client().await;
        let call = || async {
            let out = client
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(&self.cfg.group)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let found = out.auto_scaling_groups.unwrap_or_default().into_iter();
            found.into_iter().find(|g| g.auto_scaling_group_name() == Some(self.cfg.group.as_str())).ok_or(Failure {
                code: "GroupNotFound".to_string(),
                message: "no such Auto Scaling group".to_string(),
                retry: false,
            })
        };
        let group = lookout_retry::retry(&retry_policy(), call)
            .await
            .map_err(|e| self.error("DescribeAutoScalingGroups", e))?;
        Ok(observation(&group))
    }

    /// Sets the desired capacity.
    pub async fn set_desired_capacity(&self, desired: i32) -> Result<(), Error> {
        let client = self.client().await;
        let call = || async {
            client
                .set_desired_capacity()
                .auto_scaling_group_name(&self.cfg.group)
                .desired_capacity(desired)
                .honor_cooldown(self.cfg.honor_cooldown)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify(&e))
        };
        lookout_retry::retry(&retry_policy(), call).await.map_err(|e| self.error("SetDesiredCapacity", e))
    }
}

/// What the scaler learns from one `DescribeAutoScalingGroups` answer.
fn observation(g: &AutoScalingGroup) -> Observation {
    let name = g.auto_scaling_group_name().unwrap_or_default();
    let in_service: Vec<_> =
        g.instances().iter().filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService)).collect();
    let healthy = in_service.iter().filter(|i| i.health_status() == Some("Healthy")).count();
    let labels = vec![("group".to_string(), name.to_string())];
    let sample = |metric: &str, value: f64| Sample { name: metric.to_string(), labels: labels.clone(), value };
    let mut series = vec![
        sample("lookout_asg_desired_capacity", g.desired_capacity.unwrap_or_default() as f64),
        sample("lookout_asg_min_size", g.min_size.unwrap_or_default() as f64),
        sample("lookout_asg_max_size", g.max_size.unwrap_or_default() as f64),
    ];
    series.push(sample("lookout_asg_in_service_instances", in_service.len() as f64));
    series.push(sample("lookout_asg_healthy_instances", healthy as f64));
    let desired = g.desired_capacity.unwrap_or_default();
    let limits = match (g.min_size, g.max_size) {
        (Some(min), Some(max)) => Some(GroupLimits { group: format!("Auto Scaling group {name}"), min, max }),
        _ => None,
    };
    let note = format!(
        "Auto Scaling group {name}: desired capacity {desired}, {} in service, {healthy} healthy",
        in_service.len()
    );
    Observation { replicas: desired, limits, note: Some(note), series }
}

#[cfg(test)]
mod tests {
    use aws_sdk_autoscaling::types::Instance;

    use super::*;

    fn instance(id: &str, state: LifecycleState, health: &str) -> Instance {
        Instance::builder()
            .instance_id(id)
            .lifecycle_state(state)
            .health_status(health)
            .availability_zone("eu-west-1a")
            .protected_from_scale_in(false)
            .build()
    }

    #[test]
    fn a_group_is_observed_with_its_limits_and_instance_counts() {
        let g = AutoScalingGroup::builder()
            .auto_scaling_group_name("api-asg")
            .min_size(2)
            .max_size(8)
            .desired_capacity(3)
            .default_cooldown(300)
            .availability_zones("eu-west-1a")
            .health_check_type("EC2")
            .created_time(aws_sdk_autoscaling::primitives::DateTime::from_secs(0))
            .instances(instance("i-1", LifecycleState::InService, "Healthy"))
            .instances(instance("i-2", LifecycleState::InService, "Unhealthy"))
            .instances(instance("i-3", LifecycleState::Pending, "Healthy"))
            .build();
        let o = observation(&g);
        assert_eq!(o.replicas, 3);
        assert_eq!(o.limits, Some(GroupLimits { group: "Auto Scaling group api-asg".to_string(), min: 2, max: 8 }));
        let value = |n: &str| o.series.iter().find(|s| s.name == n).map(|s| s.value);
        assert_eq!(value("lookout_asg_in_service_instances"), Some(2.0));
        assert_eq!(value("lookout_asg_healthy_instances"), Some(1.0));
        assert_eq!(value("lookout_asg_max_size"), Some(8.0));
        assert!(o.series.iter().all(|s| s.labels.contains(&("group".to_string(), "api-asg".to_string()))));
        assert_eq!(o.note.unwrap(), "Auto Scaling group api-asg: desired capacity 3, 2 in service, 1 healthy");
    }
}
