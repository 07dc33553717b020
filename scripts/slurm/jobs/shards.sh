#!/usr/bin/env bash
# One job: `swan index shards`, the description of the row-sharded index
# (WORK/index/shards.json) that `swan search --index` and `swan eval --index` accept.
# Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: shards.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: shards.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin shards
skip_if_complete shards "$WORK/index/shards.json"
mapfile -t shards < <(shard_dirs index)
"$SWAN" index shards --out "$WORK/index/shards.json" "${shards[@]}" --json
