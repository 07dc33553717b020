//! Choosing the search beam for a target recall (`swan index build --target-recall R`).
//!
//! Recall@k of an HNSW index at a given `ef` depends on the data, the size and `M`, so no
//! fixed default holds at every scale (swan's clustered synthetic data: 0.99 at ef 128
//! with 100,000 rows, 0.61 at 2,000,000). Instead the build measures it: a sample of
//! queries is answered exactly (a blocked scan of every indexed row) and through the
//! index at growing `ef` (doubling from `k`, then bisection), and the smallest `ef` whose
//! recall reaches the target is recorded in `index.json`, where searches pick it up.
//!
//! The sample is either queries the caller gives (the best choice: text queries against
//! image rows do not look like the rows), or held-out rows: evenly spaced indexed rows,
//! each searched with itself left out of both the exact and the approximate answer
//! (leave-one-out: a row finds itself trivially, which would overstate recall).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::distance::Kernels;
use crate::error::{Error, Result};
use crate::index::{Hit, Index, SearchParams};
use crate::rows::RowData;

/// What to tune for.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneSpec {
    /// Recall@k to reach, in (0, 1].
    pub target: f64,
    /// The k of recall@k.
    pub k: usize,
    /// At most this many sample queries (held-out rows, or the first of the given queries).
    pub queries: usize,
    /// Largest `ef` tried before giving up.
    pub max_ef: usize,
    /// Re-rank factor the searches use.
    pub rerank: usize,
    /// When even `max_ef` falls short of the target, record `max_ef` (and the recall it
    /// reaches) instead of failing: `swan index build` tunes every index this way unless
    /// told a target, so that the default never fails a build that took an hour, and says
    /// what the recall is instead.
    pub best_effort: bool,
}

impl Default for TuneSpec {
    fn default() -> Self {
        TuneSpec { target: 0.95, k: 10, queries: 1000, max_ef: 4096, rerank: SearchParams::default().rerank, best_effort: false }
    }
}

/// The measured choice, recorded in `index.json` (`"search"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The smallest `ef` found whose recall reaches the target: searches use it unless
    /// given another.
    pub ef: usize,
    /// Re-rank factor it was measured with.
    pub rerank: usize,
    /// Recall@k measured at `ef`.
    pub recall: f64,
    /// The target.
    pub target_recall: f64,
    /// The k of recall@k.
    pub k: usize,
    /// Sample queries measured.
    pub queries: usize,
    /// `"held-out rows"` or `"queries"` (given by the caller).
    pub sample: String,
    /// Every `(ef, recall)` measured, in order.
    pub tried: Vec<(usize, f64)>,
}

impl Tuning {
    /// Whether the recorded `ef` reaches the target (a best-effort tuning may not).
    pub fn reached(&self) -> bool {
        self.recall >= self.target_recall
    }
}

/// The best `want` hits of each query among `ids` (ties by id), leaving out `skip[q]`.
pub(crate) fn exact_topk(
    rows: RowData<'_>,
    dim: usize,
    k: &Kernels,
    ids: &[u32],
    queries: &[f32],
    skip: &[Option<u32>],
    want: usize,
) -> Vec<Vec<Hit>> {
    let nq = queries.len() / dim;
    // Rows in tiles that stay in L2, each scored against four queries at a time.
    const TILE: usize = 256;
    let empty = || vec![Vec::with_capacity(want + 1); nq];
    let merge = |mut a: Vec<Vec<Hit>>, b: Vec<Vec<Hit>>| {
        for (x, y) in a.iter_mut().zip(b) {
            x.extend(y);
            x.sort_unstable_by(Hit::order);
            x.truncate(want);
        }
        a
    };
    ids.par_chunks(TILE * 16)
        .fold(empty, |mut best, chunk| {
            for tile in chunk.chunks(TILE) {
                for q0 in (0..nq).step_by(4) {
                    let qs: [&[f32]; 4] = std::array::from_fn(|i| {
                        let q = (q0 + i).min(nq - 1);
                        &queries[q * dim..(q + 1) * dim]
                    });
                    for &r in tile {
                        let row = r as usize * dim..(r as usize + 1) * dim;
                        let s = match rows {
                            RowData::F32(d) => (k.dot4_f32)(&qs, &d[row]),
                            RowData::F16(d) => (k.dot4_f16)(&qs, &d[row]),
                        };
                        for (i, &score) in s.iter().enumerate().take(nq - q0) {
                            let q = q0 + i;
                            if skip[q] == Some(r) {
                                continue;
                            }
                            let list = &mut best[q];
                            let hit = Hit { id: r, score };
                            if list.len() < want {
                                list.push(hit);
                            } else if Hit::order(&hit, list.last().expect("want >= 1")).is_lt() {
                                *list.last_mut().expect("want >= 1") = hit;
                            } else {
                                continue;
                            }
                            // Keep the list sorted, best first: one insertion step.
                            let mut j = list.len() - 1;
                            while j > 0 && Hit::order(&list[j], &list[j - 1]).is_lt() {
                                list.swap(j, j - 1);
                                j -= 1;
                            }
                        }
                    }
                }
            }
            best
        })
        .reduce(empty, merge)
}

impl Index {
    /// Find the smallest `ef` whose recall@k on a sample reaches `spec.target` and record
    /// it (saved with the index; searches whose `ef` is 0 use it). `queries` (row-major,
    /// `dim` values each) are the sample; without them, held-out rows are (see the module
    /// docs). Fails, recording nothing, when even `spec.max_ef` falls short, unless
    /// `spec.best_effort` (then `max_ef` is recorded with the recall it reaches, below the
    /// target: check [`Tuning::reached`]).
    pub fn tune(&mut self, spec: &TuneSpec, queries: Option<&[f32]>) -> Result<Tuning> {
        if !(spec.target > 0.0 && spec.target <= 1.0) || spec.k == 0 || spec.queries == 0 || spec.max_ef == 0 {
            return Err(Error::Invalid(format!(
                "need a target recall in (0, 1], k >= 1, at least one sample query and max ef >= 1 (got target {}, k {}, {} queries, max ef {})",
                spec.target, spec.k, spec.queries, spec.max_ef
            )));
        }
        let dim = self.dim();
        let rows = self.source_data()?;
        let ids: Vec<u32> = self.rows().collect();
        let (sample, skip, what): (Vec<f32>, Vec<Option<u32>>, &str) = match queries {
            Some(q) => {
                if q.is_empty() || q.len() % dim != 0 {
                    return Err(Error::Invalid(format!("tuning queries hold {} values, not a whole number of {dim}-d rows", q.len())));
                }
                let n = (q.len() / dim).min(spec.queries);
                let q = &q[..n * dim];
                if let Some(i) = q.iter().position(|v| !v.is_finite()) {
                    return Err(Error::Invalid(format!("tuning query {} holds a non-finite value ({})", i / dim, q[i])));
                }
                (q.to_vec(), vec![None; n], "queries")
            }
            None => {
                // Leave-one-out needs k other rows.
                if ids.len() <= spec.k {
                    return Err(Error::Invalid(format!(
                        "{} indexed rows are too few to measure recall@{} on held-out rows",
                        ids.len(),
                        spec.k
                    )));
                }
                let n = spec.queries.min(ids.len());
                let picked: Vec<u32> = (0..n).map(|i| ids[i * ids.len() / n]).collect();
                let mut out = vec![0f32; n * dim];
                for (o, &r) in out.chunks_exact_mut(dim).zip(&picked) {
                    rows.row_into(dim, r as usize, o);
                }
                (out, picked.into_iter().map(Some).collect(), "held-out rows")
            }
        };
        let n = skip.len();
        let want = spec.k;
        // Held-out rows are searched for one more hit: the row itself, dropped.
        let extra = usize::from(queries.is_none());
        let exact = exact_topk(rows, dim, self.kernels(), &ids, &sample, &skip, want);
        let recall_at = |ef: usize| -> Result<f64> {
            let params = SearchParams { ef: ef.max(want + extra), rerank: spec.rerank };
            let found = (0..n)
                .into_par_iter()
                .map_init(
                    || self.searcher(),
                    |s, qi| -> Result<usize> {
                        let hits = s.search(&sample[qi * dim..(qi + 1) * dim], want + extra, &params)?;
                        let got = hits.iter().filter(|h| Some(h.id) != skip[qi]).take(want);
                        Ok(got.filter(|h| exact[qi].iter().any(|e| e.id == h.id)).count())
                    },
                )
                .try_reduce(|| 0, |a, b| Ok(a + b))?;
            let total: usize = exact.iter().map(Vec::len).sum();
            Ok(found as f64 / total.max(1) as f64)
        };
        let mut tried: Vec<(usize, f64)> = Vec::new();
        let mut measure = |ef: usize| -> Result<f64> {
            let r = recall_at(ef)?;
            tried.push((ef, r));
            Ok(r)
        };
        // Doubling from k (a smaller beam is searched as k) until the target is met;
        // then `lo` fails and `hi` meets it.
        let mut hi = spec.k.min(spec.max_ef);
        let mut lo = hi - 1;
        let mut hi_recall = measure(hi)?;
        while hi_recall < spec.target {
            if hi >= spec.max_ef {
                if spec.best_effort {
                    lo = hi;
                    break;
                }
                let best = tried.iter().map(|t| t.1).fold(0.0, f64::max);
                return Err(Error::Invalid(format!(
                    "recall@{} reaches only {best:.3} at ef {hi} (the largest tried), below the target {}: rebuild with a larger M (this index has M {}), more --shards, or a larger --max-ef",
                    spec.k, spec.target, self.params().m
                )));
            }
            lo = hi;
            hi = (hi * 2).min(spec.max_ef);
            hi_recall = measure(hi)?;
        }
        // Bisection, to within 1/32 of the answer (finer is below the sample's noise).
        while hi - lo > (hi / 32).max(1) {
            let mid = lo + (hi - lo) / 2;
            let r = measure(mid)?;
            if r >= spec.target {
                (hi, hi_recall) = (mid, r);
            } else {
                lo = mid;
            }
        }
        let tuning = Tuning {
            ef: hi,
            rerank: spec.rerank,
            recall: hi_recall,
            target_recall: spec.target,
            k: spec.k,
            queries: n,
            sample: what.into(),
            tried,
        };
        self.set_tuning(Some(tuning.clone()));
        Ok(tuning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BuildParams, LoadOptions, Precision, Source, SynthSpec};

    const SPEC: SynthSpec = SynthSpec { rows: 2500, queries: 100, dim: 32, centres: 16, noise: 1.2, seed: 21 };

    fn build(dir: &std::path::Path, m: usize) -> Index {
        let files = SPEC.write(dir).unwrap();
        let p = BuildParams { m, ef_construction: 40, precision: Precision::Int8, threads: 1, ..BuildParams::default() };
        Index::build(&Source::npy(&files.base), &p, &|_, _| {}).unwrap()
    }

    /// Recall@k of `index` at `ef` on `queries`, against a brute-force scan.
    fn recall(index: &Index, queries: &[f32], k: usize, ef: usize) -> f64 {
        let mut hit = 0;
        for q in queries.chunks(index.dim()) {
            let exact = index.search_exact(q, k).unwrap();
            let got = index.search(q, k, &SearchParams { ef, rerank: 4 }).unwrap();
            hit += got.iter().filter(|g| exact.iter().any(|e| e.id == g.id)).count();
        }
        hit as f64 / (k * queries.len() / index.dim()) as f64
    }

    #[test]
    fn exact_topk_matches_a_scan_and_leaves_out_the_skipped_row() {
        let dir = tempfile::tempdir().unwrap();
        let index = build(dir.path(), 8);
        let rows = SPEC.rows_f32(0..SPEC.rows, false);
        let q = SPEC.rows_f32(0..7, true);
        let ids: Vec<u32> = index.rows().collect();
        let skip: Vec<Option<u32>> = (0..7).map(|i| (i % 2 == 0).then_some(i as u32 * 100)).collect();
        let got = exact_topk(RowData::F32(&rows), 32, index.kernels(), &ids, &q, &skip, 10);
        for (qi, hits) in got.iter().enumerate() {
            let mut want: Vec<Hit> = index.search_exact(&q[qi * 32..][..32], SPEC.rows).unwrap();
            want.retain(|h| Some(h.id) != skip[qi]);
            want.truncate(10);
            assert_eq!(hits, &want, "query {qi}");
        }
    }

    #[test]
    fn target_recall_records_the_smallest_ef_that_reaches_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = build(dir.path(), 6);
        let queries = SPEC.rows_f32(0..SPEC.queries, true);
        let spec = TuneSpec { target: 0.97, queries: 100, ..TuneSpec::default() };
        let t = index.tune(&spec, Some(&queries)).unwrap();
        assert_eq!((t.queries, t.sample.as_str(), t.k), (100, "queries", 10));
        assert!(t.recall >= 0.97 && t.tried.contains(&(t.ef, t.recall)), "{t:?}");
        // Measured again, independently, on the same queries: the target holds at the ef chosen...
        assert!(recall(&index, &queries, 10, t.ef) >= 0.97, "{t:?}");
        // ... and a clearly smaller ef misses it (the data is hard enough that k is not enough).
        let below = t.tried.iter().filter(|(ef, _)| *ef < t.ef).map(|x| x.0).max().expect("some smaller ef was tried");
        assert!(recall(&index, &queries, 10, below) < 0.97, "{t:?}");
        assert!(t.ef > 10, "{t:?}");

        // Saved with the index; a search without an ef uses it.
        let idir = dir.path().join("index");
        index.save(&idir).unwrap();
        let loaded = Index::load(&idir, &LoadOptions::default()).unwrap();
        assert_eq!((loaded.tuning(), loaded.default_ef()), (Some(&t), t.ef));
        let q = &queries[..32];
        let by_default = loaded.search(q, 10, &SearchParams::default()).unwrap();
        assert_eq!(by_default, loaded.search(q, 10, &SearchParams { ef: t.ef, rerank: 4 }).unwrap());

        // A target the first beam (k) already meets records k.
        let easy = index.tune(&TuneSpec { target: 0.3, queries: 50, ..TuneSpec::default() }, Some(&queries)).unwrap();
        assert_eq!((easy.ef, easy.tried.len()), (10, 1), "{easy:?}");

        // Held-out rows (leave-one-out) work too.
        let t = index.tune(&TuneSpec { target: 0.9, queries: 100, ..TuneSpec::default() }, None).unwrap();
        assert_eq!((t.queries, t.sample.as_str()), (100, "held-out rows"));
        assert!(t.recall >= 0.9, "{t:?}");
    }

    #[test]
    fn an_unreachable_target_is_refused_and_nothing_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = build(dir.path(), 2);
        let queries = SPEC.rows_f32(0..50, true);
        let spec = TuneSpec { target: 1.0, max_ef: 12, queries: 50, ..TuneSpec::default() };
        let e = index.tune(&spec, Some(&queries)).unwrap_err().to_string();
        assert!(e.contains("at ef 12 (the largest tried), below the target 1") && e.contains("larger M (this index has M 2)"), "{e}");
        assert!(index.tuning().is_none());
        assert_eq!(index.default_ef(), crate::DEFAULT_EF);
        for bad in [TuneSpec { target: 0.0, ..spec.clone() }, TuneSpec { target: 1.5, ..spec.clone() }, TuneSpec { k: 0, ..spec.clone() }] {
            let e = index.tune(&bad, Some(&queries)).unwrap_err().to_string();
            assert!(e.contains("need a target recall in (0, 1]"), "{e}");
        }
        let e = index.tune(&TuneSpec::default(), Some(&queries[..31])).unwrap_err().to_string();
        assert!(e.contains("not a whole number of 32-d rows"), "{e}");
    }

    #[test]
    fn a_best_effort_tuning_records_the_largest_beam_and_says_it_fell_short() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = build(dir.path(), 2);
        let queries = SPEC.rows_f32(0..50, true);
        let spec = TuneSpec { target: 1.0, max_ef: 12, queries: 50, best_effort: true, ..TuneSpec::default() };
        let t = index.tune(&spec, Some(&queries)).unwrap();
        assert_eq!(t.ef, 12);
        assert!(!t.reached() && t.recall < 1.0, "{t:?}");
        assert_eq!(t.tried.last().map(|x| x.0), Some(12), "{t:?}");
        assert_eq!(index.default_ef(), 12);
        // A reachable target is found as without best_effort.
        let t = index.tune(&TuneSpec { target: 0.2, ..spec }, Some(&queries)).unwrap();
        assert!(t.reached() && t.ef <= 12, "{t:?}");
    }
}
