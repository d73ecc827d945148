"""Orderable recommendations and the orders the service recognises: one table.

Each entry ties a guideline code that asks for something orderable (an MRI, a DXA scan, a
referral) to the FHIR resource a CDS card suggests (a ``ServiceRequest``) and to the codes
by which a draft order is recognised at ``order-sign``. Every order carries a coding in
the project's own system (``ORDER_SYSTEM``, the guideline code itself), which an EHR can
map in its order catalogue, and its SNOMED CT procedure code where one was checked
(``verified``; docs/integrators/cds-hooks.md lists them and where they were checked). An
unverified code (the ATC classes) only recognises draft orders; a suggested resource
carries the project coding and the first verified code.

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


#: SNOMED CT codes checked against the expansion of a published FHIR ValueSet, the Belgian
#: eHealth Platform's ``be-vs-diagnostic-imaging-procedure`` 1.0.0 (SNOMED CT displays),
#: and, for 312681000, the code Synthea's modules use for a bone density scan. Codes in
#: the ``1000119`` namespace are the US edition's. The first code of an order is the one a
#: suggested resource carries; all of them recognise a draft order.


def _sct(code: str, display: str) -> StdCode:
    return StdCode(SNOMED, code, display, verified=True)


ORDERS: tuple[Order, ...] = (
    Order("mri_without_contrast", "MRI of the spine without contrast", "ServiceRequest",
          "imaging", (_sct("241645008", "Magnetic resonance imaging of spine (procedure)"),
                      _sct("411611000119102", "Magnetic resonance imaging of cervical, "
                           "thoracic, and lumbar spine without contrast (procedure)"),
                      _sct("571891000119109", "Magnetic resonance imaging of cervical spine "
                           "without contrast (procedure)"),
                      _sct("396171000119100", "Magnetic resonance imaging of thoracic spine "
                           "without contrast (procedure)"),
                      _sct("394451000119106", "Magnetic resonance imaging of lumbar spine "
                           "without contrast (procedure)"))),
    Order("mri_with_contrast", "MRI of the spine with IV contrast (gadolinium)",
          "ServiceRequest", "imaging",
          (_sct("431985004", "Magnetic resonance imaging of spine with contrast (procedure)"),
           _sct("495741000119105", "Magnetic resonance imaging of cervical, thoracic, and "
                "lumbar spine with contrast (procedure)"),
           _sct("60443006", "Magnetic resonance imaging of cervical spine with contrast "
                "(procedure)"),
           _sct("91333005", "Magnetic resonance imaging of thoracic spine with contrast "
                "(procedure)"),
           _sct("41333006", "Magnetic resonance imaging of lumbar spine with contrast "
                "(procedure)"))),
    Order("ct_whole_spine", "CT of the whole spine", "ServiceRequest", "imaging",
          (_sct("429875006", "Computed tomography of whole spine (procedure)"),
           _sct("241577003", "Computed tomography of spine (procedure)"))),
    Order("ct_cervical_spine", "CT of the cervical spine", "ServiceRequest", "imaging",
          (_sct("572061000119104", "Computed tomography of cervical spine without contrast "
                "(procedure)"),)),
    Order("dexa_scan", "Bone densitometry (DXA of hip and lumbar spine)", "ServiceRequest",
          "imaging", (_sct("312681000", "Bone density scan (procedure)"),
                      _sct("413841000119101", "Dual energy X-ray absorptiometry of bone of "
                           "hip joint region and bone of spine (procedure)"))),
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
