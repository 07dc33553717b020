#!/usr/bin/env bash
# swan's main job on the bundled fixture corpus (fixtures/corpus): read the corpus and
# summarise it, then write an embedding file and read it back. Sets itself up first.
#
#   scripts/demo.sh [OUT_DIR]     (default: demo-out/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
out=${1:-$root/demo-out}
mkdir -p "$out"
swan="$root/target/release/swan"
step() { printf '\n== %s\n' "$*"; }

step "swan info"
"$swan" info

step "the fixture corpus (synthetic aerial scenes; regenerate with: swan fixtures --out DIR)"
"$swan" corpus "$root/fixtures/corpus" --split train
"$swan" corpus "$root/fixtures/corpus" --split test

step "write an embedding file (f32 -> f16, normalised) and read it back"
"$swan" npy convert "$root/fixtures/reference/model-seed1/image_embedding_raw.npy" "$out/image_embedding.f16.npy" --dtype f16 --normalize
"$swan" npy info "$out/image_embedding.f16.npy"
