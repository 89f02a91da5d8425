#!/usr/bin/env bash
# Regenerates the docs that are generated from code (job file reference, MT_* parameters).
# Tests fail when the committed files differ from what the code generates.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MESHTRAIN_BIN:-build/default/bin/meshtrain}
[[ -x "$bin" ]] || { echo "gen-docs: build first ($bin missing)" >&2; exit 1; }
"$bin" docs job-file --out docs/job-file.md
"$bin" docs params --out docs/parameters.md
echo "gen-docs: wrote docs/job-file.md docs/parameters.md"
