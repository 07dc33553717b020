//! `swan search --queries Q --out DIR`: many queries answered at once into top-k lists.
//! What the queries are and what they search is decided by `swan_searcher::toplist`
//! ([`QuerySpec`], [`Queries`], [`Target`]); this module brings the model that encodes a
//! captions file, the thread pool and the progress bar.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use swan_embedder::pipeline::Progress;
use swan_embedder::text::Vocab;
use swan_embedder::TextPadding;
use swan_searcher::toplist::{self, EncodedCaptions, ListInfo, Method, Queries, QuerySpec, Target};
use swan_store::fsutil::sha256_file;
use swan_store::{EmbeddingSet, RowSlice};

use super::Outcome;
use crate::cli::SearchArgs;

pub fn run(args: &SearchArgs, spec: &str, out: &Path) -> anyhow::Result<Outcome> {
    anyhow::ensure!(args.k >= 1, "-k must be at least 1");
    let set = EmbeddingSet::open(&args.embeddings, args.corpus.as_deref(), None)?;
    let queries = Queries::resolve(&set, &QuerySpec::parse(spec), |captions| encode(args, captions))?;
    let mut target = Target::resolve(&set, &queries, args.target.map(Into::into), args.k, args.rows.unwrap_or(RowSlice::ALL))?;

    let threads = args.model.threads.unwrap_or(0);
    anyhow::ensure!(threads >= 0, "--threads must be at least 1 (or 0 for every core)");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads as usize).build()?;
    let bars = super::progress::Bars::new(args.json);
    let nq = queries.count();
    bars.begin("queries", nq as u64, 0);
    let progress = |done: usize, total: usize| bars.set(done as u64, total as u64);
    let read = |r: std::ops::Range<usize>, out: &mut [f32]| queries.read(r, out);
    let start = Instant::now();
    let (lists, method) = match &args.index {
        None => {
            let rows = target.rows()?;
            let range = target.database.start..target.database.end;
            (pool.install(|| toplist::exact_topk(&rows, range, nq, &read, args.k, &progress))?, Method::Exact)
        }
        Some(dir) => {
            let options = swan_indexer::LoadOptions { source_if_moved: Some(target.file.path().to_owned()), ..Default::default() };
            let index = swan_indexer::IndexSet::open(dir, &options)?;
            let params = args.walk.params(args.k);
            let method = target.answer_with(dir, &index, &params, args.k)?;
            (pool.install(|| toplist::ann_topk(&index, nq, queries.dim(), &read, args.k, &params, &progress))?, method)
        }
    };
    bars.end();
    let seconds = start.elapsed().as_secs_f64();
    let file = target.file.path().to_owned();
    let info = ListInfo { queries: queries.source, database: target.database, method };
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
            file.display(),
            manifest.method.kind(),
            out.display()
        ));
    }
    Ok(Outcome::Done)
}

/// Encode a captions file's lines with `--checkpoint` and `--vocab`, each caption alone
/// (so a query's vector never depends on its batch).
fn encode(args: &SearchArgs, captions: &[&str]) -> anyhow::Result<EncodedCaptions> {
    let vocab_path = args.vocab.as_ref().context("--queries CAPTIONS.txt needs --vocab VOCAB.json and --checkpoint")?;
    let checkpoint = args.model.checkpoint.as_ref().context("--queries CAPTIONS.txt needs --checkpoint")?;
    let vocab = Vocab::load(vocab_path)?;
    let model = super::model::load(&args.model, None)?;
    let vectors = model.encode_texts(&vocab, captions, TextPadding::Alone, 64)?;
    Ok(EncodedCaptions { vectors, dim: swan_store::EMBED_DIM, model_sha256: sha256_file(checkpoint)? })
}
