//! `swan search --queries ... --out`, `swan topk merge` and `swan eval --topk` over a small
//! hand-made set (no model needed: the queries are the set's own tables).

mod common;

use std::path::Path;

use common::{json, ok, swan, write_jsonl_set};
use swan_store::NpyFile;

const DIM: usize = 8;

/// `images` images with scenes and two captions each; values on a coarse grid, so scores
/// tie. `seed` changes the images only (the captions stay the same file).
fn write_set(root: &Path, name: &str, images: usize, seed: u32) {
    let mut lines = String::new();
    let (mut img, mut cap) = (Vec::new(), Vec::new());
    let v = |i: usize, j: usize, seed: u32| (((i * 31 + j * 17 + seed as usize) % 7) as f32 - 3.0) / 4.0;
    for i in 0..images {
        lines += &format!("{{\"image\": \"{i}.png\", \"captions\": [\"a {i}\", \"b {i}\"], \"scene\": \"s{}\"}}\n", i % 4);
        let row: Vec<f32> = (0..DIM).map(|j| v(i, j, 0)).collect();
        for c in 0..2 {
            cap.extend(row.iter().enumerate().map(|(j, x)| x + if j == (i + c) % DIM { 0.5 } else { 0.0 }));
        }
        img.extend((0..DIM).map(|j| v(i, j, seed)));
    }
    write_jsonl_set(root, name, &lines, &img, &cap, DIM, &[]);
}

fn err(args: &[&str], cwd: &Path) -> String {
    let out = swan(args, cwd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "swan {args:?}: {stderr}");
    stderr
}

fn data(path: &Path) -> Vec<u8> {
    NpyFile::open(path).unwrap().data_bytes().to_vec()
}

#[test]
fn sliced_exact_search_merges_into_the_whole_tables_list_and_evaluates_like_the_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_set(d, "set", 30, 0);
    let search = |queries: &str, table: &str, extra: &[&str], out: &str| {
        let args =
            [&["search", "--embeddings", "set", "--queries", queries, "--table", table, "-k", "10", "--out", out, "--json"][..], extra]
                .concat();
        json(&args, d)
    };
    let s = search("captions", "images", &[], "t2i");
    assert_eq!((s["queries"].as_u64(), s["method"].as_str(), s["slice"].as_str()), (Some(60), Some("exact"), Some("0/1")));
    search("images", "captions", &["--threads", "1"], "i2t");
    for i in 0..3 {
        let s = search("captions", "images", &["--rows", &format!("{i}/3")], &format!("t2i-{i}"));
        assert_eq!(s["rows"], serde_json::json!([i * 10, (i + 1) * 10]));
    }
    let m = json(&["topk", "merge", "--out", "merged", "t2i-2", "t2i-0", "t2i-1", "--json"], d);
    assert_eq!((m["lists"].as_u64(), m["queries"].as_u64()), (Some(3), Some(60)));
    assert_eq!(data(&d.join("merged/ids.npy")), data(&d.join("t2i/ids.npy")));
    assert_eq!(data(&d.join("merged/scores.npy")), data(&d.join("t2i/scores.npy")));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("merged/topk.json")).unwrap()).unwrap();
    assert_eq!((manifest["format"].as_str(), manifest["version"].as_u64()), (Some("swan-topk"), Some(1)));
    assert_eq!(manifest["database"]["slice"], serde_json::json!({"index": 0, "count": 1}));

    // The lists' metrics are the full matrix's.
    let full = json(&["eval", "--embeddings", "set", "--json"], d);
    let lists = json(&["eval", "--embeddings", "set", "--topk", "merged", "--topk", "i2t", "--exact-topk", "t2i", "--json"], d);
    let by_dir = |name: &str| lists["lists"].as_array().unwrap().iter().find(|l| l["direction"] == name).unwrap().clone();
    for (name, key) in [("text->image", "t2i"), ("image->text", "i2t")] {
        let l = by_dir(name);
        for (cut, field) in [("1", "r1"), ("5", "r5"), ("10", "r10")] {
            assert_eq!(l["recall"][cut], full[key][field], "{name} R@{cut}");
        }
    }
    assert_eq!(by_dir("text->image")["scene_recall"], full["scene_recall_t2i"]);
    assert_eq!(by_dir("image->text")["scene_recall"], full["scene_recall_i2t"]);
    assert_eq!(by_dir("text->image")["recall_at_k_vs_exact"].as_f64(), Some(1.0));
    assert_eq!(lists["mR"], full["mR"]);
    let text = ok(&["eval", "--embeddings", "set", "--topk", "merged"], d);
    assert!(text.contains("mR needs R@1/5/10 of both directions"), "{text}");
    // Ranks past k are censored, and said so; with every row listed they are known.
    ok(&["search", "--embeddings", "set", "--queries", "captions", "--table", "images", "-k", "1", "--out", "k1"], d);
    let text = ok(&["eval", "--embeddings", "set", "--topk", "k1"], d);
    assert!(text.contains("R@1 ") && !text.contains("R@5") && text.contains("medR and meanR unknown: rank > k=1 for "), "{text}");
    ok(&["search", "--embeddings", "set", "--queries", "captions", "--table", "images", "-k", "30", "--out", "k30"], d);
    let l = json(&["eval", "--embeddings", "set", "--topk", "k30", "--json"], d);
    assert_eq!(
        (&l["lists"][0]["medr"], &l["lists"][0]["meanr"], &l["lists"][0]["censored"]),
        (&full["t2i"]["medr"], &full["t2i"]["meanr"], &0.into())
    );
}

#[test]
fn lists_that_do_not_fit_together_exit_2_naming_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_set(d, "set", 30, 0);
    write_set(d, "other", 30, 3);
    let search = |set: &str, queries: &str, k: &str, rows: &str, out: &str| {
        ok(&["search", "--embeddings", set, "--queries", queries, "--table", "images", "-k", k, "--rows", rows, "--out", out], d);
    };
    search("set", "captions", "5", "0/2", "a");
    search("set", "captions", "5", "1/2", "b");
    search("set", "captions", "5", "1/3", "third");
    search("set", "captions", "4", "1/2", "k4");
    search("other", "captions", "5", "1/2", "otherdb");
    std::fs::copy(d.join("other/images.npy"), d.join("q.npy")).unwrap();
    search("set", "q.npy", "5", "1/2", "otherq");

    let e = err(&["topk", "merge", "--out", "m", "a"], d);
    assert!(e.contains("a: rows 15..30 of the table are in no list (a slice is missing after this one)"), "{e}");
    let e = err(&["topk", "merge", "--out", "m", "a", "b", "b"], d);
    assert!(e.contains("b: rows 15..30 overlap those of b"), "{e}");
    let e = err(&["topk", "merge", "--out", "m", "a", "b", "third"], d);
    assert!(e.contains("overlap those of"), "{e}");
    let e = err(&["topk", "merge", "--out", "m", "a", "k4"], d);
    assert!(e.contains("k4: has k=4 but a has k=5"), "{e}");
    let e = err(&["topk", "merge", "--out", "m", "a", "otherdb"], d);
    assert!(e.contains("otherdb: searched another table than a"), "{e}");
    let e = err(&["topk", "merge", "--out", "m", "a", "otherq"], d);
    assert!(e.contains("otherq: answers other queries than a"), "{e}");
    assert!(!d.join("m").exists(), "nothing written on refusal");

    // eval refuses a slice, and a list over another set's table.
    let e = err(&["eval", "--embeddings", "set", "--topk", "a"], d);
    assert!(e.contains("merge the slices first with `swan topk merge`"), "{e}");
    ok(&["topk", "merge", "--out", "m", "b", "a"], d);
    let e = err(&["eval", "--embeddings", "other", "--topk", "m"], d);
    assert!(e.contains("its rows are not a table of other"), "{e}");
    let e = err(&["search", "--embeddings", "set", "--queries", "captions", "--rows", "3/3", "--out", "x"], d);
    assert!(e.contains("expected I/N with 0 <= I < N"), "{e}");
    let e = err(&["search", "--embeddings", "set", "--queries", "captions", "-k", "18446744073709551615", "--out", "x"], d);
    assert!(e.contains("-k 18446744073709551615 is more than the 30 rows of"), "{e}");
    assert!(!d.join("x").exists());
}

#[test]
fn slice_indexes_join_into_a_shard_set_that_search_and_eval_accept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_set(d, "set", 30, 0);
    write_set(d, "other", 30, 3);
    let build = |set: &str, rows: &str, out: &str| {
        json(&["index", "build", "--embeddings", set, "--table", "images", "--rows", rows, "--out", out, "--m", "4", "--json"], d)
    };
    for i in 0..3 {
        let b = build("set", &format!("{i}/3"), &format!("idx/{i}"));
        assert_eq!((b["slice"].as_str(), &b["rows"]), (Some(format!("{i}/3").as_str()), &serde_json::json!([i * 10, (i + 1) * 10])));
    }
    let s = json(&["index", "shards", "--out", "idx/shards.json", "idx/2", "idx/0", "idx/1", "--json"], d);
    assert_eq!((s["shards"].as_u64(), s["rows"].as_u64()), (Some(3), Some(30)));

    // Per-slice ANN lists merged equal the shard set's list (each slice answers its best k).
    let search = |index: &str, out: &str| {
        json(
            &[
                "search",
                "--embeddings",
                "set",
                "--queries",
                "captions",
                "--table",
                "images",
                "--index",
                index,
                "-k",
                "5",
                "--out",
                out,
                "--json",
            ],
            d,
        )
    };
    for i in 0..3 {
        let s = search(&format!("idx/{i}"), &format!("ann-{i}"));
        assert_eq!((s["method"].as_str(), s["slice"].as_str()), (Some("ann"), Some(format!("{i}/3").as_str())));
    }
    ok(&["topk", "merge", "--out", "ann", "ann-1", "ann-0", "ann-2"], d);
    let s = search("idx/shards.json", "ann-set");
    assert_eq!(s["slice"].as_str(), Some("0/1"));
    assert_eq!(data(&d.join("ann/ids.npy")), data(&d.join("ann-set/ids.npy")));
    ok(&["search", "--embeddings", "set", "--queries", "captions", "--table", "images", "-k", "5", "--out", "exact"], d);
    let e = json(&["eval", "--embeddings", "set", "--topk", "ann", "--exact-topk", "exact", "--json"], d);
    let recall = e["lists"][0]["recall_at_k_vs_exact"].as_f64().unwrap();
    assert!(recall > 0.9, "{e}");
    // eval --index and single-query search accept the shard set too.
    let e = json(&["eval", "--embeddings", "set", "--index", "idx/shards.json", "--json"], d);
    assert_eq!(e["ann"]["queries"].as_u64(), Some(60));
    let hits = ok(&["search", "--embeddings", "set", "--row", "captions:0", "--index", "idx/shards.json", "-k", "3", "--json"], d);
    assert_eq!(hits.lines().count(), 3);

    // Bad shard sets: a missing slice, a slice given twice, a shard over other embeddings.
    let e = err(&["index", "shards", "--out", "bad.json", "idx/0", "idx/2"], d);
    assert!(e.contains("rows 10..20 of the source are in no index (a shard is missing before idx/2)"), "{e}");
    let e = err(&["index", "shards", "--out", "bad.json", "idx/0", "idx/1", "idx/1", "idx/2"], d);
    assert!(e.contains("idx/1 (rows 10..20) overlaps idx/1 (rows 10..20)"), "{e}");
    build("other", "1/3", "otheridx");
    let e = err(&["index", "shards", "--out", "bad.json", "idx/0", "otheridx", "idx/2"], d);
    assert!(e.contains("otheridx was built over another file than idx/0"), "{e}");
    assert!(!d.join("bad.json").exists());
}

#[test]
fn lists_of_a_set_without_corpus_are_measured_against_exact_lists_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["synth", "--rows", "300", "--queries", "20", "--out", "syn"], d);
    let list = |extra: &[&str], out: &str| {
        let mut args = vec!["search", "--embeddings", "syn", "--queries", "captions", "--table", "images", "-k", "10", "--out", out];
        args.extend(extra);
        ok(&args, d);
    };
    list(&[], "exact");
    ok(&["index", "build", "--embeddings", "syn", "--out", "idx", "--m", "4", "--ef-construction", "8"], d);
    list(&["--index", "idx", "--ef", "10"], "ann");

    // recall@k: the share of each query's exact ids that the ANN list also holds.
    let ids = |name: &str| -> Vec<i64> {
        data(&d.join(name).join("ids.npy")).chunks(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
    };
    let (a, e) = (ids("ann"), ids("exact"));
    let found: usize = a.chunks(10).zip(e.chunks(10)).map(|(a, e)| e.iter().filter(|id| a.contains(id)).count()).sum();
    let expected = found as f64 / e.len() as f64;
    let r = json(&["eval", "--embeddings", "syn", "--topk", "ann", "--exact-topk", "exact", "--json"], d);
    assert_eq!(r["lists"][0]["recall_at_k_vs_exact"].as_f64(), Some(expected), "{r}");
    assert_eq!((r["lists"][0]["queries"].as_u64(), r["mR"].is_null()), (Some(20), true), "{r}");

    // Without exact lists there is nothing to measure: the error says what to give.
    let e = err(&["eval", "--embeddings", "syn", "--topk", "ann"], d);
    assert!(e.contains("this set has no corpus on disk") && e.contains("give --exact-topk for ann"), "{e}");
}

#[test]
fn caption_files_and_bare_npy_queries_answer_like_single_queries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::setup(d, &common::first_images(2));
    ok(&["synth", "--rows", "60", "--queries", "4", "--out", "s"], d);
    let lines = ["a scene with 1 fields and a road .", "many trees , some houses and water 0 ."];
    std::fs::write(d.join("q.txt"), lines.join("\n") + "\n").unwrap();
    let model = ["--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json", "--device", "cpu"];
    let s = json(&[&["search", "--embeddings", "s", "--queries", "q.txt", "-k", "3", "--out", "t", "--json"][..], &model].concat(), d);
    assert_eq!(s["queries"].as_u64(), Some(2));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("t/topk.json")).unwrap()).unwrap();
    assert_eq!(manifest["queries"]["kind"].as_str(), Some("text"));
    assert_eq!(manifest["queries"]["model_sha256"].as_str().map(str::len), Some(64));
    let ids = NpyFile::open(d.join("t/ids.npy")).unwrap().as_i64().unwrap().to_vec();
    for (q, text) in lines.iter().enumerate() {
        let out = ok(&[&["search", "--embeddings", "s", "--text", text, "-k", "3", "--json"][..], &model].concat(), d);
        let rows: Vec<i64> = out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["row"].as_i64().unwrap()).collect();
        assert_eq!(rows, ids[q * 3..(q + 1) * 3], "query {q}");
    }
    // The set's own query file as a bare .npy: the same lists as its captions table.
    ok(&["search", "--embeddings", "s", "--queries", "s/queries.npy", "--table", "images", "-k", "4", "--out", "n"], d);
    ok(&["search", "--embeddings", "s", "--queries", "captions", "--table", "images", "-k", "4", "--out", "c"], d);
    assert_eq!(data(&d.join("n/ids.npy")), data(&d.join("c/ids.npy")));

    std::fs::write(d.join("gap.txt"), "one\n\nthree\n").unwrap();
    let e = err(&[&["search", "--embeddings", "s", "--queries", "gap.txt", "-k", "3", "--out", "g"][..], &model].concat(), d);
    assert!(e.contains("gap.txt:2: empty line: each line is one caption query"), "{e}");
    let e = err(&["search", "--embeddings", "s", "--queries", "q.txt", "-k", "3", "--out", "g"], d);
    assert!(e.contains("--queries CAPTIONS.txt needs --vocab VOCAB.json and --checkpoint"), "{e}");
    swan_store::npy::write_f32(&d.join("narrow.npy"), &[2, 4], &[0.5; 8]).unwrap();
    let e = err(&["search", "--embeddings", "s", "--queries", "narrow.npy", "-k", "3", "--out", "g"], d);
    assert!(e.contains("the queries have 4 values each but") && e.contains("base.npy rows have 512"), "{e}");
    assert!(!d.join("g").exists());
}
