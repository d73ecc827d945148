"""The bundled spine domain: the patient record that spine guidelines are checked against.

The classes are the JSON patient record of ``docs/integrators/records.md``, with exactly its
names. Every field is optional: a missing key or ``null`` is *unknown*, never false.
Enumerations use the JSON spelling as their value (``Sex.female.value == "female"``); spine
levels are an ordered enumeration, so guidelines may write ``fracture.level in T11..L2``.

Load a record from JSON with :func:`spinerules.records.load_record_json`.

Example:
    >>> p = Patient(age=72, sex=Sex.female, fractures=(Fracture(level=Level.L1),))
    >>> p.fractures[0].level > Level.T12, p.neuro is None
    (True, True)
"""

# Record fields are declared with `fact()` calls, attrs style (the default is None).


import enum
from typing import Any

import attrs

from spinerules.records.schema import OrderedEnum, fact

__all__ = [
    "RECORD_TYPES",
    "Analgesia",
    "AnkylosingDisorder",
    "BoneHealth",
    "Cspine",
    "Fracture",
    "History",
    "Imaging",
    "Labs",
    "Level",
    "Mechanism",
    "Morphology",
    "Neuro",
    "OfType",
    "Patient",
    "PosteriorLigament",
    "Sex",
    "Sins",
    "SinsAlignment",
    "SinsCollapse",
    "SinsLesion",
    "SinsLocation",
    "SinsPain",
    "SinsPosterolateral",
    "SlicDiscoLigamentous",
    "SlicMorphology",
    "Symptoms",
    "TlicsNeuroStatus",
    "Trauma",
]


# --- enumerations ------------------------------------------------------------------------


class Level(OrderedEnum):
    """A vertebral level, ordered from the skull down (``C1 < C7 < T1 < L1 < S5``)."""

    C1 = "C1"
    C2 = "C2"
    C3 = "C3"
    C4 = "C4"
    C5 = "C5"
    C6 = "C6"
    C7 = "C7"
    T1 = "T1"
    T2 = "T2"
    T3 = "T3"
    T4 = "T4"
    T5 = "T5"
    T6 = "T6"
    T7 = "T7"
    T8 = "T8"
    T9 = "T9"
    T10 = "T10"
    T11 = "T11"
    T12 = "T12"
    L1 = "L1"
    L2 = "L2"
    L3 = "L3"
    L4 = "L4"
    L5 = "L5"
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"
    S4 = "S4"
    S5 = "S5"

    @property
    def index(self) -> int:
        """Position from the skull down (``C1`` is 0, ``S5`` is 28)."""
        return _LEVEL_INDEX[self]

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, Level):
            return self.index < other.index
        return NotImplemented

    def __le__(self, other: Any) -> bool:
        if isinstance(other, Level):
            return self.index <= other.index
        return NotImplemented

    def __gt__(self, other: Any) -> bool:
        if isinstance(other, Level):
            return self.index > other.index
        return NotImplemented

    def __ge__(self, other: Any) -> bool:
        if isinstance(other, Level):
            return self.index >= other.index
        return NotImplemented


_LEVEL_INDEX: dict[Level, int] = {level: i for i, level in enumerate(Level)}


class Sex(enum.Enum):
    """Sex recorded for the patient."""

    female = "female"
    male = "male"


class Mechanism(enum.Enum):
    """How the fracture happened."""

    low_energy = "low_energy"
    """A fall from standing height or less (a fragility fracture)."""
    high_energy = "high_energy"
    """Motor-vehicle collision, fall from a height, or similar trauma."""
    none = "none"
    """No remembered injury."""


class Morphology(enum.Enum):
    """Fracture morphology (TLICS)."""

    compression = "compression"
    burst = "burst"
    translation_rotation = "translation_rotation"
    distraction = "distraction"


class PosteriorLigament(enum.Enum):
    """Integrity of the posterior ligamentous complex (TLICS)."""

    intact = "intact"
    indeterminate = "indeterminate"
    injured = "injured"


class TlicsNeuroStatus(enum.Enum):
    """Neurological status as scored by TLICS."""

    intact = "intact"
    nerve_root = "nerve_root"
    cord_complete = "cord_complete"
    cord_incomplete = "cord_incomplete"
    cauda_equina = "cauda_equina"


class SinsLocation(enum.Enum):
    """SINS location: junctional (occiput-C2, C7-T2, T11-L1, L5-S1), mobile, semirigid, rigid."""

    junctional = "junctional"
    mobile = "mobile"
    semirigid = "semirigid"
    rigid = "rigid"


class SinsPain(enum.Enum):
    """SINS pain: mechanical, occasional non-mechanical, or pain-free lesion."""

    mechanical = "mechanical"
    occasional_nonmechanical = "occasional_nonmechanical"
    pain_free = "pain_free"


class SinsLesion(enum.Enum):
    """SINS bone lesion quality."""

    lytic = "lytic"
    mixed = "mixed"
    blastic = "blastic"


class SinsAlignment(enum.Enum):
    """SINS radiographic spinal alignment."""

    subluxation_translation = "subluxation_translation"
    deformity = "deformity"
    normal = "normal"


class SinsCollapse(enum.Enum):
    """SINS vertebral body collapse."""

    gt_50 = "gt_50"
    lt_50 = "lt_50"
    none_gt_50_involved = "none_gt_50_involved"
    none = "none"


class SinsPosterolateral(enum.Enum):
    """SINS posterolateral involvement of spinal elements."""

    bilateral = "bilateral"
    unilateral = "unilateral"
    none = "none"


class OfType(enum.Enum):
    """DGOU osteoporotic fracture (OF) classification, OF 1 (edema only) to OF 5 (tension band)."""

    OF1 = "OF1"
    """No deformation of the vertebral body; edema on MRI (STIR) only."""
    OF2 = "OF2"
    """Deformation of one endplate, with no or only minor (< 1/5) posterior wall involvement."""
    OF3 = "OF3"
    """Deformation of one endplate with distinct posterior wall involvement (> 1/5)."""
    OF4 = "OF4"
    """Both endplates deformed, loss of the vertebral frame, collapse, or a pincer fracture."""
    OF5 = "OF5"
    """Distraction, rotation or translation injury (anterior or posterior tension band failure)."""


class SlicMorphology(enum.Enum):
    """Injury morphology of the subaxial (C3-C7) cervical spine, as scored by SLIC."""

    none = "none"
    compression = "compression"
    burst = "burst"
    distraction = "distraction"
    rotation_translation = "rotation_translation"


class SlicDiscoLigamentous(enum.Enum):
    """Integrity of the disco-ligamentous complex (SLIC)."""

    intact = "intact"
    indeterminate = "indeterminate"
    disrupted = "disrupted"


class AnkylosingDisorder(enum.Enum):
    """A disorder that fuses (ankyloses) the spine."""

    none = "none"
    ankylosing_spondylitis = "ankylosing_spondylitis"
    dish = "dish"
    """Diffuse idiopathic skeletal hyperostosis."""


# --- records -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Sins:
    """Spinal Instability Neoplastic Score components for a (suspected) neoplastic fracture."""

    location: SinsLocation | None = fact(doc="SINS location of the lesion")
    pain: SinsPain | None = fact(doc="SINS pain component")
    lesion: SinsLesion | None = fact(doc="SINS bone lesion: lytic, mixed or blastic")
    alignment: SinsAlignment | None = fact(doc="SINS radiographic alignment")
    collapse: SinsCollapse | None = fact(doc="SINS vertebral body collapse")
    posterolateral: SinsPosterolateral | None = fact(
        doc="SINS posterolateral involvement of spinal elements"
    )


@attrs.frozen(kw_only=True)
class Fracture:
    """One vertebral fracture; the first in ``Patient.fractures`` is the index fracture."""

    level: Level | None = fact(doc="vertebral level, C1..S5")
    mechanism: Mechanism | None = fact(
        doc="low_energy (fall from standing height or less), high_energy or none"
    )
    height_loss_pct: float | None = fact(
        unit="%", min=0, max=100, doc="loss of vertebral body height (Genant grading)"
    )
    marrow_edema: bool | None = fact(doc="bone marrow edema on MRI (unknown when no MRI was done)")
    radiograph_negative: bool | None = fact(doc="radiographs were read as showing no fracture")
    weeks_since_onset: float | None = fact(
        unit="weeks", min=0, doc="time since the pain began or the injury happened"
    )
    pathologic_confirmed: bool | None = fact(doc="a neoplastic (pathologic) fracture is proven")
    malignancy_excluded: bool | None = fact(
        doc="a work-up excluded a neoplastic cause (not the same as pathologic_confirmed: false)"
    )
    posterior_wall_involved: bool | None = fact(
        doc="the posterior wall of the vertebral body is fractured, or a fragment is retropulsed"
    )
    morphology: Morphology | None = fact(doc="fracture morphology (TLICS)")
    posterior_ligament: PosteriorLigament | None = fact(
        doc="posterior ligamentous complex integrity (TLICS)"
    )
    pain_at_level_confirmed: bool | None = fact(
        doc="examination and imaging agree that the pain comes from this level"
    )
    sins: Sins | None = fact(doc="SINS components, for a neoplastic fracture")
    of_type: OfType | None = fact(doc="DGOU osteoporotic fracture classification, OF1..OF5")
    odontoid: bool | None = fact(doc="a fracture of the odontoid process (dens) of C2")
    slic_morphology: SlicMorphology | None = fact(
        doc="subaxial (C3-C7) injury morphology as scored by SLIC"
    )
    disco_ligamentous: SlicDiscoLigamentous | None = fact(
        doc="disco-ligamentous complex integrity (SLIC)"
    )


@attrs.frozen(kw_only=True)
class Neuro:
    """The focused neurological examination."""

    deficit: bool | None = fact(doc="any new neurological deficit")
    cauda_equina_signs: bool | None = fact(
        doc="saddle anaesthesia, sphincter disturbance or bilateral leg signs"
    )
    cord_or_conus_compression: bool | None = fact(
        doc="signs of spinal cord or conus medullaris compression"
    )
    nerve_root_injury: bool | None = fact(doc="signs of a nerve-root injury")
    tlics_status: TlicsNeuroStatus | None = fact(doc="neurological status as scored by TLICS")
    ongoing_cord_compression: bool | None = fact(
        doc="continuous cord compression in the setting of a neurological deficit (SLIC +1)"
    )


@attrs.frozen(kw_only=True)
class Symptoms:
    """Current symptoms."""

    pain_score: float | None = fact(min=0, max=10, doc="back pain on a 0-10 scale")
    fever: bool | None = fact(doc="fever")
    improving: bool | None = fact(doc="pain is improving with current care")
    respiratory_symptoms: bool | None = fact(
        doc="breathlessness or shallow breathing attributed to the fracture"
    )
    new_symptoms: bool | None = fact(doc="new symptoms since the fracture was diagnosed")


@attrs.frozen(kw_only=True)
class Labs:
    """Laboratory results."""

    inflammatory_markers_elevated: bool | None = fact(doc="ESR or CRP raised")
    egfr: float | None = fact(min=0, doc="estimated glomerular filtration rate, mL/min/1.73m2")


@attrs.frozen(kw_only=True)
class History:
    """Relevant medical history."""

    cancer: bool | None = fact(doc="a history of cancer")
    immunosuppressed: bool | None = fact(
        doc="immunosuppressed, including long-term glucocorticoids"
    )
    high_fall_risk: bool | None = fact(doc="assessed as being at high risk of falls")
    long_term_glucocorticoids: bool | None = fact(
        doc="systemic glucocorticoids taken for 3 months or more"
    )
    ankylosing_disorder: AnkylosingDisorder | None = fact(
        doc="a disorder that fuses the spine: none, ankylosing_spondylitis or dish"
    )


@attrs.frozen(kw_only=True)
class Analgesia:
    """Pain treatment so far."""

    failed_oral: bool | None = fact(doc="pain refractory to oral analgesics")
    oral_contraindicated: bool | None = fact(doc="oral analgesics are contraindicated")
    nsaid_contraindicated: bool | None = fact(
        doc="NSAIDs contraindicated (renal impairment, GI bleeding, anticoagulation)"
    )
    needs_parenteral_opioids: bool | None = fact(doc="pain needs parenteral opioids")
    hospitalized_for_pain: bool | None = fact(doc="admitted to hospital for pain control")
    on_opioids: bool | None = fact(doc="currently taking opioid analgesics")


@attrs.frozen(kw_only=True)
class BoneHealth:
    """Osteoporosis assessment and treatment."""

    dexa_done: bool | None = fact(doc="bone densitometry (DXA) has been done")
    on_treatment: bool | None = fact(doc="already on osteoporosis drug therapy")
    t_score: float | None = fact(min=-10, max=10, doc="lowest DXA T-score")
    z_score: float | None = fact(min=-10, max=10, doc="lowest DXA Z-score (children, young adults)")


@attrs.frozen(kw_only=True)
class Imaging:
    """Imaging done so far."""

    mri_done: bool | None = fact(doc="an MRI of the fractured segment has been done")
    thoracolumbar_junction_adequate: bool | None = fact(
        doc="imaging shows the thoracolumbar junction (T11-L2) adequately"
    )


@attrs.frozen(kw_only=True)
class Cspine:
    """Findings for the cervical-spine imaging decision (Canadian C-spine rule and NEXUS)."""

    gcs: int | None = fact(min=3, max=15, doc="Glasgow Coma Scale score, 3-15")
    neck_pain: bool | None = fact(doc="neck pain after the injury")
    midline_tenderness: bool | None = fact(doc="tenderness at the posterior midline of the neck")
    focal_deficit: bool | None = fact(doc="a focal neurological deficit")
    intoxicated: bool | None = fact(doc="evidence of intoxication")
    distracting_injury: bool | None = fact(doc="a painful injury that distracts from the neck")
    dangerous_mechanism: bool | None = fact(
        doc="fall from 1 m or 5 stairs, axial load, high-speed or rollover crash, ejection, "
        "motorised recreational vehicle or bicycle collision"
    )
    paresthesias: bool | None = fact(doc="paresthesias in the extremities")
    simple_rear_end_collision: bool | None = fact(doc="a simple rear-end motor vehicle collision")
    sitting_in_ed: bool | None = fact(doc="sitting up in the emergency department")
    ambulatory_since_injury: bool | None = fact(doc="has walked at any time since the injury")
    delayed_neck_pain: bool | None = fact(doc="the neck pain did not start immediately")
    rotates_45_both_sides: bool | None = fact(
        doc="can actively rotate the neck 45 degrees to the left and to the right"
    )


@attrs.frozen(kw_only=True)
class Trauma:
    """The injury itself, beyond the fracture list."""

    hemodynamically_stable: bool | None = fact(doc="vital signs are stable")


@attrs.frozen(kw_only=True)
class Patient:
    """A patient with one or more vertebral fractures (the ``spine.Patient`` record)."""

    id: str | None = fact(doc="patient or case identifier")
    age: int | None = fact(unit="years", min=0, max=120, doc="age in whole years")
    sex: Sex | None = fact(doc="female or male")
    fractures: tuple[Fracture, ...] | None = fact(
        doc="vertebral fractures; the first is the index fracture"
    )
    prior_vertebral_fractures: int | None = fact(min=0, doc="number of earlier vertebral fractures")
    neuro: Neuro | None = fact(doc="focused neurological examination")
    symptoms: Symptoms | None = fact(doc="current symptoms")
    labs: Labs | None = fact(doc="laboratory results")
    history: History | None = fact(doc="relevant medical history")
    analgesia: Analgesia | None = fact(doc="pain treatment so far")
    bone_health: BoneHealth | None = fact(doc="osteoporosis assessment and treatment")
    imaging: Imaging | None = fact(doc="imaging done so far")
    cspine: Cspine | None = fact(doc="cervical-spine imaging-decision findings")
    trauma: Trauma | None = fact(doc="the injury: haemodynamic state")
    augmentation_contraindication: str | None = fact(
        doc="a contraindication to vertebral augmentation (e.g. uncorrectable_coagulopathy)"
    )


for _cls in (
    Sins,
    Fracture,
    Neuro,
    Symptoms,
    Labs,
    History,
    Analgesia,
    BoneHealth,
    Imaging,
    Cspine,
    Trauma,
    Patient,
):
    attrs.resolve_types(_cls)
del _cls

RECORD_TYPES: dict[str, type] = {"spine.Patient": Patient}
"""Record types by the name a guideline header uses (``record spine.Patient``)."""
