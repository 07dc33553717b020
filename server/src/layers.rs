//! What wraps every request: the bearer-token check on `/api/*`, one log line per request,
//! and JSON bodies for errors the framework answers itself (unknown method, body too large).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// How request log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `swan: GET /api/info 200 0.4ms`
    Text,
    /// `{"method":"GET","path":"/api/info","status":200,"ms":0.4}`
    Json,
    /// Nothing.
    Off,
}

/// Log one line on stderr per request: method, path, status, milliseconds.
pub(crate) async fn log(State(format): State<LogFormat>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let status = response.status().as_u16();
    match format {
        LogFormat::Text => eprintln!("swan: {method} {path} {status} {ms:.1}ms"),
        LogFormat::Json => {
            eprintln!(
                "{}",
                serde_json::json!({ "method": method.as_str(), "path": path, "status": status, "ms": (ms * 1000.0).round() / 1000.0 })
            )
        }
        LogFormat::Off => {}
    }
    response
}

/// Require `Authorization: Bearer TOKEN`.
pub(crate) async fn auth(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.as_bytes(), token.as_bytes()) => next.run(request).await,
        found => {
            let why = if found.is_some() { "wrong bearer token" } else { "this server needs an Authorization: Bearer TOKEN header" };
            let mut r = ApiError::new(StatusCode::UNAUTHORIZED, why).into_response();
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

/// Compare without stopping at the first difference, so timing does not tell how much of
/// a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Give error responses that are not JSON (the router's 405, a body limit's 413) a JSON
/// body `{"error": ...}` like every other error.
pub(crate) async fn json_errors(request: Request, next: Next) -> Response {
    let what = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let message = if text.trim().is_empty() { format!("{what}: {reason}") } else { format!("{what}: {reason}: {}", text.trim()) };
    let mut fixed = ApiError::new(status, message).into_response();
    for (name, value) in parts.headers.iter().filter(|(n, _)| *n != header::CONTENT_TYPE && *n != header::CONTENT_LENGTH) {
        fixed.headers_mut().insert(name.clone(), value.clone());
    }
    fixed
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_comparison() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd") && !super::same(b"abc", b"ab") && !super::same(b"", b"a"));
    }
}
