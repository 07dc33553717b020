//! `swan eval` reproduces the reference metric figures; `swan search` answers from a set.

mod common;

use common::{repo, swan};

/// Every number in `want` is in `got` at the same place, to `tol`.
fn assert_close(got: &serde_json::Value, want: &serde_json::Value, tol: f64, at: &str) {
    match want {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                assert_close(&got[k], v, tol, &format!("{at}.{k}"));
            }
        }
        serde_json::Value::Number(n) => {
            let (g, w) = (got.as_f64().unwrap_or_else(|| panic!("{at} missing: {got}")), n.as_f64().unwrap());
            assert!((g - w).abs() <= tol, "{at}: {g} vs reference {w}");
        }
        other => assert_eq!(got, other, "{at}"),
    }
}

#[test]
fn similarity_matrix_metrics_equal_the_reference_figures() {
    let dir = repo().join("fixtures/metrics-rsitmd-sample");
    let out = swan(&["eval", "--sims", "sims.npy", "--filenames", "filenames.txt", "--scene-recall", "1,5,10,20", "--json"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
    assert_close(&got, &want, 1e-9, "metrics");
}

#[test]
fn mismatched_filenames_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sample = repo().join("fixtures/metrics-rsitmd-sample");
    std::fs::write(dir.path().join("names.txt"), "a_1.jpg\nb_1.jpg\n").unwrap();
    let sims = sample.join("sims.npy");
    let out = swan(&["eval", "--sims", sims.to_str().unwrap(), "--filenames", "names.txt"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names.txt: 2 file names for the 450 captions"));
}
