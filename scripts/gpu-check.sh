#!/usr/bin/env bash
# The device check for sessions that are lent a GPU: build with CUDA, run the gpu-labelled
# tests (each CUDA kernel against its CPU twin, the CUDA GPT against the CPU GPT, the trainer
# with device: cuda against the CPU run, NCCL alone and through the conformance suite) and the
# GPU training benchmark, and record the results under $OUT (default build/gpu-check). One
# short script so it fits the device budget; run it as
#   scripts/gpu-check.sh            (on the GPU machine, from the repository root)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-build/gpu-check}"
mkdir -p "$out"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  scripts/install-deps.sh
  MT_PRESET=default scripts/build.sh
  # Each gpu test runs once; gtest writes <binary>.json per test into $out (a directory
  # given with a trailing slash).
  GTEST_OUTPUT="json:$(realpath "$out")/" ctest --test-dir build/default -L gpu \
    --output-on-failure --timeout 300
  echo "gpu tests rc=$?"
  # GPT-2 124M shape: tokens/s, MFU, and the cuBLAS rate on the step's GEMM shapes.
  timeout 300 build/default/bench/gpu_train_bench --json "$out/gpu_train_bench.json"
  timeout 120 build/default/bench/gpu_train_bench --fp32 --steps 3 \
    --json "$out/gpu_train_bench_fp32.json"
} 2>&1 | tee "$out/gpu-check.log"
