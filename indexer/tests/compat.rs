//! Indexes written by earlier format versions must keep opening. One fixture per version,
//! regenerated only by `cargo test --test compat -- --ignored write_fixture` (then commit).

use std::path::PathBuf;

use swan_indexer::{BuildParams, Index, LoadOptions, Precision, SearchParams, Source, SynthSpec, CURRENT_VERSION};

const SPEC: SynthSpec = SynthSpec { rows: 400, queries: 8, dim: 16, centres: 4, noise: 0.9, seed: 21 };

fn fixture(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

fn open(version: u32) -> Index {
    let dir = fixture(version);
    let options = LoadOptions { source: Some(dir.join("base.npy")), ..LoadOptions::default() };
    Index::load(&dir.join("index"), &options).unwrap_or_else(|e| panic!("format v{version} fixture: {e}"))
}

#[test]
fn v1_index_opens_and_answers() {
    let index = open(1);
    assert_eq!(index.params().precision, Precision::Int8);
    assert_eq!(index.stats().shards, 2);
    assert_eq!(index.stats().nodes, SPEC.rows - 1);
    let rows = SPEC.rows_f32(0..SPEC.rows, false);
    for row in [0usize, 7, 399] {
        let hits = index.search(&rows[row * 16..(row + 1) * 16], 5, &SearchParams { ef: 32, rerank: 2 }).unwrap();
        assert_eq!(hits[0].0 as usize, row);
    }
    // Row 5 was marked invalid when the fixture was built.
    let hits = index.search(&rows[5 * 16..6 * 16], 5, &SearchParams::default()).unwrap();
    assert!(hits.iter().all(|h| h.0 != 5));
}

#[test]
#[ignore = "rewrites the committed fixture of the current format version"]
fn write_fixture() {
    let dir = fixture(CURRENT_VERSION);
    let _ = std::fs::remove_dir_all(&dir);
    let files = SPEC.write(&dir).unwrap();
    let params = BuildParams { m: 4, ef_construction: 32, shards: 2, threads: 1, ..BuildParams::default() };
    let index = Index::build(&Source::npy(&files.base).skip_rows([5]), &params, &|_, _| {}).unwrap();
    index.save(&dir.join("index")).unwrap();
}
