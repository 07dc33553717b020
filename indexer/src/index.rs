//! The index: one or more HNSW graphs (shards) over an embedding file, searched together.
//!
//! The source `.npy` is never copied: build and search read it through its memory map,
//! and the index stores only graphs, an optional reduced-precision copy, and `index.json`
//! (format version, parameters, the source's SHA-256, shape and row ranges).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use swan_store::{DType, Manifest, NpyFile, RowSlice};

use crate::build::{build_graph, GraphParams, Linking};
use crate::distance::{kernels, Kernels};
use crate::error::{Error, IoContext, Result};
use crate::format;
use crate::graph::{self, Graph, Scratch};
use crate::rows::RowData;
use crate::tune::Tuning;
use crate::vectors::{F16Space, FullSpace, I8Query, I8Space, Precision, Space, WalkCopy};

/// File name of the index manifest inside an index folder.
pub const INDEX_FILE: &str = "index.json";
const FORMAT: &str = "swan-hnsw";

/// Which rows of which file to index.
#[derive(Clone, Debug)]
pub struct Source {
    path: PathBuf,
    invalid: Vec<usize>,
    slice: Option<RowSlice>,
}

/// Which table of an embedding set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTable {
    /// `manifest.images`.
    Images,
    /// `manifest.captions`.
    Captions,
}

impl Source {
    /// Every row of a bare `.npy` file.
    pub fn npy(path: impl Into<PathBuf>) -> Source {
        Source { path: path.into(), invalid: Vec::new(), slice: None }
    }

    /// A table of an embedding set (`dir/manifest.json`), skipping the rows it marks invalid.
    pub fn from_manifest(dir: &Path, table: SetTable) -> Result<Source> {
        let manifest = Manifest::load(dir)?;
        let t = match table {
            SetTable::Images => manifest.images.as_ref(),
            SetTable::Captions => manifest.captions.as_ref(),
        }
        .ok_or_else(|| Error::Invalid(format!("{}: the embedding set has no {table:?} table", dir.display())))?;
        Manifest::open_table(dir, t)?;
        Ok(Source { path: dir.join(&t.file), invalid: t.invalid.clone(), slice: None })
    }

    /// Index only the contiguous row slice `slice` ([`RowSlice::range`]) of the file, so
    /// that N machines build N indexes of one table. Node ids stay the file's (global) rows.
    pub fn rows(mut self, slice: RowSlice) -> Source {
        self.slice = Some(slice);
        self
    }

    /// Also skip these rows.
    pub fn skip_rows(mut self, rows: impl IntoIterator<Item = usize>) -> Source {
        self.invalid.extend(rows);
        self
    }

    /// The `.npy` file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Build parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildParams {
    /// Links per node on upper layers (`2M` on layer 0).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Precision of the vectors the walk reads (build and search).
    pub precision: Precision,
    /// Number of graphs the rows are split into (contiguous row ranges).
    pub shards: usize,
    /// Seed of the level draw.
    pub seed: u64,
    /// Link selection (experiments only; keep the default).
    #[serde(default)]
    pub linking: Linking,
    /// Build threads (0: all cores). Not stored.
    #[serde(skip)]
    pub threads: usize,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            m: 16,
            ef_construction: 200,
            precision: Precision::Int8,
            shards: 1,
            seed: 0x5EED,
            linking: Linking::Hnswlib,
            threads: 0,
        }
    }
}

/// Beam width of a search that asks for the index's own (`ef` 0) on an index built
/// without a target recall.
pub const DEFAULT_EF: usize = 64;

/// Search parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchParams {
    /// Beam width on layer 0 (at least `k`). 0 (the default): the `ef` the index recorded
    /// when it was built for a target recall ([`Index::tune`]), else [`DEFAULT_EF`].
    pub ef: usize,
    /// Re-rank the best `k * rerank` walk results of each shard against the full-precision
    /// rows (at least 1: results are always exact scores).
    pub rerank: usize,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams { ef: 0, rerank: 4 }
    }
}

/// Options for [`Index::load`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Read the source from here instead of the path recorded at build time.
    pub source: Option<PathBuf>,
    /// Read the source from here if the recorded path no longer exists (an embedding set
    /// that moved, with its index, to another folder or machine). Either way the file's
    /// shape and SHA-256 must be those the index was built over.
    pub source_if_moved: Option<PathBuf>,
    /// Skip the SHA-256 of the source file (the shape is still checked). The digest reads
    /// the whole file once; skip it only where the file is known not to have changed.
    pub skip_source_digest: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SourceInfo {
    path: PathBuf,
    sha256: String,
    rows: usize,
    dim: usize,
    dtype: DType,
    /// Rows not indexed: marked invalid by the caller, or not finite.
    invalid_rows: usize,
    /// Of those, rows with NaN or infinite values (absent in version 1: none were skipped).
    #[serde(default)]
    nonfinite_rows: usize,
    /// For an index of one row slice (`swan index build --rows I/N`): the slice. Then
    /// `invalid_rows` counts the rows of the slice not indexed. Absent: every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slice: Option<SliceInfo>,
}

/// The row slice an index covers, as `index.json` records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SliceInfo {
    slice: RowSlice,
    start: usize,
    end: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ShardInfo {
    graph: String,
    graph_checksum: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vectors: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vectors_checksum: Option<String>,
    nodes: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct IndexManifest {
    format: String,
    version: u32,
    metric: String,
    params: BuildParams,
    source: SourceInfo,
    shards: Vec<ShardInfo>,
    /// The beam a target-recall build chose (absent: none was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    search: Option<Tuning>,
}

impl IndexManifest {
    /// Every shard file this manifest lists.
    fn files(&self) -> Vec<&str> {
        self.shards.iter().flat_map(|s| std::iter::once(s.graph.as_str()).chain(s.vectors.as_deref())).collect()
    }

    /// Check the manifest against itself: the metric, the parameters, and a shard list
    /// that names each file once and covers exactly the rows it says it indexes.
    fn check(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| Error::corrupt(path, None, reason);
        if self.metric != "dot" {
            return Err(bad(format!("metric {:?} is not supported (swan indexes score by inner product, \"dot\")", self.metric)));
        }
        let p = &self.params;
        if !(2..=512).contains(&p.m) || p.ef_construction == 0 {
            return Err(bad(format!("impossible parameters M={} ef_construction={}", p.m, p.ef_construction)));
        }
        if self.shards.is_empty() || self.shards.len() != p.shards {
            return Err(bad(format!("lists {} shard(s) but its parameters say {}", self.shards.len(), p.shards)));
        }
        if let Some(t) = &self.search {
            if t.ef == 0 || t.rerank == 0 || t.k == 0 {
                return Err(bad(format!("\"search\" records ef {}, rerank {}, k {}: each must be at least 1", t.ef, t.rerank, t.k)));
            }
        }
        let files = self.files();
        let mut seen = std::collections::HashSet::new();
        for name in &files {
            if !is_shard_file_name(name) {
                return Err(bad(format!("shard file name {name:?} is not a file of this folder")));
            }
            if !seen.insert(name) {
                return Err(bad(format!("shard file {name} is listed twice")));
            }
        }
        let src = &self.source;
        let nodes: usize = self.shards.iter().map(|s| s.nodes).sum();
        let covered = match &src.slice {
            None => src.rows,
            Some(s) => {
                if s.slice.index >= s.slice.count || s.slice.range(src.rows) != (s.start..s.end) {
                    return Err(bad(format!(
                        "row slice {} [{}, {}) is not slice {} of {} rows",
                        s.slice, s.start, s.end, s.slice, src.rows
                    )));
                }
                s.end - s.start
            }
        };
        if src.dim == 0 || src.invalid_rows > covered || src.nonfinite_rows > src.invalid_rows || nodes != covered - src.invalid_rows {
            let slice = src.slice.map(|s| format!(" in slice {} (rows {}..{})", s.slice, s.start, s.end)).unwrap_or_default();
            return Err(bad(format!(
                "the shards index {nodes} rows, but the source has {covered} rows{slice} of which {} are not indexed",
                src.invalid_rows
            )));
        }
        Ok(())
    }
}

/// `shard-NNN-GENERATION.graph` or `.vec` (what [`Index::save`] writes), and nothing that
/// could name another folder.
fn is_shard_file_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("shard-") else { return false };
    let Some((stem, ext)) = rest.rsplit_once('.') else { return false };
    let Some((number, generation)) = stem.split_once('-') else { return false };
    matches!(ext, "graph" | "vec")
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !generation.is_empty()
        && generation.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The files of the index already in `dir`, which a new save may replace. A folder with
/// an `index.json` that is not a readable swan index, or with files and no `index.json`
/// (other than shard files an interrupted save left), is refused: those files are not ours.
fn previous_index_files(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(INDEX_FILE);
    let refuse =
        |why: String| Error::Invalid(format!("{}: {why}; refusing to write an index there (give an empty or new folder)", dir.display()));
    match std::fs::read(&path) {
        Ok(bytes) => {
            let manifest: IndexManifest = serde_json::from_slice(&bytes)
                .ok()
                .filter(|m: &IndexManifest| m.format == FORMAT)
                .ok_or_else(|| refuse(format!("{INDEX_FILE} is not a readable swan index")))?;
            Ok(manifest.files().into_iter().filter(|n| is_shard_file_name(n)).map(str::to_owned).collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            for entry in std::fs::read_dir(dir).at(dir)? {
                let name = entry.at(dir)?.file_name();
                let name = name.to_string_lossy();
                let ours = is_shard_file_name(&name) || name.split_once(".tmp.").is_some_and(|(n, _)| is_shard_file_name(n));
                if !ours {
                    return Err(refuse(format!("the folder holds {name:?} and no {INDEX_FILE}")));
                }
            }
            Ok(Vec::new())
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

struct Shard {
    graph: Graph,
    row_ids: Vec<u32>,
    copy: WalkCopy,
}

/// The `version` of `index.json`: a whole number in the readable range. Anything else is
/// refused with the value as written (never truncated: 2^32 + 1 is not version 1).
/// `dir/index.json`, checked (format, readable version, fields): its path, version and
/// contents. The one reader for [`Index::load`] and [`Index::coverage`].
fn read_manifest(dir: &Path) -> Result<(PathBuf, u32, IndexManifest)> {
    let path = dir.join(INDEX_FILE);
    let text = std::fs::read(&path).at(&path)?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::corrupt(&path, None, format!("not valid JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Error::corrupt(&path, None, format!("not a swan index (no \"format\": \"{FORMAT}\")")));
    }
    let version = parse_version(&path, value.get("version"))?;
    let manifest: IndexManifest =
        serde_json::from_value(value).map_err(|e| Error::corrupt(&path, None, format!("malformed manifest: {e}")))?;
    manifest.check(&path)?;
    Ok((path, version, manifest))
}

fn parse_version(path: &Path, value: Option<&serde_json::Value>) -> Result<u32> {
    let value = value.ok_or_else(|| Error::corrupt(path, None, "no \"version\" field"))?;
    let readable = format::OLDEST_READABLE_VERSION..=format::CURRENT_VERSION;
    match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
        Some(v) if readable.contains(&v) => Ok(v),
        _ => Err(Error::Version {
            path: path.into(),
            found: value.to_string(),
            oldest: format::OLDEST_READABLE_VERSION,
            current: format::CURRENT_VERSION,
        }),
    }
}

/// The rows an index covers, from its `index.json` ([`Index::coverage`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    /// SHA-256 of the source file.
    pub sha256: String,
    /// Rows of the whole source file.
    pub rows: usize,
    /// The row slice indexed (`0/1`: the whole file).
    pub slice: RowSlice,
    /// Its rows.
    pub range: std::ops::Range<usize>,
    /// Build parameters.
    pub params: BuildParams,
}

/// A searchable index. See the crate docs for an example.
pub struct Index {
    params: BuildParams,
    source: NpyFile,
    source_info: SourceInfo,
    shards: Vec<Shard>,
    k: &'static Kernels,
    tuning: Option<Tuning>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("params", &self.params)
            .field("source", &self.source_info)
            .field("shards", &self.shards.len())
            .finish()
    }
}

/// Summary numbers of a built or loaded index.
#[derive(Clone, Debug, Serialize)]
pub struct IndexStats {
    /// Indexed rows (all shards).
    pub nodes: usize,
    /// Shards.
    pub shards: usize,
    /// Mean layer-0 out-degree.
    pub mean_degree0: f64,
    /// Nodes (other than an entry) that no layer-0 link reaches.
    pub unreachable0: usize,
    /// Highest level of any shard.
    pub max_level: u8,
    /// Bytes of graph links and row maps in memory.
    pub graph_bytes: usize,
    /// Bytes of reduced-precision copies.
    pub copy_bytes: usize,
    /// Source rows not indexed because they hold NaN or infinite values.
    pub nonfinite_rows: usize,
}

fn source_rows(file: &NpyFile) -> Result<RowData<'_>> {
    RowData::from_npy(file).map_err(|e| match e {
        crate::rows::NotRows::Store(e) => Error::Store(e),
        crate::rows::NotRows::DType(other) => Error::Invalid(format!("{}: rows must be f32 or f16, not {other}", file.path().display())),
    })
}

impl Index {
    /// Build an index over `source`. `progress(done, total)` reports inserted rows.
    pub fn build(source: &Source, params: &BuildParams, progress: &dyn Fn(usize, usize)) -> Result<Index> {
        if params.m < 2 || params.m > 512 || params.ef_construction == 0 || params.shards == 0 {
            return Err(Error::Invalid(format!(
                "need 2 <= M <= 512, ef_construction >= 1 and shards >= 1 (got M={}, ef_construction={}, shards={})",
                params.m, params.ef_construction, params.shards
            )));
        }
        let file = NpyFile::open(&source.path)?;
        if file.shape().len() != 2 || file.rows() > u32::MAX as usize - 1 {
            return Err(Error::Invalid(format!("{}: expected a rows x dim array, found shape {:?}", source.path.display(), file.shape())));
        }
        if file.dim() == 0 {
            return Err(Error::Invalid(format!(
                "{}: rows have no values (shape {:?}): nothing to index",
                source.path.display(),
                file.shape()
            )));
        }
        let rows = source_rows(&file)?;
        let (n_rows, dim) = (file.rows(), file.dim());
        let mut invalid = vec![false; n_rows];
        for &r in &source.invalid {
            if r >= n_rows {
                return Err(Error::Invalid(format!("{}: invalid row {r} is out of range ({n_rows} rows)", source.path.display())));
            }
            invalid[r] = true;
        }
        // Only the rows of the slice are read (N machines building N slices read the file once between them).
        let range = source.slice.map_or(0..n_rows, |s| s.range(n_rows));
        // Rows with NaN or infinite values would score NaN (ranked first by a max-heap of
        // floats, or poisoning a sum): they are skipped like invalid rows, and counted.
        let nonfinite: Vec<usize> = range.clone().into_par_iter().filter(|&r| !invalid[r] && !rows.is_finite(dim, r)).collect();
        for &r in &nonfinite {
            invalid[r] = true;
        }
        let valid: Vec<u32> = (range.start as u32..range.end as u32).filter(|&r| !invalid[r as usize]).collect();
        if valid.is_empty() {
            let slice = source.slice.map(|s| format!(" in row slice {s} (rows {}..{})", range.start, range.end)).unwrap_or_default();
            return Err(Error::Invalid(format!(
                "{}: no rows to index{slice} ({} rows, {} marked invalid, {} not finite)",
                source.path.display(),
                range.len(),
                range.len() - nonfinite.len(),
                nonfinite.len()
            )));
        }
        let nonfinite_in_slice = nonfinite.len();
        if params.shards > valid.len() {
            return Err(Error::Invalid(format!(
                "{} shards is more than the {} rows to index in {}: give at most one shard per row",
                params.shards,
                valid.len(),
                source.path.display()
            )));
        }
        let sha256 = swan_store::fsutil::sha256_file(&source.path)?;
        let k = kernels();
        let gp = GraphParams {
            m: params.m,
            ef_construction: params.ef_construction,
            threads: params.threads,
            seed: params.seed,
            linking: params.linking,
        };
        let per_shard = valid.len().div_ceil(params.shards).max(1);
        let mut shards = Vec::with_capacity(params.shards);
        let mut base = 0;
        for s in 0..params.shards {
            let ids = &valid[(s * per_shard).min(valid.len())..((s + 1) * per_shard).min(valid.len())];
            let row_ids = ids.to_vec();
            let copy = WalkCopy::encode(params.precision, rows, dim, &row_ids);
            let (n, total) = (row_ids.len(), valid.len());
            let graph = match &copy {
                WalkCopy::None => {
                    let space = FullSpace { rows, row_ids: &row_ids, dim, k };
                    build_graph(&space, n, &gp, progress, base, total)
                }
                WalkCopy::F16(c) => build_graph(&F16Space { rows: c.as_slice(), dim, k }, n, &gp, progress, base, total),
                WalkCopy::I8 { codes, scales, dim_scales } => {
                    let space = I8Space::new(codes, scales, dim_scales.as_ref(), dim, k);
                    build_graph(&space, n, &gp, progress, base, total)
                }
            };
            base += row_ids.len();
            shards.push(Shard { graph, row_ids, copy });
        }
        let path = std::fs::canonicalize(&source.path).at(&source.path)?;
        let source_info = SourceInfo {
            path,
            sha256,
            rows: n_rows,
            dim,
            dtype: file.dtype(),
            invalid_rows: range.len() - valid.len(),
            nonfinite_rows: nonfinite_in_slice,
            slice: source.slice.map(|slice| SliceInfo { slice, start: range.start, end: range.end }),
        };
        Ok(Index { params: params.clone(), source: file, source_info, shards, k, tuning: None })
    }

    /// The build parameters.
    pub fn params(&self) -> &BuildParams {
        &self.params
    }

    /// What a target-recall build measured and chose, if it was one.
    pub fn tuning(&self) -> Option<&Tuning> {
        self.tuning.as_ref()
    }

    /// The beam width a search with `ef` 0 uses: the tuned one, else [`DEFAULT_EF`].
    pub fn default_ef(&self) -> usize {
        self.tuning.as_ref().map_or(DEFAULT_EF, |t| t.ef)
    }

    pub(crate) fn set_tuning(&mut self, tuning: Option<Tuning>) {
        self.tuning = tuning;
    }

    pub(crate) fn kernels(&self) -> &'static Kernels {
        self.k
    }

    pub(crate) fn source_data(&self) -> Result<RowData<'_>> {
        source_rows(&self.source)
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.source_info.dim
    }

    /// The source rows the index holds (every shard's), in shard order.
    pub fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.shards.iter().flat_map(|s| s.row_ids.iter().copied())
    }

    /// The source file the index reads rows from.
    pub fn source_path(&self) -> &Path {
        self.source.path()
    }

    /// SHA-256 of the source file the index was built over.
    pub fn source_sha256(&self) -> &str {
        &self.source_info.sha256
    }

    /// Rows of the whole source file.
    pub fn source_rows(&self) -> usize {
        self.source_info.rows
    }

    /// The row slice the index covers (`0/1` and every row unless built with
    /// [`Source::rows`]), and its rows.
    pub fn row_slice(&self) -> (RowSlice, std::ops::Range<usize>) {
        match &self.source_info.slice {
            Some(s) => (s.slice, s.start..s.end),
            None => (RowSlice::ALL, 0..self.source_info.rows),
        }
    }

    /// Node counts, degrees, memory.
    pub fn stats(&self) -> IndexStats {
        let mut st = IndexStats {
            nodes: 0,
            shards: self.shards.len(),
            mean_degree0: 0.0,
            unreachable0: 0,
            max_level: 0,
            graph_bytes: 0,
            copy_bytes: 0,
            nonfinite_rows: self.source_info.nonfinite_rows,
        };
        for s in &self.shards {
            let (deg, unreached) = s.graph.degree_stats();
            st.mean_degree0 += deg * s.graph.len() as f64;
            st.unreachable0 += unreached;
            st.nodes += s.graph.len();
            st.max_level = st.max_level.max(s.graph.max_level);
            st.graph_bytes +=
                4 * (s.graph.links0.len() + s.graph.upper.len() + s.graph.upper_start.len() + s.row_ids.len()) + s.graph.levels.len();
            st.copy_bytes += match &s.copy {
                WalkCopy::None => 0,
                WalkCopy::F16(c) => 2 * c.as_slice().len(),
                WalkCopy::I8 { codes, scales, .. } => codes.as_slice().len() + 4 * scales.as_slice().len(),
            };
        }
        st.mean_degree0 /= st.nodes.max(1) as f64;
        st
    }

    /// Write the index into folder `dir` (created if missing). Files are written under
    /// fresh names and `index.json` is replaced last, so a crash leaves the previous index
    /// readable; the files the previous `index.json` listed are then removed. Nothing else
    /// in `dir` is ever removed, and a folder that holds other files but no index is
    /// refused.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).at(dir)?;
        let previous = previous_index_files(dir)?;
        let generation = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        let mut infos = Vec::with_capacity(self.shards.len());
        for (i, s) in self.shards.iter().enumerate() {
            let graph = format!("shard-{i:03}-{generation}.graph");
            let graph_sum = format::write_graph(&dir.join(&graph), &s.graph, &s.row_ids)?;
            let (vectors, vectors_checksum) = match s.copy {
                WalkCopy::None => (None, None),
                _ => {
                    let name = format!("shard-{i:03}-{generation}.vec");
                    let sum = format::write_vectors(&dir.join(&name), &s.copy, s.graph.len(), self.dim())?;
                    (Some(name), Some(format::checksum_hex(format::CURRENT_VERSION, sum)))
                }
            };
            infos.push(ShardInfo {
                graph,
                graph_checksum: format::checksum_hex(format::CURRENT_VERSION, graph_sum),
                vectors,
                vectors_checksum,
                nodes: s.graph.len(),
            });
        }
        let manifest = IndexManifest {
            format: FORMAT.into(),
            version: format::CURRENT_VERSION,
            metric: "dot".into(),
            params: self.params.clone(),
            source: self.source_info.clone(),
            shards: infos,
            search: self.tuning.clone(),
        };
        let mut text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        text.push('\n');
        swan_store::fsutil::write_atomic(&dir.join(INDEX_FILE), text.as_bytes())?;
        // Garbage: the files of the index this one replaced, and only those.
        let listed = manifest.files();
        for name in previous.iter().filter(|p| !listed.contains(&p.as_str())) {
            let _ = std::fs::remove_file(dir.join(name));
        }
        Ok(())
    }

    /// What `dir/index.json` says about the rows the index covers, read without loading
    /// the graphs or the source: the source's SHA-256 and rows, the row slice and the
    /// build parameters (for shard sets, [`crate::write_shard_set`]).
    pub fn coverage(dir: &Path) -> Result<Coverage> {
        let (_, _, manifest) = read_manifest(dir)?;
        let (slice, range) = match &manifest.source.slice {
            Some(s) => (s.slice, s.start..s.end),
            None => (RowSlice::ALL, 0..manifest.source.rows),
        };
        Ok(Coverage { sha256: manifest.source.sha256, rows: manifest.source.rows, slice, range, params: manifest.params })
    }

    /// Open an index folder written by [`Index::save`]. Checks the format version, every
    /// file's checksum, and that the source file is the one the index was built from.
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Index> {
        let (path, version, manifest) = read_manifest(dir)?;
        let mismatch = |reason: String| Error::SourceMismatch { path: path.clone(), reason };

        let source_path = match (&options.source, &options.source_if_moved) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) if !manifest.source.path.exists() => p.clone(),
            _ => manifest.source.path.clone(),
        };
        let file = NpyFile::open(&source_path)?;
        let info = &manifest.source;
        if file.dim() != info.dim || file.rows() != info.rows || file.dtype() != info.dtype {
            return Err(mismatch(format!(
                "{} is {} x {} {} but the index was built over {} x {} {}",
                source_path.display(),
                file.rows(),
                file.dim(),
                file.dtype(),
                info.rows,
                info.dim,
                info.dtype
            )));
        }
        if !options.skip_source_digest {
            let sha = swan_store::fsutil::sha256_file(&source_path)?;
            if sha != info.sha256 {
                return Err(mismatch(format!("{} has SHA-256 {sha}, the index was built from {}", source_path.display(), info.sha256)));
            }
        }
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut indexed = vec![false; info.rows];
        for s in &manifest.shards {
            let gpath = dir.join(&s.graph);
            let (graph, row_ids, sum) = format::read_graph(&gpath, version)?;
            let sum = format::checksum_hex(version, sum);
            if sum != s.graph_checksum {
                return Err(Error::corrupt(
                    &gpath,
                    None,
                    format!("checksum {sum} differs from {} listed in {INDEX_FILE}", s.graph_checksum),
                ));
            }
            if graph.len() != s.nodes || row_ids.len() != s.nodes || row_ids.iter().any(|&r| r as usize >= info.rows) {
                return Err(Error::corrupt(&gpath, None, format!("row map does not fit {} nodes over {} rows", s.nodes, info.rows)));
            }
            if graph.m != manifest.params.m || graph.m0 != 2 * manifest.params.m {
                return Err(Error::corrupt(&gpath, None, format!("graph has M={}, {INDEX_FILE} says {}", graph.m, manifest.params.m)));
            }
            // A row in two shards would be returned twice.
            if let Some(&r) = row_ids.iter().find(|&&r| std::mem::replace(&mut indexed[r as usize], true)) {
                return Err(Error::corrupt(&gpath, None, format!("row {r} is indexed by more than one shard")));
            }
            let copy = match (&s.vectors, &s.vectors_checksum) {
                (Some(name), Some(want)) => {
                    let vpath = dir.join(name);
                    let (copy, sum) = format::read_vectors(&vpath, version, s.nodes, info.dim)?;
                    let sum = format::checksum_hex(version, sum);
                    if &sum != want {
                        return Err(Error::corrupt(&vpath, None, format!("checksum {sum} differs from {want} listed in {INDEX_FILE}")));
                    }
                    copy
                }
                _ => WalkCopy::None,
            };
            if copy.precision() != manifest.params.precision {
                return Err(Error::corrupt(
                    &path,
                    None,
                    format!("shard vectors are {:?}, parameters say {:?}", copy.precision(), manifest.params.precision),
                ));
            }
            shards.push(Shard { graph, row_ids, copy });
        }
        source_rows(&file)?;
        let mut source_info = manifest.source.clone();
        source_info.path = source_path;
        Ok(Index { params: manifest.params, source: file, source_info, shards, k: kernels(), tuning: manifest.search })
    }

    /// A searcher with its own scratch buffers (one per thread; no allocation per query).
    pub fn searcher(&self) -> IndexSearcher<'_> {
        IndexSearcher { index: self, scratch: Scratch::default(), qf: Vec::new(), qi: I8Query::default(), hits: Vec::new() }
    }

    /// The `k` rows with the highest inner product with `query`, best first, ties by row.
    /// Allocates scratch; use a [`IndexSearcher`] in loops.
    pub fn search(&self, query: &[f32], k: usize, params: &SearchParams) -> Result<Vec<Hit>> {
        self.searcher().search(query, k, params).map(<[Hit]>::to_vec)
    }

    /// [`Index::search`] among the rows `filter` admits; see [`IndexSearcher::search_filtered`].
    pub fn search_filtered(&self, query: &[f32], k: usize, params: &SearchParams, filter: &RowFilter<'_>) -> Result<Vec<Hit>> {
        self.searcher().search_filtered(query, k, params, Some(filter)).map(<[Hit]>::to_vec)
    }

    /// Exact top-`k` by scanning every indexed row: the tests' oracle for recall (exact
    /// search proper is `swan_searcher::search`, over the same kernels).
    #[cfg(test)]
    pub(crate) fn search_exact(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.check_query(query)?;
        let rows = source_rows(&self.source)?;
        let mut all: Vec<Hit> = self
            .shards
            .iter()
            .flat_map(|s| s.row_ids.iter())
            .map(|&r| Hit { id: r, score: rows.dot(self.k, self.dim(), query, r as usize) })
            .collect();
        all.sort_unstable_by(Hit::order);
        all.truncate(k);
        Ok(all)
    }

    fn check_query(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.dim() {
            return Err(Error::Invalid(format!("query has {} values, the index holds {}-d rows", query.len(), self.dim())));
        }
        if let Some(i) = query.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!("query value {i} is {}: scores would be meaningless", query[i])));
        }
        Ok(())
    }
}

/// One search result: a row of the source file and its inner product with the query.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Hit {
    /// Row index in the source file.
    pub id: u32,
    /// Inner product of the query and the row.
    pub score: f32,
}

impl Hit {
    /// Best first: score descending, then id ascending (a total order).
    pub fn order(a: &Hit, b: &Hit) -> std::cmp::Ordering {
        b.score.total_cmp(&a.score).then(a.id.cmp(&b.id))
    }
}

/// Which source rows a filtered search may return (`true`: eligible).
pub type RowFilter<'a> = dyn Fn(u32) -> bool + Sync + 'a;

/// A filter that admits at most one row in this many of a shard makes the walk scan most
/// of the graph before it finds `ef` eligible nodes: the shard's eligible rows are then
/// scored exactly instead (cheaper, and exact).
const RARE_FILTER: usize = 20;

/// Per-thread search state over an [`Index`].
pub struct IndexSearcher<'a> {
    index: &'a Index,
    scratch: Scratch,
    qf: Vec<f32>,
    qi: I8Query,
    hits: Vec<Hit>,
}

impl IndexSearcher<'_> {
    /// See [`Index::search`]. The slice lives until the next call.
    pub fn search(&mut self, query: &[f32], k: usize, params: &SearchParams) -> Result<&[Hit]> {
        self.search_filtered(query, k, params, None)
    }

    /// The best `k` of the rows `filter` admits (all rows without one): `k` results
    /// whenever `k` eligible rows are indexed. Each shard is walked with the filter
    /// applied to its results (not to the walk itself, which goes through every node), or,
    /// where the filter admits fewer than one row in 20 or fewer than `ef` rows, its
    /// eligible rows are scored exactly. Costs one pass over the shard's row ids per query
    /// to count the eligible rows.
    pub fn search_filtered(&mut self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&RowFilter<'_>>) -> Result<&[Hit]> {
        let index = self.index;
        index.check_query(query)?;
        let rows = source_rows(&index.source)?;
        let dim = index.dim();
        let ef = if params.ef == 0 { index.default_ef() } else { params.ef }.max(k);
        let keep = k.saturating_mul(params.rerank.max(1)).min(ef);
        self.hits.clear();
        for shard in &index.shards {
            let ids = &shard.row_ids;
            if let Some(f) = filter {
                let eligible = ids.iter().filter(|&&r| f(r)).count();
                if eligible.saturating_mul(RARE_FILTER) < ids.len() || eligible <= ef {
                    for &row in ids.iter().filter(|&&r| f(r)) {
                        self.hits.push(Hit { id: row, score: rows.dot(index.k, dim, query, row as usize) });
                    }
                    continue;
                }
            }
            let accept = |node: u32| filter.is_none_or(|f| f(ids[node as usize]));
            match &shard.copy {
                WalkCopy::None => {
                    let space = FullSpace { rows, row_ids: ids, dim, k: index.k };
                    space.prepare(query, &mut self.qf);
                    graph::search(&shard.graph, &space, &self.qf, ef, &mut self.scratch, accept);
                }
                WalkCopy::F16(c) => {
                    let space = F16Space { rows: c.as_slice(), dim, k: index.k };
                    space.prepare(query, &mut self.qf);
                    graph::search(&shard.graph, &space, &self.qf, ef, &mut self.scratch, accept);
                }
                WalkCopy::I8 { codes, scales, dim_scales } => {
                    let space = I8Space::new(codes, scales, dim_scales.as_ref(), dim, index.k);
                    space.prepare(query, &mut self.qi);
                    graph::search(&shard.graph, &space, &self.qi, ef, &mut self.scratch, accept);
                }
            }
            // Rows to re-rank are scattered through the source file: start all the loads first.
            for c in self.scratch.out.iter().take(keep) {
                rows.prefetch_whole(dim, ids[c.id as usize] as usize);
            }
            for c in self.scratch.out.iter().take(keep) {
                let row = ids[c.id as usize];
                self.hits.push(Hit { id: row, score: rows.dot(index.k, dim, query, row as usize) });
            }
        }
        self.hits.sort_unstable_by(Hit::order);
        self.hits.truncate(k);
        Ok(&self.hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SynthSpec;

    const SPEC: SynthSpec = SynthSpec { rows: 3000, queries: 40, dim: 32, centres: 16, noise: 0.9, seed: 11 };

    fn params(precision: Precision, shards: usize) -> BuildParams {
        BuildParams { m: 12, ef_construction: 80, precision, shards, threads: 2, ..BuildParams::default() }
    }

    fn recall(index: &Index, queries: &[f32], k: usize, sp: &SearchParams) -> f64 {
        let mut hit = 0;
        for q in queries.chunks(index.dim()) {
            let exact = index.search_exact(q, k).unwrap();
            let got = index.search(q, k, sp).unwrap();
            hit += got.iter().filter(|g| exact.iter().any(|e| e.id == g.id)).count();
            // Scores are exact inner products and sorted.
            assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
        }
        hit as f64 / (k * queries.len() / index.dim()) as f64
    }

    #[test]
    fn recall_vs_brute_force_at_every_precision() {
        let dir = tempfile::tempdir().unwrap();
        let files = SPEC.write(dir.path()).unwrap();
        let queries = SPEC.rows_f32(0..SPEC.queries, true);
        for precision in [Precision::Full, Precision::F16, Precision::Int8, Precision::Int8PerDim] {
            // One build thread: the insertion order, and so the graph, is then the same on
            // every run (with two threads it varies, and so does the orphan count below).
            let params = BuildParams { threads: 1, ..params(precision, 1) };
            let index = Index::build(&Source::npy(&files.base), &params, &|_, _| {}).unwrap();
            let r = recall(&index, &queries, 10, &SearchParams { ef: 64, rerank: 4 });
            assert!(r >= 0.95, "{precision:?}: recall@10 {r}");
            let st = index.stats();
            assert_eq!(st.nodes, SPEC.rows);
            // The heuristic can orphan a rare node on layer 0 (hnswlib too); it stays rare.
            assert!(st.unreachable0 <= st.nodes / 500, "{precision:?}: {st:?}");
        }
    }

    #[test]
    fn shards_are_searched_together_and_invalid_rows_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let files = SPEC.write(dir.path()).unwrap();
        let rows = SPEC.rows_f32(0..SPEC.rows, false);
        let skip = [0usize, 5, 2999];
        let source = Source::npy(&files.base).skip_rows(skip);
        let index = Index::build(&source, &params(Precision::Int8, 3), &|_, _| {}).unwrap();
        assert_eq!(index.stats().shards, 3);
        assert_eq!(index.stats().nodes, SPEC.rows - skip.len());
        // A query equal to a row of each shard finds that row first.
        for row in [1usize, 1500, 2998] {
            let q = &rows[row * 32..(row + 1) * 32];
            let hits = index.search(q, 5, &SearchParams { ef: 32, rerank: 2 }).unwrap();
            assert_eq!(hits[0].id as usize, row);
        }
        // Skipped rows are never returned, even for their own vectors.
        for &row in &skip {
            let q = &rows[row * 32..(row + 1) * 32];
            let hits = index.search(q, 10, &SearchParams { ef: 64, rerank: 4 }).unwrap();
            assert!(hits.iter().all(|h| h.id as usize != row));
            assert_eq!(hits, index.search_exact(q, 10).unwrap());
        }
        // Merged results match brute force at a wide beam.
        let queries = SPEC.rows_f32(0..SPEC.queries, true);
        assert!(recall(&index, &queries, 10, &SearchParams { ef: 200, rerank: 20 }) >= 0.99);
    }

    #[test]
    fn saved_index_reloads_and_answers_identically() {
        let dir = tempfile::tempdir().unwrap();
        SPEC.write(dir.path()).unwrap();
        let queries = SPEC.rows_f32(0..SPEC.queries, true);
        for precision in [Precision::Full, Precision::F16, Precision::Int8PerDim] {
            let index =
                Index::build(&Source::from_manifest(dir.path(), SetTable::Images).unwrap(), &params(precision, 2), &|_, _| {}).unwrap();
            let idir = dir.path().join(format!("index-{}", precision.name()));
            index.save(&idir).unwrap();
            let loaded = Index::load(&idir, &LoadOptions::default()).unwrap();
            assert_eq!(loaded.params(), &BuildParams { threads: 0, ..index.params().clone() });
            for (a, b) in index.shards.iter().zip(&loaded.shards) {
                assert_eq!(a.graph, b.graph);
                assert_eq!(a.row_ids, b.row_ids);
            }
            let sp = SearchParams { ef: 40, rerank: 2 };
            for q in queries.chunks(32) {
                assert_eq!(index.search(q, 10, &sp).unwrap(), loaded.search(q, 10, &sp).unwrap());
            }
            // Saving again replaces the files and removes the old generation.
            loaded.save(&idir).unwrap();
            let shard_files = std::fs::read_dir(&idir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("shard-"))
                .count();
            assert_eq!(shard_files, if precision == Precision::Full { 2 } else { 4 });
            Index::load(&idir, &LoadOptions::default()).unwrap();
        }
    }

    #[test]
    fn manifest_invalid_rows_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        SPEC.write(dir.path()).unwrap();
        let mut m = Manifest::load(dir.path()).unwrap();
        m.images.as_mut().unwrap().invalid = vec![3, 4];
        m.save(dir.path()).unwrap();
        let source = Source::from_manifest(dir.path(), SetTable::Images).unwrap();
        let index = Index::build(&source, &params(Precision::Int8, 1), &|_, _| {}).unwrap();
        assert_eq!(index.stats().nodes, SPEC.rows - 2);
        let rows = SPEC.rows_f32(3..4, false);
        assert!(index.search(&rows, 10, &SearchParams::default()).unwrap().iter().all(|h| h.id != 3 && h.id != 4));
        let progress = std::cell::Cell::new((0, 0));
        Index::build(&source, &params(Precision::Int8, 2), &|d, t| progress.set((d, t))).unwrap();
        assert_eq!(progress.get(), (SPEC.rows - 2, SPEC.rows - 2));
        assert!(Source::from_manifest(dir.path(), SetTable::Captions).is_ok());
    }

    fn shard_file(dir: &Path, ext: &str) -> PathBuf {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == ext)).unwrap()
    }

    #[test]
    fn corrupt_or_mismatched_indexes_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let files = SPEC.write(dir.path()).unwrap();
        let index = Index::build(&Source::npy(&files.base), &params(Precision::Int8, 1), &|_, _| {}).unwrap();
        let idir = dir.path().join("index");
        let err = |opts: &LoadOptions| Index::load(&idir, opts).unwrap_err().to_string();
        let opts = LoadOptions::default();

        index.save(&idir).unwrap();
        let graph = shard_file(&idir, "graph");
        let mut bytes = std::fs::read(&graph).unwrap();
        bytes[200] ^= 0x10;
        std::fs::write(&graph, &bytes).unwrap();
        assert!(err(&opts).contains("corrupt index file at byte") && err(&opts).contains("checksum mismatch"), "{}", err(&opts));

        index.save(&idir).unwrap();
        let vecs = shard_file(&idir, "vec");
        let len = std::fs::metadata(&vecs).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&vecs).unwrap().set_len(len - 7).unwrap();
        assert!(err(&opts).contains("truncated"), "{}", err(&opts));

        index.save(&idir).unwrap();
        let graph = shard_file(&idir, "graph");
        let mut bytes = std::fs::read(&graph).unwrap();
        bytes[8] = 9; // format version 9
        std::fs::write(&graph, &bytes).unwrap();
        assert!(err(&opts).contains("index format version 9 is not supported") && err(&opts).contains("rebuild"), "{}", err(&opts));

        index.save(&idir).unwrap();
        let manifest = idir.join(INDEX_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        // Versions are parsed whole: never truncated (2^32 + 2 is not version 2), never a default.
        for (bad, shown) in [("3", "3"), ("4294967298", "4294967298"), ("\"2\"", "\"2\""), ("-2", "-2"), ("2.0", "2.0")] {
            std::fs::write(&manifest, text.replace("\"version\": 2", &format!("\"version\": {bad}"))).unwrap();
            assert!(err(&opts).contains(&format!("version {shown} is not supported")), "{bad}: {}", err(&opts));
        }
        std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
        assert!(err(&opts).contains("not valid JSON"), "{}", err(&opts));
        std::fs::write(&manifest, &text).unwrap();
        Index::load(&idir, &opts).unwrap();

        // Same shape, one value changed: the digest differs.
        let mut rows = SPEC.rows_f32(0..SPEC.rows, false);
        rows[17] += 0.25;
        let changed = dir.path().join("changed.npy");
        swan_store::npy::write_f32(&changed, &[SPEC.rows, 32], &rows).unwrap();
        let o = LoadOptions { source: Some(changed.clone()), ..LoadOptions::default() };
        assert!(err(&o).contains("does not match its source") && err(&o).contains("SHA-256"), "{}", err(&o));
        Index::load(&idir, &LoadOptions { skip_source_digest: true, ..o }).unwrap();

        // Wrong width.
        let narrow = dir.path().join("narrow.npy");
        swan_store::npy::write_f32(&narrow, &[SPEC.rows, 16], &rows[..SPEC.rows * 16]).unwrap();
        let o = LoadOptions { source: Some(narrow), ..LoadOptions::default() };
        assert!(err(&o).contains("is 3000 x 16 f32 but the index was built over 3000 x 32 f32"), "{}", err(&o));

        // Wrong query width.
        let e = index.search(&[0.0; 31], 10, &SearchParams::default()).unwrap_err().to_string();
        assert!(e.contains("query has 31 values"), "{e}");
    }

    #[test]
    fn shards_beyond_the_rows_and_zero_width_rows_are_errors() {
        // Campaign 3: `--shards 2^64-1` panicked (capacity overflow); 100000 over 16 rows ran for minutes.
        let dir = tempfile::tempdir().unwrap();
        let spec = SynthSpec { rows: 16, queries: 1, dim: 8, centres: 2, noise: 0.5, seed: 3 };
        let files = spec.write(dir.path()).unwrap();
        for shards in [usize::MAX, 100_000, 17] {
            let p = BuildParams { shards, ..params(Precision::Int8, 1) };
            let e = Index::build(&Source::npy(&files.base), &p, &|_, _| {}).unwrap_err().to_string();
            assert!(e.contains(&format!("{shards} shards is more than the 16 rows to index")), "{e}");
        }
        let p = BuildParams { shards: 3, ..params(Precision::Int8, 1) };
        let e = Index::build(&Source::npy(&files.base).skip_rows(0..14), &p, &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("3 shards is more than the 2 rows"), "{e}");
        let e = Index::build(&Source::npy(&files.base).skip_rows(0..16), &p, &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("no rows to index (16 rows, 16 marked invalid, 0 not finite)"), "{e}");
        // Campaign 4: a 10 x 0 array panicked (chunk size zero).
        let empty = dir.path().join("empty.npy");
        swan_store::npy::write_f32(&empty, &[10, 0], &[]).unwrap();
        let e = Index::build(&Source::npy(&empty), &params(Precision::Int8, 1), &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("empty.npy: rows have no values (shape [10, 0])"), "{e}");
    }

    #[test]
    fn nan_and_infinite_rows_are_skipped_and_counted() {
        // Campaign 11: a NaN row was indexed and ranked first; an all-NaN table gave NaN scores.
        let dir = tempfile::tempdir().unwrap();
        let mut rows = SPEC.rows_f32(0..SPEC.rows, false);
        let bad = [(7usize, f32::NAN), (100, f32::INFINITY), (2999, f32::NEG_INFINITY)];
        for &(r, v) in &bad {
            rows[r * 32 + 3] = v;
        }
        let path = dir.path().join("nan.npy");
        swan_store::npy::write_f32(&path, &[SPEC.rows, 32], &rows).unwrap();
        for precision in [Precision::Full, Precision::F16, Precision::Int8] {
            let index = Index::build(&Source::npy(&path).skip_rows([5]), &params(precision, 2), &|_, _| {}).unwrap();
            let st = index.stats();
            assert_eq!((st.nodes, st.nonfinite_rows), (SPEC.rows - 4, 3), "{precision:?}");
            for q in SPEC.rows_f32(0..5, true).chunks(32) {
                let hits = index.search(q, 10, &SearchParams::default()).unwrap();
                assert!(hits.iter().all(|h| h.score.is_finite() && bad.iter().all(|b| b.0 != h.id as usize)), "{precision:?}: {hits:?}");
            }
            let idir = dir.path().join(precision.name());
            index.save(&idir).unwrap();
            assert_eq!(Index::load(&idir, &LoadOptions::default()).unwrap().stats().nonfinite_rows, 3);
        }
        let all_nan = dir.path().join("all-nan.npy");
        swan_store::npy::write_f32(&all_nan, &[4, 2], &[f32::NAN; 8]).unwrap();
        let e = Index::build(&Source::npy(&all_nan), &params(Precision::Int8, 1), &|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("no rows to index (4 rows, 0 marked invalid, 4 not finite)"), "{e}");
        // A non-finite query is refused rather than answered with NaN scores.
        let index = Index::build(&Source::npy(&path), &params(Precision::Int8, 1), &|_, _| {}).unwrap();
        let mut q = SPEC.rows_f32(0..1, true);
        q[4] = f32::NAN;
        let e = index.search(&q, 3, &SearchParams::default()).unwrap_err().to_string();
        assert!(e.contains("query value 4 is NaN"), "{e}");
    }

    #[test]
    fn save_never_deletes_files_it_did_not_write() {
        // Campaign 6 (data loss): save removed every `shard-*` file of the folder.
        let dir = tempfile::tempdir().unwrap();
        let files = SPEC.write(dir.path()).unwrap();
        let index = Index::build(&Source::npy(&files.base), &params(Precision::Int8, 2), &|_, _| {}).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("shard-photos.tar"), b"keep").unwrap();
        std::fs::write(out.join("notes.txt"), b"keep").unwrap();
        let e = index.save(&out).unwrap_err().to_string();
        assert!(e.contains("and no index.json; refusing to write an index there"), "{e}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);

        // In an index folder, only the files the old index.json listed are replaced.
        let out = dir.path().join("index");
        index.save(&out).unwrap();
        let first: Vec<PathBuf> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
        std::fs::write(out.join("shard-mine.graph"), b"keep").unwrap();
        std::fs::write(out.join("shard-000-abc.graph.bak"), b"keep").unwrap();
        index.save(&out).unwrap();
        assert!(out.join("shard-mine.graph").exists() && out.join("shard-000-abc.graph.bak").exists());
        assert!(first.iter().filter(|p| !p.ends_with(INDEX_FILE)).all(|p| !p.exists()));
        Index::load(&out, &LoadOptions::default()).unwrap();

        // An index.json that is not a swan index is not replaced.
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join(INDEX_FILE), b"{\"name\": \"my project\"}").unwrap();
        let e = index.save(&foreign).unwrap_err().to_string();
        assert!(e.contains("index.json is not a readable swan index"), "{e}");
        assert_eq!(std::fs::read(foreign.join(INDEX_FILE)).unwrap(), b"{\"name\": \"my project\"}");
    }

    #[test]
    fn manifests_that_disagree_with_their_shards_or_parameters_are_refused() {
        // Campaigns 10 and 23: a damaged shard list gave duplicates or recall 0 with exit 0.
        let dir = tempfile::tempdir().unwrap();
        let files = SPEC.write(dir.path()).unwrap();
        let index = Index::build(&Source::npy(&files.base).skip_rows([9]), &params(Precision::Int8, 3), &|_, _| {}).unwrap();
        let idir = dir.path().join("index");
        index.save(&idir).unwrap();
        let path = idir.join(INDEX_FILE);
        let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let shard = |i: usize| good["shards"][i].clone();
        type Edit<'a> = Box<dyn Fn(&mut serde_json::Value) + 'a>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "missing shard",
                Box::new(|m| m["shards"] = serde_json::json!([shard(0), shard(1)])),
                "lists 2 shard(s) but its parameters say 3",
            ),
            (
                "missing shard, shard count edited too",
                Box::new(|m| {
                    m["shards"] = serde_json::json!([shard(0), shard(1)]);
                    m["params"]["shards"] = 2.into();
                }),
                "the shards index 2000 rows, but the source has 3000 rows of which 1 are not indexed",
            ),
            ("duplicate shard", Box::new(|m| m["shards"] = serde_json::json!([shard(0), shard(1), shard(1)])), "is listed twice"),
            ("no shards", Box::new(|m| m["shards"] = serde_json::json!([])), "lists 0 shard(s)"),
            ("metric", Box::new(|m| m["metric"] = "l2".into()), "metric \"l2\" is not supported"),
            ("M", Box::new(|m| m["params"]["m"] = 13.into()), "graph has M=12, index.json says 13"),
            ("M out of range", Box::new(|m| m["params"]["m"] = 100000.into()), "impossible parameters M=100000"),
            ("ef_construction", Box::new(|m| m["params"]["ef_construction"] = 0.into()), "impossible parameters M=12 ef_construction=0"),
            ("invalid rows", Box::new(|m| m["source"]["invalid_rows"] = 0.into()), "of which 0 are not indexed"),
            ("invalid rows > rows", Box::new(|m| m["source"]["invalid_rows"] = 5000.into()), "of which 5000 are not indexed"),
            ("path", Box::new(|m| m["shards"][0]["graph"] = "../../etc/passwd".into()), "is not a file of this folder"),
            (
                "two shards, one file",
                Box::new(|m| {
                    let mut s = shard(0);
                    s["graph"] = shard(1)["graph"].clone();
                    m["shards"][0] = s;
                }),
                "is listed twice",
            ),
        ];
        // Shard 1's files copied under new names and listed as shard 0: every name is unique
        // and the counts add up, but rows 1000..2000 would be returned twice.
        let s1 = shard(1);
        for (key, copy) in [("graph", "shard-000-ffff.graph"), ("vectors", "shard-000-ffff.vec")] {
            std::fs::copy(idir.join(s1[key].as_str().unwrap()), idir.join(copy)).unwrap();
        }
        let mut dup = good.clone();
        dup["shards"][0] = s1.clone();
        dup["shards"][0]["graph"] = "shard-000-ffff.graph".into();
        dup["shards"][0]["vectors"] = "shard-000-ffff.vec".into();
        dup["shards"][2]["nodes"] = 999.into();
        std::fs::write(&path, serde_json::to_vec(&dup).unwrap()).unwrap();
        let e = Index::load(&idir, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("is indexed by more than one shard"), "{e}");
        for (what, edit, want) in &cases {
            let mut m = good.clone();
            edit(&mut m);
            std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
            let e = Index::load(&idir, &LoadOptions::default()).unwrap_err().to_string();
            assert!(e.contains(want), "{what}: {e}");
        }
        std::fs::write(&path, serde_json::to_vec(&good).unwrap()).unwrap();
        Index::load(&idir, &LoadOptions::default()).unwrap();
    }

    #[test]
    fn a_moved_source_is_found_through_source_if_moved() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let files = SPEC.write(&a).unwrap();
        let index = Index::build(&Source::npy(&files.base), &params(Precision::Int8, 1), &|_, _| {}).unwrap();
        index.save(&a.join("index")).unwrap();
        std::fs::rename(&a, &b).unwrap();
        let e = Index::load(&b.join("index"), &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("a/base.npy"), "{e}");
        let moved = LoadOptions { source_if_moved: Some(b.join("base.npy")), ..LoadOptions::default() };
        let loaded = Index::load(&b.join("index"), &moved).unwrap();
        assert_eq!(loaded.source_path(), b.join("base.npy"));
        // The fallback is only a fallback, and still checked: another file is refused.
        let other = LoadOptions { source_if_moved: Some(b.join("queries.npy")), ..LoadOptions::default() };
        let e = Index::load(&b.join("index"), &other).unwrap_err().to_string();
        assert!(e.contains("does not match its source"), "{e}");
    }

    #[test]
    fn filtered_search_returns_k_eligible_rows_whenever_k_exist() {
        // Search --scene over-fetched 20 x k and kept the matches: often fewer than k.
        let dir = tempfile::tempdir().unwrap();
        let files = SPEC.write(dir.path()).unwrap();
        let index = Index::build(&Source::npy(&files.base), &params(Precision::Int8, 2), &|_, _| {}).unwrap();
        let sp = SearchParams { ef: 64, rerank: 4 };
        let queries = SPEC.rows_f32(0..10, true);
        // Common (1 in 3), rare (1 in 100: exact), and tiny (5 rows) filters.
        for (modulus, k) in [(3u32, 10usize), (100, 10), (600, 10)] {
            let filter = |r: u32| r % modulus == 1;
            let eligible = (0..SPEC.rows as u32).filter(|&r| filter(r)).count();
            let mut found = 0;
            for q in queries.chunks(32) {
                let hits = index.search_filtered(q, k, &sp, &filter).unwrap();
                assert_eq!(hits.len(), k.min(eligible), "1 in {modulus}");
                assert!(hits.iter().all(|h| filter(h.id)) && hits.windows(2).all(|w| Hit::order(&w[0], &w[1]).is_lt()));
                let mut exact: Vec<Hit> = index.search_exact(q, SPEC.rows).unwrap().into_iter().filter(|h| filter(h.id)).collect();
                exact.truncate(k);
                found += hits.iter().filter(|h| exact.contains(h)).count();
            }
            let recall = found as f64 / (10 * k.min(eligible)) as f64;
            assert!(recall >= 0.9, "1 in {modulus}: recall {recall}");
        }
        assert!(index.search_filtered(&queries[..32], 10, &sp, &|_| false).unwrap().is_empty());
    }
}
