use serde_json::{Value, json};

use crate::util::{Lookout, wait_for};

const CHAIN: &str = r#"  parse:
    type: parse_json
    inputs: [enrich]
  scrub:
    type: redact
    inputs: [parse]
    fields: [body, attributes.*]
  keep:
    type: sample
    inputs: [scrub]
    rate: 1
  split:
    type: route
    inputs: [keep]
    routes:
      errors: 'severity_number >= 17 or attributes.status >= 500'
      checkout: 'resource.service.name == "checkout"'
"#;

fn log(severity: i32, body: &str) -> Value {
    json!({"severityNumber": severity, "body": {"stringValue": body}})
}

/// Records reach the route output they match, parsed and scrubbed, and nothing else does.
#[tokio::test]
async fn parse_redact_and_route_in_the_running_binary() {
    let mut lookout = Lookout::start_with(CHAIN, "split.errors", &[]).await;
    let request = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payments"}}]},
        "scopeLogs": [{"logRecords": [
            log(17, r#"{"msg": "card declined", "user": "ann@example.com", "card": "4111 1111 1111 1111"}"#),
            log(9, r#"{"msg": "ok", "status": 200}"#),
            log(9, r#"{"msg": "upstream", "status": 502, "order": "1234 5678 9012 3456"}"#),
            log(9, "plain text from bob@example.org"),
        ]}]
    }]});
    let resp =
        reqwest::Client::new().post(format!("http://{}/v1/logs", lookout.http)).json(&request).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    wait_for(&lookout.out_path(), "the two error records", |d| d.len() >= 2).await;
    assert!(lookout.stop().await.success());
    let docs = crate::util::read_ndjson(&lookout.out_path());
    assert_eq!(docs.len(), 2, "only records matching `errors`: {docs:?}");

    let declined = &docs[0]["attributes"];
    assert_eq!(declined["msg"], "card declined");
    assert_eq!(declined["user"], "[REDACTED:email]");
    assert_eq!(declined["card"], "[REDACTED:credit_card]", "Luhn-valid card number masked");
    let upstream = &docs[1]["attributes"];
    assert_eq!(upstream["status"], 502);
    assert_eq!(upstream["order"], "1234 5678 9012 3456", "fails the Luhn check: not a card, kept");
    assert_eq!(docs[1]["resource"]["deployment.environment"], "e2e");
}
