//! The scaler on AWS, against moto (Auto Scaling, EC2 and ELBv2 over their Query APIs):
//! an Auto Scaling group resized as the decisions say, within its own limits, through
//! throttling and a cooldown refusal; ALB target health as series a rule alerts on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::util::{Lookout, pipeline, start_moto};

/// Credentials for the SDK's standard chain (moto checks none), no instance metadata lookups.
const AWS_ENV: &[(&str, &str)] =
    &[("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_EC2_METADATA_DISABLED", "true")];

/// One AWS Query-protocol call (form POST; moto reads the service from the credential
/// scope and checks no signature). Returns the XML answer; fails the test on an error.
async fn query_api(endpoint: &str, service: &str, version: &str, params: &[(&str, &str)]) -> String {
    let mut form = vec![("Version", version)];
    form.extend_from_slice(params);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    // application/x-www-form-urlencoded, as the SDKs send it.
    let mut encoded = reqwest::Url::parse("http://x/").unwrap();
    encoded.query_pairs_mut().extend_pairs(&form);
    let resp = reqwest::Client::new()
        .post(format!("http://{endpoint}/"))
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(encoded.query().unwrap_or_default().to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{params:?}: HTTP {status}: {text}");
    text
}

/// The text of every `<tag>…</tag>` in `xml`, in order.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open).skip(1).filter_map(|s| s.split_once(&close)).map(|(v, _)| v.to_string()).collect()
}

async fn desired_capacity(moto: &str) -> i32 {
    let xml = query_api(
        moto,
        "autoscaling",
        "2011-01-01",
        &[("Action", "DescribeAutoScalingGroups"), ("AutoScalingGroupNames.member.1", "api-asg")],
    )
    .await;
    xml_values(&xml, "DesiredCapacity")[0].parse().unwrap()
}

/// What the proxy in front of moto does with the next calls.
#[derive(Default)]
struct Faults {
    /// Calls (of any action) still to answer with `Throttling`.
    throttle: usize,
    /// `SetDesiredCapacity` calls still to answer with `Throttling`.
    throttle_sets: usize,
    /// Whether the next `SetDesiredCapacity` is refused with `ScalingActivityInProgress`.
    refuse_next_set: bool,
    /// Calls answered with a fault, by action.
    injected: Vec<String>,
    /// The form of every `SetDesiredCapacity` that reached the proxy.
    sets: Vec<Vec<(String, String)>>,
}

#[derive(Clone)]
struct Proxy {
    moto: String,
    faults: Arc<Mutex<Faults>>,
}

/// An AWS Query-protocol error answer, as Auto Scaling sends it (HTTP 400, `ErrorResponse`).
fn query_error(code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>e2e-fault</RequestId></ErrorResponse>"
    );
    (StatusCode::BAD_REQUEST, [("content-type", "text/xml")], body).into_response()
}

/// Forwards every call to moto, except the faults armed in [`Faults`]. moto resizes a
/// group at once and models no cooldown, so the refusal AWS sends while a group's cooldown
/// runs (`ScalingActivityInProgress` to a `SetDesiredCapacity` with `HonorCooldown=true`)
/// comes from here, in AWS's documented error format.
async fn proxy(State(p): State<Proxy>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url_decode(&body);
    let action = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.clone()).unwrap_or_default();
    {
        let mut f = p.faults.lock().unwrap();
        if action == "SetDesiredCapacity" {
            f.sets.push(form.clone());
        }
        if f.throttle > 0 {
            f.throttle -= 1;
            f.injected.push(format!("Throttling {action}"));
            return query_error("Throttling", "Rate exceeded");
        }
        if action == "SetDesiredCapacity" && f.throttle_sets > 0 {
            f.throttle_sets -= 1;
            f.injected.push(format!("Throttling {action}"));
            return query_error("Throttling", "Rate exceeded");
        }
        if action == "SetDesiredCapacity" && f.refuse_next_set {
            f.refuse_next_set = false;
            f.injected.push("ScalingActivityInProgress".to_string());
            return query_error(
                "ScalingActivityInProgress",
                "Scaling activity e2e is in progress and blocks this action.",
            );
        }
    }
    let mut req = reqwest::Client::new().post(format!("http://{}/", p.moto)).body(body);
    for name in ["authorization", "content-type", "x-amz-date", "x-amz-security-token"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.as_bytes());
        }
    }
    let resp = req.send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    (status, [("content-type", "text/xml")], resp.bytes().await.unwrap()).into_response()
}

fn url_decode(body: &[u8]) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body))).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

async fn start_proxy(moto: &str) -> (String, Arc<Mutex<Faults>>) {
    let faults = Arc::new(Mutex::new(Faults::default()));
    let app = axum::Router::new().fallback(proxy).with_state(Proxy { moto: moto.to_string(), faults: faults.clone() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, faults)
}

const ASG_POLICY: &str = r#"scalers:
  - name: api
    minReplicas: 1
    maxReplicas: 20            # wider than the group's 2..10: the group's limits apply
    intervalSeconds: 1
    metrics:
      - name: rpm
        query: 'sum(api_requests_per_minute{job="api"})'
        target: { type: AverageValue, averageValue: 1000 }
    behavior:
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: Pods, value: 100, periodSeconds: 1 }] }
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: Percent, value: 100, periodSeconds: 1 }] }
    actuator:
      type: aws_autoscaling
      group: api-asg
      region: us-east-1
      endpoint: http://PROXY
      honor_cooldown: true
"#;

async fn send_rpm(lookout: &Lookout, rpm: i64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos().to_string();
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeMetrics": [{"metrics": [{"name": "api.requests.per.minute", "gauge": {"dataPoints": [
            {"timeUnixNano": now, "asInt": rpm.to_string()}
        ]}}]}]
    }]});
    let resp =
        reqwest::Client::new().post(format!("http://{}/v1/metrics", lookout.http)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

async fn get_json(lookout: &Lookout, path: &str) -> Value {
    reqwest::get(format!("http://{}{path}", lookout.api)).await.unwrap().json().await.unwrap()
}

/// Sends `rpm` every 300 ms until the group's desired capacity is `want` (20 s at most).
async fn drive_to(lookout: &Lookout, moto: &str, rpm: i64, want: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        send_rpm(lookout, rpm).await;
        if desired_capacity(moto).await == want {
            return;
        }
        let scaler = get_json(lookout, "/api/v1/scaler").await;
        assert!(Instant::now() < deadline, "group never at {want}: {scaler}\n{}", lookout.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn reason_codes(decision: &Value) -> Vec<String> {
    decision["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

/// A group (min 2, max 10) made from a launch template; the scaler reads its capacity as
/// `current`, resizes it through throttled calls, stays within its limits, and records a
/// cooldown refusal in the decision and on /metrics before the next evaluation applies it.
#[tokio::test]
async fn aws_autoscaling_group_follows_the_decisions() {
    let moto_peer = start_moto().await;
    let moto = moto_peer.address.as_str();
    query_api(
        moto,
        "ec2",
        "2016-11-15",
        &[
            ("Action", "CreateLaunchTemplate"),
            ("LaunchTemplateName", "api"),
            ("LaunchTemplateData.ImageId", "ami-12c6146b"),
            ("LaunchTemplateData.InstanceType", "t3.micro"),
        ],
    )
    .await;
    query_api(
        moto,
        "autoscaling",
        "2011-01-01",
        &[
            ("Action", "CreateAutoScalingGroup"),
            ("AutoScalingGroupName", "api-asg"),
            ("LaunchTemplate.LaunchTemplateName", "api"),
            ("MinSize", "2"),
            ("MaxSize", "10"),
            ("DesiredCapacity", "2"),
            ("AvailabilityZones.member.1", "us-east-1a"),
        ],
    )
    .await;
    let (proxy, faults) = start_proxy(moto).await;
    // The first two calls, whatever they are, and the first resize are throttled.
    {
        let mut f = faults.lock().unwrap();
        f.throttle = 2;
        f.throttle_sets = 1;
    }
    let lookout = Lookout::start_custom(
        |api, grpc, http, dir| {
            std::fs::write(dir.join("scaling.yml"), ASG_POLICY.replace("PROXY", &proxy)).unwrap();
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [enrich]\nscaling:\n  files: [scaling.yml]\n",
                pipeline(api, grpc, http, dir, "", "enrich")
            )
        },
        AWS_ENV,
    )
    .await;

    // 4000 requests/min at 1000 per instance: 4 (current 2, read from the group).
    drive_to(&lookout, moto, 4000, 4).await;
    assert_eq!(
        faults.lock().unwrap().injected,
        [
            "Throttling DescribeAutoScalingGroups",
            "Throttling DescribeAutoScalingGroups",
            "Throttling SetDesiredCapacity"
        ],
        "retried through"
    );
    let api = get_json(&lookout, "/api/v1/scaler").await;
    let history = api["data"]["scalers"][0]["history"].as_array().unwrap().clone();
    // The capacity read from the group is `current`.
    let to_four = history.iter().find(|d| d["desired"] == 4 && d["current"] == 2);
    let to_four = to_four.unwrap_or_else(|| panic!("no decision from 2 to 4: {api}"));
    let observed = &to_four["reasons"][0];
    assert_eq!(observed["code"], "Observed", "{to_four}");
    assert!(observed["message"].as_str().unwrap().starts_with("Auto Scaling group api-asg: desired capacity 2"));
    assert_eq!(api["data"]["scalers"][0]["actuator"], "aws_autoscaling");

    // 40000/min asks for 40: the policy allows 20, the group 10. The first attempt lands in
    // the group's cooldown and is refused; the next evaluation applies it.
    faults.lock().unwrap().refuse_next_set = true;
    drive_to(&lookout, moto, 40_000, 10).await;
    let api = get_json(&lookout, "/api/v1/scaler").await;
    let history = api["data"]["scalers"][0]["history"].as_array().unwrap().clone();
    let refused = history
        .iter()
        .find(|d| reason_codes(d).contains(&"ActuationFailed".to_string()))
        .unwrap_or_else(|| panic!("no refused decision: {api}"));
    assert_eq!(refused["desired"], 10, "{refused}");
    let codes = reason_codes(refused);
    assert!(codes.contains(&"GroupLimits".to_string()) && codes.contains(&"TooManyReplicas".to_string()), "{codes:?}");
    let failed = refused["reasons"].as_array().unwrap().iter().find(|r| r["code"] == "ActuationFailed").unwrap();
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("SetDesiredCapacity on Auto Scaling group api-asg: ScalingActivityInProgress"),
        "{message}"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", lookout.api)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(
            "lookout_scaler_actuation_failures_total{target=\"api\",actuator=\"aws_autoscaling\",reason=\"ScalingActivityInProgress\"} 1"
        ),
        "{metrics}"
    );

    // 500/min asks for 1: the group's MinSize 2 holds.
    drive_to(&lookout, moto, 500, 2).await;
    let latest = get_json(&lookout, "/api/v1/scaler").await["data"]["scalers"][0]["decision"].clone();
    assert!(reason_codes(&latest).contains(&"GroupLimits".to_string()), "{latest}");

    let sets = faults.lock().unwrap().sets.clone();
    let sizes: Vec<&str> = sets
        .iter()
        .map(|form| {
            assert!(form.contains(&("HonorCooldown".to_string(), "true".to_string())), "{form:?}");
            form.iter().find(|(k, _)| k == "DesiredCapacity").unwrap().1.as_str()
        })
        .collect();
    // Each change sent once, the throttled and the refused ones twice; never a count outside
    // the group's limits.
    assert_eq!(sizes, ["4", "4", "10", "10", "2"], "{sets:?}");

    // The group's instance counts are series in the store.
    let q = get_json(&lookout, "/api/v1/query?query=lookout_asg_in_service_instances").await;
    let series = &q["data"]["result"][0];
    assert_eq!(series["metric"]["group"], "api-asg", "{q}");
    assert_eq!(series["metric"]["scaler"], "api", "{q}");
}

const TG_RULES: &str = r#"groups:
  - name: lb
    interval: 200ms
    rules:
      - alert: TargetsUnhealthy
        expr: sum by (target_group) (lookout_lb_targets{state!="healthy"}) > 0
"#;

/// `target_health:` polls an ALB target group (two EC2 instances registered) into
/// `lookout_lb_targets`; when one instance stops, the counts move and a rule on them fires.
#[tokio::test]
async fn alb_target_health_becomes_series_and_alerts() {
    let moto_peer = start_moto().await;
    let moto = moto_peer.address.as_str();
    let ec2 = |params: &'static [(&'static str, &'static str)]| query_api(moto, "ec2", "2016-11-15", params);
    let vpc = xml_values(&ec2(&[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")]).await, "vpcId")[0].clone();
    let elb = |params: Vec<(&'static str, String)>| async move {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query_api(moto, "elasticloadbalancing", "2015-12-01", &p).await
    };
    let tg = elb(vec![
        ("Action", "CreateTargetGroup".to_string()),
        ("Name", "api".to_string()),
        ("Protocol", "HTTP".to_string()),
        ("Port", "80".to_string()),
        ("VpcId", vpc),
        ("TargetType", "instance".to_string()),
    ])
    .await;
    let arn = xml_values(&tg, "TargetGroupArn")[0].clone();
    let run = ec2(&[
        ("Action", "RunInstances"),
        ("ImageId", "ami-12c6146b"),
        ("InstanceType", "t3.micro"),
        ("MinCount", "2"),
        ("MaxCount", "2"),
    ])
    .await;
    let ids = xml_values(&run, "instanceId");
    assert_eq!(ids.len(), 2, "{run}");
    elb(vec![
        ("Action", "RegisterTargets".to_string()),
        ("TargetGroupArn", arn.clone()),
        ("Targets.member.1.Id", ids[0].clone()),
        ("Targets.member.2.Id", ids[1].clone()),
    ])
    .await;

    let policy = format!(
        "target_health:\n  - {{ target_group: '{arn}', region: us-east-1, endpoint: 'http://{moto}', interval_seconds: 1 }}\nscalers: []\n"
    );
    let lookout = Lookout::start_custom(
        |api, grpc, http, dir| {
            std::fs::write(dir.join("scaling.yml"), &policy).unwrap();
            std::fs::create_dir_all(dir.join("rules")).unwrap();
            std::fs::write(dir.join("rules/lb.yml"), TG_RULES).unwrap();
            format!(
                "{}scaling:\n  files: [scaling.yml]\nrules:\n  files: [rules/*.yml]\n",
                pipeline(api, grpc, http, dir, "", "enrich")
            )
        },
        AWS_ENV,
    )
    .await;
    let targets = |state: &'static str| {
        let lookout = &lookout;
        async move {
            let q = get_json(lookout, &format!("/api/v1/query?query=lookout_lb_targets{{state=%22{state}%22}}")).await;
            let v = &q["data"]["result"][0];
            (v["metric"]["target_group"].as_str().map(str::to_string), v["value"][1].as_str().map(str::to_string))
        }
    };
    let wait = |state: &'static str, want: &'static str| {
        let targets = &targets;
        let lookout = &lookout;
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let (group, value) = targets(state).await;
                if value.as_deref() == Some(want) {
                    assert_eq!(group.as_deref(), Some("api"));
                    return;
                }
                assert!(Instant::now() < deadline, "{state}: {value:?}, not {want}\n{}", lookout.log());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    wait("healthy", "2").await;
    wait("unhealthy", "0").await;
    let up = get_json(&lookout, "/api/v1/query?query=lookout_lb_target_health_up").await;
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");

    // A stopped instance is `unused` in its target group.
    query_api(moto, "ec2", "2016-11-15", &[("Action", "StopInstances"), ("InstanceId.1", &ids[0])]).await;
    wait("healthy", "1").await;
    wait("unused", "1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alerts = get_json(&lookout, "/api/v1/alerts").await;
        let firing = alerts["data"]["alerts"].as_array().unwrap().iter().any(|a| {
            a["labels"]["alertname"] == "TargetsUnhealthy"
                && a["labels"]["target_group"] == "api"
                && a["state"] == "firing"
        });
        if firing {
            break;
        }
        assert!(Instant::now() < deadline, "no TargetsUnhealthy alert: {alerts}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
