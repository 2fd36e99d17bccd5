//! Component health: what `/health` and `/health/ready` report.

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde::Serialize;

/// The life stage of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum ComponentState {
    /// Built, not yet running.
    Starting,
    /// Running normally.
    Running,
    /// Running but impaired (e.g. a sink retrying), with why.
    Degraded(String),
    /// Finished (shutdown).
    Stopped,
    /// Stopped on an error, with the error.
    Failed(String),
}

/// One component's entry on `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentHealth {
    /// `source`, `transform` or `sink`.
    pub kind: &'static str,
    /// Its `type`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its state.
    #[serde(flatten)]
    pub state: ComponentState,
    /// Sources: listening and accepting.
    pub ready: bool,
}

/// Every component's health.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<Mutex<IndexMap<String, ComponentHealth>>>,
}

impl Health {
    /// Adds a component (state `starting`, not ready) and returns its handle.
    pub fn register(&self, id: &str, kind: &'static str, type_name: &str) -> HealthHandle {
        let mut map = self.components.lock().expect("health lock");
        map.insert(
            id.to_string(),
            ComponentHealth { kind, type_name: type_name.to_string(), state: ComponentState::Starting, ready: false },
        );
        HealthHandle { id: id.to_string(), health: self.clone() }
    }

    /// Forgets every pipeline component (before a reloaded pipeline registers its
    /// own); entries of other kinds (the rule engine, the notifier) stay.
    pub fn clear(&self) {
        self.components.lock().expect("health lock").retain(|_, c| !matches!(c.kind, "source" | "transform" | "sink"));
    }

    /// A copy of every component's health.
    pub fn snapshot(&self) -> IndexMap<String, ComponentHealth> {
        self.components.lock().expect("health lock").clone()
    }

    /// Ready once the pipeline's sources are registered and every one is ready, and no
    /// component has failed. Other parts (the notifier, the rule engine) register before
    /// the pipeline is built, and a reload clears the pipeline's entries: without a
    /// source there is nothing listening yet, so that is not ready (every pipeline has
    /// at least one source; `lookout check` refuses one without).
    pub fn is_ready(&self) -> bool {
        let map = self.components.lock().expect("health lock");
        map.values().any(|c| c.kind == "source")
            && map.values().all(|c| !matches!(c.state, ComponentState::Failed(_)) && (c.kind != "source" || c.ready))
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut ComponentHealth)) {
        if let Some(c) = self.components.lock().expect("health lock").get_mut(id) {
            f(c);
        }
    }
}

/// One component's way to report its health.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    id: String,
    health: Health,
}

impl HealthHandle {
    /// A handle not attached to any registry (for tests and tools).
    pub fn detached(id: &str) -> Self {
        let health = Health::default();
        health.register(id, "sink", "test")
    }

    /// Sets the state.
    pub fn set_state(&self, state: ComponentState) {
        self.health.update(&self.id, |c| c.state = state);
    }

    /// Marks the component running and ready (sources: listening).
    pub fn ready(&self) {
        self.health.update(&self.id, |c| {
            c.ready = true;
            c.state = ComponentState::Running;
        });
    }
}
