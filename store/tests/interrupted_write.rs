//! A writer killed with SIGKILL mid-way resumes and ends with the same bytes as a
//! writer that was never interrupted.
//!
//! The test re-runs its own binary as the child writer (`child_writer`, ignored unless
//! called by name), waits until the child has logged some chunks, kills it, and resumes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use swan_store::{DType, NpyFile, NpyWriter, Start, WriteSpec};

const CHILD_ENV: &str = "SWAN_TEST_CHILD_NPY";

fn spec() -> WriteSpec {
    WriteSpec { dtype: DType::F16, rows: 997, dim: 64, chunk_rows: 10, key: "kill-test".into() }
}

fn chunk_rows(spec: &WriteSpec, chunk: usize) -> Vec<f32> {
    spec.chunk_rows_range(chunk).flat_map(|r| (0..spec.dim).map(move |c| ((r * 31 + c * 17) % 251) as f32 / 25.0)).collect()
}

/// Chunks in a scrambled but fixed order, as a pipeline with parallel workers writes them.
fn order(n: usize) -> Vec<usize> {
    (0..n).map(|i| (i * 37) % n).collect()
}

fn write_all(path: &Path, pause: Duration) -> NpyWriter {
    let s = spec();
    let mut w = NpyWriter::create(path, s.clone()).unwrap();
    for c in order(s.chunk_count()) {
        if !w.is_done(c) {
            w.write_chunk(c, &chunk_rows(&s, c)).unwrap();
            std::thread::sleep(pause);
        }
    }
    w
}

#[test]
#[ignore = "child process of killed_writer_resumes_to_identical_bytes"]
fn child_writer() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        write_all(Path::new(&path), Duration::from_millis(15)).finish().unwrap();
    }
}

fn progress_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count().saturating_sub(2)).unwrap_or(0)
}

#[test]
fn killed_writer_resumes_to_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.npy");
    write_all(&reference, Duration::ZERO).finish().unwrap();

    let target = dir.path().join("killed.npy");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--ignored", "--test-threads=1"])
        .env(CHILD_ENV, &target)
        .spawn()
        .unwrap();
    // Kill somewhere in the middle: after a pid-dependent number of chunks.
    let kill_after = 15 + (std::process::id() as usize % 50);
    let progress = dir.path().join("killed.npy.progress");
    let deadline = Instant::now() + Duration::from_secs(60);
    while progress_lines(&progress) < kill_after {
        assert!(Instant::now() < deadline, "child made no progress");
        assert!(child.try_wait().unwrap().is_none(), "child finished before it could be killed");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!target.exists(), "the final file must not appear before the writer finishes");

    let w = write_all(&target, Duration::ZERO);
    match w.start() {
        Start::Resumed(n) => assert!(*n >= kill_after && *n < spec().chunk_count(), "resumed {n} chunks"),
        other => panic!("expected a resume, got {other:?}"),
    }
    w.finish().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(&reference).unwrap());
    assert_eq!(NpyFile::open(&target).unwrap().rows(), 997);
}
