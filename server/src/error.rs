//! Errors: [`Error`] for opening and binding a server (the CLI exits 2 on them), and
//! [`ApiError`] for one request: a status and a message sent as `{"error": "..."}`.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a server could not be opened or bound.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedding set or its corpus.
    #[error(transparent)]
    Store(#[from] swan_store::Error),
    /// The index.
    #[error(transparent)]
    Index(#[from] swan_indexer::Error),
    /// The rows to search.
    #[error(transparent)]
    Search(#[from] swan_searcher::Error),
    /// The checkpoint, vocabulary or device.
    #[error(transparent)]
    Embed(#[from] swan_embedder::EmbedError),
    /// A setting that cannot work, with what to change.
    #[error("{0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The server stopped on an I/O error.
    #[error("serving failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed request: answered with `status` and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (4xx: the request; 5xx: the server).
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// 400: the request is malformed or asks for something the set cannot answer.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 404: no such row, route or file.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// 500: the server failed (the message names what).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }

    /// 503: the server is overloaded or shutting down; try again.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }

    /// Any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
