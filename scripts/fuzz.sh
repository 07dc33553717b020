#!/usr/bin/env bash
# Fuzz swan's parsers: build fuzz/ with cargo-fuzz, then run each target for a fixed number
# of executions, one target at a time in one process, and print a table of executions and
# crashes. Exits 1 if any target crashed (its input is kept in fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [EXECUTIONS_PER_TARGET [TARGET...]]   (default 100000, every target)
#   FUZZ_RUNS_npy=2000000 scripts/fuzz.sh 1000000            (a count for one target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; without nightly it
# builds on stable with RUSTC_BOOTSTRAP=1. New corpus entries go to a scratch folder, never
# into the committed fuzz/seeds/ and fuzz/regressions/, which libFuzzer only reads.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-100000}
shift || true
cd "$root/fuzz"

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz.sh: no nightly toolchain; building on stable with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
# The main workspace's target folder holds builds without sanitizer flags: use fuzz/'s own.
unset CARGO_TARGET_DIR
export LIBTORCH=${LIBTORCH:-$root/.venv-libtorch}
# The fuzz binaries link libtorch (through the embedder) without the workspace's RUNPATH.
export LD_LIBRARY_PATH=$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list)
fi
"${fuzz[@]}" build -O

# Scratch files of the targets (TMPDIR) and the growing corpus, on a RAM disk where there is one.
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$base/swan-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=0
total=0
rows=()
for t in "${targets[@]}"; do
    n_var="FUZZ_RUNS_$t"
    n=${!n_var:-$runs}
    mkdir -p "$scratch/corpus/$t" "$scratch/tmp/$t" "artifacts/$t"
    dirs=("$scratch/corpus/$t" "seeds/$t")
    [ -d "regressions/$t" ] && dirs+=("regressions/$t")
    log="$scratch/$t.log"
    before=$(find "artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    set +e
    TMPDIR="$scratch/tmp/$t" "${fuzz[@]}" run -O "$t" "${dirs[@]}" -- \
        -runs="$n" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    secs=$(($(date +%s) - start))
    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    crashes=$(($(find "artifacts/$t" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # stopped without leaving an input (e.g. a build or start-up failure)
    fi
    if [ "$crashes" -ne 0 ]; then
        failed=1
        echo "fuzz.sh: $t failed (exit $status); last lines of its log:" >&2
        tail -n 30 "$log" >&2
    fi
    total=$((total + ${executed:-0}))
    rows+=("$(printf '%-12s %12s %8s %8s' "$t" "${executed:-?}" "$crashes" "$secs")")
done

printf '%-12s %12s %8s %8s\n' target executions crashes seconds
printf '%s\n' "${rows[@]}"
printf '%-12s %12s\n' total "$total"
exit "$failed"
