#!/usr/bin/env bash
# The quickstart: installs what is missing, builds, prepares the addition dataset and trains
# examples/quickstart.yaml on this machine (one process, CPU), printing progress and a summary.
# Later parts (coordinator, checkpoints, registry) extend this script rather than replace it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh meshtrain  # the binary only: the tests are built by scripts/test.sh
preset="${MT_PRESET:-default}"
bin="build/$preset/bin/meshtrain"
"$bin" validate -q examples/quickstart.yaml
if [[ ! -f runs/data/add2/index.json ]]; then
  "$bin" data prepare --task addition --digits 2 --sample-len 13 --train-samples 60000 \
    --eval-samples 1024 --out runs/data/add2
fi
"$bin" run examples/quickstart.yaml --run-dir runs/quickstart
