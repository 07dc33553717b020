//! swan's approximate nearest-neighbour index: HNSW graphs over an embedding file.
//!
//! - The source `.npy` (f32 or f16 rows) is read through its memory map, never copied;
//!   rows a manifest marks invalid are skipped.
//! - Scores are inner products (cosine on L2-normalised rows), computed by SIMD kernels
//!   chosen once at start-up ([`distance`], the table exact search uses too).
//! - The graph walk can read a reduced-precision copy ([`Precision`]: f16, int8 per
//!   vector or per dimension); the best `k * rerank` walk results are always re-scored
//!   against the full-precision rows.
//! - `shards` splits the rows into several graphs searched together; [`Source::rows`]
//!   builds the index of one row slice (one machine's share), and a shard set
//!   ([`write_shard_set`], [`IndexSet`]) searches the slices' indexes as one.
//! - An index is saved as checksummed files plus `index.json` (format version,
//!   parameters, source SHA-256 and shape), and reloaded with every check.
//!
//! The graph is swan's own HNSW, built like hnswlib. hnsw_rs 0.3.5, the crate first
//! chosen, loses recall on clustered data at scale; the `baseline` module (cargo feature
//! `baseline`, off by default) keeps it runnable for comparison, and `indexer/FINDINGS.md`
//! records why.
//!
//! ```
//! use swan_indexer::{BuildParams, Index, LoadOptions, SearchParams, Source, SynthSpec};
//! let dir = tempfile::tempdir()?;
//! let spec = SynthSpec { rows: 2000, queries: 5, dim: 32, centres: 8, noise: 0.9, seed: 1 };
//! let files = spec.write(dir.path())?;
//! let params = BuildParams { m: 8, ef_construction: 64, ..BuildParams::default() };
//! let index = Index::build(&Source::npy(&files.base), &params, &|_done, _total| {})?;
//! index.save(&dir.path().join("index"))?;
//! let index = Index::load(&dir.path().join("index"), &LoadOptions::default())?;
//! let query = spec.rows_f32(0..1, true);
//! let hits = index.search(&query, 10, &SearchParams { ef: 64, rerank: 4 })?;
//! assert_eq!(hits.len(), 10);
//! assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

#[cfg(feature = "baseline")]
pub mod baseline;
mod build;
mod checksum;
mod checksum_v1;
pub mod distance;
mod error;
mod format;
mod graph;
mod index;
mod rows;
mod shardset;
pub mod synth;
mod tune;
mod vectors;

pub use build::Linking;
pub use error::{Error, Result};
pub use format::{CURRENT_VERSION, OLDEST_READABLE_VERSION};
pub use index::{
    BuildParams, Coverage, Hit, Index, IndexSearcher, IndexStats, LoadOptions, RowFilter, SearchParams, SetTable, Source, DEFAULT_EF,
    INDEX_FILE,
};
pub use rows::{NotRows, RowData};
pub use shardset::{write_shard_set, IndexSet, IndexSetSearcher, ShardSetSummary};
pub use synth::{generate, CrossModalSpec, SynthFiles, SynthSpec};
pub use tune::{TuneSpec, Tuning};
pub use vectors::Precision;
