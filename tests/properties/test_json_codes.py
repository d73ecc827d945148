"""``codes()`` on a record given as JSON reads the JSON itself (``codegen.JsonGenerator``,
after ``records.loader.json_ok``): it gives the codes of the same record loaded, for
generated patients of every bundled guideline, with and without an ``as_of`` that makes
dates matter."""

from __future__ import annotations

import datetime

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
                {"neuro": []}, {"fractures": [{"level": "L1", "sins": {"nope": 1}}]}):
        fn = g.fast.json_fn
        assert fn is not None
        assert fn(bad, as_of, g.limits.max_steps, g.limits.max_list_length) is None  # refused
        assert g.fast.json_codes(bad, as_of, g.limits.max_steps, g.limits) is None
        with pytest.raises(spinerules.RecordError):
            g.codes(bad, as_of=as_of)
        with pytest.raises(spinerules.RecordError):
            g.evaluate(bad, as_of=as_of)
