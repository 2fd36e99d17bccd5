//! The CSS, scripts and vendored uPlot, embedded in the binary and served under
//! content-hash names (`/ui/assets/app.3f9c0a1b2d.js`) so a browser may keep them a
//! year: a new build changes the name, never the content behind a name. Each is
//! gzipped once, on first use, and sent compressed to clients that accept it.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
struct Source {
    /// Its logical name, as pages refer to it.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const SOURCES: &[Source] = &[
    Source { name: "style.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../static/style.css") },
    Source {
        name: "common.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/common.js"),
    },
    Source {
        name: "alerts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/alerts.js"),
    },
    Source {
        name: "silences.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/silences.js"),
    },
    Source {
        name: "rules.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/rules.js"),
    },
    Source {
        name: "explore.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/explore.js"),
    },
    Source {
        name: "pipeline.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/pipeline.js"),
    },
    Source {
        name: "probes.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/probes.js"),
    },
    Source {
        name: "errors.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/errors.js"),
    },
    Source {
        name: "scaler.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/scaler.js"),
    },
    Source { name: "tap.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../static/tap.js") },
    Source {
        name: "uPlot.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/vendor/uPlot.iife.min.js"),
    },
    Source {
        name: "uPlot.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../static/vendor/uPlot.min.css"),
    },
    Source {
        name: "uPlot.LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../static/vendor/uPlot.LICENSE"),
    },
];

/// An embedded file with its hashed name and gzipped body.
struct Asset {
    source: &'static Source,
    /// `stem.<hash>.ext`.
    hashed: String,
    gzip: Vec<u8>,
}

fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| SOURCES.iter().map(asset).collect())
}

fn asset(source: &'static Source) -> Asset {
    let digest = Sha256::digest(source.body);
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let hashed = match source.name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{}.{hash}", source.name),
    };
    Asset { source, hashed, gzip: gzip(source.body) }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// The URL of the embedded file `name` (`common.js`), with its content hash.
///
/// # Panics
/// When no such file is embedded: a page naming a missing asset is a bug caught by
/// every test that renders it.
pub fn url(name: &str) -> String {
    let a = assets().iter().find(|a| a.source.name == name).unwrap_or_else(|| panic!("no embedded asset {name}"));
    format!("{}/{}", PREFIX, a.hashed)
}

/// Where assets are served.
pub const PREFIX: &str = "/ui/assets";

/// `GET /ui/assets/{name}`: the file, cached for a year, gzipped when the client
/// accepts it. The bare name (`style.css`) also answers, uncached, for tools.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (asset, immutable) = match assets().iter().find(|a| a.hashed == name) {
        Some(a) => (a, true),
        None => match assets().iter().find(|a| a.source.name == name) {
            Some(a) => (a, false),
            None => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
        },
    };
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut out = HeaderMap::new();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.source.content_type));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if accepts_gzip(&headers) {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (out, asset.gzip.clone()).into_response();
    }
    (out, asset.source.body).into_response()
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
pub(crate) fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let q = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        },
    )
}

/// Gzips `body` (a page) when the client accepts it.
pub(crate) fn maybe_gzip(headers: &HeaderMap, body: String) -> (Option<&'static str>, Vec<u8>) {
    if body.len() > 1024 && accepts_gzip(headers) {
        (Some("gzip"), gzip(body.as_bytes()))
    } else {
        (None, body.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        let u = url("common.js");
        assert!(
            u.starts_with("/ui/assets/common.") && u.ends_with(".js") && u.len() == "/ui/assets/common..js".len() + 10
        );
        assert_ne!(url("alerts.js"), url("rules.js"));
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        assert!(accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, deflate"));
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity, *"));
        assert!(accepts_gzip(&h));
    }

    #[test]
    fn the_vendored_chart_library_keeps_its_licence_header() {
        let js = SOURCES.iter().find(|s| s.name == "uPlot.js").unwrap().body;
        assert!(js.starts_with(b"/*! uPlot v1.6."), "licence header first");
        assert!(std::str::from_utf8(js).unwrap().contains("MIT"));
    }
}
