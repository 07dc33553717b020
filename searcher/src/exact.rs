//! Exact (brute-force) inner-product k-NN search over an embedding file.
//!
//! [`search`] scores every query against every valid row and keeps the best `k` of
//! each, ordered by score descending, then row id ascending: a total order, so results
//! are the same for any thread count, block size or CPU kernel choice (ties between
//! equal scores never depend on the scan order). NaN scores, which finite inputs never
//! produce, rank below every number; `-0.0` and `0.0` count as equal.
//!
//! Work is split into blocks of queries (rayon tasks; when there are fewer blocks than
//! threads, the rows are split into segments too and the per-segment results merged).
//! Inside a task the rows are scanned in tiles that stay in L2, and each tile is scored
//! against four queries at a time, so each row is loaded once per four queries.

use std::ops::Range;
use std::path::{Path, PathBuf};

use half::f16;
use rayon::prelude::*;
use swan_store::{DType, NpyFile};

use crate::error::{Error, Result};
use crate::topk::{f32_from_key, f32_key, TopK};
use swan_indexer::distance::Kernels;
use swan_indexer::{NotRows, RowData};

/// One search result, the same type the index returns.
pub use swan_indexer::Hit;

/// The rows to search: the index's row view ([`RowData`]: `f32` or `f16`, row-major,
/// typically borrowed zero-copy from a memory-mapped [`NpyFile`]) plus the rows to skip
/// (those the manifest lists as invalid), scored with the one kernel table the index uses
/// too, chosen once.
#[derive(Clone)]
pub struct Rows<'a> {
    data: RowData<'a>,
    rows: usize,
    dim: usize,
    invalid: Vec<bool>,
    path: Option<PathBuf>,
    kernels: Kernels,
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("dtype", &self.dtype())
            .field("rows", &self.rows)
            .field("dim", &self.dim)
            .field("invalid", &self.invalid.iter().filter(|&&b| b).count())
            .field("path", &self.path)
            .field("kernel", &self.kernels.name)
            .finish()
    }
}

impl<'a> Rows<'a> {
    /// Rows of `dim` `f32` values each.
    pub fn f32(data: &'a [f32], dim: usize) -> Result<Rows<'a>> {
        Rows::new(RowData::F32(data), dim, None)
    }

    /// Rows of `dim` `f16` values each.
    pub fn f16(data: &'a [f16], dim: usize) -> Result<Rows<'a>> {
        Rows::new(RowData::F16(data), dim, None)
    }

    /// The rows of a 2-d `f32` or `f16` `.npy` file, without copying.
    pub fn from_npy(file: &'a NpyFile) -> Result<Rows<'a>> {
        let path = Some(file.path());
        if file.shape().len() != 2 {
            return Err(Error::shape(path, format!("expected a 2-d array of embeddings, found shape {:?}", file.shape())));
        }
        let data = RowData::from_npy(file).map_err(|e| match e {
            NotRows::Store(e) => Error::Store(e),
            NotRows::DType(other) => Error::shape(path, format!("embeddings must be f32 or f16, found {}", other.name())),
        })?;
        Rows::new(data, file.dim(), path)
    }

    fn new(data: RowData<'a>, dim: usize, path: Option<&Path>) -> Result<Rows<'a>> {
        let len = data.len();
        if dim == 0 {
            return Err(Error::shape(path, "rows must have at least one value (dim is 0)"));
        }
        if !len.is_multiple_of(dim) {
            return Err(Error::shape(path, format!("{len} values do not make whole rows of {dim}")));
        }
        let rows = len / dim;
        if rows > u32::MAX as usize + 1 {
            return Err(Error::shape(path, format!("{rows} rows is more than the 2^32 that 32-bit ids can name")));
        }
        Ok(Rows { data, rows, dim, invalid: Vec::new(), path: path.map(Path::to_owned), kernels: *swan_indexer::distance::kernels() })
    }

    /// Skip these rows in every search (for example a manifest's `invalid` list).
    pub fn with_invalid(mut self, rows: &[usize]) -> Result<Rows<'a>> {
        if rows.is_empty() {
            return Ok(self);
        }
        self.invalid.resize(self.rows, false);
        for &row in rows {
            if row >= self.rows {
                return Err(Error::RowOutOfRange { path: self.path.clone(), row, rows: self.rows });
            }
            self.invalid[row] = true;
        }
        Ok(self)
    }

    /// Use the portable kernels (for tests comparing kernel choices).
    #[cfg(test)]
    pub(crate) fn with_kernels(mut self, kernels: Kernels) -> Rows<'a> {
        self.kernels = kernels;
        self
    }

    /// Number of rows, valid or not.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows at all.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Values per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Element type of the rows.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Whether `row` exists and is not marked invalid.
    pub fn is_valid(&self, row: usize) -> bool {
        row < self.rows && !self.invalid.get(row).copied().unwrap_or(false)
    }

    /// The file the rows came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Name of the dot-product kernels in use (`"avx512+vnni"`, `"avx2+fma"` or `"scalar"`).
    pub fn kernel(&self) -> &'static str {
        self.kernels.name
    }

    /// The score [`search`] gives `query` against `row` (same kernel, same rounding).
    ///
    /// # Panics
    /// If `row` is out of range.
    pub fn score(&self, query: &[f32], row: usize) -> f32 {
        self.data.dot(&self.kernels, self.dim, query, row)
    }

    /// The first row, valid or not, that holds a NaN or an infinite value. swan's writers
    /// zero such rows and list them as invalid, so one here means the file was changed
    /// (or made) elsewhere; scoring it would give NaN similarities blamed on the wrong file.
    pub fn first_non_finite_row(&self) -> Option<usize> {
        let mut buf = vec![0f32; self.dim];
        (0..self.rows).find(|&row| {
            self.row_into_f32(row, &mut buf);
            buf.iter().any(|x| !x.is_finite())
        })
    }

    /// An error naming this file and the first non-finite row, if there is one.
    pub fn check_finite(&self) -> Result<()> {
        match self.first_non_finite_row() {
            None => Ok(()),
            Some(row) => Err(Error::NonFiniteRow { path: self.path.clone(), row }),
        }
    }

    /// Row `row` converted to `f32` into `out` (`dim` values).
    pub(crate) fn row_into_f32(&self, row: usize, out: &mut [f32]) {
        self.data.row_into(self.dim, row, out)
    }
}

/// Queries per rayon task at most; a task's queries are read once per tile of rows.
const MAX_QUERY_BLOCK: usize = 256;
/// Bytes of rows per tile: well inside a 1 MiB L2 next to the queries being scored.
const TILE_BYTES: usize = 256 << 10;
/// Rows per segment at least, when the rows are split between threads.
const MIN_SEGMENT_ROWS: usize = 4096;

/// The `k` rows of `base` with the largest inner product with each query.
///
/// `queries` holds `nq x base.dim()` values, row-major. The result has one list per
/// query, best first (score descending, then id ascending), with `min(k, eligible rows)`
/// hits. `filter`, if given, is called once per valid row, possibly from several
/// threads, and a row is searched only where it returns `true`.
///
/// Runs on the current rayon thread pool (wrap the call in `ThreadPool::install` to
/// choose the thread count).
pub fn search(base: &Rows<'_>, queries: &[f32], k: usize, filter: Option<&(dyn Fn(usize) -> bool + Sync)>) -> Result<Vec<Vec<Hit>>> {
    search_range(base, 0..base.rows, queries, k, filter)
}

/// [`search`] over the rows `range` of `base` only (one row slice of a sharded search).
/// Hits carry the rows' ids in `base` (global ids, not positions in the range), so the
/// lists of the slices of one table merge into the list of the whole table.
pub fn search_range(
    base: &Rows<'_>,
    range: Range<usize>,
    queries: &[f32],
    k: usize,
    filter: Option<&(dyn Fn(usize) -> bool + Sync)>,
) -> Result<Vec<Vec<Hit>>> {
    let dim = base.dim;
    if !queries.len().is_multiple_of(dim) {
        return Err(Error::shape(base.path(), format!("{} query values do not make whole queries of dim {dim}", queries.len())));
    }
    if range.start > range.end || range.end > base.rows {
        return Err(Error::shape(base.path(), format!("rows {range:?} are not within the {} rows", base.rows)));
    }
    let nq = queries.len() / dim;
    let k = k.min(range.len());
    if nq == 0 || k == 0 {
        return Ok(vec![Vec::new(); nq]);
    }

    // Which rows to score, decided once per search rather than once per query block.
    let mask: Option<Vec<bool>> = match filter {
        None if base.invalid.is_empty() => None,
        None => Some(base.invalid.iter().map(|&bad| !bad).collect()),
        Some(f) => Some((0..base.rows).into_par_iter().map(|r| range.contains(&r) && base.is_valid(r) && f(r)).collect()),
    };

    let threads = rayon::current_num_threads().max(1);
    // About four tasks per thread for balance, blocks a multiple of the 4-query kernel.
    let block = nq.div_ceil(4 * threads).next_multiple_of(4).clamp(4, MAX_QUERY_BLOCK);
    let blocks = nq.div_ceil(block);
    let len = range.len();
    let segments = if blocks >= threads { 1 } else { threads.div_ceil(blocks).min(len / MIN_SEGMENT_ROWS).max(1) };
    let seg_len = len.div_ceil(segments);
    let r0 = range.start;

    let task = Task { base, mask: mask.as_deref(), dim, k };
    let per_block: Vec<Vec<Vec<Hit>>> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let qs = &queries[b * block * dim..((b + 1) * block).min(nq) * dim];
            let top = if segments == 1 {
                task.scan(qs, range.clone())
            } else {
                (0..segments)
                    .into_par_iter()
                    .map(|s| task.scan(qs, r0 + s * seg_len..r0 + ((s + 1) * seg_len).min(len)))
                    .reduce_with(merge)
                    .expect("at least one segment")
            };
            let mut sorted = Vec::with_capacity(k);
            (0..qs.len() / dim)
                .map(|q| {
                    sorted.clear();
                    top.sorted_into(q, &mut sorted);
                    sorted.iter().map(|s| Hit { id: s.id, score: f32_from_key(s.key) }).collect()
                })
                .collect()
        })
        .collect();
    Ok(per_block.into_iter().flatten().collect())
}

/// Fold the second block's kept items into the first's.
fn merge(mut a: TopK<u32>, b: TopK<u32>) -> TopK<u32> {
    for q in 0..a.queries() {
        for s in b.items(q) {
            a.push(q, s.key, s.id);
        }
    }
    a
}

struct Task<'r, 'a> {
    base: &'r Rows<'a>,
    mask: Option<&'r [bool]>,
    dim: usize,
    k: usize,
}

impl Task<'_, '_> {
    /// The best `k` rows among `rows` for each query of `queries`.
    fn scan(&self, queries: &[f32], rows: Range<usize>) -> TopK<u32> {
        let mut top = TopK::new(queries.len() / self.dim, self.k);
        self.base.score_tiles(queries, rows, self.mask, |q, r, score| {
            let key = f32_key(score);
            if !top.rejects(q, key) {
                top.push(q, key, r);
            }
        });
        top
    }
}

impl Rows<'_> {
    /// Score `queries` (`nq x dim`) against the rows in `rows` whose `mask` entry is
    /// true (all of them without a mask), calling `sink(query, row, score)` for each
    /// pair. Rows are visited in tiles that stay in L2; within a tile, four queries at
    /// a time are scored against each row, and for each query rows come in ascending
    /// order.
    pub(crate) fn score_tiles(&self, queries: &[f32], rows: Range<usize>, mask: Option<&[bool]>, sink: impl FnMut(usize, u32, f32)) {
        let kern = self.kernels;
        match self.data {
            RowData::F32(d) => score_tiles_typed(d, self.dim, kern.dot_f32, kern.dot4_f32, queries, rows, mask, sink),
            RowData::F16(d) => score_tiles_typed(d, self.dim, kern.dot_f16, kern.dot4_f16, queries, rows, mask, sink),
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn score_tiles_typed<T>(
    data: &[T],
    dim: usize,
    dot: fn(&[f32], &[T]) -> f32,
    dot4: fn(&[&[f32]; 4], &[T]) -> [f32; 4],
    queries: &[f32],
    rows: Range<usize>,
    mask: Option<&[bool]>,
    mut sink: impl FnMut(usize, u32, f32),
) {
    let nq = queries.len() / dim;
    let tile = (TILE_BYTES / (dim * std::mem::size_of::<T>())).clamp(16, 4096);
    let mut ids: Vec<u32> = Vec::with_capacity(tile);
    let query = |q: usize| &queries[q * dim..(q + 1) * dim];
    let row = |r: u32| &data[r as usize * dim..(r as usize + 1) * dim];

    let mut t0 = rows.start;
    while t0 < rows.end {
        let t1 = (t0 + tile).min(rows.end);
        ids.clear();
        match mask {
            None => ids.extend(t0 as u32..=(t1 - 1) as u32),
            Some(m) => ids.extend((t0..t1).filter(|&r| m[r]).map(|r| r as u32)),
        }
        let mut q = 0;
        while q + 4 <= nq {
            let group = [query(q), query(q + 1), query(q + 2), query(q + 3)];
            for &r in &ids {
                let s = dot4(&group, row(r));
                for (j, &score) in s.iter().enumerate() {
                    sink(q + j, r, score);
                }
            }
            q += 4;
        }
        for q in q..nq {
            let qv = query(q);
            for &r in &ids {
                sink(q, r, dot(qv, row(r)));
            }
        }
        t0 = t1;
    }
}

#[cfg(test)]
mod tests;
