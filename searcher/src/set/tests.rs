use std::path::{Path, PathBuf};

use swan_indexer::{BuildParams, Index, IndexSet, Precision, SearchParams, SetTable, Source};
use swan_store::{CorpusRef, DType, EmbeddingSet, Manifest, Producer, Table};

use super::*;
use crate::testutil::values;

const IMAGES: usize = 12;
const PER_IMAGE: usize = 3;
const DIM: usize = 16;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Image `i`'s vector (images 3 and 4 are identical: every caption ties them) and caption
/// `c`'s (its image's plus noise).
fn image_vec(i: usize) -> Vec<f32> {
    unit(values(if i == 4 { 3 } else { i as u64 }, DIM))
}

fn caption_vec(c: usize) -> Vec<f32> {
    let img = image_vec(c / PER_IMAGE);
    unit(img.iter().zip(values(1000 + c as u64, DIM)).map(|(a, b)| a + 0.6 * b).collect())
}

/// A set of `IMAGES` images with `PER_IMAGE` captions each, stored in corpus order or not
/// (`swapped`), with the given invalid *items*.
fn write_set(root: &Path, swapped: bool, bad_images: &[usize], bad_captions: &[usize]) -> PathBuf {
    let corpus = root.join("corpus.jsonl");
    if !corpus.exists() {
        let mut lines = String::new();
        for i in 0..IMAGES {
            let caps: Vec<String> = (0..PER_IMAGE).map(|j| format!("\"caption {}\"", i * PER_IMAGE + j)).collect();
            lines += &format!("{{\"image\": \"{i}.png\", \"captions\": [{}], \"scene\": \"s{}\"}}\n", caps.join(", "), i % 3);
        }
        std::fs::write(&corpus, lines).unwrap();
    }
    let dir = root.join(if swapped { "swapped" } else { "plain" });
    std::fs::create_dir_all(&dir).unwrap();
    // Swapped: the first third of the items is stored last (so image 4 is stored before 3).
    let order = |n: usize| -> Vec<[usize; 2]> {
        if swapped {
            vec![[n / 3, n], [0, n / 3]]
        } else {
            vec![[0, n]]
        }
    };
    let table = |file: &str, n: usize, vec: &dyn Fn(usize) -> Vec<f32>, bad: &[usize]| -> Table {
        let items = order(n);
        let item_of: Vec<usize> = items.iter().flat_map(|&[a, b]| a..b).collect();
        let data: Vec<f32> = item_of.iter().flat_map(|&i| vec(i)).collect();
        swan_store::npy::write_f32(&dir.join(file), &[n, DIM], &data).unwrap();
        let invalid = bad.iter().map(|b| item_of.iter().position(|i| i == b).unwrap()).collect();
        Table { items, invalid, ..Table::identity(file, DType::F32, n, DIM) }
    };
    let images = table("images.npy", IMAGES, &image_vec, bad_images);
    let captions = table("captions.npy", IMAGES * PER_IMAGE, &caption_vec, bad_captions);
    let producer = Producer { model: "test".into(), precision: "fp32".into(), swan_version: "0".into(), ..Producer::default() };
    let corpus_ref = CorpusRef {
        path: CorpusRef::path_for(&corpus, &dir),
        layout: "jsonl".into(),
        split: None,
        images: IMAGES,
        captions: IMAGES * PER_IMAGE,
        sha256: None,
    };
    let mut m = Manifest::new(producer, corpus_ref, true);
    m.images = Some(images);
    m.captions = Some(captions);
    m.save(&dir).unwrap();
    dir
}

fn open(dir: &Path) -> EmbeddingSet {
    EmbeddingSet::open(dir, None, None).unwrap()
}

#[test]
fn metrics_do_not_depend_on_storage_order() {
    // Campaign 15: permuting the stored rows changed R@1 (ties broken by row).
    let root = tempfile::tempdir().unwrap();
    let opts = EvalOptions::default();
    let (plain, sel_plain) = evaluate_set(&open(&write_set(root.path(), false, &[], &[])), &opts).unwrap();
    let (swapped, sel_swapped) = evaluate_set(&open(&write_set(root.path(), true, &[], &[])), &opts).unwrap();
    assert_eq!(plain, swapped);
    assert_eq!(sel_plain.caption_image, sel_swapped.caption_image);
    assert_eq!(sel_swapped.image_rows[..2], [8, 9]); // item 0 is stored at row 8
                                                     // The tie between images 3 and 4 is real: one of their captions is ranked second.
    assert!(plain.t2i.r1 < 100.0 && plain.t2i.r5 == 100.0, "{plain:?}");
}

#[test]
fn invalid_images_their_captions_and_invalid_captions_take_no_part() {
    // Campaign 15: eval ignored captions.invalid while search honoured it.
    let root = tempfile::tempdir().unwrap();
    let set = open(&write_set(root.path(), true, &[2], &[0, 10]));
    let (m, sel) = evaluate_set(&set, &EvalOptions::default()).unwrap();
    assert_eq!((m.n_images, m.n_captions), (IMAGES - 1, IMAGES * PER_IMAGE - 3 - 2));
    assert_eq!((sel.excluded_images, sel.excluded_captions), (1, 5));
    let item_of_caption: Vec<usize> = set.captions.as_ref().unwrap().1.item_indices();
    let kept: Vec<usize> = sel.caption_rows.iter().map(|&r| item_of_caption[r]).collect();
    assert!(kept.windows(2).all(|w| w[0] < w[1]), "corpus order: {kept:?}");
    assert!([0, 10, 6, 7, 8].iter().all(|c| !kept.contains(c)));
}

fn index_over(set_dir: &Path, table: SetTable, precision: Precision) -> IndexSet {
    let params = BuildParams { m: 4, ef_construction: 32, precision, threads: 1, ..BuildParams::default() };
    let idx = Index::build(&Source::from_manifest(set_dir, table).unwrap(), &params, &|_, _| {}).unwrap();
    idx.save(&set_dir.join("index")).unwrap();
    IndexSet::open(&set_dir.join("index"), &Default::default()).unwrap()
}

#[test]
fn ann_queries_are_the_exact_tables_queries() {
    // Campaign 14: with invalid images, eval --index asked the captions of excluded images too
    // (240 queries instead of 225), so its text->image R@K disagreed with the exact table.
    let root = tempfile::tempdir().unwrap();
    let dir = write_set(root.path(), true, &[2, 9], &[4]);
    let set = open(&dir);
    let (m, sel) = evaluate_set(&set, &EvalOptions::default()).unwrap();
    let wide = SearchParams { ef: 64, rerank: 8 };
    let index = index_over(&dir, SetTable::Images, Precision::Full);
    let r = ann_report(&set, &sel, &index, 10, &wide).unwrap();
    assert_eq!((r.direction, r.queries), ("text->image", IMAGES * PER_IMAGE - 6 - 1));
    assert_eq!(r.recall_at_k, 1.0);
    assert_eq!((r.r1, r.r5, r.r10), (Some(m.t2i.r1), Some(m.t2i.r5), Some(m.t2i.r10)));

    // Over captions: the images are the queries, and the captions of invalid images
    // (which the index holds: only captions.invalid is skipped at build) never answer.
    let index = index_over(&dir, SetTable::Captions, Precision::Full);
    let r = ann_report(&set, &sel, &index, 10, &wide).unwrap();
    assert_eq!((r.direction, r.queries, r.recall_at_k), ("image->text", IMAGES - 2, 1.0));
    assert_eq!((r.r1, r.r5, r.r10), (Some(m.i2t.r1), Some(m.i2t.r5), Some(m.i2t.r10)));
}

#[test]
fn a_set_without_a_corpus_has_an_ann_report_but_no_retrieval_metrics() {
    // Campaign 19: a set made by `swan synth` or `swan encode --out` could not be opened
    // ("synthetic: no such file or folder"); its index can be measured against exact search,
    // but without a corpus no caption has a right image.
    let root = tempfile::tempdir().unwrap();
    let dir = write_set(root.path(), true, &[2], &[4]);
    let mut m = Manifest::load(&dir).unwrap();
    (m.corpus.path, m.corpus.layout) = ("synthetic".into(), "folder".into());
    m.save(&dir).unwrap();
    let set = open(&dir);
    let e = evaluate_set(&set, &EvalOptions::default()).unwrap_err().to_string();
    assert!(e.contains("this set has no corpus on disk"), "{e}");
    let sel = Selection::new(&set).unwrap();
    assert_eq!((sel.caption_image.as_ref(), sel.image_rows.len(), sel.caption_rows.len()), (None, IMAGES - 1, IMAGES * PER_IMAGE - 1));
    let index = index_over(&dir, SetTable::Images, Precision::Full);
    let r = ann_report(&set, &sel, &index, 10, &SearchParams { ef: 64, rerank: 8 }).unwrap();
    assert_eq!((r.direction, r.queries, r.recall_at_k), ("text->image", IMAGES * PER_IMAGE - 1, 1.0));
    assert_eq!((r.r1, r.r5, r.r10), (None, None, None));
}

#[test]
fn no_queries_is_an_error_not_a_panic() {
    // ann_eval indexed `latencies` out of bounds when no query was valid.
    let root = tempfile::tempdir().unwrap();
    let dir = write_set(root.path(), false, &[], &[]);
    let set = open(&dir);
    let mut sel = Selection::new(&set).unwrap();
    sel.caption_rows.clear();
    sel.caption_image = Some(Vec::new());
    let index = index_over(&dir, SetTable::Images, Precision::Int8);
    let e = ann_report(&set, &sel, &index, 10, &SearchParams::default()).unwrap_err().to_string();
    assert!(e.contains("no valid queries"), "{e}");
}

#[test]
fn named_captions_form_image_runs() {
    let sims = SimMatrix::new(2, 3, vec![0.9, 0.8, 0.1, 0.2, 0.1, 0.7]).unwrap();
    let m = evaluate_named(&sims, &["a_1.jpg", "a_1.jpg", "b_2.jpg"], Path::new("names.txt"), &EvalOptions::default()).unwrap();
    assert_eq!((m.n_images, m.t2i.r1), (2, 100.0));
    let e = evaluate_named(&sims, &["a_1.jpg", "b_1.jpg"], Path::new("names.txt"), &EvalOptions::default()).unwrap_err().to_string();
    assert!(e.contains("names.txt: 2 file names for the 3 captions"), "{e}");
    let e = evaluate_named(&sims, &["a", "b", "c"], Path::new("names.txt"), &EvalOptions::default()).unwrap_err().to_string();
    assert!(e.contains("form 3 runs (images) but the matrix has 2 rows"), "{e}");
}

/// The exact top-k list of one table of `set` against the other, as `swan search --queries`
/// writes it, in `dir`.
fn exact_list(set: &EmbeddingSet, dir: &Path, t2i: bool, k: usize, slice: swan_store::RowSlice) -> crate::toplist::TopkFile {
    use crate::toplist::{exact_topk, save, Database, ListInfo, Method, QuerySource};
    let (img, cap) = (set.images.as_ref().unwrap(), set.captions.as_ref().unwrap());
    let ((qf, qt), (df, dt)) = if t2i { (cap, img) } else { (img, cap) };
    let rows = Rows::from_npy(df).unwrap().with_invalid(&dt.invalid).unwrap();
    let read = |r: std::ops::Range<usize>, out: &mut [f32]| {
        for (i, q) in r.enumerate() {
            qf.row_into_f32(q, &mut out[i * DIM..(i + 1) * DIM])?;
        }
        Ok(())
    };
    let range = slice.range(dt.rows);
    let lists = exact_topk(&rows, range.clone(), qt.rows, &read, k, &|_, _| {}).unwrap();
    let sha = |f: &swan_store::NpyFile| swan_store::fsutil::sha256_file(f.path()).unwrap();
    let info = ListInfo {
        queries: QuerySource {
            kind: "table".into(),
            path: "set".into(),
            table: Some(if t2i { "captions" } else { "images" }.into()),
            sha256: sha(qf),
            count: qt.rows,
            model_sha256: None,
        },
        database: Database {
            set: None,
            table: Some(if t2i { "images" } else { "captions" }.into()),
            file: df.path().display().to_string(),
            sha256: sha(df),
            rows: dt.rows,
            slice,
            start: range.start,
            end: range.end,
        },
        method: Method::Exact,
    };
    save(dir, &lists, &info).unwrap();
    crate::toplist::TopkFile::open(dir).unwrap()
}

#[test]
fn metrics_from_top_k_lists_equal_the_full_matrix() {
    // Storage order that is not corpus order, exact ties (images 3 and 4), invalid images
    // and captions: the list path must still give the matrix's R@K and scene recall, and
    // its medR/meanR where every rank is within k.
    let root = tempfile::tempdir().unwrap();
    let opts = EvalOptions { scene_recall_at: vec![1, 3, 5, 10] };
    for (swapped, bad_images, bad_captions) in [(false, &[][..], &[][..]), (true, &[2, 9][..], &[4, 20][..])] {
        let dir = write_set(root.path(), swapped, bad_images, bad_captions);
        let set = open(&dir);
        let (m, sel) = evaluate_set(&set, &opts).unwrap();
        // Captions of invalid images answer image->text queries but take no part: the
        // list must be long enough to hold 10 that do (else SR@10 is refused, tested below).
        for k in [10 + PER_IMAGE * bad_images.len(), IMAGES * PER_IMAGE] {
            let t2i = exact_list(&set, &dir.join(format!("t2i-{k}")), true, k, swan_store::RowSlice::ALL);
            let i2t = exact_list(&set, &dir.join(format!("i2t-{k}")), false, k, swan_store::RowSlice::ALL);
            let a = evaluate_topk(&set, &sel, &t2i, &opts).unwrap();
            let b = evaluate_topk(&set, &sel, &i2t, &opts).unwrap();
            assert_eq!((a.direction, a.queries), ("text->image", m.n_captions));
            assert_eq!((b.direction, b.queries), ("image->text", m.n_images));
            for (got, want) in [(&a, &m.t2i), (&b, &m.i2t)] {
                assert_eq!(got.recall.0, vec![(1, want.r1), (5, want.r5), (10, want.r10)], "k {k}");
                if got.censored == 0 {
                    assert_eq!((got.medr, got.meanr), (Some(want.medr), Some(want.meanr)));
                } else {
                    assert_eq!((got.medr, got.meanr), (None, None));
                }
            }
            assert_eq!(a.scene_recall, m.scene_recall_t2i, "k {k}");
            assert_eq!(b.scene_recall, m.scene_recall_i2t, "k {k}");
            if k == IMAGES * PER_IMAGE {
                assert_eq!(a.censored + b.censored, 0, "every rank is within a list of every row");
            }
        }
        // A list of one slice only is refused: merge first.
        let part = exact_list(&set, &dir.join("part"), true, 10, swan_store::RowSlice::new(0, 2).unwrap());
        let e = evaluate_topk(&set, &sel, &part, &opts).unwrap_err().to_string();
        assert!(e.contains("holds rows 0..6 of 12 only (slice 0/2): merge the slices first"), "{e}");
        if !bad_images.is_empty() {
            let short = exact_list(&set, &dir.join("short"), false, 10, swan_store::RowSlice::ALL);
            let e = evaluate_topk(&set, &sel, &short, &opts).unwrap_err().to_string();
            assert!(e.contains("of its 10 results take part in the evaluation, fewer than SR@10 needs; search with a larger k"), "{e}");
        }
    }
    // Censored ranks: k = 1 leaves most ranks unknown; R@5 and R@10 are then not given.
    let dir = write_set(root.path(), false, &[], &[]);
    let set = open(&dir);
    let (m, sel) = evaluate_set(&set, &opts).unwrap();
    let t2i = exact_list(&set, &dir.join("k1"), true, 1, swan_store::RowSlice::ALL);
    let a = evaluate_topk(&set, &sel, &t2i, &opts).unwrap();
    assert_eq!(a.recall.0, vec![(1, m.t2i.r1)]);
    assert!(a.censored > 0 && a.medr.is_none() && a.meanr.is_none());
    assert_eq!(a.scene_recall.as_ref().map(|s| s.0.len()), Some(1));
}

#[test]
fn blocked_and_matrix_paths_give_the_same_set_metrics() {
    let root = tempfile::tempdir().unwrap();
    let opts = EvalOptions { scene_recall_at: vec![1, 2, 5, 50] };
    for (swapped, bad_images, bad_captions) in [(false, &[][..], &[][..]), (true, &[2, 9][..], &[4, 20][..])] {
        let set = open(&write_set(root.path(), swapped, bad_images, bad_captions));
        let (m, sel) = evaluate_set_with(&set, &opts, ExactPath::Matrix).unwrap();
        let (b, sel_b) = evaluate_set_with(&set, &opts, ExactPath::Blocked).unwrap();
        assert_eq!((m, sel), (b, sel_b));
    }
}
