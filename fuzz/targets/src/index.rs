//! Index folders: `index.json` and the binary graph and vector shard files, opened through
//! the indexer's public load path over a copy of the committed compat fixtures
//! (`indexer/tests/fixtures/vN`).
//!
//! A shard file ends with a checksum of everything before it, which `index.json` lists
//! too, so almost every mutated file would stop at the checksum. The shard targets
//! therefore take a file without its footer and seal it as the indexer does (the newest
//! version's CRC-32), listing the new checksum in `index.json`: the fuzzer reaches the
//! header and body checks behind it. `sealing_reproduces_the_fixture` checks that this
//! sealing still matches the format.

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
/// each `index/{name}` of `files` replaced by its bytes; the originals are put back after.
fn with_replaced(files: &[(&str, &[u8])], f: impl FnOnce(&Path)) {
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
    for (name, data) in files {
        scratch::write(&index.join(name), data);
    }
    f(&dir);
    for (name, _) in files {
        match fixtures.iter().rev().map(|f| f.join("index").join(name)).find(|p| p.exists()) {
            Some(original) => copy_tree(&original, &index.join(name)),
            None => std::fs::remove_file(index.join(name)).unwrap_or_else(|e| panic!("harness: {name}: {e}")),
        }
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
    let options = LoadOptions { source: Some(dir.join("base.npy")), skip_source_digest: true, ..LoadOptions::default() };
    let Ok(index) = Index::load(&dir.join("index"), &options) else { return };
    let stats = index.stats();
    assert_eq!(index.rows().count(), stats.nodes, "a loaded index lists each of its rows once");
    let query = vec![0.25f32; index.dim()];
    for k in [1, 10] {
        let hits = index.search(&query, k, &SearchParams { ef: 16, rerank: 2 }).expect("a loaded index answers");
        assert!(hits.len() <= k.min(stats.nodes), "at most k hits");
    }
}

/// Bytes as `index.json`, beside the fixture's shard files.
pub fn index_json(data: &[u8]) {
    with_replaced(&[(swan_indexer::INDEX_FILE, data)], load_and_search);
}

/// The newest fixture's `index.json` and the names of its first shard's files.
fn newest_first_shard() -> (serde_json::Value, String, String) {
    let newest = fixtures().pop().expect("a fixture");
    let text = std::fs::read(newest.join("index").join(swan_indexer::INDEX_FILE)).expect("harness: the fixture's index.json");
    let json: serde_json::Value = serde_json::from_slice(&text).expect("harness: the fixture's index.json parses");
    let shard = &json["shards"][0];
    let (graph, vectors) = (shard["graph"].as_str().expect("a graph file"), shard["vectors"].as_str().expect("a vector file"));
    (json.clone(), graph.to_owned(), vectors.to_owned())
}

/// `body` (header and body of a shard file) followed by the footer the indexer writes:
/// the CRC-32 of `body` as a little-endian `u64`, then the closing magic. Returns the file
/// and the checksum as `index.json` lists it.
pub fn seal(body: &[u8]) -> (Vec<u8>, String) {
    let sum = crc32fast::hash(body);
    let mut file = body.to_vec();
    file.extend_from_slice(&u64::from(sum).to_le_bytes());
    file.extend_from_slice(b"SWANEND1");
    (file, format!("{sum:08x}"))
}

/// Load the newest fixture with its first shard's `file` (`"graph"` or `"vectors"`)
/// replaced by `body`, sealed, and listed in `index.json` with its checksum.
fn with_sealed_shard_file(file: &str, body: &[u8]) {
    let (mut json, graph, vectors) = newest_first_shard();
    let (sealed, sum) = seal(body);
    json["shards"][0][format!("{file}_checksum")] = serde_json::Value::String(sum);
    let listing = serde_json::to_vec_pretty(&json).expect("a JSON value serialises");
    let name = if file == "graph" { graph } else { vectors };
    with_replaced(&[(swan_indexer::INDEX_FILE, &listing), (&name, &sealed)], load_and_search);
}

/// Bytes as the first shard's graph file (header and body; the footer is added).
pub fn index_graph(data: &[u8]) {
    with_sealed_shard_file("graph", data);
}

/// Bytes as the first shard's vector file (header and body; the footer is added).
pub fn index_vectors(data: &[u8]) {
    with_sealed_shard_file("vectors", data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_reproduces_the_fixture() {
        let (_, graph, vectors) = newest_first_shard();
        let newest = fixtures().pop().unwrap();
        for name in [graph, vectors] {
            let file = std::fs::read(newest.join("index").join(&name)).unwrap();
            assert_eq!(seal(&file[..file.len() - 16]).0, file, "{name}: the fuzz harness seals shard files as the indexer does");
        }
    }
}
