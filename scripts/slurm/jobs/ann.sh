#!/usr/bin/env bash
# Array task I: top-k of every query through the graph of row slice I (WORK/index/shard-I),
# into WORK/search/ann-I (skipped when its topk.json exists). Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: ann.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: ann.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin ann
i=$(task_shard)
skip_if_done ann "$i"
mkdir -p "$WORK/search"
read -r -a extra <<<"$SEARCH_ARGS"
"$SWAN" search --embeddings "$SET" --table "$TABLE" --queries "$QUERIES" --index "$(shard_dir index "$i")" -k "$K" \
  --out "$(shard_dir ann "$i")" --json "${extra[@]}"
