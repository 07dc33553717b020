#!/usr/bin/env bash
# Array task I: `swan index build --rows I/N`, the graph of row slice I of the set's table,
# into WORK/index/shard-I (skipped when its index.json exists). Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: index.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: index.sh WORK SCRIPTS_DIR}/lib.sh"
task_begin index
mkdir -p "$WORK/index"
read -r -a extra <<<"$INDEX_ARGS"
"$SWAN" index build --embeddings "$SET" --table "$TABLE" --rows "$TASK_SHARD/$SHARDS" --out "$(shard_dir index "$TASK_SHARD")" --json "${extra[@]}"
