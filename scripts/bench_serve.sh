#!/usr/bin/env bash
# Load test of `swan serve`: text queries against a 200,000-row `swan synth` set through
# its HNSW index, with the fixture hashinit checkpoint and the fixture corpus's vocabulary
# (the synth set has no corpus; its rows are searched all the same). For each mode,
# dynamic batching on (--max-batch 32) and off (--max-batch 1), alternating, ROUNDS
# times: a fresh server, a warm-up, then closed-loop runs at 1, 8, 32 and 128 concurrent
# clients (REQUESTS queries each) and an open-loop run at 100 queries/s; server RSS
# before and after. Query texts: the fixture corpus's test captions, in turn.
# The load generator is server/examples/load.rs (one keep-alive connection per client).
#
#   scripts/bench_serve.sh > serve-bench.jsonl      # one JSON line per run; a table on stderr
#
# Env: ROWS (200000), REQUESTS (1000), ROUNDS (2), CONCURRENCY ("1 8 32 128"), RATE (100),
#      THREADS (libtorch threads, default all), BENCH_DIR (default target/bench-serve).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --no-build
cd "$root"
cargo build --release -p swan --bin swan >&2
cargo build --release -p swan-server --example load >&2
swan=$root/target/release/swan
load=$root/target/release/examples/load
rows=${ROWS:-200000}
requests=${REQUESTS:-1000}
dir=${BENCH_DIR:-$root/target/bench-serve}
texts=$root/fixtures/corpus/test_caps.txt
mkdir -p "$dir"

[ -f "$dir/synth-$rows/manifest.json" ] || "$swan" synth --rows "$rows" --queries 10 --out "$dir/synth-$rows" >&2
[ -f "$dir/index-$rows/index.json" ] || "$swan" index build --embeddings "$dir/synth-$rows" --out "$dir/index-$rows" >&2
[ -f "$dir/ckpt.safetensors" ] || "$swan" checkpoint hashinit --out "$dir/ckpt.safetensors" >&2
[ -f "$dir/vocab.json" ] || "$swan" vocab build "$root/fixtures/corpus" --out "$dir/vocab.json" >&2

pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap stop EXIT
rss() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status"; }

run_mode() {  # $1 = max batch, $2 = round
    local log="$dir/serve-$1-$2.log" url= started
    started=$(date +%s.%N)
    "$swan" serve --embeddings "$dir/synth-$rows" --index "$dir/index-$rows" --checkpoint "$dir/ckpt.safetensors" \
        --vocab "$dir/vocab.json" --device cpu ${THREADS:+--threads "$THREADS"} --addr 127.0.0.1:0 \
        --max-batch "$1" 2> "$log" &
    pid=$!
    for _ in $(seq 600); do
        url=$(sed -n 's/^swan: serving .* on \(http:[^ ]*\)$/\1/p' "$log")
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 2; }
        sleep 0.1
    done
    [ -n "$url" ] || { echo "server did not start" >&2; exit 2; }
    local startup rss_before
    startup=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }")
    "$load" --url "$url" --texts "$texts" --concurrency 8 --requests 200 > /dev/null  # warm-up
    rss_before=$(rss)
    local out head
    for c in ${CONCURRENCY:-1 8 32 128}; do
        out=$("$load" --url "$url" --texts "$texts" --concurrency "$c" --requests "$requests")
        head="{\"max_batch\":$1,\"round\":$2,\"startup_s\":$startup,\"rss_before_mib\":$rss_before,\"rss_after_mib\":$(rss),"
        echo "${out/#\{/$head}"
    done
    out=$("$load" --url "$url" --texts "$texts" --concurrency 32 --rate "${RATE:-100}" --requests "$requests")
    head="{\"max_batch\":$1,\"round\":$2,\"startup_s\":$startup,\"rss_before_mib\":$rss_before,\"rss_after_mib\":$(rss),"
    echo "${out/#\{/$head}"
    stop
}

# Not in a pipeline: the server's pid must stay in this shell for the EXIT trap.
: > "$dir/results.jsonl"
for round in $(seq "${ROUNDS:-2}"); do
    for b in 32 1; do
        run_mode "$b" "$round" > "$dir/run.jsonl"
        cat "$dir/run.jsonl" >> "$dir/results.jsonl"
        cat "$dir/run.jsonl"
    done
done

python3 - "$dir/results.jsonl" >&2 <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print("| max batch | round | clients | rate | QPS | p50 ms | p99 ms | errors | mean batch | RSS MiB before/after |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in runs:
    print(f"| {r['max_batch']} | {r['round']} | {r['concurrency']} | {r['rate'] or '-'} | {r['qps']:.0f} | {r['p50_ms']:.1f} | "
          f"{r['p99_ms']:.1f} | {r['errors']} | {r['mean_batch']:.1f} | {r['rss_before_mib']}/{r['rss_after_mib']} |")
PY
