#!/usr/bin/env bash
# Array task I: `swan index build --rows I/N`, the graph of row slice I of the set's table,
# into WORK/index/shard-I (skipped when its index.json exists). Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: index.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: index.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin index
i=$(task_shard)
skip_if_done index "$i"
mkdir -p "$WORK/index"
read -r -a extra <<<"$INDEX_ARGS"
"$SWAN" index build --embeddings "$SET" --table "$TABLE" --rows "$i/$SHARDS" --out "$(shard_dir index "$i")" --json "${extra[@]}"
