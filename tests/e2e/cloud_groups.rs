//! The scaler resizing cloud instance groups (issue 18): `gcp_mig` against the Google test
//! double ([`crate::gcp_receiver`]) and `azure_vmss` against the Azure one
//! ([`crate::azure_receiver`]). Metrics arrive over OTLP, the binary decides, and the group
//! sizes move as the decisions say; tokens are refreshed after a 401, 429s are retried, and
//! a refused change shows in `/api/v1/scaler` and on `/metrics`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use serde_json::{Value, json};

use crate::azure_receiver::{AzureReceiver, Identity};
use crate::gcp_receiver::GcpReceiver;
use crate::util::{Lookout, pipeline};

/// Sends one `queue.jobs.pending` gauge point per `(service, value)` over OTLP/HTTP.
async fn send_backlog(client: &reqwest::Client, lookout: &Lookout, points: &[(&str, i64)]) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos().to_string();
    let resource_metrics: Vec<Value> = points
        .iter()
        .map(|(service, v)| {
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeMetrics": [{"metrics": [{"name": "queue.jobs.pending", "gauge": {"dataPoints": [
                    {"timeUnixNano": now, "asInt": v.to_string()}
                ]}}]}]
            })
        })
        .collect();
    let body = json!({ "resourceMetrics": resource_metrics });
    let resp = client.post(format!("http://{}/v1/metrics", lookout.http)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// Feeds `points` every 300 ms until `done` holds (or fails after 25 s, with the log).
async fn feed_until(lookout: &Lookout, points: &[(&str, i64)], what: &str, done: impl Fn() -> bool) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(25);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", lookout.log());
        send_backlog(&client, lookout, points).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Starts Lookout with `policy` in `scaling.yml` (and `files` next to it) and `env`.
async fn start_with_env(policy: &str, files: &[(&str, String)], env: &[(&str, &str)]) -> Lookout {
    Lookout::start_custom(
        |api, grpc, http, dir| {
            std::fs::write(dir.join("scaling.yml"), policy).unwrap();
            for (name, content) in files {
                std::fs::write(dir.join(name), content).unwrap();
            }
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [enrich]\nscaling:\n  files: [scaling.yml]\n",
                pipeline(api, grpc, http, dir, "", "enrich")
            )
        },
        env,
    )
    .await
}

/// The refused change: a decision of `scaler` whose reasons say the actuator failed with
/// `needle`, and the failure counter for it on /metrics.
async fn assert_refusal_reported(lookout: &Lookout, scaler: &str, actuator: &str, needle: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = client
            .get(format!("http://{}/api/v1/scaler?scaler={scaler}", lookout.api))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let history = v["data"]["scalers"][0]["history"].as_array().cloned().unwrap_or_default();
        let failed = history
            .iter()
            .flat_map(|d| d["reasons"].as_array().cloned().unwrap_or_default())
            .find(|r| r["code"] == "ActuationFailed" && r["message"].as_str().unwrap_or_default().contains(needle));
        let metrics = client.get(format!("http://{}/metrics", lookout.api)).send().await.unwrap().text().await.unwrap();
        let counted = metrics.lines().any(|l| {
            l.starts_with("lookout_scaler_actuation_failures_total{")
                && l.contains(&format!("target=\"{scaler}\""))
                && l.contains(&format!("actuator=\"{actuator}\""))
        });
        if failed.is_some() && counted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no refusal with `{needle}` reported for {scaler}; latest decision: {}\nfailure counters: {:?}",
            v["data"]["scalers"][0]["decision"],
            metrics.lines().filter(|l| l.starts_with("lookout_scaler_actuation")).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A service-account key file for `email` (its `token_uri` still to be set) and the key's
/// public half (DER RSAPublicKey). The RSA key is made here, per run: test-only.
fn service_account_key(email: &str) -> (Value, Vec<u8>) {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = key.as_der().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
    let file = json!({
        "type": "service_account",
        "project_id": "lookout-test",
        "private_key_id": "3f0b1c2d4e5f60718293a4b5c6d7e8f901234567",
        "private_key": pem,
        "client_email": email,
        "client_id": "109876543210987654321",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    });
    (file, key.public_key().as_ref().to_vec())
}

const GCP_POLICY: &str = r#"scalers:
  - name: api
    minReplicas: 1
    maxReplicas: 20
    intervalSeconds: 1
    metrics:
      - name: backlog
        query: 'sum(queue_jobs_pending{job="api"})'
        target: { type: AverageValue, averageValue: 1000 }
    actuator:
      type: gcp_mig
      project: lookout-test
      zone: europe-west1-b
      group: api-mig
      endpoint: ENDPOINT
      credentialsFile: sa.json
  - name: workers
    minReplicas: 1
    maxReplicas: 20
    intervalSeconds: 1
    metrics:
      - name: backlog
        query: 'sum(queue_jobs_pending{job="workers"})'
        target: { type: AverageValue, averageValue: 1000 }
    actuator: { type: gcp_mig, project: lookout-test, region: europe-west1, group: workers-mig,
                endpoint: ENDPOINT, credentials_file: sa.json }
"#;

/// Zonal and regional managed instance groups resized from OTLP metrics, with a service
/// account's signed JWT exchanged for tokens; a revoked token, 429s and a refused resize.
#[tokio::test]
async fn gcp_managed_instance_groups_follow_the_decisions() {
    let email = "lookout-scaler@lookout-test.iam.gserviceaccount.com";
    let (mut key_file, public_key) = service_account_key(email);
    let gcp = GcpReceiver::start(email, public_key).await;
    key_file["token_uri"] = format!("{}/token", gcp.url).into();
    let (zone, region) = ("zones/europe-west1-b", "regions/europe-west1");
    gcp.add_group("lookout-test", zone, "api-mig", 2);
    gcp.add_group("lookout-test", region, "workers-mig", 1);

    let policy = GCP_POLICY.replace("ENDPOINT", &gcp.url);
    let lookout = start_with_env(&policy, &[("sa.json", key_file.to_string())], &[]).await;

    // 3500 pending over 1000 per replica: 4 (the scale-up limit max(2 × 2, 4) allows it);
    // 2500 for the regional group: 3.
    let size = |loc: &str, g: &str| gcp.target_size("lookout-test", loc, g).unwrap();
    feed_until(&lookout, &[("api", 3500), ("workers", 2500)], "api-mig 4, workers-mig 3", || {
        size(zone, "api-mig") == 4 && size(region, "workers-mig") == 3
    })
    .await;
    assert!(gcp.token_requests() >= 1 && gcp.rejected_assertions() == 0);
    assert!(gcp.resizes().contains(&(format!("{zone}/api-mig"), 4)), "{:?}", gcp.resizes());

    // Tokens revoked and the next two calls throttled: a fresh token after the 401, the
    // 429s retried after their Retry-After, and the resize lands.
    let tokens_before = gcp.token_requests();
    gcp.revoke_tokens();
    gcp.throttle_next(2);
    feed_until(&lookout, &[("api", 6000), ("workers", 2500)], "api-mig 6", || size(zone, "api-mig") == 6).await;
    assert!(gcp.token_requests() > tokens_before, "a new token after the 401");
    assert!(gcp.unauthorized() >= 1);
    assert_eq!(gcp.throttled(), 2);

    // The group is busy: the resize is refused, the size stays, the refusal is reported.
    gcp.set_not_ready(true);
    let client = reqwest::Client::new();
    send_backlog(&client, &lookout, &[("api", 9000), ("workers", 2500)]).await;
    assert_refusal_reported(&lookout, "api", "gcp_mig", "resourceNotReady").await;
    assert_eq!(size(zone, "api-mig"), 6);
    let metrics = client.get(format!("http://{}/metrics", lookout.api)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lookout_scaler_current_replicas{target=\"api\"} 6"), "{metrics}");

    // Ready again: the next evaluation applies the decision.
    gcp.set_not_ready(false);
    feed_until(&lookout, &[("api", 9000), ("workers", 2500)], "api-mig 9", || size(zone, "api-mig") == 9).await;
    assert!(!lookout.log().contains("ya29."), "a token reached the log");
}

const AZURE_POLICY: &str = r#"scalers:
  - name: web
    minReplicas: 1
    maxReplicas: 20
    intervalSeconds: 1
    metrics:
      - name: backlog
        query: 'sum(queue_jobs_pending{job="web"})'
        target: { type: AverageValue, averageValue: 1000 }
    actuator:
      type: azure_vmss
      subscriptionId: 00000000-1111-2222-3333-444444444444
      resourceGroup: rg-web
      group: web-vmss
      endpoint: ENDPOINT
      loginEndpoint: ENDPOINT
      clientSecret: PlantedAzureSecret7
  - name: batch
    minReplicas: 1
    maxReplicas: 20
    intervalSeconds: 1
    metrics:
      - name: backlog
        query: 'sum(queue_jobs_pending{job="batch"})'
        target: { type: AverageValue, averageValue: 1000 }
    actuator: { type: azure_vmss, subscription_id: 00000000-1111-2222-3333-444444444444,
                resource_group: rg-batch, group: batch-vmss, endpoint: ENDPOINT, login_endpoint: ENDPOINT }
"#;

/// Scale sets resized from OTLP metrics with a client secret and, through the Workload
/// Identity environment, a federated token; expired tokens, 429s and a core quota refusal.
#[tokio::test]
async fn azure_scale_sets_follow_the_decisions() {
    let identity = Identity {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".to_string(),
        client_id: "5a0e2b1c-3d4f-4a5b-8c6d-7e8f9a0b1c2d".to_string(),
        client_secret: "PlantedAzureSecret7".to_string(),
        federated_token: "eyJhbGciOiJSUzI1NiJ9.federated.PlantedFederatedToken8".to_string(),
    };
    let azure = AzureReceiver::start(identity.clone()).await;
    let sub = "00000000-1111-2222-3333-444444444444";
    azure.add_scale_set(sub, "rg-web", "web-vmss", 2);
    azure.add_scale_set(sub, "rg-batch", "batch-vmss", 1);

    let policy = AZURE_POLICY.replace("ENDPOINT", &azure.url);
    let token = format!("{}\n", identity.federated_token);
    // What Azure Workload Identity injects; the token file is relative to the working dir.
    let env = [
        ("AZURE_TENANT_ID", identity.tenant_id.as_str()),
        ("AZURE_CLIENT_ID", identity.client_id.as_str()),
        ("AZURE_FEDERATED_TOKEN_FILE", "azure-identity-token"),
    ];
    let lookout = start_with_env(&policy, &[("azure-identity-token", token)], &env).await;

    let cap = |rg: &str, name: &str| azure.capacity(sub, rg, name).unwrap();
    feed_until(&lookout, &[("web", 3500), ("batch", 2500)], "web-vmss 4, batch-vmss 3", || {
        cap("rg-web", "web-vmss") == 4 && cap("rg-batch", "batch-vmss") == 3
    })
    .await;
    let kinds = azure.token_requests();
    assert!(
        kinds.contains(&"client_secret".to_string()) && kinds.contains(&"client_assertion".to_string()),
        "{kinds:?}"
    );

    // Expired tokens and two throttled calls: refreshed, retried, applied.
    let before = azure.token_requests().len();
    azure.expire_tokens();
    azure.throttle_next(2);
    feed_until(&lookout, &[("web", 6000), ("batch", 2500)], "web-vmss 6", || cap("rg-web", "web-vmss") == 6).await;
    assert!(azure.token_requests().len() > before && azure.unauthorized() >= 1);
    assert_eq!(azure.throttled(), 2);

    // A core quota of 18 (9 VMs of 2 cores; batch holds 3): 9 for web is refused with 409.
    azure.set_core_quota(18);
    let client = reqwest::Client::new();
    send_backlog(&client, &lookout, &[("web", 9000), ("batch", 2500)]).await;
    assert_refusal_reported(&lookout, "web", "azure_vmss", "OperationNotAllowed").await;
    assert_eq!(cap("rg-web", "web-vmss"), 6);

    let log = lookout.log();
    assert!(!log.contains("PlantedAzureSecret7") && !log.contains("PlantedFederatedToken8"), "{log}");
    let api = client.get(format!("http://{}/api/v1/scaler", lookout.api)).send().await.unwrap().text().await.unwrap();
    assert!(!api.contains("PlantedAzureSecret7"), "{api}");
}
