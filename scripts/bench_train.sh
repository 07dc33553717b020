#!/usr/bin/env bash
# Training throughput, swan against the same step in plain PyTorch (scripts/train_step_reference.py,
# whose loss is checked against shared/reference/train-seed1): whole steps (training-mode forward with
# Dropout, VSE hinge, backward, Adam), same synthetic batch, same device, same threads, alternating
# swan / PyTorch for ROUNDS rounds in one run. Prints each measurement (JSON) and the ratio per round.
#
#   scripts/bench_train.sh                 CPU, fp32, batch 16, 3 steps after 1 warm-up, 3 rounds
#   DEVICE=cuda PRECISION=bf16 BATCH=100 STEPS=20 WARMUP=3 scripts/bench_train.sh
#
# Env: SWAN (binary, default target/release/swan), DEVICE, PRECISION (fp32, tf32, bf16 or fp16, the same for both:
# bf16/fp16 are autocast, fp16 with loss scaling; default fp32), BATCH, STEPS, WARMUP, ROUNDS, THREADS (CPU
# threads for both; default all cores).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swan=${SWAN:-$root/target/release/swan}
py=${PYTHON:-$root/.venv/bin/python}
device=${DEVICE:-cpu} precision=${PRECISION:-fp32} batch=${BATCH:-16} steps=${STEPS:-3} warmup=${WARMUP:-1} rounds=${ROUNDS:-3}
threads=${THREADS:-$(nproc)}
for r in $(seq 1 "$rounds"); do
    s=$("$swan" bench --train --device "$device" --precision "$precision" --train-batch "$batch" --iterations "$steps" --warmup "$warmup" \
        --threads "$threads" --json)
    p=$("$py" "$root/scripts/train_step_reference.py" bench --device "$device" --precision "$precision" --batch "$batch" --steps "$steps" \
        --warmup "$warmup" --threads "$threads")
    echo "$s"
    echo "$p"
    python3 -c 'import json,sys; s,p=(json.loads(a)["samples_per_s"] for a in sys.argv[2:4]); print(f"round {sys.argv[1]} ({sys.argv[4]}): swan {s:.2f} pairs/s, pytorch {p:.2f} pairs/s, ratio swan/pytorch {s/p:.3f}")' "$r" "$s" "$p" "$precision"
done
