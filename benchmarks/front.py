"""Front-end benchmark: parse and check a large generated guideline; CLI cold start.

1. ``generate_guideline(n_rules)`` writes a guideline of ``n_rules`` rules as text: sources,
   defines that use each other, per-fracture ``for`` blocks with a Genant table score and a
   TLICS-like sum score, rules with ``when`` / ``unless`` over most ``spine.Patient`` fields
   (booleans, quantities with units, ordered levels, enumerations, ``any`` / ``count``
   quantifiers, ``unknown`` tests) and one to two cited actions each. Deterministic (seeded).
2. Times, best of N in one process: parse only (``parser.parse``), parse + full static check
   (``api.analyse``) and ``loads`` (parse + check + compile of both evaluation paths). The
   first (cold) call in the process, which also builds the lark grammar, is reported apart.
3. The cold start of ``python -m spinerules.cli check <bundled guideline folder>``: a fresh
   subprocess each time, time to exit, best of 5; beside it, the bare interpreter and
   ``import spinerules.cli`` in a fresh interpreter, to show where the time goes.

Run alone: ``python benchmarks/front.py [--quick]``.
"""

from __future__ import annotations

import gc
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO, Table, best_of

TARGET_PARSE_CHECK_S = 2.0
TARGET_COLD_CHECK_S = 0.5

_BOOL_FACTS = [
    "patient.neuro.deficit", "patient.neuro.cauda_equina_signs",
    "patient.neuro.cord_or_conus_compression", "patient.neuro.nerve_root_injury",
    "patient.symptoms.fever", "patient.symptoms.improving",
    "patient.symptoms.respiratory_symptoms", "patient.symptoms.new_symptoms",
    "patient.labs.inflammatory_markers_elevated", "patient.history.cancer",
    "patient.history.immunosuppressed", "patient.history.high_fall_risk",
    "patient.analgesia.failed_oral", "patient.analgesia.oral_contraindicated",
    "patient.analgesia.nsaid_contraindicated", "patient.analgesia.needs_parenteral_opioids",
    "patient.analgesia.hospitalized_for_pain", "patient.analgesia.on_opioids",
    "patient.bone_health.dexa_done", "patient.bone_health.on_treatment",
    "patient.imaging.mri_done", "patient.imaging.thoracolumbar_junction_adequate",
]
_FRACTURE_BOOLS = ["marrow_edema", "radiograph_negative", "pathologic_confirmed",
                   "pain_at_level_confirmed"]
_LEVELS = [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]


class _Gen:
    """Random but well-typed conditions; ``defines`` are the names visible so far."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.defines: list[str] = []

    def patient_atom(self) -> str:
        r = self.rng
        k = r.randrange(12)
        if k == 0:
            op, age = r.choice([">=", "<", ">"]), r.choice([18, 50, 65, 75, 80])
            return f"patient.age {op} {age} years"
        if k == 1:
            return f"patient.symptoms.pain_score >= {r.randint(3, 9)}"
        if k == 2:
            return f"patient.bone_health.t_score <= -{r.choice(['1', '2', '2.5', '3', '3.5'])}"
        if k == 3:
            return f"patient.prior_vertebral_fractures >= {r.randint(1, 3)}"
        if k == 4:
            return f"patient.sex == {r.choice(['female', 'male'])}"
        if k == 5:
            return f"{r.choice(['unknown', 'known'])} {r.choice(_BOOL_FACTS)}"
        if k == 6:
            return (f"any(f in patient.fractures: f.{r.choice(_FRACTURE_BOOLS)} and "
                    f"f.weeks_since_onset >= {r.randint(1, 16)} weeks)")
        if k == 7:
            return (f"count(f in patient.fractures: f.height_loss_pct > {r.randint(15, 45)} %)"
                    f" >= {r.randint(1, 3)}")
        if k == 8:
            return "patient.neuro.tlics_status in [cord_complete, cord_incomplete, cauda_equina]"
        if k == 9 and self.defines:
            return r.choice(self.defines)
        if k == 10:
            return f"not {r.choice(_BOOL_FACTS)}"
        return r.choice(_BOOL_FACTS)

    def fracture_atom(self, score: str) -> str:
        r = self.rng
        k = r.randrange(9)
        if k == 0:
            lo = r.randrange(len(_LEVELS) - 3)
            return f"fracture.level in {_LEVELS[lo]}..{_LEVELS[lo + r.randint(1, 3)]}"
        if k == 1:
            return f"fracture.level >= {r.choice(_LEVELS)}"
        if k == 2:
            return f"fracture.mechanism in [{r.choice(['low_energy, none', 'high_energy'])}]"
        if k == 3:
            return f"fracture.height_loss_pct > {r.randint(10, 50)} %"
        if k == 4:
            return f"fracture.weeks_since_onset >= {r.randint(1, 26)} weeks"
        if k == 5:
            return f"fracture.{r.choice(_FRACTURE_BOOLS)}"
        if k == 6:
            return f"{score} >= {r.randint(1, 3)}"
        if k == 7:
            return f"fracture.morphology == {r.choice(['compression', 'burst'])}"
        return self.patient_atom()

    def condition(self, atom: Any, size: int) -> str:
        parts = [atom() for _ in range(size)]
        out = parts[0]
        for p in parts[1:]:
            op = self.rng.choice(["and", "and", "or"])
            out = f"({out} {op} {p})" if op == "or" else f"{out}\n     {op} {p}"
        return out


_KINDS = ["recommend", "recommend", "consider", "warn", "advise_against", "classify"]


def generate_guideline(n_rules: int, seed: int = 7) -> str:
    """A guideline with ``n_rules`` rules (plus defines and scores) as one text."""
    rng = random.Random(seed)
    gen = _Gen(rng)
    n_sources = 24
    out = [
        'guideline big "Generated guideline for the front-end benchmark"',
        '  version "0.0.1"', "  record spine.Patient", "  status draft", "",
    ]
    for i in range(n_sources):
        out += [f"source SRC_{i}:", f'  title "Generated source number {i}"',
                '  publisher "Benchmark Press"', f"  year {1990 + i}",
                f'  doi "10.5555/bench.{i}"', '  evidence "none: generated"', ""]
    # one action kind per code (SR403), so codes are drawn per kind
    codes = {kind: [f"{kind}_code_{j}" for j in range(200)] for kind in set(_KINDS)}

    def action(indent: str) -> list[str]:
        kind = rng.choice(_KINDS)
        code = rng.choice(codes[kind])
        lines = [f'{indent}{kind} {code} "Generated action text for {code}."']
        opts = []
        if rng.random() < 0.6:
            opts.append(f"strength {rng.choice(['strong', 'moderate', 'conditional', 'weak'])}")
        if rng.random() < 0.4:
            opts.append(f"urgency {rng.choice(['critical', 'urgent', 'soon', 'routine'])}")
        cites = ", ".join(f'SRC_{rng.randrange(n_sources)} "section {rng.randint(1, 9)}"'
                          for _ in range(rng.randint(1, 2)))
        opts.append(f"cite {cites}")
        lines.append(f"{indent}  " + " ".join(opts))
        return lines

    def rule(rule_id: str, indent: str, atom: Any) -> list[str]:
        lines = [f"{indent}rule {rule_id}:",
                 f"{indent}  when " + gen.condition(atom, rng.randint(1, 4))]
        if rng.random() < 0.25:
            lines.append(f"{indent}  unless " + gen.condition(atom, 1))
        for _ in range(1 if rng.random() < 0.8 else 2):
            lines += action(indent + "  ")
        return lines

    n_defines = max(5, n_rules // 20)
    for i in range(n_defines):
        out += [f"define d_{i}:", "  " + gen.condition(gen.patient_atom, rng.randint(1, 3)), ""]
        gen.defines.append(f"d_{i}")

    n_loops = max(1, n_rules // 500)
    in_loops = n_rules // 2
    per_loop = in_loops // n_loops
    top = n_rules - per_loop * n_loops
    made = 0
    for i in range(top):
        out += [*rule(f"R{i}.generated", "", gen.patient_atom), ""]
        made += 1
    for b in range(n_loops):
        score = f"genant_{b}"
        out += [
            "for fracture in patient.fractures:",
            f"  score {score} from fracture.height_loss_pct:",
            f"    < 20 %  -> 0 classify genant_{b}_grade_0",
            f"    <= 25 % -> 1 classify genant_{b}_grade_1",
            f"    <= 40 % -> 2 classify genant_{b}_grade_2",
            f"    else    -> 3 classify genant_{b}_grade_3",
            f"    cite SRC_{b % n_sources}",
            f"  score tlics_{b}:",
            "    component morphology from fracture.morphology:",
            "      compression -> 1",
            "      burst -> 2",
            "      translation_rotation -> 3",
            "      distraction -> 4",
            "    component ligament from fracture.posterior_ligament"
            ' ask "an MRI of the posterior ligamentous complex":',
            "      intact -> 0",
            "      indeterminate -> 2",
            "      injured -> 3",
            "    component neuro from patient.neuro.tlics_status:",
            "      intact -> 0",
            "      [nerve_root, cord_complete] -> 2",
            "      [cord_incomplete, cauda_equina] -> 3",
            f"    band <= 3 -> classify tlics_{b}_nonoperative",
            f"    band 4 -> classify tlics_{b}_surgeon_discretion",
            f"    band >= 5 -> classify tlics_{b}_operative",
            f"    cite SRC_{(b + 1) % n_sources}",
            f"  define acute_{b}:",
            f"    fracture.marrow_edema or fracture.weeks_since_onset < {rng.randint(2, 8)} weeks",
            "",
        ]
        for j in range(per_loop):
            out += rule(f"F{b}_{j}.generated", "  ", lambda s=score: gen.fracture_atom(s))
            out.append("")
            made += 1
    assert made == n_rules
    return "\n".join(out) + "\n"


def count_items(text: str) -> dict[str, int]:
    return {kind: len(re.findall(rf"^\s*{kind} ", text, re.M))
            for kind in ("rule", "define", "score", "source", "for")}


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_front(n_rules: int, repeats: int) -> dict[str, Any]:
    """Parse / check / loads timings for a generated guideline of ``n_rules`` rules."""
    import spinerules
    from spinerules import api
    from spinerules.lang.parser import parse
    from spinerules.lang.source import Source

    text = generate_guideline(n_rules)
    counts = count_items(text)
    name = "big.rules"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name).write_text(text, encoding="utf-8")
        path = str(Path(tmp) / name)

        def do_analyse() -> Any:
            checked, diags = api.analyse(path, text=text, root=tmp)
            errors = [d for d in diags if d.is_error]
            if checked is None or errors:
                shown = "\n".join(str(d.message) for d in errors[:5])
                raise RuntimeError(f"the generated guideline does not check:\n{shown}")
            return diags

        def do_loads() -> Any:
            return spinerules.loads(text, name=name, root=tmp)

        def do_parse() -> Any:
            tree, diags = parse(Source(name, text))
            if tree is None:
                raise RuntimeError(f"the generated guideline does not parse: {diags[:3]}")
            return tree

        cold_s, diags = _timed(do_analyse)  # first call: builds the lark grammar too
        warnings = len(diags)
        parse_s = best_of(do_parse, repeats)
        analyse_s = best_of(do_analyse, repeats)
        loads_s = best_of(do_loads, max(1, repeats - 1))
        # diagnostic only: how much of parse + check is the cyclic garbage collector
        gc.collect()
        gc.disable()
        try:
            analyse_nogc_s = best_of(do_analyse, max(1, repeats - 1))
        finally:
            gc.enable()
    return {
        "n_rules": n_rules, "counts": counts, "bytes": len(text.encode()),
        "lines": text.count("\n"), "warnings": warnings, "repeats": repeats,
        "cold_analyse_s": cold_s, "parse_s": parse_s, "analyse_s": analyse_s,
        "loads_s": loads_s, "analyse_nogc_s": analyse_nogc_s,
    }


def _bundled_targets() -> list[str]:
    base = REPO / "guidelines"
    return [str(base)] if base.is_dir() else []


def _run_fresh(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd=REPO, check=False)
    return time.perf_counter() - t0, proc.returncode, (proc.stdout + proc.stderr)


def bench_cold(repeats: int) -> dict[str, Any]:
    """Fresh-process timings of ``spinerules check`` on the bundled guidelines."""
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    targets = _bundled_targets()
    py = sys.executable
    runs: dict[str, list[float]] = {"python": [], "import": [], "check": []}
    out = ""
    code = None
    commands = {
        "python": [py, "-c", "pass"],
        "import": [py, "-c", "import spinerules.cli"],
        "check": [py, "-m", "spinerules.cli", "check", *targets],
    }
    if not targets:
        commands.pop("check")
    # one untimed warm-up so .pyc files exist, as on any installed system
    for args in commands.values():
        _run_fresh(args, env)
    for _ in range(repeats):
        for key, args in commands.items():
            dt, rc, text = _run_fresh(args, env)
            runs[key].append(dt)
            if key == "check":
                code, out = rc, text
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    return {
        "targets": [os.path.relpath(t, REPO) for t in targets],
        "python_s": min(runs["python"]),
        "import_s": min(runs["import"]),
        "check_s": min(runs["check"]) if runs["check"] else None,
        "check_exit": code,
        "check_summary": summary[:200],
        "repeats": repeats,
    }


def run(quick: bool = False) -> dict[str, Any]:
    n_rules = 500 if quick else 5000
    front = bench_front(n_rules, repeats=1 if quick else 3)
    cold = bench_cold(repeats=2 if quick else 5)
    return {"front": front, "cold": cold, "quick": quick}


def tables(res: dict[str, Any]) -> list[Table]:
    f, c = res["front"], res["cold"]
    counts = f["counts"]
    what = (f"{f['n_rules']:,} rules, {counts['define']} defines, {counts['score']} scores, "
            f"{counts['for']} `for` blocks, {counts['source']} sources; "
            f"{f['lines']:,} lines, {f['bytes'] / 1e6:.2f} MB")
    scale = f["n_rules"] / 5000
    target = TARGET_PARSE_CHECK_S * scale
    t1 = Table(
        title=f"Front end: a generated guideline ({what})",
        headers=["stage", "seconds", "rules/s", "target", "met"],
        rows=[
            ["parse only (lark + AST build)", f"{f['parse_s']:.3f}",
             f"{f['n_rules'] / f['parse_s']:,.0f}", "", ""],
            ["parse + full static check (`api.analyse`)", f"{f['analyse_s']:.3f}",
             f"{f['n_rules'] / f['analyse_s']:,.0f}", f"< {target:g} s",
             _met(f["analyse_s"] < target)],
            ["`spinerules.loads` (parse + check + compile)", f"{f['loads_s']:.3f}",
             f"{f['n_rules'] / f['loads_s']:,.0f}", f"< {target:g} s",
             _met(f["loads_s"] < target)],
            ["first `analyse` in the process (builds the lark grammar too)",
             f"{f['cold_analyse_s']:.3f}", "", "", ""],
            ["diagnostic: `api.analyse` with the cyclic GC disabled",
             f"{f['analyse_nogc_s']:.3f}", f"{f['n_rules'] / f['analyse_nogc_s']:,.0f}", "", ""],
        ],
        notes=[f"Best of {f['repeats']} in one process ({max(1, f['repeats'] - 1)} for "
               "`loads` and the diagnostic line), except the first-call line. The diagnostic "
               "line is not what a user gets: it shows the share of the garbage collector. "
               f"The checker reported {f['warnings']} warnings and no errors."
               + (" Quick run: 500 rules, target scaled to 0.2 s." if res["quick"] else "")],
    )
    rows = [["`python -c pass` (interpreter start)", f"{c['python_s']:.3f}", "", ""],
            ["`python -c 'import spinerules.cli'`", f"{c['import_s']:.3f}", "", ""]]
    if c["check_s"] is not None:
        rows.append([f"`python -m spinerules.cli check {' '.join(c['targets'])}`",
                     f"{c['check_s']:.3f}", f"< {TARGET_COLD_CHECK_S} s",
                     _met(c["check_s"] < TARGET_COLD_CHECK_S)])
    t2 = Table(
        title="Cold start of the CLI (fresh process each run, time to exit)",
        headers=["command", "seconds", "target", "met"], rows=rows,
        notes=[f"Best of {c['repeats']}; .pyc files already written by one untimed run. "
               "The check includes building the lark grammar (no grammar cache). "
               f"Exit status {c['check_exit']}; last line of output: "
               f"\"{c['check_summary']}\"."],
    )
    return [t1, t2]


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for t in tables(run(quick)):
        print(t.text())
