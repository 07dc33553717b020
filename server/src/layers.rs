//! What wraps every request: the bearer-token check on `/api/*`, one log line per request,
//! POST bodies read whole before their handler runs, and JSON bodies for errors the
//! framework answers itself (unknown method).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use http_body_util::BodyExt;

use crate::error::ApiError;

/// How long a request body may stall between two pieces before the request is refused (408).
const BODY_IDLE: Duration = Duration::from_secs(30);

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

/// A route's body limit for [`whole_body`]: the most bytes read, and what a 413 says.
#[derive(Clone)]
pub(crate) struct BodyLimit {
    pub bytes: usize,
    pub refusal: Arc<str>,
}

/// Read a POST body whole (at most `limit` bytes) before its handler runs.
///
/// Why not just axum's `DefaultBodyLimit`: it refuses an over-long body from its
/// Content-Length without reading it, and a handler that fails early (a bad multipart field)
/// leaves the rest unread. hyper then closes the connection with the client's bytes still in
/// the socket's receive queue, which makes the kernel send a TCP reset, and the client, still
/// sending, gets a broken pipe or a reset instead of the 413 or 400 (the likely cause of a
/// rare transport error in `tests/serve.rs`). So the body is read first, and an over-long
/// one is read on and dropped, up to as much again as the limit (1 MiB at least), before
/// the 413 is sent: the client gets its answer. A body declared larger than that is refused at once (reading
/// it would be a free upload; the client may then see the reset). A body stalled for
/// [`BODY_IDLE`] gets a 408.
pub(crate) async fn whole_body(State(limit): State<BodyLimit>, request: Request, next: Next) -> Response {
    let BodyLimit { bytes: limit, refusal } = limit;
    let (parts, mut body) = request.into_parts();
    // The path as the client sent it (routes nested under /api see it without the prefix).
    let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |u| u.0.path());
    let what = format!("{} {path}", parts.method);
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{what}: {refusal}")).into_response();
    let read_at_most = limit.saturating_add(limit.max(1 << 20));
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > read_at_most as u64) {
        return too_large();
    }
    let mut kept = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    let mut seen = 0usize;
    loop {
        let frame = match tokio::time::timeout(BODY_IDLE, body.frame()).await {
            Err(_) => {
                let why = format!("{what}: the request body stalled for {} s", BODY_IDLE.as_secs());
                return ApiError::new(StatusCode::REQUEST_TIMEOUT, why).into_response();
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return ApiError::bad_request(format!("{what}: could not read the request body: {e}")).into_response(),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > read_at_most {
            break;
        }
    }
    if seen > limit {
        return too_large();
    }
    next.run(Request::from_parts(parts, Body::from(kept))).await
}

/// Give error responses that are not JSON (the router's 405, an extractor's refusal) a JSON
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
