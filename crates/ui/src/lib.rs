//! Lookout's web UI, served by `lookout run` on `api.address` next to the API, behind
//! the same access control (a viewer may read every page; creating and expiring
//! silences needs an editor, as the API the page calls does).
//!
//! | page | path | reads |
//! |---|---|---|
//! | Alerts | `/`, `/alerts` (`/#/alerts?receiver=…`, the Slack title's link, lands here) | `/api/v2/alerts/groups`, `/api/v1/rules` (pending alerts) |
//! | Silences | `/silences?filter={…}` | `/api/v2/silences`, `/api/v2/alerts` (preview); writes `/api/v2/silences` |
//! | Rules | `/rules` | `/api/v1/rules`, `POST /api/v1/rules/backtest` |
//! | Explore | `/graph?g0.expr=…&g0.tab=…&g0.range_input=…` (every alert's `generatorURL`) | `/api/v1/query`, `/api/v1/query_range`, `/api/v1/label/__name__/values` |
//! | Pipeline | `/pipeline` | `/api/v1/pipeline` (rates computed by polling) |
//! | Probes | `/probes` | `/api/v1/probes` |
//! | Errors | `/errors?state=…&service=…&environment=…&release=…&sort=…`, `/errors?fingerprint=…` (one group) | `/api/v1/errors`, `/api/v1/errors/{fingerprint}`; writes `…/resolve`, `…/ignore`, `…/reopen` |
//! | Scaler | `/scaler` | `/api/v1/scaler` |
//! | Tap | `/tap` | `/api/v1/tap` (NDJSON stream) |
//!
//! Why it is built this way: on-call people open it from a phone at 3 a.m., so a page
//! is one small server-rendered HTML document ([`maud`], escaped by construction), one
//! small stylesheet and a few kilobytes of plain JavaScript that fetch the JSON API
//! the CLI tools and Grafana read too; uPlot (50 kB) draws the charts. No Node.js to
//! build or run it: everything is embedded in the binary ([`assets`]) under
//! content-hash names with year-long cache headers, gzipped when the client accepts it.
//!
//! ```
//! let app: axum::Router = lookout_ui::router();
//! # let _ = app;
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod assets;
mod layout;
pub mod pages;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::Markup;

pub use layout::Page;
use pages::Params;

/// The UI's routes: every page and the assets.
pub fn router() -> Router {
    Router::new()
        .route("/", get(alerts))
        .route("/alerts", get(alerts))
        .route("/silences", get(silences))
        .route("/rules", get(rules))
        .route("/graph", get(explore))
        .route("/pipeline", get(pipeline))
        .route("/probes", get(probes))
        .route("/errors", get(errors))
        .route("/scaler", get(scaler))
        .route("/tap", get(tap))
        .route(&format!("{}/{{name}}", assets::PREFIX), get(assets::serve))
}

/// A page: HTML, never cached (it names the current assets), gzipped when accepted.
fn page(headers: &HeaderMap, markup: Markup) -> Response {
    let (encoding, body) = assets::maybe_gzip(headers, markup.into_string());
    let mut out = HeaderMap::new();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // The pages load only their own scripts and styles and talk only to this server.
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(e) = encoding {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    (out, body).into_response()
}

async fn alerts(headers: HeaderMap, Query(p): Query<Params>) -> Response {
    page(&headers, pages::alerts(&p))
}

async fn silences(headers: HeaderMap, Query(p): Query<Params>) -> Response {
    page(&headers, pages::silences(&p))
}

async fn rules(headers: HeaderMap) -> Response {
    page(&headers, pages::rules())
}

async fn explore(headers: HeaderMap, Query(p): Query<Params>) -> Response {
    page(&headers, pages::explore(&p))
}

async fn pipeline(headers: HeaderMap) -> Response {
    page(&headers, pages::pipeline())
}

async fn probes(headers: HeaderMap) -> Response {
    page(&headers, pages::probes())
}

async fn errors(headers: HeaderMap, Query(p): Query<Params>) -> Response {
    page(&headers, pages::errors(&p))
}

async fn scaler(headers: HeaderMap) -> Response {
    page(&headers, pages::scaler())
}

async fn tap(headers: HeaderMap, Query(p): Query<Params>) -> Response {
    page(&headers, pages::tap(&p))
}

#[cfg(test)]
mod tests;
