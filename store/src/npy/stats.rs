//! Row-norm statistics of an embedding file (`swan npy info`): a quick check that rows
//! are normalised and that no row is zero (invalid) or holds a NaN or an infinity.

use serde::Serialize;

use super::{DType, NpyFile};
use crate::error::Result;

/// L2 norms of the rows of a floating-point file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NormStats {
    /// Smallest finite norm; `None` when no row is finite.
    pub min: Option<f64>,
    /// Mean of the finite norms.
    pub mean: Option<f64>,
    /// Largest finite norm.
    pub max: Option<f64>,
    /// Rows whose norm is zero (invalid rows of an embedding set are zero).
    pub zero_rows: usize,
    /// Rows holding a NaN or an infinity (or whose norm overflows).
    pub non_finite_rows: usize,
}

impl NpyFile {
    /// Row-norm statistics, computed in `f64`; `None` for a non-floating file or one
    /// without rows.
    pub fn norm_stats(&self) -> Result<Option<NormStats>> {
        if !matches!(self.dtype(), DType::F16 | DType::F32 | DType::F64) || self.rows() == 0 {
            return Ok(None);
        }
        let mut row = vec![0.0f32; self.dim()];
        let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        let (mut zero_rows, mut non_finite_rows, mut finite_rows) = (0, 0, 0usize);
        for r in 0..self.rows() {
            self.row_into_f32(r, &mut row)?;
            let norm = row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
            if !norm.is_finite() {
                non_finite_rows += 1;
                continue;
            }
            zero_rows += (norm == 0.0) as usize;
            finite_rows += 1;
            (min, max, sum) = (min.min(norm), max.max(norm), sum + norm);
        }
        let any = finite_rows > 0;
        Ok(Some(NormStats {
            min: any.then_some(min),
            mean: any.then(|| sum / finite_rows as f64),
            max: any.then_some(max),
            zero_rows,
            non_finite_rows,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_zero_and_non_finite_rows_even_when_no_row_is_finite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        crate::npy::write_f32(&p, &[3, 2], &[3.0, 4.0, 0.0, 0.0, f32::NAN, 1.0]).unwrap();
        let s = NpyFile::open(&p).unwrap().norm_stats().unwrap().unwrap();
        assert_eq!(s, NormStats { min: Some(0.0), mean: Some(2.5), max: Some(5.0), zero_rows: 1, non_finite_rows: 1 });
        // All rows NaN: the count is still reported (it used to be dropped with the norms).
        crate::npy::write_f32(&p, &[2, 1], &[f32::NAN, f32::INFINITY]).unwrap();
        let s = NpyFile::open(&p).unwrap().norm_stats().unwrap().unwrap();
        assert_eq!(s, NormStats { min: None, mean: None, max: None, zero_rows: 0, non_finite_rows: 2 });
    }
}
