#!/usr/bin/env bash
# The data benchmarks in one run against a fresh Azurite (scripts/start-azurite.sh) and, when
# python3 is present, a plain static file server on loopback:
#   blob_get      our ranged GETs vs curl (1 and k connections; curl on the static server)
#   loader_bench  the streaming loader vs the quickstart trainer's consumption
# With MT_BENCH_JSON_DIR set, each writes JSON there.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench="build/${MT_PRESET:-default}/bench"
source scripts/start-azurite.sh
static_dir=$(mktemp -d)
static_pid=""
cleanup() {
  stop_azurite
  [[ -n "$static_pid" ]] && kill "$static_pid" 2>/dev/null || true
  rm -rf "$static_dir"
}
trap cleanup EXIT
static=()
if command -v python3 >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 -m http.server "$port" --bind 127.0.0.1 --directory "$static_dir" >/dev/null 2>&1 &
  static_pid=$!
  static=(--static-dir "$static_dir" --static-url "http://127.0.0.1:$port")
fi
sleep 1
json() { [[ -n "${MT_BENCH_JSON_DIR:-}" ]] && echo "--json $MT_BENCH_JSON_DIR/$1.json" || true; }
# shellcheck disable=SC2046
"$bench/blob_get" --endpoint "$AZURITE_BLOB_ENDPOINT" "${static[@]}" $(json blob_get)
echo
# shellcheck disable=SC2046
"$bench/loader_bench" --endpoint "$AZURITE_BLOB_ENDPOINT" $(json loader_bench)
