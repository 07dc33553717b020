#!/usr/bin/env bash
# End-to-end embedding throughput on a synthetic corpus of 224x224 JPEGs made on the
# spot (default 20,000), decode to file, with per-stage timings; plus decode+resize
# throughput per core. Runs here (CPU) or on the GPU machine with the carried binary.
#
#   scripts/bench_embed.sh                      # CPU: batch 32, fp32
#   DEVICE=cuda PRECISION=fp16 EXTRA=--channels-last BATCH=256 scripts/bench_embed.sh
#
# Env: N (images), BATCH, PRECISION, DEVICE, WORKERS, EXTRA (more embed flags),
#      SWAN (binary; default target/release/swan), BENCH_DIR (default target/bench-embed).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swan=${SWAN:-$root/target/release/swan}
n=${N:-20000}
dir=${BENCH_DIR:-$root/target/bench-embed}
mkdir -p "$dir"
if [ ! -s "$dir/corpus-$n.jsonl" ]; then
    # The fixture generator draws 1 TIFF in 32; make a few more and keep the JPEGs.
    per_scene=$(( (n * 33 / 32) / 8 + 8 ))
    "$swan" fixtures --train-per-scene "$per_scene" --test-per-scene 0 --out "$dir/raw" >&2
    find "$dir/raw/images" -name '*.jpg' | sort | head -n "$n" | sed 's/.*/{"image": "&"}/' > "$dir/corpus-$n.jsonl"
fi
[ -f "$dir/ckpt.safetensors" ] || "$swan" checkpoint hashinit --out "$dir/ckpt.safetensors" >&2

"$swan" bench --decode "$dir/corpus-$n.jsonl" --decode-limit 2000 ${WORKERS:+--workers "$WORKERS"}
rm -rf "$dir/out"
"$swan" embed --corpus "$dir/corpus-$n.jsonl" --no-captions --checkpoint "$dir/ckpt.safetensors" --out "$dir/out" \
    --batch-size "${BATCH:-32}" --device "${DEVICE:-cpu}" ${PRECISION:+--precision "$PRECISION"} \
    ${WORKERS:+--workers "$WORKERS"} ${EXTRA:-} --json
