//! `swan search --queries Q --out DIR`: many queries answered at once into top-k lists.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use swan_embedder::pipeline::Progress;
use swan_embedder::text::Vocab;
use swan_embedder::TextPadding;
use swan_searcher::toplist::{self, Database, ListInfo, Method, QuerySource};
use swan_searcher::Rows;
use swan_store::fsutil::sha256_file;
use swan_store::{EmbeddingSet, NpyFile, RowSlice, Table};

use super::Outcome;
use crate::cli::{SearchArgs, TableArg};

/// Where the query vectors are.
enum Queries<'a> {
    /// Rows of a `.npy` (a table of the set, or a bare file).
    File(&'a NpyFile),
    /// Encoded captions.
    Vectors(Vec<f32>),
}

pub fn run(args: &SearchArgs, spec: &str, out: &Path) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k >= 1, "-k must be at least 1");
    let set = EmbeddingSet::open(&args.embeddings, args.corpus.as_deref(), None)?;
    let table_name = |t: TableArg| if t == TableArg::Images { "images" } else { "captions" };
    let set_table = |t: TableArg| -> anyhow::Result<&(NpyFile, Table)> {
        let table = if t == TableArg::Images { &set.images } else { &set.captions };
        table.as_ref().with_context(|| format!("{}: this set has no {} table", args.embeddings.display(), table_name(t)))
    };
    let bare;
    let (queries, source, default_target) = match spec {
        "captions" | "images" => {
            let t = if spec == "images" { TableArg::Images } else { TableArg::Captions };
            let (file, _) = set_table(t)?;
            let source = QuerySource {
                kind: "table".into(),
                path: args.embeddings.display().to_string(),
                table: Some(spec.into()),
                sha256: sha256_file(file.path())?,
                count: file.rows(),
                model_sha256: None,
            };
            let other = if t == TableArg::Images { TableArg::Captions } else { TableArg::Images };
            (Queries::File(file), source, other)
        }
        path if path.ends_with(".npy") => {
            bare = NpyFile::open(path)?;
            anyhow::ensure!(
                bare.shape().len() == 2,
                "{path}: query vectors must be a 2-d array (queries x dim), found shape {:?}",
                bare.shape()
            );
            let source = QuerySource {
                kind: "npy".into(),
                path: path.into(),
                table: None,
                sha256: sha256_file(bare.path())?,
                count: bare.rows(),
                model_sha256: None,
            };
            (Queries::File(&bare), source, TableArg::Images)
        }
        path => {
            let p = Path::new(path);
            swan_store::fsutil::check_input(p)?;
            let text = std::fs::read_to_string(p).with_context(|| format!("{path}: reading captions (one query a line)"))?;
            let lines: Vec<&str> = text.lines().collect();
            if let Some(n) = lines.iter().position(|l| l.trim().is_empty()) {
                bail!("{path}:{}: empty line: each line is one caption query", n + 1);
            }
            anyhow::ensure!(!lines.is_empty(), "{path}: no captions (one query a line)");
            let vocab_path = args.vocab.as_ref().context("--queries CAPTIONS.txt needs --vocab VOCAB.json and --checkpoint")?;
            let checkpoint = args.model.checkpoint.as_ref().context("--queries CAPTIONS.txt needs --checkpoint")?;
            let vocab = Vocab::load(vocab_path)?;
            let model = super::model::load(&args.model, None)?;
            // Alone: each caption encoded by itself, so a query's vector never depends on its batch.
            let v = model.encode_texts(&vocab, &lines, TextPadding::Alone, 64)?;
            let source = QuerySource {
                kind: "text".into(),
                path: path.into(),
                table: None,
                sha256: sha256_file(p)?,
                count: lines.len(),
                model_sha256: Some(sha256_file(checkpoint)?),
            };
            (Queries::Vectors(v), source, TableArg::Images)
        }
    };
    let target = args.target.unwrap_or(default_target);
    let (file, table) = set_table(target)?;
    let dim = file.dim();
    let query_dim = match &queries {
        Queries::File(f) => f.dim(),
        Queries::Vectors(_) => swan_store::EMBED_DIM,
    };
    anyhow::ensure!(query_dim == dim, "the queries have {query_dim} values each but {} rows have {dim}", file.path().display());
    let read = |r: std::ops::Range<usize>, out: &mut [f32]| -> swan_searcher::Result<()> {
        match &queries {
            Queries::File(f) => {
                for (i, q) in r.enumerate() {
                    f.row_into_f32(q, &mut out[i * dim..(i + 1) * dim])?;
                }
            }
            Queries::Vectors(v) => out.copy_from_slice(&v[r.start * dim..r.end * dim]),
        }
        Ok(())
    };
    // k beyond the table only pads every list with -1; refused before anything is allocated.
    anyhow::ensure!(args.k <= file.rows(), "-k {} is more than the {} rows of {}", args.k, file.rows(), file.path().display());
    let slice = args.rows.unwrap_or(RowSlice::ALL);
    let range = slice.range(file.rows());
    let mut database = Database {
        set: Some(args.embeddings.display().to_string()),
        table: Some(table_name(target).into()),
        file: file.path().display().to_string(),
        sha256: sha256_file(file.path())?,
        rows: file.rows(),
        slice,
        start: range.start,
        end: range.end,
    };

    let threads = args.model.threads.unwrap_or(0);
    anyhow::ensure!(threads >= 0, "--threads must be at least 1 (or 0 for every core)");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads as usize).build()?;
    let bars = super::progress::Bars::new(args.json);
    bars.begin("queries", source.count as u64, 0);
    let progress = |done: usize, total: usize| bars.set(done as u64, total as u64);
    let start = Instant::now();
    let nq = source.count;
    let (lists, method) = match &args.index {
        None => {
            let rows = Rows::from_npy(file)?.with_invalid(&table.invalid)?;
            (pool.install(|| toplist::exact_topk(&rows, range, nq, &read, args.k, &progress))?, Method::Exact)
        }
        Some(dir) => {
            let options = swan_indexer::LoadOptions { source_if_moved: Some(file.path().to_owned()), ..Default::default() };
            let index = swan_indexer::IndexSet::open(dir, &options)?;
            let source = index.first().source_path();
            anyhow::ensure!(
                super::search::same_file(source, file.path()),
                "{} indexes {}, not {} (pass --table to pick the table it was built over)",
                dir.display(),
                source.display(),
                file.path().display()
            );
            // An index of one row slice answers for its slice; a shard set for every row.
            let (slice, range) = index.row_slice();
            database.slice = slice;
            (database.start, database.end) = (range.start, range.end);
            let params = args.walk.params(args.k);
            let p = index.first().params();
            let method = Method::Ann {
                indexes: index.indexes().map(|(d, _)| d.display().to_string()).collect(),
                m: p.m,
                ef_construction: p.ef_construction,
                precision: p.precision.name().into(),
                // ef 0: the index's recorded (target-recall) beam.
                ef: if params.ef == 0 { index.default_ef().max(args.k) } else { params.ef },
                rerank: params.rerank,
            };
            (pool.install(|| toplist::ann_topk(&index, nq, dim, &read, args.k, &params, &progress))?, method)
        }
    };
    bars.end();
    let seconds = start.elapsed().as_secs_f64();
    let info = ListInfo { queries: source, database, method };
    let manifest = toplist::save(out, &lists, &info)?;
    if args.json {
        crate::output::json_line(&serde_json::json!({
            "out": out, "queries": nq, "k": args.k, "rows": [manifest.database.start, manifest.database.end],
            "slice": manifest.database.slice.to_string(), "method": manifest.method.kind(), "seconds": seconds,
        }))?;
    } else {
        crate::output::message(&format!(
            "answered {nq} queries (k {}) against rows {}..{} of {} ({}) in {seconds:.1}s: {}",
            args.k,
            manifest.database.start,
            manifest.database.end,
            file.path().display(),
            manifest.method.kind(),
            out.display()
        ));
    }
    Ok(Outcome::Done)
}
