"""The command line with FHIR input: eval takes a Bundle; fhir extract, check; --validate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from spinerules.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "fhir" / "vcf-l1-osteoporotic.json"
SCHEMA = ROOT / "src" / "spinerules" / "engine" / "result.schema.json"


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output
    return result


def test_eval_takes_a_bundle_and_shows_provenance() -> None:
    result = run("eval", "vcf", str(FIXTURE), "--as-of", "2026-02-18")
    assert result.exit_code == 0, result.output
    assert "FROM FHIR" in result.output
    assert "patient.history.cancer = yes (Condition/breast-cancer-history: Z85.3)" in \
        result.output
    # the full chains (`--trace`; the default text gives short reasons in words) name the
    # source of each fact too
    traced = run("eval", "vcf", str(FIXTURE), "--as-of", "2026-02-18", "--trace")
    assert traced.exit_code == 0, traced.output
    assert "via malignancy_suspected: patient.history.cancer = yes " \
        "(Condition/breast-cancer-history: Z85.3)" in traced.output.split("FROM FHIR")[0]


def test_eval_json_carries_provenance_and_meets_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = run("eval", "vcf", str(FIXTURE), "--as-of", "2026-02-18", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    assert data["provenance"]["facts"]["bone_health.t_score"] == [
        {"resource": "Observation/dxa-hip", "element": "valueQuantity", "code": "38264-8"}]
    assert data["patient"] == "vcf-l1-osteoporotic"


def test_json_records_have_no_provenance() -> None:
    result = run("eval", "vcf", str(ROOT / "examples" / "patients" / "founding-case.json"),
                 "--as-of", "2026-02-18", "--format", "json")
    assert "provenance" not in json.loads(result.output)


def test_fhir_extract_prints_record_and_provenance() -> None:
    result = run("fhir", "extract", str(FIXTURE), "--as-of", "2026-02-18")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["record"]["fractures"][0]["level"] == "L1"
    assert data["facts"]["fractures[0].level"][0]["resource"] == "Condition/vcf-l1"
    assert set(data) == {"record", "facts", "conflicts", "unmapped"}


def test_fhir_extract_validate() -> None:
    pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")
    assert run("fhir", "extract", str(FIXTURE), "--as-of", "2026-02-18",
               "--validate").exit_code == 0


def test_validate_reports_located_problems(tmp_path: Path) -> None:
    pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")
    data = json.loads(FIXTURE.read_text())
    data["entry"][2]["resource"]["valueQuantity"]["value"] = "warm"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = run("eval", "vcf", str(bad), "--as-of", "2026-02-18", "--validate")
    assert result.exit_code == 3
    assert "entry[2].resource.valueQuantity.value: " in result.output


def test_fhir_check_the_bundled_mapping() -> None:
    pytest.importorskip("simple_icd_10_cm", reason="the fhir extra is not installed")
    result = run("fhir", "check")
    assert result.exit_code == 0 and result.output.rstrip().endswith(": ok")


def test_fhir_check_a_bad_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("record: spine.Patient\nfacts: {nonsense: []}\n")
    result = run("fhir", "check", str(bad))
    assert result.exit_code == 1
    assert "m.yaml:2: facts.nonsense" in result.output


def test_missing_extra_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "simple_icd_10_cm", None)  # as if not installed
    result = run("fhir", "check")
    assert result.exit_code == 2
    assert "pip install 'spinerules[fhir]'" in result.output
    monkeypatch.setitem(sys.modules, "fhir.resources.R4B", None)
    result = run("fhir", "extract", str(FIXTURE), "--validate")
    assert result.exit_code == 2
    assert "--validate needs the fhir extra" in result.output
    # extraction itself needs neither
    assert run("fhir", "extract", str(FIXTURE), "--as-of", "2026-02-18").exit_code == 0
