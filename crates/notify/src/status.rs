//! `config.original` of `/api/v2/status`: the loaded `alertmanager.yml` rendered back to
//! YAML from what was parsed, as Alertmanager marshals its parsed config, so every
//! secret shows as `<secret>` whatever YAML style it was written in (plain, quoted,
//! block scalars, flow maps, anchors and aliases).
//!
//! `global` and `receivers` — the only sections with credentials — are rendered from
//! their typed structs, whose [`Secret`](lookout_receivers::Secret) fields serialize as
//! `<secret>`. The routing half (`route`, `inhibit_rules`, time intervals) has no
//! credential fields (its structs refuse unknown keys at load), and is rendered from the
//! same file parsed as plain YAML values, so its matchers and durations read as written.

use lookout_receivers::{GlobalConfig, ReceiverConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AlertmanagerConfig;

/// The secret-free sections, parsed without their types.
#[derive(Deserialize)]
struct RoutingHalf {
    #[serde(default)]
    route: Option<Value>,
    #[serde(default)]
    inhibit_rules: Option<Value>,
    #[serde(default)]
    mute_time_intervals: Option<Value>,
    #[serde(default)]
    time_intervals: Option<Value>,
}

#[derive(Serialize)]
struct Rendered<'a> {
    global: &'a GlobalConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inhibit_rules: Option<Value>,
    receivers: &'a [ReceiverConfig],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    templates: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    mute_time_intervals: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_intervals: Option<Value>,
}

/// The configuration as YAML, every secret as `<secret>`.
pub(crate) fn render(cfg: &AlertmanagerConfig) -> String {
    // The text was parsed when it was loaded, so this parse succeeds; should it not, the
    // routing half is left out rather than shown unparsed.
    let routing = serde_saphyr::from_str::<RoutingHalf>(cfg.original.expose()).unwrap_or(RoutingHalf {
        route: None,
        inhibit_rules: None,
        mute_time_intervals: None,
        time_intervals: None,
    });
    let rendered = Rendered {
        global: &cfg.global,
        route: routing.route,
        inhibit_rules: routing.inhibit_rules,
        receivers: &cfg.receivers,
        templates: &cfg.templates,
        mute_time_intervals: routing.mute_time_intervals,
        time_intervals: routing.time_intervals,
    };
    serde_saphyr::to_string(&rendered).unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Planted secrets, one per YAML style and credential field; none may be rendered.
    const PLANTED: &[&str] = &[
        "PlainSmtpPw1",
        "SingleQuotedSlack2",
        "DoubleQuotedOpsgenie3",
        "FlowMapBasicPw4",
        "LiteralBlockBearer5",
        "FoldedCredentials6",
        "QuotedKeyPw7",
        "AnchoredSecret8",
        "RoutingKey9",
        "ServiceKey10",
        "WebhookUrlSecret11",
        "EmailAuthPw12",
        "PerConfigApiKey13",
        "SlackUrlInline14",
        "GlobalHttpBearer15",
    ];

    const CONFIG: &str = r#"
global:
  smtp_smarthost: smtp.example.org:587
  smtp_from: alerts@example.org
  smtp_auth_username: mailer
  smtp_auth_password: PlainSmtpPw1
  slack_api_url: 'https://hooks.slack.com/services/SingleQuotedSlack2'
  opsgenie_api_key: "DoubleQuotedOpsgenie3"
  http_config:
    bearer_token: GlobalHttpBearer15
route:
  receiver: team-a
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: team-b
      group_wait: 10s
receivers:
  - name: team-a
    webhook_configs:
      - url: http://hooks.example.org/plain
        http_config:
          basic_auth: {username: flowuser, password: FlowMapBasicPw4}
      - url: http://hooks.example.org/literal
        http_config:
          authorization:
            credentials: |
              LiteralBlockBearer5
      - url: http://hooks.example.org/folded
        http_config:
          authorization:
            type: Token
            credentials: >-
              FoldedCredentials6
      - url: http://hooks.example.org/quoted-key
        http_config:
          basic_auth:
            "username": quoteduser
            "password": QuotedKeyPw7
      - url: http://hooks.example.org/anchor
        http_config:
          basic_auth: {username: anchoruser, password: &pw AnchoredSecret8}
      - url: http://hooks.example.org/alias
        http_config:
          basic_auth: {username: aliasuser, password: *pw}
      - url: https://hooks.example.org/WebhookUrlSecret11
  - name: team-b
    pagerduty_configs:
      - routing_key: RoutingKey9
        url: https://pd.example.org/enqueue
      - service_key: ServiceKey10
    opsgenie_configs:
      - api_key: PerConfigApiKey13
    slack_configs:
      - api_url: https://hooks.slack.com/services/SlackUrlInline14
        channel: '#ops'
    email_configs:
      - to: oncall@example.org
        auth_username: mailuser
        auth_password: EmailAuthPw12
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
"#;

    fn parsed() -> AlertmanagerConfig {
        crate::parse_config("am.yml", CONFIG).unwrap()
    }

    #[test]
    fn secrets_in_every_yaml_style_are_rendered_as_secret() {
        let cfg = parsed();
        // The values were read (so the test cannot pass by parsing nothing) ...
        let a = &cfg.receivers[0].webhook_configs;
        let basic = |i: usize| a[i].http_config.as_ref().unwrap().basic_auth.as_ref().unwrap().password.expose();
        assert_eq!(basic(0), "FlowMapBasicPw4");
        assert_eq!(basic(3), "QuotedKeyPw7");
        assert_eq!(basic(5), "AnchoredSecret8");
        let cred = |i: usize| a[i].http_config.as_ref().unwrap().authorization.as_ref().unwrap().credentials.expose();
        assert_eq!(cred(1), "LiteralBlockBearer5\n");
        assert_eq!(cred(2), "FoldedCredentials6");
        // ... and appear neither in the rendering nor in Debug output.
        let out = render(&cfg);
        let debug = format!("{cfg:?}");
        for p in PLANTED {
            assert!(!out.contains(p), "{p} rendered:\n{out}");
            assert!(!debug.contains(p), "{p} in Debug");
        }
        assert!(out.matches("<secret>").count() >= PLANTED.len(), "{out}");
        // Everything that is not a secret is still there.
        for shown in [
            "team-a",
            "team-b",
            "flowuser",
            "quoteduser",
            "anchoruser",
            "aliasuser",
            "mailer",
            "mailuser",
            "https://pd.example.org/enqueue",
            "smtp.example.org:587",
            "severity=\"critical\"",
            "group_wait: 10s",
            "Token",
            "#ops",
            "oncall@example.org",
        ] {
            assert!(out.contains(shown), "{shown} missing:\n{out}");
        }
    }

    #[test]
    fn passwords_inside_plain_urls_are_rendered_as_secret() {
        let text = "global:\n  opsgenie_api_url: https://og:GlobalUrlPw21@api.opsgenie.example/\n  http_config:\n    proxy_url: http://px:ProxyPw22@proxy.example:3128\nroute: { receiver: pd }\nreceivers:\n  - name: pd\n    pagerduty_configs:\n      - routing_key: k\n        url: https://pd:PdUrlPw23@pd.example.org/enqueue\n";
        let out = render(&crate::parse_config("am.yml", text).unwrap());
        for planted in ["GlobalUrlPw21", "ProxyPw22", "PdUrlPw23"] {
            assert!(!out.contains(planted), "{planted} rendered:\n{out}");
        }
        assert!(out.contains("https://pd:<secret>@pd.example.org/enqueue"), "{out}");
        assert!(out.contains("https://og:<secret>@api.opsgenie.example/"), "{out}");
    }

    #[test]
    fn the_rendering_is_yaml_of_the_parsed_config() {
        let out = render(&parsed());
        let back: serde_json::Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back["receivers"][0]["name"], "team-a");
        assert_eq!(back["receivers"][0]["webhook_configs"][0]["http_config"]["basic_auth"]["password"], "<secret>");
        assert_eq!(back["global"]["smtp_auth_password"], "<secret>");
        // Defaults filled in at load are shown, as Alertmanager does.
        assert_eq!(back["global"]["resolve_timeout"], "5m");
        assert_eq!(back["route"]["routes"][0]["receiver"], "team-b");
        assert_eq!(back["inhibit_rules"][0]["equal"][0], "alertname");
        // The default config renders too.
        let d = render(&crate::default_config());
        assert!(d.contains("console-critical") && d.contains("console_configs"), "{d}");
    }
}
