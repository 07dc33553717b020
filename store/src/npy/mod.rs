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
