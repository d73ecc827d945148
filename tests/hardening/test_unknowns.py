"""No decisive fact goes unasked (issue #19, point 2).

Each fact of every example patient (``examples/patients/*.json``) is removed in turn, and
the patient is evaluated with every bundled guideline. A removed fact is *decisive* when
its absence changes the set of codes from the full record's, or leaves a rule or score
undetermined waiting on it. Every decisive fact must then be asked for (its path among
the facts of some entry of ``missing``, a request of the guideline or the engine's own
``record_missing_facts``) or shown as pending on a recommendation (``pending``): a result
never reads "not recorded" as "no" silently. The rule is documented in
docs/integrators/results.md ("Facts not recorded").
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import spinerules
from spinerules.engine.result import Result

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = sorted((ROOT / "examples/patients").glob("*.json"))
GUIDELINES = ["vcf", "spine", "trauma", "pathologic", "pediatric"]
AS_OF = datetime.date(2026, 2, 18)


def leaves(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path (keys and list positions) of every recorded fact."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from leaves(value, (*path, i))
    elif path and path != ("id",):
        yield path


def dotted(path: tuple[Any, ...]) -> str:
    """A fact's name as results give it: ``fractures[0].height_loss_pct``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def without(data: Any, path: tuple[Any, ...]) -> Any:
    reduced = copy.deepcopy(data)
    parent = reduced
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return reduced


def decisive(full: Result, reduced: Result, fact: str) -> bool:
    return reduced.codes() != full.codes() or any(
        fact in u.facts for u in reduced.undetermined)


def shown(reduced: Result, fact: str) -> bool:
    return any(fact in m.facts for m in reduced.missing) or any(
        fact in r.pending for r in reduced.recommendations)


@pytest.mark.parametrize("name", GUIDELINES)
def test_every_decisive_fact_is_asked_for_or_pending(name: str) -> None:
    g = spinerules.load(name)
    silent: list[str] = []
    checked = 0
    for file in PATIENTS:
        data = json.loads(file.read_text(encoding="utf-8"))
        full = g.evaluate(data, as_of=AS_OF)
        for path in leaves(data):
            fact = dotted(path)
            reduced = g.evaluate(without(data, path), as_of=AS_OF)
            if decisive(full, reduced, fact):
                checked += 1
                if not shown(reduced, fact):
                    changed = sorted(full.codes() ^ reduced.codes())
                    silent.append(f"{file.stem}: {fact} (codes changed: {changed})")
    assert checked > 0  # the examples exercise the guideline
    assert not silent, f"{len(silent)} decisive facts neither asked for nor pending:\n" + \
        "\n".join(silent)


def test_an_unknown_contraindication_makes_the_recommendation_pending() -> None:
    """The cases the issue names: `nsaid_first_line` with the NSAID contraindication not
    recorded, and the augmentation referral with its contraindication not recorded."""
    g = spinerules.load("vcf")
    founding = json.loads((ROOT / "examples/patients/founding-case.json").read_text())
    r = g.evaluate(founding, as_of=AS_OF)
    (nsaid,) = r.get("nsaid_first_line")
    assert "analgesia.nsaid_contraindicated" in nsaid.pending
    assert json.loads(r.dumps())["recommendations"][
        [x.code for x in r.recommendations].index("nsaid_first_line")]["pending"]
    recorded = {**founding, "analgesia": {"nsaid_contraindicated": False}}
    (nsaid,) = g.evaluate(recorded, as_of=AS_OF).get("nsaid_first_line")
    assert "analgesia.nsaid_contraindicated" not in nsaid.pending
    chronic = json.loads((ROOT / "examples/patients/chronic-failed-conservative.json")
                         .read_text())
    chronic.pop("augmentation_contraindication", None)
    r = g.evaluate(chronic, as_of=AS_OF)
    for rec in r.get("vertebral_augmentation_referral"):
        assert "augmentation_contraindication" in rec.pending
    assert "augmentation_contraindication" in {
        f for m in r.missing for f in m.facts} | {
        f for rec in r.recommendations for f in rec.pending}
