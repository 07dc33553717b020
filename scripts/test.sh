#!/usr/bin/env bash
# The whole test suite: set up the venv if needed, then test every crate.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p swan-store`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --no-build
cd "$root"
cargo test --workspace "$@"
if [ $# -eq 0 ]; then
  # The hnsw_rs baseline (cargo feature `baseline`, off by default) and its benchmark
  # example: compiled and its own tests run here, so the feature-gated code cannot rot.
  cargo test -p swan-indexer --features baseline --lib baseline
  cargo build -p swan-indexer --features baseline --example bench_index
fi
