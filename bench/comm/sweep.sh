#!/usr/bin/env bash
# The collective sweeps bench/RESULTS.md records: every op, Gloo (ranks as threads on
# loopback) and MPI (mpirun), 2 and 4 ranks, 8 B to 256 MiB in x2 steps, out-of-place and
# in-place, each next to the raw engine call. Tables go to stdout and OUT_DIR/<op>_<backend>_<n>.txt,
# JSON to OUT_DIR/<op>_<backend>_<n>.json, logs to OUT_DIR/<op>_<backend>_<n>.err.
#   bench/comm/sweep.sh [OUT_DIR] [flags replacing the defaults "-b 8 -e 256M -f 2 -n 30 -w 3"]
set -euo pipefail
cd "$(dirname "$0")/../.."
bench="build/${MT_PRESET:-default}/bench"
out="${1:-build/bench-results/comm}"
shift || true
mkdir -p "$out"
flags=(-b 8 -e 256M -f 2 -n 30 -w 3)
[[ $# -gt 0 ]] && flags=("$@")
mpirun_cmd=(mpirun --oversubscribe)
[[ $(id -u) == 0 ]] && mpirun_cmd+=(--allow-run-as-root)  # MACHINE-NOTES: mpirun as root
for n in 2 4; do
  for op in allreduce allgather reducescatter broadcast; do
    for backend in gloo mpi; do
      name="${op}_${backend}_${n}"
      if [[ $backend == gloo ]]; then
        cmd=("$bench/${op}_perf" --backend gloo --nranks "$n")
      else
        cmd=("${mpirun_cmd[@]}" -np "$n" "$bench/${op}_perf" --backend mpi)
      fi
      "${cmd[@]}" "${flags[@]}" --json "$out/$name.json" 2>"$out/$name.err" | tee "$out/$name.txt"
    done
  done
done
