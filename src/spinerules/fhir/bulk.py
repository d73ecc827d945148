"""FHIR Bulk Data NDJSON ($export style: one file per resource type) read patient by patient.

Bulk export files are not sorted by patient, so :func:`read_bulk` makes one pass over each file
and keeps, per patient, only where that patient's lines are (file, byte offset, line number),
and only for the resource types a mapping reads (Patient, Condition, Observation, Medication*,
DiagnosticReport); then it reads each patient's lines back, extracts the record and yields it.
Memory grows with the number of relevant lines (three integers each), never with their
content. A broken line is reported with its file and line and the rest is still read; the
returned :class:`BulkReport` counts patients read, extracted and skipped, and why.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from spinerules.fhir.errors import FhirError, FhirProblem
from spinerules.fhir.extract import Extraction, extract_resources
from spinerules.fhir.mapping import Mapping_, bundled_mapping

__all__ = ["BulkReport", "BulkResult", "read_bulk"]

_READ_TYPES = frozenset({"Patient", "Condition", "Observation", "MedicationStatement",
                         "MedicationRequest", "DiagnosticReport", "Medication"})
# the type, when it is the line's first key (as $export writes it): lines of types that no
# fact comes from are counted without being parsed
_TYPE_RE = re.compile(rb'^\s*\{\s*"resourceType"\s*:\s*"([A-Za-z]+)"')
# the patient of a line of a read type, found without parsing it in the first pass
_SUBJECT_RE = re.compile(rb'"(?:subject|patient)"\s*:\s*\{\s*"reference"\s*:\s*"([^"\\]+)"')


@attrs.define
class BulkReport:
    """What a bulk read did: counts, and every problem with its file and line."""

    files: int = 0
    lines: int = 0
    resources: int = 0
    patients: int = 0
    extracted: int = 0
    skipped: Counter[str] = attrs.field(factory=Counter)
    problems: list[FhirProblem] = attrs.field(factory=list)
    not_read: Counter[str] = attrs.field(factory=Counter)

    def summary(self) -> str:
        lines = [f"{self.files} file(s), {self.lines} line(s), {self.resources} resource(s); "
                 f"patients: {self.patients} read, {self.extracted} extracted, "
                 f"{sum(self.skipped.values())} skipped"]
        lines.extend(f"  skipped {n}: {why}" for why, n in sorted(self.skipped.items()))
        if self.not_read:
            lines.append("  resource types no fact comes from: " + ", ".join(
                f"{t} ({n})" for t, n in sorted(self.not_read.items())))
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "lines": self.lines, "resources": self.resources,
                "patients": self.patients, "extracted": self.extracted,
                "skipped": dict(self.skipped), "not_read": dict(self.not_read),
                "problems": [p.to_json() for p in self.problems]}


@attrs.frozen
class BulkResult:
    """One patient's outcome: an extraction, or the problems that made it skipped."""

    patient: str
    extraction: Extraction | None
    problems: tuple[FhirProblem, ...] = ()


def _patient_of(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return f"Patient/{rid}" if isinstance(rid, str) else None
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            text: str = ref["reference"]
            tail = "/".join(text.rstrip("/").split("/")[-2:])
            return tail if tail.startswith("Patient/") else text
    return None


def read_bulk(folder: str | Path, *, as_of: datetime.date, mapping: Mapping_ | None = None,
              report: BulkReport | None = None,
              progress: Callable[[str, int], None] | None = None) -> Iterator[BulkResult]:
    """Yield one :class:`BulkResult` per patient of the NDJSON files in ``folder``.

    ``report`` (filled in as the read goes) receives counts and located problems;
    ``progress(phase, n)`` is called as lines are indexed and patients extracted.
    """
    m = mapping or bundled_mapping()
    rep = report if report is not None else BulkReport()
    root = Path(folder)
    files = sorted(p for p in root.iterdir() if p.suffix == ".ndjson") if root.is_dir() \
        else [root]
    index: dict[str, list[tuple[int, int, int]]] = {}
    order: list[str] = []
    for fi, path in enumerate(files):
        rep.files += 1
        with path.open("rb") as fh:
            offset = 0
            for lineno, raw in enumerate(fh, start=1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                rep.lines += 1
                if progress is not None:
                    progress("index", 1)
                m_type = _TYPE_RE.match(raw)
                if m_type is not None and m_type.group(1).decode() not in _READ_TYPES:
                    rep.resources += 1
                    rep.not_read[m_type.group(1).decode()] += 1
                    continue
                m_ref = _SUBJECT_RE.search(raw) if m_type is not None and \
                    m_type.group(1) != b"Patient" else None
                if m_ref is not None:  # parsed (and its JSON checked) when its patient is read
                    rep.resources += 1
                    text = m_ref.group(1).decode("utf-8", "replace")
                    tail = "/".join(text.rstrip("/").split("/")[-2:])
                    who = tail if tail.startswith("Patient/") else text
                    if who not in index:
                        index[who] = []
                        order.append(who)
                    index[who].append((fi, start, lineno))
                    continue
                try:
                    resource = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    rep.problems.append(FhirProblem("$", f"not valid JSON: {msg}",
                                                    file=path.name, line=lineno))
                    continue
                if not isinstance(resource, dict) or \
                        not isinstance(resource.get("resourceType"), str):
                    rep.problems.append(FhirProblem("$", "a line without a resource "
                                                    "(no resourceType)", file=path.name,
                                                    line=lineno))
                    continue
                rep.resources += 1
                who = _patient_of(resource)
                if who is None:
                    rep.problems.append(FhirProblem("subject", "no patient reference: the "
                                                    "resource belongs to no patient",
                                                    file=path.name, line=lineno))
                    continue
                if who not in index:
                    index[who] = []
                    order.append(who)
                index[who].append((fi, start, lineno))
    handles = [p.open("rb") for p in files]
    try:
        for who in order:
            rep.patients += 1
            if progress is not None:
                progress("extract", 1)
            yield _one(who, index.pop(who), files, handles, as_of, m, rep)
    finally:
        for h in handles:
            h.close()


def _one(who: str, where: list[tuple[int, int, int]], files: list[Path], handles: list[Any],
         as_of: datetime.date, m: Mapping_, rep: BulkReport) -> BulkResult:
    resources: list[tuple[str, dict[str, Any], str | None]] = []
    located: dict[str, tuple[str, int]] = {}
    for fi, offset, lineno in where:
        fh = handles[fi]
        fh.seek(offset)
        try:
            resource = json.loads(fh.readline())
        except ValueError as exc:  # broken: a patient is not read from part of its data
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            problem = FhirProblem("$", f"not valid JSON: {msg}", file=files[fi].name,
                                  line=lineno)
            rep.problems.append(problem)
            rep.skipped["a broken line of the patient's data"] += 1
            return BulkResult(who, None, (problem,))
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problem = FhirProblem("$", "a line without a resource (no resourceType)",
                                  file=files[fi].name, line=lineno)
            rep.problems.append(problem)
            rep.skipped["a broken line of the patient's data"] += 1
            return BulkResult(who, None, (problem,))
        key = f"@{len(resources)}"
        located[key] = (files[fi].name, lineno)
        resources.append((key, resource, None))
    if not any(r["resourceType"] == "Patient" for _k, r, _u in resources):
        rep.skipped["no Patient resource for the patient's references"] += 1
        problem = FhirProblem("subject.reference", f"{who}: no such Patient in the input")
        return BulkResult(who, None, (problem,))
    try:
        extraction = extract_resources(resources, as_of=as_of, mapping=m)
    except FhirError as exc:
        problems = []
        for p in exc.problems:
            head, _dot, rest = p.path.partition(".")
            file, line = located.get(head, (None, None))
            problems.append(FhirProblem(f"${'.' + rest if rest else ''}", p.message,
                                        file=file, line=line))
        rep.problems.extend(problems)
        first = problems[0].message.split(" (")[0].split(":")[0] if problems else "error"
        rep.skipped[first] += 1
        return BulkResult(who, None, tuple(problems))
    rep.extracted += 1
    return BulkResult(who, extraction)


def tty_progress() -> tuple[Callable[[str, int], None] | None, Callable[[], None]]:
    """A rich progress bar on a terminal (stderr), else nothing; returns (update, stop)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    try:
        from rich.progress import Progress
    except ImportError:
        return None, lambda: None
    bar = Progress(transient=True)
    bar.start()
    tasks = {"index": bar.add_task("indexing lines", total=None),
             "extract": bar.add_task("extracting patients", total=None)}

    def update(phase: str, n: int) -> None:
        bar.advance(tasks[phase], n)

    return update, bar.stop
