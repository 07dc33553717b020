//! How an index answers a set's own queries, against exact search: recall@k, the
//! direction's R@1/5/10 from the index's answers, single-thread queries/s and latency.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;
use swan_indexer::{Hit, IndexSet, SearchParams};
use swan_store::EmbeddingSet;

use super::Selection;
use crate::error::{Error, Result};
use crate::{search, Rows};

/// The ANN report of [`ann_report`].
#[derive(Clone, Debug, Serialize)]
pub struct AnnReport {
    /// The table the index holds (`images` or `captions`).
    pub table: &'static str,
    /// `text->image` (index over images) or `image->text`.
    pub direction: &'static str,
    /// Queries asked: the selection's captions (text -> image) or images.
    pub queries: usize,
    /// Results per query.
    pub k: usize,
    /// Beam width.
    pub ef: usize,
    /// Re-rank factor.
    pub rerank: usize,
    /// Mean overlap of the index's top k with exact search's top k.
    pub recall_at_k: f64,
    /// Single-thread queries per second.
    pub qps: f64,
    /// Median latency, milliseconds.
    pub latency_ms_p50: f64,
    /// 99th-percentile latency, milliseconds.
    pub latency_ms_p99: f64,
    /// R@1 of the direction, from the index's answers (percent); `None` for a set without
    /// a corpus, whose queries have no right answer.
    pub r1: Option<f64>,
    /// R@5.
    pub r5: Option<f64>,
    /// R@10.
    pub r10: Option<f64>,
}

/// Ask `index` (one index or a shard set), built over `set`'s images or captions, every query of `selection` (from
/// [`Selection::new`] on the same set) for `k` results; compare with exact search over the
/// same rows. Rows the selection leaves out are never results (the index is searched with
/// a filter if it holds any).
pub fn ann_report(set: &EmbeddingSet, selection: &Selection, index: &IndexSet, k: usize, params: &SearchParams) -> Result<AnnReport> {
    let (Some((img_file, img_table)), Some((cap_file, cap_table))) = (&set.images, &set.captions) else {
        return Err(Error::Invalid(format!("{}: needs both image and caption embeddings", set.dir.display())));
    };
    let source = index.first().source_path();
    let same = |f: &swan_store::NpyFile| swan_store::fsutil::same_file(f.path(), source);
    let over_images = if same(img_file) {
        true
    } else if same(cap_file) {
        false
    } else {
        return Err(Error::Invalid(format!("the index is over {}, which is not a table of {}", source.display(), set.dir.display())));
    };
    // Queries (rows of the other table), the rows that may answer, and each query's answers
    // (where the selection pairs captions with images).
    type Targets = Option<Vec<Vec<u32>>>;
    let (query_file, query_rows, base_file, base_rows, base_len, targets): (_, &[usize], _, &[usize], usize, Targets) = if over_images {
        let t = selection.caption_image.as_ref().map(|c| c.iter().map(|&i| vec![selection.image_rows[i] as u32]).collect());
        (cap_file, &selection.caption_rows, img_file, &selection.image_rows, img_table.rows, t)
    } else {
        let t = selection.caption_image.as_ref().map(|caption_image| {
            let mut t = vec![Vec::new(); selection.image_rows.len()];
            for (&row, &i) in selection.caption_rows.iter().zip(caption_image) {
                t[i].push(row as u32);
            }
            t
        });
        (img_file, &selection.image_rows, cap_file, &selection.caption_rows, cap_table.rows, t)
    };
    if query_rows.is_empty() {
        return Err(Error::Invalid(format!("{}: no valid queries to ask the index", set.dir.display())));
    }
    let dim = query_file.dim();
    let mut queries = vec![0f32; query_rows.len() * dim];
    for (i, &r) in query_rows.iter().enumerate() {
        query_file.row_into_f32(r, &mut queries[i * dim..(i + 1) * dim])?;
    }
    let mut answerable = vec![false; base_len];
    base_rows.iter().for_each(|&r| answerable[r] = true);
    let left_out: Vec<usize> = (0..base_len).filter(|&r| !answerable[r]).collect();
    let exact = search(&Rows::from_npy(base_file)?.with_invalid(&left_out)?, &queries, k, None)?;
    // Filter only where the index holds rows the selection leaves out: a filter costs a
    // pass over the row ids per query, which would distort the timings.
    let needs_filter = index.rows().any(|r| !answerable.get(r as usize).copied().unwrap_or(false));
    let filter = |r: u32| answerable.get(r as usize).copied().unwrap_or(false);

    let base_items = if over_images { img_table.item_indices() } else { cap_table.item_indices() };
    let before = |h: &Hit, t: &Hit| h.score > t.score || (h.score == t.score && base_items[h.id as usize] < base_items[t.id as usize]);

    let mut searcher = index.searcher();
    let mut latencies = Vec::with_capacity(query_rows.len());
    let (mut overlap, mut hits_at) = (0usize, [0usize; 3]);
    let start = Instant::now();
    for i in 0..query_rows.len() {
        let t = Instant::now();
        let q = &queries[i * dim..(i + 1) * dim];
        let found: &[Hit] = searcher.search_filtered(q, k, params, needs_filter.then_some(&filter as _))?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        let exact_ids: HashSet<u32> = exact[i].iter().map(|h| h.id).collect();
        overlap += found.iter().filter(|h| exact_ids.contains(&h.id)).count();
        let Some(target) = targets.as_ref().map(|t| &t[i]) else { continue };
        // Ties are broken by corpus item, as in the exact table, not by row.
        let rank = found.iter().filter(|h| target.contains(&h.id)).map(|t| found.iter().filter(|h| before(h, t)).count()).min();
        for (slot, cut) in hits_at.iter_mut().zip([1, 5, 10]) {
            *slot += rank.is_some_and(|r| r < cut) as usize;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let n = query_rows.len() as f64;
    Ok(AnnReport {
        table: if over_images { "images" } else { "captions" },
        direction: if over_images { "text->image" } else { "image->text" },
        queries: query_rows.len(),
        k,
        // ef 0 searched with the index's recorded beam.
        ef: if params.ef == 0 { index.default_ef() } else { params.ef }.max(k),
        rerank: params.rerank,
        recall_at_k: overlap as f64 / exact.iter().map(Vec::len).sum::<usize>().max(1) as f64,
        qps: n / secs.max(f64::MIN_POSITIVE),
        latency_ms_p50: pct(0.5),
        latency_ms_p99: pct(0.99),
        r1: targets.is_some().then(|| 100.0 * hits_at[0] as f64 / n),
        r5: targets.is_some().then(|| 100.0 * hits_at[1] as f64 / n),
        r10: targets.is_some().then(|| 100.0 * hits_at[2] as f64 / n),
    })
}
