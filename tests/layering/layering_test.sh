#!/usr/bin/env bash
# The layering check (scripts/check-layering.sh) passes on this tree and fails, naming the
# file and the rule, on a copy with wrong-way includes planted.
set -euo pipefail
src="$1"
"$src/scripts/check-layering.sh" "$src"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/runtime/nn" "$tmp/train" "$tmp/checkpoint/store"
echo '#include "train/trainer.h"' >"$tmp/runtime/nn/bad.h"
printf '// fine\n  #include "control/registry/registry.h"\n' >"$tmp/train/bad.cc"
echo '#include "runtime/core/status.h"' >"$tmp/checkpoint/store/fine.cc"
echo '#include "runtime/nn/gpt.h"' >"$tmp/train/concrete.h"
if out=$("$src/scripts/check-layering.sh" "$tmp" 2>&1); then
  echo "FAIL: planted violations passed: $out"
  exit 1
fi
grep -q 'runtime/nn/bad.h:1:.*runtime must not include train/' <<<"$out" || { echo "FAIL: $out"; exit 1; }
grep -q 'train/bad.cc:2:.*train must not include control/' <<<"$out" || { echo "FAIL: $out"; exit 1; }
grep -q 'train/concrete.h:1:.*through runtime/nn/model.h' <<<"$out" || { echo "FAIL: $out"; exit 1; }
if grep -q 'fine.cc' <<<"$out"; then echo "FAIL: flagged an allowed include: $out"; exit 1; fi
echo "layering test: ok"
