"""Run the spinerules benchmarks, print the tables and write docs/performance.md.

    python benchmarks/run.py                 # full size (~5-10 minutes on 2 cores)
    python benchmarks/run.py --quick         # small smoke run (seconds); writes nothing
    python benchmarks/run.py --only front    # one part: front | eval | fhir | service (prints only)
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


def _keep_population(output: Path, text: str) -> str:
    """The population section (``benchmarks/population.py``, a run of its own) kept."""
    begin, end = "<!-- population:begin -->", "<!-- population:end -->"
    old = output.read_text(encoding="utf-8") if output.exists() else ""
    if begin in old and end in old:
        kept = old[old.index(begin):old.index(end) + len(end)]
        return text.rstrip("\n") + "\n\n" + kept + "\n"
    return text


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"
    return f"{one:.2f} / {five:.2f}"


NO_PEERS = "not measured: the peer engines are not installed (`make bench` installs them)"


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
        import evaluate as e

        def met(ok: bool) -> str:
            return "met" if ok else "NOT met"

        v = ev["vcf"]
        if "skipped" in v:
            rows.append(["full-trace evaluation, vcf, founding case",
                         f"< {e.TARGET_TRACE_MS:g} ms", "skipped", v["skipped"]])
        else:
            rows.append(["full-trace evaluation, vcf, founding case",
                         f"< {e.TARGET_TRACE_MS:g} ms", f"{v['ms']:.3f} ms",
                         met(v["ms"] < e.TARGET_TRACE_MS)])
        t = ev["timings"]
        hand = t[e.HAND]["us"]
        peers = {k: x["us"] for k, x in t.items() if k not in e.SPINERULES_ROWS}
        ev_dict = t[e.EVAL_DICT]["us"]
        rows.append(["`evaluate(dict)`, trace off, full result (peer rule set)",
                     f"<= {e.TARGET_EVAL_DICT_X_HAND:g}x hand-written",
                     f"{ev_dict / hand:.1f}x ({ev_dict:,.1f} us)",
                     met(ev_dict / hand <= e.TARGET_EVAL_DICT_X_HAND)])
        built = t[e.EVAL_DICT_BUILT]["us"]
        rows.append(["the same, every object of the result made (read)",
                     "(shown: a result makes its objects when first read)",
                     f"{built / hand:.1f}x ({built:,.1f} us)", "-"])
        if peers:
            name, us = min(peers.items(), key=lambda kv: kv[1])
            rows.append(["`evaluate(dict)`, trace off, faster than every peer engine",
                         f"< {name}", f"{ev_dict:,.1f} us against {us:,.1f} us",
                         met(ev_dict < us)])
        else:  # (shown, so that a run without them does not read as a met target)
            rows.append(["`evaluate(dict)`, trace off, faster than every peer engine",
                         "< the fastest peer", "not measured", NO_PEERS])
        cd = t[e.CODES_DICT]["us"]
        rows.append(["`codes(dict)` (peer rule set)",
                     f"<= {e.TARGET_CODES_DICT_X_HAND:g}x hand-written",
                     f"{cd / hand:.1f}x ({cd:,.1f} us)",
                     met(cd / hand <= e.TARGET_CODES_DICT_X_HAND)])
        cr = t[e.CODES_RECORD]["us"]
        rows.append(["`codes(record)` (peer rule set)",
                     f"<= {e.TARGET_CODES_RECORD_X_HAND:g}x hand-written",
                     f"{cr / hand:.1f}x ({cr:,.1f} us)",
                     met(cr / hand <= e.TARGET_CODES_RECORD_X_HAND)])
        zen = {k: us for k, us in peers.items() if k.startswith("zen-engine")}
        if zen:
            name, us = min(zen.items(), key=lambda kv: kv[1])
            rows.append(["`codes(record)` against ZEN at its best",
                         f">= {e.TARGET_CODES_RECORD_X_ZEN_BEST:g}x faster",
                         f"{us / cr:.1f}x faster than {name}",
                         met(us / cr >= e.TARGET_CODES_RECORD_X_ZEN_BEST)])
        else:
            rows.append(["`codes(record)` against ZEN at its best",
                         f">= {e.TARGET_CODES_RECORD_X_ZEN_BEST:g}x faster", "not measured",
                         NO_PEERS])
        gl = ev.get("guidelines", {})
        if all("rows" in gl.get(k, {}) for k in ("vcf", "spine")):
            ratio = e.spine_per_rule_ratio(ev)
            rows.append(["spine `codes()` per rule, against vcf's (generated patients)",
                         f"<= {e.TARGET_SPINE_PER_RULE_X_VCF:g}x", f"{ratio:.2f}x",
                         met(ratio <= e.TARGET_SPINE_PER_RULE_X_VCF)])
        ex = ev.get("examples", {})
        if ex.get("ms"):
            name, ms = max(ex["ms"].items(), key=lambda kv: kv[1])
            rows.append(["every example patient of spine, full trace",
                         f"< {e.TARGET_TRACE_MS:g} ms each", f"{ms:.3f} ms (slowest: {name})",
                         met(ms < e.TARGET_TRACE_MS)])
        ld = ev.get("load", {})
        for name, x in ld.items():
            # warmed at load: the first call costs about what a later one does (no code
            # generated on first use, which cost 15-57 ms)
            first, later = x["first_traced_ms"], x["later_traced_ms"]
            rows.append([f"{name}: first traced call after `load(warm=True)` (load "
                         f"{x['load_ms']:.0f} ms; {x.get('lazy_load_ms', 0):.0f} ms without "
                         "`warm`)",
                         "no code generated (< 2x a later call)",
                         f"{first:.3f} ms against {later:.3f} ms", met(first < 2 * later)])
    return Table(title="Targets", headers=["target", "goal", "measured", "met"], rows=rows)


def _summary(front: dict[str, Any] | None, ev: dict[str, Any] | None) -> Table:
    """Ratios computed from this run's figures."""
    rows = []
    if ev is not None:
        import evaluate as e

        t = ev["timings"]
        fast = t[e.CODES_RECORD]["us"]
        full = t[e.EVAL_RECORD]["us"]
        traced = t[e.TRACED]["us"]
        hand = t[e.HAND]["us"]
        peers = sorted((v["us"], k) for k, v in t.items() if k not in e.SPINERULES_ROWS)
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
        share = 1 - f["analyse_nogc_s"] / f["analyse_s"]
        # the two timings come from different passes: on a noisy host the one without the
        # collector can be the slower, and a negative share means nothing but that noise
        rows.append(["share of the cyclic GC in parse + check of the generated guideline",
                     f"{share:.0%}" if share >= 0 else
                     f"within the noise (the pass without it was {-share:.0%} slower)"])
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


def report(tables: list[tuple[str, list[Table]]], intros: dict[str, str] | None = None) -> str:
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
            if intros and heading in intros:
                out += [intros[heading], ""]
        for t in group:
            out += [t.markdown(3 if heading else 2)]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    ap.add_argument("--only", choices=["front", "eval", "fhir", "service"], help="run one part")
    ap.add_argument("--output", type=Path, help="write the report here")
    args = ap.parse_args(argv)

    import evaluate
    import front
    import service_load

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
    service_tables: list[Table] = []
    if args.only in (None, "service"):
        print("service under load ...", flush=True)
        service_tables = service_load.tables(service_load.repeated(
            args.quick, repeat=1 if args.quick else 3, log=lambda s: print(s, flush=True)))
        for t in service_tables:
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
                       ("Evaluation", ev_tables), ("FHIR in", fhir_tables),
                       (service_load.SECTION, service_tables), ("", [mach])],
                      intros={service_load.SECTION: service_load.INTRO})
        output.parent.mkdir(parents=True, exist_ok=True)
        text = _keep_verify_section(output, text)
        text = _keep_population(output, text)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    return 0


def _keep_verify_section(output: Path, text: str) -> str:
    """The report with the "## Verify" section of the file it replaces (written from
    ``benchmarks/verify.py``, which this run does not time) put back before "## Machine"."""
    if not output.exists():
        return text
    old = output.read_text(encoding="utf-8")
    start = old.find("\n## Verify\n")
    if start < 0 or "\n## Machine" not in text:
        return text
    end = old.find("\n## ", start + 1)
    section = old[start:end if end >= 0 else len(old)].rstrip("\n") + "\n"
    at = text.index("\n## Machine")
    return text[:at] + section + text[at:]


if __name__ == "__main__":
    sys.exit(main())
