"""The seeded-fault corpus (tests/verify/faults/faults.yaml): which faults `spinerules
verify` finds, and which the property search finds at N examples, uniform and aimed.

    python benchmarks/verify_faults.py                    # 2,000 examples; prints a table
    python benchmarks/verify_faults.py --examples 200     # smaller
    python benchmarks/verify_faults.py --only planted_narrow_band --json out.json

Run from the repository root with `spinerules` importable (`PYTHONPATH=src`). The numbers
of the last run are in docs/authors/verify.md ("The fault corpus"). Slow: each fault the
uniform search misses costs 2,000 evaluations. The property search checks the invariants
(`names=("invariants",)`: a contradiction cannot occur in a checked guideline, SR403); a
fault counts as found when the search reports a failure that the unchanged guideline (with
the fault's goal, if any) does not give.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.verify.faults.corpus import baseline, faults, materialise, verify_finds  # noqa: E402

import spinerules  # noqa: E402
from spinerules.testing.properties import AS_OF, check_properties  # noqa: E402
from spinerules.verify.seeds import aimed_seeds  # noqa: E402

_BASE: dict[Any, set[str]] = {}


def _failures(entry: Path, examples: int, aimed: bool) -> tuple[set[str], float]:
    g = spinerules.load(entry)
    start = time.perf_counter()
    seeds = aimed_seeds(g, as_of=AS_OF) if aimed else []
    found = {f.message for f in check_properties(g, examples=examples, names=("invariants",),
                                                 seeds=seeds)}
    return found, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--json", default=None, help="write the rows to this file as well")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the property search on the unchanged guidelines (their "
                    "invariants, goals included, are proved by verify: it cannot fail there)")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for fault in faults():
        if args.only and fault["id"] not in args.only:
            continue
        row: dict[str, Any] = {"id": fault["id"], "category": fault["category"]}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            start = time.perf_counter()
            found, new = verify_finds(fault, folder / "v")
            row["verify"] = found
            row["verify_kinds"] = sorted({f.kind for f in new})
            row["verify_s"] = round(time.perf_counter() - start, 1)
            for aimed in (True, False):
                key = (fault.get("guideline", "vcf"), fault.get("goal"), aimed)
                if args.no_baseline:
                    _BASE[key] = set()
                if key not in _BASE:
                    _BASE[key], _ = _failures(baseline(fault, folder / f"b{aimed}"),
                                              args.examples, aimed)
                after, seconds = _failures(materialise(fault, folder / f"a{aimed}"),
                                           args.examples, aimed)
                label = "aimed" if aimed else "uniform"
                row[label] = bool(after - _BASE[key])
                row[f"{label}_s"] = round(seconds, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    n = len(rows)
    v, u, a = (sum(r[k] for r in rows) for k in ("verify", "uniform", "aimed"))
    print(f"\n{n} faults, {args.examples} examples: verify {v}/{n}, uniform {u}/{n}, "
          f"aimed {a}/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
