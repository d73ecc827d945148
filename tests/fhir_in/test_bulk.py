"""Bulk NDJSON: patient by patient from unsorted files; bad lines reported, the rest read."""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from spinerules.cli import main
from spinerules.fhir.bulk import BulkReport, read_bulk
from spinerules.fhir.generate import to_bundle
from spinerules.records.loader import load_record_json
from spinerules.records.spine import Patient

from .test_roundtrip import fold

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["founding-case", "cancer-history", "on-treatment-multiple-fractures",
            "neuro-deficit"]
AS_OF = datetime.date(2026, 2, 18)


def as_bulk_resources(record: Any, n: int) -> list[dict[str, Any]]:
    """The record's Bundle as $export resources: server ids and relative references."""
    entries = to_bundle(record, as_of=AS_OF)["entry"]
    rename = {}
    for e in entries:
        res = e["resource"]
        if res["resourceType"] == "Patient":
            res["id"] = f"p{n}"
        else:
            res["id"] = f"{res['id']}-of-p{n}"
        rename[e["fullUrl"]] = f"{res['resourceType']}/{res['id']}"
    out = []
    for e in entries:
        res = json.loads(json.dumps(e["resource"]))
        if "subject" in res:
            res["subject"] = {"reference": rename[res["subject"]["reference"]]}
        for f in res.get("focus", []):
            f["reference"] = rename[f["reference"]]
        out.append(res)
    return out


def write_export(folder: Path, resources: list[dict[str, Any]]) -> dict[str, list[str]]:
    by_type: dict[str, list[str]] = {}
    for res in resources:
        by_type.setdefault(res["resourceType"], []).append(json.dumps(res))
    for rtype, lines in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return by_type


def records() -> list[Patient]:
    return [load_record_json(Patient, (ROOT / "examples" / "patients" / f"{n}.json")
                             .read_text(encoding="utf-8")) for n in EXAMPLES]


def test_unsorted_export_gives_each_patients_record(tmp_path: Path) -> None:
    resources = [r for n, rec in enumerate(records()) for r in as_bulk_resources(rec, n)]
    random.Random(7).shuffle(resources)  # $export files are not grouped by patient
    write_export(tmp_path, resources)
    report = BulkReport()
    seen = {}
    for result in read_bulk(tmp_path, as_of=AS_OF, report=report):
        assert result.extraction is not None, result.problems
        seen[result.extraction.record.id] = result.extraction.record
    assert {k: fold(v) for k, v in seen.items()} == {r.id: fold(r) for r in records()}
    assert report.patients == report.extracted == 4 and not report.skipped
    assert report.resources == len(resources)


def test_bad_lines_are_located_and_the_rest_is_read(tmp_path: Path) -> None:
    recs = records()
    resources = [r for n, rec in enumerate(recs) for r in as_bulk_resources(rec, n)]
    by_type = write_export(tmp_path, resources)
    obs = by_type["Observation"]
    broken_at = len(obs) // 2
    obs.insert(broken_at, obs[0][: len(obs[0]) // 2])  # a line cut in the middle
    obs.insert(broken_at + 2, '{"id": "no-type", "status": "final"}')
    # patient p1's fever reading in an unknown system: p1 is skipped, the others are read
    obs.append(json.dumps({"resourceType": "Observation", "id": "odd", "status": "final",
                           "subject": {"reference": "Patient/p1"},
                           "code": {"coding": [{"system": "http://example.org/x",
                                                "code": "T"}]}}))
    # a Condition of a patient the export has no Patient resource for
    conds = by_type["Condition"]
    conds.append(json.dumps({"resourceType": "Condition", "id": "orphan",
                             "subject": {"reference": "Patient/ghost"},
                             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                                  "code": "C79.51"}]}}))
    (tmp_path / "Observation.ndjson").write_text("\n".join(obs) + "\n", encoding="utf-8")
    (tmp_path / "Condition.ndjson").write_text("\n".join(conds) + "\n", encoding="utf-8")
    report = BulkReport()
    results = list(read_bulk(tmp_path, as_of=AS_OF, report=report))
    assert report.patients == 5  # four, and the ghost
    assert report.extracted == 3
    assert sum(report.skipped.values()) == 2
    assert any("no Patient resource" in why for why in report.skipped)
    located = {(p.file, p.line, p.path): p.message for p in report.problems}
    assert ("Observation.ndjson", broken_at + 1, "$") in located
    assert "not valid JSON" in located[("Observation.ndjson", broken_at + 1, "$")]
    assert ("Observation.ndjson", broken_at + 3, "$") in located
    odd_line = len(obs)
    assert located[("Observation.ndjson", odd_line, "$.code.coding[0].system")].startswith(
        "unknown code system")
    done = {r.extraction.record.id for r in results if r.extraction is not None}
    assert done == {recs[0].id, recs[2].id, recs[3].id}
    # the broken line was one of p0's first Observation's copy: p0 still has all its facts
    summary = report.summary()
    assert "patients: 5 read, 3 extracted, 2 skipped" in summary


def test_bulk_command_writes_ndjson_and_counts(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    resources = [r for n, rec in enumerate(records()[:2]) for r in as_bulk_resources(rec, n)]
    write_export(folder, resources)
    (folder / "Condition.ndjson").write_text(
        (folder / "Condition.ndjson").read_text() + "{broken\n", encoding="utf-8")
    out = tmp_path / "records.ndjson"
    result = CliRunner().invoke(main, ["fhir", "bulk", str(folder), "--as-of", "2026-02-18",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["record"]["id"] for x in lines] == [r.id for r in records()[:2]]
    assert "facts" in lines[0] and "conflicts" in lines[0]
    assert "Condition.ndjson:" in result.output and "not valid JSON" in result.output
    assert "patients: 2 read, 2 extracted, 0 skipped" in result.output
    assert "Traceback" not in result.output


def test_a_broken_line_of_a_known_patient_skips_that_patient(tmp_path: Path) -> None:
    recs = records()
    resources = [r for n, rec in enumerate(recs) for r in as_bulk_resources(rec, n)]
    by_type = write_export(tmp_path, resources)
    obs = by_type["Observation"]
    k = next(i for i, line in enumerate(obs) if '"Patient/p2"' in line)
    obs[k] = obs[k][:-1]  # the last brace lost: the patient is still named in the line
    (tmp_path / "Observation.ndjson").write_text("\n".join(obs) + "\n", encoding="utf-8")
    report = BulkReport()
    results = {r.patient: r for r in read_bulk(tmp_path, as_of=AS_OF, report=report)}
    assert results["Patient/p2"].extraction is None
    [problem] = results["Patient/p2"].problems
    assert (problem.file, problem.line, problem.path) == ("Observation.ndjson", k + 1, "$")
    assert problem.message.startswith("not valid JSON")
    assert report.extracted == 3
    assert report.skipped == {"a broken line of the patient's data": 1}
