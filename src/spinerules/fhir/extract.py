"""FHIR R4 resources to a record, by a mapping, with each fact's provenance.

:func:`extract_bundle` reads one patient's Bundle (any Bundle type); :func:`extract_resources`
reads one patient's resources however they arrived (the bulk reader uses it). The result is an
:class:`Extraction`: the record, where each fact came from, the facts that disagreeing
resources supplied (left unknown, not chosen), and the content that mapped to nothing.
Wrong input raises :class:`~spinerules.fhir.errors.FhirError` listing every problem with its
JSON path (``entry[3].resource.code.coding[0]``).
"""

from __future__ import annotations

import datetime
import enum
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from spinerules.fhir.errors import FhirError, FhirProblem
from spinerules.fhir.mapping import ICD10CM, Fact, Mapping_, Source, bundled_mapping
from spinerules.fhir.ucum import UCUM_SYSTEM, UnitError, convert
from spinerules.lang.parser import gc_paused
from spinerules.records.loader import RecordError, dump_record, load_record

__all__ = [
    "Conflict",
    "Extraction",
    "Provenance",
    "extract_bundle",
    "extract_bundle_json",
    "extract_resources",
    "parse_json",
]

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_HIGH = {"H", "HH", "HU", ">"}
_NOT_HIGH = {"N", "L", "LL", "LU", "<"}
_OBS_OK = {"final", "amended", "corrected", "preliminary", None}
_REPORT_OK = {"final", "amended", "corrected", "appended", "preliminary", None}
_ACTIVE = {"active", "recurrence", "relapse"}
_MED_ACTIVE = {"MedicationStatement": {"active"}, "MedicationRequest": {"active"}}
_RECORD_UNITS = {"%": "%", "weeks": "wk", "years": "a"}
_CLINICAL_TYPES = frozenset({"Condition", "Observation", "MedicationStatement",
                            "MedicationRequest", "DiagnosticReport"})


class Provenance(NamedTuple):
    """Where a fact came from: a resource (``Condition/abc``), its element, the code read."""

    resource: str
    element: str
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.resource}: {self.code}" if self.code else f"{self.resource}.{self.element}"

    def to_json(self) -> dict[str, Any]:
        return {"resource": self.resource, "element": self.element, "code": self.code}


@attrs.frozen
class Conflict:
    """Resources that supply different values for one fact (the fact is left unknown)."""

    path: str
    values: tuple[tuple[Any, Provenance], ...]

    def __str__(self) -> str:
        said = "; ".join(f"{_show(v)} ({p})" for v, p in self.values)
        return f"{self.path}: resources disagree: {said}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path,
                "values": [{"value": _jsonable(v), **p.to_json()} for v, p in self.values]}


@attrs.frozen
class Extraction:
    """A record extracted from FHIR, with provenance (record path -> sources) beside it."""

    record: Any
    provenance: Mapping[str, tuple[Provenance, ...]]
    conflicts: tuple[Conflict, ...] = ()
    unmapped: tuple[str, ...] = ()
    as_of: datetime.date | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"record", "provenance", "conflicts", "unmapped"}``, JSON-ready."""
        return {"record": dump_record(self.record), **self.provenance_json()}

    def provenance_json(self) -> dict[str, Any]:
        """The ``provenance`` object of the result JSON."""
        return {
            "facts": {k: [p.to_json() for p in v] for k, v in self.provenance.items()},
            "conflicts": [c.to_json() for c in self.conflicts],
            "unmapped": list(self.unmapped),
        }

    def render(self) -> str:
        """Text: ``patient.history.cancer = yes (Condition/abc: C79.51)`` per fact."""
        rec = dump_record(self.record)
        lines = []
        for path, provs in self.provenance.items():
            value = _lookup(rec, path)
            if isinstance(value, dict):
                value = "a vertebral fracture"
            elif isinstance(value, list):
                value = f"{len(value)} fracture(s)"
            lines.append(f"patient.{path} = {_show(value)} ({', '.join(map(str, provs))})")
        lines.extend(f"conflict: patient.{c}" for c in self.conflicts)
        if self.unmapped:
            lines.append(f"unmapped: {len(self.unmapped)} item(s)")
            lines.extend(f"  {u}" for u in self.unmapped)
        return "\n".join(lines)


def _lookup(data: Any, path: str) -> Any:
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            data = data[int(part[1:-1])] if isinstance(data, list) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _jsonable(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


# --- reading -------------------------------------------------------------------------------


def parse_json(text: str | bytes, *, file: str | None = None) -> Any:
    """``json.loads`` with a located error for text that is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FhirError([FhirProblem("$", f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                                     f"column {exc.colno}", file=file)]) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise FhirError([FhirProblem("$", f"not valid JSON: {exc}", file=file)]) from None


# The cyclic garbage collector is paused while a Bundle is parsed and read: parsing and
# reading allocate thousands of small, acyclic objects that live until the record is built,
# and the collector's passes over them free nothing. The pause is the parser's own (one
# counter for the whole process, so that nested and concurrent pauses of either kind agree).
_gc_paused = gc_paused


def extract_bundle_json(text: str | bytes, *, as_of: datetime.date,
                        mapping: Mapping_ | None = None, file: str | None = None) -> Extraction:
    """Parse a Bundle's JSON text and extract it (see :func:`extract_bundle`)."""
    with _gc_paused():
        return extract_bundle(parse_json(text, file=file), as_of=as_of, mapping=mapping,
                              file=file)


def extract_bundle(data: Any, *, as_of: datetime.date, mapping: Mapping_ | None = None,
                   file: str | None = None) -> Extraction:
    """A record from one patient's Bundle (any ``Bundle.type``)."""
    def fail(path: str, message: str) -> FhirError:
        return FhirError([FhirProblem(path, message, file=file)])

    if not isinstance(data, dict):
        raise fail("$", f"expected a FHIR Bundle (a JSON object), got {_kind(data)}")
    rtype = data.get("resourceType")
    if rtype != "Bundle":
        what = f"a {rtype} resource" if isinstance(rtype, str) else "no resourceType"
        raise fail("resourceType", f"expected a FHIR Bundle, got {what}")
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        raise fail("entry", f"expected a list of entries, got {_kind(entries)}")
    resources: list[tuple[str, dict[str, Any], str | None]] = []
    problems: list[FhirProblem] = []
    append = resources.append
    for i, entry in enumerate(entries):
        if entry.__class__ is dict:
            resource = entry.get("resource")
            if resource.__class__ is dict and resource.get("resourceType").__class__ is str:
                full_url = entry.get("fullUrl")
                append((f"entry[{i}].resource", resource,
                        full_url if full_url.__class__ is str else None))
                continue  # the common case
        path = f"entry[{i}]"
        if not isinstance(entry, dict):
            problems.append(FhirProblem(path, f"expected an object, got {_kind(entry)}", file))
            continue
        resource = entry.get("resource")
        if resource is None:
            continue  # a transaction-response or deletion entry: nothing to read
        if not isinstance(resource, dict):
            problems.append(FhirProblem(f"{path}.resource", "expected a resource (an object), "
                                        f"got {_kind(resource)}", file))
            continue
        if not isinstance(resource.get("resourceType"), str):
            problems.append(FhirProblem(f"{path}.resource", "a resource without resourceType",
                                        file))
            continue
    if problems:
        raise FhirError(problems)
    return extract_resources(resources, as_of=as_of, mapping=mapping, file=file)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number")


class _Cand(NamedTuple):
    value: Any
    prov: Provenance
    date: str
    group: str  # the code, for combine any/min


def _date(resource: Mapping[str, Any]) -> str:
    for key in ("effectiveDateTime", "effectiveInstant", "issued", "recordedDate",
                "authoredOn", "dateAsserted", "onsetDateTime"):
        v = resource.get(key)
        if isinstance(v, str):
            return v
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        v = period.get("end") or period.get("start")
        if isinstance(v, str):
            return v
    return ""


def _parse_datetime(text: str) -> datetime.datetime | None:
    """A FHIR date or dateTime (possibly partial) as a UTC-naive datetime (its earliest)."""
    try:
        if len(text) == 4:
            return datetime.datetime(int(text), 1, 1)
        if len(text) == 7:
            return datetime.datetime(int(text[:4]), int(text[5:7]), 1)
        if len(text) == 10:
            return datetime.datetime.fromisoformat(text)
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.UTC).replace(tzinfo=None)
    return dt


class _Extractor:
    def __init__(self, m: Mapping_, as_of: datetime.date, file: str | None) -> None:
        self.m = m
        self.as_of = as_of
        self.file = file
        self.problems: list[FhirProblem] = []
        self.unmapped: list[str] = []
        self.other_types: Counter[str] = Counter()
        # fact path -> source index -> candidates; fracture facts keyed by (index, path)
        self.cands: dict[tuple[int, str], dict[int, list[_Cand]]] = {}
        self.fractures: list[tuple[str, str, dict[str, Any]]] = []  # (path, ref, resource)
        self.fracture_provs: list[Provenance] = []
        self.fracture_refs: dict[str, int] = {}
        self.project_facts = m.project_facts
        self.known = m.known_systems
        self.fracture_count: list[_Cand] = []
        self.patient_refs: set[str] = set()  # references seen to resolve to the patient

    def error(self, path: str, message: str) -> None:
        self.problems.append(FhirProblem(path, message, file=self.file))

    def add(self, fact: Fact, source_index: int, value: Any, prov: Provenance, date: str,
            group: str = "", fracture: int = -1) -> None:
        key = (fracture, fact.path)
        by_source = self.cands.get(key)
        if by_source is None:
            by_source = self.cands[key] = {}
        cands = by_source.get(source_index)
        if cands is None:
            by_source[source_index] = [_Cand(value, prov, date, group)]
        else:
            cands.append(_Cand(value, prov, date, group))

    # -- codings --

    def codings(self, concept: Any, path: str, *, what: str,
                required: bool = True) -> list[tuple[int, str, str, str | None]]:
        """(coding index, system, code, display) of a CodeableConcept at ``path``, checked."""
        if concept.__class__ is not dict:
            if required:
                self.error(path, f"{what} has no code")
            return []
        codings = concept.get("coding")
        if not codings:
            text = concept.get("text")
            if required:
                if isinstance(text, str):
                    self.error(path, f"{what} has only free text ({text!r}) and no coded value; "
                               "it cannot be mapped")
                else:
                    self.error(path, f"{what} has no coding")
            return []
        if codings.__class__ is not list:
            self.error(f"{path}.coding", "expected a list of codings")
            return []
        out = []
        known = self.known
        for j, c in enumerate(codings):
            if c.__class__ is not dict:
                self.error(f"{path}.coding[{j}]", "expected a coding (an object)")
                continue
            system = c.get("system")
            code = c.get("code")
            if system.__class__ is not str or code.__class__ is not str or system not in known:
                self.bad_coding(system, code, f"{path}.coding[{j}]")
                continue
            display = c.get("display")
            out.append((j, system, code, display if display.__class__ is str else None))
        return out

    def quick_codings(self, concept: Any) -> list[tuple[int, str, str, str | None]] | None:
        """:meth:`codings` for the common case (every coding an object with a known system
        and a code); None for anything else, which :meth:`codings` then reads and reports."""
        if concept.__class__ is not dict:
            return None
        codings = concept.get("coding")
        if codings.__class__ is not list or not codings:
            return None
        known = self.known
        out = []
        for j, c in enumerate(codings):
            if c.__class__ is not dict:
                return None
            system = c.get("system")
            code = c.get("code")
            if system not in known or code.__class__ is not str:
                return None
            display = c.get("display")
            out.append((j, system, code, display if display.__class__ is str else None))
        return out

    def bad_coding(self, system: Any, code: Any, cpath: str) -> None:
        if not isinstance(system, str):
            self.error(cpath, "a coding without a system")
        elif not isinstance(code, str):
            self.error(cpath, "a coding without a code")
        else:
            self.error(f"{cpath}.system", f"unknown code system {system!r}")

    # -- resources --

    def run(self, resources: Sequence[tuple[str, dict[str, Any], str | None]]) -> Extraction:
        refs: dict[str, int] = {}
        ref_list: list[str] = []
        patients: list[int] = []
        candidates: list[tuple[int, str, str, dict[str, Any]]] = []
        other_types = self.other_types
        for k, (path, res, full_url) in enumerate(resources):
            rtype = res["resourceType"]
            rid = res.get("id")
            if rid.__class__ is str:
                ref = f"{rtype}/{rid}"
                refs[ref] = k
            else:
                ref = full_url or path
            ref_list.append(ref)
            if full_url:
                refs[full_url] = k
                if not full_url.startswith("urn:"):  # a server URL: Type/id is its tail
                    tail = "/".join(full_url.rstrip("/").split("/")[-2:])
                    refs.setdefault(tail, k)
            if rtype in _CLINICAL_TYPES:
                candidates.append((k, rtype, path, res))
            elif rtype == "Patient":
                patients.append(k)
            else:
                other_types[rtype] += 1
        self.refs = refs
        self.resources = resources
        self.ref_list = ref_list
        if len(patients) > 1:
            first = resources[patients[0]][0]
            for k in patients[1:]:
                self.error(resources[k][0], f"a second Patient (the first is {first}); "
                           "a Bundle must hold one patient's data")
            raise FhirError(self.problems)
        self.patient = patients[0] if patients else None
        if self.patient is not None:
            self.read_patient(*resources[self.patient][:2])
        # the resources about this patient, in input order; fractures are read first, so
        # that findings can name them in Observation.focus
        clinical: list[tuple[int, str, str, dict[str, Any]]] = []
        patient_refs = self.patient_refs
        for item in candidates:
            k, rtype, path, res = item
            subject = res.get("subject")
            if (subject.__class__ is dict and subject.get("reference") in patient_refs) \
                    or self.about_patient(path, res):
                clinical.append(item)
                if rtype == "Condition":
                    self.read_fracture(k, path, res)
        for k, rtype, path, res in clinical:
            if rtype == "Observation":
                self.read_observation(k, path, res)
            elif rtype == "Condition":
                self.read_condition(k, path, res)
            elif rtype == "DiagnosticReport":
                self.read_report(k, path, res)
            else:
                self.read_medication(k, path, res)
        if self.problems:
            raise FhirError(self.problems)
        return self.finish()

    @property
    def path_of(self) -> dict[str, str]:
        """Resource reference -> JSON path (only for error messages)."""
        return {self.ref_list[k]: p for k, (p, _r, _u) in enumerate(self.resources)}

    def ref_of(self, k: int) -> str:
        return self.ref_list[k]

    def about_patient(self, path: str, res: dict[str, Any]) -> bool:
        subject = res.get("subject") or res.get("patient")
        if subject is None:
            return True
        ref = subject.get("reference") if subject.__class__ is dict else None
        if ref.__class__ is not str:
            return True  # a logical (identifier) reference: taken to be the Bundle's patient
        if ref in self.patient_refs:
            return True
        key = "subject" if "subject" in res else "patient"
        k = self.refs.get(ref)
        if k is not None and k == self.patient:
            self.patient_refs.add(ref)
            return True
        if k is None:
            self.error(f"{path}.{key}.reference", f"reference {ref!r} does not resolve "
                       "(no such resource in the input)")
            return False
        if k != self.patient:
            self.error(f"{path}.{key}.reference", f"reference {ref!r} is not the patient")
            return False
        return True

    def read_patient(self, path: str, res: dict[str, Any]) -> None:
        ref = self.ref_of(self.patient) if self.patient is not None else "Patient"
        for fact in (self.m.facts["id"], self.m.facts["age"], self.m.facts["sex"]):
            for i, s in enumerate(fact.sources):
                if s.kind != "patient":
                    continue
                if s.element == "identifier":
                    ids = res.get("identifier") or []
                    found = False
                    for j, ident in enumerate(ids if isinstance(ids, list) else []):
                        if isinstance(ident, dict) and ident.get("system") == \
                                self.m.record_id_system and isinstance(ident.get("value"), str):
                            self.add(fact, i, ident["value"],
                                     Provenance(ref, f"identifier[{j}]"), "")
                            found = True
                    if not found and isinstance(res.get("id"), str):
                        self.add(fact, i, res["id"], Provenance(ref, "id"), "")
                elif s.element == "birthDate":
                    bd = res.get("birthDate")
                    if bd is None:
                        continue
                    age = self.age(bd, f"{path}.birthDate")
                    if age is not None:
                        self.add(fact, i, age, Provenance(ref, "birthDate", bd), "")
                elif s.element == "gender":
                    g = res.get("gender")
                    if g in ("female", "male"):
                        self.add(fact, i, g, Provenance(ref, "gender", g), "")
                    elif g is not None:
                        self.unmapped.append(f"{ref}.gender = {g!r}: no record value "
                                             "(sex stays unknown)")

    def age(self, text: Any, path: str) -> int | None:
        if not isinstance(text, str):
            self.error(path, f"expected a date, got {_kind(text)}")
            return None
        try:
            year = int(text[:4])
            if len(text) == 4:
                month, day = 12, 31  # the latest possible birthday: the lower age
            elif len(text) == 7:
                month = int(text[5:7])
                nxt = datetime.date(year + month // 12, month % 12 + 1, 1)
                day = (nxt - datetime.timedelta(days=1)).day
            else:
                d = datetime.date.fromisoformat(text[:10])
                month, day = d.month, d.day
            datetime.date(year, month, day)
        except ValueError:
            self.error(path, f"not a FHIR date: {text!r}")
            return None
        age = self.as_of.year - year - ((self.as_of.month, self.as_of.day) < (month, day))
        if age < 0:
            self.error(path, f"birthDate {text} is after the evaluation date {self.as_of}")
            return None
        return age

    def statuses(self, res: dict[str, Any]) -> tuple[str | None, str | None]:
        def code(key: str) -> str | None:
            concept = res.get(key)
            if isinstance(concept, dict):
                for c in concept.get("coding") or []:
                    if isinstance(c, dict) and isinstance(c.get("code"), str):
                        return str(c["code"])
            return None
        return code("clinicalStatus"), code("verificationStatus")

    def read_fracture(self, k: int, path: str, res: dict[str, Any]) -> None:
        spec = self.m.lists.get("fractures")
        if spec is None:
            return
        concept = res.get("code")
        codings = concept.get("coding") if isinstance(concept, dict) else None
        if not isinstance(codings, list):
            return
        hits = [(j, c) for j, c in enumerate(codings) if isinstance(c, dict)
                and spec.value_set.matches(c.get("system"), c.get("code"))]
        if not hits:
            return
        clinical, verification = self.statuses(res)
        if verification in ("refuted", "entered-in-error"):
            return
        if clinical is not None and clinical not in _ACTIVE:
            return
        index = len(self.fractures)
        ref = self.ref_list[k]
        self.fractures.append((path, ref, res))
        j0, c0 = hits[0]
        self.fracture_provs.append(Provenance(ref, f"code.coding[{j0}]", str(c0.get("code"))))
        self.fracture_refs[ref] = index
        _p, _r, full_url = self.resources[k]
        if full_url:
            self.fracture_refs[full_url] = index
        date = _date(res)
        for fact, i, s in _per_mapping(self.m).fracture_sources:
            if s.element == "levels_from_code":
                for j, c in hits:
                    if c.get("system") != ICD10CM:
                        continue
                    key = c["code"].replace(".", "").upper()
                    for prefix, level in spec.levels_from_code.items():
                        if key.startswith(prefix.replace(".", "")):
                            self.add(fact, i, level,
                                     Provenance(ref, f"code.coding[{j}]", c["code"]), date,
                                     fracture=index)
            elif s.element == "bodySite":
                sites = res.get("bodySite") or []
                for b, site in enumerate(sites if isinstance(sites, list) else []):
                    for j, system, code, _d in self.codings(
                            site, f"{path}.bodySite[{b}]", what="a bodySite",
                            required=False):
                        if system != self.m.level_system:
                            continue
                        element = f"bodySite[{b}].coding[{j}]"
                        if code not in {lv.value for lv in fact.type}:
                            self.error(f"{path}.{element}", f"unknown spine level {code!r}")
                            continue
                        self.add(fact, i, code, Provenance(ref, element, code), date,
                                 fracture=index)
            elif s.element == "onset":
                self.onset(fact, i, index, path, ref, res)
            elif s.element == "code" and s.value_set is not None:
                vs = s.value_set
                for j, c in enumerate(codings):
                    if isinstance(c, dict) and vs.matches(c.get("system"), c.get("code")):
                        self.add(fact, i, True,
                                 Provenance(ref, f"code.coding[{j}]", str(c["code"])),
                                 date, fracture=index)

    def onset(self, fact: Fact, i: int, index: int, path: str, ref: str,
              res: dict[str, Any]) -> None:
        element, text = None, None
        if isinstance(res.get("onsetDateTime"), str):
            element, text = "onsetDateTime", res["onsetDateTime"]
        elif isinstance(res.get("onsetPeriod"), dict) and \
                isinstance(res["onsetPeriod"].get("start"), str):
            element, text = "onsetPeriod.start", res["onsetPeriod"]["start"]
        elif isinstance(res.get("recordedDate"), str):
            element, text = "recordedDate", res["recordedDate"]
        elif "onsetAge" in res or "onsetString" in res or "onsetRange" in res:
            which = next(k for k in ("onsetAge", "onsetString", "onsetRange") if k in res)
            self.unmapped.append(f"{ref}.{which}: not read (weeks since onset stays unknown)")
            return
        if element is None or text is None:
            return
        when = _parse_datetime(text)
        if when is None:
            self.error(f"{path}.{element}", f"not a FHIR dateTime: {text!r}")
            return
        start = datetime.datetime(self.as_of.year, self.as_of.month, self.as_of.day)
        weeks = round((start - when).total_seconds() / 604800.0, 4)
        if weeks < 0:
            self.error(f"{path}.{element}", f"{element} {text} is after the evaluation date "
                       f"{self.as_of}")
            return
        self.add(fact, i, weeks, Provenance(ref, element, text), _date(res), fracture=index)

    def read_condition(self, k: int, path: str, res: dict[str, Any]) -> None:
        ref = self.ref_list[k]
        codings = self.quick_codings(res.get("code")) or \
            self.codings(res.get("code"), f"{path}.code", what="a Condition")
        if not codings:
            return
        hit = ref in self.fracture_refs
        sources = [(j, code, found) for j, system, code, _d in codings
                   if (found := self.m.sources_for("condition", system, code))]
        if sources:
            clinical, verification = self.statuses(res)
            if verification == "entered-in-error":
                self.unmapped.append(f"{ref}: entered in error (ignored)")
                return
            refuted = verification == "refuted"
            date = _date(res)
        for j, code, found in sources:
            for i, s, fact in found:
                hit = True
                if refuted:
                    if s.refuted_means_false:
                        self.add(fact, i, False, Provenance(ref, "verificationStatus", code),
                                 date)
                    continue
                if s.clinical_status == "active" and clinical is not None and \
                        clinical not in _ACTIVE:
                    continue
                self.add(fact, i, True if s.gives is None else s.gives,
                         Provenance(ref, f"code.coding[{j}]", code), date)
        if not hit:
            self.unmapped.append(_unmapped(ref, codings))

    def read_medication(self, k: int, path: str, res: dict[str, Any]) -> None:
        ref = self.ref_list[k]
        concept = res.get("medicationCodeableConcept")
        cpath, base = f"{path}.medicationCodeableConcept", "medicationCodeableConcept"
        if concept is None and isinstance(res.get("medicationReference"), dict):
            target = self.refs.get(str(res["medicationReference"].get("reference")))
            if target is None:
                self.error(f"{path}.medicationReference.reference", "reference "
                           f"{res['medicationReference'].get('reference')!r} does not resolve")
                return
            mpath, med, _u = self.resources[target]
            concept, cpath = med.get("code"), f"{mpath}.code"
            base = f"medicationReference({self.ref_of(target)}).code"
        codings = self.quick_codings(concept) or \
            self.codings(concept, cpath, what=f"a {res['resourceType']}")
        status = res.get("status")
        hit = False
        for j, system, code, _d in codings:
            for i, s, fact in self.m.sources_for("medication", system, code):
                hit = True
                if status not in _MED_ACTIVE[res["resourceType"]]:
                    self.unmapped.append(f"{ref}: {code} with status {status!r} (not read)")
                    continue
                prov = Provenance(ref, f"{base}.coding[{j}]", code)
                if s.at_least_days is not None:
                    started = self.med_start(res, path, ref)
                    if started is None:
                        continue
                    element, when = started
                    days = (self.as_of - when.date()).days
                    if days < s.at_least_days:
                        self.unmapped.append(f"{ref}: {code} started {days} day(s) before "
                                             f"{self.as_of}, less than {s.at_least_days} "
                                             f"(not read for {fact.path})")
                        continue
                    prov = Provenance(ref, f"{base}.coding[{j}], {element}", code)
                self.add(fact, i, True, prov, _date(res))
        if not hit and codings:
            self.unmapped.append(_unmapped(ref, codings))

    def med_start(self, res: dict[str, Any], path: str, ref: str,
                  ) -> tuple[str, datetime.datetime] | None:
        """When a medication began: MedicationStatement.effectivePeriod.start, or the date a
        MedicationRequest was written (authoredOn); None (and noted) when neither is given."""
        if res["resourceType"] == "MedicationStatement":
            period = res.get("effectivePeriod")
            element = "effectivePeriod.start"
            text = period.get("start") if isinstance(period, dict) else None
        else:
            element, text = "authoredOn", res.get("authoredOn")
        if not isinstance(text, str):
            self.unmapped.append(f"{ref}: no {element}: how long it has been taken is unknown "
                                 "(not read)")
            return None
        when = _parse_datetime(text)
        if when is None:
            self.error(f"{path}.{element}", f"not a FHIR dateTime: {text!r}")
            return None
        return element, when

    def read_report(self, k: int, path: str, res: dict[str, Any]) -> None:
        ref = self.ref_list[k]
        codings = self.quick_codings(res.get("code")) or \
            self.codings(res.get("code"), f"{path}.code", what="a DiagnosticReport")
        hit = False
        for j, system, code, _d in codings:
            for i, _s, fact in self.m.sources_for("report", system, code):
                if res.get("status") in _REPORT_OK:
                    hit = True
                    self.add(fact, i, True, Provenance(ref, f"code.coding[{j}]", code),
                             _date(res))
        if not hit and codings:
            self.unmapped.append(_unmapped(ref, codings))

    def read_observation(self, k: int, path: str, res: dict[str, Any]) -> None:
        ref = self.ref_list[k]
        status = res.get("status")
        if status not in _OBS_OK:
            self.unmapped.append(f"{ref}: status {status!r} (ignored)")
            return
        codings = self.quick_codings(res.get("code")) or \
            self.codings(res.get("code"), f"{path}.code", what="an Observation")
        hit = False
        date = _date(res) if codings else ""
        project_system = self.m.project_system
        sources_for = self.m.sources_for
        for j, system, code, _d in codings:
            if system == project_system and code == "fractures":
                hit = True
                v = res.get("valueInteger")
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    self.error(f"{path}.valueInteger", "fractures (the number of vertebral "
                               "fractures) expects a valueInteger >= 0")
                    continue
                self.fracture_count.append(_Cand(v, Provenance(ref, "valueInteger", code),
                                                 date, ""))
                continue
            if system == project_system:
                fact = self.project_facts.get(code)
                if fact is None:
                    self.error(f"{path}.code.coding[{j}].code", f"unknown project code {code!r}")
                    continue
                hit = True
                self.read_project(fact, path, ref, res, date)
                continue
            for i, s, fact in sources_for("observation", system, code):
                hit = True
                unit = s.quantity_unit
                if unit is not None:  # the common case: a number in the unit wanted
                    q = res.get("valueQuantity")
                    if q.__class__ is dict and q.get("code") == unit \
                            and q.get("system") == UCUM_SYSTEM:
                        v = q.get("value")
                        if v.__class__ is float or v.__class__ is int:
                            self.add(fact, i, float(v) if s.at_least is None
                                     else v >= s.at_least,
                                     Provenance(ref, "valueQuantity", code), date, code)
                            continue
                value, element = self.obs_value(s, path, ref, res)
                if value is not None and element is not None:
                    self.add(fact, i, value, Provenance(ref, element, code), date, group=code)
        if not hit and codings:
            self.unmapped.append(_unmapped(ref, codings))

    def quantity(self, path: str, res: dict[str, Any], target: str,
                 ) -> tuple[float | None, str | None]:
        q = res.get("valueQuantity")
        if q.__class__ is dict:  # the common case: a number in the unit wanted, UCUM-coded
            v = q.get("value")
            if (v.__class__ is float or v.__class__ is int) and q.get("code") == target \
                    and q.get("system") == UCUM_SYSTEM:
                return float(v), "valueQuantity"
        if "valueInteger" in res and (target == "1" or target.startswith("{")):
            v = res["valueInteger"]
            if isinstance(v, int) and not isinstance(v, bool):
                return float(v), "valueInteger"
        q = res.get("valueQuantity")
        if not isinstance(q, dict):
            got = next((k for k in res if k.startswith("value")), None)
            self.error(f"{path}.{got}" if got else path,
                       f"expected valueQuantity in {target}, got {got or 'no value'}")
            return None, None
        v = q.get("value")
        if not isinstance(v, int | float) or isinstance(v, bool):
            self.error(f"{path}.valueQuantity.value", f"expected a number, got {_kind(v)}")
            return None, None
        unit = q.get("code") if q.get("system") in (UCUM_SYSTEM, None) and q.get("code") \
            else None
        unit = unit or q.get("unit")
        if unit is None:
            if target == "1" or target.startswith("{"):
                return float(v), "valueQuantity"
            self.error(f"{path}.valueQuantity", f"a quantity without a unit (expected {target})")
            return None, None
        try:
            return convert(float(v), str(unit), target), "valueQuantity"
        except UnitError as exc:
            self.error(f"{path}.valueQuantity", f"{exc} (expected {target})")
            return None, None

    def obs_value(self, s: Source, path: str, ref: str,
                  res: dict[str, Any]) -> tuple[Any, str | None]:
        spec = s.value
        if "interpretation" in spec:
            for j, concept in enumerate(res.get("interpretation") or []):
                for c in (concept or {}).get("coding") or []:
                    if isinstance(c, dict) and c.get("system") == INTERPRETATION:
                        if c.get("code") in _HIGH:
                            return True, f"interpretation[{j}]"
                        if c.get("code") in _NOT_HIGH:
                            return False, f"interpretation[{j}]"
            q = res.get("valueQuantity")
            rr = res.get("referenceRange")
            if isinstance(q, dict) and isinstance(rr, list) and rr and isinstance(rr[0], dict):
                high = (rr[0].get("high") or {}).get("value")
                if isinstance(high, int | float) and isinstance(q.get("value"), int | float):
                    return q["value"] > high, "valueQuantity, referenceRange[0].high"
            self.unmapped.append(f"{ref}: no interpretation and "
                                 "no reference range: cannot say whether it is raised")
            return None, None
        if "quantity" in spec:
            value, element = self.quantity(path, res, str(spec["quantity"]))
            if value is None:
                return None, None
            if "at_least" in spec:
                return value >= float(spec["at_least"]), element
            return value, element
        if "boolean" in spec:
            v = res.get("valueBoolean")
            if not isinstance(v, bool):
                self.error(path, "expected valueBoolean")
                return None, None
            return v, "valueBoolean"
        v = res.get("valueInteger")
        if "valueInteger" not in res and isinstance(res.get("valueQuantity"), dict):
            number, element = self.quantity(path, res, "1")  # a score: {score}, 1 or no unit
            if number is None:
                return None, None
            if not number.is_integer():
                self.error(f"{path}.valueQuantity.value", f"expected a whole number, got "
                           f"{number:g}")
                return None, None
            return int(number), element
        if not isinstance(v, int) or isinstance(v, bool):
            self.error(path, "expected valueInteger")
            return None, None
        return v, "valueInteger"

    def read_project(self, fact: Fact, path: str, ref: str, res: dict[str, Any],
                     date: str) -> None:
        i = len(fact.sources) - 1
        tp = fact.type
        value: Any
        if tp is bool:
            value, element = res.get("valueBoolean"), "valueBoolean"
            ok = isinstance(value, bool)
        elif tp is int:
            value, element = res.get("valueInteger"), "valueInteger"
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif tp is float:
            unit = _RECORD_UNITS.get(str(fact.metadata.get("unit")), "1")
            value, elem = self.quantity(path, res, unit)
            if value is None:
                return
            element, ok = elem or "valueQuantity", True
        elif tp is str:
            value, element = res.get("valueString"), "valueString"
            ok = isinstance(value, str)
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            element = "valueCodeableConcept"
            concept = res.get("valueCodeableConcept")
            codes = [c.get("code") for c in (concept or {}).get("coding") or []
                     if isinstance(c, dict) and c.get("system") == self.m.project_system]
            allowed = [e.value for e in tp]
            ok = len(codes) == 1 and codes[0] in allowed
            value = codes[0] if codes else None
            if not ok:
                self.error(f"{path}.valueCodeableConcept", f"expected one code of "
                           f"{self.m.project_system}: {', '.join(map(str, allowed))}")
                return
        else:  # pragma: no cover - every leaf type is one of the above
            return
        if not ok:
            got = next((k for k in res if k.startswith("value")), "no value")
            self.error(f"{path}.{got}" if got != "no value" else path,
                       f"{fact.project_code} expects {element}, got {got}")
            return
        fracture = -1
        if fact.in_fracture:
            fracture = self.focus(path, res)
            if fracture < 0:
                return
        self.add(fact, i, value, Provenance(ref, element, fact.project_code), date,
                 fracture=fracture)

    def focus(self, path: str, res: dict[str, Any]) -> int:
        focus = res.get("focus")
        if not focus:
            if len(self.fractures) == 1:
                return 0
            self.error(f"{path}.focus", "a finding about a fracture must name the fracture's "
                       f"Condition in focus ({len(self.fractures)} fractures in the input)")
            return -1
        ref = focus[0].get("reference") if isinstance(focus, list) and \
            isinstance(focus[0], dict) else None
        index = self.fracture_refs.get(str(ref))
        if index is None:
            index = self.fracture_refs.get(self.ref_of(self.refs[ref])) \
                if isinstance(ref, str) and ref in self.refs else None
        if index is None:
            self.error(f"{path}.focus[0].reference", f"reference {ref!r} does not resolve to "
                       "a vertebral fracture Condition of this patient")
            return -1
        return index

    # -- decisions --

    def decide(self, fact: Fact, by_source: Mapping[int, list[_Cand]], path: str,
               conflicts: list[Conflict]) -> tuple[Any, tuple[Provenance, ...]] | None:
        if len(by_source) == 1:  # the usual case: one source gave one value
            (cands,) = by_source.values()
            if len(cands) == 1:  # (what every rule below decides for a single candidate)
                c = cands[0]
                return c.value, (c.prov,)
        groups: list[list[_Cand]] = []
        for i in sorted(by_source):
            cands = by_source[i]
            s = fact.sources[i]
            if s.kind == "condition":
                pos = [c for c in cands if c.value is True]
                groups.append(pos or cands)
                continue
            keys = {c.group for c in cands} if fact.combine in ("any", "min") else {""}
            for key in keys:
                mine = [c for c in cands if fact.combine == "agree" or c.group == key]
                latest = max(c.date for c in mine)
                groups.append([c for c in mine if c.date == latest])
        picked: list[tuple[Any, tuple[Provenance, ...]]] = []
        for group in groups:
            values = {_jsonable(c.value) for c in group}
            if len(values) > 1:
                conflicts.append(Conflict(path, tuple((c.value, c.prov) for c in group)))
                return None
            picked.append((group[0].value, tuple(c.prov for c in group)))
        if not picked:
            return None
        if fact.combine == "any":
            trues = [p for p in picked if p[0] is True]
            chosen = trues or picked
            return chosen[0][0], tuple(p for _v, ps in chosen for p in ps)
        if fact.combine == "min":
            low = min(v for v, _p in picked)
            return low, tuple(p for v, ps in picked if v == low for p in ps)
        if len({_jsonable(v) for v, _p in picked}) > 1:
            conflicts.append(Conflict(path, tuple((v, p) for v, ps in picked for p in ps)))
            return None
        return picked[0][0], tuple(p for _v, ps in picked for p in ps)

    def finish(self) -> Extraction:
        data: dict[str, Any] = {}
        provenance: dict[str, tuple[Provenance, ...]] = {}
        conflicts: list[Conflict] = []
        if self.fractures:
            data["fractures"] = [{} for _ in self.fractures]
            for n, prov in enumerate(self.fracture_provs):
                provenance[f"fractures[{n}]"] = (prov,)
        counts = {c.value for c in self.fracture_count}
        if counts and (len(counts) > 1 or counts != {len(self.fractures)}):
            found = tuple((len(self.fractures), p) for p in self.fracture_provs)
            conflicts.append(Conflict("fractures", tuple(
                (c.value, c.prov) for c in self.fracture_count) + found[:1]))
            data.pop("fractures", None)
            self.fractures = []
        elif counts and not self.fractures:
            data["fractures"] = []
            provenance["fractures"] = tuple(c.prov for c in self.fracture_count)
        for (fracture, fpath), by_source in self.cands.items():
            fact = self.m.facts[fpath]
            if fracture >= 0 and "fractures" not in data:
                continue
            if fracture >= 0:
                rpath = fpath.replace("fractures[]", f"fractures[{fracture}]")
                target = data["fractures"][fracture]
                parts = fpath.removeprefix("fractures[].").split(".")
            else:
                rpath, target, parts = fpath, data, fpath.split(".")
            decided = self.decide(fact, by_source, rpath, conflicts)
            if decided is None:
                continue
            value, provs = decided
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = _jsonable(value)
            provenance[rpath] = provs
        try:
            record: Any = load_record(self.m.record_class, data)
        except RecordError as exc:
            problems = []
            for p in exc.problems:
                provs = provenance.get(p.path, ())
                at = f"{self.path_of.get(provs[0].resource, '$')}." \
                    f"{provs[0].element.split(',')[0]}" if provs else "$"
                problems.append(FhirProblem(at, f"{p.path}: {p.message}", file=self.file))
            raise FhirError(problems) from None
        unmapped = list(self.unmapped)
        unmapped.extend(f"{t}: {n} resource(s), no fact of the record comes from this type"
                        for t, n in sorted(self.other_types.items()))
        keys = _sort_keys(self.m)
        for path in provenance:
            if path not in keys and len(keys) < 100_000:
                keys[path] = _sort_key(self.m, path)
        provenance = dict(sorted(provenance.items(), key=lambda kv: keys.get(kv[0]) or
                                 _sort_key(self.m, kv[0])))
        return Extraction(record, provenance, tuple(conflicts), tuple(unmapped), self.as_of)


class _PerMapping(NamedTuple):
    mapping: Mapping_
    sort_keys: dict[str, tuple[int, float, str]]  # provenance path -> its sort key
    fracture_sources: tuple[tuple[Fact, int, Source], ...]  # (fact, index, source)


_PER_MAPPING: dict[int, _PerMapping] = {}


def _per_mapping(m: Mapping_) -> _PerMapping:
    """What extraction derives from a mapping, derived once per mapping: the provenance
    paths' sort keys (they repeat from record to record: ``history.cancer``,
    ``fractures[0].level``) and the sources read from a fracture's own Condition."""
    hit = _PER_MAPPING.get(id(m))
    if hit is None or hit.mapping is not m:
        sources = tuple((fact, i, s) for fact in m.facts.values() if fact.in_fracture
                        for i, s in enumerate(fact.sources) if s.kind == "fracture")
        hit = _PER_MAPPING[id(m)] = _PerMapping(m, {}, sources)
    return hit


def _sort_keys(m: Mapping_) -> dict[str, tuple[int, float, str]]:
    return _per_mapping(m).sort_keys


def _sort_key(m: Mapping_, path: str) -> tuple[int, float, str]:
    """Fracture number (-1 for patient facts), the fact's place in the record, the path."""
    order = {f: float(n) for n, f in enumerate(m.facts)}
    order["fractures[]"] = order["fractures[].level"] - 0.5
    return _fracture_no(path), order.get(_pattern(path), -1), path


def _pattern(path: str) -> str:
    return re.sub(r"\[\d+\]", "[]", path)


def _fracture_no(path: str) -> int:
    m = re.match(r"fractures\[(\d+)\]", path)
    return int(m.group(1)) if m else -1


def _unmapped(ref: str, codings: list[tuple[int, str, str, str | None]]) -> str:
    if len(codings) == 1:
        _j, s, c, d = codings[0]
        return f"{ref}: {_SHORT.get(s, s)} {c} ({d})" if d else f"{ref}: {_SHORT.get(s, s)} {c}"
    return f"{ref}: " + ", ".join(f"{_SHORT.get(s, s)} {c}" + (f" ({d})" if d else "")
                                  for _j, s, c, d in codings)


_SHORT = {ICD10CM: "ICD-10-CM", "http://snomed.info/sct": "SNOMED CT",
          "http://loinc.org": "LOINC", "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm"}


def extract_resources(resources: Iterable[tuple[str, dict[str, Any], str | None]], *,
                      as_of: datetime.date, mapping: Mapping_ | None = None,
                      file: str | None = None) -> Extraction:
    """A record from one patient's resources: (JSON path, resource, fullUrl or None)."""
    m = mapping or bundled_mapping()
    with _gc_paused():
        return _Extractor(m, as_of, file).run(list(resources))
