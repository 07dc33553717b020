//! NumPy `.npy` files: header codec, zero-copy reader, resumable writer.

mod dtype;
pub(crate) mod header;
mod read;
mod write;

pub use dtype::DType;
pub use header::Header;
pub use read::NpyFile;
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

/// Concatenate the rows of `inputs` (same dtype and row width) into `path`, streaming
/// from their mappings into a temporary file that is synced and renamed into place.
pub fn concat_rows(path: &std::path::Path, inputs: &[NpyFile]) -> crate::Result<()> {
    use crate::error::IoContext;
    use std::io::Write;
    let first = inputs.first().ok_or_else(|| crate::Error::mismatch(path, "nothing to concatenate"))?;
    let (dtype, dim) = (first.dtype(), first.dim());
    if let Some(odd) = inputs.iter().find(|f| f.dtype() != dtype || f.dim() != dim || f.shape().len() != 2) {
        return Err(crate::Error::mismatch(odd.path(), format!("is {:?} {}, expected rows of {dim} {dtype}", odd.shape(), odd.dtype())));
    }
    let rows: usize = inputs.iter().map(NpyFile::rows).sum();
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".partial");
    let tmp = path.with_file_name(tmp_name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).at(&tmp)?);
    out.write_all(&header::encode(dtype, &[rows, dim])).at(&tmp)?;
    for f in inputs {
        out.write_all(f.data_bytes()).at(&tmp)?;
    }
    let file = out.into_inner().map_err(|e| crate::Error::io(&tmp, e.into_error()))?;
    file.sync_all().at(&tmp)?;
    std::fs::rename(&tmp, path).at(path)?;
    crate::fsutil::sync_parent(path)
}
