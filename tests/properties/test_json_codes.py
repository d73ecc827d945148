"""``codes()`` on a record given as JSON reads the JSON itself (``codegen.JsonGenerator``,
after ``records.loader.json_ok``): it gives the codes of the same record loaded, for
generated patients of every bundled guideline, with and without an ``as_of`` that makes
dates matter."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spinerules
from spinerules.api import Guideline
from spinerules.lang.resources import guidelines_dir
from spinerules.records import dump_record, load_record
from spinerules.testing.strategies import patients_for

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = sorted(p.name for p in guidelines_dir().iterdir()
               if (p / f"{p.name}.rules").is_file())
_LOADED: dict[str, Guideline] = {}


def _guideline(name: str) -> Guideline:
    if name not in _LOADED:
        _LOADED[name] = spinerules.load(name)
    return _LOADED[name]


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_codes_read_from_json_equal_the_loaded_records(name: str,
                                                       data: st.DataObject) -> None:
    g = _guideline(name)
    record = data.draw(patients_for(g))
    as_of = data.draw(st.sampled_from([datetime.date(2026, 2, 18), datetime.date(2031, 7, 1)]))
    raw = dump_record(record)
    want = g.codes(load_record(g.record_type, raw), as_of=as_of)  # (counts its budget)
    read = g.fast.json_codes(raw, as_of, g.limits.max_steps, g.limits)
    assert read is not None  # read from the JSON (checked there, and counted before)
    assert frozenset(read) == want
    assert g.codes(raw, as_of=as_of) == want


def test_bad_json_is_loaded_for_its_errors() -> None:
    g = _guideline("vcf")
    as_of = datetime.date(2026, 2, 18)
    for bad in ({"age": "70"}, {"agee": 70}, {"fractures": [{"level": "L9"}]},
                {"fractures": [{}] * 1001}, {"fractures": "L1"}, {"neuro": {"deficit": 1}},
                {"neuro": []}, {"fractures": [{"level": "L1", "sins": {"nope": 1}}]},
                {"agee": None}, {"age": None, "agee": 70}, {"neuro": {"deficit": None, "x": None}},
                {"fractures": [{"level": "L1", "nope": None}]},
                # a field the guideline reads, and one it does not read, or no field at all
                {"neuro": {"deficit": True, "nerve_root_injury": 1}},
                {"neuro": {"deficit": True, "bogus": True}},
                {"fractures": [{"level": "L1", "odontoid": "yes"}]},
                {"fractures": [{"level": "L1", "bogus": False}]}):
        fn = g.fast.generate_json()  # (made on first use: this test may run first)
        assert fn is not None
        assert fn(bad, as_of, g.limits.max_steps, g.limits.max_list_length,
                  g.limits.max_steps) is None  # refused
        assert g.fast.json_codes(bad, as_of, g.limits.max_steps, g.limits) is None
        with pytest.raises(spinerules.RecordError):
            g.codes(bad, as_of=as_of)
        with pytest.raises(spinerules.RecordError):
            g.evaluate(bad, as_of=as_of)


def test_json_is_read_only_once_its_lists_were_counted_within_the_budget() -> None:
    # the JSON function looks up the count of a record with lists of the same lengths
    # (``compile.Work.known``): not counted yet, or counted over the budget, it declines
    # and the record is loaded and counted (which reports a budget passed)
    as_of = datetime.date(2026, 2, 18)
    for limits, over in ((spinerules.Limits(), False), (spinerules.Limits(max_steps=40), True)):
        g = spinerules.load("vcf", limits=limits)
        fn = g.fast.generate_json()
        assert fn is not None
        raw = {"age": 70, "fractures": [{"level": "L1"}, {"level": "T12"}, {}]}
        steps, longest = g.limits.max_steps, g.limits.max_list_length

        def read(data: dict[str, object], fn: Any = fn, steps: int = steps,
                 longest: int = longest) -> Any:
            return fn(data, as_of, steps * 16, longest, steps)
        assert read(raw) is None  # (lists of these lengths not counted yet)
        if over:
            with pytest.raises(spinerules.EvaluationFailedError) as err:
                g.codes(raw, as_of=as_of)
            assert err.value.diagnostic.code == "SR502"
            assert read(raw) is None  # counted over the budget: still declined
            with pytest.raises(spinerules.EvaluationFailedError):
                g.evaluate(raw, as_of=as_of)
        else:
            want = g.codes(raw, as_of=as_of)  # (loaded and counted)
            assert read(raw) == want  # now read as it is
            assert read({**raw, "fractures": [{}] * 4}) is None  # (other lengths)
            assert g.evaluate(raw, as_of=as_of).codes() == want
