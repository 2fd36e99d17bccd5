//! Loading receivers exactly as Alertmanager spells them: a fixture with every field
//! Lookout implements parses here and passes Debian's `amtool check-config` (0.25); unknown
//! fields and integrations Lookout does not ship fail the load.

use std::path::Path;
use std::sync::Arc;

use lookout_receivers::{GlobalConfig, ReceiverConfig, Templates, build_integrations};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    global: GlobalConfig,
    #[allow(dead_code)]
    route: serde::de::IgnoredAny,
    receivers: Vec<ReceiverConfig>,
}

fn fixture() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alertmanager.yml")).unwrap()
}

#[test]
fn alertmanager_fixture_loads_and_builds() {
    let f: File = serde_saphyr::from_str(&fixture()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.global.smtp_hello, "lookout.example.com");
    assert_eq!(f.global.resolve_timeout.0, std::time::Duration::from_secs(300));
    let r = &f.receivers[0];
    assert_eq!(r.slack_configs[0].actions.len(), 2);
    assert_eq!(r.email_configs[0].headers["X-Team"], "sre");
    assert_eq!(r.pagerduty_configs.len(), 2);
    assert_eq!(r.opsgenie_configs[0].responders.len(), 3);
    assert_eq!(r.webhook_configs[0].max_alerts, 10);
    let built = build_integrations(r, &f.global, Arc::new(Templates::builtin()), reqwest::Client::new()).unwrap();
    let names: Vec<&str> = built.iter().map(|i| i.name()).collect();
    assert_eq!(names, ["webhook", "webhook", "email", "pagerduty", "pagerduty", "opsgenie", "slack"]);
    assert!(
        build_integrations(&f.receivers[1], &f.global, Arc::new(Templates::builtin()), reqwest::Client::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn amtool_accepts_the_same_fixture() {
    let Ok(out) = std::process::Command::new("amtool")
        .arg("check-config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alertmanager.yml"))
        .output()
    else {
        eprintln!(
            "\n!!! SKIPPED: amtool not installed (Debian package prometheus-alertmanager); field names not cross-checked !!!\n"
        );
        return;
    };
    assert!(
        out.status.success(),
        "amtool refused the fixture:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn defaults_match_alertmanager() {
    let g = GlobalConfig::default();
    assert_eq!(g.smtp_hello, "localhost");
    assert!(g.smtp_require_tls);
    assert_eq!(g.pagerduty_url, "https://events.pagerduty.com/v2/enqueue");
    assert_eq!(g.opsgenie_api_url, "https://api.opsgenie.com/");
    let r: ReceiverConfig = serde_saphyr::from_str(
        "name: d\nslack_configs: [{api_url: 'http://x'}]\nemail_configs: [{to: a@b}]\npagerduty_configs: [{routing_key: k}]\nopsgenie_configs: [{api_key: k}]\nwebhook_configs: [{url: 'http://x'}]\nconsole_configs: [{}]\n",
    )
    .unwrap();
    assert!(!r.slack_configs[0].send_resolved);
    assert!(!r.email_configs[0].send_resolved);
    assert!(r.pagerduty_configs[0].send_resolved);
    assert!(r.opsgenie_configs[0].send_resolved);
    assert!(r.webhook_configs[0].send_resolved);
    assert!(r.console_configs[0].send_resolved);
    assert_eq!(r.slack_configs[0].title, "{{ template \"slack.default.title\" . }}");
    assert_eq!(r.opsgenie_configs[0].message, "{{ template \"opsgenie.default.message\" . }}");
    assert_eq!(r.pagerduty_configs[0].description, "{{ template \"pagerduty.default.description\" . }}");
}

#[test]
fn unknown_fields_and_integrations_are_refused() {
    let e = serde_saphyr::from_str::<ReceiverConfig>("name: x\nvictorops_configs:\n  - routing_key: k\n").unwrap_err();
    assert!(e.to_string().contains("victorops_configs"), "{e}");
    let e = serde_saphyr::from_str::<ReceiverConfig>("name: x\nwebhook_configs:\n  - url: http://x\n    urll: y\n")
        .unwrap_err();
    assert!(e.to_string().contains("urll"), "{e}");
    let e = serde_saphyr::from_str::<GlobalConfig>("smtp_from_: x\n").unwrap_err();
    assert!(e.to_string().contains("smtp_from_"), "{e}");
    let e = serde_saphyr::from_str::<ReceiverConfig>(
        "name: x\nwebhook_configs:\n  - url: http://x\n    http_config:\n      oauth2: {}\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("oauth2"), "{e}");
}

#[test]
fn console_prints_one_json_line() {
    // The console integration writes to stdout; here we only check it builds and reports
    // success (its payload is the webhook's, tested there).
    let r: ReceiverConfig = serde_saphyr::from_str("name: c\nconsole_configs:\n  - send_resolved: false\n").unwrap();
    let ints = build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .unwrap();
    assert_eq!(ints[0].name(), "console");
    assert!(!ints[0].send_resolved());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(ints[0].notify(&crate::support::fixture())).unwrap();
}

#[test]
fn template_syntax_errors_fail_the_build() {
    let r: ReceiverConfig =
        serde_saphyr::from_str("name: t\nslack_configs:\n  - api_url: http://x\n    title: '{{ .Status '\n").unwrap();
    let e = build_integrations(&r, &GlobalConfig::default(), Arc::new(Templates::builtin()), reqwest::Client::new())
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("receiver \"t\": slack_configs[0]: title: template: "), "{e}");
    assert_eq!(e.kind(), lookout_receivers::ErrorKind::Template);
}

#[test]
fn numeric_looking_secrets_and_keys_load_as_strings() {
    // YAML gives these as integers; Alertmanager reads them as strings, so must we.
    let r: ReceiverConfig = serde_saphyr::from_str(
        "name: n\npagerduty_configs:\n  - routing_key: 0123456789\nemail_configs:\n  - to: a@b\n    auth_password: 12345\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.pagerduty_configs[0].routing_key.expose(), "0123456789");
    assert_eq!(r.email_configs[0].auth_password.expose(), "12345");
}
