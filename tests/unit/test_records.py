"""The strict JSON loader for patient records (docs/integrators/records.md)."""

from __future__ import annotations

import datetime
import enum
import json
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from spinerules.records import (
    RecordError,
    RecordProblem,
    dump_record,
    load_record,
    load_record_json,
)
from spinerules.records.schema import fact
from spinerules.records.spine import (
    RECORD_TYPES,
    BoneHealth,
    Fracture,
    Level,
    Mechanism,
    Neuro,
    Patient,
    Sex,
    Symptoms,
    TlicsNeuroStatus,
)

ROOT = Path(__file__).resolve().parents[2]
FOUNDING_CASE = ROOT / "examples" / "patients" / "founding-case.json"


def problems(data: object) -> list[tuple[str, str]]:
    """The (path, message) pairs reported for a record given as Python data."""
    with pytest.raises(RecordError) as info:
        load_record(Patient, data)
    return [(p.path, p.message) for p in info.value.problems]


def only_problem(data: object) -> tuple[str, str]:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


# --- loading -----------------------------------------------------------------------------


def test_founding_case_loads() -> None:
    patient = load_record_json(Patient, FOUNDING_CASE.read_bytes(), source=str(FOUNDING_CASE))

    assert patient.id == "founding-case"
    assert patient.age == 72
    assert patient.sex is Sex.female
    assert patient.fractures is not None and len(patient.fractures) == 1
    fracture = patient.fractures[0]
    assert fracture.level is Level.L1
    assert fracture.mechanism is Mechanism.low_energy
    assert fracture.height_loss_pct == 22
    assert fracture.marrow_edema is True
    assert fracture.weeks_since_onset == 2
    assert patient.symptoms is not None and patient.symptoms.pain_score == 6
    assert patient.neuro == Neuro(
        deficit=False,
        cauda_equina_signs=False,
        cord_or_conus_compression=False,
        nerve_root_injury=False,
        tlics_status=TlicsNeuroStatus.intact,
    )
    assert patient.symptoms.fever is False
    assert patient.labs is not None and patient.labs.inflammatory_markers_elevated is False
    assert patient.history is not None
    assert patient.history.cancer is False and patient.history.immunosuppressed is False
    assert patient.bone_health == BoneHealth(dexa_done=False, on_treatment=False)


def test_founding_case_has_no_as_of() -> None:
    data = json.loads(FOUNDING_CASE.read_text())
    assert "as_of" not in data


def test_record_types_registry() -> None:
    assert RECORD_TYPES["spine.Patient"] is Patient


def test_missing_and_null_are_unknown() -> None:
    patient = load_record(
        Patient,
        {"age": None, "neuro": {"deficit": None}, "fractures": [{"level": "T12"}]},
    )
    assert patient.age is None
    assert patient.sex is None
    assert patient.symptoms is None
    assert patient.neuro == Neuro()
    assert patient.neuro is not None and patient.neuro.deficit is None
    assert patient.fractures == (Fracture(level=Level.T12),)
    assert load_record(Patient, {}) == Patient()


def test_integers_are_accepted_for_float_fields() -> None:
    patient = load_record(Patient, {"symptoms": {"pain_score": 7}})
    assert patient.symptoms == Symptoms(pain_score=7.0)
    assert isinstance(patient.symptoms.pain_score, float)


def test_bounds_are_inclusive() -> None:
    patient = load_record(
        Patient,
        {"age": 120, "fractures": [{"height_loss_pct": 0, "weeks_since_onset": 0}]},
    )
    assert patient.age == 120


def test_levels_are_ordered() -> None:
    assert Level.T11 < Level.T12 < Level.L1 < Level.L2
    assert [lv.value for lv in Level][:2] == ["C1", "C2"]
    assert len(Level) == 29 and Level.S5.index == 28


# --- one message per kind of problem ------------------------------------------------------


def test_wrong_type() -> None:
    assert only_problem({"symptoms": {"fever": "yes"}}) == (
        "symptoms.fever",
        'expected true or false, got "yes"',
    )


def test_string_for_number() -> None:
    assert only_problem({"fractures": [{"height_loss_pct": "22%"}]}) == (
        "fractures[0].height_loss_pct",
        'expected a number from 0 to 100, got "22%"',
    )


def test_out_of_range() -> None:
    assert only_problem({"age": 130}) == ("age", "expected a whole number from 0 to 120, got 130")
    assert only_problem({"fractures": [{"weeks_since_onset": -1}]}) == (
        "fractures[0].weeks_since_onset",
        "expected a number of at least 0, got -1",
    )


def test_unknown_key_with_suggestion() -> None:
    assert only_problem({"neuro": {"defcit": True}}) == (
        "neuro.defcit",
        'unknown field (did you mean "deficit"?)',
    )
    assert only_problem({"zzz": 1}) == ("zzz", "unknown field")


def test_bad_level() -> None:
    assert only_problem({"fractures": [{"level": "L9"}]}) == (
        "fractures[0].level",
        'expected one of C1..C7, T1..T12, L1..L5, S1..S5, got "L9"',
    )


def test_bad_enum_with_suggestion() -> None:
    assert only_problem({"sex": "f"}) == (
        "sex",
        'expected one of "female", "male", got "f" (did you mean "female"?)',
    )
    assert only_problem({"fractures": [{"mechanism": "low-energy"}]}) == (
        "fractures[0].mechanism",
        'expected one of "low_energy", "high_energy", "none", got "low-energy"'
        ' (did you mean "low_energy"?)',
    )
    assert only_problem({"sex": "xyzzy"}) == (
        "sex",
        'expected one of "female", "male", got "xyzzy"',
    )


def test_not_json() -> None:
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, '{"age": 72,\n "sex": }')
    (problem,) = info.value.problems
    assert problem.path == "$"
    assert problem.message == "not valid JSON: Expecting value at line 2, column 9"
    assert info.value.source == "<patient>"


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, "[1, 2]")
    assert str(info.value) == "$: expected a JSON object (the patient record), got an array"
    assert only_problem(42) == ("$", "expected a JSON object (the patient record), got 42")


def test_bool_is_not_a_number() -> None:
    assert only_problem({"age": True}) == (
        "age",
        "expected a whole number from 0 to 120, got true",
    )
    assert only_problem({"symptoms": {"pain_score": False}}) == (
        "symptoms.pain_score",
        "expected a number from 0 to 10, got false",
    )


def test_number_is_not_a_bool() -> None:
    assert only_problem({"neuro": {"deficit": 0}}) == (
        "neuro.deficit",
        "expected true or false, got 0",
    )


def test_float_is_not_an_integer() -> None:
    assert only_problem({"age": 71.5}) == (
        "age",
        "expected a whole number from 0 to 120, got 71.5",
    )
    assert only_problem({"prior_vertebral_fractures": 2.0}) == (
        "prior_vertebral_fractures",
        "expected a whole number of at least 0, got 2.0",
    )


def test_nan_and_infinity_are_rejected() -> None:
    with pytest.raises(RecordError) as info:
        load_record_json(
            Patient, '{"symptoms": {"pain_score": NaN}, "bone_health": {"t_score": -Infinity}}'
        )
    assert [str(p) for p in info.value.problems] == [
        "symptoms.pain_score: expected a number from 0 to 10, got NaN",
        "bone_health.t_score: expected a number from -10 to 10, got -Infinity",
    ]


def test_shapes_are_not_coerced() -> None:
    assert problems({"fractures": {"level": "L1"}, "neuro": [], "id": 7}) == [
        ("id", "expected a string, got 7"),
        ("fractures", "expected an array, got an object"),
        ("neuro", "expected a JSON object, got an array"),
    ]
    assert only_problem({"fractures": [None]}) == (
        "fractures[0]",
        "expected a JSON object, got null",
    )


def test_duplicate_keys_are_reported() -> None:
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, '{"age": 70, "neuro": {"deficit": true, "deficit": false}}')
    assert str(info.value) == "neuro.deficit: this key appears more than once in the object"


def test_all_problems_are_reported_together() -> None:
    data: dict[str, Any] = {
        "age": 130,
        "sex": "f",
        "fractures": [
            {"level": "L1", "height_loss_pct": 22},
            {"level": "L9", "height_loss_pct": "22%", "edema": True},
        ],
        "neuro": {"defcit": True},
        "symptoms": {"fever": "yes"},
    }
    with pytest.raises(RecordError) as info:
        load_record_json(Patient, json.dumps(data), source="case.json")
    error = info.value
    assert error.source == "case.json"
    assert str(error).splitlines() == [
        "age: expected a whole number from 0 to 120, got 130",
        'sex: expected one of "female", "male", got "f" (did you mean "female"?)',
        'fractures[1].level: expected one of C1..C7, T1..T12, L1..L5, S1..S5, got "L9"',
        'fractures[1].height_loss_pct: expected a number from 0 to 100, got "22%"',
        'fractures[1].edema: unknown field (did you mean "marrow_edema"?)',
        'neuro.defcit: unknown field (did you mean "deficit"?)',
        'symptoms.fever: expected true or false, got "yes"',
    ]
    assert error.problems[0] == RecordProblem(
        "age", "expected a whole number from 0 to 120, got 130"
    )


# --- round trips -------------------------------------------------------------------------


def test_round_trip_founding_case() -> None:
    text = FOUNDING_CASE.read_text()
    patient = load_record_json(Patient, text)
    dumped = dump_record(patient)
    assert load_record(Patient, dumped) == patient
    assert json.loads(json.dumps(dumped)) == json.loads(text)


def test_dump_omits_unknown_fields() -> None:
    patient = Patient(age=50, fractures=(Fracture(level=Level.T6, height_loss_pct=30.0),))
    assert dump_record(patient) == {
        "age": 50,
        "fractures": [{"level": "T6", "height_loss_pct": 30.0}],
    }
    assert load_record(Patient, dump_record(patient)) == patient
    with pytest.raises(TypeError):
        dump_record({"age": 50})


# --- any attrs record class works --------------------------------------------------------


class Colour(enum.Enum):
    red = "red"
    green = "green"


@attrs.frozen(kw_only=True)
class Visit:
    on: datetime.date | None = fact(doc="visit date")
    colours: list[Colour] | None = fact()
    grade: Literal["a", "b"] | None = fact()


@attrs.frozen(kw_only=True)
class Chart:
    name: str  # required: no default
    visits: tuple[Visit, ...] | None = fact()


def test_generic_records() -> None:
    chart = load_record(
        Chart,
        {"name": "x", "visits": [{"on": "2024-02-29", "colours": ["red"], "grade": "b"}]},
    )
    assert chart == Chart(
        name="x",
        visits=(Visit(on=datetime.date(2024, 2, 29), colours=[Colour.red], grade="b"),),
    )
    assert load_record(Chart, dump_record(chart)) == chart

    with pytest.raises(RecordError) as info:
        load_record(
            Chart,
            {"name": None, "visits": [{"on": "2023-02-29", "colours": ["Red", 1], "grade": "c"}]},
        )
    assert [str(p) for p in info.value.problems] == [
        "name: expected a string, got null",
        'visits[0].on: expected a date as "YYYY-MM-DD", got "2023-02-29"',
        'visits[0].colours[0]: expected one of "red", "green", got "Red" (did you mean "red"?)',
        'visits[0].colours[1]: expected one of "red", "green", got 1',
        'visits[0].grade: expected one of "a", "b", got "c"',
    ]


def test_required_field_of_a_generic_record() -> None:
    with pytest.raises(RecordError) as info:
        load_record(Chart, {"visits": []})
    assert str(info.value) == "name: required field is missing"


def test_record_error_pickles() -> None:
    import pickle

    error = RecordError([RecordProblem("age", "bad"), RecordProblem("$", "worse")], source="x")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, copy.source, str(copy)) == (error.problems, "x", "age: bad\n$: worse")
