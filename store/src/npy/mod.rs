//! NumPy `.npy` files: header codec, zero-copy reader, resumable writer.

mod convert;
mod dtype;
pub(crate) mod header;
mod read;
mod stats;
mod write;

pub use convert::{ConvertOptions, Converter, CONVERT_CHUNK_ROWS, TRUNCATE_INPUT_HOOK};
pub use dtype::DType;
pub use header::Header;
pub use read::NpyFile;
pub use stats::NormStats;
pub use write::{NpyWriter, Start, WriteSpec};

/// Write a whole array at once (for small outputs: similarity matrices, test data).
/// Goes through the same temporary-file-and-rename path as the chunked writer.
pub fn write_f32(path: &std::path::Path, shape: &[usize], values: &[f32]) -> crate::Result<()> {
    let expected: usize = shape.iter().product();
    if values.len() != expected {
        return Err(crate::Error::mismatch(path, format!("{} values for shape {shape:?}", values.len())));
    }
    let mut bytes = header::encode(DType::F32, shape);
    bytes.extend_from_slice(bytemuck::cast_slice(values));
    crate::fsutil::write_atomic(path, &bytes)
}

/// [`write_f32`] for `i64` values (row ids of top-k lists).
pub fn write_i64(path: &std::path::Path, shape: &[usize], values: &[i64]) -> crate::Result<()> {
    let expected: usize = shape.iter().product();
    if values.len() != expected {
        return Err(crate::Error::mismatch(path, format!("{} values for shape {shape:?}", values.len())));
    }
    let mut bytes = header::encode(DType::I64, shape);
    bytes.extend_from_slice(bytemuck::cast_slice(values));
    crate::fsutil::write_atomic(path, &bytes)
}

/// Concatenate the rows of `inputs` (same dtype and row width) into `path`, streaming
/// from their mappings into a temporary file that is synced and renamed into place.
pub fn concat_rows(path: &std::path::Path, inputs: &[NpyFile]) -> crate::Result<()> {
    use std::io::Write;
    let first = inputs.first().ok_or_else(|| crate::Error::mismatch(path, "nothing to concatenate"))?;
    let (dtype, dim) = (first.dtype(), first.dim());
    if let Some(odd) = inputs.iter().find(|f| f.dtype() != dtype || f.dim() != dim || f.shape().len() != 2) {
        return Err(crate::Error::mismatch(odd.path(), format!("is {:?} {}, expected rows of {dim} {dtype}", odd.shape(), odd.dtype())));
    }
    let rows: usize = inputs.iter().map(NpyFile::rows).sum();
    let mut out = std::io::BufWriter::new(crate::fsutil::AtomicFile::create(path)?);
    let result = (|| {
        out.write_all(&header::encode(dtype, &[rows, dim]))?;
        for f in inputs {
            out.write_all(f.data_bytes())?;
        }
        out.flush()
    })();
    result.map_err(|e| crate::Error::io(path, e))?;
    out.into_inner().map_err(|e| crate::Error::io(path, e.into_error()))?.commit()
}
