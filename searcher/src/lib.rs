//! swan's searcher: retrieval metrics and exact k-NN search over embedding files.
//!
//! - [`metrics`]: `R@K`, `medR`, `meanR`, `mR` and scene recall of an image x caption
//!   [`SimMatrix`], as the reference evaluation computes them ([`evaluate`]).
//! - [`exact`]: brute-force inner-product search ([`search`]) over `f32` or `f16`
//!   [`Rows`], blocked, multi-threaded, with SIMD kernels chosen once at runtime.
//! - [`set`]: an embedding set's evaluation ([`evaluate_set`]: invalid images and
//!   captions left out, corpus order) and how an index answers its queries ([`ann_report`]).
//!
//! - [`toplist`]: top-k lists of many queries on disk (`ids.npy`, `scores.npy`,
//!   `topk.json`): exact or ANN, per row slice, and merged into the whole table's.
//!
//! Both order equal scores by index ascending, so results are reproducible.
//!
//! ```
//! use swan_searcher::{evaluate, search, EvalOptions, Rows, SimMatrix};
//!
//! // Three images, six captions (two per image), 2-d embeddings.
//! let images = [1.0f32, 0.0, 0.0, 1.0, 0.7, 0.7];
//! let captions = [0.9f32, 0.1, 0.8, 0.3, 0.1, 0.9, 0.6, 0.5, 0.5, 0.6, 0.2, 0.95];
//! let image_rows = Rows::f32(&images, 2)?;
//! let caption_rows = Rows::f32(&captions, 2)?;
//!
//! // Text -> image search: the best two images for caption 0.
//! let hits = search(&image_rows, &captions[..2], 2, None)?;
//! assert_eq!(hits[0].iter().map(|h| h.id).collect::<Vec<_>>(), [0, 2]);
//!
//! // Metrics of the full similarity matrix.
//! let sims = SimMatrix::from_embeddings(&image_rows, &caption_rows)?;
//! let caption_image = [0, 0, 1, 1, 2, 2];
//! let scenes = [Some("farm"), Some("forest"), Some("farm")];
//! let m = evaluate(&sims, &caption_image, Some(&scenes), &EvalOptions::default())?;
//! assert_eq!((m.n_images, m.n_captions), (3, 6));
//! println!("{}", m.mr);
//! # Ok::<(), swan_searcher::Error>(())
//! ```

#![deny(missing_docs)]

mod error;
pub mod exact;
pub mod metrics;
pub mod set;
#[cfg(test)]
mod testutil;
mod topk;
pub mod toplist;

pub use error::{Error, Result};
pub use exact::{search, search_range, Hit, Rows};
pub use metrics::{evaluate, evaluate_blocked, evaluate_corpus, EvalOptions, Metrics, Recall, SceneRecall, SimMatrix};
pub use set::{
    ann_report, evaluate_named, evaluate_set, evaluate_set_with, evaluate_topk, recall_against, AnnReport, ExactPath, Selection,
    TopkMetrics, MATRIX_MAX_VALUES,
};
