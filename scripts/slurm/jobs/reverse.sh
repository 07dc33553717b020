#!/usr/bin/env bash
# Array task I (with --reverse): exact top-k of every row of the --table table as a query over
# row slice I of the --queries table (image->text when the pipeline searches captions against
# images), into WORK/search/reverse-I (skipped when its topk.json exists).
# Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: reverse.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: reverse.sh WORK SCRIPTS_DIR}/lib.sh"
task_begin reverse
mkdir -p "$WORK/search"
"$SWAN" search --embeddings "$SET" --table "$QUERIES" --queries "$TABLE" --rows "$TASK_SHARD/$SHARDS" -k "$K" \
  --out "$(shard_dir reverse "$TASK_SHARD")" --json
