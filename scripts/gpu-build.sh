#!/usr/bin/env bash
# Build here what scripts/gpu-bench.sh runs on the GPU machine, into target/gpu/
# (stripped, so it fits the device tool's carry limit):
#   target/gpu/swan     the CLI (release)
#   target/gpu/parity   the hashinit parity test binary (embedder/tests/parity.rs)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh --no-build
cargo build --release --bin swan
test_bin=$(cargo test --release -p swan-embedder --test parity --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parity" and m.get("executable"):
        print(m["executable"])')
mkdir -p target/gpu
strip -o target/gpu/swan target/release/swan
strip -o target/gpu/parity "$test_bin"
ls -la target/gpu
