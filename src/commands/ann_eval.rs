//! `swan eval --index`: how an index answers the set's own queries, against exact search.

use std::time::Instant;

use anyhow::{bail, Context};
use serde::Serialize;
use swan_indexer::{Index, LoadOptions};
use swan_searcher::{search, Rows};
use swan_store::NpyFile;

use crate::cli::EvalArgs;
use swan_store::EmbeddingSet;

/// Results per query.
const K: usize = 10;

#[derive(Serialize)]
pub struct AnnReport {
    pub index: String,
    /// The table the index holds (`images` or `captions`).
    pub table: &'static str,
    /// `text->image` (index over images) or `image->text`.
    pub direction: &'static str,
    pub queries: usize,
    pub k: usize,
    pub ef: usize,
    pub rerank: usize,
    /// Mean overlap of the index's top k with exact search's top k.
    pub recall_at_k: f64,
    /// Single-thread queries per second.
    pub qps: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    /// R@1/5/10 of the direction, from the index's answers.
    pub r1: f64,
    pub r5: f64,
    pub r10: f64,
}

pub fn run(dir: &std::path::Path, index_dir: &std::path::Path, args: &EvalArgs) -> anyhow::Result<AnnReport> {
    let set = EmbeddingSet::open(dir, args.corpus.as_deref(), args.images.as_deref())?;
    let index = Index::load(index_dir, &LoadOptions::default())?;
    let (Some((img_file, img_table)), Some((cap_file, cap_table))) = (&set.images, &set.captions) else {
        bail!("{}: needs both image and caption embeddings", dir.display());
    };
    let is = |f: &NpyFile| f.path().canonicalize().ok() == index.source_path().canonicalize().ok();
    let over_images = if is(img_file) {
        true
    } else if is(cap_file) {
        false
    } else {
        bail!("{} indexes {}, which is not a table of {}", index_dir.display(), index.source_path().display(), dir.display());
    };
    let image_row = img_table.rows_by_item(set.corpus.images.len());
    let caption_items = cap_table.item_indices();
    let image_items = img_table.item_indices();
    // The correct answers of each query, as rows of the indexed table.
    let (queries_file, query_invalid, base_file, base_invalid, targets): (&NpyFile, &[usize], &NpyFile, &[usize], Vec<Vec<usize>>) =
        if over_images {
            let t = caption_items.iter().map(|&c| image_row[set.corpus.captions[c].image].into_iter().collect()).collect();
            (cap_file, &[], img_file, &img_table.invalid, t)
        } else {
            let caption_row = cap_table.rows_by_item(set.corpus.captions.len());
            let by_image = set.corpus.captions_by_image();
            let t = image_items.iter().map(|&i| by_image[i].iter().filter_map(|&c| caption_row[c]).collect()).collect();
            (img_file, &img_table.invalid, cap_file, &[], t)
        };
    let dim = queries_file.dim();
    let invalid: std::collections::HashSet<usize> = query_invalid.iter().copied().collect();
    let query_rows: Vec<usize> = (0..queries_file.rows()).filter(|r| !invalid.contains(r)).collect();
    let mut queries = vec![0f32; query_rows.len() * dim];
    for (i, &r) in query_rows.iter().enumerate() {
        queries_file.row_into_f32(r, &mut queries[i * dim..(i + 1) * dim])?;
    }
    let exact = search(&Rows::from_npy(base_file)?.with_invalid(base_invalid)?, &queries, K, None)?;

    let params = args.walk.params(K);
    let mut searcher = index.searcher();
    let mut latencies = Vec::with_capacity(query_rows.len());
    let (mut overlap, mut hits_at) = (0usize, [0usize; 3]);
    let start = Instant::now();
    for (i, &q) in query_rows.iter().enumerate() {
        let t = Instant::now();
        let found = searcher.search(&queries[i * dim..(i + 1) * dim], K, &params).context("index search")?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        let exact_ids: std::collections::HashSet<u32> = exact[i].iter().map(|h| h.id).collect();
        overlap += found.iter().filter(|(id, _)| exact_ids.contains(id)).count();
        let rank = found.iter().position(|(id, _)| targets[q].contains(&(*id as usize)));
        for (slot, cut) in hits_at.iter_mut().zip([1, 5, 10]) {
            *slot += rank.is_some_and(|r| r < cut) as usize;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let n = query_rows.len().max(1) as f64;
    Ok(AnnReport {
        index: index_dir.display().to_string(),
        table: if over_images { "images" } else { "captions" },
        direction: if over_images { "text->image" } else { "image->text" },
        queries: query_rows.len(),
        k: K,
        ef: params.ef,
        rerank: params.rerank,
        recall_at_k: overlap as f64 / exact.iter().map(Vec::len).sum::<usize>().max(1) as f64,
        qps: n / secs,
        latency_ms_p50: pct(0.5),
        latency_ms_p99: pct(0.99),
        r1: 100.0 * hits_at[0] as f64 / n,
        r5: 100.0 * hits_at[1] as f64 / n,
        r10: 100.0 * hits_at[2] as f64 / n,
    })
}
