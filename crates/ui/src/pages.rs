//! The markup of each page. The server renders the page's frame, forms and whatever
//! the URL carries (a query to run, a silence's matchers, a filter); the page's script
//! fills in the live data from the JSON API, so every page shows what the API
//! shows and needs no state of its own. Everything taken from the URL goes through
//! maud, which escapes it.

use maud::{Markup, html};

use crate::layout::{Page, shell};

/// Query parameters, repeated keys kept, in order.
pub type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn flag(params: &Params, key: &str, default: bool) -> bool {
    match param(params, key) {
        Some(v) => matches!(v, "true" | "1" | "on" | "yes"),
        None => default,
    }
}

/// Alerts: grouped as the routing tree groups them, pending ones from the rule engine.
pub fn alerts(params: &Params) -> Markup {
    let receiver = param(params, "receiver").unwrap_or("");
    let filter = param(params, "filter").unwrap_or("");
    let body = html! {
        h1 { "Alerts" }
        form #alert-filter.bar role="search" {
            input name="filter" value=(filter) placeholder="{alertname=\"…\", service=\"…\"}" aria-label="Filter by labels";
            input name="receiver" value=(receiver) placeholder="receiver" aria-label="Receiver" list="receivers";
            datalist #receivers {}
            label { input type="checkbox" name="silenced" checked[flag(params, "silenced", false)]; " silenced" }
            label { input type="checkbox" name="inhibited" checked[flag(params, "inhibited", false)]; " inhibited" }
            label { input type="checkbox" name="pending" checked[flag(params, "pending", true)]; " pending" }
            button type="submit" { "Apply" }
        }
        p #alert-summary.muted aria-live="polite" { "Loading…" }
        div #alert-groups {}
    };
    shell(Page::Alerts, body)
}

/// Silences: the form (prefilled from `filter`), its preview, the active ones, history.
pub fn silences(params: &Params) -> Markup {
    let filter = param(params, "filter").unwrap_or("");
    let comment = param(params, "comment").unwrap_or("");
    let body = html! {
        h1 { "Silences" }
        section.card {
            h2 { "New silence" }
            form #silence-form {
                label {
                    "Matchers "
                    small.muted { "name=\"value\", name=~\"regex\", name!=\"value\", name!~\"regex\"; comma separated" }
                    textarea name="matchers" rows="2" required spellcheck="false" { (filter) }
                }
                div.row {
                    label { "Duration " input name="duration" value="2h" size="6" required pattern="[0-9smhdw]+"; }
                    label { "Author " input name="author" autocomplete="username" required; }
                }
                label { "Comment " input name="comment" value=(comment) required; }
                button type="submit" { "Create silence" }
                p #silence-result role="status" {}
            }
            h3 { "Alerts it would silence now" }
            div #silence-preview.muted { "Type matchers to see the alerts they match." }
        }
        section {
            h2 { "Active and pending" }
            div #silences-active { "Loading…" }
        }
        section {
            h2 { "History" }
            div #silences-expired {}
        }
    };
    shell(Page::Silences, body)
}

/// Rules: every group and rule from the rule engine, with backtests.
pub fn rules() -> Markup {
    let body = html! {
        h1 { "Rules" }
        div.bar {
            label {
                "Backtest over "
                select #backtest-range {
                    option value="1h" { "the last hour" }
                    option value="6h" selected { "the last 6 hours" }
                    option value="24h" { "the last day" }
                    option value="7d" { "the last week" }
                }
            }
        }
        div #rules { "Loading…" }
    };
    shell(Page::Rules, body)
}

/// The time ranges Explore offers, Prometheus's `range_input` syntax.
const RANGES: [&str; 9] = ["5m", "15m", "1h", "3h", "6h", "12h", "1d", "2d", "1w"];

/// Explore: Prometheus's `/graph?g0.expr=…&g0.tab=…&g0.range_input=…`, the link every
/// alert's `generatorURL` opens. `g0.tab` 0 opens the graph first, 1 the table (as in
/// Prometheus); both are shown.
pub fn explore(params: &Params) -> Markup {
    let expr = param(params, "g0.expr").unwrap_or("");
    let tab = if param(params, "g0.tab") == Some("1") { "1" } else { "0" };
    let range = param(params, "g0.range_input").unwrap_or("1h");
    let body = html! {
        h1 { "Explore" }
        form #query-form method="get" action="/graph" autocomplete="off" {
            div.completing {
                textarea #expr name="g0.expr" rows="2" spellcheck="false" autocapitalize="off"
                    placeholder="PromQL, e.g. rate(lookout_component_sent_events_total[5m])" aria-label="PromQL expression" { (expr) }
                ul #completions role="listbox" hidden {}
            }
            div.row {
                label {
                    "Range "
                    select name="g0.range_input" {
                        @for r in RANGES {
                            option value=(r) selected[r == range] { (r) }
                        }
                        @if !RANGES.contains(&range) {
                            option value=(range) selected { (range) }
                        }
                    }
                }
                input type="hidden" name="g0.tab" value=(tab);
                button type="submit" { "Execute" }
            }
        }
        p #query-error.error role="alert" hidden {}
        section #graph-section data-first=(tab == "0") {
            h2 { "Graph" }
            div #graph.chart {}
            p #graph-info.muted {}
        }
        section #table-section {
            h2 { "Table" }
            div #table {}
        }
    };
    shell(Page::Explore, body)
}

/// Pipeline: the component graph with live rates.
pub fn pipeline() -> Markup {
    let body = html! {
        h1 { "Pipeline" }
        p.muted { "Rates over the last poll (every 2 s). Buffer fill is of each sink's buffer." }
        div #pipeline-graph.flow { "Loading…" }
        h2 { "Other parts" }
        div #services {}
    };
    shell(Page::Pipeline, body)
}

/// Probes: each uptime check's state, last result and recent history.
pub fn probes() -> Markup {
    let body = html! {
        h1 { "Probes" }
        p #probes-summary.muted aria-live="polite" { "Loading…" }
        div #probes {}
    };
    shell(Page::Probes, body)
}

/// Errors: error groups (filters from the URL), or one group with its samples
/// (`?fingerprint=…`), with resolve / ignore / reopen.
pub fn errors(params: &Params) -> Markup {
    let value = |k| param(params, k).unwrap_or("");
    let state = param(params, "state").unwrap_or("open");
    let sort = value("sort");
    let body = html! {
        h1 { "Errors" }
        form #errors-filter.bar role="search" {
            select name="state" aria-label="State" {
                @for s in ["open", "resolved", "ignored", "all"] {
                    option value=(s) selected[s == state] { (s) }
                }
            }
            input name="service" value=(value("service")) placeholder="service" aria-label="Service";
            input name="environment" value=(value("environment")) placeholder="environment" aria-label="Environment";
            input name="release" value=(value("release")) placeholder="release" aria-label="Release";
            select name="sort" aria-label="Sort" {
                option value="last_seen" selected[sort != "count"] { "last seen" }
                option value="count" selected[sort == "count"] { "count" }
            }
            button type="submit" { "Apply" }
        }
        p #errors-summary.muted aria-live="polite" data-fingerprint=(value("fingerprint")) { "Loading…" }
        div #errors {}
    };
    shell(Page::Errors, body)
}

/// Scaler: replicas over time and each decision's reasons.
pub fn scaler() -> Markup {
    let body = html! {
        h1 { "Scaler" }
        div #scalers { "Loading…" }
    };
    shell(Page::Scaler, body)
}

/// Tap: the records leaving a component, live.
pub fn tap(params: &Params) -> Markup {
    let component = param(params, "component").unwrap_or("");
    let condition = param(params, "where").unwrap_or("");
    let body = html! {
        h1 { "Tap" }
        form #tap-form.bar {
            input name="component" value=(component) placeholder="component" required aria-label="Component" list="components";
            datalist #components {}
            input name="where" value=(condition) placeholder="severity_text == \"ERROR\"" aria-label="Condition";
            input name="limit" type="number" value="100" min="1" max="10000" aria-label="Limit";
            button type="submit" { "Start" }
            button #tap-stop type="button" disabled { "Stop" }
        }
        p #tap-status.muted role="status" {}
        pre #tap-records {}
    };
    shell(Page::Tap, body)
}
