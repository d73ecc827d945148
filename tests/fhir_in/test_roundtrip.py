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
from spinerules.lang.resources import bundled_names, guidelines_dir
from spinerules.records.loader import RecordError, load_record, load_record_json
from spinerules.records.spine import Fracture, Neuro, Patient
from spinerules.testing.runner import collect

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


@pytest.mark.parametrize("name", GUIDELINES)
def test_every_case_patient_gives_the_same_result_from_json_and_from_a_bundle(
        name: str) -> None:
    """Every patient of the guideline's own cases (YAML case files and `test` blocks, found
    in its folder, not listed here), at the case's date: the same codes and the same
    requests for data from its JSON record and from its Bundle."""
    guideline = load(name)
    seen = 0
    for case, _g in collect([str(guidelines_dir() / name)]):
        if case.patient is None or case.error or case.want_error:
            continue  # a case about a broken record or file: there is no record to write
        try:
            record = load_record(Patient, case.patient)
        except RecordError:
            continue
        bundle = json.loads(json.dumps(to_bundle(record, as_of=case.as_of)))
        extraction = extract_bundle(bundle, as_of=case.as_of)
        assert extraction.conflicts == (), case.origin
        want = guideline.evaluate(record, as_of=case.as_of)
        got = guideline.evaluate(extraction.record, as_of=case.as_of)
        assert (got.codes(), got.missing_codes()) == (want.codes(), want.missing_codes()), \
            case.origin
        seen += 1
    assert seen >= 5, f"{name}: only {seen} case patients found"
