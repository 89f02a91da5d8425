#!/usr/bin/env bash
# Starts Azurite (the Azure Blob emulator) for tests, on 127.0.0.1 and a free port.
# Meant to be sourced: exports AZURITE_BLOB_ENDPOINT (http://127.0.0.1:PORT/devstoreaccount1)
# and AZURITE_PID, and defines stop_azurite. Azurite comes from npm into .cache/npm (project
# local, never vendored); its blob data goes to a temporary directory removed on stop.
# Run directly (`scripts/start-azurite.sh`) it starts Azurite and waits until interrupted.

_mt_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_mt_npm_prefix="$_mt_root/.cache/npm"
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"

# Node uses its bundled CA list; also trust the system store (egress proxies, corporate CAs).
if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -r /etc/ssl/certs/ca-certificates.crt ]]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

_mt_azurite_bin="$_mt_npm_prefix/node_modules/.bin/azurite-blob"
if [[ ! -x "$_mt_azurite_bin" ]] || [[ "$("$_mt_azurite_bin" --version 2>/dev/null)" != "$AZURITE_VERSION" ]]; then
  echo "start-azurite: installing azurite@$AZURITE_VERSION into .cache/npm"
  mkdir -p "$_mt_npm_prefix"
  npm install --prefix "$_mt_npm_prefix" --no-audit --no-fund --loglevel=error \
    "azurite@$AZURITE_VERSION" >/dev/null
fi

_mt_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
AZURITE_DIR=$(mktemp -d /tmp/meshtrain-azurite.XXXXXX)
# Blob service only, started through its own binary so there is exactly one PID to stop.
"$_mt_azurite_bin" --blobHost 127.0.0.1 --blobPort "$_mt_port" --location "$AZURITE_DIR" \
  --skipApiVersionCheck --disableTelemetry --silent >"$AZURITE_DIR.log" 2>&1 &
AZURITE_PID=$!
export AZURITE_PID
export AZURITE_BLOB_ENDPOINT="http://127.0.0.1:$_mt_port/devstoreaccount1"

stop_azurite() {
  if [[ -n "${AZURITE_PID:-}" ]]; then
    kill "$AZURITE_PID" 2>/dev/null || true
    wait "$AZURITE_PID" 2>/dev/null || true
    AZURITE_PID=""
  fi
  rm -rf "$AZURITE_DIR" "$AZURITE_DIR.log"
}

# Ready when it answers HTTP at all (an anonymous list is refused with 4xx, which is fine).
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "$AZURITE_BLOB_ENDPOINT?comp=list"; then break; fi
  if ! kill -0 "$AZURITE_PID" 2>/dev/null; then
    echo "start-azurite: azurite exited:" >&2
    cat "$AZURITE_DIR.log" >&2
    return 1 2>/dev/null || exit 1
  fi
  sleep 0.1
done
echo "start-azurite: azurite $AZURITE_VERSION at $AZURITE_BLOB_ENDPOINT (pid $AZURITE_PID)"

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  trap stop_azurite EXIT
  wait "$AZURITE_PID"
fi
