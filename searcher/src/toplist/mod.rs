//! Top-k lists on disk: the answers of many queries at once, the unit of work of a
//! sharded search.
//!
//! A list is a folder with three files, written in this order, each atomically:
//!
//! - `ids.npy`: `queries x k` `i64` row ids of the database table (global ids, also for a
//!   row slice), best first; `-1` where fewer than `k` rows could answer.
//! - `scores.npy`: `queries x k` `f32` inner products, `NaN` where the id is `-1`.
//! - `topk.json` ([`TopkManifest`], format `swan-topk`, version 1): `k`, where the
//!   queries came from and their SHA-256, the database table (SHA-256, rows, the row
//!   slice `[start, end)` searched and its `I/N`), the method (exact, or ANN with the
//!   index parameters and `ef`), and the SHA-256 of both `.npy` files. Written last: a
//!   list whose `.npy` files do not match it is refused as incomplete.
//!
//! Order within a query: score descending, equal scores by id ascending (the order of
//! exact search), so the lists of row slices merge ([`merge`]) into exactly the list of
//! the whole table.
//!
//! What a list answers and searches ([`QuerySpec`] resolved into [`Queries`] and a
//! [`Target`]) is decided here too, so a library user writes lists as `swan search
//! --queries ... --out` does.

mod build;
mod merge;
mod queries;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use swan_store::{DType, NpyFile, RowSlice};

use crate::error::{Error, Result};

pub use build::{ann_topk, exact_topk, QueryReader};
pub use merge::merge;
pub use queries::{set_table, table_name, EncodedCaptions, EncoderError, Queries, QuerySpec, Target};

/// `format` of `topk.json`.
pub const FORMAT: &str = "swan-topk";
/// The version this swan writes.
pub const CURRENT_VERSION: u32 = 1;
/// The oldest version this swan reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Manifest file name inside a list folder.
pub const MANIFEST_FILE: &str = "topk.json";
/// Ids file name.
pub const IDS_FILE: &str = "ids.npy";
/// Scores file name.
pub const SCORES_FILE: &str = "scores.npy";

/// Where the queries came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySource {
    /// `table` (a table of an embedding set), `npy` (bare query vectors) or `text` (a
    /// captions file, one query a line, encoded with a model).
    pub kind: String,
    /// The set folder, `.npy` or text file, as given.
    pub path: String,
    /// For `table`: `images` or `captions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// SHA-256 of the table's `.npy` file, of the bare `.npy`, or of the text file.
    pub sha256: String,
    /// Number of queries (rows of the lists).
    pub count: usize,
    /// For `text`: SHA-256 of the checkpoint that encoded them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
}

/// The rows that answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    /// The embedding set folder, if the rows are a set's table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// `images` or `captions`, for a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The `.npy` file of the rows.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Rows of the whole table.
    pub rows: usize,
    /// The slice searched, `I/N` (`0/1` for the whole table or a merged list).
    pub slice: RowSlice,
    /// First row of the slice.
    pub start: usize,
    /// One past its last row.
    pub end: usize,
}

impl Database {
    /// The same table as `other` (digest, rows, table name); paths may differ.
    pub fn same_table(&self, other: &Database) -> bool {
        (self.sha256.as_str(), self.rows, &self.table) == (other.sha256.as_str(), other.rows, &other.table)
    }
}

/// How the lists were computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Method {
    /// Exact search: every row of the slice scored.
    Exact,
    /// Through HNSW indexes.
    Ann {
        /// The index folders (one per row slice, or the shards of a shard set).
        indexes: Vec<String>,
        /// Links per node.
        m: usize,
        /// Build beam width.
        ef_construction: usize,
        /// Walk precision.
        precision: String,
        /// Search beam width.
        ef: usize,
        /// Re-rank factor.
        rerank: usize,
    },
}

impl Method {
    /// `exact` or `ann`.
    pub fn kind(&self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Ann { .. } => "ann",
        }
    }
}

/// The content of `topk.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopkManifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`CURRENT_VERSION`] when written.
    pub version: u32,
    /// Results per query.
    pub k: usize,
    /// The queries.
    pub queries: QuerySource,
    /// The database rows.
    pub database: Database,
    /// Exact or ANN.
    pub method: Method,
    /// SHA-256 of `ids.npy`.
    pub ids_sha256: String,
    /// SHA-256 of `scores.npy`.
    pub scores_sha256: String,
}

/// A list in memory: ids and scores, `queries x k`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Lists {
    /// Results per query.
    pub k: usize,
    /// Row ids, `-1` where missing.
    pub ids: Vec<i64>,
    /// Scores, `NaN` where missing.
    pub scores: Vec<f32>,
}

impl Lists {
    /// `nq` empty lists of `k` (ids `-1`, scores NaN); an error rather than an abort when
    /// `nq x k` does not fit in memory.
    pub fn empty(nq: usize, k: usize) -> Result<Lists> {
        let too_big = || Error::Invalid(format!("{nq} queries x k={k} results do not fit in memory; ask for a smaller k"));
        let n = nq.checked_mul(k).ok_or_else(too_big)?;
        let (mut ids, mut scores) = (Vec::new(), Vec::new());
        ids.try_reserve_exact(n).map_err(|_| too_big())?;
        scores.try_reserve_exact(n).map_err(|_| too_big())?;
        ids.resize(n, -1);
        scores.resize(n, f32::NAN);
        Ok(Lists { k, ids, scores })
    }

    /// Number of queries.
    pub fn queries(&self) -> usize {
        self.ids.len().checked_div(self.k).unwrap_or(0)
    }
}

/// What describes a list apart from its values (the manifest less the file digests).
#[derive(Clone, Debug, PartialEq)]
pub struct ListInfo {
    /// The queries.
    pub queries: QuerySource,
    /// The database rows.
    pub database: Database,
    /// Exact or ANN.
    pub method: Method,
}

/// Write `lists` with `info` into folder `dir` (created): `ids.npy`, `scores.npy`, then
/// `topk.json`, each atomically.
pub fn save(dir: &Path, lists: &Lists, info: &ListInfo) -> Result<TopkManifest> {
    let nq = lists.queries();
    if nq != info.queries.count || lists.ids.len() != nq * lists.k || lists.scores.len() != lists.ids.len() {
        return Err(Error::Invalid(format!(
            "{}: {} ids and {} scores for {} queries x k={}",
            dir.display(),
            lists.ids.len(),
            lists.scores.len(),
            info.queries.count,
            lists.k
        )));
    }
    std::fs::create_dir_all(dir).map_err(|source| swan_store::Error::Io { path: dir.to_owned(), source })?;
    let (ids_path, scores_path) = (dir.join(IDS_FILE), dir.join(SCORES_FILE));
    swan_store::npy::write_i64(&ids_path, &[nq, lists.k], &lists.ids)?;
    swan_store::npy::write_f32(&scores_path, &[nq, lists.k], &lists.scores)?;
    let manifest = TopkManifest {
        format: FORMAT.into(),
        version: CURRENT_VERSION,
        k: lists.k,
        queries: info.queries.clone(),
        database: info.database.clone(),
        method: info.method.clone(),
        ids_sha256: swan_store::fsutil::sha256_file(&ids_path)?,
        scores_sha256: swan_store::fsutil::sha256_file(&scores_path)?,
    };
    let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    json.push(b'\n');
    swan_store::fsutil::write_atomic(&dir.join(MANIFEST_FILE), &json)?;
    Ok(manifest)
}

/// An opened list: its manifest and its two files, memory-mapped (a list of millions of
/// queries is read, not copied).
#[derive(Debug)]
pub struct TopkFile {
    /// The folder.
    pub dir: PathBuf,
    /// `topk.json`.
    pub manifest: TopkManifest,
    ids: NpyFile,
    scores: NpyFile,
}

impl TopkFile {
    /// Open the list in `dir`: the manifest, the files it lists (shape, dtype, SHA-256),
    /// and every row (ids within the slice, each once, in ranking order, `-1` only at the end).
    pub fn open(dir: &Path) -> Result<TopkFile> {
        let path = dir.join(MANIFEST_FILE);
        let bad = |reason: String| Error::List { path: path.clone(), reason };
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(format!(
                "no {MANIFEST_FILE}: not a top-k list folder (written by `swan search --out` or `swan topk merge`), or one still being written"
            )),
            _ => Error::Store(swan_store::Error::Io { path: path.clone(), source: e }),
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(bad(format!("\"format\" is not \"{FORMAT}\": not a top-k list")));
        }
        let version = value.get("version").cloned().unwrap_or_default();
        match version.as_u64() {
            Some(v) if (OLDEST_READABLE_VERSION as u64..=CURRENT_VERSION as u64).contains(&v) => {}
            _ => {
                return Err(bad(format!(
                    "format version {version} is not supported (this swan reads {OLDEST_READABLE_VERSION}..={CURRENT_VERSION}); \
                     write the list again with this swan (`swan search --out`)"
                )))
            }
        }
        let manifest: TopkManifest = serde_json::from_value(value).map_err(|e| bad(format!("{e}")))?;
        let (k, nq, db) = (manifest.k, manifest.queries.count, &manifest.database);
        if k == 0 {
            return Err(bad("k is 0".into()));
        }
        if db.start > db.end || db.end > db.rows || db.slice.index >= db.slice.count || db.slice.range(db.rows) != (db.start..db.end) {
            return Err(bad(format!("row slice {} [{}, {}) is not slice {} of {} rows", db.slice, db.start, db.end, db.slice, db.rows)));
        }
        let open = |name: &str, dtype: DType, digest: &str| -> Result<NpyFile> {
            let p = dir.join(name);
            let file = NpyFile::open(&p)?;
            if file.dtype() != dtype || file.shape() != [nq, k] {
                return Err(Error::List {
                    path: p,
                    reason: format!("is {:?} {}, but {MANIFEST_FILE} says {nq} x {k} {}", file.shape(), file.dtype(), dtype.name()),
                });
            }
            if swan_store::fsutil::sha256_file(&p)? != digest {
                return Err(Error::List {
                    path: p,
                    reason: format!(
                        "SHA-256 differs from the one in {MANIFEST_FILE}: the list is incomplete or was changed; write it again"
                    ),
                });
            }
            Ok(file)
        };
        let ids = open(IDS_FILE, DType::I64, &manifest.ids_sha256)?;
        let scores = open(SCORES_FILE, DType::F32, &manifest.scores_sha256)?;
        let list = TopkFile { dir: dir.to_owned(), manifest, ids, scores };
        list.check_rows()?;
        Ok(list)
    }

    /// Every row: ids in `[start, end)` or `-1` (then only `-1` after), no id twice, scores
    /// descending with ties by id ascending.
    fn check_rows(&self) -> Result<()> {
        let (k, db) = (self.manifest.k, &self.manifest.database);
        let (ids, scores) = (self.ids(), self.scores());
        for q in 0..self.manifest.queries.count {
            let (row, sc) = (&ids[q * k..(q + 1) * k], &scores[q * k..(q + 1) * k]);
            let bad = |reason: String| Error::List { path: self.dir.join(IDS_FILE), reason: format!("query {q}: {reason}") };
            let n = row.iter().position(|&i| i == -1).unwrap_or(k);
            if let Some(&i) = row[n..].iter().find(|&&i| i != -1) {
                return Err(bad(format!("id {i} after a missing (-1) entry")));
            }
            for j in 0..n {
                let id = row[j];
                if id < db.start as i64 || id >= db.end as i64 {
                    return Err(bad(format!("id {id} is outside the list's rows [{}, {})", db.start, db.end)));
                }
                if sc[j].is_nan() {
                    return Err(bad(format!("the score of id {id} is NaN")));
                }
                if j > 0 && !ranks_before(sc[j - 1], row[j - 1], sc[j], id) {
                    return Err(bad(format!("ids {} and {id} are not in ranking order (score descending, then id ascending)", row[j - 1])));
                }
            }
        }
        Ok(())
    }

    /// Results per query.
    pub fn k(&self) -> usize {
        self.manifest.k
    }

    /// Number of queries.
    pub fn queries(&self) -> usize {
        self.manifest.queries.count
    }

    /// All ids, `queries x k`, row-major.
    pub fn ids(&self) -> &[i64] {
        self.ids.as_i64().expect("checked at open")
    }

    /// All scores, `queries x k`, row-major.
    pub fn scores(&self) -> &[f32] {
        self.scores.as_f32().expect("checked at open")
    }

    /// The ids of query `q` that are present (no trailing `-1`).
    pub fn row_ids(&self, q: usize) -> &[i64] {
        let k = self.manifest.k;
        let row = &self.ids()[q * k..(q + 1) * k];
        &row[..row.iter().position(|&i| i == -1).unwrap_or(k)]
    }

    /// The scores of [`TopkFile::row_ids`].
    pub fn row_scores(&self, q: usize) -> &[f32] {
        let k = self.manifest.k;
        &self.scores()[q * k..q * k + self.row_ids(q).len()]
    }
}

/// Whether `(a, ia)` ranks strictly before `(b, ib)`: higher score, or equal and smaller id.
pub(crate) fn ranks_before(a: f32, ia: i64, b: f32, ib: i64) -> bool {
    let (ka, kb) = (crate::topk::f32_key(a), crate::topk::f32_key(b));
    ka > kb || (ka == kb && ia < ib)
}
