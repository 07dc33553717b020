//! The embedder's error type.

use std::path::PathBuf;

/// Result alias for the embedder.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// What can go wrong loading or running SWAN.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A checkpoint that does not fit the model; lists every problem.
    #[error("{}: checkpoint does not fit SWAN:\n  {}", path.display(), problems.join("\n  "))]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// One line per missing, unexpected or mis-shaped key.
        problems: Vec<String>,
    },
    /// Inputs of the wrong shape or type.
    #[error("bad model input: {0}")]
    Input(String),
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(String),
    /// An error reading or writing swan's files.
    #[error(transparent)]
    Store(#[from] swan_store::Error),
    /// An image that could not be read, in strict mode.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// A vocabulary that could not be read.
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
    /// A word-vector file that could not be used.
    #[error(transparent)]
    WordVectors(#[from] crate::train::glove::WordVectorError),
    /// The job was stopped (`--strict` on a bad item, or a failure elsewhere).
    #[error("{0}")]
    Stopped(String),
    /// Another job holds the output folder.
    #[error("{} is being written by {holder}", dir.display())]
    Locked {
        /// The output folder.
        dir: PathBuf,
        /// Who holds it: `pid N (since TIME)`.
        holder: String,
    },
    /// The output folder holds unfinished work made with other inputs or settings.
    #[error(
        "{} holds an unfinished job made with other inputs; it differs in\n  {}\nrerun with the same inputs to resume it, or pass --restart to discard it",
        dir.display(),
        differences.join("\n  ")
    )]
    ResumeMismatch {
        /// The output folder.
        dir: PathBuf,
        /// `field: earlier vs now`, one per difference.
        differences: Vec<String>,
    },
    /// A file-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<tch::TchError> for EmbedError {
    fn from(e: tch::TchError) -> Self {
        EmbedError::Torch(e.to_string())
    }
}
