//! `swan index build` and `swan synth` from the command line: bad input exits 2 with a
//! message, and an output folder's other files survive.

mod common;

use common::{ok, swan};

#[test]
fn index_build_refuses_bad_shard_counts_zero_width_rows_and_foreign_folders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&["synth", "--rows", "16", "--queries", "1", "--out", "set"], d);
    // Campaign 3: a capacity-overflow panic (exit 101); 4: a zero-width table panicked too.
    let out = swan(&["index", "build", "--npy", "set/base.npy", "--out", "idx", "--shards", "18446744073709551615"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("18446744073709551615 shards is more than the 16 rows to index"));
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 0), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    std::fs::write(d.join("empty.npy"), npy).unwrap();
    let out = swan(&["index", "build", "--npy", "empty.npy", "--out", "idx"], d);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rows have no values"), "{}", String::from_utf8_lossy(&out.stderr));
    // Campaign 6: every `shard-*` file in --out was deleted.
    std::fs::create_dir(d.join("photos")).unwrap();
    std::fs::write(d.join("photos/shard-01.jpg"), b"precious").unwrap();
    let out = swan(&["index", "build", "--npy", "set/base.npy", "--out", "photos"], d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write an index there"));
    assert_eq!(std::fs::read(d.join("photos/shard-01.jpg")).unwrap(), b"precious");
    ok(&["index", "build", "--npy", "set/base.npy", "--out", "idx", "--m", "4", "--ef-construction", "16"], d);
    ok(&["index", "build", "--npy", "set/base.npy", "--out", "idx", "--m", "4", "--ef-construction", "16", "--shards", "2"], d);
}

#[test]
fn a_synth_set_is_searched_and_its_index_evaluated_from_another_folder() {
    // Campaign 19: a `swan synth` set names no corpus on disk ("synthetic"); search and eval
    // failed with "synthetic: no such file or folder" (later: "this set has no corpus").
    let dir = tempfile::tempdir().unwrap();
    let (d, elsewhere) = (dir.path(), dir.path().join("elsewhere"));
    std::fs::create_dir(&elsewhere).unwrap();
    ok(&["synth", "--rows", "300", "--queries", "4", "--out", "set"], d);
    ok(&["index", "build", "--embeddings", "set", "--table", "images", "--out", "idx", "--m", "8", "--ef-construction", "64"], d);
    let search = ["search", "--embeddings", "../set", "--row", "captions:2", "-k", "5", "--json"];
    let hits = |args: &[&str]| -> Vec<(u64, String)> {
        let out = ok(args, &elsewhere);
        out.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|h| {
                assert!(h["image"].is_null() && h["scene"].is_null() && h["caption"].is_null(), "no names without a corpus: {h}");
                (h["row"].as_u64().unwrap(), format!("{:.5}", h["score"].as_f64().unwrap()))
            })
            .collect()
    };
    let exact = hits(&search);
    assert_eq!(exact.len(), 5);
    // Through the index (ef well above the row count's needs): the same rows and scores.
    assert_eq!(hits(&[&search[..], &["--index", "../idx", "--ef", "300"]].concat()), exact);

    let out = swan(&["eval", "--embeddings", "../set", "--index", "../idx", "--json"], &elsewhere);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["exact"].is_null() && report["ann"]["r1"].is_null(), "no pairs, no R@K: {report}");
    assert_eq!((report["ann"]["queries"].as_u64(), report["ann"]["direction"].as_str()), (Some(4), Some("text->image")));
    assert!(report["ann"]["recall_at_k"].as_f64().unwrap() > 0.5, "{report}");

    // What needs the corpus says so, with exit 2: exact metrics and scene filters.
    for args in [&["eval", "--embeddings", "../set"][..], &[&search[..], &["--scene", "x"]].concat()] {
        let out = swan(args, &elsewhere);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("this set has no corpus on disk") && err.contains("pass --corpus with a corpus of 300 images and 4 captions"),
            "{err}"
        );
    }
}

#[test]
fn a_target_recall_build_records_the_ef_that_searches_then_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let synth = ["synth", "--kind", "crossmodal", "--rows", "3000", "--queries", "150", "--intrinsic-dim", "8", "--dtype", "f16"];
    let summary: serde_json::Value = serde_json::from_str(&ok(&[&synth[..], &["--out", "cm", "--json"]].concat(), d)).unwrap();
    assert_eq!(summary["rows"], 3000);
    let base = std::fs::read(d.join("cm/base.npy")).unwrap();
    assert!(String::from_utf8_lossy(&base[..128]).contains("'<f2'") && base.len() > 3000 * 512 * 2, "f16 rows");
    ok(&[&synth[..], &["--out", "cm2"]].concat(), d);
    assert_eq!(std::fs::read(d.join("cm2/base.npy")).unwrap(), base, "same seed, same bytes");

    let build = ["index", "build", "--embeddings", "cm", "--ef-construction", "32", "--threads", "2"];
    let out = ok(&[&build[..], &["--m", "6", "--out", "idx", "--target-recall", "0.95", "--json"]].concat(), d);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tuned = &report["search"];
    // Tuned on the set's captions (the queries to come), not on image rows.
    assert_eq!(
        (tuned["sample"].as_str(), tuned["queries"].as_u64(), tuned["k"].as_u64()),
        (Some("queries"), Some(150), Some(10)),
        "{report}"
    );
    let ef = tuned["ef"].as_u64().unwrap();
    assert!(tuned["recall"].as_f64().unwrap() >= 0.95 && ef >= 10, "{report}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("idx/index.json")).unwrap()).unwrap();
    assert_eq!(&saved["search"], tuned);

    // eval --index without --ef searches at the recorded beam, and measures the recall it promised.
    let ann = |extra: &[&str]| -> serde_json::Value {
        let out = ok(&[&["eval", "--embeddings", "cm", "--index", "idx", "--json"][..], extra].concat(), d);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["ann"].clone()
    };
    let tuned_run = ann(&[]);
    assert_eq!(tuned_run["ef"].as_u64(), Some(ef), "{tuned_run}");
    assert!(tuned_run["recall_at_k"].as_f64().unwrap() >= 0.95, "{tuned_run}");
    assert_eq!(ann(&["--ef", "12"])["ef"].as_u64(), Some(12));

    // Out of reach: exit 2, a message that says what to change, and no index written.
    let out = swan(&[&build[..], &["--m", "2", "--out", "idx2", "--target-recall", "1", "--max-ef", "10"]].concat(), d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("below the target 1") && err.contains("larger M"), "{err}");
    assert!(!d.join("idx2").exists());
    let out = swan(&[&build[..], &["--m", "6", "--out", "idx3", "--target-recall", "1.5"]].concat(), d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target-recall must be in (0, 1]"));

    // Without a target every build measures toward 0.95 anyway (a 2-thread build links in
    // its own order, so the beam found may differ by a step from the one above).
    let out = ok(&[&build[..], &["--m", "6", "--out", "idx4", "--json"]].concat(), d);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let default = &report["search"];
    assert_eq!((default["sample"].as_str(), default["target_recall"].as_f64()), (Some("queries"), Some(0.95)), "{report}");
    assert!(default["recall"].as_f64().unwrap() >= 0.95, "{report}");
    // Out of reach by default: the index is written with the largest beam tried, and a warning says so.
    let out = swan(&[&build[..], &["--m", "2", "--out", "idx5", "--max-ef", "10", "--json"]].concat(), d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["search"]["ef"].as_u64(), Some(10), "{report}");
    assert!(report["search"]["recall"].as_f64().unwrap() < 0.95, "{report}");
    assert!(err.contains("warning: recall@10 reaches only") && err.contains("searches use ef 10") && err.contains("larger --m"), "{err}");
    // --no-tune measures nothing: searches use the fixed default beam.
    let out = ok(&[&build[..], &["--m", "6", "--out", "idx6", "--no-tune", "--json"]].concat(), d);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["search"].is_null(), "{report}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("idx6/index.json")).unwrap()).unwrap();
    assert!(saved.get("search").is_none_or(|s| s.is_null()), "{saved}");
}
