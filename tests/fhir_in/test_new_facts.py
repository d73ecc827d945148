"""The facts the record gained with the cervical, ankylosed, DGOU and occult guidelines:
eGFR, long-term glucocorticoids, ankylosing disorders, dens fractures and cervical levels,
the Glasgow coma score; and the mapping rules they brought (``gives``, ``at_least_days``,
``fracture: code``, ATC codes standing for their class)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from spinerules.fhir.errors import FhirError, MappingError
from spinerules.fhir.extract import extract_bundle
from spinerules.fhir.mapping import ATC, ICD10CM, RXNORM, ValueSet, loads_mapping
from spinerules.records.spine import AnkylosingDisorder, Level

from .test_extract import bundle, condition

AS_OF = datetime.date(2026, 2, 18)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def observation(code: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2026-02-17",
            "code": {"coding": [{"system": LOINC, "code": code}]}, **value}


def statement(system: str, code: str, *, start: str | None, status: str = "active",
              ) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "MedicationStatement", "id": f"m{code}",
                           "status": status,
                           "medicationCodeableConcept": {"coding": [{"system": system,
                                                                      "code": code}]}}
    if start is not None:
        res["effectivePeriod"] = {"start": start}
    return res


# --- eGFR ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["62238-1", "98979-8", "33914-3", "48642-3", "48643-1"])
def test_egfr_from_any_egfr_code(code: str) -> None:
    e = extract_bundle(bundle(observation(code, valueQuantity={
        "value": 28, "system": UCUM, "code": "mL/min/{1.73_m2}"})), as_of=AS_OF)
    assert e.record.labs.egfr == 28.0
    assert e.provenance["labs.egfr"][0].code == code


def test_egfr_the_latest_of_two_formulas_wins() -> None:
    old = observation("33914-3", valueQuantity={"value": 55, "system": UCUM,
                                                "code": "mL/min/{1.73_m2}"})
    old["effectiveDateTime"] = "2025-06-01"
    new = observation("98979-8", valueQuantity={"value": 28, "system": UCUM,
                                                "code": "mL/min/{1.73_m2}"})
    e = extract_bundle(bundle(old, new), as_of=AS_OF)
    assert e.record.labs.egfr == 28.0 and e.conflicts == ()


def test_egfr_in_a_unit_of_another_dimension_is_a_located_error() -> None:
    bad = observation("62238-1", valueQuantity={"value": 1.2, "system": UCUM, "code": "mg/dL"})
    with pytest.raises(FhirError) as exc:
        extract_bundle(bundle(bad), as_of=AS_OF)
    (problem,) = exc.value.problems
    assert problem.path == "entry[1].resource.valueQuantity"
    assert "mg/dL" in problem.message and "mL/min/{1.73_m2}" in problem.message


# --- long-term glucocorticoids -------------------------------------------------------------


@pytest.mark.parametrize(("system", "code"), [(RXNORM, "8640"), (ATC, "H02AB07"),
                                              (ATC, "H02AB06"), (RXNORM, "3264")])
def test_a_glucocorticoid_taken_for_months_is_long_term(system: str, code: str) -> None:
    e = extract_bundle(bundle(statement(system, code, start="2025-09-01")), as_of=AS_OF)
    assert e.record.history.long_term_glucocorticoids is True
    (prov,) = e.provenance["history.long_term_glucocorticoids"]
    assert prov.resource == f"MedicationStatement/m{code}"
    assert prov.element == "medicationCodeableConcept.coding[0], effectivePeriod.start"


def test_a_glucocorticoid_started_weeks_ago_says_nothing_and_is_listed() -> None:
    e = extract_bundle(bundle(statement(RXNORM, "8640", start="2026-01-20")), as_of=AS_OF)
    assert e.record.history is None or e.record.history.long_term_glucocorticoids is None
    assert any("started 29 day(s) before 2026-02-18, less than 90" in u for u in e.unmapped)


def test_a_glucocorticoid_with_no_start_says_nothing_and_is_listed() -> None:
    e = extract_bundle(bundle(statement(RXNORM, "8640", start=None)), as_of=AS_OF)
    assert e.record.history is None or e.record.history.long_term_glucocorticoids is None
    assert any("no effectivePeriod.start" in u for u in e.unmapped)


def test_a_stopped_glucocorticoid_says_nothing() -> None:
    e = extract_bundle(bundle(statement(ATC, "H02AB07", start="2025-01-01",
                                        status="completed")), as_of=AS_OF)
    assert e.record.history is None or e.record.history.long_term_glucocorticoids is None


def test_a_request_counts_from_the_day_it_was_written() -> None:
    req = {"resourceType": "MedicationRequest", "id": "r", "status": "active",
           "authoredOn": "2025-10-01",
           "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "6902"}]}}
    e = extract_bundle(bundle(req), as_of=AS_OF)
    assert e.record.history.long_term_glucocorticoids is True


def test_long_term_steroid_use_coded_as_a_condition() -> None:
    e = extract_bundle(bundle(condition("Z79.52")), as_of=AS_OF)
    assert e.record.history.long_term_glucocorticoids is True
    assert e.record.history.immunosuppressed is True  # the same code says both


def test_atc_codes_stand_for_their_class_and_not_for_a_neighbour() -> None:
    vs = ValueSet("g", ((ATC, "H02AB"),))
    assert vs.matches(ATC, "H02AB07") and vs.matches(ATC, "H02AB")
    assert not vs.matches(ATC, "H02AA02") and not vs.matches(ATC, "H02A")
    assert not vs.matches(ICD10CM, "H02AB07")  # a prefix only within its own system
    exact = ValueSet("r", ((RXNORM, "8640"),))
    assert exact.matches(RXNORM, "8640") and not exact.matches(RXNORM, "86401")


# --- ankylosing disorders ------------------------------------------------------------------


@pytest.mark.parametrize(("code", "want"), [
    ("M45.9", AnkylosingDisorder.ankylosing_spondylitis),
    ("M45.6", AnkylosingDisorder.ankylosing_spondylitis),
    ("M48.12", AnkylosingDisorder.dish),
])
def test_ankylosing_disorder_from_its_condition(code: str, want: AnkylosingDisorder) -> None:
    e = extract_bundle(bundle(condition(code)), as_of=AS_OF)
    assert e.record.history.ankylosing_disorder is want
    assert e.provenance["history.ankylosing_disorder"][0].code == code


def test_non_radiographic_axial_spondyloarthritis_is_not_an_ankylosed_spine() -> None:
    e = extract_bundle(bundle(condition("M45.A0")), as_of=AS_OF)
    assert e.record.history is None or e.record.history.ankylosing_disorder is None
    assert any("M45.A0" in u for u in e.unmapped)


def test_spondylitis_and_dish_together_are_a_conflict_not_a_choice() -> None:
    e = extract_bundle(bundle(condition("M45.9"), condition("M48.10")), as_of=AS_OF)
    assert e.record.history is None or e.record.history.ankylosing_disorder is None
    (c,) = e.conflicts
    assert c.path == "history.ankylosing_disorder"
    assert {v for v, _p in c.values} == {"ankylosing_spondylitis", "dish"}


def test_a_resolved_spondylitis_says_nothing() -> None:
    e = extract_bundle(bundle(condition("M45.9", clinical="resolved")), as_of=AS_OF)
    assert e.record.history is None or e.record.history.ankylosing_disorder is None


# --- cervical fractures, the dens ----------------------------------------------------------


def test_a_type_ii_dens_fracture_is_a_c2_odontoid_fracture() -> None:
    e = extract_bundle(bundle({**condition("S12.110A"), "id": "dens"}), as_of=AS_OF)
    (f,) = e.record.fractures
    assert f.level is Level.C2 and f.odontoid is True
    assert str(e.provenance["fractures[0].odontoid"][0]) == "Condition/dens: S12.110A"


@pytest.mark.parametrize(("code", "level"), [("S12.000A", Level.C1), ("S12.190A", Level.C2),
                                             ("S12.500A", Level.C6), ("S12.691A", Level.C7)])
def test_cervical_fracture_codes_give_the_level(code: str, level: Level) -> None:
    e = extract_bundle(bundle(condition(code)), as_of=AS_OF)
    (f,) = e.record.fractures
    assert f.level is level and f.odontoid is None  # not a dens code: the dens is not known


def test_other_parts_of_the_neck_are_not_a_vertebral_fracture() -> None:
    e = extract_bundle(bundle(condition("S12.8XXA")), as_of=AS_OF)
    assert e.record.fractures is None or e.record.fractures == ()


# --- Glasgow coma score --------------------------------------------------------------------


def test_gcs_as_a_score_quantity_or_an_integer() -> None:
    q = observation("9269-2", valueQuantity={"value": 13, "system": UCUM, "code": "{score}"})
    assert extract_bundle(bundle(q), as_of=AS_OF).record.cspine.gcs == 13
    i = observation("9269-2", valueInteger=14)
    assert extract_bundle(bundle(i), as_of=AS_OF).record.cspine.gcs == 14


def test_gcs_that_is_not_a_whole_number_is_a_located_error() -> None:
    q = observation("9269-2", valueQuantity={"value": 13.5, "system": UCUM, "code": "{score}"})
    with pytest.raises(FhirError) as exc:
        extract_bundle(bundle(q), as_of=AS_OF)
    (problem,) = exc.value.problems
    assert problem.path == "entry[1].resource.valueQuantity.value"
    assert "whole number" in problem.message


def test_gcs_out_of_range_names_the_resource() -> None:
    with pytest.raises(FhirError) as exc:
        extract_bundle(bundle(observation("9269-2", valueInteger=17)), as_of=AS_OF)
    (problem,) = exc.value.problems
    assert problem.path.startswith("entry[1].resource.valueInteger")
    assert "cspine.gcs" in problem.message


# --- the new mapping rules are checked -----------------------------------------------------

HEAD = """record: spine.Patient
project_system: https://example.org/p
level_system: https://example.org/l
record_id_system: https://example.org/id
systems: {icd10cm: http://hl7.org/fhir/sid/icd-10-cm, atc: http://www.whocc.no/atc}
value_sets:
  as: {icd10cm: [M45.9]}
  steroids: {atc: [H02AB]}
facts:
"""


@pytest.mark.parametrize(("facts", "path", "words"), [
    ("  history.cancer:\n    - condition: as\n      gives: dish\n",
     "facts.history.cancer[0].gives", "named values"),
    ("  history.ankylosing_disorder:\n    - condition: as\n      gives: fused\n",
     "facts.history.ankylosing_disorder[0].gives", "expected one of none"),
    ("  history.ankylosing_disorder:\n    - condition: as\n",
     "facts.history.ankylosing_disorder[0]", "needs `gives`"),
    ("  history.cancer:\n    - condition: as\n      at_least_days: 90\n",
     "facts.history.cancer[0].at_least_days", "medication source"),
    ("  history.long_term_glucocorticoids:\n    - medication: steroids\n"
     "      at_least_days: -3\n",
     "facts.history.long_term_glucocorticoids[0].at_least_days", "whole number"),
    ("  fractures[].odontoid:\n    - fracture: code\n",
     "facts.fractures[].odontoid[0]", "value set"),  # `in` is missing: its source is named
    ("  fractures[].level:\n    - fracture: code\n      in: as\n",
     "facts.fractures[].level[0].fracture", "yes/no"),
])
def test_mistakes_in_the_new_rules_are_located(facts: str, path: str, words: str) -> None:
    with pytest.raises(MappingError) as exc:
        loads_mapping(HEAD + facts, name="m.yaml")
    problems = exc.value.problems
    assert any(p.path == path and words in p.message and p.line is not None
               for p in problems), [(p.path, p.message) for p in problems]
