//! The one error type of the store crate.

use std::path::PathBuf;

/// Result alias for the store crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading or writing swan's files. Every variant names the
/// file, and where it applies the line or byte offset, so a user can find the problem.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `.npy` file that is not what it claims to be, or not one swan can read.
    #[error("{}: not a valid .npy embedding file: {reason}", path.display())]
    BadNpy {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// A request that does not fit the file (row out of range, wrong dtype, ...).
    #[error("{}: {reason}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A JSON file (manifest) that does not parse.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// A manifest written by a newer swan.
    #[error("{}: format version {found} is not supported (this swan reads {oldest}..={current}); upgrade swan or re-create the file", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u64,
        /// Oldest readable version.
        oldest: u32,
        /// Newest readable version.
        current: u32,
    },
    /// The corpus an embedding set was made from cannot be opened.
    #[error("reading the corpus of {} (pass --corpus if it moved): {source}", dir.display())]
    SetCorpus {
        /// The embedding set's folder.
        dir: PathBuf,
        /// Why the corpus could not be opened.
        source: Box<Error>,
    },
    /// A file of one of swan's line formats (`errors.jsonl`) that is damaged.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line number, where the problem is on one line.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A corpus that cannot be read: wrong counts, bad lines, missing files.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Corpus {
        /// The corpus file.
        path: PathBuf,
        /// 1-based line number, where the problem is on one line.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn bad_npy(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::BadNpy { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn mismatch(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Mismatch { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, line: Option<usize>, reason: impl Into<String>) -> Self {
        Error::Format { path: path.into(), line, reason: reason.into() }
    }

    pub(crate) fn corpus(path: impl Into<PathBuf>, line: Option<usize>, reason: impl Into<String>) -> Self {
        Error::Corpus { path: path.into(), line, reason: reason.into() }
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
