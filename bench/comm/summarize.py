#!/usr/bin/env python3
"""Summarises bench/comm/sweep.sh's JSON files: per op, backend and rank count, the ratio of
our busbw to the raw engine's at sizes >= 64 KiB (lowest, median, share of rows >= 0.95, per
placement), the peak busbw and the wrong-element count. Prints a Markdown table.
    bench/comm/summarize.py OUT_DIR
"""
import json
import pathlib
import statistics
import sys


def rows_of(path):
    doc = json.loads(path.read_text())
    return doc["config"], doc["results"]


def main(out_dir):
    print("| op | backend | ranks | placement | lowest ratio | median ratio | rows >= 0.95 "
          "| peak busbw GB/s | #wrong |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in sorted(pathlib.Path(out_dir).glob("*.json")):
        config, results = rows_of(path)
        for in_place in (False, True):
            rows = [r for r in results if r["in_place"] == in_place]
            big = [r["ratio_vs_raw"] for r in rows if r["bytes"] >= 64 << 10]
            if not big:
                continue
            ok = sum(1 for x in big if x >= 0.95)
            print(f"| {config['op']} | {config['backend']} | {config['nranks']} "
                  f"| {'in' if in_place else 'out'} | {min(big):.3f} "
                  f"| {statistics.median(big):.3f} | {ok}/{len(big)} "
                  f"| {max(r['busbw'] for r in rows):.2f} | {sum(r['wrong'] for r in rows)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench-results/comm")
