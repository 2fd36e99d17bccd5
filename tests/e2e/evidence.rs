//! Evidence end to end: OTLP logs with trace ids → `log_to_metric` (exemplars) → a rule
//! → the notifier → a webhook, whose payload says which log lines and traces made the
//! alert fire; the rule's `$evidence` template and `/api/v2/alerts` show the same.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, pipeline, start_webhook};

const RULES: &str = r#"groups:
  - name: evidence
    interval: 200ms
    rules:
      - alert: DatabaseConnectionErrors
        expr: sum by (service) (increase(lookout_log_db_connection_errors_total[1m])) > 3
        labels: { severity: critical }
        annotations:
          traces: "{{ range $evidence }}{{ .trace_id }} {{ end }}"
"#;

fn trace_id(i: u8) -> String {
    format!("{:032x}", 0xabc000 + u32::from(i))
}

#[tokio::test]
async fn the_webhook_says_which_log_lines_and_traces_fired_the_alert() {
    let (hook, received) = start_webhook().await;
    let lookout = Lookout::start_custom(
        move |api, grpc, http, dir| {
            std::fs::create_dir_all(dir.join("rules")).unwrap();
            std::fs::write(dir.join("rules/evidence.yml"), RULES).unwrap();
            std::fs::write(
                dir.join("alertmanager.yml"),
                format!(
                    "route: {{ receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s }}\n\
                     receivers:\n  - name: hook\n    webhook_configs: [{{ url: 'http://{hook}/hook' }}]\n"
                ),
            )
            .unwrap();
            let derive = r#"  db_errors:
    type: log_to_metric
    inputs: [enrich]
    metrics:
      - name: lookout_log_db_connection_errors_total
        kind: counter
        condition: 'body =~ "(?i)database.*connection.*refused"'
        labels: { service: service.name }
"#;
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [db_errors]\nrules:\n  files: [rules/*.yml]\nalerting:\n  config: {}\n",
                pipeline(api, grpc, http, dir, derive, "db_errors"),
                dir.join("alertmanager.yml").display()
            )
        },
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    for i in 0..5u8 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos().to_string();
        let body = json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeLogs": [{"logRecords": [{
                "timeUnixNano": now, "severityNumber": 17,
                "traceId": trace_id(i), "spanId": format!("{:016x}", 0x51 + u64::from(i)),
                "body": {"stringValue": format!("database connection refused by pg-{i}")}
            }]}]
        }]});
        let resp = client.post(format!("http://{}/v1/logs", lookout.http)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    let ours: Vec<String> = (0..5).map(trace_id).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let firing = received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|m| m["alerts"].as_array().cloned().unwrap_or_default())
            .find(|a| a["labels"]["alertname"] == "DatabaseConnectionErrors" && a["status"] == "firing");
        if let Some(a) = firing {
            break a;
        }
        assert!(Instant::now() < deadline, "no webhook with the alert; log:\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let evidence = alert["evidence"].as_array().unwrap_or_else(|| panic!("no evidence in {alert}"));
    assert!(!evidence.is_empty() && evidence.len() <= 5, "{alert}");
    for e in evidence {
        let trace = e["labels"]["trace_id"].as_str().unwrap();
        assert!(ours.iter().any(|t| t == trace), "a trace id we sent: {e}");
        assert!(e["labels"]["log"].as_str().unwrap().starts_with("database connection refused by pg-"), "{e}");
        assert_eq!(e["seriesLabels"]["service"], "checkout", "{e}");
        assert_eq!(e["seriesLabels"]["__name__"], "lookout_log_db_connection_errors_total", "{e}");
        assert!(e["labels"]["span_id"].as_str().is_some_and(|s| s.len() == 16), "{e}");
    }
    // The rule's template listed the same traces.
    let traces = alert["annotations"]["traces"].as_str().unwrap();
    assert!(ours.iter().any(|t| traces.contains(t.as_str())), "{traces}");

    // The notifier's API shows it too.
    let am: Value = reqwest::get(format!("http://{}/api/v2/alerts", lookout.api)).await.unwrap().json().await.unwrap();
    let listed = am.as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == "DatabaseConnectionErrors");
    assert!(listed.is_some_and(|a| a["evidence"].as_array().is_some_and(|e| !e.is_empty())), "{am}");
}
