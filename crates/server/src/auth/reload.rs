//! `POST /-/reload` and `PUT /-/reload`: what SIGHUP does, over the API, as Prometheus's
//! and Alertmanager's lifecycle endpoint. It answers once the reload is over: 200, or
//! 500 with what was wrong (the running configuration then stays). Admin only
//! ([`super::routes`]); every call is in the audit trail with its caller and result.

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::{mpsc, oneshot};

use super::Caller;
use super::audit;

/// A reload asked for through the API; whoever reloads answers with [`ReloadRequest::done`].
#[derive(Debug)]
pub struct ReloadRequest {
    reply: oneshot::Sender<Result<(), String>>,
}

impl ReloadRequest {
    /// Reports how the reload went (`Err`: why it was refused).
    pub fn done(self, result: Result<(), String>) {
        let _ = self.reply.send(result);
    }
}

/// The `/-/reload` route, handing each request to `requests`.
pub fn router(requests: mpsc::Sender<ReloadRequest>) -> Router {
    Router::new().route("/-/reload", post(reload).put(reload)).with_state(requests)
}

async fn reload(State(requests): State<mpsc::Sender<ReloadRequest>>, caller: Option<Extension<Caller>>) -> Response {
    let (reply, answer) = oneshot::channel();
    let result = match requests.send(ReloadRequest { reply }).await {
        Ok(()) => answer.await.unwrap_or_else(|_| Err("Lookout is shutting down".to_string())),
        Err(_) => Err("Lookout is shutting down".to_string()),
    };
    audit::reload(caller.as_deref(), result.as_ref().map(|_| ()).map_err(String::as_str));
    match result {
        Ok(()) => (StatusCode::OK, "OK\n").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn answers_with_the_reload_result() {
        let (tx, mut rx) = mpsc::channel(1);
        let app = router(tx);
        tokio::spawn(async move {
            rx.recv().await.unwrap().done(Ok(()));
            rx.recv().await.unwrap().done(Err("pipeline.yaml:3:1: bad".into()));
        });
        let call = |m: &str| Request::builder().method(m).uri("/-/reload").body(Body::empty()).unwrap();
        assert_eq!(app.clone().oneshot(call("POST")).await.unwrap().status(), StatusCode::OK);
        let resp = app.clone().oneshot(call("PUT")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"failed to reload config: pipeline.yaml:3:1: bad\n");
        // Nobody left to reload.
        assert_eq!(app.oneshot(call("POST")).await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
