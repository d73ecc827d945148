"""Helpers of the service tests: the CDS Hooks 2.0 schema, error-body checks, example
patients as records and FHIR Bundles."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from spinerules.lang.resources import guidelines_dir

HERE = Path(__file__).resolve().parent
SCHEMA = json.loads((HERE / "cds-hooks-2.0.schema.json").read_text(encoding="utf-8"))
AS_OF = "2026-02-18"
ISSUER = "https://ehr.example.org"
BASE = "http://testserver"
KID = "test-key-1"


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]},
                                format_checker=FormatChecker())


def check_cds(name: str, data: Any) -> None:
    """``data`` validates against the CDS Hooks 2.0 schema's ``name`` definition."""
    errors = sorted(validator(name).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def check_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error body naming the problem, with the expected status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    if code is not None:
        assert err["code"] == code, err
    return dict(err)


def record(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((guidelines_dir() / "patients" / f"{name}.json")
                                      .read_text(encoding="utf-8"))
    return data


def bundle_of(name: str) -> dict[str, Any]:
    from spinerules.fhir.generate import to_bundle
    from spinerules.records.loader import load_record
    from spinerules.records.spine import Patient

    return to_bundle(load_record(Patient, record(name)),
                     as_of=datetime.date.fromisoformat(AS_OF))
