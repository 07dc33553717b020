//! Captions to token ids, exactly as the reference SWAN pipeline does it.
//!
//! The reference reads each caption line as bytes, strips ASCII white space, lower-cases ASCII
//! letters only, splits with NLTK 3.9.4's `word_tokenize` (Punkt sentence boundaries, then the
//! improved Treebank word tokenizer) and drops the punctuation tokens in [`DROPPED`]. Token ids
//! come from a vocabulary JSON file ([`Vocab`]); unknown tokens map to `<unk>`.
//!
//! ```
//! use swan_embedder::text::{tokenize, Vocab};
//! assert_eq!(tokenize("  The truck's road, 1,000 m (2)."), ["the", "truck", "'s", "road", "1,000", "m", "2"]);
//! let vocab = Vocab::build(["a red truck", "red roofs", "the red truck"], 2);
//! assert_eq!(vocab.words(), ["red", "truck", "<unk>"]);
//! assert_eq!(vocab.encode("Red trucks"), [1, 3]);
//! ```
//!
//! Everything here is a port, checked against NLTK on every caption of RSICD and RSITMD (see
//! `tests/tokenizer.rs` and `scripts/nltk_oracle.py`).

mod chars;
mod punkt;
mod stopwords;
mod tokenize;
mod vocab;

use std::path::PathBuf;

pub use stopwords::{is_stopword, STOPWORDS};
pub use tokenize::word_tokenize;
pub use vocab::Vocab;

/// Tokens the reference drops after `word_tokenize`.
pub const DROPPED: [&str; 16] = [",", ".", ":", ";", "?", "(", ")", "[", "]", "&", "!", "*", "@", "#", "$", "%"];

/// Tokens of one caption line: strip ASCII white space, lower-case ASCII only (so U+2019 `’` is
/// neither lower-cased nor treated as an apostrophe), [`word_tokenize`], drop [`DROPPED`].
/// An empty line, or one holding only `.`, gives no tokens.
pub fn tokenize(caption: &str) -> Vec<String> {
    // Python's `bytes.strip()` white space: `u8::is_ascii_whitespace` lacks the vertical tab.
    let text = caption.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')).to_ascii_lowercase();
    let mut tokens = word_tokenize(&text);
    tokens.retain(|t| !DROPPED.contains(&t.as_str()));
    tokens
}

/// Errors reading or writing vocabulary files.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file could not be written (see the store's atomic writer).
    #[error(transparent)]
    Store(#[from] swan_store::Error),
    /// The file is not valid JSON of the vocabulary shape.
    #[error("{}:{line}:{column}: not a vocabulary JSON file: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser reported.
        message: String,
    },
    /// The JSON is well formed but its ids are inconsistent (gaps, duplicates, no `<unk>`...).
    #[error("{}: invalid vocabulary: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result of this module's fallible operations.
pub type Result<T, E = TextError> = std::result::Result<T, E>;
