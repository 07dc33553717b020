//! The one error type of the searcher crate.

use std::path::{Path, PathBuf};

/// Result alias for the searcher crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong evaluating or searching. Variants name the file where the
/// data came from one, and the row, column or caption concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed (I/O, a bad `.npy` header, a wrong dtype).
    #[error(transparent)]
    Store(#[from] swan_store::Error),
    /// An index failed to answer (a query it refuses).
    #[error(transparent)]
    Index(#[from] swan_indexer::Error),
    /// Arrays whose sizes do not fit together.
    #[error("{}{reason}", at(path))]
    Shape {
        /// The file the array came from, if any.
        path: Option<PathBuf>,
        /// What does not fit.
        reason: String,
    },
    /// A similarity that is NaN: rankings would be meaningless.
    #[error("{}similarity of image {row} and caption {col} is NaN; check the embeddings", at(path))]
    NotANumber {
        /// The file the matrix came from, if any.
        path: Option<PathBuf>,
        /// Image (row) index.
        row: usize,
        /// Caption (column) index.
        col: usize,
    },
    /// An embedding row with NaN or infinite values that its manifest does not list as
    /// invalid (campaign item 22: such a row in `captions.npy` used to be reported as a NaN
    /// similarity of `images.npy`).
    #[error("{}row {row} holds NaN or infinite values but is not marked invalid; the file was changed after it was written (re-embed it, or list the row as invalid)", at(path))]
    NonFiniteRow {
        /// The embedding file.
        path: Option<PathBuf>,
        /// The row (0-based).
        row: usize,
    },
    /// A caption assigned to an image that does not exist.
    #[error("caption {caption} belongs to image {image}, but there are only {n_images} images")]
    CaptionImage {
        /// Caption index.
        caption: usize,
        /// The image index it was given.
        image: usize,
        /// Number of images (rows of the similarity matrix).
        n_images: usize,
    },
    /// A row index (for example in a list of invalid rows) outside the array.
    #[error("{}row {row} is out of range (the array has {rows} rows)", at(path))]
    RowOutOfRange {
        /// The file the array came from, if any.
        path: Option<PathBuf>,
        /// The offending row.
        row: usize,
        /// Rows in the array.
        rows: usize,
    },
    /// A top-k list that is malformed, or does not fit the lists or set it is used with.
    #[error("{}: {reason}", path.display())]
    List {
        /// The list's folder or file.
        path: PathBuf,
        /// What is wrong (naming the other file where two do not fit together).
        reason: String,
    },
    /// A captions file (queries, one a line) that cannot be read.
    #[error("{}: reading captions (one query a line)", path.display())]
    Captions {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The caller's caption encoder failed (a model that cannot be loaded, ...).
    #[error(transparent)]
    Encoder(crate::toplist::EncoderError),
    /// An option outside its domain (a zero cut-off, nothing to evaluate, ...).
    #[error("{0}")]
    Invalid(String),
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_deref().map(|p| format!("{}: ", p.display())).unwrap_or_default()
}

impl Error {
    pub(crate) fn shape(path: Option<&Path>, reason: impl Into<String>) -> Self {
        Error::Shape { path: path.map(Path::to_owned), reason: reason.into() }
    }
}
