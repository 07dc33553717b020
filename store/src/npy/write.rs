//! Resumable, crash-safe writing of `.npy` files.
//!
//! The array is written into `NAME.partial`, pre-sized to its final length, one chunk of
//! rows at a time in any order. After a chunk's bytes are on disk (`fdatasync`), its
//! index is appended to `NAME.progress`. A writer opened again with the same
//! [`WriteSpec`] finds both files, trusts exactly the chunks listed, and carries on; the
//! final `NAME` appears only from [`NpyWriter::finish`], by rename, once every chunk is in.
//! A crash at any point therefore leaves either the old `NAME` (or none) and resumable
//! state, never a half-written `NAME`; and because the bytes of a chunk depend only on
//! its rows, a resumed file is identical to one written in one go.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{header, DType};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;

const PROGRESS_MAGIC: &str = "swan-npy-progress 1";

/// What is being written: shape, element type, chunking, and a caller key (for example
/// a digest of the job's inputs). A resumed writer must match all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteSpec {
    /// Element type on disk (`F32` or `F16`; rows are always given as `f32`).
    pub dtype: DType,
    /// Total number of rows.
    pub rows: usize,
    /// Elements per row.
    pub dim: usize,
    /// Rows per chunk; the last chunk may be shorter.
    pub chunk_rows: usize,
    /// Anything else that must match for earlier progress to be reused.
    pub key: String,
}

impl WriteSpec {
    fn fingerprint(&self) -> String {
        format!("{} rows={} dim={} chunk={} key={}", self.dtype.descr(), self.rows, self.dim, self.chunk_rows, self.key)
    }

    /// Number of chunks the rows divide into.
    pub fn chunk_count(&self) -> usize {
        self.rows.div_ceil(self.chunk_rows)
    }

    /// Row range of chunk `chunk`.
    pub fn chunk_rows_range(&self, chunk: usize) -> std::ops::Range<usize> {
        let start = chunk * self.chunk_rows;
        start..(start + self.chunk_rows).min(self.rows)
    }
}

/// How a writer started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Nothing to resume.
    Fresh,
    /// Earlier progress reused: this many chunks were already written.
    Resumed(usize),
    /// Earlier progress existed but was for a different spec, and was discarded.
    Restarted(String),
}

/// A pre-sized `.npy` file being filled chunk by chunk. See the module docs.
#[derive(Debug)]
pub struct NpyWriter {
    final_path: PathBuf,
    partial_path: PathBuf,
    progress_path: PathBuf,
    spec: WriteSpec,
    data: File,
    progress: File,
    data_offset: u64,
    done: Vec<bool>,
    start: Start,
    scratch: Vec<u8>,
}

impl NpyWriter {
    /// Open a writer for `path`, resuming earlier progress made with an identical `spec`.
    pub fn create(path: impl AsRef<Path>, spec: WriteSpec) -> Result<NpyWriter> {
        let final_path = path.as_ref().to_owned();
        if !matches!(spec.dtype, DType::F32 | DType::F16) {
            return Err(Error::mismatch(&final_path, format!("embedding files are f32 or f16, not {}", spec.dtype)));
        }
        if spec.chunk_rows == 0 {
            return Err(Error::mismatch(&final_path, "chunk size must be at least one row"));
        }
        // Before any work: an output that cannot be replaced fails now, not after the last chunk.
        fsutil::check_output(&final_path)?;
        let partial_path = sibling(&final_path, ".partial");
        let progress_path = sibling(&final_path, ".progress");
        let header = header::encode(spec.dtype, &[spec.rows, spec.dim]);
        let total_len = spec
            .rows
            .checked_mul(spec.dim)
            .and_then(|n| n.checked_mul(spec.dtype.size()))
            .and_then(|n| u64::try_from(n).ok())
            .and_then(|n| n.checked_add(header.len() as u64))
            .ok_or_else(|| {
                Error::mismatch(&final_path, format!("{} x {} {} values do not fit in a file", spec.rows, spec.dim, spec.dtype))
            })?;

        let (done, start) = match read_progress(&progress_path, &spec)? {
            Some(done) if file_len(&partial_path) == Some(total_len) => {
                let n = done.iter().filter(|&&d| d).count();
                (done, Start::Resumed(n))
            }
            Some(_) => (vec![false; spec.chunk_count()], Start::Restarted("the partial data file is missing or has the wrong size".into())),
            None if progress_path.exists() => {
                (vec![false; spec.chunk_count()], Start::Restarted("it was written for different rows, dtype or inputs".into()))
            }
            None => (vec![false; spec.chunk_count()], Start::Fresh),
        };

        let data = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&partial_path).at(&partial_path)?;
        let progress = if matches!(start, Start::Resumed(_)) {
            OpenOptions::new().append(true).open(&progress_path).at(&progress_path)?
        } else {
            // Start over: size the data file, then write a progress file that lists no chunk.
            data.set_len(0).at(&partial_path)?;
            data.set_len(total_len).at(&partial_path)?;
            data.write_all_at(&header, 0).at(&partial_path)?;
            data.sync_all().at(&partial_path)?;
            fsutil::write_atomic(&progress_path, format!("{PROGRESS_MAGIC}\n{}\n", spec.fingerprint()).as_bytes())?;
            OpenOptions::new().append(true).open(&progress_path).at(&progress_path)?
        };
        Ok(NpyWriter {
            final_path,
            partial_path,
            progress_path,
            data_offset: header.len() as u64,
            spec,
            data,
            progress,
            done,
            start,
            scratch: Vec::new(),
        })
    }

    /// The spec this writer was opened with.
    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }

    /// Whether earlier progress was reused.
    pub fn start(&self) -> &Start {
        &self.start
    }

    /// Whether chunk `chunk` is already on disk.
    pub fn is_done(&self, chunk: usize) -> bool {
        self.done.get(chunk).copied().unwrap_or(false)
    }

    /// Chunks still to write, in increasing order.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.done.len()).filter(|&c| !self.done[c]).collect()
    }

    /// Rows already on disk.
    pub fn rows_done(&self) -> usize {
        (0..self.done.len()).filter(|&c| self.done[c]).map(|c| self.spec.chunk_rows_range(c).len()).sum()
    }

    /// Write chunk `chunk` (`rows` holds its rows back to back as `f32`) and record it
    /// durably. Writing a chunk twice is allowed; the second copy wins.
    pub fn write_chunk(&mut self, chunk: usize, rows: &[f32]) -> Result<()> {
        if chunk >= self.done.len() {
            return Err(Error::mismatch(&self.final_path, format!("chunk {chunk} out of range (file has {} chunks)", self.done.len())));
        }
        let range = self.spec.chunk_rows_range(chunk);
        if rows.len() != range.len() * self.spec.dim {
            return Err(Error::mismatch(
                &self.final_path,
                format!("chunk {chunk} needs {} rows of {} values, got {} values", range.len(), self.spec.dim, rows.len()),
            ));
        }
        let bytes: &[u8] = match self.spec.dtype {
            DType::F32 => bytemuck::cast_slice(rows),
            DType::F16 => {
                use half::slice::HalfFloatSliceExt;
                let mut halves = vec![half::f16::ZERO; rows.len()];
                halves.convert_from_f32_slice(rows);
                // A finite value past f16's range would silently become infinity.
                if let Some(i) = halves.iter().zip(rows).position(|(h, v)| h.is_infinite() && v.is_finite()) {
                    return Err(Error::mismatch(
                        &self.final_path,
                        format!("row {}: value {} does not fit in f16 (largest is 65504)", range.start + i / self.spec.dim, rows[i]),
                    ));
                }
                self.scratch.clear();
                self.scratch.extend_from_slice(bytemuck::cast_slice(&halves));
                &self.scratch
            }
            _ => unreachable!("checked in create"),
        };
        let offset = self.data_offset + (range.start * self.spec.dim * self.spec.dtype.size()) as u64;
        self.data.write_all_at(bytes, offset).at(&self.partial_path)?;
        // Order matters: the rows must be durable before the log says they are.
        self.data.sync_data().at(&self.partial_path)?;
        self.progress.write_all(format!("{chunk}\n").as_bytes()).at(&self.progress_path)?;
        self.progress.sync_data().at(&self.progress_path)?;
        self.done[chunk] = true;
        Ok(())
    }

    /// Publish the file: every chunk must be written. Renames `NAME.partial` to `NAME`,
    /// syncs the folder, and removes the progress log. Returns the final path.
    pub fn finish(self) -> Result<PathBuf> {
        let missing = self.pending();
        if let Some(first) = missing.first() {
            return Err(Error::mismatch(
                &self.final_path,
                format!("cannot finish: {} of {} chunks not written (first: chunk {first})", missing.len(), self.done.len()),
            ));
        }
        drop(self.data);
        fsutil::publish(&self.partial_path, &self.final_path)?;
        drop(self.progress);
        std::fs::remove_file(&self.progress_path).at(&self.progress_path)?;
        Ok(self.final_path)
    }
}

impl NpyWriter {
    /// Give up: remove the partial data and the progress log (a job that failed for a
    /// reason a rerun would meet again, so its full-size files would only take space).
    pub fn discard(self) -> Result<()> {
        let NpyWriter { partial_path, progress_path, data, progress, .. } = self;
        drop((data, progress));
        for p in [&partial_path, &progress_path] {
            match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(p, e)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// The chunks a progress log lists, if it exists and was written for `spec`. A torn last
/// line (no newline: the process died mid-append) is ignored, as is any chunk index out of range.
fn read_progress(path: &Path, spec: &WriteSpec) -> Result<Option<Vec<bool>>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut lines = text.split_inclusive('\n');
    if lines.next() != Some(&format!("{PROGRESS_MAGIC}\n")) || lines.next() != Some(&format!("{}\n", spec.fingerprint())) {
        return Ok(None);
    }
    let mut done = vec![false; spec.chunk_count()];
    for line in lines.filter(|l| l.ends_with('\n')) {
        if let Ok(chunk) = line.trim_end().parse::<usize>() {
            if let Some(slot) = done.get_mut(chunk) {
                *slot = true;
            }
        }
    }
    Ok(Some(done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NpyFile;

    fn spec(rows: usize, dtype: DType) -> WriteSpec {
        WriteSpec { dtype, rows, dim: 5, chunk_rows: 4, key: "test".into() }
    }

    fn rows_of(spec: &WriteSpec, chunk: usize) -> Vec<f32> {
        spec.chunk_rows_range(chunk).flat_map(|r| (0..spec.dim).map(move |c| (r * 10 + c) as f32 * 0.25 - 3.0)).collect()
    }

    #[test]
    fn chunks_in_any_order_give_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(11, DType::F32);
        let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
        let mut w = NpyWriter::create(&a, s.clone()).unwrap();
        for c in 0..s.chunk_count() {
            w.write_chunk(c, &rows_of(&s, c)).unwrap();
        }
        w.finish().unwrap();
        let mut w = NpyWriter::create(&b, s.clone()).unwrap();
        for c in (0..s.chunk_count()).rev() {
            w.write_chunk(c, &rows_of(&s, c)).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let f = NpyFile::open(&a).unwrap();
        assert_eq!((f.rows(), f.dim()), (11, 5));
        assert_eq!(f.rows_f32(10..11).unwrap(), &rows_of(&s, 2)[10..15]);
        assert!(!dir.path().join("a.npy.progress").exists());
        assert!(!dir.path().join("a.npy.partial").exists());
    }

    #[test]
    fn unfinished_writer_publishes_nothing_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let s = spec(10, DType::F16);
        let mut w = NpyWriter::create(&path, s.clone()).unwrap();
        w.write_chunk(1, &rows_of(&s, 1)).unwrap();
        let err = format!("{}", NpyWriter::create(&path, s.clone()).unwrap().finish().unwrap_err());
        assert!(err.contains("2 of 3 chunks not written"), "{err}");
        drop(w);
        assert!(!path.exists());
        let mut w = NpyWriter::create(&path, s.clone()).unwrap();
        assert_eq!(w.start(), &Start::Resumed(1));
        assert_eq!(w.pending(), vec![0, 2]);
        for c in w.pending() {
            w.write_chunk(c, &rows_of(&s, c)).unwrap();
        }
        w.finish().unwrap();
        let f = NpyFile::open(&path).unwrap();
        let mut row = vec![0.0; 5];
        f.row_into_f32(9, &mut row).unwrap();
        assert_eq!(row, rows_of(&s, 2)[5..10]);
    }

    #[test]
    fn a_different_spec_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let s = spec(10, DType::F32);
        NpyWriter::create(&path, s.clone()).unwrap().write_chunk(0, &rows_of(&s, 0)).unwrap();
        let other = WriteSpec { key: "other inputs".into(), ..s };
        let w = NpyWriter::create(&path, other).unwrap();
        assert!(matches!(w.start(), Start::Restarted(_)));
        assert_eq!(w.pending().len(), 3);
    }

    #[test]
    fn torn_progress_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.npy");
        let s = spec(10, DType::F32);
        NpyWriter::create(&path, s.clone()).unwrap().write_chunk(2, &rows_of(&s, 2)).unwrap();
        let mut log = OpenOptions::new().append(true).open(dir.path().join("e.npy.progress")).unwrap();
        log.write_all(b"1").unwrap(); // died before the newline
        let w = NpyWriter::create(&path, s).unwrap();
        assert_eq!(w.pending(), vec![0, 1]);
    }

    #[test]
    fn wrong_chunk_shape_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(10, DType::F32);
        let mut w = NpyWriter::create(dir.path().join("e.npy"), s).unwrap();
        let err = w.write_chunk(2, &[0.0; 20]).unwrap_err().to_string();
        assert!(err.contains("chunk 2 needs 2 rows of 5 values, got 20"), "{err}");
        assert!(w.write_chunk(3, &[]).is_err());
    }
}
