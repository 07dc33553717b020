//! `swan embed`, `swan merge` and `swan encode` end to end on small corpora cut from the
//! fixture corpus, with a swan-hashinit checkpoint (pipeline checks, not retrieval quality).

mod common;

use common::{first_images, ok, setup, swan, EMBED};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    assert!(String::from_utf8_lossy(&out.stderr).contains("shards must share checkpoint"));
}

fn progress_chunks(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count().saturating_sub(2)).unwrap_or(0)
}

#[test]
fn killed_embed_resumes_to_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let images = first_images(8);
    setup(dir.path(), &images);
    let common = ["--batch-size", "1", "--chunk-rows", "1", "--workers", "1"];
    embed(dir.path(), "reference", &common);

    let mut args: Vec<&str> = EMBED.to_vec();
    args.extend(["--out", "killed"]);
    args.extend(common);
    let mut child = Command::new(env!("CARGO_BIN_EXE_swan")).args(&args).current_dir(dir.path()).spawn().unwrap();
    // A point that varies from run to run: after 1 to 6 of the 8 image chunks.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as usize;
    let kill_after = 1 + nanos % 6;
    let progress = dir.path().join("killed/images.npy.progress");
    let deadline = Instant::now() + Duration::from_secs(120);
    while progress_chunks(&progress) < kill_after {
        assert!(Instant::now() < deadline, "no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!dir.path().join("killed/manifest.json").exists());
    assert!(!dir.path().join("killed/images.npy").exists());

    let out = embed(dir.path(), "killed", &common);
    assert!(out.contains("resumed"), "{out}");
    let resumed: usize = out
        .lines()
        .find(|l| l.contains("images:"))
        .and_then(|l| l.split(" computed, ").nth(1))
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(resumed >= kill_after, "resumed {resumed} of {kill_after}\n{out}");
    for f in ["images.npy", "captions.npy", "manifest.json", "errors.jsonl"] {
        assert!(read(dir.path().join("reference").join(f)) == read(dir.path().join("killed").join(f)), "{f} differs after resume");
    }
}
