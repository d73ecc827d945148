"""The evaluation benchmark's rule set, written three ways.

1. ``SPINERULES_TEXT``: the rule set in the spinerules language (26 items: 19 top-level
   rules, and per fracture a Genant score and 6 rules), the way a guideline author would
   write it, with defines, a ``for`` block, a table score and ``unless``.
2. ``hand_written``: a plain Python function over the attrs ``spine.Patient`` record, with
   three-valued care (``None`` for unknown) only where a rule needs it: the red flags
   (because conservative care needs "no red flag" to be *known*) and the "fragility
   fracture" quantifier.
3. ``RULES``: the same conditions as a small condition tree that ``peers.py`` renders into
   each peer engine's expression language (rule-engine, CEL, ZEN, JSON-logic), with the
   null guards a careful user of that engine would write by hand.

The rule set is simplified from the bundled VCF guideline for benchmarking only; it is not
clinical advice.

Shared semantics of missing facts (the contract every engine is checked against): a rule
fires only when its condition is *definitely* true under Kleene's three-valued logic. A
rule whose condition depends on a missing fact does not fire, but ``true or unknown`` is
true and ``false and unknown`` is false, exactly as in spinerules. The peers get this by
rendering each condition C as T(C), "C is definitely true", pushing negations to the leaves
with the dual F(C), "C is definitely false"; every comparison leaf is guarded by a
"the fact is present" test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spinerules.records.spine import Level, Mechanism, Morphology, Patient, PosteriorLigament

# ---------------------------------------------------------------------------------------
# 1. the spinerules text

SPINERULES_TEXT = '''\
guideline bench_vcf "Benchmark rule set: osteoporotic vertebral compression fracture"
  version "1.0.0"
  record spine.Patient
  status draft
  description "A simplified 26-item rule set for benchmarks/evaluate.py; not clinical advice."

source ACR_VCF_2018:
  title "ACR Appropriateness Criteria: Management of Vertebral Compression Fractures"
  publisher "American College of Radiology"
  year 2018
  doi "10.1016/j.jacr.2018.09.019"
source DOWNIE_2013:
  title "Red flags to screen for malignancy and fracture in patients with low back pain"
  year 2013
  doi "10.1136/bmj.f7095"
source GENANT_1993:
  title "Vertebral fracture assessment using a semiquantitative technique"
  year 1993
  doi "10.1002/jbmr.5650080915"
source NICE_TA279:
  title "Percutaneous vertebroplasty and percutaneous balloon kyphoplasty (TA279)"
  publisher "National Institute for Health and Care Excellence"
  year 2013
  url "https://www.nice.org.uk/guidance/ta279"
source AAOS_OSCF_2010:
  title "The Treatment of Symptomatic Osteoporotic Spinal Compression Fractures"
  year 2010
  doi "10.5435/00124635-201103000-00007"
source BEERS_2023:
  title "American Geriatrics Society 2023 updated AGS Beers Criteria"
  year 2023
  doi "10.1111/jgs.18372"
source BHOF_2022:
  title "The clinician's guide to prevention and treatment of osteoporosis"
  year 2022
  doi "10.1007/s00198-021-05900-y"
source TLICS_2005:
  title "A new classification of thoracolumbar injuries (TLICS)"
  year 2005
  doi "10.1097/01.brs.0000182986.43345.cb"
source ISCD_PEDS_2013:
  title "The ISCD 2013 Pediatric Official Positions"
  year 2013
  doi "10.1016/j.jocd.2014.01.004"

# ------------------------------------------------------------------ defines

define neuro_flag:
  patient.neuro.deficit or patient.neuro.cauda_equina_signs
  or patient.neuro.cord_or_conus_compression

define severe_pain:
  patient.symptoms.pain_score >= 7

define infection_suspected:
  severe_pain and (patient.symptoms.fever or patient.labs.inflammatory_markers_elevated
                   or patient.history.immunosuppressed)

define red_flag:
  neuro_flag or infection_suspected or patient.history.cancer

define conservative:
  not red_flag

define fragility:
  any(f in patient.fractures: f.mechanism in [low_energy, none])

define older_adult:
  patient.age >= 50 years

define osteoporosis:
  patient.bone_health.t_score <= -2.5 or (fragility and older_adult)

# ------------------------------------------------------------------ red flags

rule T.neuro_urgent:
  when neuro_flag
  recommend urgent_surgical_consultation "Neurological deficit: same-day spine surgery review."
    strength strong urgency critical cite ACR_VCF_2018, DOWNIE_2013

rule T.infection:
  when infection_suspected
  recommend infection_workup "Work up a possible vertebral osteomyelitis."
    strength strong urgency critical cite ACR_VCF_2018
  recommend mri_with_contrast "Contrast-enhanced MRI of the spine."
    strength strong urgency urgent cite ACR_VCF_2018

rule T.malignancy:
  when patient.history.cancer
  recommend malignancy_workup "Look for a pathologic fracture."
    strength strong urgency urgent cite DOWNIE_2013

# ------------------------------------------------------------------ conservative care

rule C.conservative:
  when conservative
  recommend conservative_management "Conservative care first." strength moderate
    cite AAOS_OSCF_2010
  recommend early_mobilization "Mobilise early." cite AAOS_OSCF_2010
  recommend avoid_prolonged_bed_rest "Avoid prolonged bed rest." cite AAOS_OSCF_2010

rule C.nsaid:
  when conservative
  unless patient.analgesia.nsaid_contraindicated
  recommend nsaid_first_line "An NSAID as first-line analgesic." cite BEERS_2023

rule C.physio:
  when conservative and patient.symptoms.pain_score < 7
  recommend physiotherapy "Refer for physiotherapy." cite AAOS_OSCF_2010

rule C.bracing:
  when conservative and severe_pain and patient.age < 80 years
  consider consider_short_term_bracing "A short course of bracing." cite AAOS_OSCF_2010

rule C.calcitonin:
  when conservative and patient.analgesia.nsaid_contraindicated
   and any(f in patient.fractures: f.weeks_since_onset <= 4 weeks)
  consider calcitonin_first_4_weeks "Calcitonin for the first four weeks." cite AAOS_OSCF_2010

rule C.opioid:
  when conservative and patient.analgesia.failed_oral
  unless patient.analgesia.hospitalized_for_pain
  recommend opioid_only_if_needed "An opioid only if needed." cite BEERS_2023

rule C.reassess:
  when conservative and patient.symptoms.improving == false
  recommend reassess_4_6_weeks "Reassess in 4 to 6 weeks." cite ACR_VCF_2018

# ------------------------------------------------------------------ bone health

rule B.dexa:
  when fragility and older_adult and not patient.bone_health.dexa_done
  recommend dexa_scan "Bone densitometry (DXA)." cite BHOF_2022

rule B.diagnose:
  when osteoporosis
  classify diagnose_osteoporosis_clinical "Osteoporosis." cite BHOF_2022

rule B.start_treatment:
  when osteoporosis
  unless patient.bone_health.on_treatment
  recommend start_osteoporosis_pharmacotherapy "Start osteoporosis drug therapy." cite BHOF_2022
  recommend calcium_vitamin_d "Calcium and vitamin D." cite BHOF_2022

rule B.anabolic:
  when osteoporosis
   and (patient.bone_health.t_score <= -3 or patient.prior_vertebral_fractures >= 2)
  consider consider_anabolic_agent "An anabolic agent first." cite BHOF_2022

rule B.reassess_therapy:
  when patient.bone_health.on_treatment and patient.prior_vertebral_fractures >= 1
  recommend reassess_osteoporosis_therapy "A fracture on treatment: review it." cite BHOF_2022

rule B.secondary_causes:
  when patient.bone_health.t_score <= -2.5 and patient.age < 50 years
  recommend secondary_cause_workup "Look for a secondary cause." cite BHOF_2022

rule B.falls:
  when patient.history.high_fall_risk or (patient.age >= 75 years and fragility)
  recommend fall_prevention "Fall prevention." cite BHOF_2022

rule P.child:
  when patient.age < 18 years
  recommend pediatric_specialist_referral "Refer to a paediatric specialist."
    cite ISCD_PEDS_2013
  recommend use_z_score_not_t_score "Use Z-scores, not T-scores." cite ISCD_PEDS_2013

# ------------------------------------------------------------------ per fracture

for fracture in patient.fractures:
  score genant from fracture.height_loss_pct:
    < 20 %  -> 0 classify genant_grade_0 "Genant grade 0."
    <= 25 % -> 1 classify genant_grade_1 "Genant grade 1 (mild)."
    <= 40 % -> 2 classify genant_grade_2 "Genant grade 2 (moderate)."
    else    -> 3 classify genant_grade_3 "Genant grade 3 (severe)."
    cite GENANT_1993

  rule F.mri:
    when unknown fracture.marrow_edema and fracture.weeks_since_onset >= 2 weeks
     and not red_flag
    recommend mri_without_contrast "MRI without contrast to date the fracture."
      cite ACR_VCF_2018

  rule F.augmentation:
    when fracture.marrow_edema and fracture.weeks_since_onset >= 6 weeks and genant >= 1
     and patient.analgesia.failed_oral and severe_pain and not red_flag
    unless known patient.augmentation_contraindication
    recommend vertebral_augmentation_referral "Refer for vertebral augmentation."
      strength conditional cite NICE_TA279, ACR_VCF_2018

  rule F.augmentation_inpatient:
    when fracture.marrow_edema and genant >= 2 and patient.analgesia.hospitalized_for_pain
     and not red_flag
    unless known patient.augmentation_contraindication
    recommend vertebral_augmentation_referral "Refer for vertebral augmentation."
      strength conditional cite NICE_TA279, ACR_VCF_2018

  rule F.instability:
    when fracture.posterior_ligament == injured
      or fracture.morphology in [translation_rotation, distraction]
    recommend urgent_surgical_consultation "An unstable injury: same-day spine surgery review."
      strength strong urgency critical cite TLICS_2005

  rule F.high_energy_junction:
    when fracture.level in T11..L2 and fracture.mechanism == high_energy
    recommend spine_surgery_consultation "Spine surgery consultation." cite TLICS_2005

  rule F.repeat_imaging:
    when fracture.weeks_since_onset >= 6 weeks and patient.symptoms.improving == false
     and not red_flag
    recommend repeat_imaging "Repeat imaging: not improving after six weeks." cite ACR_VCF_2018
'''

# ---------------------------------------------------------------------------------------
# 2. hand-written Python over the attrs record

_FRAGILE = (Mechanism.low_energy, Mechanism.none)
_UNSTABLE = (Morphology.translation_rotation, Morphology.distraction)
_T11, _L2 = Level.T11, Level.L2


def _kor(*values: bool | None) -> bool | None:
    """Kleene or over True / False / None (unknown)."""
    if True in values:
        return True
    return None if None in values else False


def hand_written(p: Patient) -> set[str]:
    """The codes the rule set gives for one record, in plain Python."""
    out: set[str] = set()
    neuro, sym, hist, ana, bone = p.neuro, p.symptoms, p.history, p.analgesia, p.bone_health
    age = p.age
    pain = sym.pain_score if sym is not None else None
    cancer = hist.cancer if hist is not None else None
    ts = bone.t_score if bone is not None else None
    priors = p.prior_vertebral_fractures
    failed_oral = ana.failed_oral if ana is not None else None
    hospitalized = ana.hospitalized_for_pain if ana is not None else None
    improving = sym.improving if sym is not None else None

    # red flags are three-valued: "no red flag" must be known before conservative care
    if neuro is None:
        neuro_flag: bool | None = None
    else:
        neuro_flag = _kor(neuro.deficit, neuro.cauda_equina_signs,
                          neuro.cord_or_conus_compression)
    severe = None if pain is None else pain >= 7
    if severe is False:
        infection: bool | None = False
    else:
        either = _kor(sym.fever if sym is not None else None,
                      p.labs.inflammatory_markers_elevated if p.labs is not None else None,
                      hist.immunosuppressed if hist is not None else None)
        infection = either if severe else (False if either is False else None)
    red_flag = _kor(neuro_flag, infection, cancer)
    conservative = red_flag is False

    fractures = p.fractures
    if fractures is None:
        fragility: bool | None = None
    else:
        fragility = False
        for f in fractures:
            if f.mechanism is None:
                fragility = None
            elif f.mechanism in _FRAGILE:
                fragility = True
                break
    older = age is not None and age >= 50
    osteoporosis = (ts is not None and ts <= -2.5) or (fragility is True and older)

    if neuro_flag:
        out.add("urgent_surgical_consultation")
    if infection:
        out.add("infection_workup")
        out.add("mri_with_contrast")
    if cancer:
        out.add("malignancy_workup")
    if conservative:
        out.update(("conservative_management", "early_mobilization", "avoid_prolonged_bed_rest"))
        if ana is not None and ana.nsaid_contraindicated is False:
            out.add("nsaid_first_line")
        if pain is not None and pain < 7:
            out.add("physiotherapy")
        if severe and age is not None and age < 80:
            out.add("consider_short_term_bracing")
        if ana is not None and ana.nsaid_contraindicated and fractures is not None and any(
                f.weeks_since_onset is not None and f.weeks_since_onset <= 4 for f in fractures):
            out.add("calcitonin_first_4_weeks")
        if failed_oral and hospitalized is False:
            out.add("opioid_only_if_needed")
        if improving is False:
            out.add("reassess_4_6_weeks")
    if fragility and older and bone is not None and bone.dexa_done is False:
        out.add("dexa_scan")
    if osteoporosis:
        out.add("diagnose_osteoporosis_clinical")
        if bone is not None and bone.on_treatment is False:
            out.add("start_osteoporosis_pharmacotherapy")
            out.add("calcium_vitamin_d")
        if (ts is not None and ts <= -3) or (priors is not None and priors >= 2):
            out.add("consider_anabolic_agent")
    if bone is not None and bone.on_treatment and priors is not None and priors >= 1:
        out.add("reassess_osteoporosis_therapy")
    if ts is not None and ts <= -2.5 and age is not None and age < 50:
        out.add("secondary_cause_workup")
    if (hist is not None and hist.high_fall_risk) or (
            age is not None and age >= 75 and fragility):
        out.add("fall_prevention")
    if age is not None and age < 18:
        out.add("pediatric_specialist_referral")
        out.add("use_z_score_not_t_score")

    if fractures:
        no_contraindication = p.augmentation_contraindication is None
        for f in fractures:
            h = f.height_loss_pct
            if h is not None:
                out.add("genant_grade_0" if h < 20 else "genant_grade_1" if h <= 25
                        else "genant_grade_2" if h <= 40 else "genant_grade_3")
            weeks, edema = f.weeks_since_onset, f.marrow_edema
            if conservative:  # "not red_flag" is known to be true
                if edema is None and weeks is not None and weeks >= 2:
                    out.add("mri_without_contrast")
                if edema and no_contraindication and h is not None and (
                        (weeks is not None and weeks >= 6 and h >= 20 and failed_oral and severe)
                        or (h > 25 and hospitalized)):
                    out.add("vertebral_augmentation_referral")
                if weeks is not None and weeks >= 6 and improving is False:
                    out.add("repeat_imaging")
            if f.posterior_ligament is PosteriorLigament.injured or f.morphology in _UNSTABLE:
                out.add("urgent_surgical_consultation")
            if (f.level is not None and _T11 <= f.level <= _L2
                    and f.mechanism is Mechanism.high_energy):
                out.add("spine_surgery_consultation")
    return out


# ---------------------------------------------------------------------------------------
# 3. the condition tree the peer engines are rendered from


@dataclass(frozen=True)
class Fact:
    """A boolean fact: definitely true when present and true."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Cmp:
    """``path op value`` for a number (or an equality on a string)."""

    path: tuple[str, ...]
    op: str
    value: Any


@dataclass(frozen=True)
class In:
    """``path in [values]`` (strings)."""

    path: tuple[str, ...]
    values: tuple[str, ...]


@dataclass(frozen=True)
class Known:
    """The fact is present (never unknown itself)."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class And:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    part: Any


@dataclass(frozen=True)
class Any_:
    """Some element of the list at ``path`` satisfies ``cond`` (paths inside are relative)."""

    path: tuple[str, ...]
    cond: Any


@dataclass(frozen=True)
class PeerRule:
    rule_id: str
    codes: tuple[str, ...]
    cond: Any


def _p(dotted: str) -> tuple[str, ...]:
    return tuple(dotted.split("."))


def _and(*parts: Any) -> And:
    return And(tuple(parts))


def _or(*parts: Any) -> Or:
    return Or(tuple(parts))


FRACTURES = ("fractures",)

NEURO_FLAG = _or(Fact(_p("neuro.deficit")), Fact(_p("neuro.cauda_equina_signs")),
                 Fact(_p("neuro.cord_or_conus_compression")))
SEVERE_PAIN = Cmp(_p("symptoms.pain_score"), ">=", 7)
INFECTION = _and(SEVERE_PAIN, _or(Fact(_p("symptoms.fever")),
                                  Fact(_p("labs.inflammatory_markers_elevated")),
                                  Fact(_p("history.immunosuppressed"))))
RED_FLAG = _or(NEURO_FLAG, INFECTION, Fact(_p("history.cancer")))
CONSERVATIVE = Not(RED_FLAG)
FRAGILITY = Any_(FRACTURES, In(("mechanism",), ("low_energy", "none")))
OLDER = Cmp(("age",), ">=", 50)
T_SCORE = ("bone_health", "t_score")
OSTEOPOROSIS = _or(Cmp(T_SCORE, "<=", -2.5), _and(FRAGILITY, OLDER))
NO_CONTRAINDICATION = Not(Known(("augmentation_contraindication",)))
H = ("height_loss_pct",)
WEEKS = ("weeks_since_onset",)
EDEMA = ("marrow_edema",)
JUNCTION = tuple(level.value for level in Level if Level.T11 <= level <= Level.L2)

RULES: tuple[PeerRule, ...] = (
    PeerRule("T.neuro_urgent", ("urgent_surgical_consultation",), NEURO_FLAG),
    PeerRule("T.infection", ("infection_workup", "mri_with_contrast"), INFECTION),
    PeerRule("T.malignancy", ("malignancy_workup",), Fact(_p("history.cancer"))),
    PeerRule("C.conservative", ("conservative_management", "early_mobilization",
                                "avoid_prolonged_bed_rest"), CONSERVATIVE),
    PeerRule("C.nsaid", ("nsaid_first_line",),
             _and(CONSERVATIVE, Not(Fact(_p("analgesia.nsaid_contraindicated"))))),
    PeerRule("C.physio", ("physiotherapy",),
             _and(CONSERVATIVE, Cmp(_p("symptoms.pain_score"), "<", 7))),
    PeerRule("C.bracing", ("consider_short_term_bracing",),
             _and(CONSERVATIVE, SEVERE_PAIN, Cmp(("age",), "<", 80))),
    PeerRule("C.calcitonin", ("calcitonin_first_4_weeks",),
             _and(CONSERVATIVE, Fact(_p("analgesia.nsaid_contraindicated")),
                  Any_(FRACTURES, Cmp(WEEKS, "<=", 4)))),
    PeerRule("C.opioid", ("opioid_only_if_needed",),
             _and(CONSERVATIVE, Fact(_p("analgesia.failed_oral")),
                  Not(Fact(_p("analgesia.hospitalized_for_pain"))))),
    PeerRule("C.reassess", ("reassess_4_6_weeks",),
             _and(CONSERVATIVE, Cmp(_p("symptoms.improving"), "==", False))),
    PeerRule("B.dexa", ("dexa_scan",),
             _and(FRAGILITY, OLDER, Not(Fact(_p("bone_health.dexa_done"))))),
    PeerRule("B.diagnose", ("diagnose_osteoporosis_clinical",), OSTEOPOROSIS),
    PeerRule("B.start_treatment", ("start_osteoporosis_pharmacotherapy", "calcium_vitamin_d"),
             _and(OSTEOPOROSIS, Not(Fact(_p("bone_health.on_treatment"))))),
    PeerRule("B.anabolic", ("consider_anabolic_agent",),
             _and(OSTEOPOROSIS, _or(Cmp(T_SCORE, "<=", -3),
                                    Cmp(("prior_vertebral_fractures",), ">=", 2)))),
    PeerRule("B.reassess_therapy", ("reassess_osteoporosis_therapy",),
             _and(Fact(_p("bone_health.on_treatment")),
                  Cmp(("prior_vertebral_fractures",), ">=", 1))),
    PeerRule("B.secondary_causes", ("secondary_cause_workup",),
             _and(Cmp(T_SCORE, "<=", -2.5), Cmp(("age",), "<", 50))),
    PeerRule("B.falls", ("fall_prevention",),
             _or(Fact(_p("history.high_fall_risk")), _and(Cmp(("age",), ">=", 75), FRAGILITY))),
    PeerRule("P.child", ("pediatric_specialist_referral", "use_z_score_not_t_score"),
             Cmp(("age",), "<", 18)),
    # per fracture: "for fracture in patient.fractures" becomes "some fracture", with the
    # patient-level part of each condition (a conjunct) kept outside the quantifier
    PeerRule("genant_0", ("genant_grade_0",), Any_(FRACTURES, Cmp(H, "<", 20))),
    PeerRule("genant_1", ("genant_grade_1",),
             Any_(FRACTURES, _and(Cmp(H, ">=", 20), Cmp(H, "<=", 25)))),
    PeerRule("genant_2", ("genant_grade_2",),
             Any_(FRACTURES, _and(Cmp(H, ">", 25), Cmp(H, "<=", 40)))),
    PeerRule("genant_3", ("genant_grade_3",), Any_(FRACTURES, Cmp(H, ">", 40))),
    PeerRule("F.mri", ("mri_without_contrast",),
             _and(CONSERVATIVE, Any_(FRACTURES, _and(Not(Known(EDEMA)), Cmp(WEEKS, ">=", 2))))),
    PeerRule("F.augmentation", ("vertebral_augmentation_referral",),
             _and(Fact(_p("analgesia.failed_oral")), SEVERE_PAIN, CONSERVATIVE,
                  NO_CONTRAINDICATION,
                  Any_(FRACTURES, _and(Fact(EDEMA), Cmp(WEEKS, ">=", 6), Cmp(H, ">=", 20))))),
    PeerRule("F.augmentation_inpatient", ("vertebral_augmentation_referral",),
             _and(Fact(_p("analgesia.hospitalized_for_pain")), CONSERVATIVE,
                  NO_CONTRAINDICATION, Any_(FRACTURES, _and(Fact(EDEMA), Cmp(H, ">", 25))))),
    PeerRule("F.instability", ("urgent_surgical_consultation",),
             Any_(FRACTURES, _or(Cmp(("posterior_ligament",), "==", "injured"),
                                 In(("morphology",), ("translation_rotation", "distraction"))))),
    PeerRule("F.high_energy_junction", ("spine_surgery_consultation",),
             Any_(FRACTURES, _and(In(("level",), JUNCTION),
                                  Cmp(("mechanism",), "==", "high_energy")))),
    PeerRule("F.repeat_imaging", ("repeat_imaging",),
             _and(Cmp(_p("symptoms.improving"), "==", False), CONSERVATIVE,
                  Any_(FRACTURES, Cmp(WEEKS, ">=", 6)))),
)
