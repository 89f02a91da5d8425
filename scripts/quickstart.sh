#!/usr/bin/env bash
# The quickstart: installs what is missing, builds, and runs examples/quickstart.yaml.
# Today the runtime stops at validation (the trainer arrives with issue #3); every later part
# extends this script rather than replacing it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
preset="${MT_PRESET:-default}"
bin="build/$preset/bin/meshtrain"
"$bin" validate examples/quickstart.yaml --world 4
