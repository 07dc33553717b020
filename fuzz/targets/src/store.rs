//! The store's file formats: `.npy` embedding files and `manifest.json`.

use swan_store::{EmbeddingSet, Manifest, NpyFile};

use crate::scratch;

/// Bytes as a `.npy` file: open it (header and size checks), then read it through every
/// accessor a caller uses.
pub fn npy(data: &[u8]) {
    let path = scratch::file("input.npy", data);
    let Ok(file) = NpyFile::open(&path) else { return };
    read_all(&file);
}

/// Read every row of an opened `.npy` file the ways swan's callers do.
fn read_all(file: &NpyFile) {
    let (rows, dim) = (file.rows(), file.dim());
    let _ = (file.shape(), file.dtype(), file.data_bytes());
    let _ = (file.as_f32(), file.as_f16(), file.as_f64(), file.as_i64());
    let _ = file.to_f64_vec();
    let _ = file.rows_f32(0..rows);
    let _ = file.rows_f32(rows..rows + 1); // out of range: an error, not a panic
    if rows > 0 {
        // With at least one row the header's `dim` is backed by file bytes, so a row
        // buffer is no bigger than the input.
        let mut row = vec![0f32; dim];
        for r in (0..rows).take(64) {
            let _ = file.row_into_f32(r, &mut row);
        }
        let _ = file.row_into_f32(rows, &mut row);
    }
}

/// Bytes as `manifest.json` in a folder that also holds two small tables (`images.npy`
/// 4 x 3 and `captions.npy` 20 x 3, the shapes of the seeds) and a JSON Lines corpus of
/// 4 images with 5 captions each: load the manifest, open the set as `eval` and `search` do,
/// and map the table rows to corpus items.
pub fn manifest(data: &[u8]) {
    let dir = scratch::dir().join("set");
    let corpus = dir.join("corpus.jsonl");
    if !corpus.exists() {
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("harness: {}: {e}", dir.display()));
        for (name, rows) in [("images.npy", 4), ("captions.npy", 20)] {
            let values: Vec<f32> = (0..rows * 3).map(|v| v as f32).collect();
            swan_store::npy::write_f32(&dir.join(name), &[rows, 3], &values).unwrap_or_else(|e| panic!("harness: {e}"));
        }
        let lines: String =
            (0..4).map(|i| format!("{{\"image\": \"{i}.jpg\", \"captions\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}}\n")).collect();
        scratch::write(&corpus, lines.as_bytes());
    }
    scratch::write(&dir.join(swan_store::MANIFEST_FILE), data);
    if Manifest::load(&dir).is_err() {
        return;
    }
    let Ok(set) = EmbeddingSet::open(&dir, Some(&corpus), None) else { return };
    let corpus = set.corpus().expect("a set opened with --corpus has its corpus");
    for (opened, count) in [(&set.images, corpus.images.len()), (&set.captions, corpus.captions.len())] {
        let Some((file, table)) = opened else { continue };
        read_all(file);
        let items = table.item_indices();
        assert_eq!(items.len(), file.rows(), "an opened table maps every row of its file to one item");
        assert!(items.iter().all(|&i| i < count), "an opened table maps rows to items of its corpus");
    }
}
