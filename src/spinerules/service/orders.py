"""Orderable recommendations and the orders the service recognises: one table.

Each entry ties a guideline code that asks for something orderable (an MRI, a DXA scan, a
referral) to the FHIR resource a CDS card suggests (a ``ServiceRequest``) and to the codes
by which a draft order is recognised at ``order-sign``. Every order carries a coding in
the project's own system (``ORDER_SYSTEM``, the guideline code itself), which an EHR can
map in its order catalogue. Standard codes (SNOMED CT, LOINC) are listed where one is
known; ``verified`` says whether it was checked against the code system's own release for
this table (docs/integrators/cds-hooks.md lists them): an unverified code is used only to
*recognise* a draft order, and is marked in the suggested resource's display text.

``cautions`` names the codes a guideline gives that speak against the order (a warning or
an advice against): a draft order meeting one gets a warning card at ``order-sign``.
"""

from __future__ import annotations

import dataclasses

ORDER_SYSTEM = "https://spinerules.org/fhir/CodeSystem/orders"
SNOMED = "http://snomed.info/sct"
ATC = "http://www.whocc.no/atc"


@dataclasses.dataclass(frozen=True)
class StdCode:
    system: str
    code: str
    display: str
    verified: bool = False


@dataclasses.dataclass(frozen=True)
class Order:
    """An orderable concept: the guideline code that recommends it and how it is coded."""

    code: str  # the guideline code (also the code in ORDER_SYSTEM)
    display: str
    resource: str  # ServiceRequest | MedicationRequest
    category: str  # imaging | procedure | referral | medication
    standard: tuple[StdCode, ...] = ()
    cautions: tuple[str, ...] = ()


ORDERS: tuple[Order, ...] = (
    Order("mri_without_contrast", "MRI of the spine without contrast", "ServiceRequest",
          "imaging"),
    Order("mri_with_contrast", "MRI of the spine with IV contrast (gadolinium)",
          "ServiceRequest", "imaging"),
    Order("ct_whole_spine", "CT of the whole spine", "ServiceRequest", "imaging"),
    Order("ct_cervical_spine", "CT of the cervical spine", "ServiceRequest", "imaging"),
    Order("dexa_scan", "Bone densitometry (DXA of hip and lumbar spine)", "ServiceRequest",
          "imaging", (StdCode(SNOMED, "312681000", "Bone densitometry (procedure)"),)),
    Order("vertebral_augmentation_referral",
          "Referral for vertebral augmentation (vertebroplasty or kyphoplasty)",
          "ServiceRequest", "referral", cautions=("warn_augmentation_contraindicated",)),
    Order("spine_surgery_consultation", "Spine surgery consultation", "ServiceRequest",
          "referral"),
    Order("urgent_surgical_consultation", "Urgent spine surgery consultation",
          "ServiceRequest", "referral"),
    Order("bone_specialist_referral", "Referral to a bone (osteoporosis) specialist",
          "ServiceRequest", "referral"),
    Order("pediatric_specialist_referral", "Referral to a paediatric specialist",
          "ServiceRequest", "referral"),
    Order("radiation_oncology_consultation", "Radiation oncology consultation",
          "ServiceRequest", "referral"),
    Order("transfer_to_spine_center", "Transfer to a spine centre", "ServiceRequest",
          "referral"),
    Order("physiotherapy", "Physiotherapy referral", "ServiceRequest", "referral"),
    Order("nsaid_first_line", "Non-steroidal anti-inflammatory drug", "MedicationRequest",
          "medication", (StdCode(ATC, "M01A", "Antiinflammatory and antirheumatic products, "
                                 "non-steroids"),),
          cautions=("warn_nsaid_contraindicated",)),
    Order("start_osteoporosis_pharmacotherapy", "Bisphosphonate", "MedicationRequest",
          "medication", (StdCode(ATC, "M05BA", "Bisphosphonates"),),
          cautions=("hold_bisphosphonate_renal",)),
)

BY_CODE: dict[str, Order] = {o.code: o for o in ORDERS}


def _index() -> dict[tuple[str, str], Order]:
    out: dict[tuple[str, str], Order] = {}
    for o in ORDERS:
        out[(ORDER_SYSTEM, o.code)] = o
        for s in o.standard:
            out[(s.system, s.code)] = o
    return out


_BY_CODING = _index()


def order_for(system: str, code: str) -> Order | None:
    """The order a coding names (ATC codes match by prefix: M05BA04 is a bisphosphonate)."""
    found = _BY_CODING.get((system, code))
    if found is None and system == ATC:
        for n in range(len(code) - 1, 2, -1):
            found = _BY_CODING.get((system, code[:n]))
            if found is not None:
                break
    return found
