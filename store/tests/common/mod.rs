//! Helpers shared by the store's integration tests.

use std::path::PathBuf;
use std::process::Command;

/// The `.venv` Python that scripts/setup.sh creates. Tests that need numpy fail (not
/// skip) without it: the README's test command always creates it first.
pub fn venv_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(python.exists(), "{} missing: run scripts/setup.sh (the README's test command does)", python.display());
    python
}

/// Run a Python snippet in the `.venv` with `args`; panic with its stderr on failure.
pub fn python(code: &str, args: &[&str]) -> String {
    let out = Command::new(venv_python()).arg("-c").arg(code).args(args).output().expect("run python");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
