//! The Prometheus query API, differentially: the same OTLP metrics go into Lookout's
//! store and, through the store's remote write, into Debian's Prometheus; then a few
//! hundred generated instant and range queries (metric × function × grouping, plus
//! operators, modifiers and subqueries) must give the same result types, label sets
//! and values (1e-9 relative) from both. `promtool query` prints the same from both,
//! and the requests Grafana's Prometheus data source sends are answered alike.
//!
//! Lookout evaluates with Prometheus 3's semantics, the Debian Prometheus is 2.42, so the
//! queries stay where the two agree: sample timestamps sit 1.234 s off the 10 s grid
//! every query time, window and step is on, and subquery ranges are 5 s off their
//! step's grid, so closed (2.x) and left-open (3.x) windows see the same samples; and
//! no counter window reaches back before the series' first sample, where 3.x
//! extrapolates differently (prometheus/prometheus#13725 applies the zero point after
//! the extrapolation threshold).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{Lookout, pipeline, start_prometheus};

const STEPS: i64 = 48;
const STEP_MS: i64 = 15_000;
const OFF_GRID_MS: i64 = 1_234;
/// The step whose `http.duration{method="GET"}` point of instance i1 carries an exemplar.
const EXEMPLAR_STEP: i64 = 40;

fn attrs(pairs: &[(&str, &str)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect())
}

/// One OTLP/JSON request with every metric's point at step `k` (timestamps in order per
/// series, so both stores accept them).
fn step_request(base_ms: i64, k: i64, instance: usize) -> Value {
    let t = ((base_ms + OFF_GRID_MS + k * STEP_MS) as i128 * 1_000_000).to_string();
    let inst = ["i1", "i2"][instance];
    let mut gauges = Vec::new();
    for (q, queue) in ["a", "b", "c"].iter().enumerate() {
        if *queue == "c" && instance == 0 && k > 30 {
            if k == 31 {
                // The series ends: OTLP's "no recorded value" becomes a staleness marker.
                gauges.push(
                    json!({"timeUnixNano": t, "asDouble": 0.0, "flags": 1, "attributes": attrs(&[("queue", queue)])}),
                );
            }
            continue;
        }
        let v = ((k * 7 + q as i64 * 13 + instance as i64 * 5) % 17) as f64 + 0.25 * q as f64;
        gauges.push(json!({"timeUnixNano": t, "asDouble": v, "attributes": attrs(&[("queue", queue)])}));
    }
    let mut counters = Vec::new();
    let mut histograms = Vec::new();
    for (m, method) in ["GET", "POST"].iter().enumerate() {
        for (c, code) in ["200", "500"].iter().enumerate() {
            let inc = |j: i64| (j % 5) + 1 + m as i64 * 2 + c as i64;
            let mut total: i64 = (0..=k).map(inc).sum();
            if instance == 1 && m == 0 && c == 0 && k >= 24 {
                total = (24..=k).map(inc).sum(); // a restart: the counter resets
            }
            counters.push(json!({"timeUnixNano": t, "asInt": total.to_string(),
                "attributes": attrs(&[("method", method), ("code", code)])}));
        }
        // Cumulative bucket counts growing at different speeds per bucket.
        let b = |i: i64| (0..=k).map(|j| (j * (i + 1) + m as i64 * 3) % (4 + i)).sum::<i64>();
        let buckets: Vec<i64> = (0..5).map(b).collect();
        let count: i64 = buckets.iter().sum();
        let sum = buckets.iter().zip([0.05, 0.3, 0.7, 3.0, 8.0]).map(|(n, v)| *n as f64 * v).sum::<f64>();
        let mut point = json!({"timeUnixNano": t, "count": count.to_string(), "sum": sum,
            "bucketCounts": buckets.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "explicitBounds": [0.1, 0.5, 1.0, 5.0], "attributes": attrs(&[("method", method)])});
        if k == EXEMPLAR_STEP && instance == 0 && m == 0 {
            // Evidence of one slow request, on the bucket its value falls in.
            point["exemplars"] = json!([{"timeUnixNano": t, "asDouble": 0.3,
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]);
        }
        histograms.push(point);
    }
    json!({"resourceMetrics": [{
        "resource": {"attributes": attrs(&[("service.name", "shop"), ("service.instance.id", inst)])},
        "scopeMetrics": [{"metrics": [
            {"name": "queue.depth", "gauge": {"dataPoints": gauges}},
            {"name": "http.requests", "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": counters}},
            {"name": "http.duration", "unit": "s", "histogram": {"aggregationTemporality": 2, "dataPoints": histograms}},
        ]}]
    }]})
}

/// Instant-query expressions: metric × function × grouping, then the rest of PromQL.
fn instant_exprs() -> Vec<String> {
    let counters = ["http_requests_total", "http_duration_seconds_count", "http_duration_seconds_bucket"];
    let gauges = ["queue_depth", "queue_depth{queue=~\"a|c\"}", "queue_depth{instance=\"i2\"}"];
    let mut out = Vec::new();
    for m in counters {
        for f in ["rate", "irate", "increase", "resets", "changes"] {
            for w in ["1m", "5m"] {
                out.push(format!("{f}({m}[{w}])"));
            }
        }
    }
    for m in gauges {
        out.push(m.to_string());
        for f in [
            "delta",
            "idelta",
            "deriv",
            "avg_over_time",
            "min_over_time",
            "max_over_time",
            "sum_over_time",
            "count_over_time",
            "last_over_time",
            "stddev_over_time",
            "stdvar_over_time",
            "present_over_time",
        ] {
            out.push(format!("{f}({m}[2m])"));
        }
        out.push(format!("quantile_over_time(0.75, {m}[5m])"));
        out.push(format!("predict_linear({m}[5m], 120)"));
        out.push(format!("holt_winters({m}[5m], 0.5, 0.3)"));
        for f in ["abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10", "sgn", "timestamp"] {
            out.push(format!("{f}({m})"));
        }
    }
    let inner = ["queue_depth", "rate(http_requests_total[5m])"];
    for e in inner {
        for agg in ["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"] {
            for grouping in ["", " by (instance)", " without (instance)", " by (queue, method)"] {
                out.push(format!("{agg}{grouping} ({e})"));
            }
        }
        for grouping in ["", " by (instance)"] {
            out.push(format!("topk{grouping} (2, {e})"));
            out.push(format!("bottomk{grouping} (1, {e})"));
            out.push(format!("quantile{grouping} (0.3, {e})"));
        }
        out.push(format!("count_values(\"v\", round({e}))"));
    }
    out.extend(
        [
            "histogram_quantile(0.9, sum by (le) (rate(http_duration_seconds_bucket[5m])))",
            "histogram_quantile(0.5, rate(http_duration_seconds_bucket[2m]))",
            "histogram_quantile(0.99, sum by (le, instance) (increase(http_duration_seconds_bucket[5m])))",
            "rate(http_duration_seconds_sum[5m]) / rate(http_duration_seconds_count[5m])",
            "sum by (instance) (rate(http_requests_total{code=\"500\"}[5m])) / sum by (instance) (rate(http_requests_total[5m]))",
            "http_requests_total / on(instance, method, code) (http_requests_total offset 1m)",
            "http_requests_total / ignoring(code) group_left sum without (code) (http_requests_total)",
            "sum without (code) (http_requests_total) * on(instance, method) group_right http_requests_total",
            "queue_depth * on(instance) group_left(service_instance_id) target_info",
            "queue_depth > 5",
            "queue_depth > bool 5",
            "queue_depth == on(instance, queue) queue_depth offset 30s",
            "5 < queue_depth",
            "queue_depth - 2 * queue_depth offset 1m",
            "queue_depth % 3",
            "queue_depth ^ 2",
            "atan2(queue_depth, 3)",
            "-queue_depth",
            "queue_depth and on(instance) http_requests_total",
            "queue_depth{queue=\"a\"} or queue_depth{instance=\"i1\"}",
            "queue_depth unless on(queue) queue_depth{instance=\"i2\"}",
            "queue_depth offset 2m",
            "rate(http_requests_total[5m] offset 1m)",
            "max_over_time(queue_depth[5m5s:30s])",
            "max_over_time(rate(http_requests_total[1m])[4m5s:1m])",
            "avg_over_time(queue_depth[3m5s:20s] offset 1m)",
            "absent(nothing{job=\"x\"})",
            "absent(queue_depth)",
            "absent_over_time(nothing[5m])",
            "label_replace(queue_depth, \"q2\", \"q-$1\", \"queue\", \"(.*)\")",
            "label_join(queue_depth, \"both\", \"/\", \"instance\", \"queue\")",
            "scalar(sum(queue_depth))",
            "vector(scalar(count(queue_depth)))",
            "time()",
            "clamp(queue_depth, 2, 10)",
            "clamp_min(queue_depth, 8)",
            "clamp_max(queue_depth, 8)",
            "round(queue_depth, 0.5)",
            "sort(queue_depth)",
            "sort_desc(sum by (queue) (queue_depth))",
            "minute(timestamp(queue_depth))",
            "day_of_week()",
            "count(queue_depth) by (queue) > 1",
            "sum(rate(http_requests_total[5m])) by (method) * 60",
            "1 + 2 * 3",
            "\"text\"",
            "queue_depth{queue=\"a\"}[1m]",
            "http_requests_total{instance=\"i2\",method=\"GET\",code=\"200\"}[2m]",
        ]
        .map(String::from),
    );
    out
}

/// Range-query expressions (scalar or instant-vector typed).
fn range_exprs() -> Vec<String> {
    let mut out: Vec<String> = [
        "queue_depth",
        "rate(http_requests_total[1m])",
        "increase(http_requests_total[2m])",
        "irate(http_duration_seconds_count[1m])",
        "sum by (instance) (rate(http_requests_total[5m]))",
        "avg without (queue) (queue_depth)",
        "topk(1, queue_depth)",
        "histogram_quantile(0.9, sum by (le) (rate(http_duration_seconds_bucket[5m])))",
        "queue_depth offset 1m",
        "queue_depth @ end()",
        "rate(http_requests_total[1m] @ start())",
        "max_over_time(queue_depth[2m5s:30s])",
        "holt_winters(queue_depth[3m], 0.4, 0.6)",
        "deriv(queue_depth[2m])",
        "absent(queue_depth{queue=\"c\",instance=\"i1\"})",
        "queue_depth > 6",
        "time() - timestamp(queue_depth)",
        "scalar(sum(queue_depth))",
        "2",
        "count(queue_depth)",
    ]
    .map(String::from)
    .to_vec();
    for agg in ["sum", "max", "count"] {
        out.push(format!("{agg} by (queue) (last_over_time(queue_depth[1m]))"));
    }
    out
}

/// `application/x-www-form-urlencoded`.
fn form_body(form: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// POSTs a form, as Grafana does.
async fn api(client: &reqwest::Client, base: &str, path: &str, form: &[(&str, String)]) -> (u16, Value) {
    let r = client
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(form))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} {form:?}: not JSON ({e}): {text}")))
}

fn num(v: &Value) -> f64 {
    match v.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Series of a vector or matrix result keyed by their labels: `[(t, v)]` each.
fn by_labels(result: &Value) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut out = BTreeMap::new();
    for s in result.as_array().unwrap() {
        let points: Vec<(f64, f64)> = match (s.get("value"), s.get("values")) {
            (Some(p), _) => vec![(p[0].as_f64().unwrap(), num(&p[1]))],
            (_, Some(ps)) => ps.as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), num(&p[1]))).collect(),
            _ => panic!("neither value nor values: {s}"),
        };
        let prev = out.insert(s["metric"].to_string(), points);
        assert!(prev.is_none(), "duplicate series {s}");
    }
    out
}

/// Why two API answers differ, if they do.
fn diff(lookout: &(u16, Value), prom: &(u16, Value)) -> Option<String> {
    let (l, p) = (&lookout.1, &prom.1);
    if lookout.0 != prom.0 || l["status"] != p["status"] {
        return Some(format!("status {} {} vs {} {}", lookout.0, l, prom.0, p));
    }
    if p["status"] == "error" {
        return (l["errorType"] != p["errorType"]).then(|| format!("errorType {l} vs {p}"));
    }
    let (ld, pd) = (&l["data"], &p["data"]);
    if ld["resultType"] != pd["resultType"] {
        return Some(format!("resultType {ld} vs {pd}"));
    }
    match pd["resultType"].as_str().unwrap() {
        "scalar" | "string" => {
            let same = ld["result"][0] == pd["result"][0]
                && (ld["result"][1] == pd["result"][1] || close(num(&ld["result"][1]), num(&pd["result"][1])));
            (!same).then(|| format!("{ld} vs {pd}"))
        }
        _ => {
            let (ls, ps) = (by_labels(&ld["result"]), by_labels(&pd["result"]));
            if ls.keys().ne(ps.keys()) {
                return Some(format!(
                    "series {:?} vs {:?}",
                    ls.keys().collect::<Vec<_>>(),
                    ps.keys().collect::<Vec<_>>()
                ));
            }
            for (k, lp) in &ls {
                let pp = &ps[k];
                let same = lp.len() == pp.len() && lp.iter().zip(pp).all(|(a, b)| a.0 == b.0 && close(a.1, b.1));
                if !same {
                    return Some(format!("{k}: {lp:?} vs {pp:?}"));
                }
            }
            None
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn answers_like_prometheus() {
    let Some(prom) = start_prometheus().await else { return };
    let prom_url = prom.url.clone();
    let lookout = Lookout::start_custom(
        move |api, grpc, http, dir| {
            format!(
                "{}  metrics:\n    type: metrics_store\n    inputs: [otlp]\nrules:\n  remote_write:\n    url: {prom_url}/api/v1/write\n",
                pipeline(api, grpc, http, dir, "", "enrich")
            )
        },
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let lk = format!("http://{}", lookout.api);

    // 12 minutes of history ending about now, on a 10 s grid plus OFF_GRID_MS.
    let base = (now_ms() - STEPS * STEP_MS - 30_000) / 10_000 * 10_000;
    for k in 0..STEPS {
        for instance in 0..2 {
            let body = step_request(base, k, instance);
            let r = client.post(format!("http://{}/v1/metrics", lookout.http)).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    }
    let s = |ms: i64| format!("{}", ms as f64 / 1000.0);
    let last = base + 900_000;
    // Everything Lookout stored has reached Prometheus.
    let all_q = vec![("query", "{__name__=~\".+\"}[20m]".to_string()), ("time", s(last))];
    let points = |v: &Value| -> usize {
        v["data"]["result"].as_array().map_or(0, |r| r.iter().map(|s| s["values"].as_array().unwrap().len()).sum())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (a, b) =
            (api(&client, &lk, "/api/v1/query", &all_q).await, api(&client, &prom.url, "/api/v1/query", &all_q).await);
        if points(&a.1) > 0 && points(&a.1) == points(&b.1) {
            eprintln!("both stores hold {} samples", points(&a.1));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "remote write never caught up: {} vs {}\n{}",
            points(&a.1),
            points(&b.1),
            lookout.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let started = Instant::now();
    let mut compared = 0;
    let mut failures = Vec::new();
    for expr in instant_exprs() {
        for at in [420_000, 610_000, 900_000] {
            let form = vec![("query", expr.clone()), ("time", s(base + at))];
            let (l, p) = (
                api(&client, &lk, "/api/v1/query", &form).await,
                api(&client, &prom.url, "/api/v1/query", &form).await,
            );
            if let Some(why) = diff(&l, &p) {
                failures.push(format!("instant {expr} @ +{}s: {why}", at / 1000));
            }
            compared += 1;
        }
    }
    for expr in range_exprs() {
        for (from, to, step) in [(420_000, 900_000, "30s"), (450_000, 600_000, "10"), (360_000, 720_000, "1m")] {
            let form = vec![
                ("query", expr.clone()),
                ("start", s(base + from)),
                ("end", s(base + to)),
                ("step", step.to_string()),
            ];
            let (l, p) = (
                api(&client, &lk, "/api/v1/query_range", &form).await,
                api(&client, &prom.url, "/api/v1/query_range", &form).await,
            );
            if let Some(why) = diff(&l, &p) {
                failures.push(format!("range {expr} {from}..{to}/{step}: {why}"));
            }
            compared += 1;
        }
    }
    eprintln!("{compared} queries compared in {:?}", started.elapsed());
    assert!(failures.is_empty(), "{} of {compared} differ:\n{}", failures.len(), failures.join("\n"));
    assert!(compared > 300, "{compared}");

    // What Grafana's Prometheus data source sends: buildinfo, labels and values with a
    // range, series with match[], POSTed forms.
    let info: Value = reqwest::get(format!("{lk}/api/v1/status/buildinfo")).await.unwrap().json().await.unwrap();
    assert!(info["data"]["version"].as_str().unwrap().starts_with("2."), "{info}");
    assert!(!info["data"]["lookoutVersion"].as_str().unwrap().is_empty(), "{info}");
    let range = [("start", s(base)), ("end", s(last))];
    for (path, form) in [
        ("/api/v1/labels", range.to_vec()),
        ("/api/v1/labels", [&range[..], &[("match[]", "queue_depth".to_string())]].concat()),
        (
            "/api/v1/series",
            [&range[..], &[("match[]", "{__name__=~\"http_.*_count|queue_depth\"}".to_string())]].concat(),
        ),
        ("/api/v1/series", vec![("match[]", "target_info".to_string()), ("match[]", "{queue=\"c\"}".to_string())]),
    ] {
        let (l, p) = (api(&client, &lk, path, &form).await, api(&client, &prom.url, path, &form).await);
        assert_eq!(l, p, "{path} {form:?}");
    }
    for name in ["__name__", "queue", "le", "instance"] {
        let q = format!("/api/v1/label/{name}/values?start={}&end={}", s(base), s(last));
        let l: Value = reqwest::get(format!("{lk}{q}")).await.unwrap().json().await.unwrap();
        let p: Value = reqwest::get(format!("{}{q}", prom.url)).await.unwrap().json().await.unwrap();
        assert_eq!(l, p, "{q}");
        let q = format!("{q}&match[]=http_requests_total");
        let l: Value = reqwest::get(format!("{lk}{q}")).await.unwrap().json().await.unwrap();
        let p: Value = reqwest::get(format!("{}{q}", prom.url)).await.unwrap().json().await.unwrap();
        assert_eq!(l, p, "{q}");
    }
    // Byte for byte, where the number formats show.
    for q in [
        format!("/api/v1/query?query=queue_depth%7Bqueue%3D%22a%22%7D&time={}", s(base + 610_500)),
        format!("/api/v1/query?query=scalar(sum(queue_depth))&time={}", s(base + 610_500)),
        format!(
            "/api/v1/query_range?query=sum(queue_depth)/7&start={}&end={}&step=7.5",
            s(base + 300_000),
            s(base + 330_000)
        ),
    ] {
        let l = reqwest::get(format!("{lk}{q}")).await.unwrap().text().await.unwrap();
        let p = reqwest::get(format!("{}{q}", prom.url)).await.unwrap().text().await.unwrap();
        assert_eq!(l, p, "{q}");
    }

    // The OTLP exemplar, from the store's exemplar storage (Prometheus's shape).
    let q = format!(
        "/api/v1/query_exemplars?query=sum(rate(http_duration_seconds_bucket%5B5m%5D))&start={}&end={}",
        s(base),
        s(last)
    );
    let got: Value = reqwest::get(format!("{lk}{q}")).await.unwrap().json().await.unwrap();
    let t_exemplar = (base + OFF_GRID_MS + EXEMPLAR_STEP * STEP_MS) as f64 / 1000.0;
    assert_eq!(
        got,
        json!({"status": "success", "data": [{
            "seriesLabels": {"__name__": "http_duration_seconds_bucket", "instance": "i1", "job": "shop", "le": "0.5", "method": "GET"},
            "exemplars": [{"labels": {"span_id": "eee19b7ec3c1b174", "trace_id": "5b8efff798038103d269b633813fc60c"}, "value": "0.3", "timestamp": t_exemplar}]
        }]}),
        "{q}"
    );

    // Every request counted on /metrics by endpoint and result.
    let metrics = reqwest::get(format!("{lk}/metrics")).await.unwrap().text().await.unwrap();
    for line in [
        "lookout_query_requests_total{endpoint=\"query_range\",result=\"success\"}",
        "lookout_query_requests_total{endpoint=\"series\",result=\"success\"}",
        "lookout_query_duration_seconds_count{endpoint=\"query\"}",
    ] {
        let ours: Vec<&str> = metrics.lines().filter(|l| l.contains("lookout_query")).collect();
        assert!(metrics.contains(line), "{line} missing from /metrics: {ours:#?}");
    }

    // promtool prints the same from both.
    let at = s(base + 610_000);
    for args in [
        vec!["query", "instant", "--time", &at, "URL", "sort_desc(sum by (queue) (queue_depth))"],
        vec!["query", "instant", "--time", &at, "URL", "http_requests_total{instance=\"i2\"}"],
        vec!["query", "instant", "--time", &at, "URL", "scalar(count(queue_depth))"],
        vec![
            "query",
            "range",
            "--start",
            &s(base + 300_000),
            "--end",
            &at,
            "--step",
            "1m",
            "URL",
            "rate(http_requests_total{method=\"GET\"}[2m])",
        ],
    ] {
        let run = |url: &str| {
            let args: Vec<&str> = args.iter().map(|a| if *a == "URL" { url } else { a }).collect();
            let out = Command::new("promtool").args(&args).output().expect("promtool");
            assert!(out.status.success(), "promtool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let (l, p) = (run(&lk), run(&prom.url));
        assert!(!l.trim().is_empty(), "{args:?}");
        assert_eq!(l, p, "promtool {args:?}");
    }
}

/// Rule files using `holt_winters` (Prometheus 2's name) load as promtool 2.x loads them,
/// and `double_exponential_smoothing` (Prometheus 3's name, unknown to promtool 2.42)
/// loads too.
#[test]
fn holt_winters_rule_files_load() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("v2.yml");
    let v3 = dir.path().join("v3.yml");
    std::fs::write(
        &v2,
        "groups:\n  - name: forecast\n    rules:\n      - record: queue:depth:smoothed\n        expr: holt_winters(queue_depth[10m], 0.3, 0.5)\n      - alert: QueueTrend\n        expr: holt_winters(queue_depth[10m], 0.3, 0.5) > 100\n",
    )
    .unwrap();
    std::fs::write(
        &v3,
        "groups:\n  - name: forecast\n    rules:\n      - alert: QueueTrend\n        expr: double_exponential_smoothing(queue_depth[10m], 0.3, 0.5) > 100\n",
    )
    .unwrap();
    let run = |program: std::path::PathBuf, file: &std::path::Path| {
        let out = Command::new(program).args(["check", "rules"]).arg(file).current_dir(dir.path()).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let lookout = run(crate::util::lookout_bin(), std::path::Path::new("v2.yml"));
    assert_eq!(lookout, (Some(0), "Checking v2.yml\n  SUCCESS: 2 rules found\n\n".to_string()));
    if Command::new("promtool").arg("--version").output().is_ok() {
        assert_eq!(run("promtool".into(), std::path::Path::new("v2.yml")), lookout, "as promtool 2.x");
    }
    let (code, out) = run(crate::util::lookout_bin(), &v3);
    assert_eq!(code, Some(0), "{out}");
}
