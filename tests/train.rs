//! `swan train` end to end on tiny corpora cut from the fixture corpus: resumption after
//! `kill -9` to identical bytes, and bad inputs.

mod common;

use common::{ok, swan};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixture_images() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus/images")
}

/// A JSON Lines corpus of `n` fixture images, two captions each, and its vocabulary.
fn setup(dir: &Path, n: usize) {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fixture_images()).unwrap().map(|e| e.unwrap().path()).collect();
    all.sort();
    let mut lines = String::new();
    for (i, p) in all.iter().step_by(all.len() / n).take(n).enumerate() {
        let caps = [format!("a scene with {i} fields and a road ."), format!("many trees , some houses and water {i} .")];
        lines += &serde_json::json!({ "image": p, "captions": caps }).to_string();
        lines.push('\n');
    }
    std::fs::write(dir.join("corpus.jsonl"), lines).unwrap();
    ok(&["vocab", "build", "corpus.jsonl", "--min-count", "1", "--out", "vocab.json"], dir);
}

/// 8 pairs in batches of 4: two steps per epoch; validation on the same 4 images.
const TRAIN: &[&str] = &[
    "train",
    "--corpus",
    "corpus.jsonl",
    "--vocab",
    "vocab.json",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--epochs",
    "2",
    "--batch-size",
    "4",
    "--save-every",
    "1",
    "--log-every",
    "1",
];

fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = TRAIN.to_vec();
    args.extend(["--out", out]);
    args.extend(extra);
    args
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn steps_logged(path: &Path) -> usize {
    log_lines(path).iter().filter(|l| l["kind"] == "step").count()
}

#[test]
fn killed_training_resumes_to_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 4);
    ok(&train_args("reference", &[]), dir.path());

    let mut child = Command::new(env!("CARGO_BIN_EXE_swan"))
        .args(train_args("killed", &[]))
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill in epoch 2 (steps 3-4), after its first step was logged and saved.
    let log = dir.path().join("killed/metrics.jsonl");
    let deadline = Instant::now() + Duration::from_secs(600);
    while steps_logged(&log) < 3 {
        assert!(Instant::now() < deadline, "no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the kill");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before the kill");

    let out = swan(&train_args("killed", &[]), dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("resuming at epoch 1"), "{err}");
    for f in ["last.safetensors", "best.safetensors"] {
        assert!(read(dir.path().join("reference").join(f)) == read(dir.path().join("killed").join(f)), "{f} differs after resume");
    }
    // One line per epoch and per step, none repeated by the resumption.
    let lines = log_lines(&log);
    let epochs: Vec<i64> = lines.iter().filter(|l| l["kind"] == "epoch").map(|l| l["epoch"].as_i64().unwrap()).collect();
    let steps: Vec<i64> = lines.iter().filter(|l| l["kind"] == "step").map(|l| l["step"].as_i64().unwrap()).collect();
    assert_eq!(epochs, vec![0, 1]);
    assert_eq!(steps, vec![1, 2, 3, 4]);
    // The precision is recorded (the CPU's default); fp32 steps carry no loss scale.
    assert!(lines.iter().filter(|l| l["kind"] == "epoch").all(|l| l["precision"] == "fp32" && l["skipped_steps"] == 0), "{lines:?}");
    assert!(lines.iter().filter(|l| l["kind"] == "step").all(|l| l.get("loss_scale").is_none()), "{lines:?}");
    let reference = log_lines(&dir.path().join("reference/metrics.jsonl"));
    for (a, b) in reference.iter().zip(&lines) {
        assert_eq!(a["loss"], b["loss"]);
        assert_eq!(a["val"], b["val"]);
    }
    // The plot of loss and validation mR: a PNG of the documented size, for both runs.
    for run in ["reference", "killed"] {
        let png = image::open(dir.path().join(run).join("train.png")).unwrap_or_else(|e| panic!("{run}/train.png: {e}"));
        assert_eq!((png.width(), png.height()), (800, 600), "{run}/train.png");
    }
    // The checkpoints load as any swan checkpoint does.
    ok(
        &["encode", "--checkpoint", "killed/best.safetensors", "--vocab", "vocab.json", "--caption", "many trees", "--device", "cpu"],
        dir.path(),
    );
}

fn fails(args: &[&str], dir: &Path) -> String {
    let out = swan(args, dir);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 4);
    let d = dir.path();

    let err = fails(&train_args("o1", &["--backbone", "nope.safetensors"]), d);
    assert!(err.contains("nope.safetensors") && err.contains("not found"), "{err}");

    // A backbone with the wrong shapes (conv1 cut to 32 filters).
    // (The safetensors layout by hand: header length, JSON header, little-endian values.)
    let bytes = 32 * 3 * 7 * 7 * 4;
    let header = format!(r#"{{"image_encoder.resnet.conv1.weight":{{"dtype":"F32","shape":[32,3,7,7],"data_offsets":[0,{bytes}]}}}}"#);
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header.as_bytes());
    file.resize(file.len() + bytes, 0);
    std::fs::write(d.join("bad_backbone.safetensors"), file).unwrap();
    let err = fails(&train_args("o2", &["--backbone", "bad_backbone.safetensors"]), d);
    assert!(err.contains("image_encoder.resnet.conv1.weight has shape [32, 3, 7, 7]"), "{err}");
    assert!(err.contains("missing key image_encoder.resnet.bn1.weight"), "{err}");

    // Word vectors: wrong dimension (line 1) and a malformed later line.
    std::fs::write(d.join("glove50.txt"), format!("road {}\n", vec!["0.1"; 50].join(" "))).unwrap();
    let err = fails(&train_args("o6", &["--word-vectors", "glove50.txt"]), d);
    assert!(err.contains("glove50.txt:1: 50 values after the word; --word-vectors must be 300-dimensional"), "{err}");
    let good = vec!["0.1"; 300].join(" ");
    std::fs::write(d.join("glove_bad.txt"), format!("road {good}\ntrees {}\n", vec!["0.1"; 299].join(" "))).unwrap();
    let err = fails(&train_args("o7", &["--word-vectors", "glove_bad.txt"]), d);
    assert!(err.contains("glove_bad.txt:2: 300 fields, expected a word and 300 numbers"), "{err}");
    assert!(!d.join("o7").exists(), "nothing written before the inputs are checked");

    // Empty training split.
    std::fs::write(d.join("empty.jsonl"), "").unwrap();
    let err = fails(&["train", "--corpus", "empty.jsonl", "--vocab", "vocab.json", "--out", "o3", "--val-split", "none"], d);
    assert!(err.contains("empty.jsonl") && err.contains("no captions"), "{err}");

    // Every image missing.
    std::fs::write(d.join("missing.jsonl"), "{\"image\": \"gone/a.jpg\", \"captions\": [\"a road\"]}\n").unwrap();
    let err = fails(&["train", "--corpus", "missing.jsonl", "--vocab", "vocab.json", "--out", "o4", "--val-split", "none"], d);
    assert!(err.contains("none of its 1 images exists") && err.contains("gone/a.jpg"), "{err}");

    // A learning rate that blows the weights up: the loss turns non-finite at step 2; the
    // state saved after step 1 stays.
    let err = fails(&train_args("o5", &["--lr", "1e38", "--val-split", "none", "--no-augment"]), d);
    assert!(err.contains("at step 2"), "{err}");
    assert!(d.join("o5/train-state.safetensors").exists());
    // That run is fp32; resuming it in another precision is refused before anything changes.
    let state = read(d.join("o5/train-state.safetensors"));
    let err = fails(&train_args("o5", &["--lr", "1e38", "--val-split", "none", "--no-augment", "--precision", "bf16"]), d);
    assert!(err.contains("trained with --precision fp32; rerun with --precision fp32"), "{err}");
    assert!(read(d.join("o5/train-state.safetensors")) == state);

    // fp16 needs CUDA (bf16 is the CPU's low precision).
    let err = fails(&train_args("o8", &["--precision", "fp16"]), d);
    assert!(err.contains("fp16 needs a CUDA device; use bf16 or fp32 on the CPU"), "{err}");
    assert!(!d.join("o8").exists());
}

#[test]
fn bench_train_times_whole_steps() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["bench", "--train", "--device", "cpu", "--threads", "1", "--train-batch", "2", "--iterations", "2", "--warmup", "0", "--json"];
    let out = ok(&args, dir.path());
    let line: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(line["batch"], 2);
    assert_eq!(line["steps"], 2);
    assert!(line["samples_per_s"].as_f64().unwrap() > 0.0, "{line}");
    let (first, last) = (line["loss_first"].as_f64().unwrap(), line["loss_last"].as_f64().unwrap());
    assert!(first.is_finite() && last.is_finite(), "{line}");
    assert_eq!(line["precision"], "fp32");
    // bf16: autocast on the CPU; the loss stays finite and close to fp32's (same weights and batch).
    let mut bf16_args = args.to_vec();
    bf16_args.extend(["--precision", "bf16"]);
    let bf16: serde_json::Value = serde_json::from_str(&ok(&bf16_args, dir.path())).unwrap();
    assert_eq!(bf16["precision"], "bf16");
    let b = bf16["loss_first"].as_f64().unwrap();
    assert!(b.is_finite() && (b - first).abs() < 0.05 * first.abs(), "fp32 {line} bf16 {bf16}");
    let err = fails(&["bench", "--train", "--device", "cpu", "--precision", "fp16"], dir.path());
    assert!(err.contains("fp16 needs a CUDA device"), "{err}");
}
