//! Joining the lists of row slices into the list of the whole table.

use super::{ranks_before, Database, ListInfo, Lists, Method, TopkFile};
use crate::error::{Error, Result};

/// Merge lists of the row slices of one table, for the same queries and `k`, into the
/// list of the whole table: per query, the best `k` of all slices' results in ranking
/// order (score descending, id ascending). Where every input is exact, the result is
/// exactly the exact list of the whole table.
///
/// Refused, naming the files: lists of other queries (digest or count), another `k`,
/// another table (digest, rows), another method or other index parameters (M,
/// ef_construction, walk precision, re-rank factor), and slices that overlap or leave rows
/// of the table uncovered. The search beam `ef` may differ between slices: each slice's
/// index records the beam that reaches a target recall on its own rows
/// (`index build --target-recall`), so tuned slices differ by design. The merged list
/// records the largest, as a shard set does (`IndexSet::default_ef`); each slice's own
/// list keeps its beam.
pub fn merge(inputs: &[TopkFile]) -> Result<(Lists, ListInfo)> {
    let Some(first) = inputs.first() else { return Err(Error::Invalid("no top-k lists to merge".into())) };
    let fm = &first.manifest;
    let name = |l: &TopkFile| l.dir.display().to_string();
    for l in &inputs[1..] {
        let m = &l.manifest;
        let bad = |reason: String| Error::List { path: l.dir.clone(), reason };
        let (q, fq) = (&m.queries, &fm.queries);
        if (q.sha256.as_str(), q.count, &q.table, &q.kind) != (fq.sha256.as_str(), fq.count, &fq.table, &fq.kind) {
            return Err(bad(format!(
                "answers other queries than {}: {} {} queries (sha256 {}) vs {} {} (sha256 {})",
                name(first),
                q.count,
                q.table.as_deref().unwrap_or(&q.kind),
                short(&q.sha256),
                fq.count,
                fq.table.as_deref().unwrap_or(&fq.kind),
                short(&fq.sha256)
            )));
        }
        if m.k != fm.k {
            return Err(bad(format!("has k={} but {} has k={}: lists to merge must have the same k", m.k, name(first), fm.k)));
        }
        if !m.database.same_table(&fm.database) {
            return Err(bad(format!(
                "searched another table than {}: {} rows (sha256 {}) vs {} rows (sha256 {})",
                name(first),
                m.database.rows,
                short(&m.database.sha256),
                fm.database.rows,
                short(&fm.database.sha256)
            )));
        }
        match (&m.method, &fm.method) {
            (Method::Exact, Method::Exact) => {}
            (
                Method::Ann { m: a, ef_construction: b, precision: c, rerank: e, .. },
                Method::Ann { m: a2, ef_construction: b2, precision: c2, rerank: e2, .. },
            ) if (a, b, c, e) == (a2, b2, c2, e2) => {}
            _ => {
                return Err(bad(format!(
                    "was computed differently from {} ({} vs {}): merge lists of one method and one set of parameters",
                    name(first),
                    describe(&m.method),
                    describe(&fm.method)
                )))
            }
        }
    }

    // The slices, by where they start, must tile the table.
    let mut order: Vec<&TopkFile> = inputs.iter().collect();
    order.sort_by_key(|l| (l.manifest.database.start, l.manifest.database.end));
    let rows = fm.database.rows;
    let mut covered = 0usize;
    let mut last: Option<&TopkFile> = None;
    for l in &order {
        let db = &l.manifest.database;
        if db.start > covered {
            return Err(Error::List {
                path: l.dir.clone(),
                reason: format!(
                    "rows {covered}..{} of the table are in no list (a slice is missing{})",
                    db.start,
                    last.map(|p| format!("; {} ends at row {covered}", name(p))).unwrap_or_default()
                ),
            });
        }
        if db.start < covered {
            let other = last.expect("covered > 0 means a list came before");
            return Err(Error::List {
                path: l.dir.clone(),
                reason: format!(
                    "rows {}..{} overlap those of {} (rows {}..{}): a slice is given twice or slices of different cuts are mixed",
                    db.start,
                    db.end.min(covered),
                    name(other),
                    other.manifest.database.start,
                    other.manifest.database.end
                ),
            });
        }
        covered = db.end;
        last = Some(l);
    }
    if covered < rows {
        return Err(Error::List {
            path: last.expect("at least one list").dir.clone(),
            reason: format!("rows {covered}..{rows} of the table are in no list (a slice is missing after this one)"),
        });
    }

    let (k, nq) = (fm.k, fm.queries.count);
    let mut lists = Lists::empty(nq, k)?;
    let mut all: Vec<(f32, i64)> = Vec::with_capacity(k * inputs.len());
    for q in 0..nq {
        all.clear();
        for l in &order {
            all.extend(l.row_scores(q).iter().copied().zip(l.row_ids(q).iter().copied()));
        }
        all.sort_unstable_by(|a, b| {
            if ranks_before(a.0, a.1, b.0, b.1) {
                std::cmp::Ordering::Less
            } else if ranks_before(b.0, b.1, a.0, a.1) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        for (j, &(s, id)) in all.iter().take(k).enumerate() {
            lists.ids[q * k + j] = id;
            lists.scores[q * k + j] = s;
        }
    }
    let method = match &fm.method {
        Method::Exact => Method::Exact,
        Method::Ann { m, ef_construction, precision, rerank, .. } => Method::Ann {
            indexes: order
                .iter()
                .flat_map(|l| match &l.manifest.method {
                    Method::Ann { indexes, .. } => indexes.clone(),
                    Method::Exact => Vec::new(),
                })
                .collect(),
            m: *m,
            ef_construction: *ef_construction,
            precision: precision.clone(),
            ef: inputs
                .iter()
                .filter_map(|l| if let Method::Ann { ef, .. } = &l.manifest.method { Some(*ef) } else { None })
                .max()
                .unwrap_or(0),
            rerank: *rerank,
        },
    };
    let database = Database { slice: swan_store::RowSlice::ALL, start: 0, end: rows, ..fm.database.clone() };
    Ok((lists, ListInfo { queries: fm.queries.clone(), database, method }))
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

fn describe(m: &Method) -> String {
    match m {
        Method::Exact => "exact".into(),
        Method::Ann { m, ef_construction, precision, ef, rerank, .. } => {
            format!("ann M={m} ef_construction={ef_construction} {precision} ef={ef} rerank={rerank}")
        }
    }
}
