#!/usr/bin/env bash
# Checks formatting of every tracked C++/CUDA/proto source against .clang-format.
# `scripts/lint.sh --fix` rewrites files in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tracked files and new ones not yet added (so a check before `git add` sees them too).
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cc' '*.h' '*.cu' '*.cuh' '*.proto')
if [[ "${1:-}" == "--fix" ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
clang-format --dry-run --Werror "${files[@]}"
echo "lint: ${#files[@]} files formatted correctly"
