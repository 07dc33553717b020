//! Helpers shared by the CLI tests: run the `swan` binary in a given folder.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `swan ARGS` in `cwd`.
pub fn swan(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swan")).args(args).current_dir(cwd).output().expect("run swan")
}

/// Run `swan ARGS`, which must succeed; its stdout.
pub fn ok(args: &[&str], cwd: &Path) -> String {
    let out = swan(args, cwd);
    assert!(out.status.success(), "swan {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The first line of `swan ARGS`'s stdout, as JSON.
pub fn json(args: &[&str], cwd: &Path) -> serde_json::Value {
    serde_json::from_str(ok(args, cwd).lines().next().unwrap()).unwrap()
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixture corpus's images.
pub fn fixture_images() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/images")
}

/// A JSON Lines corpus of the first `n` test images of the fixture corpus (or given
/// paths), two captions each, plus a checkpoint and a vocabulary, in `dir`.
pub fn setup(dir: &Path, images: &[PathBuf]) {
    let mut lines = String::new();
    for (i, p) in images.iter().enumerate() {
        let caps = [format!("a scene with {i} fields and a road ."), format!("many trees , some houses and water {i} .")];
        lines += &serde_json::json!({ "image": p, "captions": caps }).to_string();
        lines.push('\n');
    }
    std::fs::write(dir.join("corpus.jsonl"), lines).unwrap();
    ok(&["checkpoint", "hashinit", "--out", "ckpt.safetensors"], dir);
    ok(&["vocab", "build", "corpus.jsonl", "--min-count", "1", "--out", "vocab.json"], dir);
}

/// `n` images of the fixture corpus: `n - 1` JPEGs and a TIFF.
pub fn first_images(n: usize) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fixture_images()).unwrap().map(|e| e.unwrap().path()).collect();
    all.sort();
    // Both formats: the TIFFs sort after the JPEGs of their scene.
    let tif = all.iter().find(|p| p.extension().is_some_and(|e| e == "tif")).unwrap().clone();
    let mut pick: Vec<PathBuf> = all.into_iter().filter(|p| p.extension().is_some_and(|e| e == "jpg")).take(n - 1).collect();
    pick.push(tif);
    pick
}

/// `swan embed` of the corpus, checkpoint and vocabulary that [`setup`] writes (add `--out`).
pub const EMBED: &[&str] =
    &["embed", "--corpus", "corpus.jsonl", "--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json", "--device", "cpu"];

/// A set in `root/name` over a JSON Lines corpus `root/corpus.jsonl` holding `corpus_lines`:
/// `images.npy` and `captions.npy` from `img` and `cap` (`dim` values a row, rows in corpus
/// order) and a manifest listing `bad_images` as invalid.
pub fn write_jsonl_set(root: &Path, name: &str, corpus_lines: &str, img: &[f32], cap: &[f32], dim: usize, bad_images: &[usize]) {
    use swan_store::{CorpusRef, DType, Manifest, Producer, Table};
    let (images, captions) = (img.len() / dim, cap.len() / dim);
    std::fs::write(root.join("corpus.jsonl"), corpus_lines).unwrap();
    let set = root.join(name);
    std::fs::create_dir_all(&set).unwrap();
    swan_store::npy::write_f32(&set.join("images.npy"), &[images, dim], img).unwrap();
    swan_store::npy::write_f32(&set.join("captions.npy"), &[captions, dim], cap).unwrap();
    let producer = Producer { model: "test".into(), precision: "fp32".into(), swan_version: "0".into(), ..Producer::default() };
    let corpus = CorpusRef {
        path: CorpusRef::path_for(&root.join("corpus.jsonl"), &set),
        layout: "jsonl".into(),
        split: None,
        images,
        captions,
        sha256: None,
    };
    let mut m = Manifest::new(producer, corpus, true);
    m.images = Some(Table { invalid: bad_images.to_vec(), ..Table::identity("images.npy", DType::F32, images, dim) });
    m.captions = Some(Table::identity("captions.npy", DType::F32, captions, dim));
    m.save(&set).unwrap();
}
