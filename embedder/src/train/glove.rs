//! Word vectors from a GloVe text file (`--word-vectors glove.840B.300d.txt`): streamed
//! line by line, only the vocabulary's words kept, with the reference's lookup rule
//! (`TextExtractFeature.init_weights`): a word missing from the file is retried after
//! removing `-`, `.` and `'`, keeping the part before a `/`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::text::Vocab;

/// Why a word-vector file was refused. Every variant names the file, and the line where
/// there is one.
#[derive(Debug, thiserror::Error)]
pub enum WordVectorError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line that is not a word followed by `dim` numbers.
    #[error("{}:{line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// What a load found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WordVectorReport {
    /// Lines read.
    pub lines: usize,
    /// Vocabulary words given a vector.
    pub found: usize,
    /// Vocabulary words without one (they keep their initial values), in id order.
    pub missed: Vec<String>,
}

/// The reference's retry key: without `-`, `.`, `'`, and only the part before a `/`.
pub fn retry_key(word: &str) -> String {
    let w: String = word.chars().filter(|c| !matches!(c, '-' | '.' | '\'')).collect();
    match w.split_once('/') {
        Some((head, _)) => head.to_string(),
        None => w,
    }
}

/// Read `path` and return the vector of every vocabulary id it covers (`dim` values each).
/// The word is everything before the last `dim` fields (a few GloVe 840B tokens contain
/// spaces). The first line fixes the dimension: a file of another dimension is refused
/// there; a later line that is not a word plus `dim` numbers is an error naming its line.
pub fn load(path: &Path, vocab: &Vocab, dim: usize) -> Result<(HashMap<i64, Vec<f32>>, WordVectorReport), WordVectorError> {
    let io = |source| WordVectorError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut exact: HashMap<&str, i64> = HashMap::new();
    let mut retry: HashMap<String, Vec<i64>> = HashMap::new();
    for (i, word) in vocab.words().iter().enumerate() {
        let id = i as i64 + 1;
        exact.insert(word.as_str(), id);
        retry.entry(retry_key(word)).or_default().push(id);
    }
    // id -> (vector, found by the exact word)
    let mut found: HashMap<i64, (Vec<f32>, bool)> = HashMap::new();
    let mut report = WordVectorReport::default();
    let mut buf = Vec::new();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            break;
        }
        report.lines += 1;
        let line_no = report.lines;
        let bad = |reason: String| WordVectorError::Malformed { path: path.to_owned(), line: line_no, reason };
        let text = std::str::from_utf8(&buf).map_err(|_| bad("not UTF-8".into()))?.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.trim_end().split(' ').collect();
        if line_no == 1 && fields.len() != dim + 1 {
            return Err(bad(format!("{} values after the word; --word-vectors must be {dim}-dimensional", fields.len().saturating_sub(1))));
        }
        if fields.len() < dim + 1 {
            return Err(bad(format!("{} fields, expected a word and {dim} numbers", fields.len())));
        }
        let word = fields[..fields.len() - dim].join(" ");
        let wanted_exact = exact.get(word.as_str()).copied();
        let wanted_retry = retry.get(&word);
        if wanted_exact.is_none() && wanted_retry.is_none() {
            continue; // not a vocabulary word: skip without parsing the numbers
        }
        let values: Vec<f32> = fields[fields.len() - dim..]
            .iter()
            .map(|f| f.parse::<f32>().ok().filter(|v| v.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("the {dim} values after {word:?} are not all finite numbers")))?;
        if let Some(id) = wanted_exact {
            found.insert(id, (values.clone(), true));
        }
        for &id in wanted_retry.into_iter().flatten() {
            // The retry applies only to words whose own form is not in the file.
            if vocab.words()[id as usize - 1] != word {
                found.entry(id).or_insert_with(|| (values.clone(), false));
            }
        }
    }
    // A word found under its own form wins over a retry match seen earlier in the file.
    let vectors: HashMap<i64, Vec<f32>> = found.into_iter().map(|(id, (v, _))| (id, v)).collect();
    report.found = vectors.len();
    report.missed =
        (1..=vocab.len() as i64).filter(|id| !vectors.contains_key(id)).map(|id| vocab.words()[id as usize - 1].clone()).collect();
    Ok((vectors, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocab {
        Vocab::build(
            [
                "storage-tanks storage-tanks storage-tanks storage-tanks storage-tanks",
                "road road road road road",
                "a/b a/b a/b a/b a/b",
                "zzz zzz zzz zzz zzz",
            ],
            5,
        )
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn retry_rule_is_the_reference_one() {
        assert_eq!(retry_key("storage-tanks"), "storagetanks");
        assert_eq!(retry_key("u.s."), "us");
        assert_eq!(retry_key("o'clock"), "oclock");
        assert_eq!(retry_key("a/b"), "a");
    }

    #[test]
    fn exact_words_and_retries_are_found_the_rest_reported() {
        let v = vocab();
        let f = write("road 1 2 3\nstoragetanks 4 5 6\nother 0 0 0\na 7 8 9\n. . . 1 1 1\n");
        let (vectors, report) = load(f.path(), &v, 3).unwrap();
        assert_eq!(vectors[&v.id("road")], vec![1.0, 2.0, 3.0]);
        assert_eq!(vectors[&v.id("storage-tanks")], vec![4.0, 5.0, 6.0]);
        assert_eq!(vectors[&v.id("a/b")], vec![7.0, 8.0, 9.0]);
        assert_eq!((report.lines, report.found), (5, 3));
        assert_eq!(report.missed, vec!["zzz".to_string(), "<unk>".to_string()]);
    }

    #[test]
    fn wrong_dimension_and_malformed_lines_name_the_line() {
        let v = vocab();
        let err = load(write("road 1 2\n").path(), &v, 3).unwrap_err().to_string();
        assert!(err.ends_with(":1: 2 values after the word; --word-vectors must be 3-dimensional"), "{err}");
        let err = load(write("x 1 2 3\ny 1 2 3\nroad 1 2\n").path(), &v, 3).unwrap_err().to_string();
        assert!(err.contains(":3: 3 fields, expected a word and 3 numbers"), "{err}");
        let err = load(write("x 1 2 3\nroad 1 two 3\n").path(), &v, 3).unwrap_err().to_string();
        assert!(err.contains(":2: the 3 values after \"road\" are not all finite numbers"), "{err}");
    }
}
