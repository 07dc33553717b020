//! Per-thread scratch folders, for entry points that read a path: the fuzzer runs one
//! thread, the replay test one thread per target, so no two inputs share a file.

use std::path::{Path, PathBuf};

thread_local! {
    // Under the system temporary folder (`TMPDIR`; `scripts/fuzz.sh` points it at a RAM disk
    // and removes it afterwards, since a fuzzing process exits without running destructors).
    static SCRATCH: tempfile::TempDir = tempfile::Builder::new().prefix("swan-fuzz-").tempdir().expect("a scratch folder");
}

/// This thread's scratch folder.
pub fn dir() -> PathBuf {
    SCRATCH.with(|d| d.path().to_owned())
}

/// Write `data` to `name` inside this thread's scratch folder and return the path.
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    let path = dir().join(name);
    write(&path, data);
    path
}

/// Write a file the harness needs; failing to is a broken harness, not a finding.
pub fn write(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("harness: {}: {e}", parent.display()));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("harness: {}: {e}", path.display()));
}

/// An empty folder `name` inside this thread's scratch folder (emptied if it exists).
pub fn empty_dir(name: &str) -> PathBuf {
    let path = dir().join(name);
    if path.exists() {
        std::fs::remove_dir_all(&path).unwrap_or_else(|e| panic!("harness: {}: {e}", path.display()));
    }
    std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("harness: {}: {e}", path.display()));
    path
}
