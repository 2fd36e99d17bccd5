//! Debian's Prometheus 2.42, configured with Lookout as its Alertmanager, delivers its
//! alerts through `POST /api/v2/alerts`; they are routed and notified like any other.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{Recorder, Running};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sends_alerts_to_lookout() {
    let rec = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "route:\n  receiver: r\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n\
         receivers:\n  - name: r\n    webhook_configs:\n      - url: {}\n",
        rec.url
    );
    let run = Running::start(&yaml, dir.path()).await;
    let target = run.api.trim_start_matches("http://").to_string();
    let pdir = tempfile::tempdir().unwrap();
    std::fs::write(
        pdir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n\
         \x20       labels: { severity: warning }\n        annotations: { summary: 'it fires' }\n",
    )
    .unwrap();
    std::fs::write(
        pdir.path().join("prometheus.yml"),
        format!(
            "global: {{ evaluation_interval: 1s }}\nrule_files: [rules.yml]\n\
             alerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs: [{{ targets: ['{target}'] }}]\n"
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _prom = Killed(
        Command::new("prometheus")
            .current_dir(pdir.path())
            .arg("--config.file=prometheus.yml")
            .arg(format!("--storage.tsdb.path={}", pdir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Alertmanager discovery settles after ~5 s; resend soon so the first send is not
            // the only one (it goes nowhere before discovery).
            .arg("--rules.alert.resend-delay=1s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed"),
    );
    let n = rec.next(Duration::from_secs(15)).await.expect("Prometheus' alert notified");
    assert_eq!(n.group_key(), r#"{}:{alertname="AlwaysFiring"}"#);
    let a = &n.body["alerts"][0];
    assert_eq!(a["labels"]["severity"], "warning");
    assert_eq!(a["annotations"]["summary"], "it fires");
    assert!(a["generatorURL"].as_str().unwrap().contains("/graph?g0.expr=vector"), "{a}");
    // Prometheus sets endsAt itself (resend delay × 4), so this is not a timeout alert.
    let alerts: serde_json::Value =
        reqwest::get(format!("{}/api/v2/alerts", run.api)).await.unwrap().json().await.unwrap();
    assert_eq!(alerts[0]["labels"]["alertname"], "AlwaysFiring");
    run.stop().await;
}
