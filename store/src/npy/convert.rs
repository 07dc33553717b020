//! Converting an embedding file to another dtype, optionally L2-normalising its rows:
//! `swan npy convert`. Resumable through [`NpyWriter`]; the resume identity is the
//! SHA-256 of the input's bytes (not its name, size or mtime, which a rewrite in place
//! can keep), the target dtype and the normalisation.

use std::path::{Path, PathBuf};

use super::{DType, NpyFile, NpyWriter, Start, WriteSpec};
use crate::error::{Error, Result};
use crate::fsutil;

/// Rows per chunk when converting: 4 MiB of f32 at 512 values a row.
pub const CONVERT_CHUNK_ROWS: usize = 2048;

/// Test hook: truncate the input to this many bytes once it is mapped, to exercise the
/// report of a file that changes under swan (see [`crate::sigbus`]). Not for users.
#[doc(hidden)]
pub const TRUNCATE_INPUT_HOOK: &str = "SWAN_TEST_TRUNCATE_INPUT_TO";

/// What to convert to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Target element type (`F32` or `F16`).
    pub dtype: DType,
    /// Divide every row by its L2 norm (plus SWAN's epsilon of 1e-8).
    pub normalize: bool,
}

/// A conversion set up and ready to run: the input is open and checked, the output's
/// earlier progress (if any, for the same input bytes and options) found.
pub struct Converter {
    source: NpyFile,
    writer: NpyWriter,
    options: ConvertOptions,
}

impl Converter {
    /// Open `input` and prepare `output`. Fails before any work on an input that is not
    /// a 2-d floating-point array and on an output that cannot be replaced.
    pub fn open(input: &Path, output: &Path, options: ConvertOptions) -> Result<Converter> {
        let source = NpyFile::open(input)?;
        if source.shape().len() != 2 {
            return Err(Error::mismatch(input, format!("expected a 2-d array of rows, found shape {:?}", source.shape())));
        }
        if !matches!(source.dtype(), DType::F16 | DType::F32 | DType::F64) {
            return Err(Error::mismatch(input, format!("expected floating-point rows, found {}", source.dtype())));
        }
        let key = format!("convert sha256={} normalize={}", fsutil::sha256_file(input)?, options.normalize);
        let spec = WriteSpec { dtype: options.dtype, rows: source.rows(), dim: source.dim(), chunk_rows: CONVERT_CHUNK_ROWS, key };
        let writer = NpyWriter::create(output, spec)?;
        Ok(Converter { source, writer, options })
    }

    /// Whether earlier progress is reused.
    pub fn start(&self) -> &Start {
        self.writer.start()
    }

    /// The output's shape and chunking.
    pub fn spec(&self) -> &WriteSpec {
        self.writer.spec()
    }

    /// Convert every pending chunk and publish the output; returns its path. On an error
    /// (a value that does not fit, a row that cannot be normalised, a write that fails)
    /// the partial output and its progress log are removed: a rerun would meet the same
    /// input, so they would only take space. A kill leaves them for a resume.
    pub fn run(mut self) -> Result<PathBuf> {
        truncate_hook(self.source.path());
        match self.convert_pending() {
            Ok(()) => self.writer.finish(),
            Err(e) => {
                self.writer.discard()?;
                Err(e)
            }
        }
    }

    fn convert_pending(&mut self) -> Result<()> {
        let spec = self.writer.spec().clone();
        let mut rows = Vec::new();
        for chunk in self.writer.pending() {
            let range = spec.chunk_rows_range(chunk);
            rows.resize(range.len() * spec.dim, 0.0);
            for (row, r) in rows.chunks_exact_mut(spec.dim.max(1)).zip(range) {
                self.source.row_into_f32(r, row)?;
                if self.options.normalize {
                    normalize(row).map_err(|why| Error::mismatch(self.source.path(), format!("row {r}: {why}; cannot normalise it")))?;
                }
            }
            self.writer.write_chunk(chunk, &rows)?;
        }
        Ok(())
    }
}

/// SWAN's l2norm: the epsilon is added to the norm, not under the root. A zero or
/// non-finite row has no direction to keep.
fn normalize(row: &mut [f32]) -> std::result::Result<(), String> {
    let norm = row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt();
    if !norm.is_finite() {
        return Err("it holds a NaN or an infinity, or its norm overflows".into());
    }
    if norm == 0.0 {
        return Err("its norm is zero".into());
    }
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-8;
    if !norm.is_finite() {
        return Err("its norm overflows f32".into());
    }
    row.iter_mut().for_each(|v| *v /= norm);
    Ok(())
}

fn truncate_hook(input: &Path) {
    if let Some(len) = std::env::var(TRUNCATE_INPUT_HOOK).ok().and_then(|v| v.parse::<u64>().ok()) {
        let _ = std::fs::OpenOptions::new().write(true).open(input).and_then(|f| f.set_len(len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(dir: &Path, values: &[f32], rows: usize, options: ConvertOptions) -> Result<PathBuf> {
        let input = dir.join("in.npy");
        crate::npy::write_f32(&input, &[rows, values.len() / rows], values).unwrap();
        Converter::open(&input, &dir.join("out.npy"), options)?.run()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn converts_and_normalises() {
        let dir = tempfile::tempdir().unwrap();
        let out = convert(dir.path(), &[3.0, 4.0, 0.0, 2.0], 2, ConvertOptions { dtype: DType::F16, normalize: true }).unwrap();
        let f = NpyFile::open(&out).unwrap();
        let mut row = [0f32; 2];
        f.row_into_f32(0, &mut row).unwrap();
        assert!((row[0] - 0.6).abs() < 1e-3 && (row[1] - 0.8).abs() < 1e-3, "{row:?}");
        assert_eq!(names(dir.path()), ["in.npy", "out.npy"]);
    }

    #[test]
    fn f16_overflow_is_an_error_naming_the_row_and_leaves_nothing() {
        // Campaign item 13: 70000 used to become inf silently.
        let dir = tempfile::tempdir().unwrap();
        let err = convert(dir.path(), &[1.0, 2.0, 3.0, 70000.0], 2, ConvertOptions { dtype: DType::F16, normalize: false })
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1: value 70000 does not fit in f16 (largest is 65504)"), "{err}");
        // Item 21: no full-size .partial or .progress left behind.
        assert_eq!(names(dir.path()), ["in.npy"]);
        // 65504 itself fits, and f32 output takes any finite value.
        convert(dir.path(), &[65504.0, -65504.0], 1, ConvertOptions { dtype: DType::F16, normalize: false }).unwrap();
        convert(dir.path(), &[1.0, 70000.0], 1, ConvertOptions { dtype: DType::F32, normalize: false }).unwrap();
    }

    #[test]
    fn normalising_a_zero_or_non_finite_row_is_an_error_naming_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ConvertOptions { dtype: DType::F32, normalize: true };
        let err = convert(dir.path(), &[1.0, 0.0, 0.0, 0.0], 2, opts).unwrap_err().to_string();
        assert!(err.contains("in.npy: row 1: its norm is zero; cannot normalise it"), "{err}");
        let err = convert(dir.path(), &[1.0, 0.0, f32::NAN, 0.0, 1.0, 1.0], 3, opts).unwrap_err().to_string();
        assert!(err.contains("row 1: it holds a NaN"), "{err}");
        let err = convert(dir.path(), &[3e38, 3e38], 1, opts).unwrap_err().to_string();
        assert!(err.contains("row 0: its norm overflows f32"), "{err}");
        assert_eq!(names(dir.path()), ["in.npy"]);
    }

    #[test]
    fn resume_identity_is_the_input_content() {
        // Campaign item 7 (npy): an input rewritten in place with the same size and mtime
        // must not resume earlier progress.
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.npy");
        let output = dir.path().join("out.npy");
        let opts = ConvertOptions { dtype: DType::F16, normalize: false };
        let rows = CONVERT_CHUNK_ROWS + 1;
        crate::npy::write_f32(&input, &[rows, 1], &vec![1.0; rows]).unwrap();
        // Chunk 0 written, then "killed": progress left behind.
        let mut c = Converter::open(&input, &output, opts).unwrap();
        c.convert_pending_chunk_for_test(0);
        drop(c);
        let mtime = std::fs::metadata(&input).unwrap().modified().unwrap();
        crate::npy::write_f32(&input, &[rows, 1], &vec![2.0; rows]).unwrap();
        std::fs::File::options().write(true).open(&input).unwrap().set_modified(mtime).unwrap();
        let c = Converter::open(&input, &output, opts).unwrap();
        assert!(matches!(c.start(), Start::Restarted(_)), "{:?}", c.start());
        let out = NpyFile::open(c.run().unwrap()).unwrap();
        assert_eq!(out.as_f16().unwrap().iter().map(|v| v.to_f32()).collect::<Vec<_>>(), vec![2.0; rows]);

        // The same bytes resume.
        let c = Converter::open(&input, &dir.path().join("again.npy"), opts).unwrap();
        let mut c = c;
        c.convert_pending_chunk_for_test(0);
        drop(c);
        let c = Converter::open(&input, &dir.path().join("again.npy"), opts).unwrap();
        assert_eq!(c.start(), &Start::Resumed(1));
    }

    impl Converter {
        fn convert_pending_chunk_for_test(&mut self, chunk: usize) {
            let spec = self.writer.spec().clone();
            let rows: Vec<f32> = spec
                .chunk_rows_range(chunk)
                .flat_map(|r| {
                    let mut v = vec![0f32; spec.dim];
                    self.source.row_into_f32(r, &mut v).unwrap();
                    v
                })
                .collect();
            self.writer.write_chunk(chunk, &rows).unwrap();
        }
    }
}
