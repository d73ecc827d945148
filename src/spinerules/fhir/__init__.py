"""FHIR R4 in: Bundles and bulk NDJSON mapped onto records by checked mappings, with provenance.

See ``docs/integrators/fhir.md``. Extraction needs only the core dependencies; checking a
mapping's ICD-10-CM codes (``simple-icd-10-cm``), ``--validate`` (``fhir.resources``) and the
bulk progress bar (``rich``) need the ``fhir`` extra, and say so when it is missing.

Example:
    >>> import datetime
    >>> bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
    ...     {"resource": {"resourceType": "Patient", "id": "p", "birthDate": "1950"}},
    ...     {"resource": {"resourceType": "Condition", "id": "c",
    ...                   "subject": {"reference": "Patient/p"},
    ...                   "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
    ...                                        "code": "C79.51"}]}}}]}
    >>> e = extract_bundle(bundle, as_of=datetime.date(2026, 2, 18))
    >>> e.record.age, e.record.history.cancer
    (75, True)
    >>> str(e.provenance["history.cancer"][0])
    'Condition/c: C79.51'
"""

from spinerules.fhir.bulk import BulkReport, BulkResult, read_bulk
from spinerules.fhir.errors import FhirError, FhirProblem, MappingError
from spinerules.fhir.extract import (
    Conflict,
    Extraction,
    Provenance,
    extract_bundle,
    extract_bundle_json,
    extract_resources,
)
from spinerules.fhir.generate import to_bundle
from spinerules.fhir.mapping import bundled_mapping, check_codes, load_mapping

__all__ = [
    "BulkReport",
    "BulkResult",
    "Conflict",
    "Extraction",
    "FhirError",
    "FhirProblem",
    "MappingError",
    "Provenance",
    "bundled_mapping",
    "check_codes",
    "extract_bundle",
    "extract_bundle_json",
    "extract_resources",
    "load_mapping",
    "read_bulk",
    "to_bundle",
]
