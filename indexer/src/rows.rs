//! The one view of embedding rows that swan scores: `f32` or `f16` values, row-major,
//! usually borrowed zero-copy from a memory-mapped `.npy`. The index reads its source
//! through it; exact search (`swan_searcher::Rows`) adds the rows to skip on top.

use half::f16;
use swan_store::{DType, NpyFile};

use crate::distance::{prefetch, prefetch_lines, Kernels};

/// Row-major embedding values of one element type.
#[derive(Clone, Copy, Debug)]
pub enum RowData<'a> {
    /// `f32` values.
    F32(&'a [f32]),
    /// `f16` values.
    F16(&'a [f16]),
}

/// Why an `.npy` file is not a [`RowData`].
#[derive(Debug)]
pub enum NotRows {
    /// Its values could not be read.
    Store(swan_store::Error),
    /// Its element type is neither `f32` nor `f16`.
    DType(DType),
}

impl<'a> RowData<'a> {
    /// The values of an `f32` or `f16` `.npy` file, without copying.
    pub fn from_npy(file: &'a NpyFile) -> Result<RowData<'a>, NotRows> {
        Ok(match file.dtype() {
            DType::F32 => RowData::F32(file.as_f32().map_err(NotRows::Store)?),
            DType::F16 => RowData::F16(file.as_f16().map_err(NotRows::Store)?),
            other => return Err(NotRows::DType(other)),
        })
    }

    /// Number of values (rows x dim).
    pub fn len(&self) -> usize {
        match self {
            RowData::F32(d) => d.len(),
            RowData::F16(d) => d.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            RowData::F32(_) => DType::F32,
            RowData::F16(_) => DType::F16,
        }
    }

    /// Inner product of `query` with row `row` of `dim` values, with kernels `k`.
    ///
    /// # Panics
    /// If the row is out of range.
    #[inline]
    pub fn dot(&self, k: &Kernels, dim: usize, query: &[f32], row: usize) -> f32 {
        match self {
            RowData::F32(r) => (k.dot_f32)(query, &r[row * dim..(row + 1) * dim]),
            RowData::F16(r) => (k.dot_f16)(query, &r[row * dim..(row + 1) * dim]),
        }
    }

    /// Start loading row `row` into the cache.
    #[inline]
    pub fn prefetch(&self, dim: usize, row: usize) {
        match self {
            RowData::F32(r) => prefetch(r.as_ptr().wrapping_add(row * dim), dim * 4),
            RowData::F16(r) => prefetch(r.as_ptr().wrapping_add(row * dim), dim * 2),
        }
    }

    /// Start loading all of row `row` into the cache (for re-ranking).
    #[inline]
    pub(crate) fn prefetch_whole(&self, dim: usize, row: usize) {
        match self {
            RowData::F32(r) => prefetch_lines(r.as_ptr().wrapping_add(row * dim), dim * 4),
            RowData::F16(r) => prefetch_lines(r.as_ptr().wrapping_add(row * dim), dim * 2),
        }
    }

    /// Row `row` as `f32` into `out` (`dim` values).
    pub fn row_into(&self, dim: usize, row: usize, out: &mut [f32]) {
        match self {
            RowData::F32(r) => out.copy_from_slice(&r[row * dim..(row + 1) * dim]),
            RowData::F16(r) => out.iter_mut().zip(&r[row * dim..(row + 1) * dim]).for_each(|(o, v)| *o = v.to_f32()),
        }
    }

    /// Row `row` as `f32`, replacing the contents of `out`.
    pub(crate) fn row_f32(&self, dim: usize, row: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(dim, 0.0);
        self.row_into(dim, row, out);
    }

    /// Whether every value of row `row` is finite.
    pub fn is_finite(&self, dim: usize, row: usize) -> bool {
        match self {
            RowData::F32(r) => r[row * dim..(row + 1) * dim].iter().all(|v| v.is_finite()),
            RowData::F16(r) => r[row * dim..(row + 1) * dim].iter().all(|v| v.is_finite()),
        }
    }
}
