# shellcheck shell=bash
# Shared by scripts/slurm/run.sh and the job scripts in scripts/slurm/jobs/ (sourced).
# Where each stage's outputs lie under WORK, when they count as complete, and how a file
# is written without a half-written final name.

die() { echo "swan-slurm: $*" >&2; exit 2; }

abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }

# publish TMP FINAL: make a finished temporary file durable, then give it its final name
# (rename is atomic within a folder; the folder is synced so the name survives a crash).
publish() {
  sync "$1"
  mv -f "$1" "$2"
  sync "$(dirname "$2")"
}

# write_file FILE TEXT: FILE holds TEXT (and a newline), written through a temporary sibling.
write_file() {
  local tmp="$1.tmp.$$"
  printf '%s\n' "$2" >"$tmp"
  publish "$tmp" "$1"
}

# write_env FILE NAME...: the variables NAME..., as shell assignments that `source` reads back.
write_env() {
  local file=$1 tmp="$1.tmp.$$" key; shift
  for key in "$@"; do printf '%s=%q\n' "$key" "${!key-}"; done >"$tmp"
  publish "$tmp" "$file"
}

# record_job NAME ID ARRAY: add a line to WORK/slurm/jobs.tsv (rewritten whole, through a
# temporary file): submission number, time, job name, job id, array list.
record_job() {
  local file="$WORK/slurm/jobs.tsv" tmp="$WORK/slurm/jobs.tsv.tmp.$$"
  { [ ! -f "$file" ] || cat "$file"; printf '%s\t%s\t%s\t%s\t%s\n' "$SUBMISSION" "$(date -u +%FT%TZ)" "$1" "$2" "$3"; } >"$tmp"
  publish "$tmp" "$file"
}

# The number of the last submission recorded in WORK/slurm/jobs.tsv (0 when none).
last_submission() {
  local file="$WORK/slurm/jobs.tsv"
  [ -f "$file" ] || { echo 0; return; }
  awk -F'\t' 'BEGIN { n = 0 } $1 > n { n = $1 } END { print n }' "$file"
}

# The job ids of the last submission.
last_jobs() {
  local file="$WORK/slurm/jobs.tsv"
  [ -f "$file" ] || return 0
  awk -F'\t' -v n="$(last_submission)" '$1 == n { print $4 }' "$file"
}

# Job ids of the last submission still known to Slurm as pending or running.
queued_jobs() {
  local ids
  ids=$(last_jobs | paste -sd, -)
  [ -n "$ids" ] || return 0
  # squeue fails when Slurm has forgotten every one of the jobs (finished long ago): none queued.
  { squeue -h -j "$ids" -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED -o %i 2>/dev/null || true; } |
    sort -u | paste -sd' ' -
}

# wait_for ID...: until none of the jobs is pending or running.
wait_for() {
  [ $# -gt 0 ] || return 0
  local ids
  ids=$(IFS=,; echo "$*")
  local out
  while :; do
    if out=$(squeue -h -j "$ids" -t PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED -o %i 2>&1); then
      [ -n "$out" ] || return 0
    else
      # Slurm has forgotten every one of the jobs: they ended. Any other failure (the
      # controller busy or restarting) is not an empty queue: ask again.
      [[ $out != *"Invalid job id"* ]] || return 0
    fi
    sleep 1
  done
}

set_embeddings() { SET=${EMBEDDINGS:-$WORK/embeddings}; }

# The folder of shard I of a sharded step, and the file whose presence means it is complete
# (each is the last file swan writes for that output).
shard_dir() {
  case "$1" in
    embed) echo "$WORK/embed/shard-$2" ;;
    index) echo "$WORK/index/shard-$2" ;;
    search) echo "$WORK/search/exact-$2" ;;
    reverse) echo "$WORK/search/reverse-$2" ;;
    ann) echo "$WORK/search/ann-$2" ;;
  esac
}
shard_done_file() {
  case "$1" in
    embed) echo "$(shard_dir embed "$2")/manifest.json" ;;
    index) echo "$(shard_dir index "$2")/index.json" ;;
    search | reverse | ann) echo "$(shard_dir "$1" "$2")/topk.json" ;;
  esac
}

# missing_shards STEP: the shard numbers of STEP not yet complete, as an --array list (0,2,3).
missing_shards() {
  local i todo=()
  for ((i = 0; i < SHARDS; i++)); do
    [ -f "$(shard_done_file "$1" "$i")" ] || todo+=("$i")
  done
  (IFS=,; echo "${todo[*]}")
}

# Whether the set's queries have right answers: false for a set made without a corpus (its
# manifest's corpus is "synthetic", from `swan synth`, or of layout "files", from `swan encode
# --out`), whose lists are measured only against the exact ones. A set still to be embedded
# comes from a corpus.
set_has_corpus() {
  [ -f "$SET/manifest.json" ] || return 0
  ! grep -Eq '"path": *"synthetic"|"layout": *"files"' "$SET/manifest.json"
}

# The ANN path is part of the pipeline once the row-sharded index is (being) built.
ann_wanted() { [ -n "${index_job:-}${shards_job:-}" ] || [ -f "$WORK/index/shards.json" ]; }

# complete STEP: whether STEP's final outputs exist.
complete() {
  case "$1" in
    embed | index | search | reverse | ann) [ -z "$(missing_shards "$1")" ] ;;
    merge) [ -f "$WORK/embeddings/manifest.json" ] ;;
    shards) [ -f "$WORK/index/shards.json" ] ;;
    topk) [ -f "$WORK/topk/exact/topk.json" ] && { [ "${REVERSE:-0}" != 1 ] || [ -f "$WORK/topk/reverse/topk.json" ]; } &&
      { ! ann_wanted || [ -f "$WORK/topk/ann/topk.json" ]; } ;;
    eval) { ! set_has_corpus || [ -f "$WORK/eval/exact.json" ]; } && { ! ann_wanted || [ -f "$WORK/eval/ann.json" ]; } ;;
  esac
}

# stage_complete STAGE: whether a driver stage's outputs are all complete.
stage_complete() {
  case "$1" in
    embed) complete embed && complete merge ;;
    index) complete index && complete shards ;;
    search) complete search && { [ "${REVERSE:-0}" != 1 ] || complete reverse; } && { ! ann_wanted || complete ann; } &&
      complete topk ;;
    eval) complete eval ;;
    all) { [ -n "${EMBEDDINGS:-}" ] || stage_complete embed; } && stage_complete index && stage_complete search && stage_complete eval ;;
  esac
}

print_status() {
  local step missing
  echo "work: $WORK (embedding set $SET, $SHARDS shards)"
  for step in embed merge index shards search reverse ann topk eval; do
    case "$step" in
      embed | merge) [ -z "${EMBEDDINGS:-}" ] || continue ;;
      index | shards) [ -d "$WORK/index" ] || continue ;;
      reverse) [ "${REVERSE:-0}" = 1 ] || continue ;;
      ann) ann_wanted || continue ;;
    esac
    case "$step" in
      embed | index | search | reverse | ann)
        missing=$(missing_shards "$step")
        if [ -z "$missing" ]; then echo "$step: complete"; else echo "$step: shards $missing not complete"; fi ;;
      *) if complete "$step"; then echo "$step: complete"; else echo "$step: not complete"; fi ;;
    esac
  done
  local queued
  queued=$(queued_jobs)
  [ -z "$queued" ] || echo "queued or running: $queued"
}

# --- for the job scripts ---

# job_begin STAGE: load the pipeline settings; the Slurm log (written by Slurm to NAME.log.part)
# takes its final name NAME.log when the script ends, so a log without .part is a whole one.
job_begin() {
  JOB_STAGE=$1
  # shellcheck disable=SC1091
  source "$WORK/slurm/pipeline.env"
  set_embeddings
  local logs="$WORK/slurm/logs"
  if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    JOB_LOG="$logs/$JOB_STAGE-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.log"
  else
    JOB_LOG="$logs/$JOB_STAGE-${SLURM_JOB_ID:-0}.log"
  fi
  trap 'rc=$?; [ ! -f "$JOB_LOG.part" ] || mv -f "$JOB_LOG.part" "$JOB_LOG"; exit $rc' EXIT
  trap 'exit 143' TERM
  echo "swan-slurm: $JOB_STAGE on $(hostname) at $(date -u +%FT%TZ)${CUDA_VISIBLE_DEVICES+, CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES}"
}

# The shard this array task works on.
task_shard() {
  local i=${SLURM_ARRAY_TASK_ID:?not an array task}
  [ "$i" -lt "$SHARDS" ] || die "array task $i: only $SHARDS shards"
  echo "$i"
}

# task_begin STEP: job_begin for an array task of the sharded STEP; TASK_SHARD is the task's shard.
# A task whose shard is already complete ends here, successfully.
task_begin() {
  job_begin "$1"
  TASK_SHARD=$(task_shard)
  skip_if_done "$1" "$TASK_SHARD"
}

# skip_if_done STEP I: end the task (successfully) when shard I of STEP is already complete.
skip_if_done() {
  if [ -f "$(shard_done_file "$1" "$2")" ]; then
    echo "swan-slurm: $1 shard $2/$SHARDS is already complete; nothing to do"
    exit 0
  fi
}

# skip_if_complete STEP OUTPUT: end the job (successfully) when STEP's final OUTPUT already exists.
skip_if_complete() {
  if complete "$1"; then
    echo "swan-slurm: $2 is already complete; nothing to do"
    exit 0
  fi
}

# stdout_to FILE COMMAND...: run COMMAND with its standard output in FILE, written through a
# temporary sibling that takes the final name only when COMMAND succeeds (a failed command
# leaves no FILE, nor a stray temporary, and its status ends the job).
stdout_to() {
  local file=$1 tmp="$1.tmp.$$" rc=0
  shift
  "$@" >"$tmp" || rc=$?
  if [ "$rc" -ne 0 ]; then
    rm -f "$tmp"
    exit "$rc"
  fi
  publish "$tmp" "$file"
}

# The shard folders of STEP in shard order.
shard_dirs() {
  local i
  for ((i = 0; i < SHARDS; i++)); do shard_dir "$1" "$i"; done
}
