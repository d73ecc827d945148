"""``evaluate`` with the trace off takes its result from generated code (``evaluate.Decisions``,
``engine.outcomes``, issue #18): its results are the same, to the last field of the result
JSON, as those of the closures alone (the evaluator before it), for generated patients of
every bundled guideline, given as records and as JSON (read without building the record),
with and without an ``as_of`` that makes dates matter."""

from __future__ import annotations

import datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spinerules
from spinerules.api import Guideline
from spinerules.engine.evaluate import run
from spinerules.lang.resources import guidelines_dir
from spinerules.records.loader import dump_record, json_ok
from spinerules.testing.strategies import patients_for

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = sorted(p.name for p in guidelines_dir().iterdir()
               if (p / f"{p.name}.rules").is_file())
_LOADED: dict[str, Guideline] = {}


def _guideline(name: str) -> Guideline:
    if name not in _LOADED:
        _LOADED[name] = spinerules.load(name)
    return _LOADED[name]


def _result(g: Guideline, record: Any, as_of: datetime.date, decided: bool) -> Any:
    plan = g.plan if decided else attrs.evolve(g.plan, decisions=None)
    return run(plan, g.checked, record, as_of=as_of, guideline_info=g.info(),
               patient_id=getattr(record, "id", None), trace=False,
               budget=g.limits.max_steps * 16).to_json()


def test_every_bundled_guideline_is_covered() -> None:
    assert {"vcf", "spine", "trauma", "pathologic", "pediatric"} <= set(NAMES)
    for name in NAMES:
        assert _guideline(name).plan.decisions is not None


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_decided_results_equal_the_closures(name: str, data: st.DataObject) -> None:
    g = _guideline(name)
    record = data.draw(patients_for(g))
    as_of = data.draw(st.sampled_from([datetime.date(2026, 2, 18), datetime.date(2031, 7, 1)]))
    assert g.plan.decisions is not None
    assert g.plan.decisions(record, as_of, g.limits.max_steps * 16) is not None
    expected = _result(g, record, as_of, False)
    assert _result(g, record, as_of, True) == expected
    # and through the public call, from the record and from its JSON
    assert g.evaluate(record, as_of=as_of).to_json() == expected
    data = dump_record(record)
    assert json_ok(g.checked.record, data, g.limits.max_list_length)  # (read as it is)
    assert g.plan.decisions.json(data, as_of, g.limits.max_steps * 16,
                                 g.limits.max_list_length, g.limits.max_steps) is not None
    from_json = g.evaluate(data, as_of=as_of)
    assert from_json.codes() == {r["code"] for r in expected["recommendations"]}
    assert from_json.to_json() == expected
