use std::process::Command;

use serde_json::json;

use crate::common::{Running, alert, post_alerts};

fn amtool(api: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={api}"))
        .args(args)
        .output()
        .expect("amtool is installed (Debian prometheus-alertmanager)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("are different"), "amtool sees a version mismatch: {stderr}");
    if !out.status.success() {
        return (false, format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)));
    }
    (true, String::from_utf8_lossy(&out.stdout).to_string())
}

async fn amtool_async(api: &str, args: &[&str]) -> (bool, String) {
    let api = api.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || amtool(&api, &args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_lists_alerts_and_manages_silences() {
    let dir = tempfile::tempdir().unwrap();
    let run = Running::start("route: {receiver: r, group_by: [alertname]}\nreceivers: [{name: r}]\n", dir.path()).await;
    post_alerts(
        &run.api,
        json!([
            alert(&[("alertname", "DiskFull"), ("instance", "db1")], None, None),
            alert(&[("alertname", "HighLoad"), ("instance", "web1")], None, None),
        ]),
    )
    .await;

    let (ok, out) = amtool_async(&run.api, &["alert", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v.as_array().unwrap().len(), 2, "{out}");

    let (ok, out) = amtool_async(
        &run.api,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            "instance=~db.*",
            "--comment=disk swap",
            "--author=ops",
            "--duration=1h",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "{out}");

    let (ok, out) = amtool_async(&run.api, &["silence", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["id"], id);
    assert_eq!(v[0]["createdBy"], "ops");
    assert_eq!(v[0]["comment"], "disk swap");
    let (ok, out) = amtool_async(&run.api, &["silence", "query", "-q", "alertname=DiskFull"]).await;
    assert!(ok && out.trim() == id, "{out}");

    // The silenced alert is hidden from the default query and shown with --silenced.
    let (ok, out) = amtool_async(&run.api, &["alert", "query", "-o", "json"]).await;
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(v[0]["labels"]["alertname"], "HighLoad");
    let (ok, out) = amtool_async(&run.api, &["alert", "query", "--silenced", "-o", "json", "alertname=DiskFull"]).await;
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"]["silencedBy"][0], id, "{out}");

    // The routing tree from /api/v2/status, as amtool renders it.
    let (ok, out) = amtool_async(&run.api, &["config", "routes", "show"]).await;
    assert!(ok && out.contains("Routing tree:") && out.contains("default-route  receiver: r"), "{out}");
    let (ok, out) = amtool_async(&run.api, &["config", "routes", "test", "alertname=DiskFull"]).await;
    assert!(ok && out.trim() == "r", "{out}");

    let (ok, out) = amtool_async(&run.api, &["silence", "expire", &id]).await;
    assert!(ok, "{out}");
    let (ok, out) = amtool_async(&run.api, &["silence", "query", "-q"]).await;
    assert!(ok && out.trim().is_empty(), "expired silences are not listed: {out}");
    let (ok, out) = amtool_async(&run.api, &["silence", "query", "--expired", "-q"]).await;
    assert!(ok && out.trim() == id, "{out}");
    run.stop().await;
}
