"""Real Synthea data (the pathling wheel's examples): extracted with no error, and content
that maps to nothing is listed, not guessed."""

from __future__ import annotations

import datetime
import importlib.metadata
import sysconfig
from pathlib import Path

import pytest

from spinerules.fhir.bulk import BulkReport, read_bulk
from spinerules.fhir.extract import extract_bundle_json

AS_OF = datetime.date(2026, 2, 18)
TAIL = Path("share", "pathling", "examples", "data")


def pathling_data() -> Path:
    try:
        dist = importlib.metadata.distribution("pathling")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pathling is not installed (it is in the test extra)")
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if "examples" in parts and str(f).endswith(".ndjson"):
            here = Path(str(dist.locate_file(f))).resolve()
            return here.parents[1]
    candidate = Path(sysconfig.get_path("data")) / TAIL
    if candidate.is_dir():
        return candidate
    pytest.skip("pathling is installed but its example data files are not")


def test_synthea_bundles_extract_and_list_unmapped_content() -> None:
    bundles = sorted((pathling_data() / "bundles").glob("*.json"))
    assert len(bundles) == 2
    for path in bundles:
        e = extract_bundle_json(path.read_bytes(), as_of=AS_OF, file=path.name)
        r = e.record
        assert r.id is not None and r.age is not None and r.sex is not None
        # Synthea's social findings and obesity are not facts of the spine record
        assert r.fractures is None and r.history is None and r.symptoms is None
        assert e.conflicts == ()
        assert any(u.startswith("Condition/") and "SNOMED CT" in u for u in e.unmapped)
        assert any(u.startswith("Encounter:") for u in e.unmapped)


def test_synthea_ndjson_reads_every_patient() -> None:
    report = BulkReport()
    results = list(read_bulk(pathling_data() / "resources", as_of=AS_OF, report=report))
    assert report.patients == 9 and report.extracted == 9 and not report.skipped
    assert report.problems == [] and report.resources == 34
    assert all(r.extraction is not None and r.extraction.record.age is not None
               for r in results)
