//! The AWS parts of a policy file: the `aws_autoscaling` actuator and the top-level
//! `target_health:` list (ALB target groups polled into series), as written and as checked.
//!
//! ```yaml
//! target_health:
//!   - target_group: arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/6d0ecf831eec9f09
//!     region: eu-west-1                  # default: the standard chain, else us-east-1
//!     endpoint: http://127.0.0.1:5000    # optional: LocalStack, moto, a VPC endpoint
//!     interval_seconds: 30               # default 30
//! scalers:
//!   - name: api
//!     maxReplicas: 10
//!     actuator: { type: aws_autoscaling, group: api-asg, region: eu-west-1, honor_cooldown: true }
//! ```

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::RawActuator;
use super::validate::Checker;

/// Where an AWS API is: region and endpoint override (credentials come from the standard chain).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AwsApi {
    /// `region`; `None`: the standard chain's, else `us-east-1`.
    pub region: Option<String>,
    /// `endpoint`: the service URL (LocalStack, moto, a VPC endpoint).
    pub endpoint: Option<String>,
}

/// `actuator: { type: aws_autoscaling, ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsAutoscalingConfig {
    /// The Auto Scaling group's name.
    pub group: String,
    /// Region and endpoint.
    pub api: AwsApi,
    /// `honor_cooldown`: `SetDesiredCapacity` waits for the group's cooldown (AWS refuses
    /// with `ScalingActivityInProgress` meanwhile). Default false, as in the AWS API.
    pub honor_cooldown: bool,
}

/// One entry of `target_health:`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHealthConfig {
    /// The target group's ARN.
    pub target_group_arn: String,
    /// Its name (from the ARN: `targetgroup/<name>/<id>`), the `target_group` label.
    pub name: String,
    /// Region and endpoint.
    pub api: AwsApi,
    /// Seconds between polls.
    pub interval_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTargetHealth {
    target_group: Spanned<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    endpoint: Option<Spanned<String>>,
    #[serde(default)]
    interval_seconds: Option<Spanned<i64>>,
}

/// The actuator's AWS keys, named as written, with whether each is set.
pub(crate) fn actuator_fields(r: &RawActuator) -> [(&'static str, bool); 4] {
    [
        ("group", r.group.is_some()),
        ("region", r.region.is_some()),
        ("endpoint", r.endpoint.is_some()),
        ("honor_cooldown", r.honor_cooldown.is_some()),
    ]
}

fn check_endpoint(c: &mut Checker, e: &Option<Spanned<String>>) -> Option<String> {
    let e = e.as_ref()?;
    if reqwest::Url::parse(&e.value).map(|u| !u.scheme().starts_with("http")).unwrap_or(true) {
        c.err(e, "invalid endpoint (an http:// or https:// URL is expected)");
    }
    Some(e.value.trim_end_matches('/').to_string())
}

pub(crate) fn check_autoscaling(c: &mut Checker, a: &Spanned<RawActuator>) -> Option<AwsAutoscalingConfig> {
    let r = &a.value;
    if !cfg!(feature = "aws") {
        c.err(&r.kind, "the aws_autoscaling actuator is not compiled in (cargo feature `aws`)");
    }
    let Some(group) = &r.group else {
        c.err(a, "an aws_autoscaling actuator needs `group` (the Auto Scaling group's name)");
        return None;
    };
    // AWS: 1 to 255 characters, no control characters.
    if group.value.is_empty() || group.value.len() > 255 || group.value.chars().any(char::is_control) {
        c.err(group, "`group` must be an Auto Scaling group name of 1 to 255 characters");
    }
    let endpoint = check_endpoint(c, &r.endpoint);
    Some(AwsAutoscalingConfig {
        group: group.value.clone(),
        api: AwsApi { region: r.region.clone(), endpoint },
        honor_cooldown: r.honor_cooldown.unwrap_or(false),
    })
}

pub(crate) fn check_target_health(c: &mut Checker, raw: Vec<Spanned<RawTargetHealth>>) -> Vec<TargetHealthConfig> {
    let mut out: Vec<TargetHealthConfig> = Vec::new();
    for t in raw {
        let r = &t.value;
        if !cfg!(feature = "aws") {
            c.err(&t, "target_health is not compiled in (cargo feature `aws`)");
        }
        // arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID
        let arn = &r.target_group.value;
        let name = arn
            .strip_prefix("arn:")
            .filter(|rest| rest.split(':').nth(1) == Some("elasticloadbalancing"))
            .and_then(|_| arn.split_once(":targetgroup/"))
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(name, _)| name.to_string())
            .filter(|n| !n.is_empty());
        let Some(name) = name else {
            c.err(
                &r.target_group,
                "target_group must be a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)",
            );
            continue;
        };
        if out.iter().any(|o| o.target_group_arn == *arn) {
            c.err(&r.target_group, "this target group is listed twice");
            continue;
        }
        let interval = match &r.interval_seconds {
            Some(i) if !(1..=3600).contains(&i.value) => {
                c.err(i, format!("interval_seconds must be between 1 and 3600, got {}", i.value));
                30
            }
            Some(i) => i.value as u64,
            None => 30,
        };
        let endpoint = check_endpoint(c, &r.endpoint);
        out.push(TargetHealthConfig {
            target_group_arn: arn.clone(),
            name,
            api: AwsApi { region: r.region.clone(), endpoint },
            interval_seconds: interval,
        });
    }
    out
}

#[cfg(all(test, feature = "aws"))] // without it, the checks refuse these files
mod tests {
    use crate::policy::{ActuatorConfig, parse_policy_file};

    use super::*;

    fn errors(text: &str) -> String {
        parse_policy_file("s.yml", text).unwrap_err().to_string()
    }

    #[test]
    fn the_issue_example_parses_as_written() {
        let text = "scalers:\n  - name: api\n    maxReplicas: 10\n    actuator:\n      type: aws_autoscaling\n      \
                    group: api-asg\n      region: eu-west-1\n      endpoint: http://127.0.0.1:5000   # moto\n      \
                    honor_cooldown: true\n";
        let f = parse_policy_file("s.yml", text).unwrap();
        assert_eq!(
            f.scalers[0].actuator,
            ActuatorConfig::AwsAutoscaling(AwsAutoscalingConfig {
                group: "api-asg".to_string(),
                api: AwsApi {
                    region: Some("eu-west-1".to_string()),
                    endpoint: Some("http://127.0.0.1:5000".to_string())
                },
                honor_cooldown: true,
            })
        );
        let f = parse_policy_file("s.yml", &text.replace("honor_cooldown: true", "honorCooldown: false")).unwrap();
        let ActuatorConfig::AwsAutoscaling(a) = &f.scalers[0].actuator else { panic!("aws_autoscaling") };
        assert!(!a.honor_cooldown);
    }

    #[test]
    fn actuator_mistakes_are_reported_at_their_position() {
        let e = errors("scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: { type: aws_autoscaling }\n");
        assert!(e.starts_with("s.yml:4:15: an aws_autoscaling actuator needs `group`"), "{e}");
        let e = errors(
            "scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: { type: aws_autoscaling, group: g, endpoint: 'ftp://x' }\n",
        );
        assert!(e.contains("s.yml:4:60: invalid endpoint"), "{e}");
        let e = errors(
            "scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: { type: aws_autoscaling, group: g, url: 'http://x' }\n",
        );
        assert!(e.contains("`url` does not apply to a aws_autoscaling actuator"), "{e}");
        let e = errors(
            "scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: { type: webhook, url: 'http://x', group: g }\n",
        );
        assert!(e.contains("`group` does not apply to a webhook actuator"), "{e}");
        let e = errors(
            "scalers:\n  - name: api\n    maxReplicas: 3\n    actuator: { type: aws_autoscaling, group: g, honour: true }\n",
        );
        assert!(e.starts_with("s.yml:4:"), "{e}");
    }

    #[test]
    fn target_groups_are_arns_named_by_their_name() {
        let arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/6d0ecf831eec9f09";
        let text = format!(
            "target_health:\n  - target_group: {arn}\n    region: eu-west-1\n    interval_seconds: 10\nscalers: []\n"
        );
        let f = parse_policy_file("s.yml", &text).unwrap();
        assert_eq!(f.target_health[0].name, "api");
        assert_eq!(f.target_health[0].interval_seconds, 10);
        assert_eq!(f.target_health[0].api.region.as_deref(), Some("eu-west-1"));

        let e = errors("target_health:\n  - target_group: api\nscalers: []\n");
        assert!(e.starts_with("s.yml:2:19: target_group must be a target group ARN"), "{e}");
        let e = errors(&format!(
            "target_health:\n  - {{ target_group: {arn} }}\n  - {{ target_group: {arn} }}\nscalers: []\n"
        ));
        assert!(e.contains("s.yml:3:") && e.contains("listed twice"), "{e}");
        let e = errors(&format!("target_health:\n  - {{ target_group: {arn}, interval_seconds: 0 }}\nscalers: []\n"));
        assert!(e.contains("interval_seconds must be between 1 and 3600"), "{e}");
    }
}
