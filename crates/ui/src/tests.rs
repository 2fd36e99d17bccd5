//! Page rendering, escaping, caching and compression, through the router.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

async fn get(uri: &str, gzip: bool) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    if gzip {
        req = req.header(header::ACCEPT_ENCODING, "gzip, deflate, br");
    }
    let resp = router().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, body)
}

async fn html(uri: &str) -> String {
    let (status, headers, body) = get(uri, false).await;
    assert_eq!(status, StatusCode::OK, "{uri}");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn every_page_renders_with_its_navigation_and_scripts() {
    for (path, title) in [
        ("/", "Alerts"),
        ("/alerts", "Alerts"),
        ("/silences", "Silences"),
        ("/rules", "Rules"),
        ("/graph", "Explore"),
        ("/pipeline", "Pipeline"),
        ("/probes", "Probes"),
        ("/errors", "Errors"),
        ("/errors?fingerprint=abc", "Errors"),
        ("/scaler", "Scaler"),
        ("/tap", "Tap"),
    ] {
        let page = html(path).await;
        assert!(page.starts_with("<!DOCTYPE html>"), "{path}");
        assert!(page.contains(&format!("<title>{title} · Lookout</title>")), "{path}");
        assert!(page.contains(&format!("aria-current=\"page\">{title}</a>")), "{path}: current page marked");
        assert!(page.contains(&assets::url("common.js")), "{path}");
        for p in Page::ALL {
            assert!(page.contains(&format!("href=\"{}\"", p.path())), "{path} links {}", p.path());
        }
    }
}

#[tokio::test]
async fn explore_takes_prometheus_graph_links() {
    // What a generatorURL looks like (Go's url.QueryEscape of the expression).
    let page =
        html("/graph?g0.expr=sum+by+%28service%29+%28rate%28x_total%5B5m%5D%29%29+%3E+0.5&g0.tab=1&g0.range_input=6h")
            .await;
    assert!(page.contains(">sum by (service) (rate(x_total[5m])) &gt; 0.5</textarea>"), "{page}");
    assert!(page.contains(r#"<option value="6h" selected>6h</option>"#), "{page}");
    assert!(page.contains(r#"name="g0.tab" value="1""#), "{page}");
    assert!(page.contains(&assets::url("uPlot.js")), "charts load uPlot");
}

#[tokio::test]
async fn whatever_the_url_carries_is_escaped() {
    let evil = "%3C%2Ftextarea%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%27%3E";
    for path in [
        format!("/graph?g0.expr={evil}"),
        format!("/graph?g0.range_input={evil}"),
        format!("/silences?filter={evil}&comment={evil}"),
        format!("/alerts?receiver={evil}&filter={evil}"),
        format!("/tap?component={evil}&where={evil}"),
        format!("/errors?service={evil}&release={evil}&fingerprint={evil}"),
    ] {
        let page = html(&path).await;
        assert!(!page.contains("<script>alert(1)"), "{path}: {page}");
        assert!(!page.contains("</textarea><script"), "{path}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{path}: {page}");
    }
}

#[tokio::test]
async fn silence_this_prefills_the_form() {
    let page = html("/silences?filter=%7Balertname%3D%22HighErrorRate%22%2C+service%3D%22checkout%22%7D").await;
    assert!(page.contains(">{alertname=&quot;HighErrorRate&quot;, service=&quot;checkout&quot;}</textarea>"), "{page}");
}

#[tokio::test]
async fn errors_filter_comes_from_the_query() {
    let page = html("/errors?state=resolved&service=checkout&sort=count").await;
    assert!(page.contains(r#"<option value="resolved" selected>resolved</option>"#), "{page}");
    assert!(page.contains(r#"name="service" value="checkout""#), "{page}");
    assert!(page.contains(r#"<option value="count" selected>count</option>"#), "{page}");
    let page = html("/errors").await;
    assert!(page.contains(r#"<option value="open" selected>open</option>"#), "open groups by default: {page}");
}

#[tokio::test]
async fn alerts_filter_comes_from_the_query() {
    let page = html("/alerts?receiver=team-x&silenced=true").await;
    assert!(page.contains(r#"name="receiver" value="team-x""#), "{page}");
    assert!(page.contains(r#"name="silenced" checked"#), "{page}");
    assert!(!page.contains(r#"name="inhibited" checked"#), "{page}");
}

#[tokio::test]
async fn assets_are_cached_for_a_year_and_gzipped_when_accepted() {
    let url = assets::url("uPlot.js");
    let (status, headers, plain) = get(&url, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    let (_, headers, zipped) = get(&url, true).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(zipped.len() < plain.len() / 2, "{} vs {}", zipped.len(), plain.len());
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
    // The plain name answers too, but is not cached.
    let (status, headers, _) = get("/ui/assets/style.css", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let (status, _, _) = get("/ui/assets/nope.js", false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_are_gzipped_when_accepted() {
    let (_, headers, body) = get("/graph", true).await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    let mut page = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut page).unwrap();
    assert!(page.contains("<title>Explore · Lookout</title>"));
}

#[tokio::test]
async fn odd_query_strings_render_as_typed() {
    // Broken percent-escapes and bytes that are not UTF-8 are shown, never a panic.
    for (uri, shown) in [("/graph?g0.expr=%ZZ", ">%ZZ</textarea>"), ("/graph?g0.expr=a%FFb", ">a\u{fffd}b</textarea>")]
    {
        let page = html(uri).await;
        assert!(page.contains(shown), "{uri}: {page}");
    }
}

#[tokio::test]
async fn the_first_party_assets_stay_small_on_the_wire() {
    // Everything but the chart library, as a phone downloads it (gzipped).
    let mut total = 0;
    for name in [
        "style.css",
        "common.js",
        "alerts.js",
        "silences.js",
        "rules.js",
        "explore.js",
        "pipeline.js",
        "probes.js",
        "errors.js",
        "scaler.js",
    ] {
        let (status, _, body) = get(&assets::url(name), true).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        total += body.len();
    }
    assert!(total < 40_000, "{total} bytes gzipped");
}
