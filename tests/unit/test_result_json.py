"""Results as JSON: the shipped schema validates them and equal runs are byte-identical."""

from __future__ import annotations

import datetime
import json

import jsonschema
import pytest
from conftest import AS_OF, Item, Kind, Level, Rec, load_text
from hypothesis import given, settings
from hypothesis import strategies as st

from spinerules.engine.result import result_schema

BODY = """
define hurt: patient.pain >= 7
rule r1:
  when hurt and patient.flag
  recommend a "A." strength strong urgency urgent cite S "p. 1", T against T
rule r2:
  when patient.flag
  advise_against a "Not A." cite S
rule r3:
  when unknown patient.other
  request request_other "Ask." cite S
rule r4:
  when patient.other or hurt
  warn w "Careful." urgency critical cite T
invariant "no a with w": never a and w
for i in patient.items:
  score genant from i.loss:
    < 20 % -> 0 classify g0
    <= 25 % -> 1 classify g1
    else -> 2 classify g2
    cite S
  rule per_item:
    when i.level in T11..L2 and i.kind == burst
    consider c "C." cite S
score total:
  component p from patient.pain:
    < 4 -> 0
    else -> 2
  component f from patient.flag:
    true -> 1
    false -> 0
  band <= 1 -> classify low
  band >= 2 -> classify high
  cite T
"""

GUIDELINE = load_text(BODY)
VALIDATOR = jsonschema.Draft202012Validator(result_schema())

maybe = st.none() | st.booleans()
records = st.builds(
    Rec, id=st.none() | st.text(max_size=5), pain=st.none() | st.integers(0, 10).map(float),
    flag=maybe, other=maybe,
    items=st.none() | st.lists(st.builds(
        Item, level=st.none() | st.sampled_from(Level), loss=st.none() | st.integers(0, 100),
        kind=st.none() | st.sampled_from(Kind)), max_size=3).map(tuple))


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(result_schema())


@settings(max_examples=200, deadline=None)
@given(rec=records)
def test_every_result_validates_and_repeats_byte_for_byte(rec: Rec) -> None:
    first = GUIDELINE.evaluate(rec, as_of=AS_OF).dumps()
    second = GUIDELINE.evaluate(rec, as_of=AS_OF).dumps()
    assert first == second
    VALIDATOR.validate(json.loads(first))


def test_full_result_shape() -> None:
    rec = Rec(id="p1", pain=8.0, flag=True, items=(Item(level=Level.L1, loss=22, kind=Kind.burst),))
    out = json.loads(GUIDELINE.evaluate(rec, as_of=AS_OF).dumps())
    VALIDATOR.validate(out)
    assert out["schema"] == "spinerules.result/1"
    assert out["as_of"] == "2026-02-18"
    assert {c["kind"] for c in out["conflicts"]} == {"contradiction", "invariant",
                                                     "sources_disagree"}
    a = next(r for r in out["recommendations"] if r["code"] == "a")
    assert a["citations"][0]["locator"] == "p. 1"
    assert a["because"] == [{"expression": "hurt", "value": True},
                            {"expression": "via hurt: patient.pain >= 7", "value": True},
                            {"expression": "patient.flag", "value": True}]
    assert out["missing"][0]["facts"] == ["other"]
    assert out["scores"]["genant"] == {"value": 1}
    assert out["scores"]["total"] == {"value": 3}
    # urgency orders the plan: critical first
    assert out["recommendations"][0]["urgency"] == "critical"


@pytest.mark.parametrize("day", [datetime.date(2020, 1, 1), datetime.date(2030, 12, 31)])
def test_as_of_is_reported(day: datetime.date) -> None:
    assert GUIDELINE.evaluate(Rec(), as_of=day).to_json()["as_of"] == day.isoformat()
