//! Vocabularies: the reference JSON files (`{"word2idx", "idx2word", "idx"}`), and building one
//! from captions the way the reference `vocab.py` does.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::{is_stopword, tokenize, Result, TextError};

/// The unknown-word token, always the last id.
const UNK: &str = "<unk>";

/// Word <-> id mapping with ids `1..=len()`; `<unk>` has the last id and stands for every token
/// not in the vocabulary (id 0 is left for padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    /// `words[id - 1]`.
    words: Vec<String>,
    ids: HashMap<String, i64>,
}

/// The file layout: `idx2word` keys are ids written as strings (Python's `json.dump` of an
/// int-keyed dict), `idx` the next free id.
#[derive(Deserialize)]
struct VocabFile {
    word2idx: HashMap<String, i64>,
    idx2word: HashMap<String, String>,
    idx: i64,
}

impl Vocab {
    /// Reads a vocabulary JSON file.
    pub fn load(path: &Path) -> Result<Vocab> {
        let text = fs::read_to_string(path).map_err(|source| TextError::Io { path: path.to_path_buf(), source })?;
        Vocab::from_json(&text, path)
    }

    /// Parses vocabulary JSON; `origin` names the file in errors. Rejects ids outside `1..=N`,
    /// repeated ids, an `idx2word` that disagrees with `word2idx`, `idx != N + 1`, and a missing
    /// or misplaced `<unk>`.
    pub fn from_json(text: &str, origin: &Path) -> Result<Vocab> {
        let file: VocabFile = serde_json::from_str(text).map_err(|e| TextError::Json {
            path: origin.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let invalid = |reason: String| TextError::Invalid { path: origin.to_path_buf(), reason };
        let n = file.word2idx.len();
        let mut words: Vec<Option<String>> = vec![None; n];
        for (word, &id) in &file.word2idx {
            let slot = usize::try_from(id)
                .ok()
                .filter(|&i| (1..=n).contains(&i))
                .ok_or_else(|| invalid(format!("word2idx: id {id} of {word:?} is outside 1..={n}")))?;
            if let Some(other) = words[slot - 1].replace(word.clone()) {
                return Err(invalid(format!("word2idx: id {id} is given to both {other:?} and {word:?}")));
            }
        }
        // With n words, n distinct ids in 1..=n, every slot is filled: there are no gaps.
        let words: Vec<String> = words.into_iter().flatten().collect();
        if file.idx2word.len() != n {
            return Err(invalid(format!("idx2word has {} entries, word2idx {n}", file.idx2word.len())));
        }
        for (id, word) in words.iter().enumerate() {
            let key = (id + 1).to_string();
            if file.idx2word.get(&key) != Some(word) {
                return Err(invalid(format!("idx2word[{key}] is {:?}, word2idx says {word:?}", file.idx2word.get(&key))));
            }
        }
        if file.idx != n as i64 + 1 {
            return Err(invalid(format!("idx is {}, expected {} (one past the last id)", file.idx, n + 1)));
        }
        if words.last().map(String::as_str) != Some(UNK) {
            return Err(invalid(format!("{UNK} must have the last id ({n})")));
        }
        Ok(Vocab { ids: file.word2idx, words })
    }

    /// Builds a vocabulary as the reference does: [`tokenize`] every caption, drop NLTK's English
    /// stopwords, keep the words seen at least `min_count` times (the reference uses 5) in order
    /// of first appearance, then add `<unk>`.
    ///
    /// The reference vocabularies come from the `train_caps.txt` lines followed by the
    /// `test_caps.txt` lines of their corpus, `min_count = 5`.
    pub fn build<'a>(captions: impl IntoIterator<Item = &'a str>, min_count: usize) -> Vocab {
        // Python's Counter keeps first-insertion order, which fixes the ids.
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for caption in captions {
            for token in tokenize(caption) {
                if is_stopword(&token) || token == UNK {
                    continue;
                }
                match counts.get_mut(&token) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(token.clone(), 1);
                        order.push(token);
                    }
                }
            }
        }
        let mut words: Vec<String> = order.into_iter().filter(|w| counts[w] >= min_count).collect();
        words.push(UNK.to_string());
        let ids = words.iter().enumerate().map(|(i, w)| (w.clone(), i as i64 + 1)).collect();
        Vocab { words, ids }
    }

    /// The JSON text of the reference files, byte for byte: Python's `json.dumps` of
    /// `{"word2idx": ..., "idx2word": ..., "idx": N + 1}` with default separators and
    /// `ensure_ascii`, no trailing newline.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.words.len() * 32);
        out.push_str("{\"word2idx\": {");
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_json_str(&mut out, w);
            let _ = write!(out, ": {}", i + 1);
        }
        out.push_str("}, \"idx2word\": {");
        for (i, w) in self.words.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{}\": ", i + 1);
            push_json_str(&mut out, w);
        }
        let _ = write!(out, "}}, \"idx\": {}}}", self.words.len() + 1);
        out
    }

    /// Writes [`Vocab::to_json`] to `path` atomically, through the store's one
    /// atomic writer (temporary file, fsync, rename, fsync of the folder).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(swan_store::fsutil::write_atomic(path, self.to_json().as_bytes())?)
    }

    /// Number of words, `<unk>` included (the largest id).
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Always false: a vocabulary holds at least `<unk>`.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The id of `<unk>` (= [`Vocab::len`]).
    pub fn unk(&self) -> i64 {
        self.words.len() as i64
    }

    /// The id of `token`, or [`Vocab::unk`] when it is not in the vocabulary.
    pub fn id(&self, token: &str) -> i64 {
        self.ids.get(token).copied().unwrap_or_else(|| self.unk())
    }

    /// The word with id `id`, if any.
    pub fn word(&self, id: i64) -> Option<&str> {
        let i = usize::try_from(id).ok()?.checked_sub(1)?;
        self.words.get(i).map(String::as_str)
    }

    /// All words in id order (`words()[id - 1]`).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Ids of the [`tokenize`]d caption.
    pub fn encode(&self, caption: &str) -> Vec<i64> {
        tokenize(caption).iter().map(|t| self.id(t)).collect()
    }
}

/// A JSON string as Python's `json.dumps` writes it with `ensure_ascii=True`: everything outside
/// printable ASCII escaped, lower-case hex, UTF-16 surrogate pairs above U+FFFF.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("v.json")
    }

    #[test]
    fn json_round_trip_and_escapes() {
        let v = Vocab::build(["water’s edge \"x\"", "water’s edge \"x\""], 2);
        assert_eq!(v.words(), ["water", "’", "edge", "``", "x", "''", "<unk>"]);
        let json = v.to_json();
        assert!(json.starts_with("{\"word2idx\": {\"water\": 1, \"\\u2019\": 2, "), "{json}");
        assert!(json.ends_with("\"7\": \"<unk>\"}, \"idx\": 8}"), "{json}");
        assert_eq!(Vocab::from_json(&json, path()).unwrap(), v);
        let mut s = String::new();
        push_json_str(&mut s, "a\u{1F600}\u{7f}\\");
        assert_eq!(s, "\"a\\ud83d\\ude00\\u007f\\\\\"");
    }

    #[test]
    fn lookups() {
        let v = Vocab::build(["red roof red roof"], 1);
        assert_eq!((v.len(), v.unk(), v.id("roof"), v.id("blue")), (3, 3, 2, 3));
        assert_eq!((v.word(1), v.word(3), v.word(0), v.word(4)), (Some("red"), Some("<unk>"), None, None));
        assert!(!v.is_empty());
    }

    #[test]
    fn rejects_bad_files() {
        let err = |t: &str| Vocab::from_json(t, path()).unwrap_err().to_string();
        let ok = r#"{"word2idx": {"a": 1, "<unk>": 2}, "idx2word": {"1": "a", "2": "<unk>"}, "idx": 3}"#;
        assert!(Vocab::from_json(ok, path()).is_ok());
        assert!(err("{\"word2idx\": {\n\"a\": }").starts_with("v.json:2:6: not a vocabulary JSON file"));
        let gap = r#"{"word2idx": {"a": 1, "<unk>": 3}, "idx2word": {"1": "a", "3": "<unk>"}, "idx": 4}"#;
        assert!(err(gap).contains("id 3 of \"<unk>\" is outside 1..=2"), "{}", err(gap));
        let dup = r#"{"word2idx": {"a": 1, "<unk>": 1}, "idx2word": {"1": "a"}, "idx": 2}"#;
        assert!(err(dup).contains("is given to both"), "{}", err(dup));
        let mism = r#"{"word2idx": {"a": 1, "<unk>": 2}, "idx2word": {"1": "b", "2": "<unk>"}, "idx": 3}"#;
        assert!(err(mism).contains("idx2word[1]"), "{}", err(mism));
        let idx = r#"{"word2idx": {"a": 1, "<unk>": 2}, "idx2word": {"1": "a", "2": "<unk>"}, "idx": 9}"#;
        assert!(err(idx).contains("idx is 9"), "{}", err(idx));
        let unk = r#"{"word2idx": {"<unk>": 1, "a": 2}, "idx2word": {"1": "<unk>", "2": "a"}, "idx": 3}"#;
        assert!(err(unk).contains("<unk> must have the last id"), "{}", err(unk));
    }

    #[test]
    fn save_is_atomic_and_readable() {
        let dir = std::env::temp_dir().join(format!("swan-vocab-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("v.json");
        let v = Vocab::build(["a b c", "b c"], 2);
        v.save(&p).unwrap();
        assert_eq!(Vocab::load(&p).unwrap(), v);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");
        let missing = Vocab::load(&dir.join("nope.json")).unwrap_err().to_string();
        assert!(missing.contains("nope.json"), "{missing}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
