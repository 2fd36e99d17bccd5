//! The API's answers: Prometheus's envelope (`{"status":"success","data":…}` with
//! optional `warnings`, or `{"status":"error","errorType":…,"error":…}`) and the HTTP
//! status each error type gets (`respondError` in Prometheus's `web/api/v1/api.go`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_tsdb::promql::EvalError;

use crate::json;

/// Prometheus's `errorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorType {
    /// A parameter is missing or malformed: 400.
    BadData,
    /// The query failed while evaluating: 422.
    Execution,
    /// The query ran past its timeout: 503.
    Timeout,
    /// The query was canceled: 503.
    Canceled,
    /// A failure of ours: 500.
    Internal,
    /// Nothing there: 404.
    NotFound,
    /// Not available now: 503.
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout | ErrorType::Canceled | ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refused or failed request, answered as Prometheus answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct ApiError {
    kind: ErrorType,
    message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into() }
    }

    /// `bad_data`.
    pub(crate) fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadData, message)
    }

    /// `bad_data` naming the parameter, as Prometheus's `invalidParamError`.
    pub(crate) fn invalid_param(name: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::bad_data(format!("invalid parameter {name:?}: {why}"))
    }

    /// The error's type.
    pub fn kind(&self) -> ErrorType {
        self.kind
    }

    /// The `error` text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An evaluation failure: timeouts are `timeout`, everything else `execution`, as in
    /// Prometheus's `returnAPIError`; refusals before evaluation (parse errors,
    /// unsupported constructs, wrong result type) are `bad_data` on the query parameter.
    pub(crate) fn from_eval(e: EvalError) -> ApiError {
        match e {
            EvalError::Timeout => ApiError::new(ErrorType::Timeout, e.to_string()),
            EvalError::Parse(_) | EvalError::Unsupported(_) | EvalError::RangeQueryType(_) => {
                ApiError::invalid_param("query", e)
            }
            other => ApiError::new(ErrorType::Execution, other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(64 + self.message.len());
        body.push_str("{\"status\":\"error\",\"errorType\":\"");
        body.push_str(self.kind.as_str());
        body.push_str("\",\"error\":");
        json::string(&mut body, &self.message);
        body.push('}');
        json_response(self.kind.status(), body)
    }
}

/// A success: `data` is already JSON.
pub(crate) struct Success {
    pub(crate) data: String,
    pub(crate) warnings: Vec<String>,
}

impl Success {
    pub(crate) fn new(data: String) -> Success {
        Success { data, warnings: Vec::new() }
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(32 + self.data.len());
        body.push_str("{\"status\":\"success\",\"data\":");
        body.push_str(&self.data);
        if !self.warnings.is_empty() {
            body.push_str(",\"warnings\":");
            json::strings(&mut body, self.warnings.iter().map(String::as_str));
        }
        body.push('}');
        json_response(StatusCode::OK, body)
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// What a handler answers.
pub(crate) type ApiResult = Result<Success, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> (StatusCode, String) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn envelopes_and_codes() {
        let (code, b) =
            body(ApiError::invalid_param("step", "cannot parse \"x\" to a valid duration").into_response()).await;
        assert_eq!(code, 400);
        assert_eq!(
            b,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"step\": cannot parse \"x\" to a valid duration"}"#
        );
        let (code, _) = body(ApiError::from_eval(EvalError::Exec("boom".into())).into_response()).await;
        assert_eq!(code, 422);
        let (code, b) = body(ApiError::from_eval(EvalError::Timeout).into_response()).await;
        assert_eq!(code, 503);
        assert!(b.contains(r#""errorType":"timeout","error":"query timed out in expression evaluation""#), "{b}");
        assert_eq!(ApiError::new(ErrorType::Internal, "x").kind().status(), 500);
        assert_eq!(ApiError::new(ErrorType::NotFound, "x").kind().status(), 404);

        let (code, b) = body(Success::new("[]".into()).into_response()).await;
        assert_eq!((code.as_u16(), b.as_str()), (200, r#"{"status":"success","data":[]}"#));
        let s = Success { data: "{}".into(), warnings: vec!["careful".into()] };
        let (_, b) = body(s.into_response()).await;
        assert_eq!(b, r#"{"status":"success","data":{},"warnings":["careful"]}"#);
    }
}
