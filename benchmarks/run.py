"""Run the spinerules benchmarks, print the tables and write docs/performance.md.

    python benchmarks/run.py                 # full size (~5-10 minutes on 2 cores)
    python benchmarks/run.py --quick         # small smoke run (seconds); writes nothing
    python benchmarks/run.py --only front    # one part: front | eval | fhir (prints only)
    python benchmarks/run.py --output FILE   # write the report somewhere else

A full run of both parts writes ``docs/performance.md``; ``--quick`` and ``--only`` runs
write only when ``--output`` is given, so a smoke test never overwrites the real figures.
Exit status: 0 done, 1 the engines disagree on some patient (the diff is printed), 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Table, machine


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"
    return f"{one:.2f} / {five:.2f}"


def _targets(front: dict[str, Any] | None, ev: dict[str, Any] | None) -> Table:
    rows = []
    if front is not None:
        from front import TARGET_COLD_CHECK_S, TARGET_PARSE_CHECK_S

        f, c = front["front"], front["cold"]
        scale = f["n_rules"] / 5000
        rows.append([f"parse + full check of {f['n_rules']:,} rules",
                     f"< {TARGET_PARSE_CHECK_S * scale:g} s", f"{f['analyse_s']:.2f} s",
                     "met" if f["analyse_s"] < TARGET_PARSE_CHECK_S * scale else "NOT met"])
        if c["check_s"] is not None:
            rows.append([f"cold `spinerules check {' '.join(c['targets'])}` (fresh process)",
                         f"< {TARGET_COLD_CHECK_S:g} s", f"{c['check_s']:.3f} s",
                         "met" if c["check_s"] < TARGET_COLD_CHECK_S else "NOT met"])
    if ev is not None:
        from evaluate import TARGET_TRACE_MS

        v = ev["vcf"]
        if "skipped" in v:
            rows.append(["full-trace evaluation, vcf, founding case", f"< {TARGET_TRACE_MS:g} ms",
                         "skipped", v["skipped"]])
        else:
            rows.append(["full-trace evaluation, vcf, founding case", f"< {TARGET_TRACE_MS:g} ms",
                         f"{v['ms']:.3f} ms", "met" if v["ms"] < TARGET_TRACE_MS else "NOT met"])
    return Table(title="Targets", headers=["target", "goal", "measured", "met"], rows=rows)


_SPINERULES = ("spinerules codes (fast path)", "spinerules evaluate (trace off)",
               "spinerules evaluate (trace on)", "hand-written Python")


def _summary(front: dict[str, Any] | None, ev: dict[str, Any] | None) -> Table:
    """Ratios computed from this run's figures."""
    rows = []
    if ev is not None:
        t = ev["timings"]
        fast = t["spinerules codes (fast path)"]["us"]
        full = t["spinerules evaluate (trace off)"]["us"]
        traced = t["spinerules evaluate (trace on)"]["us"]
        hand = t["hand-written Python"]["us"]
        peers = sorted((v["us"], k) for k, v in t.items() if k not in _SPINERULES)
        rows.append(["spinerules fast path against the hand-written function",
                     f"{fast / hand:.1f}x the time"])
        if peers:
            us, name = peers[0]
            rows.append([f"fastest peer ({name}) against the spinerules fast path",
                         f"{us / fast:.1f}x the time"])
            rows.append([f"fastest peer ({name}) against spinerules `evaluate`, trace off",
                         f"{us / full:.2f}x the time"])
            us, name = peers[-1]
            rows.append([f"slowest peer ({name}) against the spinerules fast path",
                         f"{us / fast:,.0f}x the time"])
        rows.append(["cost of the trace in spinerules `evaluate`",
                     f"{traced / full:.1f}x the time of trace off"])
    if front is not None:
        f = front["front"]
        rows.append(["share of the cyclic GC in parse + check of the generated guideline",
                     f"{1 - f['analyse_nogc_s'] / f['analyse_s']:.0%}"])
        rows.append(["`loads` against `analyse` (the compile step on top of parse + check)",
                     f"{f['loads_s'] / f['analyse_s']:.1f}x the time"])
    return Table(title="Summary (ratios from this run)", headers=["what", "value"], rows=rows)


def _machine_table(info: dict[str, Any], load_before: str, load_after: str,
                   seconds: float, quick: bool) -> Table:
    rows = [[k, str(v)] for k, v in info.items()]
    rows.append(["load average (1 / 5 min) at start", load_before])
    rows.append(["load average (1 / 5 min) at end", load_after])
    rows.append(["benchmark wall time", f"{seconds:.0f} s" + (" (--quick)" if quick else "")])
    return Table(title="Machine", headers=["what", "value"], rows=rows)


def report(tables: list[tuple[str, list[Table]]]) -> str:
    out = [
        "# Performance",
        "",
        "Written by `python benchmarks/run.py` (see `benchmarks/README.md` for what is "
        "measured and the caveats). Every figure below comes from that run; rerun it "
        "rather than edit this page.",
        "",
    ]
    for heading, group in tables:
        if heading:
            out += [f"## {heading}", ""]
        for t in group:
            out += [t.markdown(3 if heading else 2)]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--only", choices=["front", "eval", "fhir"], help="run one part")
    ap.add_argument("--output", type=Path, help="write the report here")
    args = ap.parse_args(argv)

    import evaluate
    import front

    start = time.perf_counter()
    load_before = _load()
    front_res = ev_res = None
    front_tables: list[Table] = []
    ev_tables: list[Table] = []
    if args.only in (None, "front"):
        print("front end ...", flush=True)
        front_res = front.run(args.quick)
        front_tables = front.tables(front_res)
        for t in front_tables:
            print(t.text(), flush=True)
    if args.only in (None, "eval"):
        print("evaluation ...", flush=True)
        try:
            ev_res = evaluate.run(args.quick, log=lambda s: print(s, flush=True))
        except evaluate.MismatchError as exc:
            print(f"ABORTED: the engines disagree.\n{exc}", file=sys.stderr)
            return 1
        ev_tables = evaluate.tables(ev_res)
        for t in ev_tables:
            print(t.text(), flush=True)
    fhir_tables: list[Table] = []
    if args.only in (None, "fhir"):
        print("FHIR in ...", flush=True)
        import fhir_in

        fhir_tables = fhir_in.tables(fhir_in.run(args.quick))
        for t in fhir_tables:
            print(t.text(), flush=True)
    seconds = time.perf_counter() - start
    targets = _targets(front_res, ev_res)
    summary = _summary(front_res, ev_res)
    mach = _machine_table(machine(), load_before, _load(), seconds, args.quick)
    print(targets.text())
    print(summary.text())
    print(mach.text())

    output = args.output
    if output is None and not args.quick and args.only is None:
        output = REPO / "docs" / "performance.md"
    if output is not None:
        text = report([("", [targets, summary]), ("Front end", front_tables),
                       ("Evaluation", ev_tables), ("FHIR in", fhir_tables), ("", [mach])])
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
