//! `GET /api/v1/pipeline`: the component graph as configured, each component with its
//! health and counters, for the UI's Pipeline page (which computes rates from two
//! reads) and for scripts.
//!
//! ```json
//! {"status": "success", "data": {"time": 1765100000.25, "components": [
//!   {"id": "enrich", "kind": "transform", "type": "enrich", "inputs": ["otlp"],
//!    "state": "running", "reason": null, "ready": true,
//!    "counters": {"received_events": 120, "sent_events": 120, ...}, "buffer": null}],
//!  "others": [{"id": "rules", "kind": "engine", "type": "rules", "state": "running", "reason": null}]}}
//! ```
//!
//! `counters` are totals since the start (the numbers on `/metrics`); `buffer` is a
//! sink's buffer (`events`, `max_events`, `bytes`, `max_bytes`). `others` are the parts
//! outside the graph that report health (store, rule engine, notifier, scaler).

use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::State;
use lookout_component::{BufferFill, ComponentCounters, ComponentHealth, ComponentState};
use lookout_config::GraphNode;
use serde::Serialize;

use crate::ApiState;

/// The running pipeline's graph, replaced on every (re)load.
#[derive(Clone, Default)]
pub struct PipelineGraph(Arc<RwLock<Vec<GraphNode>>>);

impl PipelineGraph {
    /// Replaces the graph (a pipeline started or reloaded).
    pub fn set(&self, nodes: Vec<GraphNode>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = nodes;
    }

    fn nodes(&self) -> Vec<GraphNode> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Serialize)]
struct Component {
    id: String,
    kind: &'static str,
    #[serde(rename = "type")]
    type_name: String,
    inputs: Vec<String>,
    state: &'static str,
    reason: Option<String>,
    ready: bool,
    counters: ComponentCounters,
    buffer: Option<BufferFill>,
}

#[derive(Serialize)]
struct Other {
    id: String,
    kind: &'static str,
    #[serde(rename = "type")]
    type_name: String,
    state: &'static str,
    reason: Option<String>,
}

fn state_of(h: Option<&ComponentHealth>) -> (&'static str, Option<String>) {
    match h.map(|h| &h.state) {
        None => ("unknown", None),
        Some(ComponentState::Starting) => ("starting", None),
        Some(ComponentState::Running) => ("running", None),
        Some(ComponentState::Degraded(r)) => ("degraded", Some(r.clone())),
        Some(ComponentState::Stopped) => ("stopped", None),
        Some(ComponentState::Failed(r)) => ("failed", Some(r.clone())),
    }
}

pub(crate) async fn pipeline(State(state): State<ApiState>) -> Json<serde_json::Value> {
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let health = state.health().snapshot();
    let nodes = state.pipeline.nodes();
    let components: Vec<Component> = nodes
        .iter()
        .map(|n| {
            let h = health.get(&n.name);
            let (st, reason) = state_of(h);
            let (counters, buffer) = state.telemetry().counters(&n.name).unwrap_or_default();
            Component {
                id: n.name.clone(),
                kind: n.kind.as_str(),
                type_name: h.map(|h| h.type_name.clone()).unwrap_or_default(),
                inputs: n.inputs.iter().map(|i| i.name.clone()).collect(),
                state: st,
                reason,
                ready: h.is_some_and(|h| h.ready),
                counters,
                buffer,
            }
        })
        .collect();
    let others: Vec<Other> = health
        .iter()
        .filter(|(id, _)| !nodes.iter().any(|n| &n.name == *id))
        .map(|(id, h)| {
            let (st, reason) = state_of(Some(h));
            Other { id: id.clone(), kind: h.kind, type_name: h.type_name.clone(), state: st, reason }
        })
        .collect();
    Json(serde_json::json!({
        "status": "success",
        "data": { "time": time, "components": components, "others": others },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use lookout_component::{Health, Telemetry};
    use lookout_config::{ComponentKind, InputRef, Position};
    use tower::ServiceExt;

    fn node(name: &str, kind: ComponentKind, inputs: &[&str]) -> GraphNode {
        let position = Position { file: "p.yaml".into(), line: 1, column: 1 };
        GraphNode {
            name: name.into(),
            kind,
            position: position.clone(),
            inputs: inputs.iter().map(|i| InputRef { name: (*i).into(), position: position.clone() }).collect(),
            named_outputs: Vec::new(),
            has_default_output: true,
        }
    }

    #[tokio::test]
    async fn the_graph_with_health_and_counters() {
        let telemetry = Telemetry::new();
        let health = Health::default();
        health.register("otlp", "source", "otlp").ready();
        health.register("enrich", "transform", "enrich").ready();
        health.register("es", "sink", "elasticsearch").set_state(ComponentState::Degraded("retrying: 503".into()));
        health.register("rules", "engine", "rules").ready();
        telemetry.component("otlp", "source", "otlp").sent_events.inc_by(10);
        telemetry.component("enrich", "transform", "enrich").received_events.inc_by(10);
        let es = telemetry.component("es", "sink", "elasticsearch");
        es.received_events.inc_by(4);
        let (tx, _rx) = lookout_buffer_memory();
        telemetry.watch_buffer(&es, tx.stats().clone());
        let graph = PipelineGraph::default();
        graph.set(vec![
            node("otlp", ComponentKind::Source, &[]),
            node("enrich", ComponentKind::Transform, &["otlp"]),
            node("es", ComponentKind::Sink, &["enrich"]),
        ]);
        let state = ApiState::new(telemetry, health, "1.0.0").with_pipeline(graph);
        let resp =
            crate::router(state).oneshot(Request::get("/api/v1/pipeline").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = http_body(resp).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let data = &v["data"];
        assert!(data["time"].as_f64().unwrap() > 1.7e9, "{v}");
        let comps = data["components"].as_array().unwrap();
        let ids: Vec<&str> = comps.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["otlp", "enrich", "es"]);
        assert_eq!(comps[0]["counters"]["sent_events"], 10);
        assert_eq!(comps[0]["kind"], "source");
        assert_eq!(comps[0]["state"], "running");
        assert_eq!(comps[1]["inputs"], serde_json::json!(["otlp"]));
        assert_eq!(comps[1]["counters"]["received_events"], 10);
        assert_eq!(comps[2]["type"], "elasticsearch");
        assert_eq!(comps[2]["state"], "degraded");
        assert_eq!(comps[2]["reason"], "retrying: 503");
        assert_eq!(comps[2]["buffer"]["max_events"], 50);
        assert!(comps[1]["buffer"].is_null());
        assert_eq!(
            data["others"],
            serde_json::json!([{"id": "rules", "kind": "engine", "type": "rules", "state": "running", "reason": null}])
        );
    }

    fn lookout_buffer_memory() -> (lookout_buffer::BufferSender, lookout_buffer::BufferReceiver) {
        lookout_buffer::memory(50, lookout_buffer::WhenFull::Block)
    }

    async fn http_body(resp: axum::response::Response) -> Vec<u8> {
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap().to_bytes().to_vec()
    }
}
