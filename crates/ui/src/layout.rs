//! The page shell every page shares: head, navigation, the page's scripts.

use maud::{DOCTYPE, Markup, html};

use crate::assets;

/// One page of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/`, `/alerts`.
    Alerts,
    /// `/silences`.
    Silences,
    /// `/rules`.
    Rules,
    /// `/graph`.
    Explore,
    /// `/pipeline`.
    Pipeline,
    /// `/probes`.
    Probes,
    /// `/errors`.
    Errors,
    /// `/scaler`.
    Scaler,
    /// `/tap`.
    Tap,
}

impl Page {
    /// Every page, in the navigation's order.
    pub const ALL: [Page; 9] = [
        Page::Alerts,
        Page::Silences,
        Page::Rules,
        Page::Explore,
        Page::Pipeline,
        Page::Probes,
        Page::Errors,
        Page::Scaler,
        Page::Tap,
    ];

    /// The title in the navigation.
    pub fn title(self) -> &'static str {
        match self {
            Page::Alerts => "Alerts",
            Page::Silences => "Silences",
            Page::Rules => "Rules",
            Page::Explore => "Explore",
            Page::Pipeline => "Pipeline",
            Page::Probes => "Probes",
            Page::Errors => "Errors",
            Page::Scaler => "Scaler",
            Page::Tap => "Tap",
        }
    }

    /// Its path.
    pub fn path(self) -> &'static str {
        match self {
            Page::Alerts => "/alerts",
            Page::Silences => "/silences",
            Page::Rules => "/rules",
            Page::Explore => "/graph",
            Page::Pipeline => "/pipeline",
            Page::Probes => "/probes",
            Page::Errors => "/errors",
            Page::Scaler => "/scaler",
            Page::Tap => "/tap",
        }
    }

    /// `data-page` on `<body>`, and the name of its script.
    fn key(self) -> &'static str {
        match self {
            Page::Alerts => "alerts",
            Page::Silences => "silences",
            Page::Rules => "rules",
            Page::Explore => "explore",
            Page::Pipeline => "pipeline",
            Page::Probes => "probes",
            Page::Errors => "errors",
            Page::Scaler => "scaler",
            Page::Tap => "tap",
        }
    }

    /// Whether it draws charts (loads uPlot).
    fn charts(self) -> bool {
        matches!(self, Page::Explore | Page::Scaler | Page::Probes)
    }
}

/// `body` inside the shell of `page`.
pub fn shell(page: Page, body: Markup) -> Markup {
    let script = format!("{}.js", page.key());
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                // Inline, so no browser asks for /favicon.ico.
                link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='6' fill='%230b63ce'/%3E%3C/svg%3E";
                title { (page.title()) " · Lookout" }
                link rel="stylesheet" href=(assets::url("style.css"));
                @if page.charts() {
                    link rel="stylesheet" href=(assets::url("uPlot.css"));
                }
            }
            body data-page=(page.key()) {
                header {
                    nav {
                        a.brand href="/" { "Lookout" }
                        @for p in Page::ALL {
                            @if p == page {
                                a href=(p.path()) aria-current="page" { (p.title()) }
                            } @else {
                                a href=(p.path()) { (p.title()) }
                            }
                        }
                    }
                }
                main {
                    noscript { p.error { "This page loads its data with JavaScript. The same data is on the JSON API (/api/v2/alerts, /api/v1/rules, ...)." } }
                    (body)
                }
                @if page.charts() {
                    script src=(assets::url("uPlot.js")) defer {}
                }
                script src=(assets::url("common.js")) defer {}
                script src=(assets::url(&script)) defer {}
            }
        }
    }
}
