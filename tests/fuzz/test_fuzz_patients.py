"""Fuzzing (d): malformed patient JSON, evaluated against the bundled `vcf` guideline."""

from __future__ import annotations

import datetime
import functools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spinerules
from spinerules.records import load_record, load_record_json
from spinerules.records.spine import Patient

from .harness import AS_OF, EngineFault, example_patients, examples, guarded, strict_json

pytestmark = pytest.mark.fuzz

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    max_examples=examples(ci=1500, long=30_000))


@functools.cache
def vcf() -> spinerules.Guideline | None:
    try:
        return spinerules.load("vcf")
    except spinerules.GuidelineError:
        return None


FIELD_NAMES = ["id", "age", "sex", "fractures", "level", "mechanism", "height_loss_pct",
               "marrow_edema", "weeks_since_onset", "neuro", "deficit", "symptoms",
               "pain_score", "bone_health", "t_score", "sins", "location", "tlics_status"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([0, 1, -1, 120, 121, 10**20, 1e308, -0.0, 0.5, 100.0001]),
    st.text(max_size=12),
    st.sampled_from(["L1", "l1", "L9", "T12", "female", "Female", "low_energy", "intact", "",
                     "2026-02-18", "22%", "true", "null", "NaN"]),
)
KEYS = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=25,
)


def _replace_at(doc: Any, path: list[int], value: Any, mode: int) -> Any:
    """Replace, delete or add at a position chosen by ``path`` (indexes taken modulo size)."""
    if not path or not isinstance(doc, dict | list) or not doc:
        return value
    step, rest = path[0], path[1:]
    if isinstance(doc, dict):
        keys = list(doc)
        key = keys[step % len(keys)]
        out = dict(doc)
        if not rest and mode == 1:
            del out[key]
        elif not rest and mode == 2:
            out[f"{key}_extra"] = value
        else:
            out[key] = _replace_at(doc[key], rest, value, mode)
        return out
    items = list(doc)
    i = step % len(items)
    if not rest and mode == 1:
        del items[i]
    elif not rest and mode == 2:
        items.insert(i, value)
    else:
        items[i] = _replace_at(items[i], rest, value, mode)
    return items


def check_patient_text(text: str | bytes, as_of: datetime.date, *, trace: bool) -> None:
    def step() -> None:
        record = load_record_json(Patient, text)
        g = vcf()
        if g is None:
            return
        result = g.evaluate(record, as_of=as_of, trace=trace)
        strict_json(result.dumps())
        fast = g.codes(record, as_of=as_of)
        if set(fast) != result.codes():
            raise EngineFault(f"fast path {sorted(fast)} != evaluate {sorted(result.codes())}")

    guarded("patient", text, step)


def check_patient_data(data: Any, as_of: datetime.date) -> None:
    def step() -> None:
        g = vcf()
        if g is None:
            load_record(Patient, data)
            return
        result = g.evaluate(data, as_of=as_of)  # the Mapping path of the API
        strict_json(result.dumps())
        g.codes(data, as_of=as_of)

    guarded("patient data", data, step)


AS_OF_DATES = st.one_of(st.just(AS_OF), st.dates())


@SETTINGS
@given(base=st.sampled_from(range(64)), value=JSON_VALUES,
       path=st.lists(st.integers(0, 50), max_size=4), mode=st.integers(0, 2),
       as_of=AS_OF_DATES, trace=st.booleans(), as_text=st.booleans())
def test_mutated_example_patients(base: int, value: Any, path: list[int], mode: int,
                                  as_of: datetime.date, trace: bool, as_text: bool) -> None:
    patients = example_patients()
    doc = json.loads(patients[base % len(patients)][1])
    mutated = _replace_at(doc, path, value, mode)
    if as_text:
        check_patient_text(json.dumps(mutated), as_of, trace=trace)
    else:
        check_patient_data(mutated, as_of)


@SETTINGS
@given(value=JSON_VALUES, as_of=AS_OF_DATES)
def test_random_json_values(value: Any, as_of: datetime.date) -> None:
    check_patient_text(json.dumps(value), as_of, trace=False)


@SETTINGS
@given(base=st.sampled_from(range(64)),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 2), st.sampled_from(
           [*'{}[]",:0-.eE \\', "null", "true", "\x00", "\ud800", "\xff"])),
           min_size=1, max_size=5))
def test_byte_mutations_of_example_patients(base: int,
                                            edits: list[tuple[int, int, str]]) -> None:
    patients = example_patients()
    text = patients[base % len(patients)][1]
    for pos, kind, piece in edits:
        i = pos % (len(text) + 1)
        if kind == 0:
            text = text[:i] + text[i + 1:]
        elif kind == 1:
            text = text[:i] + piece + text[i:]
        else:
            text = text[:i] + piece + text[i + len(piece):]
    check_patient_text(text.encode("utf-8", "surrogatepass"), AS_OF, trace=True)


@SETTINGS
@given(patient=st.deferred(lambda: _extreme_patients()), as_of=AS_OF_DATES, trace=st.booleans())
def test_valid_patients_with_extreme_values(patient: Patient, as_of: datetime.date,
                                            trace: bool) -> None:
    """Valid records at the edges of their ranges (huge counts and durations, extreme dates)."""
    from spinerules.records import dump_record

    check_patient_text(json.dumps(dump_record(patient)), as_of, trace=trace)


def _extreme_patients() -> st.SearchStrategy[Patient]:
    from spinerules.strategies import records

    return records(Patient, max_list=4, overrides={
        "prior_vertebral_fractures": st.one_of(st.none(), st.integers(0, 10**40)),
        "fractures.weeks_since_onset": st.one_of(st.none(), st.floats(0, 1.7e308),
                                                 st.sampled_from([0.0, 5e-324, 1e308])),
        "fractures.height_loss_pct": st.one_of(st.none(), st.floats(0, 100)),
        "symptoms.pain_score": st.one_of(st.none(), st.floats(0, 10)),
        "bone_health.t_score": st.one_of(st.none(), st.floats(-10, 10)),
    })
