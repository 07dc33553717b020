#!/usr/bin/env bash
# Array task I: `swan embed --shard I/N` into WORK/embed/shard-I. A complete shard is skipped;
# a partial one (a failed or cancelled earlier task) is resumed by swan from its last chunk.
# Arguments: WORK SCRIPTS_DIR (Slurm runs a copy of this file, so it cannot find lib.sh itself).
set -euo pipefail
WORK=${1:?usage: embed.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: embed.sh WORK SCRIPTS_DIR}/lib.sh"
task_begin embed
mkdir -p "$WORK/embed"
args=(embed --corpus "$CORPUS" --checkpoint "$CHECKPOINT" --shard "$TASK_SHARD/$SHARDS" --out "$(shard_dir embed "$TASK_SHARD")" --json)
[ -z "$VOCAB" ] || args+=(--vocab "$VOCAB")
[ -z "$SPLIT" ] || args+=(--split "$SPLIT")
read -r -a extra <<<"$EMBED_ARGS"
"$SWAN" "${args[@]}" "${extra[@]}"
