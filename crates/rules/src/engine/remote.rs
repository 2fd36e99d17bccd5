//! Rules over a remote Prometheus-compatible store: the [`Datasource`] seam backed by
//! [`lookout_tsdb::remote::QueryClient`].
//!
//! Evaluation runs on a blocking thread (it is CPU work over the embedded store), so
//! the remote query blocks that thread rather than making every rule evaluation async.
//! It blocks on a runtime of its own ([`query_runtime`]), never on the process's: the
//! evaluation holds its group's state lock, and an API handler waiting for that lock on
//! a main worker could otherwise hold the very task that drives the query's connection
//! (seen as a hang of the whole process with a remote datasource and `query` templates).

use lookout_tsdb::promql::Value;
use lookout_tsdb::remote::QueryClient;
use promql_parser::parser::Expr;

use std::sync::Arc;

use lookout_template::QueryHook;

use crate::EvalError;
use crate::datasource::{Datasource, template_samples};

/// Sends each rule's expression text to `/api/v1/query` at the evaluation time.
pub struct RemoteDatasource {
    client: QueryClient,
    runtime: tokio::runtime::Handle,
}

impl RemoteDatasource {
    /// Over `client`, blocking on [`query_runtime`] (call from a blocking thread only).
    pub fn new(client: QueryClient) -> RemoteDatasource {
        RemoteDatasource { client, runtime: query_runtime() }
    }
}

/// The runtime remote queries run on: one thread of its own, started on first use and
/// kept for the life of the process.
fn query_runtime() -> tokio::runtime::Handle {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("lookout-remote-query")
                .enable_all()
                .build()
                .expect("a thread for remote queries")
        })
        .handle()
        .clone()
}

impl Datasource for RemoteDatasource {
    fn query(&self, _expr: &Expr, text: &str, t_ms: i64) -> Result<Value, EvalError> {
        self.runtime.block_on(self.client.query(text, t_ms)).map_err(|e| EvalError::Query(e.to_string()))
    }

    fn template_query(&self, t_ms: i64) -> Option<QueryHook> {
        let (client, runtime) = (self.client.clone(), self.runtime.clone());
        Some(Arc::new(move |q: &str| {
            let v = runtime.block_on(client.query(q, t_ms)).map_err(|e| e.to_string())?;
            template_samples(v).map_err(|e| e.to_string().into())
        }))
    }
}
