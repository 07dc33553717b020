//! The web page: the files of `server/web/`, embedded in the binary at build time, so the
//! page needs nothing from outside the server.

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Files;

/// A file of the page (`/` is `index.html`), or a JSON 404 for anything else.
pub(crate) async fn file(method: Method, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} {} is not allowed", uri.path())).into_response();
    }
    match Files::get(path) {
        Some(f) => {
            let mime = f.metadata.mimetype().to_string();
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache".to_string())], f.data).into_response()
        }
        None => ApiError::not_found(format!("no such page or API route: {}", uri.path())).into_response(),
    }
}
