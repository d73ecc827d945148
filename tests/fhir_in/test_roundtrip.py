"""The inverse mapping: extract(to_bundle(record)) == record, and example patients as Bundles.

A group whose facts are all unknown (``Neuro()``) and a missing group (``None``) mean the same
to every guideline; a Bundle cannot tell them apart, so the property compares records with such
groups folded to ``None`` (``fold``). Nothing else is normalised.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from spinerules import load
from spinerules.fhir.extract import extract_bundle
from spinerules.fhir.generate import to_bundle
from spinerules.lang.resources import bundled_names
from spinerules.records.loader import load_record_json
from spinerules.records.spine import Fracture, Neuro, Patient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "patients").glob("*.json"))
AS_OF = datetime.date(2026, 2, 18)
GUIDELINES = bundled_names()


def fold(obj: Any) -> Any:
    """``obj`` with every all-unknown sub-record replaced by ``None``."""
    if isinstance(obj, tuple):
        return tuple(fold(x) for x in obj)
    if not attrs.has(type(obj)):
        return obj
    values = {}
    for f in attrs.fields(type(obj)):
        v = fold(getattr(obj, f.name))
        if attrs.has(type(v)) and all(getattr(v, g.name) is None for g in attrs.fields(type(v))):
            v = None
        values[f.name] = v
    return type(obj)(**values)


def roundtrip(record: Any) -> Any:
    bundle = json.loads(json.dumps(to_bundle(record, as_of=AS_OF)))  # through real JSON text
    extraction = extract_bundle(bundle, as_of=AS_OF)
    assert extraction.conflicts == ()
    return extraction.record


def test_fold_only_folds_empty_groups() -> None:
    p = Patient(neuro=Neuro(), fractures=(Fracture(),))
    assert fold(p) == Patient(neuro=None, fractures=(Fracture(),))
    assert fold(Patient(neuro=Neuro(deficit=False))) == Patient(neuro=Neuro(deficit=False))


def test_a_known_record_round_trips_exactly() -> None:
    text = (ROOT / "examples" / "patients" / "founding-case.json").read_text()
    record = load_record_json(Patient, text)
    assert roundtrip(record) == record


@pytest.mark.slow
@pytest.mark.parametrize("name", GUIDELINES)
def test_extract_of_to_bundle_is_the_record(name: str) -> None:
    """2,000 generated records per bundled guideline (biased towards its thresholds)."""
    from spinerules.testing.strategies import patients_for

    guideline = load(name)
    assert guideline.record_type is Patient

    @settings(max_examples=2000, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(patients_for(guideline))
    def prop(record: Patient) -> None:
        assert roundtrip(record) == fold(record)

    prop()


@pytest.mark.parametrize("name", GUIDELINES)
def test_example_patients_give_the_same_codes_from_json_and_from_a_bundle(name: str) -> None:
    guideline = load(name)
    assert len(EXAMPLES) >= 20
    for path in EXAMPLES:
        record = load_record_json(Patient, path.read_text(encoding="utf-8"))
        from_bundle = roundtrip(record)
        assert guideline.codes(from_bundle, as_of=AS_OF) == guideline.codes(record, as_of=AS_OF), \
            path.name
