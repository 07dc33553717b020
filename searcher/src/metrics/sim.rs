//! The image x caption similarity matrix the metrics are computed from.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use swan_store::NpyFile;

use crate::error::{Error, Result};
use crate::exact::Rows;

/// Similarities of every image (rows) with every caption (columns), `f64`, row-major.
/// Never contains NaN (constructors reject it), so rankings are well defined.
#[derive(Clone, Debug, PartialEq)]
pub struct SimMatrix {
    n_images: usize,
    n_captions: usize,
    data: Vec<f64>,
    path: Option<PathBuf>,
}

impl SimMatrix {
    /// A matrix from its values, row-major (`n_images x n_captions`).
    pub fn new(n_images: usize, n_captions: usize, data: Vec<f64>) -> Result<SimMatrix> {
        SimMatrix::checked(n_images, n_captions, data, None)
    }

    /// Read a 2-d `f64`, `f32` or `f16` `.npy` file (images x captions).
    pub fn open(path: impl AsRef<Path>) -> Result<SimMatrix> {
        SimMatrix::from_npy(&NpyFile::open(path)?)
    }

    /// The matrix held by an open `.npy` file (2-d, floating point), converted to `f64`.
    pub fn from_npy(file: &NpyFile) -> Result<SimMatrix> {
        let path = Some(file.path());
        let &[n_images, n_captions] = file.shape() else {
            return Err(Error::shape(path, format!("a similarity matrix must be 2-d (images x captions), found shape {:?}", file.shape())));
        };
        SimMatrix::checked(n_images, n_captions, file.to_f64_vec()?, path)
    }

    /// Inner products of every image embedding with every caption embedding, computed in
    /// `f32` with the search kernels (blocked, on the current rayon pool) and stored as
    /// `f64`. Lists of invalid rows are ignored: every pair is scored.
    pub fn from_embeddings(images: &Rows<'_>, captions: &Rows<'_>) -> Result<SimMatrix> {
        if images.dim() != captions.dim() {
            return Err(Error::shape(
                images.path().or(captions.path()),
                format!("image rows have {} values but caption rows have {}", images.dim(), captions.dim()),
            ));
        }
        // Name the file that holds a non-finite row before a NaN similarity hides which one it was.
        images.check_finite()?;
        captions.check_finite()?;
        let (ni, nc, dim) = (images.len(), captions.len(), images.dim());
        let Some(len) = ni.checked_mul(nc) else {
            return Err(Error::shape(images.path(), format!("a {ni} x {nc} similarity matrix does not fit in memory")));
        };
        let mut data = vec![0.0f64; len];
        if ni > 0 && nc > 0 {
            // Blocks of images per task: each tile of captions is read once per block.
            const BLOCK: usize = 64;
            data.par_chunks_mut(BLOCK * nc).enumerate().for_each_init(
                || vec![0.0f32; BLOCK * dim],
                |buf, (b, out)| {
                    let n = out.len() / nc;
                    for q in 0..n {
                        images.row_into_f32(b * BLOCK + q, &mut buf[q * dim..(q + 1) * dim]);
                    }
                    captions.score_tiles(&buf[..n * dim], 0..nc, None, |q, c, s| out[q * nc + c as usize] = s as f64);
                },
            );
        }
        // Finite rows can still overflow to NaN (inf - inf); that is not one file's fault.
        SimMatrix::checked(ni, nc, data, None)
    }

    fn checked(n_images: usize, n_captions: usize, data: Vec<f64>, path: Option<&Path>) -> Result<SimMatrix> {
        if n_images.checked_mul(n_captions) != Some(data.len()) {
            return Err(Error::shape(path, format!("{} values for a {n_images} x {n_captions} matrix", data.len())));
        }
        if let Some(at) = data.par_iter().position_first(|x| x.is_nan()) {
            return Err(Error::NotANumber { path: path.map(Path::to_owned), row: at / n_captions, col: at % n_captions });
        }
        Ok(SimMatrix { n_images, n_captions, data, path: path.map(Path::to_owned) })
    }

    /// Number of images (rows).
    pub fn n_images(&self) -> usize {
        self.n_images
    }

    /// Number of captions (columns).
    pub fn n_captions(&self) -> usize {
        self.n_captions
    }

    /// Similarities of image `i` with every caption.
    ///
    /// # Panics
    /// If `i >= n_images()`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.n_captions..(i + 1) * self.n_captions]
    }

    /// Similarity of image `i` and caption `j`, if both exist.
    pub fn get(&self, i: usize, j: usize) -> Option<f64> {
        (i < self.n_images && j < self.n_captions).then(|| self.data[i * self.n_captions + j])
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The file the matrix was read from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
