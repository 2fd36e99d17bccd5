//! A fast local `_bulk` receiver for the elasticsearch run: it answers like Elasticsearch
//! when every item is stored (`{"errors":false}`), counts documents and notes probes, so
//! the benchmark measures Lookout rather than a search engine.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};

use crate::tail::Observed;

async fn bulk(State(observed): State<Arc<Observed>>, body: Bytes) -> &'static str {
    let now = Instant::now();
    // Two lines per document: the action, then the source.
    observed.add_records(memchr::memchr_iter(b'\n', &body).count() as u64 / 2);
    observed.scan(&body, now);
    r#"{"took":0,"errors":false,"items":[]}"#
}

/// Starts the receiver on 127.0.0.1; returns its address.
pub async fn start(observed: Arc<Observed>) -> anyhow::Result<String> {
    let app = axum::Router::new()
        .route("/", get(|| async { r#"{"tagline":"bench bulk receiver"}"# }))
        .route("/_bulk", post(bulk))
        .layer(axum::extract::DefaultBodyLimit::max(256 << 20))
        .with_state(observed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}
