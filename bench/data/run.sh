#!/usr/bin/env bash
# Runs bench/blob_get against a fresh Azurite (scripts/start-azurite.sh); args pass through.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/start-azurite.sh
trap stop_azurite EXIT
sleep 1
"build/${MT_PRESET:-default}/bench/blob_get" --endpoint "$AZURITE_BLOB_ENDPOINT" "$@"
