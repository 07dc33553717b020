//! Zero-copy reading of `.npy` files through a memory map.

use std::fs::File;
use std::path::{Path, PathBuf};

use half::f16;
use memmap2::Mmap;

use super::{header, DType, Header};
use crate::error::{Error, IoContext, Result};

/// A memory-mapped `.npy` array. Rows are the first axis; a row holds the product of
/// the remaining axes (`dim`). Opening checks the header and that the file holds
/// exactly the bytes the header promises, so later slicing cannot fault.
pub struct NpyFile {
    path: PathBuf,
    /// Reports a fault in `map` by this file's name (dropped before the map).
    _watch: crate::sigbus::Watch,
    map: Mmap,
    header: Header,
}

impl std::fmt::Debug for NpyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyFile").field("path", &self.path).field("header", &self.header).finish()
    }
}

impl NpyFile {
    /// Map `path` and validate its header against its size.
    pub fn open(path: impl AsRef<Path>) -> Result<NpyFile> {
        let path = path.as_ref();
        // A folder, FIFO or device is refused by name before opening (opening a FIFO
        // blocks until a writer appears; mapping a folder fails with "No such device").
        crate::fsutil::check_input(path)?;
        let file = File::open(path).at(path)?;
        let meta = file.metadata().at(path)?;
        if !meta.is_file() {
            return Err(Error::mismatch(path, "is not a regular file (it was replaced while being opened)"));
        }
        let len = usize::try_from(meta.len()).map_err(|_| Error::bad_npy(path, "file is larger than the address space"))?;
        if len == 0 {
            return Err(Error::bad_npy(path, "file is empty"));
        }
        // SAFETY: the map is read-only, and swan never truncates a finished file in place
        // (writers rename a complete temporary file over it). Another program might: a
        // read past the new end raises SIGBUS, which the watch below turns into a message
        // naming this file and exit status 2.
        let map = unsafe { Mmap::map(&file) }.at(path)?;
        let watch = crate::sigbus::watch(&map, path);
        let header = header::parse(&map).map_err(|reason| Error::bad_npy(path, reason))?;
        let want = header
            .data_len()
            .and_then(|n| n.checked_add(header.data_offset))
            .ok_or_else(|| Error::bad_npy(path, format!("shape {:?} {} overflows the address space", header.shape, header.dtype)))?;
        if len < want {
            return Err(Error::bad_npy(
                path,
                format!("truncated: header promises {:?} {} ({want} bytes) but the file has {len} bytes", header.shape, header.dtype),
            ));
        }
        if len > want {
            return Err(Error::bad_npy(
                path,
                format!("{} bytes after the data that header shape {:?} {} accounts for", len - want, header.shape, header.dtype),
            ));
        }
        Ok(NpyFile { path: path.to_owned(), _watch: watch, map, header })
    }

    /// The file this array was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.header.dtype
    }

    /// Full shape.
    pub fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    /// Number of rows (the first axis; 1 for a 0-d array).
    pub fn rows(&self) -> usize {
        self.header.shape.first().copied().unwrap_or(1)
    }

    /// Elements per row (product of all axes but the first).
    pub fn dim(&self) -> usize {
        self.header.shape.iter().skip(1).product()
    }

    /// The raw little-endian bytes of the data section.
    pub fn data_bytes(&self) -> &[u8] {
        &self.map[self.header.data_offset..]
    }

    /// All elements as `f32`, without copying. Errors if the dtype is not `f32`.
    pub fn as_f32(&self) -> Result<&[f32]> {
        self.typed(DType::F32)
    }

    /// All elements as `f16`, without copying. Errors if the dtype is not `f16`.
    pub fn as_f16(&self) -> Result<&[f16]> {
        self.typed(DType::F16)
    }

    /// All elements as `f64`, without copying. Errors if the dtype is not `f64`.
    pub fn as_f64(&self) -> Result<&[f64]> {
        self.typed(DType::F64)
    }

    /// All elements as `i64`, without copying. Errors if the dtype is not `i64`.
    pub fn as_i64(&self) -> Result<&[i64]> {
        self.typed(DType::I64)
    }

    /// Rows `start..end` of an `f32` file, without copying.
    pub fn rows_f32(&self, rows: std::ops::Range<usize>) -> Result<&[f32]> {
        let all = self.as_f32()?;
        let range = self.element_range(rows)?;
        Ok(&all[range])
    }

    /// Copy row `row` into `out` as `f32`, converting from any floating dtype.
    pub fn row_into_f32(&self, row: usize, out: &mut [f32]) -> Result<()> {
        let dim = self.dim();
        if out.len() != dim {
            return Err(Error::mismatch(&self.path, format!("row buffer of {} elements for rows of {dim}", out.len())));
        }
        let end = row.checked_add(1).ok_or_else(|| Error::mismatch(&self.path, format!("row {row} out of range")))?;
        let range = self.element_range(row..end)?;
        match self.dtype() {
            DType::F32 => out.copy_from_slice(&self.as_f32()?[range]),
            DType::F16 => {
                use half::slice::HalfFloatSliceExt;
                self.as_f16()?[range].convert_to_f32_slice(out)
            }
            DType::F64 => out.iter_mut().zip(&self.as_f64()?[range]).for_each(|(o, &v)| *o = v as f32),
            other => return Err(Error::mismatch(&self.path, format!("expected floating-point rows, found {other}"))),
        }
        Ok(())
    }

    /// Every element converted to `f64` (for similarity matrices and metrics).
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(match self.dtype() {
            DType::F64 => self.as_f64()?.to_vec(),
            DType::F32 => self.as_f32()?.iter().map(|&v| v as f64).collect(),
            DType::F16 => self.as_f16()?.iter().map(|v| v.to_f64()).collect(),
            other => return Err(Error::mismatch(&self.path, format!("expected floating-point data, found {other}"))),
        })
    }

    fn element_range(&self, rows: std::ops::Range<usize>) -> Result<std::ops::Range<usize>> {
        if rows.start > rows.end || rows.end > self.rows() {
            return Err(Error::mismatch(
                &self.path,
                format!("rows {}..{} out of range (file has {} rows)", rows.start, rows.end, self.rows()),
            ));
        }
        // rows.end <= rows() and rows() x dim() elements fit (checked at open): no overflow.
        Ok(rows.start * self.dim()..rows.end * self.dim())
    }

    fn typed<T: bytemuck::Pod>(&self, want: DType) -> Result<&[T]> {
        if self.dtype() != want {
            return Err(Error::mismatch(&self.path, format!("holds {} elements, not {want}", self.dtype())));
        }
        bytemuck::try_cast_slice(self.data_bytes()).map_err(|_| {
            Error::bad_npy(&self.path, format!("data offset {} is not aligned for {want}; re-save with numpy", self.header.data_offset))
        })
    }
}
