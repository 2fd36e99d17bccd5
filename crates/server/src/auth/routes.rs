//! The role every API route needs, decided in one table so a new route is a
//! deliberate choice.
//!
//! | route | method | needs |
//! |---|---|---|
//! | `/health/live`, `/health/ready`, `/-/healthy`, `/-/ready` | any | nobody: liveness and readiness probes carry no credentials |
//! | `/api/v2/status` | any | admin: it shows the routing configuration |
//! | `/-/reload` | any | admin |
//! | `/api/v2/alerts`, `/api/v1/alerts` | `POST` | editor |
//! | `/api/v2/silences` | `POST`, `DELETE` | editor |
//! | `/api/v2/silence/{id}`, `/api/v2/silences/{id}` | `DELETE` | editor |
//! | `/api/v1/errors/{fingerprint}/resolve`, `/ignore`, `/reopen` | `POST` | editor |
//! | `/api/v1/rules/backtest` | `POST` | viewer: it reads stored data a viewer can query and writes nothing (bounded cost, one at a time) |
//! | `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`, `/api/v1/query_exemplars`, `/api/v1/format_query` | `POST` | viewer: a query sent as a form (Grafana does) reads, like its `GET` |
//! | everything else (`/health`, `/metrics`, `/api/v1/rules`, `/api/v1/alerts`, `/api/v2/alerts`, `/api/v2/alerts/groups`, `/api/v2/silences`, `/api/v2/silence/{id}`, `/api/v2/receivers`, `/api/v1/scaler`, ...) | `GET`, `HEAD`, `OPTIONS` | viewer |
//! | any other route | any other method | admin |
//!
//! `/health` and `/metrics` need a viewer, as in Prometheus with a web config (which
//! protects every path): `/health` names components and their failures, `/metrics`
//! the whole pipeline. A scraping Prometheus sends `basic_auth` as it does to any
//! protected exporter.

use axum::http::Method;

use super::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials.
    Anonymous,
    /// A caller with at least this role.
    Role(Role),
}

/// The access `method` on `path` needs.
pub fn required_access(method: &Method, path: &str) -> Access {
    let read = *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS;
    match path {
        "/health/live" | "/health/ready" | "/-/healthy" | "/-/ready" => Access::Anonymous,
        "/api/v2/status" | "/-/reload" => Access::Role(Role::Admin),
        _ if read => Access::Role(Role::Viewer),
        "/api/v2/alerts" | "/api/v1/alerts" if *method == Method::POST => Access::Role(Role::Editor),
        "/api/v2/silences" if *method == Method::POST || *method == Method::DELETE => Access::Role(Role::Editor),
        p if *method == Method::DELETE && is_one_silence(p) => Access::Role(Role::Editor),
        p if *method == Method::POST && is_error_group_action(p) => Access::Role(Role::Editor),
        "/api/v1/query"
        | "/api/v1/query_range"
        | "/api/v1/series"
        | "/api/v1/labels"
        | "/api/v1/query_exemplars"
        | "/api/v1/format_query"
        | "/api/v1/rules/backtest"
            if *method == Method::POST =>
        {
            Access::Role(Role::Viewer)
        }
        _ => Access::Role(Role::Admin),
    }
}

/// `/api/v2/silence/{id}` (Alertmanager's) or `/api/v2/silences/{id}`, one segment.
fn is_one_silence(path: &str) -> bool {
    ["/api/v2/silence/", "/api/v2/silences/"]
        .iter()
        .filter_map(|prefix| path.strip_prefix(prefix))
        .any(|id| !id.is_empty() && !id.contains('/'))
}

/// `/api/v1/errors/{fingerprint}/resolve|ignore|reopen`.
fn is_error_group_action(path: &str) -> bool {
    path.strip_prefix("/api/v1/errors/").and_then(|rest| rest.split_once('/')).is_some_and(|(fingerprint, action)| {
        !fingerprint.is_empty() && matches!(action, "resolve" | "ignore" | "reopen")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(method: Method, path: &str) -> Access {
        required_access(&method, path)
    }

    #[test]
    fn probes_are_open_whatever_the_method() {
        for p in ["/health/live", "/health/ready", "/-/healthy", "/-/ready"] {
            assert_eq!(need(Method::GET, p), Access::Anonymous, "{p}");
            assert_eq!(need(Method::HEAD, p), Access::Anonymous, "{p}");
        }
    }

    #[test]
    fn every_read_is_a_viewer_but_status() {
        for p in [
            "/health",
            "/metrics",
            "/api/v1/rules",
            "/api/v1/alerts",
            "/api/v2/alerts",
            "/api/v2/alerts/groups",
            "/api/v2/silences",
            "/api/v2/silence/abc",
            "/api/v2/receivers",
            "/api/v1/scaler",
            "/no/such/route",
        ] {
            assert_eq!(need(Method::GET, p), Access::Role(Role::Viewer), "{p}");
            assert_eq!(need(Method::HEAD, p), Access::Role(Role::Viewer), "{p}");
        }
        assert_eq!(need(Method::GET, "/api/v2/status"), Access::Role(Role::Admin));
    }

    #[test]
    fn writes() {
        assert_eq!(need(Method::POST, "/api/v2/alerts"), Access::Role(Role::Editor));
        assert_eq!(need(Method::POST, "/api/v1/alerts"), Access::Role(Role::Editor));
        assert_eq!(need(Method::POST, "/api/v2/silences"), Access::Role(Role::Editor));
        assert_eq!(need(Method::DELETE, "/api/v2/silence/0f5c"), Access::Role(Role::Editor));
        assert_eq!(need(Method::DELETE, "/api/v2/silences/0f5c"), Access::Role(Role::Editor));
        for action in ["resolve", "ignore", "reopen"] {
            let p = format!("/api/v1/errors/0f5c9a/{action}");
            assert_eq!(need(Method::POST, &p), Access::Role(Role::Editor), "{p}");
        }
        assert_eq!(need(Method::GET, "/api/v1/errors/0f5c9a"), Access::Role(Role::Viewer));
        assert_eq!(need(Method::POST, "/api/v1/errors/0f5c9a/delete"), Access::Role(Role::Admin));
        assert_eq!(need(Method::POST, "/api/v1/errors//resolve"), Access::Role(Role::Admin));
        assert_eq!(need(Method::POST, "/-/reload"), Access::Role(Role::Admin));
        assert_eq!(need(Method::PUT, "/-/reload"), Access::Role(Role::Admin));
    }

    #[test]
    fn queries_posted_as_forms_are_reads() {
        for p in ["/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/query_exemplars"]
        {
            assert_eq!(need(Method::POST, p), Access::Role(Role::Viewer), "{p}");
            assert_eq!(need(Method::GET, p), Access::Role(Role::Viewer), "{p}");
        }
        assert_eq!(need(Method::DELETE, "/api/v1/series"), Access::Role(Role::Admin));
    }

    #[test]
    fn unknown_writes_need_an_admin() {
        assert_eq!(need(Method::PUT, "/api/v2/alerts"), Access::Role(Role::Admin));
        assert_eq!(need(Method::DELETE, "/api/v2/silence/a/b"), Access::Role(Role::Admin));
        assert_eq!(need(Method::DELETE, "/api/v2/silence/"), Access::Role(Role::Admin));
        assert_eq!(need(Method::POST, "/metrics"), Access::Role(Role::Admin));
        assert_eq!(need(Method::PATCH, "/anything"), Access::Role(Role::Admin));
    }
}
