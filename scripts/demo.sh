#!/usr/bin/env bash
# swan's main job on the bundled fixture corpus (fixtures/corpus: synthetic aerial
# scenes in the RSICD/RSITMD precomp layout): embed it, index it, evaluate retrieval,
# search it.
# Sets itself up first (venv with torch, release build).
#
# The checkpoint is made by swan-hashinit (deterministic weights, not a trained SWAN):
# this demonstrates the pipeline end to end, not retrieval quality; the figures it
# prints are near chance. Use a converted checkpoint (scripts/convert_checkpoint.py)
# and a real corpus for real numbers.
#
#   scripts/demo.sh [OUT_DIR]     (default: demo-out/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
out=${1:-$root/demo-out}
mkdir -p "$out"
swan="$root/target/release/swan"
corpus="$root/fixtures/corpus"
step() { printf '\n== %s\n' "$*"; }

step "libtorch"
"$swan" info

step "the fixture corpus"
"$swan" corpus "$corpus" --split test

step "a swan-hashinit checkpoint and the corpus's vocabulary"
[ -f "$out/hashinit.safetensors" ] || "$swan" checkpoint hashinit --out "$out/hashinit.safetensors"
"$swan" vocab build "$corpus" --out "$out/vocab.json"

step "embed the test split (CPU, fp32; resumable: rerun after an interruption)"
"$swan" embed --corpus "$corpus" --split test --checkpoint "$out/hashinit.safetensors" \
    --vocab "$out/vocab.json" --out "$out/test" --device cpu --batch-size 8
"$swan" npy info "$out/test/images.npy"

step "index the image embeddings (HNSW, int8 walk, exact re-ranking)"
"$swan" index build --embeddings "$out/test" --table images --out "$out/test-index"

step "evaluate (hashinit weights: expect chance-level figures), exactly and through the index"
"$swan" eval --embeddings "$out/test" --index "$out/test-index"

step "search by text (through the index)"
"$swan" search --embeddings "$out/test" --index "$out/test-index" --text "many green trees in a dense forest" \
    --checkpoint "$out/hashinit.safetensors" --vocab "$out/vocab.json" --device cpu -k 5

step "search by image"
"$swan" search --embeddings "$out/test" --image "$corpus/images/water_7.tif" \
    --checkpoint "$out/hashinit.safetensors" --device cpu -k 5
