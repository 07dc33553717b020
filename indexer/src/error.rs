//! The one error type of the indexer crate.

use std::path::PathBuf;

/// Result alias for the indexer crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong building, saving, loading or searching an index. Every
/// variant that concerns a file names it, and where it applies the byte offset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from the storage layer (embedding files, manifests).
    #[error(transparent)]
    Store(#[from] swan_store::Error),
    /// An operating-system error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An index file that is damaged: bad magic, bad checksum, impossible values.
    #[error("{}: corrupt index file{}: {reason}", path.display(), offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the problem, where known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// An index written by a newer (or much older) swan.
    #[error("{}: index format version {found} is not supported (this swan reads {oldest}..={current}); rebuild the index with `swan index`", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// Version in the file, as written there (a number, or the JSON value that is not one).
        found: String,
        /// Oldest readable version.
        oldest: u32,
        /// Newest readable version.
        current: u32,
    },
    /// An index that does not belong to the embeddings it is opened with (digest, shape).
    #[error("{}: index does not match its source: {reason}; rebuild the index or point it at the file it was built from", path.display())]
    SourceMismatch {
        /// The index manifest.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// Bad parameters or input shapes (zero `M`, a query of the wrong length, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: Option<u64>, reason: impl Into<String>) -> Self {
        Error::Corrupt { path: path.into(), offset, reason: reason.into() }
    }
}

/// Attach a path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
