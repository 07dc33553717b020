#!/usr/bin/env bash
# The whole test suite: set up the venv if needed, then test every crate.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p swan-store`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --no-build
cd "$root"
cargo test --workspace "$@"
