use half::f16;

use super::*;
use crate::testutil::{pool, values};

/// The reference: score every eligible row, sort everything, keep the first `k`.
fn naive(base: &Rows<'_>, queries: &[f32], k: usize, keep: &dyn Fn(usize) -> bool) -> Vec<Vec<Hit>> {
    queries
        .chunks(base.dim())
        .map(|q| {
            let mut all: Vec<Hit> =
                (0..base.len()).filter(|&r| base.is_valid(r) && keep(r)).map(|r| Hit { id: r as u32, score: base.score(q, r) }).collect();
            all.sort_by(|a, b| f32_key(b.score).cmp(&f32_key(a.score)).then(a.id.cmp(&b.id)));
            all.truncate(k);
            all
        })
        .collect()
}

fn assert_same(got: &[Vec<Hit>], want: &[Vec<Hit>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: query count");
    for (q, (g, w)) in got.iter().zip(want).enumerate() {
        let gi: Vec<u32> = g.iter().map(|h| h.id).collect();
        let wi: Vec<u32> = w.iter().map(|h| h.id).collect();
        assert_eq!(gi, wi, "{what}: ids of query {q}");
        for (a, b) in g.iter().zip(w) {
            assert!(a.score.to_bits() == b.score.to_bits() || (a.score == 0.0 && b.score == 0.0), "{what}: query {q} score {a:?} vs {b:?}");
        }
    }
}

/// `rows x dim` values where many rows repeat earlier ones exactly (tied scores for any
/// query) and, with `small_ints`, every value is in {-2..2}, so different rows tie too.
fn base_data(rows: usize, dim: usize, small_ints: bool, seed: u64) -> Vec<f32> {
    let mut v = values(seed, rows * dim);
    if small_ints {
        v.iter_mut().for_each(|x| *x = (*x * 2.5).round());
    }
    for r in (0..rows).filter(|r| r % 7 == 3) {
        let src = r * 5 / 7; // an earlier row
        let (head, tail) = v.split_at_mut(r * dim);
        tail[..dim].copy_from_slice(&head[src * dim..(src + 1) * dim]);
    }
    v
}

#[test]
fn agrees_with_sorting_every_score_including_ties() {
    for &(rows, dim, ints) in &[(600, 37, false), (600, 16, true), (333, 512, false), (257, 9, true)] {
        let data = base_data(rows, dim, ints, rows as u64 + dim as u64);
        let base = Rows::f32(&data, dim).unwrap();
        let mut queries = values(99, 13 * dim);
        // Some queries equal base rows, one is all zeros (every score ties at 0).
        queries[..dim].copy_from_slice(&data[5 * dim..6 * dim]);
        queries[2 * dim..3 * dim].iter_mut().for_each(|x| *x = 0.0);
        if ints {
            queries.iter_mut().for_each(|x| *x = (*x * 2.5).round());
        }
        for &k in &[1, 10, 64, rows + 5] {
            let got = search(&base, &queries, k, None).unwrap();
            assert_same(&got, &naive(&base, &queries, k, &|_| true), &format!("rows={rows} dim={dim} k={k}"));
        }
    }
}

#[test]
fn f16_rows_agree_too() {
    let dim = 45;
    let data: Vec<f16> = base_data(500, dim, false, 3).iter().map(|&x| f16::from_f32(x)).collect();
    let base = Rows::f16(&data, dim).unwrap();
    assert_eq!(base.dtype(), DType::F16);
    let queries = values(5, 9 * dim);
    let got = search(&base, &queries, 12, None).unwrap();
    assert_same(&got, &naive(&base, &queries, 12, &|_| true), "f16");
}

#[test]
fn invalid_rows_and_filters_are_skipped() {
    let dim = 20;
    let data = base_data(400, dim, true, 11);
    let base = Rows::f32(&data, dim).unwrap().with_invalid(&[0, 5, 399]).unwrap();
    assert!(!base.is_valid(5) && base.is_valid(6) && !base.is_valid(400));
    let queries = values(12, 6 * dim);
    let keep = |r: usize| !r.is_multiple_of(3);
    let got = search(&base, &queries, 25, Some(&keep)).unwrap();
    assert_same(&got, &naive(&base, &queries, 25, &keep), "filtered");
    for hits in &got {
        assert!(hits.iter().all(|h| h.id % 3 != 0 && ![5, 399].contains(&h.id)));
    }
    // Nothing eligible: empty lists, one per query.
    let none = search(&base, &queries, 5, Some(&|_: usize| false)).unwrap();
    assert_eq!(none, vec![Vec::<Hit>::new(); 6]);
}

#[test]
fn results_do_not_depend_on_threads_or_segments() {
    let dim = 24;
    let rows = 3 * MIN_SEGMENT_ROWS + 17;
    let data = base_data(rows, dim, true, 21);
    let base = Rows::f32(&data, dim).unwrap();
    for nq in [1, 2, 7, 40] {
        let queries = values(nq as u64, nq * dim);
        let one = pool(1).install(|| search(&base, &queries, 15, None)).unwrap();
        let four = pool(4).install(|| search(&base, &queries, 15, None)).unwrap();
        assert_same(&four, &one, &format!("nq={nq}"));
        assert_same(&one, &naive(&base, &queries, 15, &|_| true), &format!("nq={nq} vs naive"));
    }
}

#[test]
fn kernels_give_the_same_rankings_on_exact_sums() {
    // Small integers sum exactly in f32 whatever the order, so every kernel agrees.
    let dim = 33;
    let data = base_data(300, dim, true, 8);
    let queries: Vec<f32> = values(9, 10 * dim).iter().map(|x| (x * 2.5).round()).collect();
    let fast = Rows::f32(&data, dim).unwrap();
    let slow = Rows::f32(&data, dim).unwrap().with_kernels(swan_indexer::distance::scalar_kernels());
    let a = search(&fast, &queries, 30, None).unwrap();
    let b = search(&slow, &queries, 30, None).unwrap();
    assert_same(&a, &b, "kernel choice");
}

#[test]
fn nan_scores_rank_last_deterministically() {
    let dim = 8;
    let mut data = values(4, 10 * dim);
    data[3 * dim] = f32::NAN;
    let base = Rows::f32(&data, dim).unwrap();
    let queries = values(6, dim);
    let hits = search(&base, &queries, 10, None).unwrap().remove(0);
    assert_eq!(hits.len(), 10);
    assert_eq!(hits[9].id, 3);
    assert!(hits[9].score.is_nan());
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let data = values(1, 40);
    let err = Rows::f32(&data, 0).unwrap_err();
    assert!(err.to_string().contains("dim is 0"), "{err}");
    let err = Rows::f32(&data, 7).unwrap_err();
    assert!(err.to_string().contains("whole rows of 7"), "{err}");
    let base = Rows::f32(&data, 8).unwrap();
    let err = search(&base, &data[..12], 3, None).unwrap_err();
    assert!(err.to_string().contains("12 query values"), "{err}");
    let err = base.clone().with_invalid(&[5]).unwrap_err();
    assert!(err.to_string().contains("row 5 is out of range (the array has 5 rows)"), "{err}");
    assert_eq!(search(&base, &[], 3, None).unwrap(), Vec::<Vec<Hit>>::new());
    assert_eq!(search(&base, &data[..8], 0, None).unwrap(), vec![Vec::<Hit>::new()]);
}

#[test]
fn opens_npy_files_zero_copy_and_names_them_in_errors() {
    let dir = std::env::temp_dir().join(format!("swan-searcher-exact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("base.npy");
    let data = values(2, 6 * 4);
    swan_store::npy::write_f32(&path, &[6, 4], &data).unwrap();
    let file = NpyFile::open(&path).unwrap();
    let base = Rows::from_npy(&file).unwrap();
    assert_eq!((base.len(), base.dim(), base.path()), (6, 4, Some(path.as_path())));
    let hits = search(&base, &data[8..12], 1, None).unwrap();
    assert_eq!(hits[0][0].id, 2);
    let err = base.with_invalid(&[6]).unwrap_err();
    assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");

    let flat = dir.join("flat.npy");
    swan_store::npy::write_f32(&flat, &[24], &data).unwrap();
    let file = NpyFile::open(&flat).unwrap();
    let err = Rows::from_npy(&file).unwrap_err();
    assert!(err.to_string().contains("expected a 2-d array"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn index_re_ranking_and_exact_search_score_rows_identically() {
    // Exact search and the index's re-ranking use one kernel table: on an AVX-512 host
    // they used to sum in different orders (AVX2 here, AVX-512 there).
    use swan_indexer::{BuildParams, Index, Precision, SearchParams, Source, SynthSpec};
    let dir = tempfile::tempdir().unwrap();
    let spec = SynthSpec { rows: 600, queries: 20, dim: 100, centres: 4, noise: 0.9, seed: 5 };
    let files = spec.write(dir.path()).unwrap();
    let params = BuildParams { m: 8, ef_construction: 32, precision: Precision::Int8, threads: 1, ..BuildParams::default() };
    let index = Index::build(&Source::npy(&files.base), &params, &|_, _| {}).unwrap();
    let npy = swan_store::NpyFile::open(&files.base).unwrap();
    let rows = Rows::from_npy(&npy).unwrap();
    let queries = spec.rows_f32(0..spec.queries, true);
    let exact = search(&rows, &queries, 10, None).unwrap();
    let mut compared = 0;
    for (q, want) in queries.chunks(100).zip(&exact) {
        for h in index.search(q, 10, &SearchParams { ef: 64, rerank: 4 }).unwrap() {
            assert_eq!(h.score.to_bits(), rows.score(q, h.id as usize).to_bits(), "row {} ({})", h.id, rows.kernel());
            if let Some(e) = want.iter().find(|e| e.id == h.id) {
                assert_eq!(h.score.to_bits(), e.score.to_bits());
                compared += 1;
            }
        }
    }
    assert!(compared >= 150, "{compared}");
}
