use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::response::classify;
use super::*;
use crate::test_util::{logs, ndjson};

fn hec(mode: HecMode, yaml_meta: &str) -> Hec {
    let config: SplunkHecConfig =
        serde_saphyr::from_str(&format!("endpoint: http://127.0.0.1:1\ntoken: t\n{yaml_meta}")).unwrap();
    Hec {
        client: reqwest::Client::new(),
        authorization: "Splunk t".into(),
        channel: "11111111-2222-4333-8444-555555555555".into(),
        mode,
        gzip: false,
        metadata: config.metadata().unwrap(),
        tenant_field: lookout_event::FieldPath::tenant(),
        acks: None,
    }
}

#[test]
fn config_defaults_and_unknown_keys() {
    let c: SplunkHecConfig = serde_saphyr::from_str("endpoint: http://splunk:8088\ntoken: abc\n").unwrap();
    assert_eq!(c.mode, HecMode::Event);
    assert_eq!(c.compression, HecCompression::Gzip);
    assert!(!c.acknowledgements.enabled);
    assert_eq!(c.acknowledgements.poll_interval_ms, 500);
    assert_eq!(c.acknowledgements.timeout_secs, 30.0);
    assert_eq!(c.endpoint_specs().len(), 1);
    let c: SplunkHecConfig = serde_saphyr::from_str(
        "endpoints: [http://a:8088, {url: http://b:8088, weight: 2}]\ntoken: abc\nmode: raw\ncompression: none\n\
         acknowledgements: {enabled: true, poll_interval_ms: 50}\n",
    )
    .unwrap();
    assert_eq!((c.mode, c.compression, c.acknowledgements.enabled), (HecMode::Raw, HecCompression::None, true));
    assert_eq!(c.endpoint_specs()[1].weight(), 2);
    assert!(serde_saphyr::from_str::<SplunkHecConfig>("endpoint: http://a\ntoken: t\nindexx: main\n").is_err());
    let e = crate::test_util::parse("splunk_hec", "    endpoint: http://a\n").err().unwrap().to_string();
    assert!(e.ends_with("`token` or `token_file` is required"), "{e}");
    assert!(
        serde_saphyr::from_str::<SplunkHecConfig>("endpoint: http://a\ntoken: t\nacknowledgements: {on: true}\n")
            .is_err()
    );
    let bad: SplunkHecConfig = serde_saphyr::from_str("endpoint: http://a\ntoken: t\nhost: \"{oops\"\n").unwrap();
    assert!(bad.metadata().is_err());
}

#[test]
fn event_envelopes_carry_rendered_metadata_and_the_record_document() {
    let p = hec(HecMode::Event, "index: main\nsourcetype: \"otel:{signal}\"\nhost: \"{resource.host.name}\"\n");
    let batch = logs(3);
    let mut items = Vec::new();
    p.encode(&batch, &mut items);
    assert_eq!(items.len(), 3);
    // The documents are the records' own, slices of one buffer.
    let docs: Vec<&str> = ndjson(&batch).lines().map(|l| &*l.to_string().leak()).collect();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(std::str::from_utf8(&item.doc).unwrap(), docs[i]);
        // host.name is missing: the key is left out.
        assert_eq!(&*item.route, r#""index":"main","sourcetype":"otel:log""#);
    }
    assert!(Arc::ptr_eq(&items[0].route, &items[2].route), "routes are shared");
    assert_eq!(items[0].doc.as_ptr().wrapping_add(items[0].doc.len()), items[1].doc.as_ptr(), "one buffer");

    let posts = p.posts("http://splunk:8088", &items);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].url, "http://splunk:8088/services/collector/event");
    let body = String::from_utf8(posts[0].body.clone()).unwrap();
    assert!(body.starts_with(r#"{"time":1700000000.000,"index":"main","sourcetype":"otel:log","event":{"#), "{body}");
    // Concatenated envelopes, no separators, each valid JSON.
    let envelopes: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&body).into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(envelopes.len(), 3);
    assert_eq!(envelopes[2]["event"]["body"], "log 2");
    assert_eq!(envelopes[2]["time"].as_f64().unwrap(), 1_700_000_000.0);
    assert!(envelopes[0].get("host").is_none());
}

#[test]
fn no_metadata_writes_bare_envelopes() {
    let p = hec(HecMode::Event, "");
    let mut items = Vec::new();
    p.encode(&logs(1), &mut items);
    assert_eq!(&*items[0].route, "");
    let body = String::from_utf8(p.posts("http://s", &items).remove(0).body).unwrap();
    assert!(body.starts_with(r#"{"time":1700000000.000,"event":{"#), "{body}");
    let mut item = items[0].clone();
    item.time_unix_nano = 1_700_000_000_123_456_789;
    let mut out = Vec::new();
    write_envelope(&mut out, &item);
    assert!(out.starts_with(b"{\"time\":1700000000.123,"));
}

#[test]
fn raw_mode_puts_metadata_in_the_query_and_groups_by_it() {
    let p = hec(HecMode::Raw, "sourcetype: \"otel:{signal}\"\nsource: \"{body}\"\n");
    let mut items = Vec::new();
    p.encode(&logs(3), &mut items);
    assert_eq!(&*items[1].route, "source=log%201&sourcetype=otel%3Alog");
    let posts = p.posts("http://s", &items);
    assert_eq!(posts.len(), 3, "one request per metadata combination");
    assert_eq!(
        posts[1].url,
        "http://s/services/collector/raw?channel=11111111-2222-4333-8444-555555555555&source=log%201&sourcetype=otel%3Alog"
    );
    assert_eq!(posts[1].items, vec![1]);

    let p = hec(HecMode::Raw, "index: main\n");
    items.clear();
    p.encode(&logs(3), &mut items);
    let posts = p.posts("http://s", &items);
    assert_eq!(posts.len(), 1);
    let body = String::from_utf8(posts[0].body.clone()).unwrap();
    assert_eq!(body.lines().count(), 3, "newline-separated documents: {body}");
    assert!(posts[0].url.ends_with("&index=main"));
}

#[test]
fn replies_are_classified() {
    assert_eq!(classify(200, br#"{"text":"Success","code":0}"#).unwrap(), None);
    assert_eq!(classify(200, br#"{"text":"Success","code":0,"ackId":7}"#).unwrap(), Some(7));
    let retryable =
        |status, body: &[u8]| matches!(classify(status, body), Err(Refused { error: SendError::Retryable(_), .. }));
    let fatal = |status, body: &[u8]| matches!(classify(status, body), Err(Refused { error: SendError::Fatal(_), .. }));
    assert!(retryable(503, br#"{"text":"Server is busy","code":9}"#));
    assert!(retryable(500, br#"{"text":"Internal server error","code":8}"#));
    assert!(retryable(502, b"<html>bad gateway</html>"));
    assert!(retryable(429, b"slow down"));
    // Bad credentials are an outage (a token being rotated), never dead-lettered.
    let outage =
        |status, body: &[u8]| matches!(classify(status, body), Err(Refused { error: SendError::Unauthorized(_), .. }));
    assert!(outage(401, br#"{"text":"Token is required","code":2}"#));
    assert!(outage(401, br#"{"text":"Invalid authorization","code":3}"#));
    assert!(outage(403, br#"{"text":"Invalid token","code":4}"#));
    assert!(fatal(400, br#"{"text":"Incorrect index","code":7}"#));
    assert!(fatal(400, br#"{"text":"Data channel is missing","code":10}"#));
    assert!(fatal(404, b"not found"));
    match classify(400, br#"{"text":"Invalid data format","code":6,"invalid-event-number":2}"#) {
        Err(Refused { error: SendError::Fatal(m), invalid_event: Some(2) }) => {
            assert_eq!(m, "HEC code 6 (Invalid data format), HTTP 400");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn channels_are_version_4_uuids() {
    let c = random_channel();
    assert_eq!(c.len(), 36, "{c}");
    let parts: Vec<&str> = c.split('-').collect();
    assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
    assert!(parts[2].starts_with('4') && "89ab".contains(&parts[3][..1]), "{c}");
    assert_ne!(c, random_channel());
}

/// A minimal HEC that answers `ackId` 1 and acknowledges it after `ack_after` polls
/// (`usize::MAX`: never).
async fn acking_server(ack_after: usize) -> (String, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    let app = axum::Router::new()
        .route(
            "/services/collector/event",
            axum::routing::post(|| async { r#"{"text":"Success","code":0,"ackId":1}"# }),
        )
        .route(
            "/services/collector/ack",
            axum::routing::post(move |body: String| {
                let counter = counter.clone();
                async move {
                    assert_eq!(body, r#"{"acks":[1]}"#);
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    format!(r#"{{"acks":{{"1":{}}}}}"#, n >= ack_after)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, polls)
}

#[tokio::test]
async fn acknowledgements_are_polled_until_true_or_timeout() {
    let p = hec(HecMode::Event, "");
    let policy = AckPolicy { poll_interval: Duration::from_millis(10), timeout: Duration::from_millis(300) };

    let (url, polls) = acking_server(3).await;
    let poll = (policy, p.request(&format!("{url}/services/collector/ack")));
    deliver(p.request(&format!("{url}/services/collector/event")).body("{}"), Some(&poll)).await.unwrap();
    assert_eq!(polls.load(Ordering::SeqCst), 3);

    let (url, polls) = acking_server(usize::MAX).await;
    let poll = (policy, p.request(&format!("{url}/services/collector/ack")));
    match deliver(p.request(&format!("{url}/services/collector/event")).body("{}"), Some(&poll)).await {
        Err(Refused { error: SendError::Retryable(m), .. }) => assert!(m.starts_with("ack timeout"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(polls.load(Ordering::SeqCst) >= 5);
}

#[test]
fn the_token_is_a_secret_and_may_come_from_a_file() {
    let c: SplunkHecConfig = serde_saphyr::from_str("endpoint: http://a\ntoken: |\n  PlantedHecToken1\n").unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("PlantedHecToken1") && debug.contains("<secret>"), "{debug}");
    assert_eq!(c.token.as_ref().unwrap().expose(), "PlantedHecToken1\n");

    let f = std::env::temp_dir().join(format!("lookout-hec-token-{}", std::process::id()));
    std::fs::write(&f, "PlantedHecTokenFile2\n").unwrap();
    assert!(
        crate::test_util::parse("splunk_hec", &format!("    endpoint: http://a\n    token_file: {}\n", f.display()))
            .is_ok()
    );
    let e = crate::test_util::parse(
        "splunk_hec",
        &format!("    endpoint: http://a\n    token: t\n    token_file: {}\n", f.display()),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.ends_with("at most one of `token` and `token_file` must be configured"), "{e}");
    std::fs::remove_file(&f).unwrap();
}

#[test]
fn an_index_outside_the_tenants_splunk_indexes_is_refused_with_why() {
    let _t = crate::destination::tenant_for_tests("hec-unit", "{splunk_indexes: [\"shop\", \"shop-*\"]}");
    for mode in [HecMode::Event, HecMode::Raw] {
        let p = hec(mode, "index: \"{attributes.idx}\"\n");
        let mut items = Vec::new();
        p.encode(&crate::destination::tenant_logs("hec-unit", &["shop", "Shop-Web", "main", "", "main"]), &mut items);
        let refused: Vec<Option<&str>> =
            items.iter().map(|i| i.route.strip_prefix(crate::destination::REFUSED)).collect();
        assert_eq!(refused[0], None);
        assert_eq!(refused[1], None, "sanitised to shop-web, which the list allows");
        assert_eq!(refused[2], Some("destination `main` is not in tenant `hec-unit`'s destinations.splunk_indexes"));
        assert!(refused[3].unwrap().contains("default index"), "{:?}", refused[3]);
        assert!(Arc::ptr_eq(&items[2].route, &items[4].route), "one check per (tenant, index) in the batch");
        // Refused items never reach a request; they come back rejected with why.
        let (sendable, positions, why) = crate::destination::split_refused(&items);
        assert_eq!((sendable.len(), &positions[..]), (2, &[0, 1][..]));
        let body =
            String::from_utf8(p.posts("http://h", &sendable).into_iter().flat_map(|p| p.body).collect()).unwrap();
        assert!(!body.contains("main"), "{body}");
        let sent = crate::destination::remap(Sent { retry: vec![1], ..Default::default() }, &positions, why);
        assert_eq!(sent.retry, vec![1]);
        assert_eq!(sent.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![2, 3, 4]);
    }
    // Another tenant, or none, is not restricted by this one's list.
    let p = hec(HecMode::Event, "index: \"{attributes.idx}\"\n");
    let mut items = Vec::new();
    p.encode(&crate::destination::tenant_logs("hec-unit-other", &["main"]), &mut items);
    p.encode(&logs(1), &mut items);
    assert!(items.iter().all(|i| !i.route.starts_with(crate::destination::REFUSED)));
}
