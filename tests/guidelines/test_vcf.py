"""The bundled VCF guideline (guidelines/vcf): founding case, branches, thresholds, coverage.

Every decision point S1-S31 of /work/shared/seed/DIGEST.md is tagged in the case ids
("S9 ..."). Each case is evaluated with a trace; the last tests check that every rule of the
guideline fires in at least one case and does not fire in at least one other, and that no
case breaks an invariant.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import attrs
import pytest

import spinerules
from spinerules import nodes as n
from spinerules.result import Result

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "examples" / "patients"
DOC = ROOT / "docs" / "guidelines" / "vcf.md"
AS_OF = datetime.date(2026, 2, 18)
DELETE = object()

FOUNDING_CODES = (
    "conservative_management", "nsaid_first_line", "opioid_only_if_needed",
    "calcitonin_first_4_weeks", "early_mobilization", "avoid_prolonged_bed_rest",
    "consider_short_term_bracing", "physiotherapy", "dexa_scan",
    "start_osteoporosis_pharmacotherapy", "calcium_vitamin_d", "fall_prevention",
    "reassess_4_6_weeks", "genant_grade_1", "diagnose_osteoporosis_clinical",
)
FOUNDING_FORBIDDEN = (
    "urgent_surgical_consultation", "mri_with_contrast", "vertebral_augmentation_referral",
)
CONSERVATIVE = (
    "conservative_management", "nsaid_first_line", "opioid_only_if_needed",
    "early_mobilization", "avoid_prolonged_bed_rest", "physiotherapy", "reassess_4_6_weeks",
)


# ---------------------------------------------------------------------- helpers


@cache
def guideline() -> spinerules.Guideline:
    return spinerules.load("vcf")


def read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PATIENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def patient(name: str, **changes: Any) -> dict[str, Any]:
    """An example patient with changes; keys are dotted paths with `__` for dots
    (``fractures__0__weeks_since_onset=5``); the value DELETE removes the key."""
    record = copy.deepcopy(read(name))
    for key, value in changes.items():
        parts = key.split("__")
        node: Any = record
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        last = parts[-1]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return record


def evaluate(record: dict[str, Any]) -> Result:
    return guideline().evaluate(record, as_of=AS_OF, trace=True)


def fired_rules(result: Result) -> set[str]:
    assert result.trace is not None
    return {o.rule for o in result.trace.outcomes if o.status == "fire"}


def rule_ids() -> list[str]:
    """Every rule id and score name of the guideline, in source order."""

    def walk(items: Any) -> Iterator[str]:
        for item in items:
            if isinstance(item, n.Rule):
                yield item.rule_id
            elif isinstance(item, n.Score):
                yield item.name
            elif isinstance(item, n.For):
                yield from walk(item.items)

    return list(walk(guideline().program.items()))


@attrs.frozen
class Case:
    id: str
    record: dict[str, Any]
    want: tuple[str, ...] = ()
    want_not: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    missing_not: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()  # rule ids that must fire
    rules_not: tuple[str, ...] = ()  # rule ids that must not fire


def case(id: str, record: dict[str, Any], want: str = "", want_not: str = "", missing: str = "",
         missing_not: str = "", rules: str = "", rules_not: str = "") -> Case:
    def split(s: str) -> tuple[str, ...]:
        return tuple(s.split())

    return Case(id, record, split(want), split(want_not), split(missing), split(missing_not),
                split(rules), split(rules_not))


F = "founding-case"
CHRONIC = "chronic-failed-conservative"
SEVERE = "acute-severe-hospitalized"

# ---------------------------------------------------------------------- the test corpus

CASES: list[Case] = [
    # ---- the example patients, one per branch
    case("founding case (S1 S6-S11 S13-S19 S21)", read(F),
         want=" ".join(FOUNDING_CODES) + " acute_fracture warn_osteoporosis_not_evaluated",
         want_not=" ".join(FOUNDING_FORBIDDEN) + " mri_without_contrast infection_workup "
                  "malignancy_workup warn_nsaid_contraindicated breathing_exercises repeat_imaging",
         missing_not="request_neuro_exam request_dexa_status request_cancer_history "
                     "request_symptom_duration request_level_concordance"),
    case("S2 founding case without a neurological examination", read("founding-no-neuro"),
         want="genant_grade_1 diagnose_osteoporosis_clinical dexa_scan "
              "start_osteoporosis_pharmacotherapy calcium_vitamin_d fall_prevention",
         want_not=" ".join(CONSERVATIVE) + " vertebral_augmentation_referral "
                  "urgent_surgical_consultation calcitonin_first_4_weeks",
         missing="request_neuro_exam"),
    case("S2 S5 neurological deficit with cord or conus signs", read("neuro-deficit"),
         want="urgent_surgical_consultation mri_with_contrast genant_grade_2 "
              "diagnose_osteoporosis_clinical",
         want_not=" ".join(CONSERVATIVE) + " vertebral_augmentation_referral infection_workup "
                  "malignancy_workup mri_without_contrast",
         missing_not="request_neuro_exam", rules="S5.red_flag_urgent"),
    case("S3 S5 infection red flag", read("infection-red-flag"),
         want="infection_workup urgent_surgical_consultation mri_with_contrast",
         want_not=" ".join(CONSERVATIVE) + " malignancy_workup vertebral_augmentation_referral",
         rules="S3.infection_workup S5.red_flag_urgent"),
    case("S4 S5 history of cancer: malignancy work-up, bone branch waits", read("cancer-history"),
         want="malignancy_workup mri_with_contrast urgent_surgical_consultation genant_grade_2",
         want_not=" ".join(CONSERVATIVE) + " diagnose_osteoporosis_clinical "
                  "start_osteoporosis_pharmacotherapy infection_workup",
         missing_not="request_cancer_history"),
    case("S25 chronic failed conservative care at 14 weeks, pain 8", read(CHRONIC),
         want="vertebral_augmentation_referral conservative_management subacute_fracture "
              "warn_pain_beyond_expected_course repeat_imaging diagnose_osteoporosis_clinical",
         want_not="calcitonin_first_4_weeks urgent_surgical_consultation dexa_scan",
         rules="S25.augmentation_after_failed_care S22.pain_beyond_expected_course",
         rules_not="S26.augmentation_severe_acute"),
    case("S26 acute severe pain, admitted on parenteral opioids", read(SEVERE),
         want="vertebral_augmentation_referral calcitonin_first_4_weeks acute_fracture "
              "warn_prolonged_immobilization warn_opioid_falls_risk warn_check_complications",
         want_not="urgent_surgical_consultation",
         rules="S26.augmentation_severe_acute S31.prolonged_immobilization S30.opioid_falls",
         rules_not="S25.augmentation_after_failed_care"),
    case("S25 augmentation contraindicated (ACR Variant 3)", read("augmentation-contraindicated"),
         want="warn_augmentation_contraindicated conservative_management",
         want_not="vertebral_augmentation_referral",
         rules="S25.augmentation_contraindicated"),
    case("S16 fracture on treatment with three prior vertebral fractures",
         read("on-treatment-multiple-fractures"),
         want="reassess_osteoporosis_therapy consider_anabolic_agent conservative_management",
         want_not="start_osteoporosis_pharmacotherapy dexa_scan warn_osteoporosis_not_evaluated"),
    case("S14 52-year-old man, L3, T-score -1.5", read("male-52-l3-osteopenia"),
         want="diagnose_osteoporosis_clinical secondary_cause_workup "
              "start_osteoporosis_pharmacotherapy physiotherapy avoid_loaded_spinal_flexion "
              "early_mobilization genant_grade_1",
         want_not="dexa_scan consider_anabolic_agent calcitonin_first_4_weeks"),
    case("Genant 2: elderly man, T6, 30 %", read("elderly-man-t6-grade2"),
         want="genant_grade_2 conservative_management secondary_cause_workup dexa_scan",
         want_not="genant_grade_1 genant_grade_3 breathing_exercises"),
    case("S1 no MRI: marrow edema unknown", read("no-mri"),
         want="mri_without_contrast conservative_management",
         want_not="vertebral_augmentation_referral acute_fracture mri_with_contrast",
         rules="S1.acuity_unknown_mri"),
    case("S7 NSAIDs contraindicated", read("nsaid-contraindicated"),
         want="warn_nsaid_contraindicated conservative_management opioid_only_if_needed",
         want_not="nsaid_first_line", rules="S7.nsaid_contraindicated",
         rules_not="S7.nsaid_first_line"),
    case("S14-S16 child: paediatric referral, no adult drugs or augmentation",
         read("child-steroid-fracture"),
         want="pediatric_specialist_referral use_z_score_not_t_score "
              "diagnose_osteoporosis_clinical secondary_cause_workup",
         want_not="start_osteoporosis_pharmacotherapy vertebral_augmentation_referral "
                  "fall_prevention consider_anabolic_agent",
         rules="S14.osteoporosis_clinical_child S16.child_specialist_referral "
               "S15.child_use_z_score",
         rules_not="S14.osteoporosis_clinical_adult"),
    case("S27 negative radiograph at T12", read("negative-radiograph-t12"),
         want="warn_thoracolumbar_junction_missed mri_without_contrast",
         want_not="genant_grade_0 genant_grade_1 diagnose_osteoporosis_clinical"),
    case("S20 S22 S24 S28 S30 pain not improving at 10 weeks", read("persistent-pain-10-weeks"),
         want="warn_pain_beyond_expected_course repeat_imaging warn_inadequate_junction_imaging "
              "breathing_exercises warn_opioid_falls_risk reassess_osteoporosis_therapy "
              "consider_anabolic_agent subacute_fracture",
         want_not="vertebral_augmentation_referral calcitonin_first_4_weeks "
                  "warn_check_complications start_osteoporosis_pharmacotherapy",
         rules="S28.inadequate_junction_imaging S24.repeat_imaging S20.breathing_exercises"),

    # ---- S9: calcitonin only up to 4 weeks
    case("S9 calcitonin at exactly 4 weeks", patient(F, fractures__0__weeks_since_onset=4),
         want="calcitonin_first_4_weeks"),
    case("S9 no calcitonin at 4.5 weeks", patient(F, fractures__0__weeks_since_onset=4.5),
         want="conservative_management", want_not="calcitonin_first_4_weeks"),
    case("S9 S25 weeks since onset unknown",
         patient(F, fractures__0__weeks_since_onset=DELETE),
         want="conservative_management", want_not="calcitonin_first_4_weeks acute_fracture",
         missing="request_symptom_duration"),

    # ---- S25/S26: 12 weeks, pain 7, concordance, contraindication, age 18
    case("S25 referral at exactly 12 weeks", patient(CHRONIC, fractures__0__weeks_since_onset=12),
         want="vertebral_augmentation_referral", rules="S25.augmentation_after_failed_care"),
    case("S25 no referral at 11.9 weeks with failed oral analgesia only",
         patient(CHRONIC, fractures__0__weeks_since_onset=11.9),
         want="conservative_management subacute_fracture",
         want_not="vertebral_augmentation_referral"),
    case("S25 referral at pain exactly 7", patient(CHRONIC, symptoms__pain_score=7),
         want="vertebral_augmentation_referral"),
    case("S25 no referral at pain 6", patient(CHRONIC, symptoms__pain_score=6),
         want="conservative_management", want_not="vertebral_augmentation_referral"),
    case("S26 referral at pain exactly 7 (acute severe)", patient(SEVERE, symptoms__pain_score=7),
         want="vertebral_augmentation_referral", rules="S26.augmentation_severe_acute"),
    case("S26 no referral at pain 6 (acute, admitted)", patient(SEVERE, symptoms__pain_score=6),
         want="conservative_management", want_not="vertebral_augmentation_referral"),
    case("S25 S26 at 12 weeks the chronic path replaces the severe path",
         patient(SEVERE, fractures__0__weeks_since_onset=12),
         want="vertebral_augmentation_referral",
         rules="S25.augmentation_after_failed_care", rules_not="S26.augmentation_severe_acute"),
    case("S26 severe path at 11.9 weeks", patient(SEVERE, fractures__0__weeks_since_onset=11.9),
         want="vertebral_augmentation_referral",
         rules="S26.augmentation_severe_acute", rules_not="S25.augmentation_after_failed_care"),
    case("S25 level concordance unknown: ask, do not refer",
         patient(CHRONIC, fractures__0__pain_at_level_confirmed=DELETE),
         want="conservative_management", want_not="vertebral_augmentation_referral",
         missing="request_level_concordance"),
    case("S25 level not concordant: no referral",
         patient(CHRONIC, fractures__0__pain_at_level_confirmed=False),
         want_not="vertebral_augmentation_referral", missing_not="request_level_concordance"),
    case("S25 healed fracture (no edema): no referral",
         patient(CHRONIC, fractures__0__marrow_edema=False),
         want="chronic_fracture", want_not="vertebral_augmentation_referral subacute_fracture"),
    case("S25 contraindication recorded as 'none' does not block",
         patient(CHRONIC, augmentation_contraindication="none"),
         want="vertebral_augmentation_referral", want_not="warn_augmentation_contraindicated"),
    case("S25 age 17: no augmentation", patient(CHRONIC, age=17),
         want="pediatric_specialist_referral",
         want_not="vertebral_augmentation_referral start_osteoporosis_pharmacotherapy"),
    case("S25 age 18: augmentation", patient(CHRONIC, age=18),
         want="vertebral_augmentation_referral start_osteoporosis_pharmacotherapy",
         want_not="pediatric_specialist_referral"),
    case("S2 S25 no neurological examination: no referral",
         patient(CHRONIC, neuro=DELETE),
         want_not="vertebral_augmentation_referral conservative_management",
         missing="request_neuro_exam"),

    # ---- S1 and Genant: 6 weeks; 20 / 25 / 40 %
    case("S1 acute at 5.9 weeks", patient(F, fractures__0__weeks_since_onset=5.9),
         want="acute_fracture", want_not="subacute_fracture"),
    case("S1 subacute at 6 weeks", patient(F, fractures__0__weeks_since_onset=6),
         want="subacute_fracture", want_not="acute_fracture"),
    case("Genant 19.9 % is grade 0 and not a fragility fracture",
         patient(F, fractures__0__height_loss_pct=19.9),
         want="genant_grade_0",
         want_not="genant_grade_1 diagnose_osteoporosis_clinical dexa_scan"),
    case("Genant 20 % is grade 1", patient(F, fractures__0__height_loss_pct=20),
         want="genant_grade_1 diagnose_osteoporosis_clinical", want_not="genant_grade_0"),
    case("Genant 25 % is grade 1", patient(F, fractures__0__height_loss_pct=25),
         want="genant_grade_1", want_not="genant_grade_2"),
    case("Genant 25.1 % is grade 2", patient(F, fractures__0__height_loss_pct=25.1),
         want="genant_grade_2", want_not="genant_grade_1"),
    case("Genant 40 % is grade 2", patient(F, fractures__0__height_loss_pct=40),
         want="genant_grade_2", want_not="genant_grade_3"),
    case("Genant 40.1 % is grade 3", patient(F, fractures__0__height_loss_pct=40.1),
         want="genant_grade_3", want_not="genant_grade_2"),

    # ---- S2-S5 red flags and their missing data
    case("S2 root injury recorded although 'deficit' is false",
         patient(F, neuro__nerve_root_injury=True),
         want="urgent_surgical_consultation mri_with_contrast",
         want_not="conservative_management"),
    case("S2 TLICS nerve-root status decides without the summary finding",
         patient(F, neuro={"tlics_status": "nerve_root"}),
         want="urgent_surgical_consultation", missing_not="request_neuro_exam"),
    case("S2 cauda equina signs", patient(F, neuro__cauda_equina_signs=True),
         want="urgent_surgical_consultation"),
    case("S3 immunosuppression with pain exactly 7 is an infection flag",
         patient(F, symptoms__pain_score=7, history__immunosuppressed=True),
         want="infection_workup urgent_surgical_consultation",
         want_not="conservative_management"),
    case("S3 immunosuppression with pain 6 is not",
         patient(F, symptoms__pain_score=6, history__immunosuppressed=True),
         want="conservative_management", want_not="infection_workup"),
    case("S3 fever with pain 7 and unknown markers is an infection flag",
         patient(F, symptoms__pain_score=7, symptoms__fever=True, labs=DELETE),
         want="infection_workup"),
    case("S4 cancer history unknown: ask, no conservative plan",
         patient(F, history__cancer=DELETE),
         want_not="conservative_management malignancy_workup",
         missing="request_cancer_history", rules="S4.cancer_history_missing"),
    case("S4 cancer history unknown but pathology excluded",
         patient(F, history__cancer=DELETE, fractures__0__pathologic_confirmed=False),
         want="conservative_management", missing_not="request_cancer_history"),
    case("S4 cancer history, pathologic fracture excluded by work-up",
         patient("cancer-history", fractures__0__pathologic_confirmed=False),
         want="conservative_management diagnose_osteoporosis_clinical",
         want_not="malignancy_workup urgent_surgical_consultation"),
    case("S4 proven pathologic fracture without cancer history",
         patient(F, fractures__0__pathologic_confirmed=True),
         want="malignancy_workup urgent_surgical_consultation",
         want_not="diagnose_osteoporosis_clinical conservative_management"),
    case("S5 injured posterior ligament (instability)",
         patient(F, fractures__0__posterior_ligament="injured"),
         want="urgent_surgical_consultation mri_with_contrast",
         want_not="conservative_management early_mobilization"),
    case("S5 distraction morphology (instability)",
         patient(F, fractures__0__morphology="distraction"),
         want="urgent_surgical_consultation"),
    case("S5 indeterminate ligament is not instability",
         patient(F, fractures__0__posterior_ligament="indeterminate"),
         want="conservative_management", want_not="urgent_surgical_consultation"),
    case("S1 S5 red flag and no MRI: contrast MRI only",
         patient("no-mri", neuro__deficit=True),
         want="mri_with_contrast", want_not="mri_without_contrast"),

    # ---- S14-S18 bone health: T-score -2.5 / -3.0, age 50, DXA status, treatment
    case("S14 T-score -2.5: no secondary-cause work-up (woman, 72)",
         patient(F, bone_health__dexa_done=True, bone_health__t_score=-2.5),
         want="diagnose_osteoporosis_clinical", want_not="secondary_cause_workup dexa_scan"),
    case("S14 T-score -2.4: secondary-cause work-up",
         patient(F, bone_health__dexa_done=True, bone_health__t_score=-2.4),
         want="secondary_cause_workup diagnose_osteoporosis_clinical"),
    case("S14 age 49: secondary-cause work-up",
         patient(F, age=49, bone_health__t_score=-2.8),
         want="secondary_cause_workup"),
    case("S14 age 50: no secondary-cause work-up",
         patient(F, age=50, bone_health__t_score=-2.8),
         want="diagnose_osteoporosis_clinical", want_not="secondary_cause_workup"),
    case("S14 high-energy fracture is not a fragility fracture",
         patient(F, age=45, fractures__0__mechanism="high_energy"),
         want="conservative_management",
         want_not="diagnose_osteoporosis_clinical dexa_scan start_osteoporosis_pharmacotherapy"),
    case("S15 DXA status unknown: ask, still treat",
         patient(F, bone_health__dexa_done=DELETE),
         want="start_osteoporosis_pharmacotherapy", want_not="dexa_scan",
         missing="request_dexa_status"),
    case("S15 DXA done: no DXA order", patient(F, bone_health__dexa_done=True),
         want="start_osteoporosis_pharmacotherapy",
         want_not="dexa_scan warn_osteoporosis_not_evaluated"),
    case("S16 T-score -3.0: no anabolic agent",
         patient(F, prior_vertebral_fractures=0, bone_health__t_score=-3.0),
         want="start_osteoporosis_pharmacotherapy", want_not="consider_anabolic_agent",
         rules_not="S16.anabolic_very_high_risk"),
    case("S16 T-score -3.1: anabolic agent",
         patient(F, prior_vertebral_fractures=0, bone_health__t_score=-3.1),
         want="consider_anabolic_agent start_osteoporosis_pharmacotherapy"),
    case("S16 two prior vertebral fractures: anabolic agent",
         patient(F, prior_vertebral_fractures=2, bone_health__t_score=-2.6),
         want="consider_anabolic_agent"),
    case("S16 one prior vertebral fracture: no anabolic agent",
         patient(F, prior_vertebral_fractures=1, bone_health__t_score=-2.6),
         want_not="consider_anabolic_agent"),
    case("S16 age 17: no osteoporosis drugs", patient(F, age=17),
         want="pediatric_specialist_referral use_z_score_not_t_score calcium_vitamin_d",
         want_not="start_osteoporosis_pharmacotherapy fall_prevention"),
    case("S16 age 18: adult treatment", patient(F, age=18),
         want="start_osteoporosis_pharmacotherapy fall_prevention secondary_cause_workup",
         want_not="pediatric_specialist_referral use_z_score_not_t_score",
         rules="S14.osteoporosis_clinical_adult", rules_not="S14.osteoporosis_clinical_child"),

    # ---- S20-S24 follow-up timeline (S12: expected course 8 weeks)
    case("S20 breathing exercises at L1 with respiratory symptoms",
         patient(F, symptoms__respiratory_symptoms=True), want="breathing_exercises"),
    case("S20 no breathing exercises at T6",
         patient("elderly-man-t6-grade2", symptoms__respiratory_symptoms=True),
         want_not="breathing_exercises"),
    case("S12 S22 not improving at exactly 8 weeks: within the expected course",
         patient(F, fractures__0__weeks_since_onset=8, symptoms__improving=False),
         want="warn_check_complications repeat_imaging",
         want_not="warn_pain_beyond_expected_course"),
    case("S12 S22 not improving at 8.5 weeks: beyond the expected course",
         patient(F, fractures__0__weeks_since_onset=8.5, symptoms__improving=False),
         want="warn_pain_beyond_expected_course", want_not="warn_check_complications"),
    case("S22 improving at 10 weeks: no warning",
         patient(F, fractures__0__weeks_since_onset=10, symptoms__improving=True),
         want_not="warn_pain_beyond_expected_course repeat_imaging"),
    case("S23 not improving at 1 week: too early",
         patient(F, fractures__0__weeks_since_onset=1, symptoms__improving=False),
         want_not="warn_check_complications"),
    case("S23 not improving at 1.5 weeks: look for complications",
         patient(F, fractures__0__weeks_since_onset=1.5, symptoms__improving=False),
         want="warn_check_complications"),
    case("S24 not improving at 5 weeks: no repeat imaging yet",
         patient(F, fractures__0__weeks_since_onset=5, symptoms__improving=False),
         want_not="repeat_imaging"),
    case("S24 not improving at 6 weeks: repeat imaging",
         patient(F, fractures__0__weeks_since_onset=6, symptoms__improving=False),
         want="repeat_imaging", rules="S24.repeat_imaging"),
    case("S24 new symptoms: repeat imaging", patient(F, symptoms__new_symptoms=True),
         want="repeat_imaging"),

    # ---- S27-S31 pitfalls
    case("S27 negative radiograph at L4: no junction warning",
         patient("negative-radiograph-t12", fractures__0__level="L4"),
         want_not="warn_thoracolumbar_junction_missed"),
    case("S28 junction imaged adequately: no warning",
         patient("persistent-pain-10-weeks", imaging__thoracolumbar_junction_adequate=True),
         want="repeat_imaging", want_not="warn_inadequate_junction_imaging"),
    case("S30 opioids at 64 without fall risk: no warning",
         patient(F, age=64, analgesia={"on_opioids": True}, history__high_fall_risk=False),
         want_not="warn_opioid_falls_risk"),
    case("S30 opioids at 65: warning",
         patient(F, age=65, analgesia={"on_opioids": True}, history__high_fall_risk=False),
         want="warn_opioid_falls_risk"),
    case("S31 admitted for pain: immobilisation warning",
         patient(F, analgesia={"hospitalized_for_pain": True}),
         want="warn_prolonged_immobilization"),
]


# ---------------------------------------------------------------------- tests


@cache
def results() -> dict[str, Result]:
    return {c.id: evaluate(c.record) for c in CASES}


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_case(c: Case) -> None:
    r = results()[c.id]
    codes, missing, fired = r.codes(), r.missing_codes(), fired_rules(r)
    assert not set(c.want) - codes, f"missing codes; got {sorted(codes)}"
    assert not set(c.want_not) & codes
    assert not set(c.missing) - missing, f"missing requests; got {sorted(missing)}"
    assert not set(c.missing_not) & missing
    assert not set(c.rules) - fired
    assert not set(c.rules_not) & fired
    assert not [x for x in r.conflicts if x.kind in ("invariant", "contradiction")]


def test_founding_case_acceptance() -> None:
    """S1-S21: the founding case gets the whole conservative plan, each line cited and reasoned."""
    r = evaluate(read(F))
    codes = r.codes()
    for code in FOUNDING_CODES:
        assert code in codes, code
        for rec in r.get(code):
            assert rec.because, f"{code} has no reasons"
            assert any(c.doi or c.pmid or c.url for c in rec.citations), code
    for code in FOUNDING_FORBIDDEN:
        assert code not in codes
    assert not r.missing
    assert r.scores["genant"].value == 1


def test_founding_case_from_the_cli() -> None:
    """The acceptance run, through `spinerules eval --format json`."""
    from click.testing import CliRunner

    from spinerules.cli import main

    out = CliRunner().invoke(main, ["eval", "vcf", str(PATIENTS / f"{F}.json"),
                                    "--as-of", "2026-02-18", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    recs = {r["code"]: r for r in data["recommendations"]}
    for code in FOUNDING_CODES:
        assert code in recs
        assert recs[code]["because"]
        assert any(c["doi"] or c["pmid"] or c["url"] for c in recs[code]["citations"])
    assert not set(FOUNDING_FORBIDDEN) & set(recs)


def test_founding_case_without_neuro_exam() -> None:
    """S2: no neurological examination -> ask for it; no conservative plan, no augmentation."""
    r = evaluate(read("founding-no-neuro"))
    assert "request_neuro_exam" in r.missing_codes()
    (m,) = [m for m in r.missing if m.code == "request_neuro_exam"]
    assert m.facts == ("neuro.deficit",)
    assert "S6.conservative_first_line" in m.waiting
    assert "conservative_management" not in r.codes()
    assert "vertebral_augmentation_referral" not in r.codes()


def test_augmentation_shows_both_sides() -> None:
    """S25/S26: a referral carries supporting and opposing sources side by side."""
    for name, rule in ((CHRONIC, "S25.augmentation_after_failed_care"),
                       (SEVERE, "S26.augmentation_severe_acute")):
        r = evaluate(read(name))
        (rec,) = r.get("vertebral_augmentation_referral")
        assert rec.rule == rule
        assert {"NICE_TA279", "MULTISOC_VA_2014"} <= {c.key for c in rec.citations}
        (conflict,) = [c for c in r.conflicts if c.code == "vertebral_augmentation_referral"]
        assert conflict.kind == "sources_disagree"
        opposing = {c.key for c in conflict.opposing}
        assert {"AAOS_OSCF_2010", "INVEST_2009", "BUCHBINDER_2009", "COCHRANE_VP_2018"} <= opposing
        because = {b.expression for b in rec.because}
        assert "patient.symptoms.pain_score >= 7" in because


def test_every_action_cites_a_published_source() -> None:
    """Every emitted action and request cites at least one source with a DOI, PMID or URL."""
    for r in results().values():
        for rec in r.recommendations:
            assert any(c.doi or c.pmid or c.url for c in rec.citations), rec.code
            assert rec.because, rec.code
            assert rec.text, rec.code
        for m in r.missing:
            assert any(c.doi or c.pmid or c.url for c in m.citations), m.code


def test_never_emitted_codes() -> None:
    """`opioid_first_line` and `bed_rest` name errors the guideline prevents."""
    for r in results().values():
        assert not {"opioid_first_line", "bed_rest"} & r.codes()


def test_children_never_get_adult_treatments() -> None:
    for c in CASES:
        if c.record.get("age", 99) < 18:
            codes = results()[c.id].codes()
            assert "vertebral_augmentation_referral" not in codes, c.id
            assert "start_osteoporosis_pharmacotherapy" not in codes, c.id


def test_missing_neuro_exam_never_gives_a_conservative_plan() -> None:
    """Section 14: no final conservative plan while the neurological exam is missing."""
    for r in results().values():
        if "request_neuro_exam" in r.missing_codes():
            assert not {"conservative_management", "vertebral_augmentation_referral"} & r.codes()


def test_guideline_test_blocks_pass() -> None:
    """The `test` blocks of guidelines/vcf/tests.rules."""
    from spinerules.testing import cases_from_guideline, describe_failure, run_case

    cases = list(cases_from_guideline(guideline()))
    assert len(cases) >= 2
    for tc in cases:
        outcome = run_case(tc, guideline())
        assert outcome.passed, describe_failure(outcome)


def test_rule_ids_name_their_decision_point() -> None:
    """Every rule id starts with the S-number it encodes; S1-S31 all appear (S12 is a define)."""
    numbers = set()
    for rid in rule_ids():
        if rid == "genant":
            continue
        m = re.match(r"S(\d+)\.[a-z0-9_]+$", rid)
        assert m, rid
        numbers.add(int(m.group(1)))
    assert numbers == set(range(1, 32)) - {12}


def test_docs_map_every_rule() -> None:
    """docs/guidelines/vcf.md names every rule id and every S-number."""
    text = DOC.read_text(encoding="utf-8")
    for rid in rule_ids():
        assert f"`{rid}`" in text, rid
    for i in range(1, 32):
        assert f"| S{i} |" in text, f"S{i}"


def test_every_rule_fires_and_does_not_fire_somewhere() -> None:
    """Across the corpus, each rule fires in at least one case and not in at least one other."""
    status: dict[str, set[str]] = defaultdict(set)
    fired_in: dict[str, set[str]] = defaultdict(set)
    for cid, r in results().items():
        assert r.trace is not None
        per_case: dict[str, set[str]] = defaultdict(set)
        for o in r.trace.outcomes:
            per_case[o.rule].add(o.status)
        for rule, statuses in per_case.items():
            if "fire" in statuses:
                fired_in[rule].add(cid)
            status[rule].add("fire" if "fire" in statuses else "not")
    ids = rule_ids()
    never_fired = [rid for rid in ids if "fire" not in status[rid]]
    always_fired = [rid for rid in ids if "not" not in status[rid]]
    assert not never_fired, f"rules that never fire: {never_fired}"
    assert not always_fired, f"rules that always fire: {always_fired}"


def test_results_match_the_published_schema() -> None:
    """Every result of the corpus validates against spinerules/result.schema.json."""
    import jsonschema

    from spinerules.result import result_schema

    validator = jsonschema.Draft202012Validator(result_schema())
    for cid, r in results().items():
        errors = sorted(validator.iter_errors(json.loads(r.dumps())), key=str)
        assert not errors, f"{cid}: {errors[0].message}"


def test_no_fracture_no_fracture_plan() -> None:
    """S6: the conservative pathway needs a fracture to manage (found by a generated patient:
    an empty fracture list with a normal neurological examination)."""
    record = patient("founding-case", fractures=[])
    codes = evaluate(record).codes()
    assert "conservative_management" not in codes
    assert "nsaid_first_line" not in codes
    unknown = dict(record)
    del unknown["fractures"]
    assert "conservative_management" not in evaluate(unknown).codes()
