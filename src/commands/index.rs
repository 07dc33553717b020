//! `swan index build` and `swan synth`.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use swan_embedder::pipeline::Progress;
use swan_indexer::{BuildParams, Index, Precision, Source};

use crate::cli::IndexCommand;

pub fn run(cmd: IndexCommand) -> anyhow::Result<()> {
    let (embeddings, table, npy, out, m, ef_construction, precision, shards, rows, threads, json) = match cmd {
        IndexCommand::Build { embeddings, table, npy, out, m, ef_construction, precision, shards, rows, threads, json } => {
            (embeddings, table, npy, out, m, ef_construction, precision, shards, rows, threads, json)
        }
        IndexCommand::Shards { out, indexes, json } => return shard_set(&out, &indexes, json),
    };
    let source = match (&embeddings, &npy) {
        (Some(dir), None) => Source::from_manifest(dir, table.into())?,
        (None, Some(path)) => Source::npy(path),
        _ => bail!("give --embeddings DIR or --npy FILE"),
    };
    let source = match rows {
        Some(slice) => source.rows(slice),
        None => source,
    };
    let precision: Precision = precision.into();
    anyhow::ensure!(m >= 2 && ef_construction >= 1 && shards >= 1, "--m must be at least 2, --ef-construction and --shards at least 1");
    let params = BuildParams { m, ef_construction, precision, shards, threads, ..BuildParams::default() };

    let bars = super::progress::Bars::new(json);
    bars.begin("indexing", 0, 0);
    let start = Instant::now();
    let index = Index::build(&source, &params, &|done, total| bars.set(done as u64, total as u64))?;
    bars.end();
    let build_s = start.elapsed().as_secs_f64();
    index.save(&out)?;
    let stats = index.stats();
    if stats.nonfinite_rows > 0 {
        crate::output::message(&format!(
            "skipped {} rows of {} that hold NaN or infinite values",
            stats.nonfinite_rows,
            source.path().display()
        ));
    }
    let (slice, range) = index.row_slice();
    if json {
        crate::output::json_line(&serde_json::json!({
            "out": out, "source": source.path(), "params": params, "build_seconds": build_s, "stats": stats,
            "slice": slice.to_string(), "rows": [range.start, range.end],
        }))?;
    } else {
        crate::output::message(&format!(
            "indexed {} rows of {} in {:.1}s ({} shard(s), M {m}, ef_construction {ef_construction}, walk {}): {}",
            stats.nodes,
            source.path().display(),
            build_s,
            stats.shards,
            precision.name(),
            out.display()
        ));
    }
    Ok(())
}

pub fn synth(rows: usize, queries: usize, centres: usize, noise: f32, seed: u64, out: &Path, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(rows >= 1 && centres >= 1, "--rows and --centres must be at least 1");
    let files = swan_indexer::generate(rows, queries, centres, noise, seed, out)?;
    if json {
        crate::output::json_line(
            &serde_json::json!({ "base": files.base, "queries": files.queries, "manifest": files.manifest, "rows": rows }),
        )?;
    } else {
        crate::output::message(&format!(
            "wrote {rows} x {} rows to {} and {queries} queries to {}",
            swan_store::EMBED_DIM,
            files.base.display(),
            files.queries.display()
        ));
    }
    Ok(())
}

/// `swan index shards --out SHARDS.json IDX...`.
fn shard_set(out: &Path, indexes: &[std::path::PathBuf], json: bool) -> anyhow::Result<()> {
    let summary = swan_indexer::write_shard_set(out, indexes)?;
    if json {
        crate::output::json_line(&serde_json::json!({ "out": out, "shards": summary.shards, "rows": summary.rows }))?;
    } else {
        crate::output::message(&format!("{} indexes cover the {} rows once: {}", summary.shards, summary.rows, out.display()));
    }
    Ok(())
}
