//! Indexes written by earlier format versions must keep opening. One fixture per version,
//! written once by `cargo run -p swan-indexer --example write_compat_fixture` and committed;
//! no test writes them.

use std::path::PathBuf;

use swan_indexer::{Index, LoadOptions, Precision, SearchParams, SynthSpec, CURRENT_VERSION, OLDEST_READABLE_VERSION};

/// The data of every fixture (as in `examples/write_compat_fixture.rs`).
const SPEC: SynthSpec = SynthSpec { rows: 400, queries: 8, dim: 16, centres: 4, noise: 0.9, seed: 21 };

fn fixture(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

fn open(version: u32) -> Index {
    let dir = fixture(version);
    let options = LoadOptions { source: Some(dir.join("base.npy")), ..LoadOptions::default() };
    Index::load(&dir.join("index"), &options).unwrap_or_else(|e| panic!("format v{version} fixture: {e}"))
}

fn opens_and_answers(version: u32) {
    let index = open(version);
    assert_eq!(index.params().precision, Precision::Int8);
    assert_eq!(index.stats().shards, 2);
    assert_eq!(index.stats().nodes, SPEC.rows - 1);
    let rows = SPEC.rows_f32(0..SPEC.rows, false);
    for row in [0usize, 7, 399] {
        let hits = index.search(&rows[row * 16..(row + 1) * 16], 5, &SearchParams { ef: 32, rerank: 2 }).unwrap();
        assert_eq!(hits[0].id as usize, row, "v{version}");
    }
    // Row 5 was marked invalid when the fixture was built.
    let hits = index.search(&rows[5 * 16..6 * 16], 5, &SearchParams::default()).unwrap();
    assert!(hits.iter().all(|h| h.id != 5), "v{version}");
}

#[test]
fn v1_index_opens_and_answers() {
    opens_and_answers(1);
}

#[test]
fn v2_index_opens_and_answers() {
    opens_and_answers(2);
}

#[test]
fn every_readable_version_has_a_fixture() {
    for version in OLDEST_READABLE_VERSION..=CURRENT_VERSION {
        assert!(
            fixture(version).join("index/index.json").is_file(),
            "no fixture for format v{version}: run the write_compat_fixture example"
        );
    }
}

/// Version 2 files end in `crc32 (u64 LE) | "SWANEND1"`, the CRC-32 (zlib's) of every byte
/// before those 16, and `index.json` lists it as 8 hex digits: checkable by hand.
#[test]
fn v2_files_carry_a_plain_crc32() {
    let dir = fixture(2).join("index");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut checked = 0;
    for shard in manifest["shards"].as_array().unwrap() {
        for (file, sum) in [("graph", "graph_checksum"), ("vectors", "vectors_checksum")] {
            let bytes = std::fs::read(dir.join(shard[file].as_str().unwrap())).unwrap();
            let (body, footer) = bytes.split_at(bytes.len() - 16);
            let crc = crc32fast::hash(body);
            assert_eq!(footer[..8], (crc as u64).to_le_bytes());
            assert_eq!(&footer[8..], b"SWANEND1");
            assert_eq!(shard[sum].as_str().unwrap(), format!("{crc:08x}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}
