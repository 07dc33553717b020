//! The default build must not compile hnsw_rs and its ~80 dependencies: they serve only the
//! comparison benchmark, behind the `baseline` cargo feature.

use std::process::Command;

/// The normal (non-dev, non-build) dependency names of swan-indexer with `features`.
fn dependencies(features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["tree", "--offline", "-e", "normal", "--prefix", "none", "--manifest-path", manifest]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("runs cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
}

#[test]
fn hnsw_rs_is_only_in_the_baseline_feature() {
    let default = dependencies(&[]);
    assert!(default.iter().any(|d| d == "swan-store"), "cargo tree listed {default:?}");
    assert!(!default.iter().any(|d| d == "hnsw_rs"), "the default build depends on hnsw_rs");
    assert!(dependencies(&["baseline"]).iter().any(|d| d == "hnsw_rs"));
}
