#!/usr/bin/env bash
# One job: `swan eval --topk` of the merged exact lists (both directions with --reverse) into
# WORK/eval/exact.json (for a set with a corpus) and, when
# there are ANN lists, of those against the exact ones into WORK/eval/ann.json (swan's JSON
# summaries, written to a temporary sibling and renamed). Arguments: WORK SCRIPTS_DIR.
set -euo pipefail
WORK=${1:?usage: eval.sh WORK SCRIPTS_DIR}
# shellcheck source=../lib.sh
source "${2:?usage: eval.sh WORK SCRIPTS_DIR}/lib.sh"
job_begin eval
mkdir -p "$WORK/eval"
if set_has_corpus && [ ! -f "$WORK/eval/exact.json" ]; then
  lists=("$WORK/topk/exact")
  [ "$REVERSE" != 1 ] || lists+=("$WORK/topk/reverse")
  stdout_to "$WORK/eval/exact.json" "$SWAN" eval --embeddings "$SET" --topk "${lists[@]}" --json
fi
if ann_wanted && [ ! -f "$WORK/eval/ann.json" ]; then
  stdout_to "$WORK/eval/ann.json" "$SWAN" eval --embeddings "$SET" --topk "$WORK/topk/ann" --exact-topk "$WORK/topk/exact" --json
fi
[ ! -f "$WORK/eval/exact.json" ] || cat "$WORK/eval/exact.json"
[ ! -f "$WORK/eval/ann.json" ] || cat "$WORK/eval/ann.json"
