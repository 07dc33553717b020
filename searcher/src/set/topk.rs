//! Retrieval metrics of an embedding set from top-k lists (`swan eval --topk`) instead of
//! the similarity matrix: memory is the lists (`queries x k`, memory-mapped) plus a few
//! values per row, whatever the size of the archive.
//!
//! A list of the set's captions against its images answers text -> image; one of its
//! images against its captions answers image -> text. The queries and rows evaluated are
//! the [`Selection`]'s, as in [`super::evaluate_set`]: list entries the selection leaves
//! out (invalid rows) are skipped, and equal scores are ordered by corpus item, so where
//! every rank lies within the lists the figures equal the full matrix's exactly.
//!
//! A rank beyond a list's `k` is unknown (censored): `R@K` for `K <= k` is still exact,
//! but `medR` and `meanR` are given only when every query's rank is known.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;
use swan_store::EmbeddingSet;

use super::Selection;
use crate::error::{Error, Result};
use crate::metrics::{scene_recall, EvalOptions, SceneRecall};
use crate::topk::f32_key;
use crate::toplist::{Method, TopkFile};

/// The metrics of one direction from one list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopkMetrics {
    /// `text->image` or `image->text`.
    pub direction: &'static str,
    /// The list's folder.
    pub list: PathBuf,
    /// Results per query in the list.
    pub k: usize,
    /// Queries evaluated (the selection's captions, or its images that have captions).
    pub queries: usize,
    /// `R@K` (percent) for each cut-off `K <= k` of 1, 5, 10 (as a map `"1"`, `"5"`, `"10"`).
    pub recall: SceneRecall,
    /// Queries whose target is not within the list: their rank is only known to be past it.
    pub censored: usize,
    /// 1-based median rank, when no rank is censored.
    pub medr: Option<f64>,
    /// 1-based mean rank, when no rank is censored.
    pub meanr: Option<f64>,
    /// Scene recall at the cut-offs `<= k`; `None` without scene labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_recall: Option<SceneRecall>,
}

/// The role of a table in a list: which table answered, which asked.
fn table_of(set: &EmbeddingSet, sha256: &str) -> Option<&'static str> {
    let digest =
        |t: &Option<(swan_store::NpyFile, swan_store::Table)>| t.as_ref().and_then(|(f, _)| swan_store::fsutil::sha256_file(f.path()).ok());
    if digest(&set.images).as_deref() == Some(sha256) {
        Some("images")
    } else if digest(&set.captions).as_deref() == Some(sha256) {
        Some("captions")
    } else {
        None
    }
}

/// Metrics of the direction `list` answers over `set` (whose corpus pairs captions with
/// images). The list's queries must be one table of the set and its rows the other
/// (checked by SHA-256), merged to the whole table.
pub fn evaluate_topk(set: &EmbeddingSet, selection: &Selection, list: &TopkFile, options: &EvalOptions) -> Result<TopkMetrics> {
    let m = &list.manifest;
    let bad = |reason: String| Error::List { path: list.dir.clone(), reason };
    let Some(caption_image) = &selection.caption_image else {
        return Err(bad(format!("{}: the set has no corpus, so no query has a right answer", set.dir.display())));
    };
    let db = table_of(set, &m.database.sha256)
        .ok_or_else(|| bad(format!("its rows are not a table of {} (SHA-256 differs from both)", set.dir.display())))?;
    let queries = (m.queries.kind == "table").then(|| table_of(set, &m.queries.sha256)).flatten();
    let t2i = match (queries, db) {
        (Some("captions"), "images") => true,
        (Some("images"), "captions") => false,
        _ => {
            return Err(bad(format!(
                "answers {} queries against {}'s {db}; evaluation needs the set's captions against its images or its images against its captions",
                m.queries.table.as_deref().unwrap_or(&m.queries.kind),
                set.dir.display()
            )))
        }
    };
    if (m.database.start, m.database.end) != (0, m.database.rows) {
        return Err(bad(format!(
            "holds rows {}..{} of {} only (slice {}): merge the slices first with `swan topk merge`",
            m.database.start, m.database.end, m.database.rows, m.database.slice
        )));
    }
    let (img, cap) = (set.images.as_ref().expect("matched"), set.captions.as_ref().expect("matched"));
    let (n_queries_table, n_rows_table) = if t2i { (cap.1.rows, img.1.rows) } else { (img.1.rows, cap.1.rows) };
    if m.queries.count != n_queries_table {
        return Err(bad(format!("has {} queries but the table has {n_queries_table} rows", m.queries.count)));
    }

    let rs: Vec<usize> = options.scene_recall_at.iter().copied().filter(|&r| r <= m.k).collect();
    let (ni, nc) = (selection.image_rows.len(), selection.caption_rows.len());
    // Position in the selection of each database row (None: not evaluated), its corpus
    // item (equal scores are ordered by it) and its scene.
    let mut pos = vec![None; n_rows_table];
    let db_rows = if t2i { &selection.image_rows } else { &selection.caption_rows };
    for (p, &r) in db_rows.iter().enumerate() {
        pos[r] = Some(p);
    }
    let items = if t2i { img.1.item_indices() } else { cap.1.item_indices() };
    let caption_scene = |c: usize| selection.scenes[caption_image[c]].as_deref();
    let scene_of_db = |p: usize| if t2i { selection.scenes[p].as_deref() } else { caption_scene(p) };
    // Queries: (position in the selection, table row, label). Images without captions
    // are no image -> text queries.
    let mut has_captions = vec![false; ni];
    caption_image.iter().for_each(|&i| has_captions[i] = true);
    let query_list: Vec<(usize, usize, Option<&str>)> = if t2i {
        (0..nc).map(|j| (j, selection.caption_rows[j], caption_scene(j))).collect()
    } else {
        (0..ni).filter(|&i| has_captions[i]).map(|i| (i, selection.image_rows[i], selection.scenes[i].as_deref())).collect()
    };
    // Whether the database entry at selection position `p` answers query `q` correctly.
    let answers = |q: usize, p: usize| if t2i { caption_image[q] == p } else { caption_image[p] == q };
    let n_candidates = if t2i { ni } else { nc };
    let w = rs.len().max(1);
    let mut ranks: Vec<Option<usize>> = Vec::with_capacity(query_list.len());
    let mut hits = vec![0u32; query_list.len() * w];
    let mut min_known = usize::MAX;
    let mut entries: Vec<(u32, usize, usize)> = Vec::with_capacity(m.k);
    for (n_q, &(q, row, label)) in query_list.iter().enumerate() {
        let (ids, scores) = (list.row_ids(row), list.row_scores(row));
        entries.clear();
        entries.extend(ids.iter().zip(scores).filter_map(|(&id, &s)| pos[id as usize].map(|p| (f32_key(s), items[id as usize], p))));
        // Equal scores by corpus item, as the full matrix orders them.
        entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let complete = ids.len() < m.k;
        if !complete {
            min_known = min_known.min(entries.len());
        }
        ranks.push(entries.iter().position(|e| answers(q, e.2)));
        if label.is_some() {
            for (x, &r) in rs.iter().enumerate() {
                let top = r.min(n_candidates);
                if !complete && entries.len() < top {
                    return Err(bad(format!(
                        "query {row}: only {} of its {} results take part in the evaluation, fewer than SR@{r} needs; search with a larger k",
                        entries.len(),
                        m.k
                    )));
                }
                hits[n_q * w + x] = entries[..top].iter().filter(|e| scene_of_db(e.2) == label).count() as u32;
            }
        }
    }
    let n = ranks.len();
    if n == 0 {
        return Err(bad("no query of the set takes part in the evaluation".into()));
    }
    let recall = SceneRecall(
        [1usize, 5, 10]
            .into_iter()
            .filter(|&cut| cut <= m.k && cut <= min_known)
            .map(|cut| (cut, 100.0 * ranks.iter().filter(|r| r.is_some_and(|r| r < cut)).count() as f64 / n as f64))
            .collect(),
    );
    let censored = ranks.iter().filter(|r| r.is_none()).count();
    let (medr, meanr) = if censored == 0 {
        let mut r: Vec<usize> = ranks.iter().map(|r| r.expect("none censored")).collect();
        let meanr = r.iter().map(|&x| x as u128).sum::<u128>() as f64 / n as f64 + 1.0;
        r.sort_unstable();
        let median_floor = if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2 };
        (Some(median_floor as f64 + 1.0), Some(meanr))
    } else {
        (None, None)
    };
    let has_labels = selection.scenes.iter().any(Option::is_some);
    let scene = if has_labels && !rs.is_empty() {
        scene_recall(&rs, &hits, w, n_candidates, query_list.iter().map(|(_, _, l)| l.is_some()))
    } else {
        None
    };
    Ok(TopkMetrics {
        direction: if t2i { "text->image" } else { "image->text" },
        list: list.dir.clone(),
        k: m.k,
        queries: n,
        recall,
        censored,
        medr,
        meanr,
        scene_recall: scene,
    })
}

/// Recall@k of `ann` against `exact`, lists of the same queries, table and `k`: the mean
/// fraction of each query's exact top k that the ANN list holds.
pub fn recall_against(ann: &TopkFile, exact: &TopkFile) -> Result<f64> {
    let (a, e) = (&ann.manifest, &exact.manifest);
    let bad = |reason: String| Error::List { path: exact.dir.clone(), reason };
    if e.method != Method::Exact {
        return Err(bad("is not an exact list (method is ann): recall is measured against exact search".into()));
    }
    if (a.queries.sha256.as_str(), a.queries.count) != (e.queries.sha256.as_str(), e.queries.count) {
        return Err(bad(format!("answers other queries than {}", ann.dir.display())));
    }
    if !a.database.same_table(&e.database) || (a.database.start, a.database.end) != (e.database.start, e.database.end) {
        return Err(bad(format!("searched other rows than {}", ann.dir.display())));
    }
    if a.k != e.k {
        return Err(bad(format!("has k={} but {} has k={}: recall@k needs lists of the same k", e.k, ann.dir.display(), a.k)));
    }
    let (mut found, mut total) = (0usize, 0usize);
    for q in 0..a.queries.count {
        let want: HashSet<i64> = exact.row_ids(q).iter().copied().collect();
        total += want.len();
        found += ann.row_ids(q).iter().filter(|id| want.contains(id)).count();
    }
    Ok(found as f64 / total.max(1) as f64)
}
