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
    fn = g.fast.for_json(raw, g.limits)
    assert fn is not None and fn is g.fast.json_fn  # read from the JSON
    assert frozenset(fn(raw, as_of, g.limits.max_steps)) == want
    assert g.codes(raw, as_of=as_of) == want


def test_bad_json_is_loaded_for_its_errors() -> None:
    g = _guideline("vcf")
    for bad in ({"age": "70"}, {"agee": 70}, {"fractures": [{"level": "L9"}]},
                {"fractures": [{}] * 1001}):
        assert g.fast.for_json(bad, g.limits) is None
        with pytest.raises(spinerules.RecordError):
            g.codes(bad, as_of=datetime.date(2026, 2, 18))
