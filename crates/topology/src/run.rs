//! Starting the components and wiring them together.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::join_all;
use lookout_buffer::{BufferSender, WhenFull, memory};
use lookout_component::{
    BuildError, ComponentError, ComponentFuture, ComponentMetrics, ComponentState, Fanout, FanoutError, Health,
    HealthHandle, Shutdown, SinkContext, SourceContext, Taps, Telemetry, Transform, TransformContext, TransformOutput,
};
use lookout_config::ComponentKind;
use lookout_config::graph_resolve;
use lookout_tsdb::Store;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::CheckedPipeline;

/// Room, in events, between a component and a transform that reads it. Small on
/// purpose: transforms are fast, and the real queue is each sink's own buffer.
const TRANSFORM_INPUT_EVENTS: usize = 8_192;

/// What a component's task ends with: its future's result (the component's own
/// error on failure, as [`ComponentFuture`] carries it, or the panic).
type ComponentTask = JoinHandle<<ComponentFuture as std::future::Future>::Output>;

/// A started pipeline.
pub struct RunningTopology {
    tasks: Vec<(String, ComponentTask)>,
    shutdown: Shutdown,
    failed: Shutdown,
}

impl RunningTopology {
    /// Resolves when a component fails (returns an error or panics) while the pipeline
    /// runs: the caller should stop and exit non-zero, so a supervisor restarts Lookout,
    /// rather than serve 503 forever from a pipeline with a hole in it.
    pub async fn failed(&self) {
        self.failed.cancelled().await;
    }

    /// Stops accepting and waits until every buffer has drained into the sinks, or
    /// `deadline` passes. Returns whether everything finished cleanly.
    pub async fn stop(self, deadline: Duration) -> bool {
        self.shutdown.cancel();
        self.wait_with_deadline(deadline).await
    }

    /// Waits for every component to finish (after shutdown), at most `deadline`.
    pub async fn wait_with_deadline(self, deadline: Duration) -> bool {
        let names: Vec<String> = self.tasks.iter().map(|(n, _)| n.clone()).collect();
        let aborts: Vec<_> = self.tasks.iter().map(|(_, t)| t.abort_handle()).collect();
        let joined = tokio::time::timeout(deadline, join_all(self.tasks.into_iter().map(|(_, t)| t))).await;
        match joined {
            Ok(results) => {
                let mut clean = true;
                for (name, r) in names.iter().zip(results) {
                    match r {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            error!(component = %name, error = %e, "Component failed.");
                            clean = false;
                        }
                        Err(e) => {
                            error!(component = %name, error = %e, "Component panicked.");
                            clean = false;
                        }
                    }
                }
                clean
            }
            Err(_) => {
                // Whatever a disk buffer still holds stays on disk for the next start;
                // components still running are stopped so nothing outlives the pipeline
                // (a reload opens the same buffers again).
                error!(deadline_secs = deadline.as_secs(), "Shutdown deadline passed with events still buffered.");
                for a in aborts {
                    a.abort();
                }
                false
            }
        }
    }
}

/// A consumer of an output: its name and its input buffer.
type Consumer = (String, BufferSender);

/// Builds and starts every component of `pipeline`. Every output publishes to its
/// point in `taps` (and every sink's input to the sink's), so `lookout tap` sees it.
pub async fn start(
    pipeline: CheckedPipeline,
    telemetry: &Telemetry,
    health: &Health,
    taps: &Taps,
    store: &Arc<Store>,
    shutdown: Shutdown,
) -> Result<RunningTopology, BuildError> {
    let CheckedPipeline { config, sources, transforms, sinks, nodes, .. } = pipeline;
    let data_dir = PathBuf::from(&config.data_dir);
    let type_of =
        |name: &str| config.components().find(|d| d.name == name).map(|d| d.type_name.clone()).unwrap_or_default();

    // 1. Every consumer's input buffer.
    let mut inputs: HashMap<String, BufferSender> = HashMap::new();
    let mut sink_rx = HashMap::new();
    let mut transform_rx = HashMap::new();
    for (name, sink) in &sinks {
        let (tx, rx) = sink.buffer().open(&data_dir, name).map_err(|e| BuildError(format!("sink `{name}`: {e}")))?;
        inputs.insert(name.clone(), tx);
        sink_rx.insert(name.clone(), rx);
    }
    for name in transforms.keys() {
        let (tx, rx) = memory(TRANSFORM_INPUT_EVENTS, WhenFull::Block);
        inputs.insert(name.clone(), tx);
        transform_rx.insert(name.clone(), rx);
    }

    // 2. Every producer's outputs: (producer, named output or None) -> consumers.
    let mut outputs: HashMap<(String, Option<String>), Vec<Consumer>> = HashMap::new();
    for consumer in &nodes {
        for input in &consumer.inputs {
            let (idx, output) = graph_resolve(&nodes, &input.name).map_err(|e| BuildError(e.to_string()))?;
            let tx = inputs.get(&consumer.name).expect("every consumer has an input buffer").clone();
            let key = (nodes[idx].name.clone(), output.map(str::to_string));
            outputs.entry(key).or_default().push((consumer.name.clone(), tx));
        }
    }
    drop(inputs);
    let mut components: Vec<(String, String)> = Vec::new();
    components.extend(sources.keys().map(|n| (n.clone(), "source".to_string())));
    components.extend(transforms.keys().map(|n| (n.clone(), "transform".to_string())));
    components.extend(sinks.keys().map(|n| (n.clone(), "sink".to_string())));
    taps.set_components(components);
    let mut fanout = |name: &str, output: Option<&str>| {
        let consumers = outputs.remove(&(name.to_string(), output.map(str::to_string))).unwrap_or_default();
        // A sink's tap shows what enters it: every fan-out into a sink publishes there too.
        let tap = taps.tap(name, consumers.iter().filter(|(c, _)| sinks.contains_key(c)).map(|(c, _)| c.as_str()));
        Fanout::new(consumers.into_iter().map(|(_, tx)| tx).collect()).with_tap(tap)
    };

    let mut tasks: Vec<(String, ComponentTask)> = Vec::new();
    let failed = Shutdown::new();
    let spawn_component = |name: &str, health: HealthHandle, fut: ComponentFuture| {
        spawn_component(name, health, fut, shutdown.clone(), failed.clone())
    };
    let register = |name: &str, kind: ComponentKind| -> (HealthHandle, ComponentMetrics) {
        let t = type_of(name);
        (health.register(name, kind.as_str(), &t), telemetry.component(name, kind.as_str(), &t))
    };

    // Sources are known (not ready) from the start, so /health/ready cannot say yes
    // while sinks are still being built.
    for name in sources.keys() {
        register(name, ComponentKind::Source);
    }

    // 3. Sinks first: somewhere for events to go.
    for (name, sink) in &sinks {
        let (h, metrics) = register(name, ComponentKind::Sink);
        let input = sink_rx.remove(name).expect("sink buffer");
        telemetry.watch_buffer(&metrics, input.stats().clone());
        let cx = SinkContext {
            id: name.clone(),
            input,
            health: h.clone(),
            metrics,
            data_dir: data_dir.clone(),
            store: store.clone(),
        };
        let fut = sink.build(cx).await.map_err(|e| BuildError(format!("sink `{name}`: {e}")))?;
        tasks.push((name.clone(), spawn_component(name, h, fut)));
    }

    // 4. Transforms.
    for (name, config) in &transforms {
        let (h, metrics) = register(name, ComponentKind::Transform);
        let cx = TransformContext { id: name.clone(), store: store.clone() };
        let transform = config.build(&cx).map_err(|e| BuildError(format!("transform `{name}`: {e}")))?;
        let default = fanout(name, None);
        let named: Vec<Fanout> = config.named_outputs().iter().map(|o| fanout(name, Some(o))).collect();
        let rx = transform_rx.remove(name).expect("transform buffer");
        let fut: ComponentFuture = Box::pin(async move {
            run_transform(transform, rx, default, named, metrics).await.map_err(ComponentError::new)
        });
        h.ready();
        tasks.push((name.clone(), spawn_component(name, h, fut)));
    }

    // 5. Sources last: they start accepting as soon as they are built.
    for (name, source) in &sources {
        let (h, metrics) = register(name, ComponentKind::Source);
        let cx = SourceContext {
            id: name.clone(),
            out: fanout(name, None),
            shutdown: shutdown.clone(),
            health: h.clone(),
            metrics,
            data_dir: data_dir.clone(),
            store: store.clone(),
        };
        let fut = source.build(cx).await.map_err(|e| BuildError(format!("source `{name}`: {e}")))?;
        tasks.push((name.clone(), spawn_component(name, h, fut)));
    }
    info!(sources = sources.len(), transforms = transforms.len(), sinks = sinks.len(), "Pipeline started.");
    Ok(RunningTopology { tasks, shutdown, failed })
}

/// Runs a component in its own task. A failure or a panic is logged with its message
/// and marks the component failed on /health; outside shutdown it also fires `failed`.
fn spawn_component(
    name: &str,
    health: HealthHandle,
    fut: ComponentFuture,
    shutdown: Shutdown,
    failed: Shutdown,
) -> ComponentTask {
    let name = name.to_string();
    tokio::spawn(async move {
        let result = match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
            Ok(r) => r,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a panic without a message".into());
                Err(ComponentError::Panicked(message))
            }
        };
        match &result {
            Ok(()) => health.set_state(ComponentState::Stopped),
            Err(e) => {
                error!(component = %name, error = %e, "Component stopped on an error.");
                health.set_state(ComponentState::Failed(e.to_string()));
                if !shutdown.is_cancelled() {
                    failed.cancel();
                }
            }
        }
        result
    })
}

async fn run_transform(
    mut transform: Box<dyn Transform>,
    mut rx: lookout_buffer::BufferReceiver,
    default: Fanout,
    named: Vec<Fanout>,
    metrics: ComponentMetrics,
) -> Result<(), FanoutError> {
    let mut out = TransformOutput::default();
    while let Some(batch) = rx.recv().await {
        metrics.received_events.inc_by(batch.len() as u64);
        transform.transform(batch, &mut out);
        metrics.discarded_events.inc_by(std::mem::take(&mut out.discarded));
        for b in out.default.drain(..) {
            metrics.sent_events.inc_by(b.len() as u64);
            default.send(b).await?;
        }
        for (i, b) in out.named.drain(..) {
            metrics.sent_events.inc_by(b.len() as u64);
            if let Some(f) = named.get(i) {
                f.send(b).await?;
            }
        }
    }
    Ok(())
}
