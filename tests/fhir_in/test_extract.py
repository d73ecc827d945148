"""Extraction from the hand-written fixtures: values, status filters, precedence, provenance."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from spinerules.fhir.errors import FhirError
from spinerules.fhir.extract import Extraction, extract_bundle, extract_bundle_json
from spinerules.records.spine import Level, Morphology, Sex

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
AS_OF = datetime.date(2026, 2, 18)


def fixture(name: str) -> Extraction:
    return extract_bundle_json((FIXTURES / name).read_bytes(), as_of=AS_OF, file=name)


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1950-05-01"}
    entries = [{"resource": patient}, *({"resource": {**r, "subject": {"reference": "Patient/p"}}}
                                        for r in resources)]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def condition(code: str, *, clinical: str | None = "active", verification: str = "confirmed",
              **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": verification}]},
        **extra,
    }
    if clinical is not None:
        res["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": clinical}]}
    return res


def temperature(value: float, unit: str, when: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "effectiveDateTime": when,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                              "code": unit}}


# --- the osteoporotic L1 fixture ------------------------------------------------------------


def test_osteoporotic_fixture_values() -> None:
    e = fixture("vcf-l1-osteoporotic.json")
    r = e.record
    assert r.id == "vcf-l1-osteoporotic"
    assert r.age == 72  # birthDate 1953-06: the latest possible birthday (30 June) is to come
    assert r.sex is Sex.female
    assert len(r.fractures) == 1
    f = r.fractures[0]
    assert f.level is Level.L1 and f.marrow_edema is True and f.weeks_since_onset == 2.0
    assert r.symptoms.fever is True  # 100.6 [degF] = 38.1 Cel
    assert r.symptoms.pain_score == 6.0  # the latest of 8 (10 Feb) and 6 (17 Feb)
    assert r.labs.inflammatory_markers_elevated is True  # CRP normal, ESR high: any
    assert r.bone_health.t_score == -2.8  # the lowest of lumbar -2.1 and hip -2.8
    assert r.bone_health.dexa_done is True and r.bone_health.on_treatment is True
    assert r.history.cancer is True  # a resolved cancer is still a history of cancer
    assert r.history.immunosuppressed is None  # entered in error: ignored
    assert r.neuro.cauda_equina_signs is False  # refuted
    assert e.conflicts == ()


def test_osteoporotic_fixture_provenance() -> None:
    e = fixture("vcf-l1-osteoporotic.json")
    text = e.render()
    assert "patient.history.cancer = yes (Condition/breast-cancer-history: Z85.3)" in text
    assert "patient.bone_health.t_score = -2.8 (Observation/dxa-hip: 38264-8)" in text
    assert "patient.symptoms.pain_score = 6 (Observation/pain-latest: 72514-3)" in text
    assert e.provenance["fractures[0].marrow_edema"][0].resource == "Observation/mri-edema"
    assert e.provenance["fractures[0].level"][0].element == "bodySite[0].coding[0]"
    assert any("Encounter" in u for u in e.unmapped)
    assert any("immunodeficiency-error" in u for u in e.unmapped)
    data = json.loads(json.dumps(e.to_json()))
    assert data["facts"]["history.cancer"] == [
        {"resource": "Condition/breast-cancer-history", "element": "code.coding[0]",
         "code": "Z85.3"}]
    assert data["record"]["history"] == {"cancer": True}


def test_disagreeing_resources_are_conflicts_not_choices() -> None:
    e = fixture("disagreeing-resources.json")
    assert e.record.symptoms is None  # fever unknown: the Condition says yes, 36.9 Cel says no
    assert e.record.fractures[0].level is None
    paths = {c.path for c in e.conflicts}
    assert paths == {"symptoms.fever", "fractures[0].level"}
    fever = next(c for c in e.conflicts if c.path == "symptoms.fever")
    assert {p.resource for _v, p in fever.values} == {"Condition/fever", "Observation/temp"}
    assert "resources disagree" in str(fever)


def test_two_fractures_in_bundle_order_with_findings_by_focus() -> None:
    r = fixture("two-traumatic-fractures.json").record
    assert [f.level for f in r.fractures] == [Level.T12, Level.L1]  # bodySite; S32.011A
    assert r.fractures[0].mechanism.value == "high_energy"
    assert r.fractures[1].morphology is Morphology.burst
    assert r.fractures[1].height_loss_pct == 35.0
    assert r.fractures[0].weeks_since_onset == pytest.approx(0.8943, abs=1e-4)  # onsetPeriod


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_fixtures_are_valid_r4b(name: str) -> None:
    pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")
    from spinerules.fhir.validate import validate_resources

    data = json.loads((FIXTURES / name).read_text())
    found = validate_resources([(f"entry[{i}].resource", e["resource"])
                                for i, e in enumerate(data["entry"])])
    assert found == []


def test_validation_finds_a_bad_resource() -> None:
    pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")
    from spinerules.fhir.validate import validate_resources

    found = validate_resources([("entry[1].resource", {
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "valueQuantity": {"value": "high"}})])
    assert [p.path for p in found] == ["entry[1].resource.valueQuantity.value"]


# --- rules, one at a time --------------------------------------------------------------------


def test_fahrenheit_converted_through_ucum() -> None:
    r = extract_bundle(bundle(temperature(100.3, "[degF]", "2026-02-17")), as_of=AS_OF).record
    assert r.symptoms.fever is False  # 37.94 Cel
    r = extract_bundle(bundle(temperature(100.4, "[degF]", "2026-02-17")), as_of=AS_OF).record
    assert r.symptoms.fever is True  # 38.0 Cel


def test_latest_temperature_wins_within_a_source() -> None:
    b = bundle(temperature(39.0, "Cel", "2026-02-10"), temperature(36.8, "Cel", "2026-02-17"))
    e = extract_bundle(b, as_of=AS_OF)
    assert e.record.symptoms.fever is False and e.conflicts == ()


def test_same_time_different_values_is_a_conflict() -> None:
    b = bundle(temperature(39.0, "Cel", "2026-02-17"), temperature(36.8, "Cel", "2026-02-17"))
    e = extract_bundle(b, as_of=AS_OF)
    assert e.record.symptoms is None and [c.path for c in e.conflicts] == ["symptoms.fever"]


def test_condition_status_filters() -> None:
    def cancer(**kw: Any) -> bool | None:
        h = extract_bundle(bundle(condition("C79.51", **kw)), as_of=AS_OF).record.history
        return None if h is None else h.cancer

    assert cancer() is True
    assert cancer(clinical="resolved") is True  # history: any clinical status
    assert cancer(verification="refuted", clinical=None) is False
    assert cancer(verification="entered-in-error") is None

    def immuno(**kw: Any) -> bool | None:
        h = extract_bundle(bundle(condition("D84.9", **kw)), as_of=AS_OF).record.history
        return None if h is None else h.immunosuppressed

    assert immuno() is True
    assert immuno(clinical="resolved") is None  # current facts need an active Condition
    assert immuno(verification="refuted", clinical=None) is None  # refuted: not read as false


def test_resolved_fracture_is_not_a_fracture() -> None:
    r = extract_bundle(bundle(condition("M80.08XA", clinical="resolved")), as_of=AS_OF).record
    assert r.fractures is None


def test_icd_code_without_dots_and_prefix_matching() -> None:
    r = extract_bundle(bundle(condition("S32010A")), as_of=AS_OF).record
    assert r.fractures[0].level is Level.L1
    r = extract_bundle(bundle(condition("M48.56XA")), as_of=AS_OF).record
    assert r.fractures[0].level is None  # a region code: the level stays unknown


@pytest.mark.parametrize(("birth", "age"), [
    ("1950", 75), ("1950-02", 75), ("1950-01", 76), ("1950-02-18", 76), ("1950-02-19", 75)])
def test_age_from_partial_birth_date(birth: str, age: int) -> None:
    b = bundle()
    b["entry"][0]["resource"]["birthDate"] = birth
    assert extract_bundle(b, as_of=AS_OF).record.age == age


def test_onset_falls_back_to_recorded_date() -> None:
    r = extract_bundle(bundle(condition("M80.08XA", recordedDate="2026-02-04")),
                       as_of=AS_OF).record
    assert r.fractures[0].weeks_since_onset == 2.0


def test_unmapped_content_is_listed_not_guessed() -> None:
    b = bundle({"resourceType": "Condition", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "73595000", "display": "Stress"}]}})
    e = extract_bundle(b, as_of=AS_OF)
    assert e.record.history is None
    assert e.unmapped == ("entry[1].resource: SNOMED CT 73595000 (Stress)",)


def test_interpretation_missing_and_no_range_is_unknown_and_listed() -> None:
    crp = {"resourceType": "Observation", "id": "crp", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "1988-5"}]},
           "valueQuantity": {"value": 12, "system": "http://unitsofmeasure.org",
                             "code": "mg/L"}}
    e = extract_bundle(bundle(crp), as_of=AS_OF)
    assert e.record.labs is None
    assert any("cannot say whether it is raised" in u for u in e.unmapped)
    crp["referenceRange"] = [{"high": {"value": 5}}]
    assert extract_bundle(bundle(crp), as_of=AS_OF).record.labs.inflammatory_markers_elevated


def test_errors_are_collected_not_stopped_at_the_first() -> None:
    b = bundle({"resourceType": "Condition", "code": {"text": "back pain"}},
               temperature(38.0, "mm/h", "2026-02-17"))
    with pytest.raises(FhirError) as info:
        extract_bundle(b, as_of=AS_OF)
    assert [p.path for p in info.value.problems] == ["entry[1].resource.code",
                                                     "entry[2].resource.valueQuantity"]
