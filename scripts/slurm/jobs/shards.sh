#!/usr/bin/env bash
# One job: `swan index shards`, the description of the row-sharded index
# (WORK/index/shards.json) that `swan search --index` and `swan eval --index` accept.
# Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: shards.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: shards.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin shards
if complete shards; then echo "swan-slurm: $WORK/index/shards.json is already complete; nothing to do"; exit 0; fi
mapfile -t shards < <(shard_dirs index)
"$SWAN" index shards --out "$WORK/index/shards.json" "${shards[@]}" --json
