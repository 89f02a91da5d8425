#!/usr/bin/env bash
# Configures and builds one CMake preset (default: `default`, Release with CUDA when nvcc is
# found). Used by quickstart.sh and test.sh; ccache makes rebuilds cheap. Arguments name the
# targets to build (quickstart.sh: only `meshtrain`); none: everything, tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${MT_PRESET:-default}"
log="build/configure-$preset.log"
mkdir -p build
cmake --preset "$preset" >"$log" 2>&1 || { cat "$log"; exit 1; }
# The feature summary (✓/✗ per optional feature) is the useful part of configure output.
sed -n '/meshtrain .* features:/,/Configuring done/p' "$log" | grep -v 'Configuring done\|Generating done'

targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
