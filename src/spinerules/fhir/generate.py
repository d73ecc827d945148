"""A record written as a FHIR R4 Bundle: the inverse of the mapping (for tests and examples).

For each known fact, :func:`to_bundle` writes the first source of the fact's mapping that can
say its value: a Condition for a fact a condition code says is true (or, where the mapping
reads a refuted Condition as false, a refuted one), a coded Observation, a MedicationStatement,
a DiagnosticReport; otherwise an Observation in the project code system. ``extract(to_bundle(
record)) == record`` for every record (tests/fhir/test_roundtrip.py), where a group whose
facts are all unknown (``Neuro()``) reads back as unknown (``None``), which means the same.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from spinerules.fhir.extract import INTERPRETATION
from spinerules.fhir.mapping import Coding, Fact, Mapping_, Source, bundled_mapping
from spinerules.fhir.ucum import UCUM_SYSTEM
from spinerules.records.loader import dump_record

__all__ = ["to_bundle"]

_NS = uuid.UUID("6f1c1ad4-55a4-4f5c-9a3e-0c4f3f0d2b7e")
_UNITS = {"%": "%", "weeks": "wk", "years": "a"}


def _coding(c: Coding) -> dict[str, Any]:
    out: dict[str, Any] = {"system": c.system, "code": c.code}
    if c.display:
        out["display"] = c.display
    return out


def _status(system_tail: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system_tail}",
                        "code": code}]}


class _Writer:
    def __init__(self, m: Mapping_, as_of: datetime.date, seed: str) -> None:
        self.m = m
        self.as_of = as_of
        self.seed = seed
        self.entries: list[dict[str, Any]] = []
        self.patient_url = self.url("Patient", 0)

    def url(self, rtype: str, n: int) -> str:
        return f"urn:uuid:{uuid.uuid5(_NS, f'{self.seed}/{rtype}/{n}')}"

    def add(self, resource: dict[str, Any]) -> str:
        n = len(self.entries)
        url = self.url(resource["resourceType"], n)
        if resource["resourceType"] != "Patient":
            resource = {"resourceType": resource["resourceType"],
                        "id": f"{resource['resourceType'].lower()}-{n}",
                        **{k: v for k, v in resource.items() if k != "resourceType"},
                        "subject": {"reference": self.patient_url}}
        self.entries.append({"fullUrl": url, "resource": resource})
        return url

    def condition(self, coding: Coding, *, refuted: bool = False,
                  extra: dict[str, Any] | None = None) -> str:
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": _status("condition-clinical", "active"),
            "verificationStatus": _status("condition-ver-status",
                                          "refuted" if refuted else "confirmed"),
            "code": {"coding": [_coding(coding)]},
        }
        if refuted:
            del res["clinicalStatus"]  # a refuted Condition carries no clinical status
        res.update(extra or {})
        return self.add(res)

    def observation(self, coding: Coding, value: dict[str, Any],
                    focus: str | None = None) -> None:
        res: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                               "code": {"coding": [_coding(coding)]}, **value}
        if focus is not None:
            res["focus"] = [{"reference": focus}]
        self.add(res)

    def project(self, fact: Fact, value: Any, focus: str | None = None) -> None:
        code = Coding(self.m.project_system, fact.project_code)
        tp = fact.type
        v: dict[str, Any]
        if tp is bool:
            v = {"valueBoolean": value}
        elif tp is int:
            v = {"valueInteger": value}
        elif tp is float:
            unit = _UNITS.get(str(fact.metadata.get("unit")), "1")
            v = {"valueQuantity": {"value": value, "system": UCUM_SYSTEM, "code": unit}}
        elif tp is str:
            v = {"valueString": value}
        else:
            v = {"valueCodeableConcept": {"coding": [{"system": self.m.project_system,
                                                       "code": value}]}}
        self.observation(code, v, focus)

    def write(self, fact: Fact, value: Any) -> None:
        """Write one patient-level fact by its first source that can say ``value``."""
        for s in fact.sources:
            if self.by_source(s, fact, value):
                return

    def by_source(self, s: Source, fact: Fact, value: Any) -> bool:
        c = s.emit_coding
        if s.kind == "project":
            self.project(fact, value)
            return True
        if c is None:
            return False
        if s.kind == "condition":
            if s.gives is not None:
                if value != s.gives:
                    return False
                self.condition(c)
                return True
            if value is True:
                self.condition(c)
                return True
            if value is False and s.refuted_means_false:
                self.condition(c, refuted=True)
                return True
            return False
        if s.kind == "medication":
            if value is not True:
                return False
            statement: dict[str, Any] = {
                "resourceType": "MedicationStatement", "status": "active",
                "medicationCodeableConcept": {"coding": [_coding(c)]}}
            if s.at_least_days is not None:  # taken since long enough before as_of
                start = self.as_of - datetime.timedelta(days=s.at_least_days + 30)
                statement["effectivePeriod"] = {"start": start.isoformat()}
            self.add(statement)
            return True
        if s.kind == "report":
            if value is not True:
                return False
            self.add({"resourceType": "DiagnosticReport", "status": "final",
                      "code": {"coding": [_coding(c)]}})
            return True
        if s.kind == "observation":
            spec = s.value
            if "interpretation" in spec:
                code = "H" if value else "N"
                self.observation(c, {"interpretation": [{"coding": [
                    {"system": INTERPRETATION, "code": code}]}]})
                return True
            if "quantity" in spec:
                unit = str(spec["quantity"])
                if "at_least" in spec:
                    assert s.emit is not None
                    number = s.emit["when_true" if value else "when_false"]
                else:
                    number = value
                self.observation(c, {"valueQuantity": {"value": number, "system": UCUM_SYSTEM,
                                                       "code": unit}})
                return True
            key = "valueBoolean" if "boolean" in spec else "valueInteger"
            self.observation(c, {key: value})
            return True
        return False


def _leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out.extend(_leaves(value, f"{prefix}{key}."))
        elif value is not None:
            out.append((f"{prefix}{key}", value))
    return out


def to_bundle(record: Any, *, as_of: datetime.date, mapping: Mapping_ | None = None,
              bundle_type: str = "collection") -> dict[str, Any]:
    """A FHIR R4 Bundle (JSON-ready) that extracts back to ``record`` at ``as_of``."""
    m = mapping or bundled_mapping()
    data = dump_record(record)
    w = _Writer(m, as_of, str(data.get("id")))
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if data.get("id") is not None:
        patient["identifier"] = [{"system": m.record_id_system, "value": data["id"]}]
    if data.get("age") is not None:
        patient["birthDate"] = _birth_date(as_of, int(data["age"])).isoformat()
    if data.get("sex") is not None:
        patient["gender"] = data["sex"]
    w.add(patient)
    fractures = data.get("fractures")
    if fractures is not None:
        spec = m.lists["fractures"]
        for frac in fractures:
            extra: dict[str, Any] = {}
            level = frac.get("level")
            if level is not None:
                extra["bodySite"] = [{"coding": [{"system": m.level_system, "code": level}]}]
            weeks = frac.get("weeks_since_onset")
            if weeks is not None:
                start = datetime.datetime(as_of.year, as_of.month, as_of.day)
                when = start - datetime.timedelta(seconds=round(weeks * 604800.0, 3))
                extra["onsetDateTime"] = when.isoformat(timespec="milliseconds") + "Z"
            url = w.condition(spec.emit_coding, extra=extra)
            for path, value in _leaves(frac):
                fpath = f"fractures[].{path}"
                if fpath in ("fractures[].level", "fractures[].weeks_since_onset"):
                    continue
                w.project(m.facts[fpath], value, focus=url)
        if not fractures:
            w.project(_count_fact(m), 0)
    for path, value in _leaves({k: v for k, v in data.items()
                                if k not in ("id", "age", "sex", "fractures")}):
        w.write(m.facts[path], value)
    return {"resourceType": "Bundle", "type": bundle_type, "entry": w.entries}


def _count_fact(m: Mapping_) -> Fact:
    return Fact("fractures", (Source("project"),), "agree", int, {})


def _birth_date(as_of: datetime.date, age: int) -> datetime.date:
    try:
        return as_of.replace(year=as_of.year - age)
    except ValueError:  # 29 February
        return as_of.replace(year=as_of.year - age, day=28)
