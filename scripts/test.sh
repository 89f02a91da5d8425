#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts the services tests need, runs
# ctest. Extra arguments go to ctest (e.g. `scripts/test.sh -L unit`, `-R cli`).
# MT_PRESET picks the CMake preset (default, debug, asan, cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/npm-tools.sh  # Kubernetes schemas, tokenizer files and reference encoders (npm, .cache/npm)
preset="${MT_PRESET:-default}"
# shellcheck source=start-azurite.sh
source scripts/start-azurite.sh
trap stop_azurite EXIT
ctest --test-dir "build/$preset" --output-on-failure --no-tests=error -j "$(nproc)" "$@"
