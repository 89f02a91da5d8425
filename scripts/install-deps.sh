#!/usr/bin/env bash
# Installs every system dependency meshtrain needs, from Debian 12 packages only.
# This file is the one list of dependencies. Idempotent: installs only what is missing,
# runs `apt-get update` only when something is missing. Works as root in a bare container
# (uses sudo when not root and sudo exists).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git ca-certificates clang-format
  # control plane: gRPC + Protobuf (runtime, headers, compilers)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # checkpoints
  libhdf5-dev hdf5-tools python3-h5py
  # collectives
  libopenmpi-dev openmpi-bin libgloo-dev
  # blob storage, hashing, compression
  libcurl4-openssl-dev libssl-dev libpugixml-dev libxxhash-dev libzstd-dev
  # config, CLI, logging, registry
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libsqlite3-dev
  # tokenizers: split patterns (PCRE2 JIT), SentencePiece models and their reference encoder
  libpcre2-dev libsentencepiece-dev python3-sentencepiece
  # CPU math
  libopenblas-dev libopenblas-openmp-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev prometheus
  # a control-service client that is not ours (tests): Python grpcio + protobuf
  python3-grpcio python3-protobuf
  # test services (Azurite comes from npm into .cache/npm, see scripts/start-azurite.sh)
  nodejs npm curl
  # `kubectl kustomize` for the k8s/ overlays (any kubectl on PATH will do, see below)
  kubernetes-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query prints "install ok installed" only for fully installed packages.
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
# node/npm may come from elsewhere (e.g. a preinstalled Node 20): accept them when on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi
# kubectl may come from elsewhere (the Kubernetes project's own packages): accept it on PATH.
if command -v kubectl >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == kubernetes-client ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
