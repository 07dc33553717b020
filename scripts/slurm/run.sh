#!/usr/bin/env bash
# Run swan's archive pipeline on a Slurm cluster: embed shards -> merge -> row-sharded
# index -> row-sharded search -> merged top-k -> eval, as job arrays chained by `afterok`.
#
#   scripts/slurm/run.sh embed|index|search|eval|all --work DIR [options]
#   scripts/slurm/run.sh status   --work DIR
#   scripts/slurm/run.sh resubmit --work DIR [slurm options] [--wait]
#
# Everything a stage writes lies under --work (see "Large archives" in the README). Each
# array task skips a shard whose final output is complete, and swan's writers resume a
# partial one, so resubmitting after a failure computes no shard twice. Run with --help
# for the options.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

usage() {
  cat <<'EOF'
usage: scripts/slurm/run.sh STAGE --work DIR [options]

stages:
  embed     swan embed --shard I/N as an array of N tasks, then swan merge (needs --corpus,
            --checkpoint, --vocab)
  index     swan index build --rows I/N as an array, then swan index shards
  search    swan search --rows I/N (exact) and, when the index stage ran, --index of each
            row slice (ANN), as arrays; then swan topk merge of each
  eval      swan eval --topk of the merged lists (ANN also against the exact lists)
  all       every stage above (embed only when --embeddings is not given)
  status    what is complete, and the recorded jobs still in the queue
  resubmit  submit again what the last submission did not complete (failed or cancelled
            tasks); refuses while jobs of the last submission are still queued or running

pipeline options (recorded in DIR/slurm/pipeline.env by the first submission; later calls
reuse them and refuse different values):
  --work DIR            working folder shared by all nodes (required)
  --swan PATH           swan binary (default: swan on PATH, else the repository's target/release/swan)
  --shards N            row slices per stage (default 4)
  --corpus C --checkpoint K --vocab V [--split S]   what embed reads
  --embeddings SET      start from this embedding set instead of embedding (skips embed)
  --table T             table searched and indexed (default images)
  --queries Q           queries for search (default captions; see swan search --queries)
  -k K                  results per query (default 10)
  --embed-args "..."    more swan embed flags (e.g. "--batch-size 128 --precision bf16")
  --index-args "..."    more swan index build flags (e.g. "--m 32 --precision f16")
  --search-args "..."   more flags for the ANN search (e.g. "--ef 128")
  --reverse             also search the other way (the queries' table against --table, exact):
                        with --queries captions --table images that gives image->text too,
                        so that eval reports both directions and mR

slurm options (may change between calls):
  --partition P --account A --time T --mem M --cpus C (cpus-per-task)
  --gpus N              GPUs per embed task (--gpus-per-task=N, and swan embed --device cuda)
  --sbatch-args "..."   more sbatch flags for every job
  --wait                wait until the submitted jobs have left the queue, then print the
                        status; exit 1 when a stage is incomplete
EOF
}

stage=${1:-}
case "$stage" in
  embed|index|search|eval|all|status|resubmit) shift ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; die "unknown stage '${stage}'" ;;
esac

# Pipeline settings: P_NAME (given now) are checked against NAME (recorded).
declare -A P=()
declare -A S=()
wait_jobs=0
while [ $# -gt 0 ]; do
  opt=$1
  [ $# -ge 2 ] || { [ "$opt" = --wait ] || [ "$opt" = --reverse ] || [ "$opt" = -h ] || [ "$opt" = --help ]; } || die "$opt needs a value"
  case "$opt" in
    --work) WORK=$2 ;;
    --swan) P[SWAN]=$2 ;;
    --shards) P[SHARDS]=$2 ;;
    --corpus) P[CORPUS]=$2 ;;
    --checkpoint) P[CHECKPOINT]=$2 ;;
    --vocab) P[VOCAB]=$2 ;;
    --split) P[SPLIT]=$2 ;;
    --embeddings) P[EMBEDDINGS]=$2 ;;
    --table) P[TABLE]=$2 ;;
    --queries) P[QUERIES]=$2 ;;
    -k|--k) P[K]=$2 ;;
    --embed-args) P[EMBED_ARGS]=$2 ;;
    --index-args) P[INDEX_ARGS]=$2 ;;
    --search-args) P[SEARCH_ARGS]=$2 ;;
    --partition) S[PARTITION]=$2 ;;
    --account) S[ACCOUNT]=$2 ;;
    --time) S[TIME]=$2 ;;
    --mem) S[MEM]=$2 ;;
    --cpus) S[CPUS]=$2 ;;
    --gpus) S[GPUS]=$2 ;;
    --sbatch-args) S[SBATCH_ARGS]=$2 ;;
    --reverse) P[REVERSE]=1; shift; continue ;;
    --wait) wait_jobs=1; shift; continue ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$opt' (see --help)" ;;
  esac
  shift 2
done
[ -n "${WORK:-}" ] || die "--work DIR is required"
if [ "$stage" = status ] || [ "$stage" = resubmit ]; then
  [ -f "$WORK/slurm/pipeline.env" ] || die "$WORK has no submission to show or resubmit"
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
state=$WORK/slurm
mkdir -p "$state/logs"

# Paths become absolute: the jobs run elsewhere.
# --queries names a table (captions, images) or a file.
if [ -n "${P[QUERIES]:-}" ] && [ -e "${P[QUERIES]}" ]; then P[QUERIES]=$(abspath "${P[QUERIES]}"); fi
for key in CORPUS CHECKPOINT VOCAB EMBEDDINGS; do
  if [ -n "${P[$key]:-}" ]; then
    [ -e "${P[$key]}" ] || die "--${key,,} ${P[$key]}: no such file or folder"
    P[$key]=$(abspath "${P[$key]}")
  fi
done
if [ -n "${P[SWAN]:-}" ]; then
  [ -x "${P[SWAN]}" ] || die "--swan ${P[SWAN]}: not an executable file"
  P[SWAN]=$(abspath "${P[SWAN]}")
fi
for key in SHARDS K; do
  if [ -n "${P[$key]:-}" ] && ! [[ ${P[$key]} =~ ^[1-9][0-9]*$ ]]; then
    die "--${key,,} ${P[$key]}: not a positive whole number"
  fi
done
if [ -n "${S[GPUS]:-}" ] && ! [[ ${S[GPUS]} =~ ^[1-9][0-9]*$ ]]; then die "--gpus ${S[GPUS]}: not a positive whole number"; fi
if [ -n "${S[CPUS]:-}" ] && ! [[ ${S[CPUS]} =~ ^[1-9][0-9]*$ ]]; then die "--cpus ${S[CPUS]}: not a positive whole number"; fi

pipeline_keys=(SWAN SHARDS CORPUS CHECKPOINT VOCAB SPLIT EMBEDDINGS TABLE QUERIES K REVERSE EMBED_ARGS INDEX_ARGS SEARCH_ARGS)
slurm_keys=(PARTITION ACCOUNT TIME MEM CPUS GPUS SBATCH_ARGS)

# Recorded settings win where nothing was given; a different value is refused (the outputs
# under --work were made with the recorded one).
if [ -f "$state/pipeline.env" ]; then
  # shellcheck disable=SC1091
  source "$state/pipeline.env"
  for key in "${pipeline_keys[@]}"; do
    if [ -n "${P[$key]+set}" ] && [ "${P[$key]}" != "${!key-}" ]; then
      die "$WORK was set up with ${key}='${!key-}', not '${P[$key]}' (use another --work for other settings)"
    fi
  done
else
  if [ "$stage" = status ] || [ "$stage" = resubmit ]; then die "$WORK has no submission to show or resubmit"; fi
  SWAN=${P[SWAN]:-}
  if [ -z "$SWAN" ]; then
    if command -v swan >/dev/null; then SWAN=$(command -v swan)
    elif [ -x "$here/../../target/release/swan" ]; then SWAN=$(abspath "$here/../../target/release/swan")
    else die "no swan binary: give --swan PATH"; fi
  fi
  SHARDS=${P[SHARDS]:-4}; K=${P[K]:-10}
  CORPUS=${P[CORPUS]:-}; CHECKPOINT=${P[CHECKPOINT]:-}; VOCAB=${P[VOCAB]:-}; SPLIT=${P[SPLIT]:-}
  EMBEDDINGS=${P[EMBEDDINGS]:-}; TABLE=${P[TABLE]:-images}; QUERIES=${P[QUERIES]:-captions}
  EMBED_ARGS=${P[EMBED_ARGS]:-}; INDEX_ARGS=${P[INDEX_ARGS]:-}; SEARCH_ARGS=${P[SEARCH_ARGS]:-}
  REVERSE=${P[REVERSE]:-0}
  case "$TABLE" in images | captions) ;; *) die "--table $TABLE: images or captions" ;; esac
  if [ "$REVERSE" = 1 ] && { [ "$QUERIES" = "$TABLE" ] || ! [[ $QUERIES =~ ^(images|captions)$ ]]; }; then
    die "--reverse needs --queries to be the other table of the set (captions or images), not '$QUERIES'"
  fi
  write_env "$state/pipeline.env" "${pipeline_keys[@]}"
fi
if [ -f "$state/slurm.env" ]; then
  # shellcheck disable=SC1091
  source "$state/slurm.env"
fi
for key in "${slurm_keys[@]}"; do
  if [ -n "${S[$key]+set}" ]; then printf -v "$key" '%s' "${S[$key]}"; fi
  declare "$key=${!key-}"
done

set_embeddings  # SET: the embedding set every later stage reads

if [ "$stage" = status ]; then
  print_status
  exit 0
fi

# A second submission while the last one's jobs are queued would run their slices twice (or
# miss their outputs): one submission at a time per --work (`all` chains every stage).
queued=$(queued_jobs)
[ -z "$queued" ] || die "jobs of the last submission are still queued or running: $queued (wait for them: run.sh status; or scancel them)"
if [ "$stage" = resubmit ]; then
  [ -f "$state/stage" ] || die "$WORK has no recorded submission"
  stage=$(cat "$state/stage")
  echo "swan-slurm: resubmitting stage '$stage' in $WORK"
else
  write_file "$state/stage" "$stage"
fi
write_env "$state/slurm.env" "${slurm_keys[@]}"

# Common sbatch flags.
sb=(--parsable --kill-on-invalid-dep=yes --chdir="$WORK")
[ -z "$PARTITION" ] || sb+=(--partition="$PARTITION")
[ -z "$ACCOUNT" ] || sb+=(--account="$ACCOUNT")
[ -z "$TIME" ] || sb+=(--time="$TIME")
[ -z "$MEM" ] || sb+=(--mem="$MEM")
[ -z "$CPUS" ] || sb+=(--cpus-per-task="$CPUS")
if [ -n "$SBATCH_ARGS" ]; then read -r -a extra <<<"$SBATCH_ARGS"; sb+=("${extra[@]}"); fi

submitted=()
SUBMISSION=$(( $(last_submission) + 1 ))
# submit NAME ARRAY DEPENDENCY [sbatch flags...]: submit jobs/NAME.sh (an array over the
# shard list ARRAY when it is not empty); the job id is left in JOB.
submit() {
  local name=$1 array=$2 dep=$3; shift 3
  local args=("${sb[@]}" --job-name="swan-$name")
  if [ -n "$array" ]; then
    args+=(--array="$array" --output="$state/logs/$name-%A_%a.log.part")
  else
    args+=(--output="$state/logs/$name-%j.log.part")
  fi
  [ -z "$dep" ] || args+=(--dependency="$dep")
  local out id
  out=$(sbatch "${args[@]}" "$@" "$here/jobs/$name.sh" "$WORK" "$here") || die "sbatch of $name failed"
  id=${out%%;*}
  [[ $id =~ ^[0-9]+$ ]] || die "sbatch printed '$out', not a job id"
  record_job "$name" "$id" "${array:--}"
  echo "swan-slurm: $name: job $id${array:+ (array $array)}${dep:+ after $dep}" >&2
  submitted+=("$id")
  JOB=$id
}
# afterok DEP...: a dependency on the given job ids (empty ones skipped).
afterok() {
  local ids=() id
  for id in "$@"; do [ -z "$id" ] || ids+=("$id"); done
  [ ${#ids[@]} -eq 0 ] || (IFS=:; printf 'afterok:%s' "${ids[*]}")
}

embed_job='' merge_job='' index_job='' shards_job='' search_job='' reverse_job='' ann_job='' topk_job=''

stage_embed() {
  [ -z "$EMBEDDINGS" ] || die "--embeddings was given: there is nothing to embed"
  if [ -z "$CORPUS" ] || [ -z "$CHECKPOINT" ]; then die "embed needs --corpus and --checkpoint (and --vocab for captions)"; fi
  local todo gpu=()
  todo=$(missing_shards embed)
  [ -z "${GPUS}" ] || gpu=(--ntasks=1 --gpus-per-task="$GPUS")
  if [ -n "$todo" ]; then submit embed "$todo" "" "${gpu[@]}"; embed_job=$JOB; fi
  if ! complete merge; then submit merge "" "$(afterok "$embed_job")"; merge_job=$JOB; fi
}

stage_index() {
  need_set
  local todo
  todo=$(missing_shards index)
  if [ -n "$todo" ]; then submit index "$todo" "$(afterok "$merge_job")"; index_job=$JOB; fi
  if ! complete shards; then submit shards "" "$(afterok "$merge_job" "$index_job")"; shards_job=$JOB; fi
}

stage_search() {
  need_set
  local todo
  todo=$(missing_shards search)
  if [ -n "$todo" ]; then submit search "$todo" "$(afterok "$merge_job")"; search_job=$JOB; fi
  if [ "$REVERSE" = 1 ]; then
    todo=$(missing_shards reverse)
    if [ -n "$todo" ]; then submit reverse "$todo" "$(afterok "$merge_job")"; reverse_job=$JOB; fi
  fi
  # The ANN lists come from the row-sharded index when there is one (or one is on its way).
  if [ -n "$index_job" ] || [ -n "$shards_job" ] || complete shards; then
    todo=$(missing_shards ann)
    if [ -n "$todo" ]; then submit ann "$todo" "$(afterok "$merge_job" "$index_job" "$shards_job")"; ann_job=$JOB; fi
  fi
  if ! complete topk; then submit topk "" "$(afterok "$search_job" "$reverse_job" "$ann_job")"; topk_job=$JOB; fi
}

stage_eval() {
  need_set
  set_has_corpus || ann_wanted ||
    die "$SET has no corpus (no query has a right answer) and there are no ANN lists to measure against exact ones: nothing to evaluate"
  if ! complete eval; then submit eval "" "$(afterok "$merge_job" "$topk_job")"; fi
}

# need_set: a later stage needs the embedding set, made now (a merge job) or earlier.
need_set() {
  [ -n "$merge_job" ] || [ -f "$SET/manifest.json" ] ||
    die "no embedding set at $SET: run the embed stage first (or give --embeddings)"
}

case "$stage" in
  embed) stage_embed ;;
  index) stage_index ;;
  search) stage_search ;;
  eval) stage_eval ;;
  all)
    [ -n "$EMBEDDINGS" ] || stage_embed
    stage_index; stage_search; stage_eval ;;
esac

if [ ${#submitted[@]} -eq 0 ]; then
  echo "swan-slurm: nothing to submit: every output of stage '$stage' is complete" >&2
fi
if [ "$wait_jobs" = 1 ]; then
  wait_for "${submitted[@]}"
  print_status
  stage_complete "$stage" || exit 1
fi
