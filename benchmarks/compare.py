"""Compare the evaluation benchmark across git revisions, on this machine, in one run.

    python benchmarks/compare.py REV [REV ...]              # print a table
    python benchmarks/compare.py REV ... --output FILE.md   # and write it
    python benchmarks/compare.py REV ... --records 30000    # records per engine (default)
    python benchmarks/compare.py REV ... --rounds 3         # revisions in turn, best of 3

Figures from different machines or different days cannot be compared: a refactoring that
should change nothing is shown to change nothing by timing the revision before it and the
revision itself side by side, here and now. Each revision is checked out into a temporary
git worktree (the current tree is not touched) and the evaluation part of `run.py`
(`evaluate.run`, the peer rule set and the founding case traced) runs in a fresh process
with that revision's `src/` first on the import path. With `--rounds N` the revisions take
turns N times (A B A B ...) and each figure is the best of its N, so that a slow spell of
the machine does not land on one revision only. Peer engines are timed too: they did not
change, so their spread between the revisions is the noise of the run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Table, machine

# Run inside the revision's worktree: its own benchmarks/evaluate.py, its own src/.
_CHILD = """
import json, sys
sys.path.insert(0, "src")
sys.path.insert(0, "benchmarks")
import evaluate
n = int(sys.argv[1])
evaluate.FULL.update({"n": n, "slow": max(50, n // 50), "slowest": max(20, n // 200),
                      "trace_check": max(100, n // 10), "guideline_codes": max(200, n // 5),
                      "guideline_eval": max(100, n // 25), "guideline_traced": max(30, n // 100)})
res = evaluate.run(False, log=lambda s: None)
out = {k: v["us"] for k, v in res["timings"].items()}
out["vcf founding case, traced (ms)"] = res["vcf"].get("ms")
print(json.dumps(out))
"""

# (rows of the revisions before #18 had other names: both are listed, those present are shown)
ROWS = ("hand-written Python", "spinerules codes(record)", "spinerules codes(dict)",
        "spinerules evaluate(record), trace off", "spinerules evaluate(dict), trace off",
        "spinerules evaluate(record), trace on", "spinerules codes (fast path)",
        "spinerules evaluate (trace off)", "spinerules evaluate (trace on)",
        "zen-engine (one expression)", "zen-engine (expressions)", "zen-engine (decision)",
        "panzi-json-logic", "vcf founding case, traced (ms)")


def measure(rev: str, records: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="spinerules-compare-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--quiet", "--detach",
                        str(tree), rev], check=True)
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, str(records)], cwd=tree,
                                  check=True, capture_output=True, text=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(tree)], check=False)
    return {k: float(v) for k, v in json.loads(done.stdout.splitlines()[-1]).items()
            if v is not None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("revs", nargs="+", help="git revisions, oldest first")
    ap.add_argument("--records", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args(argv)

    names = []
    for rev in args.revs:
        short = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev],
                               check=True, capture_output=True, text=True).stdout.strip()
        names.append(f"{rev} ({short})" if short != rev else rev)
    figures: list[dict[str, float]] = [{} for _ in args.revs]
    for round_ in range(max(1, args.rounds)):
        for i, rev in enumerate(args.revs):
            print(f"round {round_ + 1}: measuring {rev} ...", flush=True)
            for row, value in measure(rev, args.records).items():
                figures[i][row] = min(value, figures[i].get(row, value))
    base = figures[0]
    rows = []
    for row in ROWS:
        if not all(row in f for f in figures):
            continue
        cells = [f"{figures[0][row]:.3f}" if "ms" in row else f"{figures[0][row]:.1f}"]
        for f in figures[1:]:
            v = f[row]
            cells.append((f"{v:.3f}" if "ms" in row else f"{v:.1f}")
                         + f" ({v / base[row]:.2f}x)")
        rows.append([row, *cells])
    table = Table(title=f"Evaluation, us per record ({args.records:,} records per engine, "
                        f"best of {max(1, args.rounds)} rounds; the founding case in ms)",
                  headers=["engine", *names], rows=rows)
    text = table.markdown(2)
    info = Table(title="Machine", headers=["what", "value"],
                 rows=[[k, str(v)] for k, v in machine().items()])
    command = "python benchmarks/compare.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = ("# Revisions compared\n\nWritten by `" + command + "` (see `benchmarks/README.md`). "
              "Every column was measured in the same run on the same machine, one revision "
              "after the other; the peer engines did not change between the revisions, so "
              "their spread is the noise of the run.\n\n" + text + "\n" + info.markdown(2))
    print(report)
    if args.output is not None:
        args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
