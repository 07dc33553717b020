use std::path::{Path, PathBuf};

use swan_store::RowSlice;

use super::*;
use crate::testutil::values;
use crate::Rows;

/// Rows whose values take few levels, so many scores tie exactly.
fn tied(seed: u64, n: usize) -> Vec<f32> {
    values(seed, n).into_iter().map(|v| (v * 2.0).round() / 2.0).collect()
}

fn info(db_sha: &str, rows: usize, slice: RowSlice, queries: usize, q_sha: &str) -> ListInfo {
    let r = slice.range(rows);
    ListInfo {
        queries: QuerySource {
            kind: "npy".into(),
            path: "q.npy".into(),
            table: None,
            sha256: q_sha.into(),
            count: queries,
            model_sha256: None,
        },
        database: Database {
            set: None,
            table: None,
            file: "rows.npy".into(),
            sha256: db_sha.into(),
            rows,
            slice,
            start: r.start,
            end: r.end,
        },
        method: Method::Exact,
    }
}

fn exact(data: &[f32], dim: usize, invalid: &[usize], queries: &[f32], k: usize, slice: RowSlice) -> Lists {
    let rows = Rows::f32(data, dim).unwrap().with_invalid(invalid).unwrap();
    let nq = queries.len() / dim;
    let read = |r: std::ops::Range<usize>, out: &mut [f32]| {
        out.copy_from_slice(&queries[r.start * dim..r.end * dim]);
        Ok(())
    };
    exact_topk(&rows, slice.range(rows.len()), nq, &read, k, &|_, _| {}).unwrap()
}

fn write(dir: &Path, name: &str, lists: &Lists, info: &ListInfo) -> PathBuf {
    let p = dir.join(name);
    save(&p, lists, info).unwrap();
    p
}

#[test]
fn merged_exact_slices_equal_the_exact_list_of_the_whole_table() {
    // A property over random tables, slice counts and k, with many exact ties (ties must
    // come out by id ascending, whichever slice they were found in).
    let dir = tempfile::tempdir().unwrap();
    for case in 0..40u64 {
        let p = values(900 + case, 5);
        let rows = 1 + ((p[0] + 1.0) * 60.0) as usize;
        let dim = 1 + ((p[1] + 1.0) * 4.0) as usize;
        let nq = 1 + ((p[2] + 1.0) * 8.0) as usize;
        let k = 1 + ((p[3] + 1.0) * 12.0) as usize;
        let n = 1 + ((p[4] + 1.0) * 3.5) as usize;
        let data = tied(case, rows * dim);
        let queries = tied(1000 + case, nq * dim);
        let invalid: Vec<usize> = (0..rows).filter(|r| (r * 7 + case as usize).is_multiple_of(11)).collect();
        let whole = exact(&data, dim, &invalid, &queries, k, RowSlice::ALL);
        let case_dir = dir.path().join(format!("case{case}"));
        let mut files = Vec::new();
        // Slices written in reverse order: merge must not depend on the order given.
        for i in (0..n).rev() {
            let s = RowSlice::new(i, n).unwrap();
            let l = exact(&data, dim, &invalid, &queries, k, s);
            let p = write(&case_dir, &format!("s{i}"), &l, &info("db", rows, s, nq, "q"));
            files.push(TopkFile::open(&p).unwrap());
        }
        let (merged, merged_info) = merge(&files).unwrap();
        assert_eq!(merged.ids, whole.ids, "case {case}: {rows} rows, dim {dim}, {nq} queries, k {k}, {n} slices");
        assert_eq!(
            merged.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
            whole.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!((merged_info.database.start, merged_info.database.end, merged_info.database.slice), (0, rows, RowSlice::ALL));
        // The unsharded list is in ranking order with ties by id, as the brute-force oracle.
        for q in 0..nq {
            let qv = &queries[q * dim..(q + 1) * dim];
            let mut all: Vec<(f32, i64)> = (0..rows)
                .filter(|r| !invalid.contains(r))
                .map(|r| (data[r * dim..(r + 1) * dim].iter().zip(qv).map(|(a, b)| a * b).sum::<f32>() + 0.0, r as i64))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<i64> = all.iter().map(|x| x.1).chain(std::iter::repeat(-1)).take(k).collect();
            // Integer-and-half values: the sums are exact, so the oracle's order is the true one
            // (`+ 0.0`: -0.0 and 0.0 tie, as in exact search).
            assert_eq!(&whole.ids[q * k..(q + 1) * k], &want[..], "case {case} query {q}");
        }
    }
}

#[test]
fn lists_that_do_not_fit_together_are_refused_naming_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (rows, dim, nq, k) = (30, 4, 3, 5);
    let data = tied(1, rows * dim);
    let queries = tied(2, nq * dim);
    let part = |s: RowSlice, k: usize| exact(&data, dim, &[], &queries, k, s);
    let s = |i, n| RowSlice::new(i, n).unwrap();
    let a = write(d, "a", &part(s(0, 3), k), &info("db", rows, s(0, 3), nq, "q"));
    let b = write(d, "b", &part(s(1, 3), k), &info("db", rows, s(1, 3), nq, "q"));
    let c = write(d, "c", &part(s(2, 3), k), &info("db", rows, s(2, 3), nq, "q"));
    let half = write(d, "half", &part(s(0, 2), k), &info("db", rows, s(0, 2), nq, "q"));
    let k3 = write(d, "k3", &part(s(1, 3), 3), &info("db", rows, s(1, 3), nq, "q"));
    let otherq = write(d, "otherq", &part(s(1, 3), k), &info("db", rows, s(1, 3), nq, "other"));
    let otherdb = write(d, "otherdb", &part(s(1, 3), k), &info("elsewhere", rows, s(1, 3), nq, "q"));
    let open = |ps: &[&PathBuf]| ps.iter().map(|p| TopkFile::open(p).unwrap()).collect::<Vec<_>>();
    let err = |ps: &[&PathBuf]| merge(&open(ps)).unwrap_err().to_string();

    assert!(merge(&open(&[&a, &b, &c])).is_ok());
    let e = err(&[&a, &c]);
    assert!(e.contains("/c: rows 10..20 of the table are in no list (a slice is missing") && e.contains("/a ends at row 10"), "{e}");
    let e = err(&[&a, &b]);
    assert!(e.contains("/b: rows 20..30 of the table are in no list"), "{e}");
    let e = err(&[&b, &c]);
    assert!(e.contains("rows 0..10 of the table are in no list"), "{e}");
    let e = err(&[&a, &b, &b, &c]);
    assert!(e.contains("/b: rows 10..20 overlap those of") && e.contains("a slice is given twice"), "{e}");
    let e = err(&[&half, &b, &c]);
    assert!(e.contains("/b: rows 10..15 overlap those of") && e.contains("/half (rows 0..15)"), "{e}");
    let e = err(&[&a, &k3, &c]);
    assert!(e.contains("/k3: has k=3 but") && e.contains("/a has k=5"), "{e}");
    let e = err(&[&a, &otherq, &c]);
    assert!(e.contains("/otherq: answers other queries than") && e.contains("(sha256 other)"), "{e}");
    let e = err(&[&a, &otherdb, &c]);
    assert!(e.contains("/otherdb: searched another table than") && e.contains("sha256 elsewhere"), "{e}");
}

#[test]
fn damaged_or_foreign_list_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = tied(3, 40);
    let queries = tied(4, 8);
    let l = exact(&data, 4, &[], &queries, 3, RowSlice::ALL);
    let p = write(d, "l", &l, &info("db", 10, RowSlice::ALL, 2, "q"));
    let opened = TopkFile::open(&p).unwrap();
    assert_eq!((opened.k(), opened.queries()), (3, 2));
    assert_eq!(opened.ids(), &l.ids[..]);

    let e = TopkFile::open(d).unwrap_err().to_string();
    assert!(e.contains("no topk.json: not a top-k list folder"), "{e}");

    // Another list's ids under this manifest: the digest says so.
    let other = exact(&data, 4, &[], &tied(5, 8), 3, RowSlice::ALL);
    swan_store::npy::write_i64(&p.join(IDS_FILE), &[2, 3], &other.ids).unwrap();
    let e = TopkFile::open(&p).unwrap_err().to_string();
    assert!(e.contains("ids.npy: SHA-256 differs from the one in topk.json"), "{e}");

    // A newer version says what to do.
    write(d, "l", &l, &info("db", 10, RowSlice::ALL, 2, "q"));
    let m = p.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&m).unwrap().replace("\"version\": 1", "\"version\": 9");
    std::fs::write(&m, text).unwrap();
    let e = TopkFile::open(&p).unwrap_err().to_string();
    assert!(e.contains("format version 9 is not supported (this swan reads 1..=1); write the list again"), "{e}");

    // Ids out of ranking order, with matching digests: checked row by row.
    let mut bad = l.clone();
    bad.ids.swap(0, 1);
    bad.scores.swap(0, 1);
    write(d, "l", &bad, &info("db", 10, RowSlice::ALL, 2, "q"));
    let e = TopkFile::open(&p).unwrap_err().to_string();
    assert!(e.contains("query 0: ids") && e.contains("are not in ranking order"), "{e}");
}

#[test]
fn ann_slices_may_differ_in_beam_but_not_in_index_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (rows, dim, nq, k) = (20, 4, 3, 5);
    let data = tied(3, rows * dim);
    let queries = tied(4, nq * dim);
    let s = |i| RowSlice::new(i, 2).unwrap();
    let ann = |i: usize, ef: usize, rerank: usize| {
        let method = Method::Ann { indexes: vec![format!("index-{i}")], m: 16, ef_construction: 200, precision: "int8".into(), ef, rerank };
        let info = ListInfo { method, ..info("db", rows, s(i), nq, "q") };
        write(d, &format!("ann-{i}-{ef}-{rerank}"), &exact(&data, dim, &[], &queries, k, s(i)), &info)
    };
    // Slices tuned to a target recall on their own rows get their own beams.
    let (a, b) = (ann(0, 16, 4), ann(1, 23, 4));
    let open = |ps: &[&PathBuf]| ps.iter().map(|p| TopkFile::open(p).unwrap()).collect::<Vec<_>>();
    let (_, merged) = merge(&open(&[&a, &b])).unwrap();
    match merged.method {
        Method::Ann { ef, indexes, .. } => assert_eq!((ef, indexes), (23, vec!["index-0".to_string(), "index-1".to_string()])),
        Method::Exact => panic!("an ANN merge gave an exact list"),
    }
    // Another re-rank factor is another computation.
    let other = ann(1, 16, 8);
    let e = merge(&open(&[&a, &other])).unwrap_err().to_string();
    assert!(e.contains("was computed differently from") && e.contains("rerank=8"), "{e}");
}
