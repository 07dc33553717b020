//! Shard sets: the indexes of the row slices of one table (built on N machines with
//! `swan index build --rows I/N`), described by one JSON file and searched together.
//!
//! The file (`format` `swan-index-shards`, version 1) lists each index folder (relative to
//! the file's folder where it lies below it), its slice and rows, and the source's SHA-256.
//! Writing and opening both check that the indexes were built over the same file and
//! cover its rows exactly once; every error names the index folders concerned.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use swan_store::RowSlice;

use crate::error::{Error, IoContext, Result};
use crate::index::{BuildParams, Coverage, Hit, Index, IndexSearcher, LoadOptions, RowFilter, SearchParams};

const FORMAT: &str = "swan-index-shards";
const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ShardsFile {
    format: String,
    version: u32,
    source_sha256: String,
    rows: usize,
    shards: Vec<ShardEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ShardEntry {
    index: String,
    slice: RowSlice,
    start: usize,
    end: usize,
}

/// What [`write_shard_set`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ShardSetSummary {
    /// Index folders, by slice.
    pub shards: usize,
    /// Rows of the source.
    pub rows: usize,
    /// SHA-256 of the source.
    pub source_sha256: String,
}

/// Check that the indexes in `dirs` were built over one source with the same parameters
/// and cover its rows exactly once, and describe them in the JSON file `out` (atomically).
pub fn write_shard_set(out: &Path, dirs: &[PathBuf]) -> Result<ShardSetSummary> {
    let covs: Vec<(PathBuf, Coverage)> = dirs.iter().map(|d| Ok((d.clone(), Index::coverage(d)?))).collect::<Result<_>>()?;
    let order = check_tiling(&covs)?;
    let base = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = std::fs::canonicalize(base).at(base)?;
    let shards = order
        .iter()
        .map(|&i| {
            let (dir, c) = &covs[i];
            let abs = std::fs::canonicalize(dir).at(dir)?;
            let index = abs.strip_prefix(&base).map(Path::to_path_buf).unwrap_or(abs);
            Ok(ShardEntry { index: index.display().to_string(), slice: c.slice, start: c.range.start, end: c.range.end })
        })
        .collect::<Result<Vec<_>>>()?;
    let first = &covs[0].1;
    let file = ShardsFile { format: FORMAT.into(), version: VERSION, source_sha256: first.sha256.clone(), rows: first.rows, shards };
    let mut text = serde_json::to_string_pretty(&file).expect("serialises");
    text.push('\n');
    swan_store::fsutil::write_atomic(out, text.as_bytes())?;
    Ok(ShardSetSummary { shards: covs.len(), rows: first.rows, source_sha256: first.sha256.clone() })
}

/// Order of `covs` by first row, after checking one source, one set of parameters, and
/// slices that tile the rows.
fn check_tiling(covs: &[(PathBuf, Coverage)]) -> Result<Vec<usize>> {
    let Some((first_dir, first)) = covs.first() else { return Err(Error::Invalid("no index folders given".into())) };
    for (dir, c) in &covs[1..] {
        if (c.sha256.as_str(), c.rows) != (first.sha256.as_str(), first.rows) {
            return Err(Error::Invalid(format!(
                "{} was built over another file than {} ({} rows, SHA-256 {} vs {} rows, SHA-256 {}): shards must index one table",
                dir.display(),
                first_dir.display(),
                c.rows,
                &c.sha256[..c.sha256.len().min(12)],
                first.rows,
                &first.sha256[..first.sha256.len().min(12)]
            )));
        }
        if !same_params(&c.params, &first.params) {
            return Err(Error::Invalid(format!(
                "{} was built with other parameters than {} (M, ef_construction, precision): rebuild it with the same ones",
                dir.display(),
                first_dir.display()
            )));
        }
    }
    let mut order: Vec<usize> = (0..covs.len()).collect();
    order.sort_by_key(|&i| (covs[i].1.range.start, covs[i].1.range.end));
    let mut covered = 0;
    let mut last: Option<usize> = None;
    for &i in &order {
        let (dir, c) = &covs[i];
        if c.range.start > covered {
            return Err(Error::Invalid(format!(
                "rows {covered}..{} of the source are in no index (a shard is missing before {})",
                c.range.start,
                dir.display()
            )));
        }
        if c.range.start < covered {
            let (other, oc) = &covs[last.expect("covered > 0")];
            return Err(Error::Invalid(format!(
                "{} (rows {}..{}) overlaps {} (rows {}..{}): a shard is given twice or shards of different cuts are mixed",
                dir.display(),
                c.range.start,
                c.range.end,
                other.display(),
                oc.range.start,
                oc.range.end
            )));
        }
        covered = c.range.end;
        last = Some(i);
    }
    if covered < first.rows {
        let (dir, _) = &covs[last.expect("one at least")];
        return Err(Error::Invalid(format!(
            "rows {covered}..{} of the source are in no index (a shard is missing after {})",
            first.rows,
            dir.display()
        )));
    }
    Ok(order)
}

fn same_params(a: &BuildParams, b: &BuildParams) -> bool {
    (a.m, a.ef_construction, a.precision) == (b.m, b.ef_construction, b.precision)
}

/// One index folder or a shard set, opened and searched as one.
pub struct IndexSet {
    indexes: Vec<(PathBuf, Index)>,
    shard_set: bool,
}

impl std::fmt::Debug for IndexSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexSet").field("indexes", &self.indexes.iter().map(|(d, _)| d).collect::<Vec<_>>()).finish()
    }
}

impl IndexSet {
    /// Open `path`: an index folder, or a shard-set file written by [`write_shard_set`]
    /// (each index loaded with `options`, and checked again to cover the rows once).
    pub fn open(path: &Path, options: &LoadOptions) -> Result<IndexSet> {
        if !path.is_file() {
            return Ok(IndexSet { indexes: vec![(path.to_owned(), Index::load(path, options)?)], shard_set: false });
        }
        let text = std::fs::read(path).at(path)?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| Error::corrupt(path, None, format!("not valid JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(Error::corrupt(path, None, format!("not a shard set (no \"format\": \"{FORMAT}\") nor an index folder")));
        }
        if value.get("version").and_then(|v| v.as_u64()) != Some(VERSION as u64) {
            return Err(Error::Version {
                path: path.to_owned(),
                found: value.get("version").map(|v| v.to_string()).unwrap_or_else(|| "none".into()),
                oldest: VERSION,
                current: VERSION,
            });
        }
        let file: ShardsFile = serde_json::from_value(value).map_err(|e| Error::corrupt(path, None, format!("malformed: {e}")))?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut indexes = Vec::with_capacity(file.shards.len());
        let mut covs = Vec::with_capacity(file.shards.len());
        for e in &file.shards {
            let dir = base.join(&e.index);
            let index = Index::load(&dir, options)?;
            let (slice, range) = index.row_slice();
            if index.source_sha256() != file.source_sha256 || (slice, range.start, range.end) != (e.slice, e.start, e.end) {
                return Err(Error::SourceMismatch {
                    path: dir.clone(),
                    reason: format!(
                        "{} lists it as slice {} (rows {}..{}) of the file with SHA-256 {}, but it indexes slice {slice} (rows {}..{}) of SHA-256 {}",
                        path.display(),
                        e.slice,
                        e.start,
                        e.end,
                        file.source_sha256,
                        range.start,
                        range.end,
                        index.source_sha256()
                    ),
                });
            }
            covs.push((
                dir.clone(),
                Coverage { sha256: file.source_sha256.clone(), rows: file.rows, slice, range, params: index.params().clone() },
            ));
            indexes.push((dir, index));
        }
        check_tiling(&covs).map_err(|e| Error::corrupt(path, None, e.to_string()))?;
        Ok(IndexSet { indexes, shard_set: true })
    }

    /// The indexes and their folders.
    pub fn indexes(&self) -> impl Iterator<Item = (&Path, &Index)> {
        self.indexes.iter().map(|(d, i)| (d.as_path(), i))
    }

    /// Whether this is a shard set (opened from a shard-set file).
    pub fn is_shard_set(&self) -> bool {
        self.shard_set
    }

    /// The first index (its parameters and source stand for all: checked equal).
    pub fn first(&self) -> &Index {
        &self.indexes[0].1
    }

    /// The row slice covered: every row for a shard set, the index's slice otherwise.
    pub fn row_slice(&self) -> (RowSlice, std::ops::Range<usize>) {
        if self.shard_set {
            (RowSlice::ALL, 0..self.first().source_rows())
        } else {
            self.first().row_slice()
        }
    }

    /// The beam a search with `ef` 0 uses: each index's own (recorded by a target-recall
    /// build, else the default); the largest of them when they differ.
    pub fn default_ef(&self) -> usize {
        self.indexes.iter().map(|(_, i)| i.default_ef()).max().unwrap_or(crate::DEFAULT_EF)
    }

    /// Every indexed row.
    pub fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.indexes.iter().flat_map(|(_, i)| i.rows())
    }

    /// A searcher over every index (one per thread).
    pub fn searcher(&self) -> IndexSetSearcher<'_> {
        IndexSetSearcher { searchers: self.indexes.iter().map(|(_, i)| i.searcher()).collect(), hits: Vec::new() }
    }
}

/// Per-thread search state over an [`IndexSet`].
pub struct IndexSetSearcher<'a> {
    searchers: Vec<IndexSearcher<'a>>,
    hits: Vec<Hit>,
}

impl IndexSetSearcher<'_> {
    /// The best `k` of every index's best `k` (score descending, row ascending): the same
    /// as one index's search where there is one.
    pub fn search_filtered(&mut self, query: &[f32], k: usize, params: &SearchParams, filter: Option<&RowFilter<'_>>) -> Result<&[Hit]> {
        self.hits.clear();
        for s in &mut self.searchers {
            self.hits.extend_from_slice(s.search_filtered(query, k, params, filter)?);
        }
        if self.searchers.len() > 1 {
            self.hits.sort_unstable_by(Hit::order);
            self.hits.truncate(k);
        }
        Ok(&self.hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Precision, Source, SynthSpec};

    const SPEC: SynthSpec = SynthSpec { rows: 900, queries: 20, dim: 16, centres: 6, noise: 0.9, seed: 5 };

    fn build(src: &Source, slice: Option<RowSlice>, dir: &Path) -> PathBuf {
        let params = BuildParams { m: 8, ef_construction: 40, precision: Precision::Int8, threads: 1, ..BuildParams::default() };
        let src = match slice {
            Some(s) => src.clone().rows(s),
            None => src.clone(),
        };
        Index::build(&src, &params, &|_, _| {}).unwrap().save(dir).unwrap();
        dir.to_owned()
    }

    #[test]
    fn slice_indexes_hold_global_rows_and_a_shard_set_searches_them_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = SPEC.write(d).unwrap();
        // Rows 5 and 400 invalid: each slice skips those it holds.
        let src = Source::npy(&files.base).skip_rows([5, 400]);
        let dirs: Vec<PathBuf> = (0..3).map(|i| build(&src, Some(RowSlice::new(i, 3).unwrap()), &d.join(format!("idx/{i}")))).collect();
        for (i, dir) in dirs.iter().enumerate() {
            let index = Index::load(dir, &LoadOptions::default()).unwrap();
            let (slice, range) = index.row_slice();
            assert_eq!((slice, range.clone()), (RowSlice::new(i, 3).unwrap(), i * 300..(i + 1) * 300));
            let rows: Vec<u32> = index.rows().collect();
            assert!(rows.iter().all(|&r| range.contains(&(r as usize)) && r != 5 && r != 400));
            assert_eq!(rows.len(), 300 - [1, 1, 0][i]);
        }
        // Given in any order; paths below the file's folder are stored relative to it.
        let out = d.join("idx/shards.json");
        let summary = write_shard_set(&out, &[dirs[2].clone(), dirs[0].clone(), dirs[1].clone()]).unwrap();
        assert_eq!((summary.shards, summary.rows), (3, SPEC.rows));
        assert!(std::fs::read_to_string(&out).unwrap().contains("\"index\": \"0\""));
        let set = IndexSet::open(&out, &LoadOptions::default()).unwrap();
        assert!(set.is_shard_set());
        assert_eq!(set.row_slice(), (RowSlice::ALL, 0..SPEC.rows));
        assert_eq!(set.rows().count(), SPEC.rows - 2);
        // Each query's answer is the best k of the three slices' answers.
        let sp = SearchParams { ef: 64, rerank: 4 };
        let q = SPEC.rows_f32(0..1, true);
        let mut want: Vec<Hit> = set.indexes().flat_map(|(_, i)| i.search(&q, 10, &sp).unwrap()).collect();
        want.sort_unstable_by(Hit::order);
        want.truncate(10);
        assert_eq!(set.searcher().search_filtered(&q, 10, &sp, None).unwrap(), &want[..]);
        // A single folder opens as a set of one.
        let one = IndexSet::open(&dirs[1], &LoadOptions::default()).unwrap();
        assert_eq!((one.is_shard_set(), one.row_slice().1), (false, 300..600));
    }

    #[test]
    fn shards_that_do_not_cover_the_rows_once_or_index_other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let files = SPEC.write(d).unwrap();
        let src = Source::npy(&files.base);
        let s = |i, n| Some(RowSlice::new(i, n).unwrap());
        let a = build(&src, s(0, 3), &d.join("a"));
        let b = build(&src, s(1, 3), &d.join("b"));
        let c = build(&src, s(2, 3), &d.join("c"));
        let half = build(&src, s(0, 2), &d.join("half"));
        let other_file = d.join("other.npy");
        let mut rows = SPEC.rows_f32(0..SPEC.rows, false);
        rows[3] += 0.5;
        swan_store::npy::write_f32(&other_file, &[SPEC.rows, SPEC.dim], &rows).unwrap();
        let other = build(&Source::npy(&other_file), s(1, 3), &d.join("other"));
        let out = d.join("shards.json");
        let err =
            |dirs: &[&PathBuf]| write_shard_set(&out, &dirs.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>()).unwrap_err().to_string();

        let e = err(&[&a, &c]);
        assert!(e.contains("rows 300..600 of the source are in no index (a shard is missing before") && e.contains("/c"), "{e}");
        let e = err(&[&a, &b]);
        assert!(e.contains("rows 600..900 of the source are in no index (a shard is missing after") && e.contains("/b"), "{e}");
        let e = err(&[&a, &b, &b, &c]);
        assert!(e.contains("/b (rows 300..600) overlaps") && e.contains("a shard is given twice"), "{e}");
        let e = err(&[&half, &b, &c]);
        assert!(e.contains("/b (rows 300..600) overlaps") && e.contains("/half (rows 0..450)"), "{e}");
        let e = err(&[&a, &other, &c]);
        assert!(e.contains("/other was built over another file than") && e.contains("/a"), "{e}");
        assert!(!out.exists());

        // A shard set whose folder was rebuilt over another slice since is refused at open.
        write_shard_set(&out, &[a.clone(), b.clone(), c.clone()]).unwrap();
        build(&src, s(1, 2), &b);
        let e = IndexSet::open(&out, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("lists it as slice 1/3 (rows 300..600)") && e.contains("but it indexes slice 1/2 (rows 450..900)"), "{e}");
    }
}
