//! `swan index build` and `swan synth`.

use std::time::Instant;

use anyhow::bail;
use swan_embedder::pipeline::Progress;
use swan_indexer::{BuildParams, CrossModalSpec, Index, Precision, Source, SynthSpec, TuneSpec};

use crate::cli::{IndexBuildArgs, IndexCommand, SynthArgs, SynthKind, TableArg};

/// The recall@10 every build measures toward unless told a target or `--no-tune`.
const DEFAULT_TARGET_RECALL: f64 = 0.95;

pub fn run(cmd: IndexCommand) -> anyhow::Result<()> {
    match cmd {
        IndexCommand::Build(args) => build(args),
        IndexCommand::Shards { out, indexes, json } => shard_set(&out, &indexes, json),
    }
}

/// `swan index build`.
fn build(args: IndexBuildArgs) -> anyhow::Result<()> {
    let IndexBuildArgs {
        embeddings,
        table,
        npy,
        out,
        m,
        ef_construction,
        precision,
        shards,
        rows,
        threads,
        target_recall,
        no_tune,
        tune_queries,
        tune_sample,
        max_ef,
        json,
    } = args;
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
    if let Some(r) = target_recall {
        anyhow::ensure!(r > 0.0 && r <= 1.0, "--target-recall must be in (0, 1], got {r}");
    }
    anyhow::ensure!(tune_sample >= 1 && max_ef >= 1, "--tune-sample and --max-ef must be at least 1");
    // An explicit target must be reached (or the build fails); the default one is a
    // measurement: the beam that reaches 0.95, else the largest tried and a warning.
    let tune = if no_tune {
        None
    } else {
        let target = target_recall.unwrap_or(DEFAULT_TARGET_RECALL);
        Some(TuneSpec { target, queries: tune_sample, max_ef, best_effort: target_recall.is_none(), ..TuneSpec::default() })
    };
    // Read before the build, so that a bad file fails in seconds, not after it.
    let tune_queries = match (&tune_queries, &embeddings) {
        (Some(path), _) => Some((read_queries(path, &[])?, path.display().to_string())),
        // An image index of a set with captions is tuned on those captions: text queries
        // sit apart from the image rows (the modality gap), and held-out image rows would
        // overstate the recall they get.
        (None, Some(dir)) if tune.is_some() && table == TableArg::Images => {
            let manifest = swan_store::Manifest::load(dir)?;
            match manifest.captions.as_ref().filter(|t| t.rows > t.invalid.len()) {
                Some(t) => Some((read_queries(&dir.join(&t.file), &t.invalid)?, format!("the captions of {}", dir.display()))),
                None => None,
            }
        }
        _ => None,
    };

    let bars = super::progress::Bars::new(json);
    bars.begin("indexing", 0, 0);
    let start = Instant::now();
    let mut index = Index::build(&source, &params, &|done, total| bars.set(done as u64, total as u64))?;
    bars.end();
    let build_s = start.elapsed().as_secs_f64();
    // Counted once (a pass over every link list); tuning and saving change none of it.
    let stats = index.stats();
    let tuned = match tune {
        // Held-out rows need more rows than k; a default measurement skips a table that
        // small (every search then sees most of it anyway).
        Some(spec) if tune_queries.is_some() || stats.nodes > spec.k || !spec.best_effort => {
            let start = Instant::now();
            if let Some(((_, dim), from)) = &tune_queries {
                anyhow::ensure!(*dim == index.dim(), "{from}: rows have {dim} values, the index holds {}-d rows", index.dim());
            }
            let t = index.tune(&spec, tune_queries.as_ref().map(|((q, _), _)| q.as_slice()))?;
            Some((t, start.elapsed().as_secs_f64()))
        }
        _ => None,
    };
    index.save(&out)?;
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
            "out": out,
            "source": source.path(),
            "params": params,
            "build_seconds": build_s,
            "stats": stats,
            "slice": slice.to_string(),
            "rows": [range.start, range.end],
            "search": tuned.as_ref().map(|(t, _)| t),
            "tune_seconds": tuned.as_ref().map(|(_, s)| s),
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
        if let Some((t, secs)) = &tuned {
            if t.reached() {
                crate::output::message(&format!(
                    "search ef {} reaches recall@{} {:.3} (target {}) on {} {} in {secs:.1}s; recorded in the index",
                    t.ef, t.k, t.recall, t.target_recall, t.queries, t.sample
                ));
            }
        }
    }
    // Said in both output modes (on stderr): a default-tuned index that falls short.
    if let Some((t, _)) = tuned.as_ref().filter(|(t, _)| !t.reached()) {
        crate::output::message(&format!(
            "warning: recall@{} reaches only {:.3} at ef {} (the largest tried; target {}) on {} {}: searches use ef {}; \
             rebuild with a larger --m (this index has M {m}) or more --shards for better recall",
            t.k, t.recall, t.ef, t.target_recall, t.queries, t.sample, t.ef
        ));
    }
    Ok(())
}

/// Rows of a 2-d f32 or f16 `.npy` as f32, less the rows `skip`, with their width.
fn read_queries(path: &std::path::Path, skip: &[usize]) -> anyhow::Result<(Vec<f32>, usize)> {
    let file = swan_store::NpyFile::open(path)?;
    anyhow::ensure!(file.shape().len() == 2, "{}: expected a rows x dim array, found shape {:?}", path.display(), file.shape());
    let rows = swan_indexer::RowData::from_npy(&file)
        .map_err(|_| anyhow::anyhow!("{}: rows must be f32 or f16, not {}", path.display(), file.dtype()))?;
    let dim = file.dim();
    let skip: std::collections::HashSet<usize> = skip.iter().copied().collect();
    let mut values = Vec::with_capacity(file.rows() * dim);
    let mut row = vec![0f32; dim];
    for r in (0..file.rows()).filter(|r| !skip.contains(r)) {
        rows.row_into(dim, r, &mut row);
        values.extend_from_slice(&row);
    }
    Ok((values, dim))
}

pub fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let SynthArgs { kind, rows, queries, centres, noise, intrinsic_dim, gap, spread, dtype, seed, out, json } = args;
    anyhow::ensure!(rows >= 1 && centres >= 1, "--rows and --centres must be at least 1");
    let dim = swan_store::EMBED_DIM;
    let files = match kind {
        SynthKind::Clusters => {
            let spec = SynthSpec { rows, queries, dim, centres, noise: noise.unwrap_or(0.9), seed };
            spec.write_as(&out, dtype.into())?
        }
        SynthKind::Crossmodal => {
            anyhow::ensure!(intrinsic_dim >= 1 && intrinsic_dim <= dim, "--intrinsic-dim must be between 1 and {dim}");
            let noise = noise.unwrap_or(CrossModalSpec::default().noise);
            let spec = CrossModalSpec { rows, queries, dim, intrinsic_dim, centres, spread, noise, gap, seed };
            spec.write_as(&out, dtype.into())?
        }
    };
    if json {
        crate::output::json_line(
            &serde_json::json!({ "base": files.base, "queries": files.queries, "manifest": files.manifest, "rows": rows }),
        )?;
    } else {
        crate::output::message(&format!(
            "wrote {rows} x {dim} rows to {} and {queries} queries to {}",
            files.base.display(),
            files.queries.display()
        ));
    }
    Ok(())
}

/// `swan index shards --out SHARDS.json IDX...`.
fn shard_set(out: &std::path::Path, indexes: &[std::path::PathBuf], json: bool) -> anyhow::Result<()> {
    let summary = swan_indexer::write_shard_set(out, indexes)?;
    if json {
        crate::output::json_line(&serde_json::json!({ "out": out, "shards": summary.shards, "rows": summary.rows }))?;
    } else {
        crate::output::message(&format!("{} indexes cover the {} rows once: {}", summary.shards, summary.rows, out.display()));
    }
    Ok(())
}
