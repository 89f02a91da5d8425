#!/usr/bin/env bash
# Checks formatting of every tracked C++/CUDA/proto source against .clang-format.
# `scripts/lint.sh --fix` rewrites files in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.cu' '*.cuh' '*.proto')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
clang-format --dry-run --Werror "${files[@]}"
echo "lint: ${#files[@]} files formatted correctly"
