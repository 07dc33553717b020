#!/usr/bin/env bash
# Create (once) the Python virtual environment that supplies libtorch, link it into
# this clone as `.venv`, then build swan (release). Idempotent: with the venv in place
# and the build current, a second run returns within seconds.
#
#   scripts/setup.sh             venv + `cargo build --release`
#   scripts/setup.sh --no-build  venv only (scripts/test.sh builds what the tests need)
#
# The venv lives in a per-user cache shared by every clone (torch with its CUDA wheels is
# ~4.8 GB), keyed by the hash of scripts/requirements.txt so that a change of pins makes
# a fresh one instead of mutating one that other clones use.
#
#   SWAN_VENV=/path   use (or create) that venv instead of the cached one
set -euo pipefail
build=1
[ "${1:-}" = "--no-build" ] && build=0
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
req="$root/scripts/requirements.txt"
want=$(sha256sum "$req" | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/swan
# Keyed by the torch pin only: other requirements change in place (cheap), while a
# new torch gets a new venv, so clones still on the old pin keep working.
torch_pin=$(grep -E '^torch==' "$req" | cut -d= -f3)
venv=${SWAN_VENV:-$cache/venv-torch-$torch_pin}
stamp="$venv/.swan-complete"

say() { echo "swan-setup: $*" >&2; }

if [ ! -f "$stamp" ]; then
    py=${PYTHON:-python3}
    command -v "$py" >/dev/null || { say "python3 not found; install Python 3.9+"; exit 2; }
    say "creating $venv (downloads torch 2.11.0 from PyPI, ~4.8 GB; once per machine)"
    mkdir -p "$(dirname "$venv")"
    # The stamp is written last: a venv without it (an interrupted install) is rebuilt.
    # Built in place, not renamed, because a venv's scripts hard-code their own path.
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --progress-bar off -r "$req" >&2
    echo "$want" > "$stamp"
elif [ "$(cat "$stamp")" != "$want" ]; then
    say "updating $venv to scripts/requirements.txt"
    "$venv/bin/python" -m pip install --quiet --progress-bar off -r "$req" >&2
    echo "$want" > "$stamp"
fi

# nasm lets libjpeg-turbo (mozjpeg-sys) build its SIMD decoder; without it the build
# falls back to plain C, which decodes the same pixels, 2-3x slower.
if ! command -v nasm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing nasm (Debian package) for libjpeg-turbo's SIMD code"
    { apt-get install -y -q nasm || { apt-get update -q && apt-get install -y -q nasm; }; } >/dev/null 2>&1 \
        || say "could not install nasm; JPEG decoding will use plain C"
fi

# `.venv` in the clone: the one path that .cargo/config.toml and the scripts know.
ln -sfn "$venv" "$root/.venv"
torch_dir=$("$root/.venv/bin/python" -c 'import torch, os; print(os.path.realpath(os.path.dirname(torch.__file__)))')
# `.venv-libtorch`: what .cargo/config.toml gives tch as LIBTORCH.
ln -sfn "$torch_dir" "$root/.venv-libtorch"

if [ "$build" = 1 ]; then
    command -v cargo >/dev/null || { say "cargo not found; install Rust (rustup)"; exit 2; }
    (cd "$root" && cargo build --release --quiet --bin swan)
fi
