#!/usr/bin/env bash
# One job: `swan topk merge` of the exact lists of every row slice into WORK/topk/exact (and
# of the other direction's into WORK/topk/reverse with --reverse), and of the ANN lists into
# WORK/topk/ann when the row-sharded index exists. Each merged list is skipped when complete.
# Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: topk.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: topk.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin topk
mkdir -p "$WORK/topk"
for kind in exact reverse ann; do
  step=$kind; [ "$kind" = exact ] && step=search
  if [ "$kind" = ann ] && ! ann_wanted; then continue; fi
  if [ "$kind" = reverse ] && [ "$REVERSE" != 1 ]; then continue; fi
  if [ -f "$WORK/topk/$kind/topk.json" ]; then echo "swan-slurm: $WORK/topk/$kind is already complete"; continue; fi
  mapfile -t lists < <(shard_dirs "$step")
  "$SWAN" topk merge --out "$WORK/topk/$kind" "${lists[@]}" --json
done
