//! swan's search service: a JSON API and a web page over an embedding set, on axum and
//! tokio.
//!
//! - Search the set's images by free text, by an uploaded image, or by one of its rows
//!   ("more like this"), exactly or through an HNSW index, optionally within one scene.
//! - Text and image queries are embedded by the SWAN model on its own thread; queries that
//!   arrive together are encoded in one forward pass (dynamic batching, [`Batching`]).
//! - Thumbnails of the corpus images are made once and cached; only rows of the set can be
//!   asked for, never a path.
//! - Binds a loopback address unless told otherwise, and then only with a bearer token or
//!   an explicit [`Access::Open`].
//!
//! ```no_run
//! use swan_server::{Access, ServeConfig, Server};
//! let config = ServeConfig { access: Access::Token("s3cret".into()), ..ServeConfig::new("embeddings/test".into()) };
//! let server = Server::open(config)?;
//! let bound = server.bind("127.0.0.1:0".parse().unwrap())?;
//! eprintln!("listening on http://{}", bound.local_addr());
//! bound.run()?; // until Ctrl-C or SIGTERM
//! # Ok::<(), swan_server::Error>(())
//! ```

#![deny(missing_docs)]

mod api;
mod batch;
mod catalog;
mod error;
mod layers;
mod model;
mod thumbs;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use swan_embedder::text::Vocab;
use swan_embedder::EncoderConfig;
use swan_indexer::SearchParams;

pub use api::{DEFAULT_K, MAX_K, MAX_QUERY_TOKENS};
pub use error::{ApiError, Error, Result};
pub use layers::LogFormat;

use api::AppState;
use batch::{BatchConfig, Batcher};
use catalog::Catalog;
use layers::BodyLimit;
use model::{ModelBackend, ModelSpec};
use thumbs::Thumbs;

/// The largest JSON query body (and the room an upload gets beside its image for the form).
const JSON_LIMIT: usize = 64 * 1024;

/// Who may use the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone who can reach the address, which must be a loopback one.
    LoopbackOnly,
    /// Requests to `/api/*` must carry `Authorization: Bearer TOKEN`; any address.
    Token(String),
    /// Anyone, on any address (asked for explicitly).
    Open,
}

/// How queries are gathered into forward passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Most queries per forward pass (1: no batching).
    pub max_batch: usize,
    /// How long the first query of a batch waits for others.
    pub window: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching { max_batch: 32, window: Duration::from_millis(3) }
    }
}

/// The model for text and image queries.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// SWAN checkpoint (safetensors).
    pub checkpoint: PathBuf,
    /// Vocabulary, for text queries (without it only image queries work).
    pub vocab: Option<PathBuf>,
    /// Device and precision.
    pub encoder: EncoderConfig,
}

/// Everything [`Server::open`] needs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Embedding set folder.
    pub embeddings: PathBuf,
    /// Its corpus, if not where the manifest says.
    pub corpus: Option<PathBuf>,
    /// An index over the set's images table.
    pub index: Option<PathBuf>,
    /// Beam width and re-rank factor of index searches.
    pub walk: SearchParams,
    /// The model; without one only row queries work.
    pub model: Option<ModelConfig>,
    /// Dynamic batching.
    pub batching: Batching,
    /// Who may use the API.
    pub access: Access,
    /// Request log lines.
    pub log: LogFormat,
    /// Largest image upload, bytes.
    pub max_upload: usize,
    /// Long side of thumbnails, pixels.
    pub thumbnail_side: usize,
    /// Thumbnails kept in memory.
    pub thumbnail_cache: usize,
}

impl ServeConfig {
    /// Defaults for serving `embeddings`: no model, no index, loopback only.
    pub fn new(embeddings: PathBuf) -> ServeConfig {
        ServeConfig {
            embeddings,
            corpus: None,
            index: None,
            walk: SearchParams::default(),
            model: None,
            batching: Batching::default(),
            access: Access::LoopbackOnly,
            log: LogFormat::Text,
            max_upload: 10 << 20,
            thumbnail_side: 192,
            thumbnail_cache: 4096,
        }
    }
}

/// What was opened, for the start-up line and `/api/info`.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Image rows.
    pub rows: usize,
    /// Whether text queries work.
    pub text_queries: bool,
    /// Whether image queries work.
    pub image_queries: bool,
    /// Whether an index is loaded.
    pub index: bool,
}

/// A loaded set, model and index, ready to bind.
pub struct Server {
    state: Arc<AppState>,
    access: Access,
    log: LogFormat,
    summary: Summary,
}

impl Server {
    /// Open the set (memory-mapped), its index and the model; start the encoder thread.
    pub fn open(config: ServeConfig) -> Result<Server> {
        if config.batching.max_batch == 0 {
            return Err(Error::Config("--max-batch must be at least 1".into()));
        }
        if let Access::Token(t) = &config.access {
            if t.is_empty() || t.chars().any(|c| c.is_control() || c == ' ') {
                return Err(Error::Config("--token must be non-empty, without spaces or control characters".into()));
            }
        }
        let catalog = Catalog::open(&config.embeddings, config.corpus.as_deref(), config.index.as_deref(), config.walk)?;
        let (batcher, vocab, sha) = match &config.model {
            None => (None, None, None),
            Some(m) => {
                if catalog.dim() != swan_embedder::EMBED_DIM {
                    return Err(Error::Config(format!(
                        "the set's rows have {} values but the model makes {}: text and image queries cannot search it",
                        catalog.dim(),
                        swan_embedder::EMBED_DIM
                    )));
                }
                let vocab = m.vocab.as_deref().map(Vocab::load).transpose().map_err(swan_embedder::EmbedError::from)?;
                let spec = ModelSpec { checkpoint: m.checkpoint.clone(), config: m.encoder, max_batch: config.batching.max_batch };
                let batch = BatchConfig {
                    max_batch: config.batching.max_batch,
                    window: config.batching.window,
                    queue: (4 * config.batching.max_batch).max(256),
                };
                let (batcher, sha) = Batcher::start(move || ModelBackend::load(spec), batch).map_err(Error::Config)?;
                (Some(batcher), vocab, sha)
            }
        };
        let summary = Summary {
            rows: catalog.rows(),
            text_queries: batcher.is_some() && vocab.is_some(),
            image_queries: batcher.is_some(),
            index: catalog.has_index(),
        };
        let info = serde_json::json!({
            "model": catalog.model(),
            "checkpoint_sha256": sha,
            "corpus": catalog.corpus_info(),
            "rows": catalog.rows(),
            "captions": catalog.captions(),
            "index": catalog.index_info(),
            "scenes": catalog.scenes().iter().map(|(n, c)| serde_json::json!({ "name": n, "count": c })).collect::<Vec<_>>(),
            "text_queries": summary.text_queries,
            "image_queries": summary.image_queries,
            "thumbnails": catalog.has_corpus(),
            "max_k": MAX_K,
            "max_upload": config.max_upload,
        });
        let state = AppState {
            catalog,
            batcher,
            vocab,
            thumbs: Thumbs::new(config.thumbnail_side, config.thumbnail_cache),
            info,
            max_upload: config.max_upload,
        };
        Ok(Server { state: Arc::new(state), access: config.access, log: config.log, summary })
    }

    /// What was opened.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The routes with their layers (also for serving on a listener of one's own).
    pub fn router(&self) -> Router {
        let json_limit =
            BodyLimit { bytes: JSON_LIMIT, refusal: format!("the request body is larger than the limit of {JSON_LIMIT} bytes").into() };
        // The form around the image gets JSON_LIMIT bytes of room; the image's own limit is
        // checked by the handler, with the same words.
        let upload_limit =
            BodyLimit { bytes: self.state.max_upload + JSON_LIMIT, refusal: api::upload_too_large(self.state.max_upload).into() };
        let mut api = Router::new()
            .route("/info", get(api::info))
            .route(
                "/search",
                post(api::search).layer(DefaultBodyLimit::max(json_limit.bytes)).layer(from_fn_with_state(json_limit, layers::whole_body)),
            )
            .route(
                "/search/image",
                post(api::search_image)
                    .layer(DefaultBodyLimit::max(upload_limit.bytes))
                    .layer(from_fn_with_state(upload_limit, layers::whole_body)),
            )
            .route("/item/{row}", get(api::item))
            .route("/thumb/{row}", get(api::thumb))
            .fallback(api_not_found);
        if let Access::Token(t) = &self.access {
            let token: Arc<str> = Arc::from(t.as_str());
            api = api.layer(axum::middleware::from_fn_with_state(token, layers::auth));
        }
        Router::new()
            .route("/healthz", get(api::healthz))
            .nest("/api", api)
            .fallback(web::file)
            .with_state(self.state.clone())
            .layer(axum::middleware::from_fn(layers::json_errors))
            .layer(axum::middleware::from_fn_with_state(self.log, layers::log))
    }

    /// Listen on `addr` (port 0: any free port). A non-loopback address needs
    /// [`Access::Token`] or [`Access::Open`].
    pub fn bind(self, addr: SocketAddr) -> Result<Bound> {
        if !addr.ip().is_loopback() && self.access == Access::LoopbackOnly {
            return Err(Error::Config(format!(
                "{addr} is not a loopback address: anyone who can reach it could use the server; pass --token TOKEN (or --no-auth to allow it anyway)"
            )));
        }
        let listener = std::net::TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        listener.set_nonblocking(true).map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        Ok(Bound { listener, local, router: self.router() })
    }
}

async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no such API route: {}", uri.path()))
}

/// A server listening on its address.
pub struct Bound {
    listener: std::net::TcpListener,
    local: SocketAddr,
    router: Router,
}

impl Bound {
    /// The address it listens on (the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serve until Ctrl-C or SIGTERM, then finish the requests in flight.
    pub fn run(self) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("swan-http").build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(self.listener)?;
            axum::serve(listener, self.router).with_graceful_shutdown(shutdown()).await
        })?;
        Ok(())
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
