#!/usr/bin/env bash
# Array task I: exact top-k of every query over row slice I of the table (global row ids),
# into WORK/search/exact-I (skipped when its topk.json exists). Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: search.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: search.sh WORK SCRIPTS_DIR}/lib.sh"
task_begin search
mkdir -p "$WORK/search"
"$SWAN" search --embeddings "$SET" --table "$TABLE" --queries "$QUERIES" --rows "$TASK_SHARD/$SHARDS" -k "$K" \
  --out "$(shard_dir search "$TASK_SHARD")" --json
