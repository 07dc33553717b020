#!/usr/bin/env bash
# One job: `swan merge` of every embed shard into WORK/embeddings (skipped when complete).
# Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: merge.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: merge.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin merge
skip_if_complete merge "$WORK/embeddings"
mapfile -t shards < <(shard_dirs embed)
"$SWAN" merge --out "$WORK/embeddings" "${shards[@]}" --json
