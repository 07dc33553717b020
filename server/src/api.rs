//! The JSON API's handlers. Everything a client sends is checked here before it reaches
//! the model, the search or the file system; every failure is an [`ApiError`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use swan_embedder::pipeline::{load_input_bytes, PIXELS};
use swan_embedder::text::Vocab;

use crate::batch::{Batcher, Encoded, Input};
use crate::catalog::{Catalog, Item};
use crate::error::ApiError;
use crate::thumbs::Thumbs;

/// Results one search may ask for.
pub const MAX_K: usize = 100;
/// Results when the request does not say.
pub const DEFAULT_K: usize = 12;
/// Tokens in a text query (longer ones are refused: the model reads captions of tens of words).
pub const MAX_QUERY_TOKENS: usize = 256;

/// What the handlers share.
pub(crate) struct AppState {
    pub catalog: Catalog,
    pub batcher: Option<Batcher>,
    pub vocab: Option<Vocab>,
    pub thumbs: Thumbs,
    pub info: serde_json::Value,
    pub max_upload: usize,
}

type Shared = State<Arc<AppState>>;

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub(crate) async fn info(State(state): Shared) -> Json<serde_json::Value> {
    Json(state.info.clone())
}

/// The body of `POST /api/search`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    text: Option<String>,
    row: Option<i64>,
    k: Option<i64>,
    scene: Option<String>,
    exact: Option<bool>,
}

/// k, scene and exact, checked.
struct Options {
    k: usize,
    scene: Option<(String, u32)>,
    exact: bool,
}

impl Options {
    fn check(catalog: &Catalog, k: Option<i64>, scene: Option<String>, exact: Option<bool>) -> Result<Options, ApiError> {
        let k = match k {
            None => DEFAULT_K,
            Some(k) if (1..=MAX_K as i64).contains(&k) => k as usize,
            Some(k) => return Err(ApiError::bad_request(format!("k must be between 1 and {MAX_K}, got {k}"))),
        };
        // An empty scene (a cleared filter in a form) means no filter.
        let scene = match scene.filter(|s| !s.is_empty()) {
            Some(s) => {
                let id = catalog.scene_id(&s)?;
                Some((s, id))
            }
            None => None,
        };
        Ok(Options { k, scene, exact: exact.unwrap_or(false) })
    }
}

#[derive(Serialize)]
pub(crate) struct Hit {
    row: usize,
    score: f32,
    #[serde(flatten)]
    item: ItemNoRow,
    thumbnail: String,
}

#[derive(Serialize)]
pub(crate) struct ItemNoRow {
    item: usize,
    file: Option<String>,
    scene: Option<String>,
    captions: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct SearchResponse {
    query: serde_json::Value,
    k: usize,
    scene: Option<String>,
    exact: bool,
    took_ms: f64,
    encode_ms: f64,
    search_ms: f64,
    /// Queries encoded in the same forward pass as this one (0: nothing was encoded).
    batch: usize,
    results: Vec<Hit>,
}

pub(crate) async fn search(State(state): Shared, body: Bytes) -> Result<Json<SearchResponse>, ApiError> {
    let start = Instant::now();
    let body: SearchBody = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
    let options = Options::check(&state.catalog, body.k, body.scene, body.exact)?;
    let (query, vector, encoded) = match (body.text, body.row) {
        (Some(text), None) => {
            let ids = tokens(&state, &text)?;
            let enc = encode(&state, Input::Text(ids), "text").await?;
            (serde_json::json!({ "kind": "text", "text": text }), None, Some(enc))
        }
        (None, Some(row)) => {
            let row = usize::try_from(row).map_err(|_| ApiError::bad_request(format!("row must be 0 or more, got {row}")))?;
            (serde_json::json!({ "kind": "row", "row": row }), Some(state.catalog.row_vector(row)?), None)
        }
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give one of \"text\" and \"row\", not both")),
        (None, None) => return Err(ApiError::bad_request("give a query: {\"text\": \"...\"} or {\"row\": N}")),
    };
    respond(state, start, query, vector, encoded, options).await
}

pub(crate) async fn search_image(
    State(state): Shared,
    Query(params): Query<HashMap<String, String>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let start = Instant::now();
    let options = image_options(&state.catalog, params)?;
    let mut multipart =
        multipart.map_err(|e| ApiError::bad_request(format!("expected a multipart/form-data upload: {}", e.body_text())))?;
    let (name, bytes) = read_image_field(&mut multipart, state.max_upload).await?;
    let shown = name.clone().unwrap_or_else(|| "upload".into());
    let pixels = tokio::task::spawn_blocking(move || {
        let mut pixels = vec![0u8; PIXELS];
        load_input_bytes(&bytes, Path::new(&shown), &mut pixels).map(|()| pixels)
    })
    .await
    .map_err(|e| ApiError::internal(format!("decoding task failed: {e}")))?
    .map_err(|e| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("not a readable JPEG, PNG or TIFF image: {e}")))?;
    let enc = encode(&state, Input::Image(pixels), "image").await?;
    let query = serde_json::json!({ "kind": "image", "name": name });
    respond(state, start, query, None, Some(enc), options).await
}

fn image_options(catalog: &Catalog, params: HashMap<String, String>) -> Result<Options, ApiError> {
    let mut k = None;
    let mut scene = None;
    let mut exact = None;
    for (key, value) in params {
        match key.as_str() {
            "k" => k = Some(value.parse::<i64>().map_err(|_| ApiError::bad_request(format!("k must be a whole number, got {value:?}")))?),
            "scene" => scene = Some(value),
            "exact" => {
                exact = Some(match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(ApiError::bad_request(format!("exact must be true or false, got {value:?}"))),
                })
            }
            _ => return Err(ApiError::bad_request(format!("unknown query parameter {key:?} (known: k, scene, exact)"))),
        }
    }
    Options::check(catalog, k, scene, exact)
}

/// What a refused upload is told (by the handler and by the route's body limit alike).
pub(crate) fn upload_too_large(limit: usize) -> String {
    format!("the upload is larger than the limit of {limit} bytes")
}

/// The bytes of the form's `image` field (other fields are refused), at most `limit`.
async fn read_image_field(multipart: &mut Multipart, limit: usize) -> Result<(Option<String>, Bytes), ApiError> {
    let too_big = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, upload_too_large(limit));
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            ApiError::new(e.status(), format!("malformed multipart upload: {}", e.body_text()))
        }
    };
    let mut found = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if name != "image" {
            return Err(ApiError::bad_request(format!("unexpected form field {name:?}: send the image in a field named \"image\"")));
        }
        if found.is_some() {
            return Err(ApiError::bad_request("send one image per query"));
        }
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if bytes.len() > limit {
            return Err(too_big());
        }
        found = Some((file_name, bytes));
    }
    let (name, bytes) = found.ok_or_else(|| ApiError::bad_request("no \"image\" field in the form"))?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the uploaded image is empty"));
    }
    Ok((name, bytes))
}

/// Token ids of a text query, checked.
fn tokens(state: &AppState, text: &str) -> Result<Vec<i64>, ApiError> {
    let vocab = match (&state.batcher, &state.vocab) {
        (Some(_), Some(v)) => v,
        _ => {
            return Err(ApiError::bad_request(
                "text queries need a model: this server was started without --checkpoint and --vocab; search by row instead",
            ))
        }
    };
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("the text query is empty"));
    }
    // Tokenising is linear in the text, which the body limit bounds; the model is then
    // bounded by the token count.
    let ids = vocab.encode(text);
    if ids.len() > MAX_QUERY_TOKENS {
        return Err(ApiError::bad_request(format!("the text query has {} tokens; at most {MAX_QUERY_TOKENS}", ids.len())));
    }
    Ok(ids)
}

async fn encode(state: &AppState, input: Input, kind: &str) -> Result<(Encoded, f64), ApiError> {
    let batcher = state.batcher.as_ref().ok_or_else(|| {
        ApiError::bad_request(format!("{kind} queries need a model: this server was started without --checkpoint; search by row instead"))
    })?;
    let start = Instant::now();
    let enc = batcher.encode(input).await?;
    Ok((enc, ms(start)))
}

async fn respond(
    state: Arc<AppState>,
    start: Instant,
    query: serde_json::Value,
    vector: Option<Vec<f32>>,
    encoded: Option<(Encoded, f64)>,
    options: Options,
) -> Result<Json<SearchResponse>, ApiError> {
    let (vector, encode_ms, batch) = match (vector, encoded) {
        (Some(v), _) => (v, 0.0, 0),
        (None, Some((e, t))) => (e.vector, t, e.batch),
        (None, None) => return Err(ApiError::internal("no query vector")),
    };
    if vector.len() != state.catalog.dim() {
        return Err(ApiError::internal(format!("the query has {} values, the set's rows {}", vector.len(), state.catalog.dim())));
    }
    let (k, scene_id, exact) = (options.k, options.scene.as_ref().map(|s| s.1), options.exact);
    let s = state.clone();
    let search_start = Instant::now();
    let (hits, exact) = tokio::task::spawn_blocking(move || s.catalog.search(&vector, k, scene_id, exact))
        .await
        .map_err(|e| ApiError::internal(format!("search task failed: {e}")))??;
    let search_ms = ms(search_start);
    let results = hits
        .iter()
        .filter_map(|h| {
            let Item { row, item, file, scene, captions } = state.catalog.item(h.id as usize)?;
            Some(Hit { row, score: h.score, item: ItemNoRow { item, file, scene, captions }, thumbnail: format!("/api/thumb/{row}") })
        })
        .collect();
    Ok(Json(SearchResponse {
        query,
        k,
        scene: options.scene.map(|s| s.0),
        exact,
        took_ms: ms(start),
        encode_ms,
        search_ms,
        batch,
        results,
    }))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// A row id from the URL: digits only, so nothing but a row number gets through.
fn row_param(raw: &str, catalog: &Catalog) -> Result<usize, ApiError> {
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!("{raw:?} is not a row number")));
    }
    let row: usize = raw.parse().map_err(|_| ApiError::bad_request(format!("{raw:?} is not a row number")))?;
    if row >= catalog.rows() {
        return Err(ApiError::not_found(format!("row {row} is out of range: the set has {} image rows", catalog.rows())));
    }
    Ok(row)
}

pub(crate) async fn item(State(state): Shared, UrlPath(raw): UrlPath<String>) -> Result<Json<Item>, ApiError> {
    let row = row_param(&raw, &state.catalog)?;
    state.catalog.item(row).map(Json).ok_or_else(|| ApiError::not_found(format!("no row {row}")))
}

pub(crate) async fn thumb(State(state): Shared, UrlPath(raw): UrlPath<String>) -> Result<Response, ApiError> {
    let row = row_param(&raw, &state.catalog)?;
    let jpeg = match state.thumbs.cached(row) {
        Some(j) => j,
        None => {
            let path = state.catalog.image_path(row).ok_or_else(|| {
                ApiError::not_found(format!("row {row} has no image file: this set was made without a corpus (pass --corpus)"))
            })?;
            let s = state.clone();
            tokio::task::spawn_blocking(move || s.thumbs.make(row, &path))
                .await
                .map_err(|e| ApiError::internal(format!("thumbnail task failed: {e}")))?
                .map_err(|e| ApiError::internal(format!("row {row}: cannot make a thumbnail: {e}")))?
        }
    };
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "max-age=3600")], jpeg).into_response())
}
