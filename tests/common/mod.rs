//! Helpers shared by the CLI tests: run the `swan` binary in a given folder.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `swan ARGS` in `cwd`.
pub fn swan(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swan")).args(args).current_dir(cwd).output().expect("run swan")
}

/// Run `swan ARGS`, which must succeed; its stdout.
pub fn ok(args: &[&str], cwd: &Path) -> String {
    let out = swan(args, cwd);
    assert!(out.status.success(), "swan {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The first line of `swan ARGS`'s stdout, as JSON.
pub fn json(args: &[&str], cwd: &Path) -> serde_json::Value {
    serde_json::from_str(ok(args, cwd).lines().next().unwrap()).unwrap()
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
