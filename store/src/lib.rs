//! swan's storage layer, at the bottom of the crate graph (no libtorch here).
//!
//! - [`NpyFile`] / [`NpyWriter`]: embedding files in NumPy's `.npy` format, read
//!   zero-copy through a memory map and written resumably, chunk by chunk, with the
//!   final file appearing only when complete.
//! - [`Manifest`]: what produced a set of embeddings and which corpus rows it holds.
//! - [`EmbeddingSet`]: a manifest, its open tables and its corpus, checked against each other.
//! - [`merge::merge_sets`]: join the shards of a split embedding run into one set.
//! - [`RowSlice`]: the contiguous row slice `I/N` every sharded stage cuts tables into.
//! - [`errors_file`]: the framed, checksummed `errors.jsonl` format.
//! - [`Corpus`]: images, captions and scene labels from the precomp layout of RSICD and
//!   RSITMD, a JSON Lines manifest, or a bare image folder.
//!
//! ```
//! use swan_store::{DType, NpyFile, NpyWriter, WriteSpec};
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("images.npy");
//! let spec = WriteSpec { dtype: DType::F32, rows: 3, dim: 2, chunk_rows: 2, key: "demo".into() };
//! let mut writer = NpyWriter::create(&path, spec)?;
//! writer.write_chunk(1, &[5.0, 6.0])?;             // chunks in any order
//! writer.write_chunk(0, &[1.0, 2.0, 3.0, 4.0])?;
//! writer.finish()?;                                  // the file appears only now
//! let file = NpyFile::open(&path)?;
//! assert_eq!(file.rows_f32(1..3)?, &[3.0, 4.0, 5.0, 6.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

#[cfg(not(target_endian = "little"))]
compile_error!("swan's file formats are little-endian and are mapped without conversion");

pub mod corpus;
mod error;
pub mod errors_file;
pub mod fsutil;
mod manifest;
pub mod merge;
pub mod npy;
mod set;
pub mod sigbus;
mod slice;

/// Values per embedding row of the SWAN model (images and captions alike). The one
/// definition: the model, the pipeline, `swan encode` and `swan synth` use this.
pub const EMBED_DIM: usize = 512;

pub use corpus::{Corpus, CorpusOptions, Layout};
pub use error::{Error, Result};
pub use manifest::{field_differences, CorpusRef, Manifest, Producer, Table, CURRENT_VERSION, MANIFEST_FILE, OLDEST_READABLE_VERSION};
pub use npy::{DType, NpyFile, NpyWriter, Start, WriteSpec};
pub use set::EmbeddingSet;
pub use slice::RowSlice;
