//! The caption tokenizer and vocabularies against the reference pipeline (NLTK 3.9.4).
//!
//! Key checks run on copies under `fixtures/text/`; the full ones read the real corpora in
//! `../shared` (the project's shared folder beside the repository) and are skipped, with a
//! message, when it is absent.
//!
//! `fixtures/text/all_captions_tokens.sha256` holds digests of NLTK's tokens for every caption
//! file, computed by `scripts/nltk_oracle.py` from NLTK itself, never from this crate.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use swan_embedder::text::{tokenize, word_tokenize, Vocab};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/text");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// `../shared`, or None (with a message) when the shared folder is absent; a failure
/// under `CI=true`.
fn shared(test: &str) -> Option<PathBuf> {
    eprintln!("{test}: needs ../shared/data");
    swan_fixtures::shared_dir_or_skip("data")
}

/// Caption lines as the reference reads them: `for line in open(path, "rb")`, i.e. split on
/// `\n` only, no empty line after a final newline (stripping happens in `tokenize`). Cached.
fn caption_lines(path: &Path) -> Arc<Vec<String>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Arc<Vec<String>>>>> = OnceLock::new();
    let files = FILES.get_or_init(Default::default);
    if let Some(lines) = files.lock().unwrap().get(path) {
        return lines.clone();
    }
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Arc<Vec<String>> = Arc::new(match text.strip_suffix('\n').unwrap_or(&text) {
        "" if text.is_empty() => Vec::new(),
        body => body.split('\n').map(str::to_string).collect(),
    });
    files.lock().unwrap().insert(path.to_path_buf(), lines.clone());
    lines
}

/// `tokenize(line).join(" ")`, memoised: the corpora repeat captions (148,915 lines, 36,985
/// distinct), and debug builds are slow.
fn tokens_joined(line: &str) -> String {
    static MEMO: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(t) = memo.lock().unwrap().get(line) {
        return t.clone();
    }
    let t = tokenize(line).join(" ");
    memo.lock().unwrap().insert(line.to_string(), t.clone());
    t
}

#[derive(Deserialize)]
struct SampleRow {
    dataset: String,
    split: String,
    line: usize,
    caption: String,
    tokens: Vec<String>,
    ids: Vec<i64>,
}

fn vocab_for(dataset: &str) -> &'static Vocab {
    static VOCABS: OnceLock<(Vocab, Vocab)> = OnceLock::new();
    let (rsitmd, rsicd) = VOCABS.get_or_init(|| {
        let load = |n: &str| Vocab::load(&fixture(n)).unwrap_or_else(|e| panic!("{e}"));
        (load("rsitmd_splits_vocab.json"), load("rsicd_splits_vocab.json"))
    });
    match dataset {
        "rsitmd" => rsitmd,
        "rsicd" => rsicd,
        other => panic!("unknown dataset {other}"),
    }
}

/// Every row's caption gives its expected tokens and ids; returns the number of rows.
fn check_sample(path: &Path, shared: Option<&Path>) -> usize {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = 0;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let row: SampleRow = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1));
        let at = format!("{}:{} ({} {} line {})", path.display(), n + 1, row.dataset, row.split, row.line);
        assert_eq!(tokenize(&row.caption), row.tokens, "{at}: {:?}", row.caption);
        assert_eq!(vocab_for(&row.dataset).encode(&row.caption), row.ids, "{at}: {:?}", row.caption);
        // The caption field is the stripped, lower-cased line: the raw line must agree.
        if let Some(shared) = shared {
            let file = shared.join(format!("data/{}_precomp/{}_caps.txt", row.dataset, row.split));
            let raw = &caption_lines(&file)[row.line];
            assert_eq!(tokenize(raw), row.tokens, "{at}: raw line {raw:?}");
        }
        rows += 1;
    }
    rows
}

#[test]
fn sample_subset_fixture_gives_reference_tokens_and_ids() {
    let rows = check_sample(&fixture("tokens_sample_subset.jsonl"), None);
    assert_eq!(rows, 533);
}

#[test]
fn full_sample_gives_reference_tokens_and_ids() {
    let Some(shared) = shared("full_sample") else {
        return;
    };
    let rows = check_sample(&shared.join("reference/tokenizer/tokens_sample.jsonl"), Some(&shared));
    assert_eq!(rows, 1500);
}

#[test]
fn reference_vocabularies_load_and_write_back_byte_for_byte() {
    for (name, n) in [("rsitmd_splits_vocab.json", 1349), ("rsicd_splits_vocab.json", 1225)] {
        let path = fixture(name);
        let vocab = Vocab::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((vocab.len(), vocab.unk()), (n, n as i64), "{name}");
        assert_eq!(vocab.word(vocab.unk()), Some("<unk>"));
        assert_eq!(vocab.id("no-such-word"), vocab.unk());
        assert_eq!(vocab.to_json(), fs::read_to_string(&path).unwrap(), "{name}: to_json differs from the file");
    }
    let tmd = vocab_for("rsitmd");
    assert_eq!((tmd.id("baseball"), tmd.id("field"), tmd.id("'s"), tmd.id("<unk>")), (1, 2, 396, 1349));
    let cd = vocab_for("rsicd");
    assert_eq!((cd.id("many"), cd.id("`"), cd.id("n't")), (1, 650, 861));
}

#[test]
fn fixture_copies_equal_shared_files() {
    let Some(shared) = shared("fixture_copies") else {
        return;
    };
    for name in ["rsitmd_splits_vocab.json", "rsicd_splits_vocab.json"] {
        let copy = fs::read(fixture(name)).unwrap();
        assert!(copy == fs::read(shared.join("data/vocab").join(name)).unwrap(), "fixtures/text/{name} is stale");
    }
    let full = fs::read_to_string(shared.join("reference/tokenizer/tokens_sample.jsonl")).unwrap();
    let subset = fs::read_to_string(fixture("tokens_sample_subset.jsonl")).unwrap();
    let full: std::collections::HashSet<&str> = full.lines().collect();
    assert!(subset.lines().all(|l| full.contains(l)), "tokens_sample_subset.jsonl has rows not in the reference");
}

/// The reference vocabularies are `Vocab::build` over the `train_caps.txt` lines then the
/// `test_caps.txt` lines, minimum count 5: ids follow first appearance.
#[test]
fn vocabularies_rebuild_from_captions() {
    let Some(shared) = shared("vocab rebuild") else {
        return;
    };
    for ds in ["rsitmd", "rsicd"] {
        let dir = shared.join(format!("data/{ds}_precomp"));
        let (train, test) = (caption_lines(&dir.join("train_caps.txt")), caption_lines(&dir.join("test_caps.txt")));
        let built = Vocab::build(train.iter().chain(test.iter()).map(String::as_str), 5);
        let reference = shared.join(format!("data/vocab/{ds}_splits_vocab.json"));
        let expected = Vocab::load(&reference).unwrap();
        if built != expected {
            let first = (0..built.len().max(expected.len())).find(|&i| built.words().get(i) != expected.words().get(i)).unwrap();
            panic!(
                "{ds}: id {} is {:?}, reference {:?} ({} vs {} words)",
                first + 1,
                built.words().get(first),
                expected.words().get(first),
                built.len(),
                expected.len()
            );
        }
        assert_eq!(built.to_json(), fs::read_to_string(&reference).unwrap(), "{ds}: JSON text differs");
    }
}

/// One line of `all_captions_tokens.sha256`.
struct Expected {
    kind: String,
    file: String,
    n: usize,
    sha: String,
}

fn sha256_hex(lines: &[String]) -> String {
    let digest = Sha256::digest(lines.join("\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_caption_matches_nltk_oracle_digests() {
    let Some(shared) = shared("all captions") else {
        return;
    };
    let digests = fs::read_to_string(fixture("all_captions_tokens.sha256")).unwrap();
    let expected: Vec<Expected> = digests
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 4, "bad digest line {l:?}");
            Expected { kind: f[0].into(), file: f[1].into(), n: f[2].parse().unwrap(), sha: f[3].into() }
        })
        .collect();

    // The digest file covers exactly the caption files there are.
    let mut on_disk = Vec::new();
    for ds in fs::read_dir(shared.join("data")).unwrap() {
        let ds = ds.unwrap().path();
        if !ds.file_name().unwrap().to_string_lossy().ends_with("_precomp") {
            continue;
        }
        for f in fs::read_dir(&ds).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if name.contains("caps") && name.ends_with(".txt") {
                on_disk.push(format!("{}/{name}", ds.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = expected.iter().filter(|e| e.kind == "file").map(|e| e.file.clone()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "caption files changed: rerun scripts/nltk_oracle.py");

    let mut failures = Vec::new();
    let mut total = 0;
    for file in &listed {
        let lines = caption_lines(&shared.join("data").join(file));
        let got: Vec<String> = lines.iter().map(|l| tokens_joined(l)).collect();
        total += got.len();
        for e in expected.iter().filter(|e| &e.file == file) {
            let (what, slice) = match e.kind.as_str() {
                "file" => {
                    assert_eq!(got.len(), e.n, "{file}: line count");
                    ("whole file".to_string(), &got[..])
                }
                "block" => (format!("lines {}..", e.n), &got[e.n..(e.n + 1000).min(got.len())]),
                k => panic!("bad digest kind {k}"),
            };
            if sha256_hex(slice) != e.sha {
                failures.push(format!("{file}: {what}"));
            }
        }
    }
    assert!(failures.is_empty(), "tokens differ from NLTK 3.9.4 in: {failures:#?}");
    assert_eq!(total, 148_915);
}

/// Each quirk in the spec, with NLTK 3.9.4's answer (pipeline: strip, ASCII-lowercase,
/// `word_tokenize`, drop punctuation).
#[test]
fn quirks_match_nltk() {
    let cases: &[(&str, &[&str])] = &[
        ("The truck's work was scattered.", &["the", "truck", "'s", "work", "was", "scattered"]),
        ("you can't see more space.", &["you", "ca", "n't", "see", "more", "space"]),
        ("Don't play on the playground.", &["do", "n't", "play", "on", "the", "playground"]),
        ("a road that cannot pass", &["a", "road", "that", "can", "not", "pass"]),
        ("We're here, an SUV.", &["we", "'re", "here", "an", "suv"]),
        // Punkt: `mr` is a known abbreviation; `3.` before a word seen lower-case is no boundary.
        ("Mr. Sima saw the house", &["mr.", "sima", "saw", "the", "house"]),
        ("there are 3. the rest are white", &["there", "are", "3.", "the", "rest", "are", "white"]),
        ("a house.the road", &["a", "house.the", "road"]),
        ("the river. there was a building.", &["the", "river", "there", "was", "a", "building"]),
        ("marked with \"eagles\" here", &["marked", "with", "``", "eagles", "''", "here"]),
        ("1,000 trees,grass and 2,3", &["1,000", "trees", "grass", "and", "2,3"]),
        ("in good order (2).", &["in", "good", "order", "2"]),
        ("in good order(2).", &["in", "good", "order", "2"]),
        ("a 'b' in the center", &["a", "'", "b", "'", "in", "the", "center"]),
        ("marked with 'gonzaga' and 'eagles' .", &["marked", "with", "'gonzaga", "'", "and", "'eagles", "'"]),
        ("at the water’s edge .", &["at", "the", "water", "’", "s", "edge"]),
        (
            "a y-shaped road in the high - rise district, such as P + Q.",
            &["a", "y-shaped", "road", "in", "the", "high", "-", "rise", "district", "such", "as", "p", "+", "q"],
        ),
        ("It has 4% of the playground and p#q", &["it", "has", "4", "of", "the", "playground", "and", "p", "q"]),
        ("  Many ÉCOLE Planes\t", &["many", "École", "planes"]),
        ("wow!!! is it? yes.", &["wow", "is", "it", "yes"]),
        ("It's [a] *b* @c $d & e; f: g", &["it", "'s", "a", "b", "c", "d", "e", "f", "g"]),
    ];
    for (caption, want) in cases {
        assert_eq!(tokenize(caption), *want, "{caption:?}");
    }
    for empty in ["", "   ", ".", " . ", "\t.\r\n"] {
        assert!(tokenize(empty).is_empty(), "{empty:?}");
    }
    // word_tokenize itself keeps punctuation and case.
    assert_eq!(word_tokenize("Hi, it's 3.5 (ok)."), ["Hi", ",", "it", "'s", "3.5", "(", "ok", ")", "."]);
}
