"""Time `spinerules verify` on every bundled guideline (the z3 encoding and every question).

    python benchmarks/verify.py            # every bundled guideline, --max-list 3
    python benchmarks/verify.py spine      # one
    python benchmarks/verify.py --max-list 2

Prints wall and CPU seconds, solver questions and findings per guideline. The figures of
the last run are in docs/performance.md ("Verify").
"""

from __future__ import annotations

import argparse
import sys
import time

import spinerules
from spinerules.api import bundled_guidelines
from spinerules.verify.analyse import verify


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--max-list", type=int, default=3)
    args = ap.parse_args()
    names = args.names or [b.name for b in bundled_guidelines()]
    print("| guideline | rules | invariants proved | findings | questions | wall s | CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        g = spinerules.load(name)
        wall, cpu = time.perf_counter(), time.process_time()
        report = verify(g, max_list=args.max_list)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"| {name} | {g.rule_count()} | {len(report.proved)} | {len(report.findings)} "
              f"| {report.queries} | {wall:.1f} | {cpu:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
