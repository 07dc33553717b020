#!/usr/bin/env bash
# The archive path at scale (issue 10, point 8): a `swan synth` archive (cross-modal rows,
# f16 on disk) indexed, searched exactly and through the index, the lists merged and
# evaluated (recall@10 of the ANN top-k against the exact top-k), either
#   --slurm   through scripts/slurm/run.sh on a one-node local cluster
#             (scripts/slurm/local-cluster.sh), the row slices as array tasks, or
#   (default) on this machine without Slurm: one index, one exact and one ANN search.
# Every swan process is timed by /usr/bin/time (wall seconds, peak RSS); the per-stage
# table (wall from the first task's start to the last one's end, the slowest task, the
# largest peak RSS of a task) is printed and written to WORK/bench.json.
#
#   scripts/bench_archive.sh --work DIR [--rows N] [--queries Q] [--data SYNTH_DIR]
#                            [--slurm --shards N --task-threads T] [--threads T]
#                            [--target-recall R] [--index-args "..."]
#
# --data reuses an existing `swan synth` folder (otherwise DIR/data is synthesised, seed 1).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bench_archive: $*" >&2; exit 2; }

work="" rows=1000000 queries=1000 data="" slurm=0 shards=5 task_threads=1 threads=0 target=0.95 index_args=""
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || [ "$1" = --slurm ] || die "$1 needs a value"
  case "$1" in
    --work) work=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --slurm) slurm=1; shift ;;
    --shards) shards=$2; shift 2 ;;
    --task-threads) task_threads=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --target-recall) target=$2; shift 2 ;;
    --index-args) index_args=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[ -n "$work" ] || die "--work is required"
swan=${SWAN:-$root/target/release/swan}
[ -x "$swan" ] || die "no swan binary at $swan (cargo build --release, or set SWAN)"
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ ! -e "$work/timings.tsv" ] || die "$work/timings.tsv exists: use a fresh --work folder"

# A swan that logs its wall time and peak RSS, one line per process (appends of one short
# line are atomic, so concurrent array tasks do not interleave).
timed=$work/swan-timed
cat > "$timed" <<EOF
#!/usr/bin/env bash
tf=\$(mktemp)
start=\$(date +%s.%N)
/usr/bin/time -f "%e %M" -o "\$tf" "$swan" "\$@"
rc=\$?
end=\$(date +%s.%N)
read -r wall rss < <(tail -n 1 "\$tf")
rm -f "\$tf"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "\$start" "\$end" "\$wall" "\$rss" "\$rc" "\${SLURM_ARRAY_TASK_ID:--}" "\$*" >> "$work/timings.tsv"
exit \$rc
EOF
chmod +x "$timed"
: > "$work/timings.tsv"

if [ -z "$data" ]; then
  data=$work/data
  [ -f "$data/manifest.json" ] || "$timed" synth --kind crossmodal --rows "$rows" --queries "$queries" --dtype f16 --out "$data"
fi
[ -f "$data/manifest.json" ] || die "no swan synth set in $data"
load_before=$(cut -d' ' -f1 /proc/loadavg)

tune=(--target-recall "$target")
if [ "$slurm" = 1 ]; then
  cluster=$work/cluster
  "$root/scripts/slurm/local-cluster.sh" start "$cluster"
  trap '"$root/scripts/slurm/local-cluster.sh" stop "$cluster"' EXIT
  export SLURM_CONF=$cluster/slurm.conf
  "$root/scripts/slurm/run.sh" all --work "$work/pipeline" --embeddings "$data" --shards "$shards" \
    --queries captions --table images -k 10 --swan "$timed" --cpus "$task_threads" \
    --index-args "--threads $task_threads ${tune[*]} $index_args" --wait
  eval_json=$work/pipeline/eval/ann.json
  index_json=("$work"/pipeline/index/shard-*/index.json)
else
  mkdir -p "$work/topk" "$work/eval"
  # shellcheck disable=SC2086
  "$timed" index build --embeddings "$data" --table images --out "$work/index" --threads "$threads" "${tune[@]}" $index_args --json
  "$timed" search --embeddings "$data" --table images --queries captions -k 10 --out "$work/topk/exact" --json
  "$timed" search --embeddings "$data" --table images --queries captions --index "$work/index" -k 10 --out "$work/topk/ann" --json
  "$timed" eval --embeddings "$data" --topk "$work/topk/ann" --exact-topk "$work/topk/exact" --json > "$work/eval/ann.json.tmp"
  mv "$work/eval/ann.json.tmp" "$work/eval/ann.json"
  eval_json=$work/eval/ann.json
  index_json=("$work/index/index.json")
fi

python3 - "$work" "$eval_json" "$load_before" "$slurm" "$shards" "${index_json[@]}" <<'EOF'
import json, os, sys
work, eval_json, load_before, slurm, shards, *indexes = sys.argv[1:]
stages = {}
def stage(args):
    a = args.split()
    if a[:2] == ["index", "build"]: return "index build"
    if a[:2] == ["index", "shards"]: return "index shards"
    if a[:2] == ["topk", "merge"]: return "topk merge"
    if a[:1] == ["search"]: return "search ANN" if "--index" in a else "search exact"
    if a[:1] in (["synth"], ["eval"]): return a[0]
    return "other"
for line in open(os.path.join(work, "timings.tsv")):
    start, end, wall, rss, rc, task, args = line.rstrip("\n").split("\t", 6)
    s = stages.setdefault(stage(args), {"tasks": 0, "start": float(start), "end": float(end), "slowest_s": 0.0, "peak_rss_mib": 0.0, "failed": 0})
    s["tasks"] += 1
    s["start"], s["end"] = min(s["start"], float(start)), max(s["end"], float(end))
    s["slowest_s"] = max(s["slowest_s"], float(wall))
    s["peak_rss_mib"] = max(s["peak_rss_mib"], int(rss) / 1024)
    s["failed"] += rc != "0"
order = ["synth", "index build", "index shards", "search exact", "search ANN", "topk merge", "eval", "other"]
ev = json.load(open(eval_json))
efs = [json.load(open(p)).get("search", {}).get("ef") for p in indexes]
out = {"slurm": slurm == "1", "shards": int(shards) if slurm == "1" else 1, "load_before": float(load_before),
       "load_after": os.getloadavg()[0], "recall_at_10_vs_exact": [l.get("recall_at_k_vs_exact") for l in ev["lists"]],
       "index_ef": efs, "stages": {k: {**v, "wall_s": v["end"] - v["start"]} for k, v in stages.items()}}
json.dump(out, open(os.path.join(work, "bench.json"), "w"), indent=1)
print(f"{'stage':<14} {'tasks':>5} {'wall s':>9} {'slowest task s':>15} {'peak RSS MiB':>13}")
for k in order:
    if k in stages:
        v = out["stages"][k]
        print(f"{k:<14} {v['tasks']:>5} {v['wall_s']:>9.1f} {v['slowest_s']:>15.1f} {v['peak_rss_mib']:>13.0f}" + ("  FAILED" if v["failed"] else ""))
print(f"recall@10 of the ANN top-k against the exact top-k: {out['recall_at_10_vs_exact']}; index ef: {efs}")
print(f"load average {out['load_before']} before, {out['load_after']:.2f} after")
EOF
