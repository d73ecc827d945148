"""Clinical-safety errors of issue #11 ("Errors to fix" 1 and 3-8), each reproduced on a
patient built from an example patient, under every entry that gives the decision.

Each test failed on the guidelines before the fix it names and passes after it. The
properties at the end remove one decisive fact at a time from every case patient of the
corpora and check that the decision is either still made or asked for (never silently
dropped): the property that would have caught errors 1 and 7.
"""

from __future__ import annotations

import copy
import datetime
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import spinerules
from spinerules.engine.result import Result

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "examples" / "patients"
AS_OF = datetime.date(2026, 2, 18)
ADULT_ENTRIES = ("vcf", "spine")


@cache
def guideline(name: str) -> spinerules.Guideline:
    return spinerules.load(name)


def read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def patch(record: dict[str, Any] | str, **changes: Any) -> dict[str, Any]:
    """A copy of a record (or example patient) with changes at `__`-separated paths; the
    value `DROP` removes the key (the fact becomes unknown)."""
    out = copy.deepcopy(read(record) if isinstance(record, str) else record)
    for key, value in changes.items():
        parts = key.split("__")
        node: Any = out
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if value is DROP:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return out


DROP = object()


def evaluate(name: str, record: dict[str, Any]) -> Result:
    return guideline(name).evaluate(record, as_of=AS_OF)


def no_conflicts(r: Result) -> None:
    broken = [x for x in r.conflicts if x.kind in ("invariant", "contradiction")]
    assert not broken, broken


# ---------------------------------------------------------------------- 1. cancer red flag

CANCER_NOT_PROVEN = patch("founding-case", history__cancer=True,
                          fractures__0__pathologic_confirmed=False)


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_cancer_history_stays_a_red_flag_while_pathology_is_only_not_proven(name: str) -> None:
    """`pathologic_confirmed: false` ("not proven yet") does not lift the cancer flag."""
    r = evaluate(name, CANCER_NOT_PROVEN)
    assert {"malignancy_workup", "urgent_surgical_consultation", "mri_with_contrast"} <= r.codes()
    assert not {"conservative_management", "diagnose_osteoporosis_clinical",
                "start_osteoporosis_pharmacotherapy", "calcitonin_first_4_weeks"} & r.codes()
    no_conflicts(r)


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_a_work_up_that_excluded_a_neoplasm_lifts_the_cancer_flag(name: str) -> None:
    r = evaluate(name, patch(CANCER_NOT_PROVEN, fractures__0__malignancy_excluded=True))
    assert {"conservative_management", "diagnose_osteoporosis_clinical"} <= r.codes()
    assert not {"malignancy_workup", "urgent_surgical_consultation"} & r.codes()
    assert "request_malignancy_status" not in r.missing_codes()
    no_conflicts(r)


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_cancer_history_unknown_is_asked_when_pathology_is_only_not_proven(name: str) -> None:
    record = patch("founding-case", history__cancer=DROP, fractures__0__pathologic_confirmed=False)
    r = evaluate(name, record)
    assert "request_cancer_history" in r.missing_codes()
    assert "conservative_management" not in r.codes()
    no_conflicts(r)


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_cancer_history_without_an_exclusion_asks_for_the_work_up_result(name: str) -> None:
    (m,) = [m for m in evaluate(name, CANCER_NOT_PROVEN).missing
            if m.code == "request_malignancy_status"]
    assert m.facts == ("fractures[0].malignancy_excluded",)


SINS_10 = {"location": "semirigid", "pain": "mechanical", "lesion": "lytic",
           "alignment": "deformity", "collapse": "lt_50", "posterolateral": "none"}


@pytest.mark.parametrize("name", ["vcf", "spine", "pathologic"])
def test_lytic_lesion_not_proven_is_a_suspected_tumour(name: str) -> None:
    """A lytic lesion (SINS 10) with `pathologic_confirmed: false` and no cancer history: a
    suspected tumour, never calcitonin and a bisphosphonate."""
    record = patch("founding-case", fractures__0__pathologic_confirmed=False,
                   fractures__0__sins=SINS_10)
    r = evaluate(name, record)
    assert {"malignancy_workup", "urgent_surgical_consultation"} <= r.codes()
    assert not {"conservative_management", "calcitonin_first_4_weeks",
                "start_osteoporosis_pharmacotherapy", "diagnose_osteoporosis_clinical"} \
        & r.codes()
    if name != "vcf":
        assert "sins_potentially_unstable" in r.codes()
    excluded = evaluate(name, patch(record, fractures__0__malignancy_excluded=True))
    assert "malignancy_workup" not in excluded.codes()


# ---------------------------------------------------------------------- 3. infection

@pytest.mark.parametrize("name", ADULT_ENTRIES)
@pytest.mark.parametrize("finding", ["symptoms__fever", "labs__inflammatory_markers_elevated"])
def test_fever_or_raised_markers_raise_infection_whatever_the_pain(name: str,
                                                                   finding: str) -> None:
    """IDSA 2015: new back pain with fever, or with raised ESR/CRP; no severity threshold
    (the founding case has pain 6)."""
    r = evaluate(name, patch("founding-case", **{finding: True}))
    assert {"infection_workup", "urgent_surgical_consultation", "mri_with_contrast"} <= r.codes()
    assert not {"conservative_management", "diagnose_osteoporosis_clinical"} & r.codes()
    (rec,) = r.get("infection_workup")
    assert "IDSA_NVO_2015" in {c.key for c in rec.citations}
    no_conflicts(r)


def test_no_back_pain_recorded_no_infection_suspicion_from_fever_alone() -> None:
    r = evaluate("vcf", patch("founding-case", symptoms__fever=True, symptoms__pain_score=0))
    assert "infection_workup" not in r.codes()


# ---------------------------------------------------------------------- 4. contrast MRI

@pytest.mark.parametrize("name", ADULT_ENTRIES)
@pytest.mark.parametrize("flag", [{"neuro__deficit": True},
                                  {"fractures__0__posterior_ligament": "injured"},
                                  {"fractures__0__morphology": "distraction"}],
                         ids=["deficit", "injured PLC", "distraction"])
def test_traumatic_red_flags_get_mri_without_contrast(name: str, flag: dict[str, Any]) -> None:
    r = evaluate(name, patch("founding-case", **flag))
    assert {"urgent_surgical_consultation", "mri_without_contrast"} <= r.codes()
    assert "mri_with_contrast" not in r.codes()
    no_conflicts(r)


def test_traumatic_red_flag_after_high_energy_gets_the_trauma_plan() -> None:
    record = patch("trauma-high-energy-young-adult", neuro__deficit=True,
                   neuro__cord_or_conus_compression=True, neuro__tlics_status="cord_incomplete")
    r = evaluate("spine", record)
    assert {"transfer_to_spine_center", "mri_without_contrast", "ct_whole_spine"} <= r.codes()
    assert "mri_with_contrast" not in r.codes()


def test_suspected_tumour_with_a_deficit_keeps_the_contrast_mri() -> None:
    r = evaluate("vcf", patch(CANCER_NOT_PROVEN, neuro__deficit=True))
    assert "mri_with_contrast" in r.codes() and "mri_without_contrast" not in r.codes()


# ---------------------------------------------------------------------- 5. osteoporosis scope

@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_young_adult_gets_a_specialist_not_the_postmenopausal_plan(name: str) -> None:
    r = evaluate(name, patch("founding-case", age=35))
    assert {"bone_specialist_referral", "secondary_cause_workup",
            "conservative_management"} <= r.codes()
    assert not {"diagnose_osteoporosis_clinical", "start_osteoporosis_pharmacotherapy",
                "consider_anabolic_agent", "dexa_scan"} & r.codes()
    at_50 = evaluate(name, patch("founding-case", age=50))
    assert {"diagnose_osteoporosis_clinical", "start_osteoporosis_pharmacotherapy"} \
        <= at_50.codes()
    assert "bone_specialist_referral" not in at_50.codes()


@pytest.mark.parametrize("name", ADULT_ENTRIES)
@pytest.mark.parametrize(("egfr", "held"), [(34.9, True), (35, False), (80, False)])
def test_bisphosphonate_held_below_the_labelled_renal_threshold(name: str, egfr: float,
                                                              held: bool) -> None:
    r = evaluate(name, patch("founding-case", labs__egfr=egfr))
    assert ("hold_bisphosphonate_renal" in r.codes()) == held
    assert ("start_osteoporosis_pharmacotherapy" in r.codes()) == (not held)
    assert "request_egfr" not in r.missing_codes()
    if held:
        (rec,) = r.get("hold_bisphosphonate_renal")
        assert "35" in (rec.text or "")
    no_conflicts(r)


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_egfr_unknown_is_asked_when_treatment_would_start(name: str) -> None:
    r = evaluate(name, read("founding-case"))
    assert "request_egfr" in r.missing_codes()
    assert "start_osteoporosis_pharmacotherapy" in r.codes()
    on_treatment = evaluate(name, patch("founding-case", bone_health__on_treatment=True))
    assert "request_egfr" not in on_treatment.missing_codes()


OLD_FRACTURE = patch("founding-case", fractures__0__weeks_since_onset=60,
                     history__long_term_glucocorticoids=False, bone_health__t_score=-2.0,
                     bone_health__dexa_done=True, prior_vertebral_fractures=0)


@pytest.mark.parametrize("change", [
    {"fractures__0__weeks_since_onset": 40},           # fracture within 12 months
    {"history__long_term_glucocorticoids": True},      # fracture on glucocorticoids
    {"bone_health__on_treatment": True},               # fracture on therapy
    {"prior_vertebral_fractures": 1},                  # multiple vertebral fractures
    {"bone_health__t_score": -3.1},                    # T-score below -3.0
], ids=["recent", "glucocorticoids", "on therapy", "multiple", "T < -3.0"])
def test_very_high_risk_criteria(change: dict[str, Any]) -> None:
    assert "consider_anabolic_agent" not in evaluate("vcf", OLD_FRACTURE).codes()
    assert "consider_anabolic_agent" in evaluate("vcf", patch(OLD_FRACTURE, **change)).codes()


def test_t_score_minus_3_is_not_below_minus_3() -> None:
    r = evaluate("vcf", patch(OLD_FRACTURE, bone_health__t_score=-3.0))
    assert "consider_anabolic_agent" not in r.codes()


# ---------------------------------------------------------------------- 6. posterior wall

@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_posterior_wall_involvement_goes_to_a_spine_surgeon(name: str) -> None:
    r = evaluate(name, patch("chronic-failed-conservative",
                             fractures__0__posterior_wall_involved=True))
    assert "vertebral_augmentation_referral" not in r.codes()
    assert "spine_surgery_consultation" in r.codes()
    intact = evaluate(name, patch("chronic-failed-conservative",
                                  fractures__0__posterior_wall_involved=False))
    assert "vertebral_augmentation_referral" in intact.codes()
    no_conflicts(r)


# ---------------------------------------------------------------------- 7. height loss unknown

@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_height_loss_unknown_is_asked(name: str) -> None:
    r = evaluate(name, patch("founding-case", fractures__0__height_loss_pct=DROP))
    assert "request_height_loss" in r.missing_codes()
    (m,) = [m for m in r.missing if m.code == "request_height_loss"]
    assert "fractures[0].height_loss_pct" in m.facts


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_height_loss_unknown_decided_from_densitometric_osteoporosis(name: str) -> None:
    record = patch("founding-case", fractures__0__height_loss_pct=DROP,
                   bone_health__dexa_done=True, bone_health__t_score=-2.8)
    r = evaluate(name, record)
    assert {"start_osteoporosis_pharmacotherapy", "calcium_vitamin_d",
            "fall_prevention"} <= r.codes()
    assert "diagnose_osteoporosis_clinical" not in r.codes()   # not from the fracture
    assert "request_height_loss" in r.missing_codes()           # which the grade needs


@pytest.mark.parametrize("name", ADULT_ENTRIES)
def test_height_loss_unknown_in_a_young_adult_is_asked(name: str) -> None:
    r = evaluate(name, patch("founding-case", age=40, fractures__0__height_loss_pct=DROP))
    assert "request_height_loss" in r.missing_codes()


# ---------------------------------------------------------------------- 8. infants

INFANT = patch("pediatric-low-energy-vcf", age=1)


@pytest.mark.parametrize("name", ["pediatric", "spine", "vcf"])
def test_infant_fracture_without_high_energy_prompts_abuse_assessment(name: str) -> None:
    r = evaluate(name, INFANT)
    assert "non_accidental_injury_assessment" in r.codes()
    unexplained = evaluate(name, patch(INFANT, fractures__0__mechanism=DROP))
    assert "non_accidental_injury_assessment" in unexplained.codes()
    crash = evaluate(name, patch(INFANT, fractures__0__mechanism="high_energy"))
    assert "non_accidental_injury_assessment" not in crash.codes()
    two = evaluate(name, patch(INFANT, age=2))
    assert "non_accidental_injury_assessment" not in two.codes()


# ---------------------------------------------------------------------- properties

def corpus_records() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in ("vcf", "pathologic", "trauma", "pediatric", "spine"):
        path = ROOT / "guidelines" / name / "cases" / f"{name}.cases.yaml"
        for c in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            if "patient" in c and "want_error" not in c:
                out.append((f"{name}: {c['name']}", c["patient"]))
    out += [(p.name, read(p.stem)) for p in sorted(PATIENTS.glob("*.json"))]
    return out


def test_removing_the_cancer_history_never_silences_the_malignancy_decision() -> None:
    """For every case and example patient with a fracture: without `history.cancer`, either
    the malignancy decision is made from other facts (a proven tumour, a lesion, or a
    work-up that excluded one at every level) or the history is asked for."""
    checked = 0
    for key, record in corpus_records():
        if not record.get("fractures"):
            continue
        r = evaluate("spine", patch(record, history__cancer=DROP))
        decided_otherwise = "malignancy_workup" in r.codes() or all(
            f.get("malignancy_excluded") is True for f in record["fractures"])
        assert decided_otherwise or "request_cancer_history" in r.missing_codes(), key
        checked += 1
    assert checked > 100


def test_removing_the_height_loss_never_silences_the_bone_health_plan() -> None:
    """For every adult of 50 or more with a low-energy fracture and no red flag: without the
    height loss, the bone plan is still decided or the height loss is asked for."""
    checked = 0
    for key, record in corpus_records():
        fractures = record.get("fractures") or []
        age = record.get("age")
        if not (isinstance(age, int) and age >= 50 and fractures):
            continue
        if not any(f.get("mechanism") in ("low_energy", "none") for f in fractures):
            continue
        full = evaluate("spine", record)
        if "urgent_surgical_consultation" in full.codes():
            continue
        stripped = patch(record, **{f"fractures__{i}__height_loss_pct": DROP
                                    for i in range(len(fractures))})
        r = evaluate("spine", stripped)
        plan = {"start_osteoporosis_pharmacotherapy", "reassess_osteoporosis_therapy"}
        assert plan & r.codes() or "request_height_loss" in r.missing_codes(), key
        checked += 1
    assert checked > 20
