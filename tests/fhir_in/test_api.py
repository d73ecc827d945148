"""The API takes a FHIR Bundle where it takes a record: ``Guideline.evaluate``, ``codes`` and
``extract``; the result carries each fact's provenance (``Result.provenance``, and
``provenance`` in the result JSON, valid against the result schema)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jsonschema
import pytest

from spinerules import load
from spinerules.engine.result import result_schema
from spinerules.fhir import Extraction, FhirError
from spinerules.fhir.extract import extract_bundle

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = json.loads((ROOT / "tests" / "fixtures" / "fhir" / "vcf-l1-osteoporotic.json")
                    .read_text(encoding="utf-8"))
AS_OF = datetime.date(2026, 2, 18)


def test_evaluate_a_bundle_gives_the_codes_of_its_record_and_its_provenance() -> None:
    g = load("vcf")
    result = g.evaluate(BUNDLE, as_of=AS_OF, trace=True)
    extraction = extract_bundle(BUNDLE, as_of=AS_OF)
    plain = g.evaluate(extraction.record, as_of=AS_OF)
    assert result.codes() == plain.codes() and result.codes()
    assert result.missing_codes() == plain.missing_codes()
    assert plain.provenance is None
    assert result.provenance == extraction.provenance_json()
    assert result.provenance["facts"]["history.cancer"] == [
        {"resource": "Condition/breast-cancer-history", "element": "code.coding[0]",
         "code": "Z85.3"}]
    data = json.loads(result.dumps())
    assert data["provenance"] == extraction.provenance_json()
    jsonschema.Draft202012Validator(result_schema()).validate(data)
    assert "provenance" not in json.loads(plain.dumps())


def test_the_bundle_is_read_at_the_evaluation_date() -> None:
    g = load("vcf")
    for day in (datetime.date(2026, 2, 18), datetime.date(2036, 2, 18)):
        result = g.evaluate(BUNDLE, as_of=day.isoformat())
        record = extract_bundle(BUNDLE, as_of=day).record
        assert result.codes() == g.evaluate(record, as_of=day).codes()
        assert result.as_of == day.isoformat()
    ages = {extract_bundle(BUNDLE, as_of=datetime.date(y, 2, 18)).record.age for y in (2026, 2036)}
    assert ages == {72, 82}  # the age is derived at each date


def test_codes_of_a_bundle_are_the_codes_of_its_record() -> None:
    for name in ("vcf", "trauma", "cervical", "ankylosed"):
        g = load(name)
        record = extract_bundle(BUNDLE, as_of=AS_OF).record
        assert g.codes(BUNDLE, as_of=AS_OF) == g.codes(record, as_of=AS_OF)
        assert g.codes(BUNDLE, as_of=AS_OF) == frozenset(g.evaluate(BUNDLE, as_of=AS_OF).codes())


def test_extract_gives_the_extraction() -> None:
    e = load("vcf").extract(BUNDLE, as_of=AS_OF)
    assert isinstance(e, Extraction) and e.record.fractures[0].level.value == "L1"


def test_a_bad_bundle_raises_a_located_fhir_error() -> None:
    bad = {"resourceType": "Bundle", "type": "collection",
           "entry": [{"resource": {"resourceType": "Patient", "id": "a"}},
                     {"resource": {"resourceType": "Patient", "id": "b"}}]}
    with pytest.raises(FhirError) as exc:
        load("vcf").evaluate(bad, as_of=AS_OF)
    assert exc.value.problems[0].path == "entry[1].resource"
    assert "second Patient" in exc.value.problems[0].message
    with pytest.raises(FhirError):
        load("vcf").codes({"resourceType": "Observation"}, as_of=AS_OF)
