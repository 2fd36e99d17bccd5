use super::*;

fn parse(body: &str) -> Result<(), String> {
    let yaml =
        format!("sources:\n  bus:\n    type: nats\n{body}sinks:\n  out:\n    type: console\n    inputs: [bus]\n");
    let cfg = lookout_config::load_str("p.yaml", &yaml, &|_| None).map_err(|e| e.to_string())?;
    let mut registry = lookout_component::Registry::default();
    crate::register(&mut registry);
    registry.parse_source(&cfg.sources["bus"]).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn config_keys_and_errors_point_into_the_file() {
    let ok = "    url: nats://127.0.0.1:4222\n    stream: TELEMETRY\n    consumer: processors\n";
    parse(ok).unwrap();
    parse(&format!("{ok}    ack_wait_secs: 2\n    max_in_flight: 8\n    acknowledgements: true\n    token: t\n"))
        .unwrap();
    let err = parse(&format!("{ok}    consumr: x\n")).unwrap_err();
    assert!(err.contains("p.yaml:7:5") && err.contains("unknown field `consumr`"), "{err}");
    let err = parse("    url: http://x:4222\n    stream: T\n    consumer: c\n").unwrap_err();
    assert!(err.contains("p.yaml:") && err.contains("nats://"), "{err}");
    let err = parse("    url: nats://x\n    stream: a.b\n    consumer: c\n").unwrap_err();
    assert!(err.contains("`stream` `a.b`"), "{err}");
    let err = parse(&format!("{ok}    user: u\n")).unwrap_err();
    assert!(err.contains("`user` and `password` go together"), "{err}");
    let err = parse(&format!("{ok}    token: t\n    creds_file: x.creds\n")).unwrap_err();
    assert!(err.contains("use one of"), "{err}");
    let err = parse(&format!("{ok}    max_in_flight: 0\n")).unwrap_err();
    assert!(err.contains("max_in_flight"), "{err}");
}

#[test]
fn decodes_each_signal_and_refuses_garbage() {
    let logs = ExportLogsServiceRequest { resource_logs: vec![Default::default()] }.encode_to_vec();
    assert_eq!(decode("logs", &logs).unwrap().signal(), lookout_event::Signal::Logs);
    let spans = ExportTraceServiceRequest { resource_spans: vec![] }.encode_to_vec();
    assert_eq!(decode("traces", &spans).unwrap().signal(), lookout_event::Signal::Traces);
    assert!(decode("logs", b"\xff\xff\xff").unwrap_err().contains("not an OTLP logs request"));
    assert!(decode("events", &logs).unwrap_err().contains("unknown Lookout-Signal"));
}

/// The consumer's backlog against a real `nats-server -js` (SKIPPED without one): N
/// messages published with no worker consuming show as N pending, in the store and on
/// `/metrics`; fetched but unacked they move to ack-pending; acked, both are 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_lag_reaches_the_store_and_metrics() {
    use async_nats::jetstream::stream;
    use lookout_tsdb::Matcher;

    let Some(server) = lookout_cluster::testing::NatsServer::start() else {
        eprintln!("SKIPPED: nats-server is not installed (scripts/test.sh installs it)");
        return;
    };
    const N: usize = 25;
    let js = jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let s = js
        .create_stream(stream::Config { name: "LAG".into(), subjects: vec!["lag.>".into()], ..Default::default() })
        .await
        .unwrap();
    let consumer: jetstream::consumer::Consumer<pull::Config> =
        s.create_consumer(pull::Config { durable_name: Some("workers".into()), ..Default::default() }).await.unwrap();
    for i in 0..N {
        js.publish("lag.a", format!("m{i}").into()).await.unwrap().await.unwrap();
    }
    let store = lookout_tsdb::Store::new(Default::default());
    let labels = lag::ConsumerLabels { stream: "LAG".into(), consumer: "workers".into() };
    let stored = |name: &str| -> Vec<f64> {
        let m =
            [Matcher::equal("__name__", name), Matcher::equal("stream", "LAG"), Matcher::equal("consumer", "workers")];
        let series = store.select(&m, 0, i64::MAX);
        assert_eq!(series.len(), 1, "{name}: one series with exactly the stream and consumer labels");
        series[0].samples.iter().map(|s| s.v).collect()
    };
    let exposition = || {
        let mut registry = prometheus_client::registry::Registry::default();
        lag::register_metrics(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    };

    let lag = lag::poll_once(&consumer, &labels, &store, 1_000).await.unwrap();
    assert_eq!(lag, lag::Lag { pending: N as u64, ack_pending: 0 });
    assert_eq!(stored(lag::PENDING), [N as f64]);
    assert!(
        exposition().contains(&format!("lookout_nats_consumer_pending{{stream=\"LAG\",consumer=\"workers\"}} {N}"))
    );

    let mut fetched = consumer.fetch().max_messages(N).messages().await.unwrap();
    let mut messages = Vec::new();
    while let Some(m) = fetched.next().await {
        messages.push(m.unwrap());
    }
    assert_eq!(messages.len(), N);
    let lag = lag::poll_once(&consumer, &labels, &store, 2_000).await.unwrap();
    assert_eq!(lag, lag::Lag { pending: 0, ack_pending: N as u64 });

    for m in messages {
        m.double_ack().await.unwrap();
    }
    let lag = lag::poll_once(&consumer, &labels, &store, 3_000).await.unwrap();
    assert_eq!(lag, lag::Lag { pending: 0, ack_pending: 0 });
    assert_eq!(stored(lag::PENDING), [N as f64, 0.0, 0.0]);
    assert_eq!(stored(lag::ACK_PENDING), [0.0, N as f64, 0.0]);
    assert!(exposition().contains("lookout_nats_consumer_ack_pending{stream=\"LAG\",consumer=\"workers\"} 0"));
}
