#!/usr/bin/env bash
# Every repository path the README and docs/ name exists (a file, a folder, or a benchmark or
# test binary built from a source of that name), so a reader following them never meets a
# missing file (issue 20: the README named examples/job-with-dp4.yaml, which did not exist).
# Also: the quickstart builds only the binary it runs, not the whole test suite.
set -euo pipefail
src="${1:-$(dirname "$0")/../..}"
cd "$src"
missing=0
while IFS=: read -r file line path; do
  path="${path%.}"                         # a path ending a sentence
  path="${path%/...}"                      # "tests/unit/runtime/job/..."
  [[ -e "$path" ]] && continue
  # A binary: bench/ckpt_bench is built from bench/**/ckpt_bench.cc.
  name=$(basename "$path")
  if [[ -n $(find "$(dirname "$path")" -name "$name.cc" -print -quit 2>/dev/null) ]]; then
    continue
  fi
  echo "$file:$line: names $path, which does not exist"
  missing=1
done < <(grep -onE '(examples|scripts|docs|bench|k8s|tests)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]' \
           README.md docs/*.md)
# Job files the commands shown run (job.yaml / JOB.yaml stand for the reader's own).
while IFS=: read -r file line cmd; do
  job="${cmd##* }"
  [[ "$job" == /* || "${job,,}" == job.yaml || -e "$job" ]] && continue
  echo "$file:$line: runs $job, which does not exist"
  missing=1
done < <(grep -onE 'meshtrain [a-z]+ [^ `]+\.yaml' README.md docs/*.md)
if ! grep -qE '^scripts/build\.sh meshtrain\b' scripts/quickstart.sh; then
  echo "scripts/quickstart.sh: does not build only the meshtrain target (scripts/build.sh meshtrain)"
  missing=1
fi
if ((missing)); then exit 1; fi
echo "docs paths: ok"
