"""FHIR R4 in."""
