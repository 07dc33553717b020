//! Crash-safe file replacement, the one way swan publishes an output file: a temporary
//! file in the same folder, written, fsynced, renamed over the output, and the folder
//! fsynced, so a crash leaves either the old or the new content and never a torn file.
//!
//! An output path that exists and is not a regular file (a folder, a FIFO, a device such
//! as `/dev/full`) is refused before anything is written: renaming over it would replace
//! a device node with a regular file, as root.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Refuse an output path that exists and is not a regular file (or a link to one).
/// A path that does not exist yet is fine; its folder is checked when written.
pub fn check_output(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(Error::mismatch(path, format!("is {}, not a regular file; refusing to replace it", kind_of(&meta)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Refuse an input path that is not a regular file: reading a FIFO blocks until a writer
/// appears, reading a folder fails with an unhelpful OS message, and a device has no end.
pub fn check_input(path: &Path) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path).at(path)?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(Error::mismatch(path, format!("is {}, not a regular file", kind_of(&meta))))
    }
}

/// "a folder", "a FIFO", ... for messages.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Whether `a` and `b` name the same file, however they are spelled (relative, through
/// `..` or a link): compared canonicalised, or as given when either cannot be (a file that
/// is gone is then the same only as itself, spelled alike).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The temporary sibling `path` is written under: same folder (so the rename is atomic),
/// `NAME.tmp.PID`, unique per process (the index recognises its own leftovers by it).
fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

/// An output file being written: bytes go to a temporary sibling, which becomes `path`
/// only by [`AtomicFile::commit`]. Dropped without a commit, the temporary file is removed.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Start writing `path` (checked with [`check_output`]).
    pub fn create(path: &Path) -> Result<AtomicFile> {
        check_output(path)?;
        let tmp = temp_sibling(path);
        let file = File::create(&tmp).at(&tmp)?;
        Ok(AtomicFile { path: path.to_owned(), tmp, file: Some(file) })
    }

    /// The temporary file's path, for messages.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// fsync the data, rename it over the output (checked again: it may have appeared
    /// since), fsync the folder.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("an AtomicFile is committed once");
        file.sync_all().at(&self.tmp)?;
        drop(file);
        let result = rename_into_place(&self.tmp, &self.path);
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut out = AtomicFile::create(path)?;
    out.write_all(bytes).at(out.temp_path())?;
    out.commit()
}

/// Publish a file another writer produced at `tmp` (a resumable `.partial`, a file a
/// foreign library wrote) as `path`: fsync it, rename it over `path`, fsync the folder.
/// On failure `tmp` is left where it is (it may hold resumable work).
pub fn publish(tmp: &Path, path: &Path) -> Result<()> {
    File::open(tmp).and_then(|f| f.sync_all()).at(tmp)?;
    rename_into_place(tmp, path)
}

fn rename_into_place(tmp: &Path, path: &Path) -> Result<()> {
    check_output(path)?;
    std::fs::rename(tmp, path).at(path)?;
    sync_parent(path)
}

/// Flush the directory entry of `path` (after a rename) to disk.
pub fn sync_parent(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent).and_then(|d| d.sync_all()).map_err(|e| Error::io(parent, e))
}

/// SHA-256 of a file's bytes, hex-encoded (checkpoint and source-file digests).
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    check_input(path)?;
    let mut file = File::open(path).at(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).at(path)?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn same_file_sees_through_spelling_and_links_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"x").unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("link.npy")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(same_file(&a, &dir.path().join("sub/../a.npy")));
        assert!(same_file(&dir.path().join("link.npy"), &a));
        // Equal content is not the same file; a missing file is the same only as itself.
        assert!(!same_file(&a, &b));
        let gone = dir.path().join("gone.npy");
        assert!(same_file(&gone, &gone) && !same_file(&gone, &a));
    }

    #[test]
    fn replaces_regular_files_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["out.json"]);

        // Dropped without a commit: nothing published, nothing left.
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"three").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["out.json"]);
    }

    #[test]
    fn refuses_to_replace_folders_fifos_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        let err = write_atomic(&folder, b"x").unwrap_err().to_string();
        assert!(err.contains("is a folder, not a regular file; refusing to replace it"), "{err}");
        assert!(folder.is_dir());

        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = write_atomic(&fifo, b"x").unwrap_err().to_string();
        assert!(err.contains("is a FIFO"), "{err}");

        let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err().to_string();
        assert!(err.contains("/dev/null: is a device"), "{err}");
        assert_eq!(names(dir.path()), ["fifo", "folder"]);

        // The same check when a foreign writer's file is published.
        let tmp = dir.path().join("made-by-someone");
        std::fs::write(&tmp, b"x").unwrap();
        let err = publish(&tmp, &folder).unwrap_err().to_string();
        assert!(err.contains("is a folder"), "{err}");
    }

    #[test]
    fn inputs_must_be_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_input(dir.path()).unwrap_err().to_string().contains("is a folder, not a regular file"));
        assert!(check_input(Path::new("/dev/zero")).unwrap_err().to_string().contains("is a device"));
    }
}
