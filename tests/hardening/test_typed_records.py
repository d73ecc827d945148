"""Issue #19, point 1: a record built in Python (an attrs instance) is checked as strictly
as a JSON record before it is evaluated: each wrong value is a ``RecordError`` naming its
path, through ``Guideline.evaluate`` and ``Guideline.codes`` alike.

The probes are the issue's (an int for a bool, a string for an enumeration member or a
bool, a number out of range, NaN, a string for a level) and more of the same kind; they
run together in one bounded child process (``conftest.py``), which prints what each gave.
"""

from __future__ import annotations

import datetime
import json
import typing

import attrs
import pytest

import spinerules
from spinerules.records import RecordError, load_record, validate_record
from spinerules.records.schema import fact
from spinerules.records.spine import Fracture, Level, Neuro, Patient

from .conftest import AS_OF, run_bounded

# name -> (Python expression of the patient, the path, a fragment of the message)
PROBES: dict[str, tuple[str, str, str]] = {
    "deficit_as_int": ("evolve(base, neuro=Neuro(deficit=1))", "neuro.deficit",
                       "expected True or False, got 1 (int)"),
    "mechanism_as_string": (
        "evolve(base, fractures=(evolve(base.fractures[0], mechanism='low_energy'),))",
        "fractures[0].mechanism", "got 'low_energy' (str); use Mechanism.low_energy"),
    "cancer_as_string": ("evolve(base, history=History(cancer='no'))", "history.cancer",
                         "expected True or False, got 'no' (str)"),
    "age_500": ("evolve(base, age=500)", "age", "expected a whole number from 0 to 120, got 500"),
    "pain_nan": ("evolve(base, symptoms=Symptoms(pain_score=float('nan')))",
                 "symptoms.pain_score", "expected a number from 0 to 10, got nan (float)"),
    "level_as_string": (
        "evolve(base, fractures=(evolve(base.fractures[0], level='L1'),))",
        "fractures[0].level", "expected a Level member (C1..C7, T1..T12, L1..L5, S1..S5), "
        "got 'L1' (str); use Level.L1"),
    "sex_as_string": ("evolve(base, sex='female')", "sex", "use Sex.female"),
    "age_as_float": ("evolve(base, age=72.0)", "age", "got 72.0 (float)"),
    "age_as_bool": ("evolve(base, age=True)", "age", "got True (bool)"),
    "height_loss_150": (
        "evolve(base, fractures=(evolve(base.fractures[0], height_loss_pct=150.0),))",
        "fractures[0].height_loss_pct", "expected a number from 0 to 100, got 150.0"),
    "weeks_infinite": (
        "evolve(base, fractures=(evolve(base.fractures[0], weeks_since_onset=float('inf')),))",
        "fractures[0].weeks_since_onset", "expected a number of at least 0, got inf"),
    "t_score_as_string": ("evolve(base, bone_health=BoneHealth(t_score='-2.5'))",
                          "bone_health.t_score", "got '-2.5' (str)"),
    "prior_fractures_negative": ("evolve(base, prior_vertebral_fractures=-1)",
                                 "prior_vertebral_fractures", "of at least 0, got -1"),
    "fractures_not_a_list": ("evolve(base, fractures=base.fractures[0])", "fractures",
                             "expected a tuple, got Fracture("),
    "fracture_as_dict": ("evolve(base, fractures=({'level': 'L1'},))", "fractures[0]",
                         "expected a Fracture record, got {'level': 'L1'} (dict)"),
    "fracture_none": ("evolve(base, fractures=(None,))", "fractures[0]",
                      "expected a value, got None"),
    "neuro_as_dict": ("evolve(base, neuro={'deficit': True})", "neuro",
                      "expected a Neuro record, got {'deficit': True} (dict)"),
    "id_as_int": ("evolve(base, id=123)", "id", "expected a string, got 123 (int)"),
    "id_with_surrogate": ("evolve(base, id='\\ud800')", "id", "unpaired surrogate"),
    "contraindication_as_bool": ("evolve(base, augmentation_contraindication=True)",
                                 "augmentation_contraindication", "got True (bool)"),
    "too_many_fractures": ("evolve(base, fractures=base.fractures * 1001)", "fractures",
                           "expected at most 1000 items, got 1001"),
}

_PROBE = """
import datetime, json
from attrs import evolve
from spinerules.records.spine import *
from spinerules.records import RecordError
g = spinerules.load("vcf")
base = spinerules.load_record_json(Patient, open(FOUNDING).read())
as_of = datetime.date(2026, 2, 18)
out = {}
for name, (expr, _path, _fragment) in PROBES.items():
    patient = eval(expr)
    seen = []
    for run in (lambda: g.evaluate(patient, as_of=as_of), lambda: g.codes(patient, as_of=as_of)):
        try:
            run()
            seen.append("accepted")
        except RecordError as exc:
            seen.append([[p.path, p.message] for p in exc.problems])
    out[name] = seen
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[object]]:
    from spinerules.lang.resources import guidelines_dir

    founding = guidelines_dir().parent / "examples" / "patients" / "founding-case.json"
    code = f"FOUNDING = {str(founding)!r}\nPROBES = {PROBES!r}\n" + _PROBE
    result: dict[str, list[object]] = json.loads(run_bounded(code).out)
    return result


@pytest.mark.parametrize("name", sorted(PROBES))
def test_a_wrong_value_in_a_typed_record_is_a_record_error(outcomes: dict[str, list[object]],
                                                           name: str) -> None:
    _expr, path, fragment = PROBES[name]
    evaluated, fast = outcomes[name]
    assert evaluated == fast  # evaluate and codes refuse alike
    assert isinstance(evaluated, list) and len(evaluated) == 1, evaluated
    [(found_path, message)] = evaluated
    assert found_path == path
    assert fragment in message, message


def test_the_probes_cover_the_issue() -> None:
    assert len(PROBES) >= 17


def test_a_valid_typed_record_gives_the_same_result_as_its_json() -> None:
    g = spinerules.load("vcf")
    data = {"id": "p", "age": 72, "sex": "female",
            "fractures": [{"level": "L1", "mechanism": "low_energy", "height_loss_pct": 22,
                           "marrow_edema": True, "weeks_since_onset": 2}],
            "neuro": {"deficit": False}, "symptoms": {"pain_score": 6}}
    typed = load_record(Patient, data)
    assert g.evaluate(typed, as_of=AS_OF).dumps() == g.evaluate(data, as_of=AS_OF).dumps()
    assert g.codes(typed, as_of=AS_OF) == g.codes(data, as_of=AS_OF)
    # ints where floats are declared are numbers too, as in JSON
    built = Patient(age=72, fractures=(Fracture(level=Level.L1, height_loss_pct=22),),
                    neuro=Neuro(deficit=False))
    validate_record(built)
    g.codes(built, as_of=AS_OF)


def test_every_problem_of_a_typed_record_is_listed_with_its_path() -> None:
    bad = Patient(age=500, neuro=Neuro(deficit=1, cauda_equina_signs="no"),
                  fractures=(Fracture(level="L1"), Fracture(height_loss_pct=-1)))
    with pytest.raises(RecordError) as info:
        validate_record(bad)
    assert [p.path for p in info.value.problems] == [
        "age", "fractures[0].level", "fractures[1].height_loss_pct", "neuro.deficit",
        "neuro.cauda_equina_signs"]


@attrs.frozen(kw_only=True)
class Visit:
    on: datetime.date | None = fact()
    kind: typing.Literal["new", "follow_up"] | None = fact()
    codes: list[str] | None = fact()
    scores: tuple[float | None, ...] | None = fact(doc="a missing score is null")


@attrs.frozen(kw_only=True)
class Chart:
    visits: tuple[Visit, ...] | None = fact()
    first: Visit | None = fact()


def test_a_typed_record_of_another_schema_is_checked_too() -> None:
    good = Chart(visits=(Visit(on=datetime.date(2026, 1, 2), kind="new", codes=["a"],
                               scores=(1.5, None)),), first=Visit())
    validate_record(good)
    bad = Chart(visits=(Visit(on="2026-01-02", kind="old", codes=["a", 1],
                              scores=(float("nan"),)),),
                first=Visit(on=datetime.datetime(2026, 1, 2, 3, 4)))
    with pytest.raises(RecordError) as info:
        validate_record(bad)
    assert [str(p) for p in info.value.problems] == [
        "visits[0].on: expected a datetime.date, got '2026-01-02' (str)",
        "visits[0].kind: expected one of 'new', 'follow_up', got 'old' (str)",
        "visits[0].codes[1]: expected a string, got 1 (int)",
        "visits[0].scores[0]: expected a number, got nan (float)",
        "first.on: expected a datetime.date, got datetime.datetime(2026, 1, 2, 3, 4) (datetime)",
    ]


def test_the_list_limit_applies_to_typed_records() -> None:
    g = spinerules.load("vcf", limits=spinerules.Limits(max_list_length=2))
    patient = Patient(fractures=(Fracture(),) * 3)
    with pytest.raises(RecordError) as info:
        g.codes(patient, as_of=AS_OF)
    assert [str(p) for p in info.value.problems] == [
        "fractures: expected at most 2 items, got 3"]
