use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Lookout, free_port, lookout_bin, read_ndjson, start_osmem, workspace_root};

/// The shipped default pipeline as the README runs it, plus an elasticsearch sink (for
/// the Kibana objects), with rules and the self-scrape every 2 s so the test is quick.
fn pipeline(es: &str) -> String {
    let default = std::fs::read_to_string(workspace_root().join("pipelines/default.yaml")).unwrap();
    let with_es = default.replacen(
        "\nrules:\n",
        &format!("\n  es:\n    type: elasticsearch\n    inputs: [red]\n    endpoints: [http://{es}]\nrules:\n  evaluation_interval: 2s\n"),
        1,
    );
    let quick = with_es.replace("self_scrape_interval: 15s", "self_scrape_interval: 2s");
    assert!(quick.contains("evaluation_interval: 2s") && quick.contains("self_scrape_interval: 2s"), "{quick}");
    quick
}

/// Every PromQL expression in dashboards/*.json (Grafana's `$job` variable as "all").
fn dashboard_expressions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap().replace("$job", ".+");
                out.push((format!("{}: {}", path.file_name().unwrap().to_string_lossy(), panel["title"]), expr));
            }
        }
    }
    assert!(out.len() > 20, "{out:?}");
    out
}

/// Every field the Kibana saved objects name (`.keyword` sub-fields as their field).
fn kibana_fields() -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace_root().join("dashboards/kibana-saved-objects.ndjson")).unwrap();
    let mut fields = BTreeSet::new();
    let query_field = regex_lite_fields;
    for line in text.lines() {
        let o: Value = serde_json::from_str(line).unwrap();
        let a = &o["attributes"];
        if let Some(t) = a["timeFieldName"].as_str() {
            fields.insert(t.to_string());
        }
        for c in a["columns"].as_array().into_iter().flatten() {
            fields.insert(c.as_str().unwrap().to_string());
        }
        for s in a["sort"].as_array().into_iter().flatten() {
            fields.insert(s[0].as_str().unwrap().to_string());
        }
        if let Some(source) = a["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str() {
            let source: Value = serde_json::from_str(source).unwrap();
            fields.extend(query_field(source["query"]["query"].as_str().unwrap()));
        }
        if let Some(vis) = a["visState"].as_str() {
            let vis: Value = serde_json::from_str(vis).unwrap();
            for agg in vis["aggs"].as_array().unwrap() {
                if let Some(f) = agg["params"]["field"].as_str() {
                    fields.insert(f.to_string());
                }
            }
        }
    }
    fields.into_iter().map(|f| f.trim_end_matches(".keyword").to_string()).collect()
}

/// The fields the Kibana visualizations group by (terms aggregations).
fn kibana_aggregated_fields() -> Vec<String> {
    let text = std::fs::read_to_string(workspace_root().join("dashboards/kibana-saved-objects.ndjson")).unwrap();
    let mut fields = Vec::new();
    for line in text.lines() {
        let o: Value = serde_json::from_str(line).unwrap();
        let Some(vis) = o["attributes"]["visState"].as_str() else { continue };
        let vis: Value = serde_json::from_str(vis).unwrap();
        for agg in vis["aggs"].as_array().unwrap().iter().filter(|a| a["type"] == "terms") {
            fields.push(agg["params"]["field"].as_str().unwrap().to_string());
        }
    }
    assert!(!fields.is_empty());
    fields
}

/// The field names of a KQL query (`name : value`, `name >= 17`).
fn regex_lite_fields(kql: &str) -> Vec<String> {
    let words: Vec<&str> = kql.split_whitespace().collect();
    words.windows(2).filter(|w| matches!(w[1], ":" | ">=" | "<=" | ">" | "<")).map(|w| w[0].to_string()).collect()
}

/// A field as Elasticsearch reads a document: a literal dotted key or an object path.
fn has_field(doc: &Value, field: &str) -> bool {
    if doc.get(field).is_some() {
        return true;
    }
    match field.split_once('.') {
        Some((head, rest)) => doc.get(head).is_some_and(|d| has_field(d, rest)),
        None => false,
    }
}

async fn query(lookout: &Lookout, expr: &str) -> Value {
    // A form POST, as Grafana sends queries.
    let body = format!("query={}", form_encode(expr));
    reqwest::Client::new()
        .post(format!("http://{}/api/v1/query", lookout.api))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `lookout demo` against the default pipeline: within a minute there are records,
/// series, the shipped alerts (DatabaseConnectionErrors firing, the `for:` ones
/// pending) and a scale-up decision; every dashboard query returns data; every field
/// the Kibana objects name is in the documents the elasticsearch sink wrote.
#[tokio::test]
async fn demo_shows_records_series_alerts_scaler_dashboards() {
    let started = Instant::now();
    let es = start_osmem(free_port()).await;
    let dir = tempfile::tempdir().unwrap();
    for shipped in ["alert-rules", "scaling"] {
        std::os::unix::fs::symlink(workspace_root().join(shipped), dir.path().join(shipped)).unwrap();
    }
    let (api, http) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let grpc = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let config = pipeline(&es.address)
        .replace("${LOOKOUT_API_ADDRESS:-127.0.0.1:8686}", &api)
        .replace("${LOOKOUT_OTLP_HTTP_ADDRESS:-127.0.0.1:4318}", &http)
        .replace("${LOOKOUT_OTLP_GRPC_ADDRESS:-127.0.0.1:4317}", &grpc)
        .replace("${LOOKOUT_DATA_DIR:-./data}", &data.display().to_string());
    let lookout = Lookout::start_in(dir.path(), &config, &api, &http).await;
    let mut demo = Command::new(lookout_bin())
        .args(["demo", "--otlp-http", &format!("http://{http}"), "--interval", "1", "--duration", "50s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct KillOnDrop<'a>(&'a mut std::process::Child);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _demo = KillOnDrop(&mut demo);
    let deadline = Instant::now() + Duration::from_secs(45);
    let wait = |what: &str, detail: &dyn Fn() -> String| {
        assert!(
            Instant::now() < deadline,
            "no {what} after {:?}: {}\nlog:\n{}",
            started.elapsed(),
            detail(),
            lookout.log()
        );
    };

    // Records: logs, spans and metric points in the archive.
    loop {
        let archive: Vec<Value> = std::fs::read_dir(&data)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("archive-"))
            .flat_map(|p| read_ndjson(&p))
            .collect();
        let signals: BTreeSet<&str> = archive.iter().filter_map(|d| d["signal"].as_str()).collect();
        if signals.len() == 3
            && archive.iter().any(|d| d["body"].as_str().is_some_and(|b| b.contains("database connection refused")))
        {
            break;
        }
        wait("records of every signal", &|| format!("{signals:?}"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Alerts: the shipped rules over the demo's data.
    loop {
        let alerts: Value = reqwest::get(format!("http://{api}/api/v1/alerts")).await.unwrap().json().await.unwrap();
        let states: BTreeSet<(String, String)> = alerts["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["labels"]["alertname"].as_str().unwrap().to_string(), a["state"].as_str().unwrap().to_string()))
            .collect();
        let want = [
            ("DatabaseConnectionErrors", "firing"),
            ("HighErrorRate", "pending"),
            ("SlowResponses", "pending"),
            ("QueueBacklog", "pending"),
            ("HighMemoryUsage", "pending"),
            ("HighCPU", "pending"),
        ];
        if want.iter().all(|(n, s)| states.contains(&(n.to_string(), s.to_string()))) {
            break;
        }
        wait("shipped alerts", &|| format!("{states:?}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The shipped `api` scaler decides to scale up (dry run).
    loop {
        let scaler: Value = reqwest::get(format!("http://{api}/api/v1/scaler")).await.unwrap().json().await.unwrap();
        let history = &scaler["data"]["scalers"][0]["history"];
        let up = history.as_array().into_iter().flatten().any(|d| d["desired"].as_u64() > d["current"].as_u64());
        if up {
            break;
        }
        wait("scale-up decision", &|| scaler.to_string());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every dashboard query parses and returns data (Lookout's own metrics from its
    // self-scrape, the services' from the demo).
    let expressions = dashboard_expressions();
    loop {
        let mut missing = Vec::new();
        for (panel, expr) in &expressions {
            let answer = query(&lookout, expr).await;
            assert_eq!(answer["status"], "success", "{panel}: {expr}: {answer}");
            if answer["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                missing.push(format!("{panel}: {expr}"));
            }
        }
        if missing.is_empty() {
            break;
        }
        wait("data for every dashboard query", &|| missing.join("\n"));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Kibana objects: every field they name is in the documents the sink wrote.
    let fields = kibana_fields();
    for f in ["@timestamp", "service.name", "severity_number", "body", "trace_id"] {
        assert!(fields.contains(f), "{f} in {fields:?}");
    }
    loop {
        let search: Value = reqwest::get(format!("http://{}/logs-payments-*/_search?size=200", es.address))
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        let docs: Vec<&Value> =
            search["hits"]["hits"].as_array().into_iter().flatten().map(|h| &h["_source"]).collect();
        let errors: Vec<&&Value> = docs.iter().filter(|d| d["severity_number"].as_i64() >= Some(17)).collect();
        let missing: Vec<&String> = fields.iter().filter(|f| !errors.iter().any(|d| has_field(d, f))).collect();
        if !errors.is_empty() && missing.is_empty() {
            break;
        }
        wait("Kibana fields in the stored error logs", &|| {
            format!("missing {missing:?} in {} error docs", errors.len())
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // ... and what they aggregate on is a keyword in the index template the sink installed.
    let mappings: Value =
        reqwest::get(format!("http://{}/logs-payments-*/_mapping", es.address)).await.unwrap().json().await.unwrap();
    let (_, index) = mappings.as_object().unwrap().iter().next().expect("a logs-payments index");
    for field in kibana_aggregated_fields() {
        let mut at = &index["mappings"];
        for part in field.split('.') {
            at = &at["properties"][part];
        }
        assert_eq!(at["type"], "keyword", "{field} is not aggregatable: {}", index["mappings"]);
    }
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}
