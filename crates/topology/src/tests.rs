//! Wiring tests with in-memory test components: a source that emits a fixed number of
//! batches, a transform that splits by signal, and sinks that record what they get
//! (one of them slow).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use lookout_buffer::BufferConfig;
use lookout_component::{
    BuildError, ComponentError, ComponentFuture, Health, Registry, Shutdown, SinkConfig, SinkContext, SourceConfig,
    SourceContext, Taps, Telemetry, Transform, TransformConfig, TransformContext, TransformOutput,
};
use lookout_event::Batch;
use lookout_event::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use serde::Deserialize;

use crate::{check_str, start};

fn batch(n: usize) -> Batch {
    Batch::logs(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs { log_records: vec![LogRecord::default(); n], ..Default::default() }],
        ..Default::default()
    }])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountSource {
    batches: usize,
    size: usize,
}

impl SourceConfig for CountSource {
    fn build(&self, cx: SourceContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let (batches, size) = (self.batches, self.size);
        async move {
            let fut: ComponentFuture = Box::pin(async move {
                cx.health.ready();
                for _ in 0..batches {
                    cx.out.send(batch(size)).await.map_err(ComponentError::new)?;
                }
                cx.shutdown.cancelled().await;
                Ok(())
            });
            Ok(fut)
        }
        .boxed()
    }
}

/// Sends batches of even size to `even`, odd to `odd`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Parity {}

struct ParityTransform;

impl Transform for ParityTransform {
    fn transform(&mut self, batch: Batch, out: &mut TransformOutput) {
        let i = batch.len() % 2;
        out.push_named(i, batch);
    }
}

impl TransformConfig for Parity {
    fn named_outputs(&self) -> Vec<String> {
        vec!["even".into(), "odd".into()]
    }
    fn has_default_output(&self) -> bool {
        false
    }
    fn build(&self, _cx: &TransformContext) -> Result<Box<dyn Transform>, BuildError> {
        Ok(Box::new(ParityTransform))
    }
}

type Seen = Arc<Mutex<Vec<(String, usize)>>>;

fn seen() -> &'static Seen {
    static SEEN: std::sync::OnceLock<Seen> = std::sync::OnceLock::new();
    SEEN.get_or_init(Default::default)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recorder {
    tag: String,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    buffer: BufferConfig,
}

impl SinkConfig for Recorder {
    fn buffer(&self) -> BufferConfig {
        self.buffer
    }
    fn build(&self, mut cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        let (tag, delay) = (self.tag.clone(), self.delay_ms);
        async move {
            let fut: ComponentFuture = Box::pin(async move {
                while let Some(b) = cx.input.recv().await {
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    cx.metrics.sent_events.inc_by(b.len() as u64);
                    seen().lock().unwrap().push((tag.clone(), b.len()));
                }
                Ok(())
            });
            Ok(fut)
        }
        .boxed()
    }
}

/// A sink that panics on its first batch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Panicker {}

impl SinkConfig for Panicker {
    fn buffer(&self) -> BufferConfig {
        BufferConfig::default()
    }
    fn build(&self, mut cx: SinkContext) -> BoxFuture<'static, Result<ComponentFuture, BuildError>> {
        async move {
            let fut: ComponentFuture = Box::pin(async move {
                if cx.input.recv().await.is_some() {
                    panic!("sink exploded");
                }
                Ok(())
            });
            Ok(fut)
        }
        .boxed()
    }
}

fn registry() -> Registry {
    let mut r = Registry::default();
    r.sink::<Panicker>("panicker", "test sink that panics");
    r.source::<CountSource>("count", "test source");
    r.transform::<Parity>("parity", "test transform");
    r.sink::<Recorder>("recorder", "test sink");
    r
}

fn total(tag: &str) -> (usize, usize) {
    let s = seen().lock().unwrap();
    let mine: Vec<_> = s.iter().filter(|(t, _)| t == tag).collect();
    (mine.len(), mine.iter().map(|(_, n)| n).sum())
}

#[tokio::test]
async fn routes_named_outputs_and_isolates_a_slow_sink() {
    let yaml = "\
sources:
  src:
    type: count
    batches: 40
    size: 3
  src2:
    type: count
    batches: 10
    size: 2
transforms:
  split:
    type: parity
    inputs: [src, src2]
sinks:
  odd:
    type: recorder
    inputs: [split.odd]
    tag: t1-odd
  even:
    type: recorder
    inputs: [split.even]
    tag: t1-even
  slow:
    type: recorder
    inputs: [src]
    tag: t1-slow
    delay_ms: 1000
    buffer: { max_events: 6, when_full: drop_newest }
";
    let checked = check_str("t.yaml", yaml, &|_| None, &registry()).unwrap();
    let telemetry = Telemetry::new();
    let health = Health::default();
    let shutdown = Shutdown::new();
    let topo = start(checked, &telemetry, &health, &Taps::new(), &test_store(), shutdown.clone()).await.unwrap();
    // The fast paths complete while the slow sink is still on its first batch.
    tokio::time::timeout(Duration::from_secs(5), async {
        while total("t1-odd").1 < 120 || total("t1-even").1 < 20 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("fast sinks are not held up by the slow one");
    assert_eq!(total("t1-odd"), (40, 120));
    assert_eq!(total("t1-even"), (10, 20));
    assert!(health.is_ready());
    assert!(topo.stop(Duration::from_secs(10)).await, "clean shutdown");
    // The slow sink got what its buffer could hold; the rest was counted as dropped.
    let (_, slow_events) = total("t1-slow");
    let metrics = telemetry.encode();
    let dropped_line = metrics
        .lines()
        .find(|l| l.starts_with("lookout_component_dropped_events_total{component_id=\"slow\""))
        .expect("dropped counter for slow");
    let dropped: usize = dropped_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(slow_events + dropped, 120, "every event delivered or counted as dropped");
    assert!(dropped > 0);
}

#[tokio::test]
async fn graph_errors_use_registry_outputs() {
    let yaml = "\
sources:
  src: { type: count, batches: 1, size: 1 }
transforms:
  split:
    type: parity
    inputs: [src]
sinks:
  a:
    type: recorder
    inputs: [split]
    tag: x
  b:
    type: recorder
    inputs: [split.blue]
    tag: x
";
    let err = check_str("t.yaml", yaml, &|_| None, &registry()).err().expect("errors").to_string();
    assert!(
        err.contains("t.yaml:10:14: `split` has no default output; use one of: `split.even`, `split.odd`"),
        "{err}"
    );
    assert!(err.contains("t.yaml:14:14: `split` has no output `blue`; it has: even, odd"), "{err}");
}

#[tokio::test]
async fn a_panicking_component_is_marked_failed_and_stops_the_pipeline() {
    let yaml = "\
sources:
  src: { type: count, batches: 1, size: 1 }
sinks:
  boom: { type: panicker, inputs: [src] }
";
    let checked = check_str("t.yaml", yaml, &|_| None, &registry()).unwrap();
    let health = Health::default();
    let topo = start(checked, &Telemetry::new(), &health, &Taps::new(), &test_store(), Shutdown::new()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), topo.failed()).await.expect("the failure is reported to the caller");
    match &health.snapshot()["boom"].state {
        lookout_component::ComponentState::Failed(why) => assert!(why.contains("panicked: sink exploded"), "{why}"),
        other => panic!("boom is {other:?}"),
    }
    assert!(!health.is_ready(), "a failed component makes the process not ready");
    assert!(!topo.stop(Duration::from_secs(2)).await, "not a clean stop");
}

#[tokio::test]
async fn taps_see_outputs_and_sink_inputs_across_a_restart() {
    let yaml = "\
sources:
  src: { type: count, batches: 4, size: 3 }
transforms:
  split: { type: parity, inputs: [src] }
sinks:
  odd: { type: recorder, inputs: [split.odd], tag: tap-odd }
  even: { type: recorder, inputs: [split.even], tag: tap-even }
";
    let taps = Taps::new();
    let names = ["src", "split", "odd"];
    taps.set_components(names.iter().map(|n| (n.to_string(), String::new())).collect());
    let mut subs: Vec<_> = names.iter().map(|n| taps.subscribe(n).unwrap()).collect();
    let mut even = None;
    for round in 0..2 {
        let checked = check_str("t.yaml", yaml, &|_| None, &registry()).unwrap();
        let topo =
            start(checked, &Telemetry::new(), &Health::default(), &taps, &test_store(), Shutdown::new()).await.unwrap();
        if round == 0 {
            // Known once the pipeline runs; nothing passes into it (all batches are odd).
            even = Some(taps.subscribe("even").unwrap());
        }
        for (name, sub) in names.iter().zip(&mut subs) {
            for _ in 0..4 {
                let b = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect(name).unwrap();
                assert_eq!(b.len(), 3, "{name}, round {round}");
            }
        }
        assert!(topo.stop(Duration::from_secs(5)).await);
    }
    assert!(even.unwrap().try_recv().is_none(), "the even sink received nothing");
}

fn test_store() -> Arc<lookout_tsdb::Store> {
    Arc::new(lookout_tsdb::Store::new(Default::default()))
}
