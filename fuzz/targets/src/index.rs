//! Index folders: `index.json` and the binary graph and vector shard files, opened through
//! the indexer's public load path over a copy of the newest committed compat fixture
//! (`indexer/tests/fixtures/vN`).

use std::path::{Path, PathBuf};

use swan_indexer::{Index, LoadOptions, SearchParams};

use crate::scratch;

/// The compat fixtures, `indexer/tests/fixtures/vN`, oldest first.
pub fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../indexer/tests/fixtures");
    let version = |p: &Path| p.file_name()?.to_str()?.strip_prefix('v')?.parse::<u32>().ok();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("harness: {}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| version(p).is_some())
        .collect();
    dirs.sort_by_key(|p| version(p));
    assert!(!dirs.is_empty(), "harness: no vN fixture in {}", root.display());
    dirs
}

/// Run `f` on this thread's copy of the fixtures (the `index/` folders of every version in
/// one folder, their shard files having distinct names, beside the rows they share) with
/// `index/{name}` replaced by `data`; the original is put back afterwards.
fn with_replaced(name: &str, data: &[u8], f: impl FnOnce(&Path)) {
    let dir = scratch::dir().join("index-fixture");
    let index = dir.join("index");
    let fixtures = fixtures();
    let newest = fixtures.last().expect("a fixture");
    if !dir.exists() {
        for from in &fixtures {
            copy_tree(&from.join("index"), &index);
        }
        copy_tree(&newest.join("base.npy"), &dir.join("base.npy"));
    }
    let original = fixtures.iter().rev().map(|f| f.join("index").join(name)).find(|p| p.exists());
    scratch::write(&index.join(name), data);
    f(&dir);
    match original {
        Some(original) => copy_tree(&original, &index.join(name)),
        None => std::fs::remove_file(index.join(name)).unwrap_or_else(|e| panic!("harness: {name}: {e}")),
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("harness: {}: {e}", from.display())).flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        scratch::write(to, &std::fs::read(from).unwrap_or_else(|e| panic!("harness: {}: {e}", from.display())));
    }
}

/// Open the index folder of `dir` over `dir/base.npy`; search it where it opens.
fn load_and_search(dir: &Path) {
    let options = LoadOptions { source: Some(dir.join("base.npy")), skip_source_digest: true };
    let Ok(index) = Index::load(&dir.join("index"), &options) else { return };
    let stats = index.stats();
    let query = vec![0.25f32; index.dim()];
    for k in [1, 10] {
        let hits = index.search(&query, k, &SearchParams { ef: 16, rerank: 2 }).expect("a loaded index answers");
        assert!(hits.len() <= k.min(stats.nodes), "at most k hits");
        let exact = index.search_exact(&query, k).expect("a loaded index answers exactly");
        assert!(exact.len() <= k.min(stats.nodes), "at most k exact hits");
    }
}

/// Bytes as `index.json`, beside the fixture's shard files.
pub fn index_json(data: &[u8]) {
    with_replaced(swan_indexer::INDEX_FILE, data, load_and_search);
}
