//! The CLI side of `lookout tap`: streams `GET /api/v1/tap` from a running Lookout to
//! stdout, one JSON document per line, and says on stderr what was skipped.

use std::io::{ErrorKind, Write};

use reqwest::Url;

/// What to tap, and where.
#[derive(Debug, Clone)]
pub struct TapRequest {
    /// The API's base URL (`http://127.0.0.1:8686`); `user:password@` in it is sent as
    /// basic auth.
    pub api: String,
    /// The component to watch.
    pub component: String,
    /// Only records matching this condition.
    pub condition: Option<String>,
    /// Stop after this many records.
    pub limit: Option<u64>,
    /// At most this many records a second.
    pub rate: Option<f64>,
    /// A bearer token for the API.
    pub token: Option<String>,
}

/// Why a tap ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--api` is not a URL.
    #[error("--api `{0}` is not a URL")]
    BadUrl(String),
    /// The API could not be reached, or the stream broke.
    #[error("cannot reach the Lookout API at {url}: {source}")]
    Http {
        /// The API URL (without credentials).
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The API refused the tap (unknown component, bad condition, too many taps, auth).
    #[error("{0}")]
    Refused(String),
    /// stdout or stderr could not be written.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// A user name and optional password for basic auth.
type Credentials = (String, Option<String>);

/// The endpoint URL for `request`, and the basic-auth credentials taken out of it.
fn endpoint(request: &TapRequest) -> Result<(Url, Option<Credentials>), ClientError> {
    let base = request.api.trim_end_matches('/');
    let mut url = Url::parse(&format!("{base}/api/v1/tap")).map_err(|_| ClientError::BadUrl(request.api.clone()))?;
    let credentials =
        (!url.username().is_empty()).then(|| (url.username().to_string(), url.password().map(String::from)));
    let _ = url.set_username("");
    let _ = url.set_password(None);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("component", &request.component).append_pair("notices", "true");
        if let Some(c) = &request.condition {
            q.append_pair("where", c);
        }
        if let Some(l) = request.limit {
            q.append_pair("limit", &l.to_string());
        }
        if let Some(r) = request.rate {
            q.append_pair("rate", &r.to_string());
        }
    }
    Ok((url, credentials))
}

/// Streams the tap into `out` until the limit is reached, the server ends it, or `out`
/// is closed (a broken pipe ends quietly). Returns the records written.
pub async fn run(request: &TapRequest, out: &mut impl Write, err: &mut impl Write) -> Result<u64, ClientError> {
    let (url, credentials) = endpoint(request)?;
    let shown = url.as_str().split('?').next().unwrap_or_default().to_string();
    let http = |source| ClientError::Http { url: shown.clone(), source };
    let mut req = reqwest::Client::new().get(url.clone());
    if let Some((user, password)) = credentials {
        req = req.basic_auth(user, password);
    }
    if let Some(token) = &request.token {
        req = req.bearer_auth(token);
    }
    let mut response = req.send().await.map_err(http)?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or_else(|| body.trim().to_string());
        return Err(ClientError::Refused(format!("the API answered {status}: {message}")));
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut records = 0;
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        pending.extend_from_slice(&chunk);
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else { continue };
        let complete: Vec<u8> = pending.drain(..=end).collect();
        for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if line.starts_with(b"{\"@tap\":") {
                let notice: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
                let skipped = notice["@tap"]["skipped"].as_u64().unwrap_or(0);
                let why = match notice["@tap"]["reason"].as_str() {
                    Some("rate") => "over --rate",
                    _ => "this client was too slow",
                };
                writeln!(err, "lookout tap: skipped {skipped} records ({why})")?;
                continue;
            }
            match out.write_all(line).and_then(|()| out.write_all(b"\n")) {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(records),
                r => r?,
            }
            records += 1;
        }
        match out.flush() {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(records),
            r => r?,
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_carries_parameters_and_strips_credentials() {
        let request = TapRequest {
            api: "http://alice:pw@127.0.0.1:8686/".into(),
            component: "enrich".into(),
            condition: Some(r#"severity_text == "ERROR""#.into()),
            limit: Some(100),
            rate: Some(2.5),
            token: None,
        };
        let (url, credentials) = endpoint(&request).unwrap();
        assert_eq!(credentials, Some(("alice".to_string(), Some("pw".to_string()))));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8686/api/v1/tap?component=enrich&notices=true&where=severity_text+%3D%3D+%22ERROR%22&limit=100&rate=2.5"
        );
    }
}
