#!/usr/bin/env bash
# Array task I: top-k of every query through the graph of row slice I (WORK/index/shard-I),
# into WORK/search/ann-I (skipped when its topk.json exists). Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: ann.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: ann.sh WORK SCRIPTS_DIR}/lib.sh"
task_begin ann
mkdir -p "$WORK/search"
read -r -a extra <<<"$SEARCH_ARGS"
"$SWAN" search --embeddings "$SET" --table "$TABLE" --queries "$QUERIES" --index "$(shard_dir index "$TASK_SHARD")" -k "$K" \
  --out "$(shard_dir ann "$TASK_SHARD")" --json "${extra[@]}"
