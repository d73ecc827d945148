"""The seeded-fault corpus (``faults.yaml``): materialise a fault's guideline copy, and
judge whether ``spinerules verify`` and the property search find it.

Used by ``tests/verify/test_faults.py`` and by ``benchmarks/verify_faults.py`` (the
sampling comparison, too slow for the suite)."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

import yaml

import spinerules

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
GUIDELINES = ROOT / "guidelines"
AS_OF = datetime.date(2026, 2, 18)


def faults() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load((HERE / "faults.yaml").read_text("utf-8"))
    return data


def materialise(fault: dict[str, Any], folder: Path, apply: bool = True) -> Path:
    """The faulty copy of the guideline under ``folder`` (``apply=False``: unchanged, with
    the goal only); returns its entry file."""
    name = fault.get("guideline", "vcf")
    shutil.copytree(GUIDELINES / name, folder / name)
    if name != "spine":
        shutil.copytree(GUIDELINES / "spine", folder / "spine")
    shutil.copy(GUIDELINES / "spinerules.toml", folder / "spinerules.toml")
    target = folder / name / fault["file"]
    text = target.read_text(encoding="utf-8")
    count = text.count(fault["old"])
    if count != 1:
        raise ValueError(f"fault {fault['id']}: `old` occurs {count} times in {fault['file']}")
    if apply:
        target.write_text(text.replace(fault["old"], fault["new"]), encoding="utf-8")
    entry = folder / name / f"{name}.rules"
    if fault.get("goal"):
        with entry.open("a", encoding="utf-8") as f:
            f.write("\n" + fault["goal"])
    return entry


def baseline(fault: dict[str, Any], folder: Path) -> Path:
    """The unchanged guideline with the fault's goal (if any): what the fault is judged
    against."""
    return materialise(fault, folder, apply=False)


#: verify's report on an unchanged guideline, by (guideline, goal, checks, max_list)
_BEFORE: dict[Any, Any] = {}


def verify_finds(fault: dict[str, Any], folder: Path, max_list: int = 3
                 ) -> tuple[bool, list[Any]]:
    """(found, the new findings of the expected kinds): found when ``verify`` reports one
    that the unchanged guideline (with the goal) does not, confirmed (or a proof)."""
    from spinerules.verify.analyse import verify

    checks = tuple({"invariant": "invariants", "dead_rule": "rules", "never_decided": "rules",
                    "contradiction": "conflicts"}.get(k, "lints") for k in fault["expect"])
    key = (fault.get("guideline", "vcf"), fault.get("goal"), checks, max_list)
    if key not in _BEFORE:
        _BEFORE[key] = verify(spinerules.load(baseline(fault, folder / "before")),
                              max_list=max_list, checks=checks)
    before = _BEFORE[key]
    after = verify(spinerules.load(materialise(fault, folder / "after")), max_list=max_list,
                   checks=checks)
    known = {(f.kind, f.subject) for f in before.findings}
    new = [f for f in after.findings if f.kind in fault["expect"]
           and (f.kind, f.subject) not in known and (f.proof or f.confirmed)]
    return bool(new), new


def sampling_finds(fault: dict[str, Any], folder: Path, *, examples: int, aimed: bool
                   ) -> bool:
    """Whether the property search (invariants and contradictions) finds a failure on the
    faulty copy that it does not find on the unchanged guideline (with the goal)."""
    from spinerules.testing.properties import check_properties

    names = ("no_contradiction", "invariants")

    def failures(entry: Path) -> set[str]:
        g = spinerules.load(entry)
        seeds: list[Any] = []
        if aimed:
            from spinerules.verify.seeds import aimed_seeds

            seeds = aimed_seeds(g, as_of=AS_OF)
        return {f.message for f in check_properties(g, examples=examples, names=names,
                                                    seeds=seeds)}
    before = failures(baseline(fault, folder / "s-before"))
    after = failures(materialise(fault, folder / "s-after"))
    return bool(after - before)
