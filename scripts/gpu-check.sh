#!/usr/bin/env bash
# Run on the GPU machine (the device tool), from the repository root, with the swan
# binary built here and carried over (target/release/swan). Shows that the same build
# sees CUDA once libtorch_cuda.so is loaded at start-up, and runs a tensor op there.
#
#   run: bash scripts/gpu-check.sh        carry: ["target/release/swan"]
set -euo pipefail
swan=${SWAN_BIN:-target/release/swan}
# The GPU machine's own torch 2.11 (same libtorch as the .venv here); our RUNPATH
# points at this machine's cache, which does not exist there.
torch_dir=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
export LD_LIBRARY_PATH="$torch_dir/lib:/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$swan" info --probe cuda
"$swan" info --probe cuda --json > "${OUT:-.}/gpu-check.json"
python3 - "${OUT:-.}/gpu-check.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rt, p = r["runtime"], r["probe"]
assert rt["cuda_available"] and rt["cudnn_available"] and rt["cuda_device_count"] >= 1, rt
# TF32 may be on for matmuls: allow its rounding, not a wrong result.
assert p["max_abs_diff"] < 1e-2, p
print("gpu-check: ok:", rt["libtorch_version"], rt["cuda_device_count"], "device(s), matmul diff", p["max_abs_diff"])
PY
