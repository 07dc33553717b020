#!/usr/bin/env bash
# swan's HNSW index against hnswlib and faiss (IndexHNSWFlat, inner product) on the same
# synthetic archive (swan synth's generator), at matched M and ef_construction: build
# time, and recall@10 and QPS for a sweep of ef on 1 thread and on all threads. Installs
# the peers into the .venv first (scripts/requirements-bench.txt). Arguments go to
# scripts/bench_ann.py, e.g.:
#   scripts/bench_ann.sh --rows 200000 --efs 64 96 128 192 256 --out indexer/bench/bench_ann.md --append BENCHMARKS.md
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --no-build
"$root/.venv/bin/python" -m pip install --quiet --progress-bar off -r "$root/scripts/requirements-bench.txt"
cd "$root"
exec nice -n 10 .venv/bin/python scripts/bench_ann.py "$@"
