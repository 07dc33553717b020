#!/usr/bin/env bash
# On the GPU machine (device tool), from the repository root, with target/gpu carried
# (built by scripts/gpu-build.sh):
#   run: bash scripts/gpu-bench.sh     carry: ["target/gpu"]   (timeout ~540 s)
# 1. hashinit parity on CUDA in true fp32 (tolerances 1e-3 / 2e-4);
# 2. forward-only throughput: fp32, tf32 (PyTorch's defaults) at batch 100, bf16 at 256,
#    fp16 + channels-last at 256; text at batch 128; each mode's deviation from fp32.
# 3. training steps (swan bench --train against scripts/train_step_reference.py, batch 100) in fp32, tf32,
#    bf16 and fp16 (TRAIN_PRECISIONS to choose).
# Writes JSON lines to $OUT/gpu-bench.jsonl (and prints them).
set -euo pipefail
out=${OUT:-.}
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH="$torch_dir/lib:/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
swan=target/gpu/swan
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
"$swan" info --probe cuda

echo "== parity (CUDA, fp32: NVIDIA_TF32_OVERRIDE=0)"
NVIDIA_TF32_OVERRIDE=0 SWAN_TEST_DEVICE=cuda SWAN_SHARED=/nonexistent target/gpu/parity --test-threads=1 2>&1 | tee "$out/parity.txt" | grep -E "max abs|test result|panicked"

echo "== throughput"
bench() { "$swan" bench --device cuda --iterations "${ITER:-30}" --warmup 5 --json "$@" | tee -a "$out/gpu-bench.jsonl"; }
: > "$out/gpu-bench.jsonl"
NVIDIA_TF32_OVERRIDE=0 bench --precision fp32 --image-batch 100 --text-batch 128 --probe-out "$out/probe_fp32.npy"
bench --precision tf32 --image-batch 100 --text-batch 128 --probe-ref "$out/probe_fp32.npy"
bench --precision bf16 --image-batch 256 --text-batch 128 --probe-ref "$out/probe_fp32.npy"
bench --precision fp16 --channels-last --image-batch 256 --text-batch 128 --probe-ref "$out/probe_fp32.npy"
bench --precision bf16 --channels-last --image-batch 256 --text-batch 0 --probe-ref "$out/probe_fp32.npy"

echo "== end-to-end embedding (scripts/bench_embed.sh: 20,000 synthetic 224x224 JPEGs)"
export SWAN="$PWD/target/gpu/swan" DEVICE=cuda N=${N:-20000}
BATCH=256 PRECISION=fp16 EXTRA=--channels-last scripts/bench_embed.sh | tee -a "$out/gpu-embed.jsonl"
BATCH=100 PRECISION=tf32 scripts/bench_embed.sh | tee -a "$out/gpu-embed.jsonl"

echo "== training steps: swan against the same step in PyTorch (scripts/bench_train.sh), every precision"
# fp32: TF32 off in both (swan sets NVIDIA_TF32_OVERRIDE=0 itself; set here for PyTorch's cuDNN too);
# tf32: PyTorch's defaults; bf16: autocast; fp16: autocast + GradScaler. Short: 2 rounds each.
: > "$out/gpu-train.txt"
for p in ${TRAIN_PRECISIONS:-fp32 tf32 bf16 fp16}; do
    tf32_env=(); [ "$p" = fp32 ] && tf32_env=(NVIDIA_TF32_OVERRIDE=0)
    env ${tf32_env[@]+"${tf32_env[@]}"} SWAN="$PWD/target/gpu/swan" PYTHON=python3 DEVICE=cuda PRECISION="$p" BATCH=100 \
        STEPS=${TRAIN_STEPS:-10} WARMUP=3 ROUNDS=${TRAIN_ROUNDS:-2} scripts/bench_train.sh | tee -a "$out/gpu-train.txt"
done
