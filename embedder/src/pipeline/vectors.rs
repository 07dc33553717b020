//! Writing vectors computed outside a corpus job (`swan encode --out`) as a set, with
//! the same provenance, lock and commit order as [`EmbedJob`](super::EmbedJob).

use std::path::{Path, PathBuf};

use swan_store::{CorpusRef, DType, Manifest, NpyWriter, Producer, Table, WriteSpec};

use super::DirLock;
use crate::error::{EmbedError, Result};
use swan_store::EMBED_DIM;

/// Vectors to save: `rows x 512` values back to back.
#[derive(Clone, Copy, Debug)]
pub struct Vectors<'a> {
    /// Image vectors, if any.
    pub images: Option<&'a [f32]>,
    /// Caption vectors, if any.
    pub captions: Option<&'a [f32]>,
}

/// Write `vectors` into `dir` as a set described by `producer` and `corpus`; returns the
/// manifest's path. An earlier set in `dir` is replaced (its manifest is removed first).
pub fn save_vectors(dir: &Path, producer: Producer, corpus: CorpusRef, dtype: DType, vectors: Vectors) -> Result<PathBuf> {
    let dim = EMBED_DIM;
    std::fs::create_dir_all(dir).map_err(|source| EmbedError::Io { path: dir.to_owned(), source })?;
    let _lock = DirLock::acquire(dir)?;
    let old = dir.join(swan_store::MANIFEST_FILE);
    if old.exists() {
        std::fs::remove_file(&old).map_err(|source| EmbedError::Io { path: old.clone(), source })?;
    }
    let mut manifest = Manifest::new(producer, corpus, true);
    for (name, rows) in [("images.npy", vectors.images), ("captions.npy", vectors.captions)] {
        let Some(rows) = rows else { continue };
        if rows.len() % dim != 0 {
            return Err(EmbedError::Input(format!("{name}: {} values is not a whole number of {dim}-d rows", rows.len())));
        }
        let n = rows.len() / dim;
        let spec = WriteSpec { dtype, rows: n, dim, chunk_rows: n.max(1), key: "encode".into() };
        let mut w = NpyWriter::create(dir.join(name), spec)?;
        if n > 0 {
            w.write_chunk(0, rows)?;
        }
        w.finish()?;
        let table = Some(Table::identity(name, dtype, n, dim));
        if name == "images.npy" {
            manifest.images = table;
        } else {
            manifest.captions = table;
        }
    }
    Ok(manifest.save(dir)?)
}
