//! The `http` probe: one GET (following redirects), each phase timed as
//! blackbox_exporter times it, over hyper's HTTP/1.1 client on a connection we open
//! ourselves (that is what lets us time resolve, connect and TLS apart).

use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue, LOCATION, USER_AGENT};
use hyper_util::rt::TokioIo;

use crate::Probe;
use crate::config::MAX_REDIRECTS;
use crate::net::connect;
use crate::outcome::Measure;

/// Bodies are read up to this many bytes (enough for any health endpoint); the rest
/// is not read, and `body_regex` sees only this much.
const MAX_BODY: usize = 1 << 20;

/// Checks that `url` is an absolute `http`/`https` URL with a host.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    target_of(&uri).map(|_| ())
}

/// `(https, host, port)` of an absolute URL.
fn target_of(uri: &Uri) -> Result<(bool, String, u16), String> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(format!("scheme `{other}` is not http or https")),
        None => return Err("the URL has no scheme (http:// or https://)".to_string()),
    };
    // The URL is the `instance` label and is shown by the API: no password in it.
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(
            "credentials in the URL would be shown in the `instance` label; use `bearer_token` or `headers`".into()
        );
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((https, host, uri.port_u16().unwrap_or(if https { 443 } else { 80 })))
}

/// Runs the check; what it measured goes into `m` (kept on timeout).
pub(crate) async fn probe_http(probe: &Probe, m: &mut Measure) -> Result<(), String> {
    let mut uri: Uri = probe.target.parse().map_err(|e| format!("not a URL: {e}"))?;
    let first_host = uri.host().map(str::to_string);
    loop {
        let (https, host, port) = target_of(&uri)?;
        let tls = https.then_some((&probe.https, &probe.https.plain));
        let stream = connect(&host, port, tls, m).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        // The connection is driven beside the request and dropped with it.
        let driver = tokio::spawn(connection);
        let _abort = AbortOnDrop(driver);

        let mut request = hyper::Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        headers.insert(HOST, HeaderValue::try_from(authority).map_err(|e| e.to_string())?);
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("Lookout/", env!("CARGO_PKG_VERSION"))));
        // Credentials go only to the host the probe names, as Go's client does on a
        // redirect to another host.
        if uri.host().map(str::to_string) == first_host {
            if let Some(token) = &probe.bearer_token {
                let value = HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|e| e.to_string())?;
                headers.insert(AUTHORIZATION, value);
            }
            for (name, value) in &probe.headers {
                let name = HeaderName::try_from(name.as_str()).map_err(|e| e.to_string())?;
                headers.insert(name, HeaderValue::try_from(value.as_str()).map_err(|e| e.to_string())?);
            }
        }

        let started = Instant::now();
        let response = sender.send_request(request).await;
        m.phases.processing += started.elapsed();
        let response = response.map_err(|e| format!("HTTP request failed: {e}"))?;
        let status = response.status().as_u16();
        m.status = Some(status);
        m.http_version = Some(match response.version() {
            hyper::Version::HTTP_09 => 0.9,
            hyper::Version::HTTP_10 => 1.0,
            hyper::Version::HTTP_2 => 2.0,
            hyper::Version::HTTP_3 => 3.0,
            _ => 1.1,
        });
        m.content_length = Some(
            response
                .headers()
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(-1),
        );
        if response.status().is_redirection()
            && probe.follow_redirects
            && let Some(location) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok())
        {
            if m.redirects >= MAX_REDIRECTS {
                return Err(format!("stopped after {MAX_REDIRECTS} redirects"));
            }
            m.redirects += 1;
            uri = follow(&uri, location)?;
            continue;
        }

        let started = Instant::now();
        let body = read_body(response.into_body()).await;
        m.phases.transfer += started.elapsed();
        let body = body?;
        m.body_length = Some(body.len() as u64);
        let status_ok = if probe.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            probe.expect_status.contains(&status)
        };
        if !status_ok {
            return Err(format!("status {status} is not an expected status"));
        }
        if let Some(regex) = &probe.body_regex
            && !regex.is_match(&String::from_utf8_lossy(&body))
        {
            m.failed_due_to_regex = true;
            return Err(format!("the body does not match `{}`", regex.as_str()));
        }
        return Ok(());
    }
}

async fn read_body(mut body: hyper::body::Incoming) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while out.len() < MAX_BODY {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err(format!("reading the body failed: {e}")),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let room = MAX_BODY - out.len();
                    out.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
    }
    Ok(out)
}

/// The URL a `Location` header points to, relative to `base`.
fn follow(base: &Uri, location: &str) -> Result<Uri, String> {
    let bad = |e: &dyn std::fmt::Display| format!("redirect to `{location}`: {e}");
    let target: Uri = location.parse().map_err(|e| bad(&e))?;
    if target.scheme().is_some() {
        return Ok(target);
    }
    let mut parts = hyper::http::uri::Parts::default();
    parts.scheme = base.scheme().cloned();
    parts.authority = base.authority().cloned();
    let path = if location.starts_with('/') {
        location.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{location}")
    };
    parts.path_and_query = Some(path.parse().map_err(|e| bad(&e))?);
    Uri::from_parts(parts).map_err(|e| bad(&e))
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_redirect_targets() {
        assert!(check_url("https://checkout.internal/api/health").is_ok());
        assert_eq!(check_url("ftp://x/").unwrap_err(), "scheme `ftp` is not http or https");
        assert!(check_url("/health").is_err());
        assert!(check_url("http://u:secret@x/").unwrap_err().contains("credentials in the URL"));
        let base: Uri = "http://a:8080/x/y?q=1".parse().unwrap();
        assert_eq!(follow(&base, "/z").unwrap().to_string(), "http://a:8080/z");
        assert_eq!(follow(&base, "w").unwrap().to_string(), "http://a:8080/x/w");
        assert_eq!(follow(&base, "https://b/").unwrap().to_string(), "https://b/");
        assert_eq!(target_of(&"https://[::1]/".parse().unwrap()).unwrap(), (true, "::1".to_string(), 443));
    }
}
