#!/usr/bin/env bash
# Fails when an #include runs against the module layering (DESIGN §2: launcher -> control,
# train -> checkpoint, parallelism -> runtime -> proto). Each rule: a folder, and the folders
# its sources must not include. `scripts/check-layering.sh [ROOT]` checks ROOT (default: this
# repository); tests run it on the tree and on a copy with a violation planted.
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root"
rules=(
  "runtime/core:runtime/tensor runtime/kernels runtime/nn runtime/optim runtime/comm runtime/storage runtime/data runtime/metrics runtime/rpc runtime/job parallelism checkpoint train launcher control"
  "runtime:parallelism checkpoint train launcher control"
  "parallelism:checkpoint train launcher control"
  "checkpoint:train launcher control"
  "train:launcher control"
  "control:launcher"
)
bad=0
# Reports every #include in FOLDER of a path matching the regex PATH_RE, with WHY.
refuse() {
  local folder="$1" path_re="$2" why="$3" hits hit
  [[ -d "$folder" ]] || return 0
  if hits=$(grep -rnE --include='*.h' --include='*.cc' --include='*.cu' --include='*.cuh' \
      "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"${path_re}" "$folder"); then
    while IFS= read -r hit; do
      echo "layering: $hit: $folder $why" >&2
      bad=1
    done <<<"$hits"
  fi
}
for rule in "${rules[@]}"; do
  folder="${rule%%:*}"
  for banned in ${rule#*:}; do
    refuse "$folder" "${banned}/" "must not include $banned/"
  done
done
# Above runtime/ models are reached through the interface (runtime/nn/model.h, models.h):
# no concrete model's header, so the next family needs no change there.
for folder in parallelism checkpoint train launcher control bench; do
  refuse "$folder" 'runtime/nn/(gpt|cuda/cuda_gpt)\.h"' "must reach models through runtime/nn/model.h"
done
if [[ $bad -ne 0 ]]; then
  echo "layering: dependencies must point launcher -> control, train -> checkpoint," \
    "parallelism -> runtime (DESIGN §2); a lower module declares an interface instead" >&2
  exit 1
fi
echo "layering: ok"
