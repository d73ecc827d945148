"""The seeded-fault corpus (faults/faults.yaml): `spinerules verify` finds every fault, with
a witness the evaluator confirms; and the aimed property search finds the issue's planted
narrow-band rule. The full sampling comparison (2,000 examples, uniform and aimed, every
fault) is `benchmarks/verify_faults.py`; its figures are in docs/authors/verify.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import spinerules

pytest.importorskip("z3")

from tests.verify.faults.corpus import faults, materialise, verify_finds

from spinerules.testing.properties import AS_OF, check_properties
from spinerules.verify.seeds import aimed_seeds

FAULTS = faults()
CATEGORIES = {f["category"] for f in FAULTS}


def test_the_corpus_has_25_faults_of_the_issues_kinds() -> None:
    assert len(FAULTS) >= 25
    for kind in ("contradictory pair", "dead rule", "gap", "off-by-one threshold",
                 "swapped unit", "vacuous quantifier", "cancer-flag idiom"):
        assert kind in CATEGORIES, kind
    assert len({f["id"] for f in FAULTS}) == len(FAULTS)


@pytest.mark.parametrize("fault", FAULTS, ids=[f["id"] for f in FAULTS])
def test_verify_finds_the_fault(fault: dict[str, Any], tmp_path: Path) -> None:
    found, new = verify_finds(fault, tmp_path)
    assert found, f"{fault['id']}: no new finding of kind {fault['expect']}"
    for f in new:
        assert f.proof or (f.confirmed and f.witness is not None), f.problem


def test_aimed_sampling_finds_the_planted_narrow_band_rule(tmp_path: Path) -> None:
    fault = next(f for f in FAULTS if f["id"] == "planted_narrow_band")
    g = spinerules.load(materialise(fault, tmp_path))
    seeds = aimed_seeds(g, as_of=AS_OF)
    assert 0 < len(seeds) < 600
    failures = check_properties(g, examples=len(seeds) + 50, names=("invariants",),
                                seeds=seeds)
    assert [f.name for f in failures] == ["invariants"]
    assert "no conservative plan alongside an urgent surgical consultation" in \
        failures[0].message
    # the reported patient is in the narrow band: pain 5 to 5.5, 3 to 3.5 weeks
    p = failures[0].patient
    assert 5 <= p["symptoms"]["pain_score"] <= 5.5
    assert any(3 <= f.get("weeks_since_onset", -1) <= 3.5 for f in p["fractures"])
