"""Records known valid are not checked again (records/loader._VALID), and only records
that cannot change are trusted so."""

from __future__ import annotations

import datetime
import gc

import attrs
import pytest

import spinerules
from spinerules.records import RecordError, load_record, loader, validate_record
from spinerules.records.schema import fact
from spinerules.records.spine import Fracture, Patient

AS_OF = datetime.date(2026, 2, 18)


@attrs.frozen(kw_only=True)
class Note:
    words: list[str] | None = fact()


@attrs.define(kw_only=True)
class Open:
    age: int | None = fact(min=0, max=120)


def test_a_loaded_record_is_known_valid_until_it_is_freed() -> None:
    p = load_record(Patient, {"age": 70, "fractures": [{"level": "L1"}]})
    key = id(p)
    entry = loader._VALID[key]
    assert entry() is p
    validate_record(p)  # (found in the table)
    del p
    gc.collect()
    assert entry() is None and loader._VALID.get(key) is not entry


def test_a_record_built_in_python_is_checked_once_then_known() -> None:
    p = Patient(age=70)
    assert id(p) not in loader._VALID
    validate_record(p)
    assert loader._VALID[id(p)]() is p
    bad = Patient(age=500)
    for _ in range(2):  # a bad record is never remembered
        with pytest.raises(RecordError):
            validate_record(bad)
    assert id(bad) not in loader._VALID


def test_a_record_that_can_change_is_checked_every_time() -> None:
    note = Note(words=["a"])
    validate_record(note)
    assert id(note) not in loader._VALID  # (its list can change)
    assert note.words is not None
    note.words.append(1)  # type: ignore[arg-type]
    with pytest.raises(RecordError):
        validate_record(note)
    editable = Open(age=3)
    validate_record(editable)
    editable.age = 500
    with pytest.raises(RecordError):
        validate_record(editable)


def test_a_record_known_valid_under_a_larger_list_limit_is_checked_again() -> None:
    p = load_record(Patient, {"fractures": [{}, {}, {}]})
    g = spinerules.load("vcf", limits=spinerules.Limits(max_list_length=2))
    with pytest.raises(RecordError) as info:
        g.codes(p, as_of=AS_OF)
    assert [str(x) for x in info.value.problems] == [
        "fractures: expected at most 2 items, got 3"]
    small = load_record(Patient, {"fractures": [{}]}, max_list_length=1)
    validate_record(small, max_list_length=1000)  # within a larger limit: known
    assert loader._VALID[id(small)].limit == 1


def test_evaluating_a_record_twice_gives_the_same_result() -> None:
    g = spinerules.load("vcf")
    p = Patient(age=72, fractures=(Fracture(height_loss_pct=22),))
    first = g.evaluate(p, as_of=AS_OF).dumps()
    assert g.evaluate(p, as_of=AS_OF).dumps() == first
    assert g.codes(p, as_of=AS_OF) == g.evaluate(p, as_of=AS_OF).codes()
