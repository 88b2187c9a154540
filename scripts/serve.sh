#!/usr/bin/env bash
# Installs what is missing, builds iocomp (Release) and serves the current directory on port 8182.
# Extra arguments go to iocomp, e.g. scripts/serve.sh --port 9000.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/install-deps.sh" build
cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$repo/build" -j"$(nproc)" --target iocomp
exec "$repo/build/iocomp" --root "$PWD" "$@"
