//! The Slurm path on a real one-node cluster: `scripts/slurm/run.sh` runs the fixture corpus
//! through embed shards -> merge -> row-sharded index -> row-sliced exact (both directions)
//! and ANN search -> merged top-k -> eval, as job arrays chained by `afterok`. One array task is killed mid-run, `run.sh
//! resubmit` completes it (resuming, not recomputing, the killed shard), and the result equals
//! the single-machine run: byte-identical embeddings and top-k lists, equal metrics.
//!
//! Slurm and MUNGE come from the distribution's packages (installed when absent, as root;
//! skipped with a message elsewhere, a failure under CI=true). The cluster lives in a
//! temporary folder and is stopped when the test ends, whatever the outcome.

#[path = "slurm/cluster.rs"]
mod cluster;
mod common;

use cluster::{processes_under, signal, Cluster};
use common::{ok, repo};

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

const SHARDS: usize = 3;

/// Results per query: every one of the fixture's 16 test images, so that text->image lists
/// know every rank and match the whole-matrix evaluation's medR and meanR too.
const K: usize = 16;

/// Batch size 1 and one-row chunks: every image is a durable chunk, so a task is slow
/// enough to be caught mid-run and resumes at a row boundary. The single-machine run uses
/// the same flags (batch size and threads change the last bits of an embedding).
const EMBED_FLAGS: &[&str] = &["--device", "cpu", "--threads", "1", "--batch-size", "1", "--chunk-rows", "1"];

fn run_sh(cluster: &Cluster, args: &[&str], cwd: &Path) -> Output {
    Command::new(repo().join("scripts/slurm/run.sh"))
        .args(args)
        .current_dir(cwd)
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .expect("run scripts/slurm/run.sh")
}

fn run_sh_ok(cluster: &Cluster, args: &[&str], cwd: &Path) -> String {
    let out = run_sh(cluster, args, cwd);
    assert!(
        out.status.success(),
        "run.sh {args:?} failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        task_logs(cwd)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every task log of the run in `cwd/work`, for failure messages.
fn task_logs(cwd: &Path) -> String {
    let logs = cwd.join("work/slurm/logs");
    let Ok(entries) = fs::read_dir(&logs) else { return String::new() };
    let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths.iter().map(|p| format!("--- {}\n{}", p.display(), fs::read_to_string(p).unwrap_or_default())).collect()
}

/// The jobs run.sh recorded: (submission, job name, job id, array list).
fn recorded_jobs(work: &Path) -> Vec<(u32, String, String, String)> {
    fs::read_to_string(work.join("slurm/jobs.tsv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].parse().unwrap(), f[2].to_string(), f[3].to_string(), f[4].to_string())
        })
        .collect()
}

/// Wait until shard `i` has at least one durable chunk of images but is not complete, then
/// kill its swan process (SIGKILL: no chance to tidy up, like a node lost mid-run).
fn kill_embed_task_mid_run(work: &Path, i: usize) {
    let shard = work.join(format!("embed/shard-{i}"));
    let progress = shard.join("images.npy.progress");
    let start = Instant::now();
    loop {
        assert!(!shard.join("manifest.json").exists(), "shard {i} finished before the test could kill it");
        // The progress log: header lines, then the number of each durable chunk, one a line.
        let chunks = fs::read_to_string(&progress).map(|t| t.lines().filter(|l| l.parse::<u64>().is_ok()).count()).unwrap_or(0);
        if chunks >= 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "shard {i} wrote no chunk within 2 minutes");
        sleep(Duration::from_millis(10));
    }
    let pids: Vec<u32> = processes_under(&shard)
        .into_iter()
        .filter(|pid| fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with(b"swan")))
        .collect();
    assert_eq!(pids.len(), 1, "one swan process writes {}: {pids:?}", shard.display());
    // The pid runs `swan embed --out <our temp dir>`.
    assert!(signal(pids[0], "KILL"), "kill -KILL {}", pids[0]);
}

/// The row ids of `swan search --json` hits, in order.
fn ids_of(json_lines: &str) -> Vec<serde_json::Value> {
    json_lines.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).filter_map(|v| v.get("row").cloned()).collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn same_bytes(a: &Path, b: &Path) {
    let (x, y) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

#[test]
fn slurm_pipeline_equals_the_single_machine_run_and_a_killed_task_resumes() {
    let Some(mut cluster) = Cluster::start() else { return };
    let dir = cluster.dir.path().join("swan");
    fs::create_dir(&dir).unwrap();
    let corpus = repo().join("fixtures/corpus").display().to_string();
    ok(&["checkpoint", "hashinit", "--out", "ckpt.safetensors"], &dir);
    ok(&["vocab", "build", &corpus, "--out", "vocab.json"], &dir);

    // The single-machine run: embed, exact top-k both ways, metrics from the lists and from
    // the whole similarity matrix.
    let mut embed = vec!["embed", "--corpus", &corpus, "--checkpoint", "ckpt.safetensors", "--vocab", "vocab.json"];
    embed.extend(EMBED_FLAGS);
    embed.extend(["--out", "single"]);
    ok(&embed, &dir);
    let k = K.to_string();
    ok(&["search", "--embeddings", "single", "--table", "images", "--queries", "captions", "-k", &k, "--out", "single-t2i"], &dir);
    ok(&["search", "--embeddings", "single", "--table", "captions", "--queries", "images", "-k", &k, "--out", "single-i2t"], &dir);
    let single_eval: serde_json::Value =
        serde_json::from_str(&ok(&["eval", "--embeddings", "single", "--topk", "single-t2i", "single-i2t", "--json"], &dir)).unwrap();
    let matrix_eval: serde_json::Value = serde_json::from_str(&ok(&["eval", "--embeddings", "single", "--json"], &dir)).unwrap();

    // The same through Slurm; shard 1's task is killed once it has written a chunk.
    let swan = env!("CARGO_BIN_EXE_swan");
    let shards = SHARDS.to_string();
    let embed_args = EMBED_FLAGS.join(" ");
    run_sh_ok(
        &cluster,
        &[
            "all",
            "--work",
            "work",
            "--swan",
            swan,
            "--shards",
            &shards,
            "--corpus",
            &corpus,
            "--checkpoint",
            "ckpt.safetensors",
            "--vocab",
            "vocab.json",
            "--embed-args",
            &embed_args,
            "--gpus",
            "1",
            "-k",
            &k,
            "--reverse",
        ],
        &dir,
    );
    let work = dir.join("work");
    kill_embed_task_mid_run(&work, 1);
    cluster.wait_idle(Duration::from_secs(120));

    // Shards 0 and 2 finished; shard 1 failed, so the merge (afterok) never ran, nor anything
    // after it (Slurm cancelled those jobs).
    let status = run_sh_ok(&cluster, &["status", "--work", "work"], &dir);
    assert!(status.contains("embed: shards 1 not complete"), "{status}");
    assert!(status.contains("merge: not complete") && status.contains("eval: not complete"), "{status}");
    assert!(!work.join("embeddings").exists() && !work.join("index").exists() && !work.join("search").exists());

    // --gpus 1: every embed task asked for one GPU per task and was given one of the node's two.
    let first = recorded_jobs(&work).into_iter().find(|j| j.0 == 1 && j.1 == "embed").unwrap();
    let job = cluster.client("scontrol", &["show", "job", &first.2]);
    let job = String::from_utf8_lossy(&job.stdout);
    assert!(job.contains("TresPerTask=gres:gpu:1"), "{job}");
    for task in 0..SHARDS {
        let log = fs::read_to_string(work.join(format!("slurm/logs/embed-{}_{task}.log", first.2))).unwrap();
        assert!(log.contains("CUDA_VISIBLE_DEVICES="), "{log}");
    }

    let out = run_sh_ok(&cluster, &["resubmit", "--work", "work", "--wait"], &dir);
    assert!(out.contains("merge: complete") && out.contains("eval: complete"), "{out}");
    // The resubmission ran embed shard 1 alone, and resumed it (the rows written before the
    // kill were not computed again), then every later stage.
    let jobs = recorded_jobs(&work);
    let again: Vec<_> = jobs.iter().filter(|j| j.0 == 2).collect();
    let names: Vec<&str> = again.iter().map(|j| j.1.as_str()).collect();
    assert_eq!(names, ["embed", "merge", "index", "shards", "search", "reverse", "ann", "topk", "eval"], "{jobs:?}");
    let embed_job = again.iter().find(|j| j.1 == "embed").unwrap_or_else(|| panic!("no embed job in {jobs:?}"));
    assert_eq!(embed_job.3, "1", "{jobs:?}");
    let log = fs::read_to_string(work.join(format!("slurm/logs/embed-{}_1.log", embed_job.2))).unwrap();
    let summary: serde_json::Value = serde_json::from_str(log.lines().find(|l| l.starts_with('{')).expect("swan's JSON summary")).unwrap();
    let images = &summary["images"];
    let (resumed, computed, rows) =
        (images["resumed"].as_u64().unwrap(), images["computed"].as_u64().unwrap(), images["rows"].as_u64().unwrap());
    assert!(resumed >= 1 && computed >= 1 && resumed + computed == rows, "{summary}");

    for table in ["images.npy", "captions.npy"] {
        same_bytes(&work.join("embeddings").join(table), &dir.join("single").join(table));
    }

    // Row-sliced exact search both ways, merged top-k, metrics: as on one machine.
    for (merged, single) in [("topk/exact", "single-t2i"), ("topk/reverse", "single-i2t")] {
        for file in ["ids.npy", "scores.npy"] {
            same_bytes(&work.join(merged).join(file), &dir.join(single).join(file));
        }
    }
    let mut cluster_eval: serde_json::Value = serde_json::from_str(&fs::read_to_string(work.join("eval/exact.json")).unwrap()).unwrap();
    let mut single_eval = single_eval;
    for eval in [&mut cluster_eval, &mut single_eval] {
        for list in eval["lists"].as_array_mut().unwrap() {
            list.as_object_mut().unwrap().remove("list"); // the lists' own paths
        }
    }
    assert_eq!(cluster_eval, single_eval);
    // And the whole-matrix evaluation: k covers every image, so text->image has every rank.
    let lists = cluster_eval["lists"].as_array().unwrap();
    let (t2i, i2t) = (&lists[0], &lists[1]);
    assert_eq!((t2i["direction"].as_str(), i2t["direction"].as_str()), (Some("text->image"), Some("image->text")));
    for (list, full) in [(t2i, &matrix_eval["t2i"]), (i2t, &matrix_eval["i2t"])] {
        for r in ["1", "5", "10"] {
            assert_eq!(list["recall"][r], full[format!("r{r}")], "R@{r}: {list} vs {full}");
        }
    }
    assert_eq!((&t2i["medr"], &t2i["meanr"]), (&matrix_eval["t2i"]["medr"], &matrix_eval["t2i"]["meanr"]));
    assert_eq!(cluster_eval["mR"], matrix_eval["mR"]);

    // Nothing left to do: a new submission submits nothing.
    // The ANN lists through the row-sharded index: with at most 6 rows per slice, a beam of 64
    // holds every row of a slice, so each slice's walk is exhaustive and the merged ANN lists are
    // the exact ones (eval reports recall 1 against them).
    same_bytes(&work.join("topk/ann/ids.npy"), &work.join("topk/exact/ids.npy"));
    let ann: serde_json::Value = serde_json::from_str(&fs::read_to_string(work.join("eval/ann.json")).unwrap()).unwrap();
    assert_eq!(ann["lists"][0]["recall_at_k_vs_exact"], 1.0, "{ann}");
    // The shard set describes the three slice indexes as one index that covers every image.
    let via_set = ok(
        &["search", "--embeddings", "work/embeddings", "--index", "work/index/shards.json", "--row", "captions:0", "-k", "3", "--json"],
        &dir,
    );
    let exact = ok(&["search", "--embeddings", "single", "--row", "captions:0", "-k", "3", "--json"], &dir);
    assert_eq!(ids_of(&via_set), ids_of(&exact));

    // Nothing left to do: a new submission submits nothing.
    let out = run_sh(&cluster, &["all", "--work", "work"], &dir);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("nothing to submit"), "{out:?}");
    // Settings other than the recorded ones, and bad values, are refused (exit 2, naming them).
    let refused = |args: &[&str], says: &str| {
        let out = run_sh(&cluster, args, &dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(2) && err.contains(says), "run.sh {args:?}: {out:?}");
    };
    refused(&["search", "--work", "work", "--shards", "4"], "was set up with SHARDS='3', not '4'");
    refused(&["embed", "--work", "other", "--shards", "0"], "--shards 0: not a positive whole number");
    refused(&["embed", "--work", "other", "--corpus", "no-such-corpus"], "--corpus no-such-corpus: no such file or folder");
    refused(&["resubmit", "--work", "never-used"], "has no submission");

    // No log is left under a temporary name, no temporary or partial file anywhere.
    for entry in fs::read_dir(work.join("slurm/logs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".log"), "{name}");
    }
    let leftovers = files_under(&work).into_iter().filter(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        name.contains("tmp") || name.ends_with(".partial") || name.ends_with(".progress") || name.ends_with(".part")
    });
    assert_eq!(leftovers.collect::<Vec<_>>(), Vec::<std::path::PathBuf>::new());
}
