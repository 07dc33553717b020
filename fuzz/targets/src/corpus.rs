//! The corpus readers: the line reader, the precomp caption and file-name lists, JSON Lines
//! manifests and bare image folders.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use swan_store::corpus::read_lines;
use swan_store::{Corpus, CorpusOptions, Layout};

use crate::scratch;

/// Bytes as a text file read by the line reader (captions files, `--captions-file`).
pub fn lines(data: &[u8]) {
    let path = scratch::file("lines.txt", data);
    let mut warnings = Vec::new();
    if let Ok(lines) = read_lines(&path, &mut warnings) {
        assert!(lines.iter().all(|l| !l.contains('\n')), "a line holds no line break");
    }
}

/// Bytes as a precomp corpus: `test_caps.txt` up to the first NUL byte, `test_filename.txt`
/// after it, beside an `images/` folder that holds `a.jpg` and `b/c.tif`.
pub fn precomp(data: &[u8]) {
    let (caps, names) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let root = scratch::dir().join("precomp");
    if !root.join("images/b/c.tif").exists() {
        scratch::write(&root.join("images/a.jpg"), b"");
        scratch::write(&root.join("images/b/c.tif"), b"");
    }
    scratch::write(&root.join("test_caps.txt"), caps);
    scratch::write(&root.join("test_filename.txt"), names);
    let options = CorpusOptions { layout: Some(Layout::Precomp), split: Some("test".into()), images: None };
    if let Ok(corpus) = Corpus::open(&root, &options) {
        walk(&corpus);
    }
}

/// Bytes as a JSON Lines corpus manifest beside `a.jpg`.
pub fn jsonl(data: &[u8]) {
    let dir = scratch::dir().join("jsonl");
    if !dir.join("a.jpg").exists() {
        scratch::write(&dir.join("a.jpg"), b"");
    }
    let path = dir.join("corpus.jsonl");
    scratch::write(&path, data);
    let options = CorpusOptions { layout: Some(Layout::Jsonl), ..CorpusOptions::default() };
    if let Ok(corpus) = Corpus::open(&path, &options) {
        walk(&corpus);
    }
}

/// Bytes as a folder listing: each line is a relative path (at most 16, each made relative
/// and kept inside the folder) created as an empty file; then the folder is opened with the
/// layout detected, as `swan embed --corpus DIR` does.
pub fn folder(data: &[u8]) {
    let root = scratch::empty_dir("folder");
    for line in data.split(|&b| b == b'\n').take(16) {
        let Some(rel) = inside(line) else { continue };
        let path = root.join(rel);
        // Two lines may ask for a file and a folder of the same name: keep the first.
        if path.parent().is_some_and(|p| std::fs::create_dir_all(p).is_ok()) && !path.exists() {
            let _ = std::fs::write(&path, b"");
        }
    }
    if let Ok(corpus) = Corpus::open(&root, &CorpusOptions::default()) {
        walk(&corpus);
    }
}

/// A line as a relative path of normal components (no root, `.` or `..`), if any remain.
fn inside(line: &[u8]) -> Option<PathBuf> {
    if line.contains(&0) {
        return None;
    }
    let rel: PathBuf = Path::new(OsStr::from_bytes(line))
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) if name.len() <= 200 => Some(name),
            _ => None,
        })
        .collect();
    (!rel.as_os_str().is_empty()).then_some(rel)
}

/// Use an opened corpus as the embed and eval commands do.
fn walk(corpus: &Corpus) {
    let by_image = corpus.captions_by_image();
    assert_eq!(by_image.len(), corpus.images.len());
    assert_eq!(by_image.iter().map(Vec::len).sum::<usize>(), corpus.captions.len(), "every caption belongs to one image");
    assert_eq!(corpus.caption_scenes().len(), corpus.captions.len());
    let summary = corpus.summary();
    assert_eq!((summary.images, summary.captions), (corpus.images.len(), corpus.captions.len()));
    for warning in &corpus.warnings {
        let _ = warning.to_string();
    }
}
