//! Where output goes and how `swan` exits: results on stdout, messages on stderr; a stdout
//! that cannot be written is an error (exit 2, one message), a reader that went away is
//! not (exit 0, silent). (Exit 1, "ran fine, found nothing", is tested in search.rs.)

mod common;

use common::{first_images, ok, repo, setup, swan, EMBED};

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Run `swan ARGS` in `cwd` with stdout going to `stdout`.
fn swan_to(args: &[&str], cwd: &Path, stdout: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swan")).args(args).current_dir(cwd).stdout(stdout).output().expect("run swan")
}

/// A pipe whose reader has already gone (`swan ... | head -c1` after head exited): every
/// write fails with EPIPE, whatever the timing.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

/// A device where every write fails with ENOSPC.
fn dev_full() -> Stdio {
    std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap().into()
}

/// A folder with an embedding set (two shards and their merge), a synthetic archive, a
/// checkpoint, a corpus and its vocabulary.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), &first_images(2));
    for shard in ["0/2", "1/2"] {
        let out = format!("s{}", &shard[..1]);
        let mut args = EMBED.to_vec();
        args.extend(["--out", &out, "--shard", shard, "--chunk-rows", "1", "--batch-size", "1"]);
        ok(&args, dir.path());
    }
    ok(&["merge", "--out", "set", "s0", "s1"], dir.path());
    ok(&["synth", "--rows", "40", "--queries", "2", "--out", "synth"], dir.path());
    std::fs::write(dir.path().join("captions.txt"), "a road by the river\nmany trees\n").unwrap();
    dir
}

/// Every command, with output at `out` where it writes files (`--json`: a summary on stdout).
fn every_command(out: &str) -> Vec<Vec<String>> {
    let corpus = repo().join("fixtures/corpus").display().to_string();
    let o = |name: &str| format!("{out}-{name}");
    let mut embed: Vec<String> = EMBED.iter().map(|s| s.to_string()).collect();
    embed.extend(["--out".into(), o("embed"), "--json".into()]);
    let cmds: Vec<Vec<String>> = vec![
        embed,
        ["synth", "--rows", "10", "--queries", "1", "--out", &o("synth"), "--json"].map(String::from).to_vec(),
        ["checkpoint", "hashinit", "--out", &o("ckpt"), "--json"].map(String::from).to_vec(),
        ["index", "build", "--npy", "synth/base.npy", "--out", &o("index"), "--json"].map(String::from).to_vec(),
        ["npy", "convert", "synth/base.npy", &o("f16.npy"), "--json"].map(String::from).to_vec(),
        ["vocab", "build", "corpus.jsonl", "--min-count", "1", "--out", &o("vocab"), "--json"].map(String::from).to_vec(),
        ["fixtures", "--out", &o("fixtures"), "--train-per-scene", "1", "--test-per-scene", "1", "--json"].map(String::from).to_vec(),
        ["merge", "--out", &o("merged"), "s0", "s1", "--json"].map(String::from).to_vec(),
        ["npy", "info", "synth/base.npy"].map(String::from).to_vec(),
        ["corpus", &corpus].map(String::from).to_vec(),
        ["vocab", "tokenize", "--vocab", "vocab.json", "captions.txt"].map(String::from).to_vec(),
        ["search", "--embeddings", "set", "--row", "images:0"].map(String::from).to_vec(),
        ["eval", "--embeddings", "set"].map(String::from).to_vec(),
        ["info"].map(String::from).to_vec(),
    ];
    cmds
}

#[test]
fn a_full_stdout_is_an_error_a_closed_pipe_is_not_and_writers_report_on_stderr() {
    let dir = workspace();
    for (case, args) in every_command("full").into_iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = swan_to(&args, dir.path(), dev_full());
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "case {case} swan {args:?} >/dev/full:\n{err}");
        assert!(err.ends_with("swan: cannot write to stdout: No space left on device (os error 28)\n"), "swan {args:?}:\n{err}");
    }
    for args in every_command("pipe") {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = swan_to(&args, dir.path(), closed_pipe());
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(0), "swan {args:?} | (closed):\n{err}");
        // Writer commands say what they wrote only without --json.
        assert!(err.is_empty(), "swan {args:?} | (closed):\n{err}");
    }

    // Writers report on stderr; with --json their summary is one line on stdout.
    for args in every_command("text").into_iter().filter(|a| a.last().is_some_and(|l| l == "--json")) {
        let text: Vec<&str> = args[..args.len() - 1].iter().map(String::as_str).collect();
        let run = swan(&text, dir.path());
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "swan {text:?}:\n{err}");
        assert!(run.stdout.is_empty(), "swan {text:?} printed on stdout: {}", String::from_utf8_lossy(&run.stdout));
        let written = text.iter().find(|a| a.starts_with("text-")).unwrap();
        assert!(err.starts_with("swan: ") && err.contains(written), "swan {text:?}:\n{err}");
    }
    for args in every_command("json").into_iter().filter(|a| a.last().is_some_and(|l| l == "--json")) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = swan(&args, dir.path());
        assert!(run.status.success(), "swan {args:?}:\n{}", String::from_utf8_lossy(&run.stderr));
        let stdout = String::from_utf8(run.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "swan {args:?}: {stdout}");
        let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(summary.is_object(), "swan {args:?}: {stdout}");
        assert!(run.stderr.is_empty(), "swan {args:?}: {}", String::from_utf8_lossy(&run.stderr));
    }
}

#[test]
fn errors_exit_2_with_the_os_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = swan(&["npy", "info", "missing.npy"], dir.path());
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&run.stderr), "swan: missing.npy: No such file or directory (os error 2)\n");
    // A usage error is clap's, with status 2 too.
    let run = swan(&["npy", "info"], dir.path());
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("required"));
}
