#!/usr/bin/env bash
# Installs the offline Kubernetes validation tools the tests use into .cache/npm (project
# local, never vendored): kubernetes-models (the official schemas as validators) and js-yaml
# (to read rendered YAML streams). Idempotent. tests/support/validate_k8s.mjs uses them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.cache/npm"
want=("kubernetes-models@4.5.1" "js-yaml@4.1.0")
missing=()
for pkg in "${want[@]}"; do
  name="${pkg%@*}"
  version="${pkg##*@}"
  have=$(node -p "try { require('$prefix/node_modules/$name/package.json').version } catch (e) { '' }" 2>/dev/null || true)
  [[ "$have" == "$version" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ -z "${NODE_EXTRA_CA_CERTS:-}" && -r /etc/ssl/certs/ca-certificates.crt ]]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
  echo "k8s-tools: installing ${missing[*]} into .cache/npm"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "${missing[@]}" >/dev/null
fi
