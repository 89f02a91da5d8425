#!/usr/bin/env bash
# The device check for sessions that are lent a GPU: build with CUDA, run the gpu-labelled
# tests (each CUDA kernel against its CPU twin) and record the results under $OUT (default
# build/gpu-check). One short script so it fits the device budget; run it as
#   scripts/gpu-check.sh            (on the GPU machine, from the repository root)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-build/gpu-check}"
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  scripts/install-deps.sh
  MT_PRESET=default scripts/build.sh
  ctest --test-dir build/default -L gpu --output-on-failure
  echo "gpu tests rc=$?"
  for t in build/default/tests/unit/runtime/kernels/cuda/*_test; do
    "$t" --gtest_output="json:$out/$(basename "$t").json" >/dev/null 2>&1
  done
} 2>&1 | tee "$out/gpu-check.log"
