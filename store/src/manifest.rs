//! The manifest of a set of embeddings: what produced it and which corpus rows it holds.
//!
//! Stored as `manifest.json` beside the `.npy` files it describes, written last (by
//! atomic rename), so a folder whose manifest lists a file is a complete set.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::{fsutil, DType, NpyFile};

/// File name of a manifest inside an embedding folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest version this build writes.
pub const CURRENT_VERSION: u32 = 1;
/// The oldest manifest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
const FORMAT: &str = "swan-embeddings";

/// A set of image and/or caption embeddings and their provenance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `"swan-embeddings"`.
    pub format: String,
    /// Manifest format version.
    pub version: u32,
    /// What computed the vectors.
    pub producer: Producer,
    /// The corpus the rows come from.
    pub corpus: CorpusRef,
    /// Whether every valid row has unit L2 norm.
    pub normalized: bool,
    /// Image embeddings, if the set has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Table>,
    /// Caption embeddings, if the set has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<Table>,
}

/// Provenance of the vectors: equal producers give comparable vectors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Producer {
    /// Model name and version, e.g. `"swan"`.
    pub model: String,
    /// SHA-256 of the checkpoint file, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_sha256: Option<String>,
    /// Numeric precision of the forward pass (`fp32`, `tf32`, `bf16`, `fp16`).
    pub precision: String,
    /// How captions were padded (`alone` or `shard:N`); absent for image-only sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_padding: Option<String>,
    /// Version of swan that wrote the set.
    pub swan_version: String,
}

/// Which corpus the rows index into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusRef {
    /// Corpus location as given to swan.
    pub path: String,
    /// `precomp`, `jsonl` or `folder`.
    pub layout: String,
    /// Split name for the precomp layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Images in the whole corpus (split).
    pub images: usize,
    /// Captions in the whole corpus (split).
    pub captions: usize,
}

/// One embedding file and the mapping from its rows to corpus items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// File name, relative to the manifest's folder.
    pub file: String,
    /// Element type on disk.
    pub dtype: DType,
    /// Row count.
    pub rows: usize,
    /// Values per row.
    pub dim: usize,
    /// Corpus item indices of the rows, as half-open `[start, end)` ranges in row order:
    /// row 0 is the first index of the first range, and so on.
    pub items: Vec<[usize; 2]>,
    /// Rows whose input could not be read; their vectors are zero and must be skipped.
    #[serde(default)]
    pub invalid: Vec<usize>,
}

impl Table {
    /// A table whose row `r` is corpus item `r`, for `rows` items.
    pub fn identity(file: impl Into<String>, dtype: DType, rows: usize, dim: usize) -> Table {
        Table { file: file.into(), dtype, rows, dim, items: vec![[0, rows]], invalid: Vec::new() }
    }

    /// Corpus item indices of every row, in row order.
    pub fn item_indices(&self) -> Vec<usize> {
        self.items.iter().flat_map(|&[a, b]| a..b).collect()
    }

    fn check(&self, manifest: &Path) -> Result<()> {
        let bad = |reason: String| Error::mismatch(manifest, format!("table '{}': {reason}", self.file));
        let mapped: usize = self.items.iter().map(|&[a, b]| b.saturating_sub(a)).sum();
        if let Some([a, b]) = self.items.iter().find(|[a, b]| a > b) {
            return Err(bad(format!("item range [{a}, {b}) is reversed")));
        }
        if mapped != self.rows {
            return Err(bad(format!("item ranges cover {mapped} items but the table has {} rows", self.rows)));
        }
        if let Some(r) = self.invalid.iter().find(|&&r| r >= self.rows) {
            return Err(bad(format!("invalid row {r} is out of range")));
        }
        Ok(())
    }
}

impl Manifest {
    /// A manifest with no tables yet.
    pub fn new(producer: Producer, corpus: CorpusRef, normalized: bool) -> Manifest {
        Manifest { format: FORMAT.into(), version: CURRENT_VERSION, producer, corpus, normalized, images: None, captions: None }
    }

    /// Write `dir/manifest.json` atomically. Call it after the tables' files are final.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(MANIFEST_FILE);
        let mut text = serde_json::to_string_pretty(self).expect("manifest serialises");
        text.push('\n');
        fsutil::write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Read a manifest (a `manifest.json` path or the folder holding one) and check
    /// that it is internally consistent.
    pub fn load(path: &Path) -> Result<Manifest> {
        let path = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_owned() };
        let text = std::fs::read(&path).at(&path)?;
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.clone(), source })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(Error::mismatch(&path, format!("not a swan embedding manifest (no \"format\": \"{FORMAT}\")")));
        }
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if !(OLDEST_READABLE_VERSION..=CURRENT_VERSION).contains(&version) {
            return Err(Error::Version { path, found: version, oldest: OLDEST_READABLE_VERSION, current: CURRENT_VERSION });
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|source| Error::Json { path: path.clone(), source })?;
        for table in manifest.images.iter().chain(&manifest.captions) {
            table.check(&path)?;
        }
        Ok(manifest)
    }

    /// Open a table's `.npy` file (relative to `dir`) and check it has the rows, width and
    /// dtype the manifest says.
    pub fn open_table(dir: &Path, table: &Table) -> Result<NpyFile> {
        let file = NpyFile::open(dir.join(&table.file))?;
        if file.shape() != [table.rows, table.dim] || file.dtype() != table.dtype {
            return Err(Error::mismatch(
                file.path(),
                format!("is {:?} {} but {} says {}x{} {}", file.shape(), file.dtype(), MANIFEST_FILE, table.rows, table.dim, table.dtype),
            ));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let producer = Producer {
            model: "swan".into(),
            checkpoint_sha256: Some("ab".repeat(32)),
            precision: "fp32".into(),
            text_padding: Some("alone".into()),
            swan_version: "0.1.0".into(),
        };
        let corpus =
            CorpusRef { path: "fixtures/corpus".into(), layout: "precomp".into(), split: Some("test".into()), images: 4, captions: 20 };
        let mut m = Manifest::new(producer, corpus, true);
        m.images = Some(Table { invalid: vec![1], ..Table::identity("images.npy", DType::F32, 4, 3) });
        m
    }

    #[test]
    fn saves_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
    }

    #[test]
    fn rejects_inconsistent_or_newer_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = sample();
        m.images.as_mut().unwrap().items = vec![[0, 3]];
        m.save(dir.path()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("cover 3 items but the table has 4 rows"), "{err}");

        let mut m = sample();
        m.version = 99;
        m.save(dir.path()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("version 99 is not supported"), "{err}");
    }

    #[test]
    fn table_shape_is_checked_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        crate::npy::write_f32(&dir.path().join("images.npy"), &[4, 2], &[0.0; 8]).unwrap();
        let err = Manifest::open_table(dir.path(), sample().images.as_ref().unwrap()).unwrap_err().to_string();
        assert!(err.contains("is [4, 2] f32 but manifest.json says 4x3 f32"), "{err}");
    }
}
