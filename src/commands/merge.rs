//! `swan merge`: join shard outputs of `swan embed --shard I/N` (see `swan_store::merge`).

use std::path::{Path, PathBuf};

use swan_embedder::pipeline::{ItemError, ItemKind};
use swan_store::merge::{merge_sets, TableKind};
use swan_store::Table;

pub fn run(out: &Path, shards: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let merged = merge_sets(out, shards, |e: &mut ItemError| {
        (if e.kind == ItemKind::Image { TableKind::Images } else { TableKind::Captions }, &mut e.row)
    })?;
    let rows = |t: &Option<Table>| t.as_ref().map(|t| t.rows).unwrap_or(0);
    let (images, captions) = (rows(&merged.manifest.images), rows(&merged.manifest.captions));
    if json {
        crate::output::json_line(
            &serde_json::json!({ "out": out, "shards": merged.shards, "images": images, "captions": captions, "errors": merged.errors }),
        )?;
    } else {
        crate::output::message(&format!(
            "merged {} shards into {}: {images} images, {captions} captions, {} errors",
            merged.shards,
            out.display(),
            merged.errors
        ));
    }
    Ok(())
}
