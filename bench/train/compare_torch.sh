#!/usr/bin/env bash
# Runs bench/train and its PyTorch twin on the same GPT shape, random tokens, all cores, and
# prints both tokens/s. PyTorch is optional (Debian's python3-torch, via /usr/bin/python3).
#   bench/train/compare_torch.sh [--d-model 256] [--layers 4] [--heads 4] [--seq 64] [--batch 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
d=256 l=4 h=4 t=64 b=32 steps=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --d-model) d=$2 ;; --layers) l=$2 ;; --heads) h=$2 ;; --seq) t=$2 ;; --batch) b=$2 ;;
    --steps) steps=$2 ;; *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done
out=${OUT_DIR:-build/bench-results}
mkdir -p "$out"
build/default/bench/train_bench --layers "$l" --heads "$h" --d-model "$d" --seq "$t" \
  --batch "$b" --steps "$steps" --json "$out/train_bench_d$d.json"
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  /usr/bin/python3 bench/train/torch_gpt.py --layers "$l" --heads "$h" --d-model "$d" \
    --seq "$t" --batch "$b" --steps $((steps + 1)) --lr 1e-4 --warmup 1 \
    --log-every 1000 --json "$out/torch_d$d.json" | tail -1
else
  echo "python3-torch not installed: PyTorch comparison skipped"
fi
