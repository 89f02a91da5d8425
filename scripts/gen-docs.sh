#!/usr/bin/env bash
# Regenerates the files generated from code: the job file reference, the MT_* parameters, and
# the kustomize base (k8s/base/meshtrain.yaml, the render of examples/k8s/job.yaml).
# Tests fail when the committed files differ from what the code generates.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MESHTRAIN_BIN:-build/default/bin/meshtrain}
[[ -x "$bin" ]] || { echo "gen-docs: build first ($bin missing)" >&2; exit 1; }
"$bin" docs job-file --force --out docs/job-file.md
"$bin" docs params --force --out docs/parameters.md
"$bin" k8s render examples/k8s/job.yaml > k8s/base/meshtrain.yaml
echo "gen-docs: wrote docs/job-file.md docs/parameters.md k8s/base/meshtrain.yaml"
