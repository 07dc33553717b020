//! `swan embed`, `swan merge` and `swan encode` end to end on small corpora cut from the
//! fixture corpus, with a swan-hashinit checkpoint (pipeline checks, not retrieval quality).

mod common;

use common::{first_images, ok, setup, swan, EMBED};

use std::path::Path;
use std::process::Command;

/// `swan embed` into `out`, which must succeed; its report (stderr).
fn embed(dir: &Path, out: &str, extra: &[&str]) -> String {
    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", out]);
    args.extend(extra);
    let run = swan(&args, dir);
    assert!(run.status.success(), "swan {args:?} failed:\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.stdout.is_empty(), "the report is a message, not a result");
    String::from_utf8(run.stderr).unwrap()
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// The f32 values of a `.npy` written by swan (its header ends at the first newline).
fn rows(path: &Path) -> Vec<f32> {
    let bytes = read(path);
    let header_len = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    bytes[header_len..].chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[test]
fn embedded_rows_equal_swan_encode_of_the_same_items() {
    let dir = tempfile::tempdir().unwrap();
    let images = first_images(5);
    setup(dir.path(), &images);
    embed(dir.path(), "out", &["--batch-size", "2", "--text-padding", "alone"]);
    let mut args =
        vec!["encode", "--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json", "--device", "cpu", "--json", "--batch-size", "2"];
    let image_args: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
    for p in &image_args {
        args.extend(["--image", p.as_str()]);
    }
    let caps = ["a scene with 0 fields and a road .", "many trees , some houses and water 0 ."];
    for c in caps {
        args.extend(["--caption", c]);
    }
    let encoded: Vec<serde_json::Value> = ok(&args, dir.path()).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let vec_of =
        |v: &serde_json::Value| -> Vec<f32> { v["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect() };
    let img_rows = rows(&dir.path().join("out/images.npy"));
    for (i, v) in encoded[..images.len()].iter().enumerate() {
        assert_eq!(vec_of(v), img_rows[i * 512..(i + 1) * 512], "image {i}");
    }
    // Captions: the same computation, but `alone` batches captions of equal length
    // together, and a matrix product's rounding depends on how many rows it has, so a
    // caption batched with others can differ from one encoded by itself in the last bits.
    let cap_rows = rows(&dir.path().join("out/captions.npy"));
    for (i, v) in encoded[images.len()..].iter().enumerate() {
        let d = vec_of(v).iter().zip(&cap_rows[i * 512..(i + 1) * 512]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d <= 1e-6, "caption {i}: max abs diff {d:e}");
    }

    // Campaign 19: the same items written with --out name no corpus on disk; the set is
    // searched from another folder all the same (before: "(command line): no such file or
    // folder"), its hits scored as the printed vectors say.
    let json_at = args.iter().position(|a| *a == "--json").unwrap();
    args.splice(json_at..=json_at, ["--out", "encoded"]);
    ok(&args, dir.path());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let search = ["search", "--embeddings", "../encoded", "--row", "images:1", "-k", "2", "--json"];
    let hits: Vec<serde_json::Value> = ok(&search, &elsewhere).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), caps.len());
    let query = vec_of(&encoded[1]);
    for h in &hits {
        assert!(h["image"].is_null() && h["caption"].is_null(), "{h}");
        let caption = &encoded[images.len() + h["row"].as_u64().unwrap() as usize];
        let dot: f32 = query.iter().zip(vec_of(caption)).map(|(a, b)| a * b).sum();
        assert!((h["score"].as_f64().unwrap() as f32 - dot).abs() < 1e-4, "{h} vs {dot}");
    }
}

#[test]
fn bad_images_are_listed_and_strict_stops_at_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut images = first_images(3);
    let jpeg = read(&images[0]);
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, &jpeg[..jpeg.len() / 3]).unwrap();
    let empty = dir.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.jpg");
    images.splice(1..1, [corrupt.clone(), empty.clone(), missing.clone()]);
    setup(dir.path(), &images);

    let out = embed(dir.path(), "out", &["--batch-size", "2"]);
    assert!(out.contains("3 invalid"), "{out}");
    let errors: Vec<serde_json::Value> = swan_store::errors_file::read(&dir.path().join("out/errors.jsonl")).unwrap();
    assert_eq!(errors.len(), 3, "{errors:?}");
    let listed: Vec<(u64, &str)> = errors.iter().map(|e| (e["row"].as_u64().unwrap(), e["path"].as_str().unwrap())).collect();
    assert_eq!(listed, vec![(1, corrupt.to_str().unwrap()), (2, empty.to_str().unwrap()), (3, missing.to_str().unwrap())]);
    let manifest: serde_json::Value = serde_json::from_slice(&read(dir.path().join("out/manifest.json"))).unwrap();
    assert_eq!(manifest["images"]["invalid"], serde_json::json!([1, 2, 3]));
    let img = rows(&dir.path().join("out/images.npy"));
    assert!(img[512..4 * 512].iter().all(|&v| v == 0.0), "invalid rows are zero");

    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", "strict", "--strict", "--batch-size", "2"]);
    let out = swan(&args, dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // The corpus reader already sees the missing file; strict mode stops there first.
    assert!(err.contains("missing.jpg"), "{err}");
    assert!(!dir.path().join("strict/manifest.json").exists());

    // With the missing file gone, strict stops at the corrupt JPEG during decoding.
    images.retain(|p| p != &missing);
    setup(dir.path(), &images);
    let out = swan(&args, dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt.jpg") && err.contains("corrupt or truncated"), "{err}");
}

#[test]
fn shards_merge_to_the_unsharded_bytes() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(6));
    let common = ["--batch-size", "2", "--chunk-rows", "4", "--text-padding", "shard:4"];
    embed(dir.path(), "whole", &common);
    let mut a = common.to_vec();
    a.extend(["--shard", "1/2"]);
    embed(dir.path(), "s1", &a);
    let mut b = common.to_vec();
    b.extend(["--shard", "0/2"]);
    embed(dir.path(), "s0", &b);
    let s0_rows = rows(&dir.path().join("s0/images.npy")).len() / 512;
    assert!(s0_rows > 0 && s0_rows < 6, "both shards hold images ({s0_rows})");
    ok(&["merge", "--out", "merged", "s1", "s0"], dir.path());
    for f in ["images.npy", "captions.npy", "manifest.json", "errors.jsonl"] {
        assert!(read(dir.path().join("whole").join(f)) == read(dir.path().join("merged").join(f)), "{f} differs");
    }
    // Sets made from a relative --corpus, merged or not, work from another folder (campaign item 19).
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    for set in ["../whole", "../merged"] {
        let out = ok(&["search", "--embeddings", set, "--row", "images:0", "-k", "2", "--json"], &elsewhere);
        assert_eq!(out.lines().count(), 2, "{set}: {out}");
    }
    // One shard of the split is not a complete set (campaign item 20).
    let out = swan(&["merge", "--out", "half", "s0"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("of the corpus are missing: no shard covers them (a shard is missing)"), "{err}");
    // Shards of different checkpoints are refused.
    ok(&["checkpoint", "hashinit", "--seed", "2", "--out", "other.safetensors"], dir.path());
    let mut args: Vec<&str> = EMBED.iter().map(|&a| if a == "ckpt.safetensors" { "other.safetensors" } else { a }).collect();
    args.extend(["--out", "other", "--shard", "1/2"]);
    args.extend(common);
    ok(&args, dir.path());
    let out = swan(&["merge", "--out", "bad", "s0", "other"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shards must share checkpoint") && err.contains("checkpoint_sha256: \""), "{err}");
}

/// Run `swan embed` with `SWAN_TEST_FAILPOINT=point`: it must abort there.
fn embed_until(dir: &Path, out: &str, extra: &[&str], point: &str) {
    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", out]);
    args.extend(extra);
    let run = Command::new(env!("CARGO_BIN_EXE_swan")).args(&args).env("SWAN_TEST_FAILPOINT", point).current_dir(dir).output().unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && err.contains(&format!("SWAN_TEST_FAILPOINT={point}")), "did not stop at {point}: {err}");
    assert!(!dir.join(out).join("manifest.json").exists(), "{point}: a manifest after a crash");
}

fn set_files_equal(a: &Path, b: &Path, what: &str) {
    for f in ["images.npy", "captions.npy", "manifest.json", "errors.jsonl"] {
        assert!(read(a.join(f)) == read(b.join(f)), "{f} differs {what}");
    }
}

/// Campaign items 24 and 10: killed at any chunk (deterministic kill points, not a timer),
/// a rerun resumes to byte-identical files.
#[test]
fn killed_embed_resumes_to_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(4));
    let common = ["--batch-size", "1", "--chunk-rows", "1", "--workers", "1", "--text-padding", "shard:2", "--threads", "1"];
    embed(dir.path(), "reference", &common);
    for point in ["after-images-chunk-1", "after-captions-chunk-0", "after-captions-chunk-2", "after-images-rename"] {
        let out = format!("killed-{point}");
        embed_until(dir.path(), &out, &common, point);
        if point == "after-captions-chunk-0" {
            // Campaign item 24's cause: libtorch's CPU kernels split sums by thread count, so
            // the count (by default the machine's) is part of the inputs: another is refused.
            let mut two = common;
            two[9] = "2"; // --threads 2
            let mut args: Vec<&str> = EMBED.to_vec();
            args.extend(["--out", out.as_str()]);
            args.extend(two);
            let run = swan(&args, dir.path());
            let err = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.code() == Some(2) && err.contains("producer.cpu_threads: 1 vs 2"), "{err}");
        }
        let log = embed(dir.path(), &out, &common);
        if point == "after-captions-chunk-2" {
            assert!(log.contains("(0 computed, 4 resumed") && log.contains("(2 computed, 6 resumed"), "{log}");
        }
        set_files_equal(&dir.path().join("reference"), &dir.path().join(&out), &format!("after a kill at {point}"));
        assert!(!dir.path().join(&out).join("resume.json").exists());
    }
}

/// Campaign item 7 / issue item 1: unfinished work made with another corpus content or
/// vocabulary is not resumed; the refusal names the difference; --restart discards it.
#[test]
fn resuming_with_other_inputs_is_refused_naming_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(3));
    let common = ["--batch-size", "1", "--chunk-rows", "1", "--text-padding", "alone", "--no-images"];
    embed_until(dir.path(), "out", &common, "after-captions-chunk-1");
    // Swap two lines of the JSON Lines corpus: same counts, same files, other order.
    let corpus = std::fs::read_to_string(dir.path().join("corpus.jsonl")).unwrap();
    let mut lines: Vec<&str> = corpus.lines().collect();
    lines.swap(0, 1);
    std::fs::write(dir.path().join("corpus.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", "out"]);
    args.extend(common);
    let run = swan(&args, dir.path());
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("holds an unfinished job made with other inputs") && err.contains("corpus.sha256: \""), "{err}");
    assert!(!err.contains("producer."), "only the corpus differs: {err}");
    // Another vocabulary (same words, other order: other ids), lines restored.
    std::fs::write(dir.path().join("corpus.jsonl"), corpus).unwrap();
    let vocab: serde_json::Value = serde_json::from_slice(&read(dir.path().join("vocab.json"))).unwrap();
    let mut by_id: Vec<(u64, String)> =
        vocab["idx2word"].as_object().unwrap().iter().map(|(i, w)| (i.parse().unwrap(), w.as_str().unwrap().to_owned())).collect();
    by_id.sort();
    let mut words: Vec<String> = by_id.into_iter().map(|(_, w)| w).collect();
    let n = words.len();
    words[..n - 1].reverse(); // <unk> keeps the last id
    let word2idx: serde_json::Map<String, serde_json::Value> = words.iter().enumerate().map(|(i, w)| (w.clone(), (i + 1).into())).collect();
    let idx2word: serde_json::Map<String, serde_json::Value> =
        words.iter().enumerate().map(|(i, w)| ((i + 1).to_string(), w.clone().into())).collect();
    let other = serde_json::json!({"word2idx": word2idx, "idx2word": idx2word, "idx": words.len() + 1});
    std::fs::write(dir.path().join("other-vocab.json"), other.to_string()).unwrap();
    let args: Vec<&str> = args.iter().map(|&a| if a == "vocab.json" { "other-vocab.json" } else { a }).collect();
    let run = swan(&args, dir.path());
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("producer.vocab_sha256: \"") && !err.contains("corpus.sha256"), "{err}");
    // --restart discards the unfinished work and computes everything with the new inputs.
    let mut restart = args.clone();
    restart.push("--restart");
    let run = swan(&restart, dir.path());
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success() && log.contains("(6 computed, 0 resumed"), "{log}");
    let manifest: serde_json::Value = serde_json::from_slice(&read(dir.path().join("out/manifest.json"))).unwrap();
    assert_eq!(manifest["producer"]["vocab_sha256"].as_str().map(str::len), Some(64), "{manifest}");
    assert_eq!(manifest["corpus"]["sha256"].as_str().map(str::len), Some(64), "{manifest}");
}

/// Campaign item 18: a second job into a folder being written fails at once, naming the holder.
#[test]
fn a_second_embed_into_a_locked_folder_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(2));
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let _held = swan_embedder::pipeline::DirLock::acquire(&dir.path().join("out")).unwrap();
    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", "out"]);
    let run = swan(&args, dir.path());
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains(&format!("out is being written by pid {} (since ", std::process::id())), "{err}");
    assert!(!dir.path().join("out/resume.json").exists(), "nothing was started");
}

/// Campaign item 8: re-embedding into a set with another checkpoint and dying between the
/// final renames leaves no set (no manifest over files of two models), and a rerun finishes it.
#[test]
fn a_crash_between_the_renames_leaves_no_mixed_set() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(2));
    ok(&["checkpoint", "hashinit", "--seed", "2", "--out", "other.safetensors"], dir.path());
    let common = ["--batch-size", "2", "--chunk-rows", "2"];
    embed(dir.path(), "out", &common);
    let other: Vec<&str> = EMBED.iter().map(|&a| if a == "ckpt.safetensors" { "other.safetensors" } else { a }).collect();
    let mut args = other.clone();
    args.extend(["--out", "out"]);
    args.extend(common);
    let run = Command::new(env!("CARGO_BIN_EXE_swan"))
        .args(&args)
        .env("SWAN_TEST_FAILPOINT", "after-images-rename")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!dir.path().join("out/manifest.json").exists(), "the old manifest must not describe the new images");
    let eval = swan(&["eval", "--embeddings", "out"], dir.path());
    assert_eq!(eval.status.code(), Some(2), "eval must refuse a folder that is no set");
    ok(&args, dir.path());
    let mut fresh = other.clone();
    fresh.extend(["--out", "fresh"]);
    fresh.extend(common);
    ok(&fresh, dir.path());
    set_files_equal(&dir.path().join("fresh"), &dir.path().join("out"), "between a finished rerun and a fresh run");
}

/// Campaign item 12 / issue item 3: a checkpoint with NaN weights gives rows marked
/// invalid ("non-finite embedding"), not a set of NaN rows that claims to be normalised;
/// --strict stops at the first.
#[test]
fn non_finite_rows_are_marked_invalid() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(2));
    // Poison one bias of each branch in the safetensors file (image: the aggregation
    // layer; text: the GRU's input bias), which every row's computation uses.
    let path = dir.path().join("ckpt.safetensors");
    let mut bytes = read(&path);
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let mut poisoned = 0;
    for (name, t) in header.as_object().unwrap() {
        if name == "agg.fc_1.bias" || name == "text_encoder.rnn.bias_ih_l0" {
            let start = 8 + header_len + t["data_offsets"][0].as_u64().unwrap() as usize;
            bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
            poisoned += 1;
        }
    }
    assert_eq!(poisoned, 2, "{header}");
    std::fs::write(&path, bytes).unwrap();
    embed(dir.path(), "out", &[]);
    let manifest: serde_json::Value = serde_json::from_slice(&read(dir.path().join("out/manifest.json"))).unwrap();
    assert_eq!(manifest["images"]["invalid"], serde_json::json!([0, 1]), "{manifest}");
    assert_eq!(manifest["captions"]["invalid"], serde_json::json!([0, 1, 2, 3]), "{manifest}");
    let errors = std::fs::read_to_string(dir.path().join("out/errors.jsonl")).unwrap();
    assert_eq!(errors.lines().filter(|l| l.contains("non-finite embedding")).count(), 6, "{errors}");
    for table in ["images.npy", "captions.npy"] {
        assert!(rows(&dir.path().join("out").join(table)).iter().all(|&v| v == 0.0), "{table}: invalid rows are zero, not NaN");
    }
    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", "strict", "--strict"]);
    let run = swan(&args, dir.path());
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("non-finite embedding"));
}

/// Campaign items 2, 16, 22 and 23: sizes that would reach an allocation are refused with
/// a message naming the flag, before the model loads.
#[test]
fn oversized_flags_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(2));
    let cases: [(&[&str], &str); 6] = [
        (&["--batch-size", "1000000"], "--batch-size must be between 1 and 4096, got 1000000"),
        (&["--batch-size", "9223372036854775808"], "--batch-size must be between 1 and 4096"),
        (&["--chunk-rows", "18446744073709551615"], "--chunk-rows must be between 1 and 1048576, got 18446744073709551615"),
        (&["--batch-size", "64", "--chunk-rows", "100"], "--chunk-rows 100 is not a multiple of --batch-size 64 (try 64 or 128)"),
        (&["--threads", "100000"], "--threads must be between 1 and"),
        (&["--workers", "100000"], "--workers must be between 1 and"),
    ];
    for (extra, want) in cases {
        let mut args: Vec<&str> = EMBED.to_vec();
        args.extend(["--out", "out"]);
        args.extend(extra);
        let run = swan(&args, dir.path());
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: {err}");
    }
    assert!(!dir.path().join("out").exists(), "nothing was written");
}
