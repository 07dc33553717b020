//! The embedder's inputs: vocabulary files, caption text and checkpoint headers.

use std::path::Path;
use std::sync::OnceLock;

use swan_embedder::model::{check_safetensors, model_keys};
use swan_embedder::text::{tokenize, word_tokenize, Vocab};

use crate::scratch;

/// The RSITMD vocabulary shipped in `fixtures/text/`.
fn fixture_vocab() -> &'static Vocab {
    static VOCAB: OnceLock<Vocab> = OnceLock::new();
    VOCAB.get_or_init(|| {
        let text = include_str!("../../../fixtures/text/rsitmd_splits_vocab.json");
        Vocab::from_json(text, Path::new("rsitmd_splits_vocab.json")).expect("the fixture vocabulary parses")
    })
}

/// Bytes as a vocabulary JSON file: parse it (from memory when UTF-8, else through the file
/// reader), and check that what loads encodes captions and writes back to itself.
pub fn vocab(data: &[u8]) {
    let loaded = match std::str::from_utf8(data) {
        Ok(text) => Vocab::from_json(text, Path::new("vocab.json")),
        Err(_) => Vocab::load(&scratch::file("vocab.json", data)),
    };
    let Ok(vocab) = loaded else { return };
    let ids = vocab.encode("two red trucks are parked beside the green lawn .");
    assert!(ids.iter().all(|&id| (1..=vocab.len() as i64).contains(&id)), "ids fall in 1..=len");
    let again = Vocab::from_json(&vocab.to_json(), Path::new("written.json")).expect("a loaded vocabulary reads back");
    assert_eq!(again, vocab, "a loaded vocabulary writes back to itself");
}

/// Bytes as one caption line (decoded as the corpus readers do): tokenize it and encode it
/// with the fixture vocabulary; build a vocabulary from it and check it reads back.
pub fn tokenizer(data: &[u8]) {
    let caption = String::from_utf8_lossy(data);
    let tokens = tokenize(&caption);
    let _ = word_tokenize(&caption);
    let vocab = fixture_vocab();
    let ids = vocab.encode(&caption);
    assert_eq!(ids.len(), tokens.len(), "one id per token");
    assert!(ids.iter().all(|&id| (1..=vocab.len() as i64).contains(&id)), "ids fall in 1..=len");
    let built = Vocab::build([caption.as_ref()], 1);
    let again = Vocab::from_json(&built.to_json(), Path::new("built.json")).expect("a built vocabulary reads back");
    assert_eq!(again, built, "a built vocabulary writes back to itself");
}

/// Bytes as a safetensors checkpoint: check its header against SWAN's variables, as
/// loading does before any tensor is made.
pub fn checkpoint(data: &[u8]) {
    static KEYS: OnceLock<Vec<(String, Vec<i64>)>> = OnceLock::new();
    let keys = KEYS.get_or_init(model_keys);
    let problems = check_safetensors(data, keys);
    assert!(problems.iter().all(|p| !p.is_empty()), "every problem is a sentence");
}
