"""Reference docs and schemas generated from the record classes (issue #12), and the
`list` and `schema` commands."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

import spinerules
from spinerules.cli import main
from spinerules.records.describe import fields_of, json_schema
from spinerules.records.spine import Patient

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> object:
    path = ROOT / "tools" / "gen_record_docs.py"
    spec = importlib.util.spec_from_file_location("gen_record_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_record_docs", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_what_the_generator_writes() -> None:
    """Run `python tools/gen_record_docs.py` after changing a record class."""
    outputs = _tool().outputs()  # type: ignore[attr-defined]
    assert ROOT / "docs" / "reference" / "records.md" in outputs
    for path, text in outputs.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale"


def test_the_reference_lists_every_field_with_type_unit_range_and_doc() -> None:
    page = (ROOT / "docs" / "reference" / "records.md").read_text(encoding="utf-8")
    for f in fields_of(Patient):
        assert f"`{f.path}`" in page, f.path
    assert "| `age` | integer | years | 0 to 120 | age in whole years |" in page
    assert "| `height_loss_pct` | number | % | 0 to 100 | loss of vertebral body height" in page


def cli(*args: str) -> str:
    out = CliRunner().invoke(main, list(args))
    assert out.exit_code == 0, out.output
    return out.output


def test_schema_spine_prints_the_committed_schema() -> None:
    committed = (ROOT / "docs" / "reference" / "spine.Patient.schema.json").read_text()
    assert json.loads(cli("schema", "spine")) == json.loads(committed)
    assert cli("schema", "spine.Patient") == cli("schema", "spine") == cli("schema", "vcf")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema(Patient, name="spine.Patient")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_example_patient_is_valid(validator: jsonschema.Draft202012Validator) -> None:
    examples = sorted((ROOT / "examples" / "patients").glob("*.json"))
    assert len(examples) >= 40
    for path in examples:
        errors = list(validator.iter_errors(json.loads(path.read_text())))
        assert errors == [], (path.name, errors[:1])


@pytest.mark.parametrize("name", [
    "age_as_string", "age_out_of_range", "unknown_top_level_key", "level_unknown",
    "height_loss_over_100", "unknown_nested_key", "sex_abbreviated", "fractures_as_object",
    "boolean_as_string", "age_with_decimals"])
def test_bad_patients_are_invalid(validator: jsonschema.Draft202012Validator,
                                  name: str) -> None:
    data = json.loads((ROOT / "tests" / "bad_inputs" / "patients" / f"{name}.json").read_text())
    assert list(validator.iter_errors(data)), name


class _DatesAsText(yaml.SafeLoader):
    """YAML as JSON sees it: dates stay text."""


_DatesAsText.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def test_every_bundled_case_file_fits_the_case_schema() -> None:
    schema = json.loads(cli("schema", "case"))
    assert schema == json.loads((ROOT / "docs/reference/case-file.schema.json").read_text())
    check = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    files = sorted((ROOT / "guidelines").glob("*/cases/*.yaml"))
    assert len(files) >= 9
    for path in files:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsText)
        errors = list(check.iter_errors(data))
        assert errors == [], (path.name, errors[:1])
    assert list(check.iter_errors({"guideline": "vcf", "want_cods": ["x"]}))


def test_the_case_schema_and_the_checker_know_the_same_keys() -> None:
    from spinerules.testing.casefile import CASE_KEYS, FILE_KEYS, case_schema

    schema = case_schema()
    assert set(schema["$defs"]["case"]["properties"]) == set(CASE_KEYS)
    assert set(schema["properties"]) == set(CASE_KEYS) | set(FILE_KEYS)


def test_list_shows_every_bundled_guideline_with_title_and_version() -> None:
    text = cli("list")
    for name in ("vcf", "trauma", "spine", "pediatric", "cervical"):
        g = spinerules.load(name)
        line = next(line for line in text.splitlines() if line.startswith(name + " "))
        assert g.title in line and (g.version or "-") in line
    data = json.loads(cli("list", "--format", "json"))
    assert {d["name"] for d in data} >= {"vcf", "trauma", "spine"}
    assert all(d["title"] and d["version"] for d in data)


def test_schema_of_an_unknown_name_is_a_usage_error() -> None:
    out = CliRunner().invoke(main, ["schema", "spine.Patiet"])
    assert out.exit_code == 2
    assert "did you mean `spine.Patient`?" in out.output
    assert "Traceback" not in out.output
