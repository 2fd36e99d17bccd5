//! The router end to end in process: shapes, parameters, errors, as Prometheus answers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lookout_tsdb::{Labels, Store, StoreConfig};
use tower::ServiceExt;

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

/// A store with `up{job=a|b}` and a counter, samples every 15 s from t=1000 s.
fn store() -> Arc<Store> {
    let s = Store::new(StoreConfig { retention_ms: i64::MAX / 4, max_series: 1000 });
    for i in 0..40i64 {
        let t = 1_000_000 + i * 15_000;
        s.append(&l(&[("__name__", "up"), ("job", "a")]), t, 1.0).unwrap();
        s.append(&l(&[("__name__", "up"), ("job", "b"), ("zone", "<eu>")]), t, 0.0).unwrap();
        s.append(&l(&[("__name__", "req_total"), ("job", "a")]), t, (i * 3) as f64).unwrap();
    }
    Arc::new(s)
}

async fn call(router: &Router, req: Request<Body>) -> (StatusCode, String) {
    let r = router.clone().oneshot(req).await.unwrap();
    let status = r.status();
    assert_eq!(r.headers()["content-type"], "application/json");
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn get(router: &Router, uri: &str) -> (StatusCode, String) {
    call(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(router: &Router, uri: &str, form: &str) -> (StatusCode, String) {
    let req = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    call(router, req).await
}

fn router() -> Router {
    QueryApi::new(store()).with_version("9.9.9").router()
}

#[tokio::test]
async fn instant_query_shapes() {
    let r = router();
    let (code, body) = get(&r, "/api/v1/query?query=up&time=1100").await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1100,"1"]},{"metric":{"__name__":"up","job":"b","zone":"\u003ceu\u003e"},"value":[1100,"0"]}]}}"#
    );
    let (_, body) = get(&r, "/api/v1/query?query=1%2F3&time=1100.5").await;
    assert_eq!(body, r#"{"status":"success","data":{"resultType":"scalar","result":[1100.5,"0.3333333333333333"]}}"#);
    let (_, body) = get(&r, "/api/v1/query?query=%22hi%22&time=1100").await;
    assert_eq!(body, r#"{"status":"success","data":{"resultType":"string","result":[1100,"hi"]}}"#);
    let (_, body) = get(&r, "/api/v1/query?query=up%7Bjob%3D%22a%22%7D%5B30s%5D&time=1030").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a"},"values":[[1015,"1"],[1030,"1"]]}]}}"#
    );
    let (_, body) = get(&r, "/api/v1/query?query=-1%2F0&time=1100.25").await;
    assert!(body.contains(r#"[1100.25,"-Inf"]"#), "{body}");
    let (_, body) = post(&r, "/api/v1/query", "query=rate(req_total[1m])&time=1300.5").await;
    assert!(body.contains(r#""value":[1300.500,"0.19999999999999998"]"#), "vector timestamps keep 3 decimals: {body}");
}

#[tokio::test]
async fn range_query_shapes_and_limits() {
    let r = router();
    let (code, body) = post(&r, "/api/v1/query_range", "query=sum(up)&start=1000&end=1030&step=15s").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1000,"1"],[1015,"1"],[1030,"1"]]}]}}"#
    );
    let (_, body) = get(&r, "/api/v1/query_range?query=2&start=1970-01-01T00:16:40Z&end=1001&step=0.5").await;
    assert!(body.contains(r#"[[1000,"2"],[1000.500,"2"],[1001,"2"]]"#), "{body}");
    for (q, want) in [
        ("query=up&start=x&end=1&step=1", r#"invalid parameter \"start\": cannot parse \"x\" to a valid timestamp"#),
        ("query=up&start=2&end=1&step=1", r#"invalid parameter \"end\": end timestamp must not be before start time"#),
        ("query=up&start=1&end=2&step=x", r#"invalid parameter \"step\": cannot parse \"x\" to a valid duration"#),
        (
            "query=up&start=1&end=2&step=0",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "query=up&start=0&end=11001&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "query=up[5m]&start=0&end=1&step=1",
            r#"invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"#,
        ),
        (
            "query=up&start=1&end=2&step=1&timeout=x",
            r#"invalid parameter \"timeout\": cannot parse \"x\" to a valid duration"#,
        ),
    ] {
        let (code, body) = get(&r, &format!("/api/v1/query_range?{q}")).await;
        assert_eq!(code, 400, "{q}: {body}");
        assert!(body.starts_with(r#"{"status":"error","errorType":"bad_data","error":""#), "{q}: {body}");
        assert!(body.contains(want), "{q}: {body}");
    }
    let (code, _) = get(&r, "/api/v1/query_range?query=up&start=0&end=11000&step=1").await;
    assert_eq!(code, 200, "exactly 11,000 is allowed");
}

#[tokio::test]
async fn query_errors() {
    let r = router();
    let (code, body) = get(&r, "/api/v1/query?query=").await;
    assert_eq!(code, 400);
    assert!(body.contains(r#"invalid parameter \"query\""#), "{body}");
    let (code, body) = get(&r, "/api/v1/query?query=sum(").await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = get(&r, "/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(code, 400);
    assert!(
        body.contains(r#"invalid parameter \"time\": Invalid time value for 'time': cannot parse \"yesterday\""#),
        "{body}"
    );
    let (code, body) = get(&r, "/api/v1/query?query=holt_winters(up%5B1m%5D%2C2%2C0.5)&time=1100").await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains(r#""errorType":"execution","error":"invalid smoothing factor. Expected: 0 \u003c sf \u003c 1, got: 2.000000""#), "{body}");
    let (code, body) =
        get(&r, "/api/v1/query?query=%7B__name__%3D~%22up%7Creq_total%22%2Cjob%3D%22a%22%7D*2&time=1100").await;
    assert_eq!(code, 422, "duplicate series: {body}");
    let slow = QueryApi::new(store()).with_timeout(Duration::ZERO).router();
    let (code, body) = get(&slow, "/api/v1/query?query=up&time=1100").await;
    assert_eq!((code.as_u16(), body.contains(r#""errorType":"timeout""#)), (503, true), "{body}");
    let small = QueryApi::new(store()).with_max_samples(10).router();
    let (code, body) = get(&small, "/api/v1/query_range?query=up&start=1000&end=1500&step=15").await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = get(&small, "/api/v1/query?query=count_over_time(up%5B10m%5D)&time=1500").await;
    assert_eq!(code, 422, "instant queries are bounded too: {body}");
    assert!(body.contains("query processing would load too many samples into memory"), "{body}");
}

#[tokio::test]
async fn series_labels_and_values() {
    let r = router();
    let (code, body) = get(&r, "/api/v1/series?match[]=up&match[]=%7Bjob%3D%22a%22%7D").await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"req_total","job":"a"},{"__name__":"up","job":"a"},{"__name__":"up","job":"b","zone":"\u003ceu\u003e"}]}"#
    );
    let (_, body) = post(&r, "/api/v1/series", "match[]=up{job=\"b\"}&start=1000&end=2000").await;
    assert_eq!(body, r#"{"status":"success","data":[{"__name__":"up","job":"b","zone":"\u003ceu\u003e"}]}"#);
    let (code, body) = get(&r, "/api/v1/series").await;
    assert_eq!(
        (code.as_u16(), body.as_str()),
        (400, r#"{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}"#)
    );
    let (code, body) = get(&r, "/api/v1/series?match[]=%7Bjob%3D%22%22%7D").await;
    assert_eq!(code, 400);
    assert!(body.contains("must contain at least one non-empty matcher"), "{body}");

    let (_, body) = get(&r, "/api/v1/labels").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","job","zone"]}"#);
    let (_, body) = post(&r, "/api/v1/labels", "match[]=req_total&start=1000&end=2000").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","job"]}"#);
    let (_, body) = get(&r, "/api/v1/labels?start=5000").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#, "no sample after the start");

    let (_, body) = get(&r, "/api/v1/label/__name__/values").await;
    assert_eq!(body, r#"{"status":"success","data":["req_total","up"]}"#);
    let (_, body) = get(&r, "/api/v1/label/zone/values?match[]=up").await;
    assert_eq!(body, r#"{"status":"success","data":["\u003ceu\u003e"]}"#);
    let (_, body) = get(&r, "/api/v1/label/nope/values").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = get(&r, "/api/v1/label/__name__/values?limit=1").await;
    assert_eq!(body, r#"{"status":"success","data":["req_total"],"warnings":["results truncated due to limit"]}"#);
    let (_, body) = get(&r, "/api/v1/series?match[]=up&limit=1").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"__name__":"up","job":"a"}],"warnings":["results truncated due to limit"]}"#
    );
    let (_, body) = post(&r, "/api/v1/labels", "limit=3").await;
    assert_eq!(body, r#"{"status":"success","data":["__name__","job","zone"]}"#, "not cut: no warning");
    let (code, body) = get(&r, "/api/v1/labels?limit=-1").await;
    assert_eq!(
        (code.as_u16(), body.as_str()),
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": limit must be non-negative"}"#
        )
    );
    let (code, body) = get(&r, "/api/v1/label/a-b/values").await;
    assert_eq!(
        (code.as_u16(), body.as_str()),
        (400, r#"{"status":"error","errorType":"bad_data","error":"invalid label name: \"a-b\""}"#)
    );
}

struct OneMetadata;
impl MetadataSource for OneMetadata {
    fn metadata(&self) -> std::collections::BTreeMap<String, Vec<MetricMetadata>> {
        let m = |kind: &str| MetricMetadata { kind: kind.into(), help: "Requests.".into(), unit: "".into() };
        [("req_total".to_string(), vec![m("counter")]), ("up".to_string(), vec![m("gauge")])].into_iter().collect()
    }
}

#[tokio::test]
async fn status_metadata_and_exemplars() {
    let r = router();
    let (_, body) = get(&r, "/api/v1/status/buildinfo").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"version":"2.53.0","revision":"","branch":"","buildUser":"","buildDate":"","goVersion":"","lookoutVersion":"9.9.9"}}"#
    );
    let (_, body) = get(&r, "/api/v1/metadata").await;
    assert_eq!(body, r#"{"status":"success","data":{}}"#);
    let (_, body) = get(&r, "/api/v1/query_exemplars?query=up%2Breq_total&start=1&end=2").await;
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let resp = QueryApi::new(store())
        .router()
        .oneshot(Request::get("/api/v1/query_exemplars?query=1").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "no selector: Prometheus answers 204");

    let s = store();
    let e = |t: i64, v: f64| lookout_tsdb::exemplars::Exemplar { labels: l(&[("trace_id", "abc")]), value: v, t };
    s.exemplars().append(&l(&[("__name__", "up"), ("job", "a")]), e(1_479, 6.0)).unwrap();
    s.exemplars().append(&l(&[("__name__", "up"), ("job", "a")]), e(5_000, 7.0)).unwrap();
    s.exemplars().append(&l(&[("__name__", "other")]), e(1_500, 1.0)).unwrap();
    let r = QueryApi::new(s).with_metadata(Arc::new(OneMetadata)).router();
    let (_, body) = get(&r, "/api/v1/metadata?metric=up").await;
    assert_eq!(body, r#"{"status":"success","data":{"up":[{"type":"gauge","help":"Requests.","unit":""}]}}"#);
    let (_, body) = get(&r, "/api/v1/metadata?limit=1").await;
    assert_eq!(body, r#"{"status":"success","data":{"req_total":[{"type":"counter","help":"Requests.","unit":""}]}}"#);
    let (code, _) = get(&r, "/api/v1/metadata?limit=x").await;
    assert_eq!(code, 400);
    let (_, body) = post(&r, "/api/v1/query_exemplars", "query=up%2Breq_total&start=1&end=2").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":[{"seriesLabels":{"__name__":"up","job":"a"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"6","timestamp":1.479}]}]}"#
    );
}

#[tokio::test]
async fn format_query() {
    let r = router();
    let (_, body) = get(&r, "/api/v1/format_query?query=sum+by(job)(rate(x%5B5m%5D))").await;
    assert_eq!(body, r#"{"status":"success","data":"sum by (job) (rate(x[5m]))"}"#);
    let (code, _) = get(&r, "/api/v1/format_query?query=sum(").await;
    assert_eq!(code, 400);
}

/// Prettified as Prometheus 2.42's `format_query` prints it (its answer, byte for byte).
#[tokio::test]
async fn format_query_like_prometheus() {
    let r = router();
    let q = "histogram_quantile(0.9%2Csum%20by(le)(rate(http_request_duration_seconds_bucket%7Bjob%3D%22api%22%2Ccode%3D~%225..%22%7D%5B5m%5D)))%2Fignoring(x)sum%20without(instance)(rate(http_requests_total%7Bjob%3D%22api%22%2Cmethod%3D%22GET%22%7D%5B5m%5D%20offset%201h))%3E0.5";
    let (_, body) = get(&r, &format!("/api/v1/format_query?query={q}")).await;
    assert_eq!(
        body,
        r#"{"status":"success","data":"    histogram_quantile(\n      0.9,\n      sum by (le) (rate(http_request_duration_seconds_bucket{code=~\"5..\",job=\"api\"}[5m]))\n    )\n  / ignoring (x)\n    sum without (instance) (rate(http_requests_total{job=\"api\",method=\"GET\"}[5m] offset 1h))\n\u003e\n  0.5"}"#
    );
    let (_, body) = get(&r, "/api/v1/format_query?query=a%2Bon(b)group_left(c)d").await;
    assert_eq!(body, r#"{"status":"success","data":"a + on (b) group_left (c) d"}"#);
}

/// A deeply nested query is answered or refused, never a stack overflow that would
/// abort the process.
#[tokio::test]
async fn deep_queries_do_not_crash() {
    let r = router();
    // Each subquery level counts two (its parentheses and its brackets).
    for (open, close, levels) in
        [("abs(", ")", 990), ("(", ")", 990), ("max_over_time((", ")[1m:])", 495), ("-", "", 990)]
    {
        let q = format!("{}up{}", open.repeat(levels), close.repeat(levels));
        let (code, body) = post(&r, "/api/v1/query", &format!("query={}&time=1100", q.replace('+', "%2B"))).await;
        assert_eq!(code, 200, "{open}: {}", &body[..body.len().min(200)]);
        let q = format!("{}up{}", open.repeat(1500), close.repeat(1500));
        let (code, body) = post(&r, "/api/v1/query", &format!("query={q}&time=1100")).await;
        assert_eq!(code, 400, "{open}: {}", &body[..body.len().min(200)]);
        assert!(body.contains("nested too deeply"), "{}", &body[..body.len().min(200)]);
    }
    let chain = format!("up{}", "%2Bup".repeat(990));
    let (code, _) = post(&r, "/api/v1/query_range", &format!("query={chain}&start=1000&end=1030&step=15")).await;
    assert_eq!(code, 200);
    let deep = format!("{}up{}", "abs(".repeat(3000), ")".repeat(3000));
    for path in ["/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values", "/api/v1/query_exemplars"] {
        let (code, _) = get(&r, &format!("{path}?match[]={deep}&query={deep}")).await;
        assert_eq!(code, 400, "{path}");
    }
    let (code, _) = post(&r, "/api/v1/series", &format!("match[]={deep}")).await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn metadata_from_what_senders_told_the_store() {
    let s = store();
    let m = lookout_tsdb::otlp::Metadata {
        family: "http_server_request_duration_seconds".into(),
        metric_type: lookout_tsdb::otlp::MetricType::Histogram,
        help: "Duration of HTTP server requests.".into(),
        unit: "seconds".into(),
    };
    s.metadata().record(&[m]);
    let r = QueryApi::new(s.clone()).with_metadata(s).router();
    let (_, body) = get(&r, "/api/v1/metadata").await;
    assert_eq!(
        body,
        r#"{"status":"success","data":{"http_server_request_duration_seconds":[{"type":"histogram","help":"Duration of HTTP server requests.","unit":"seconds"}]}}"#
    );
}
