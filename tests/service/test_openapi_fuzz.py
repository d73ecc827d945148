"""Schemathesis against the service's own ``/openapi.json`` (issue #14).

Every operation of the published description gets requests generated from it: fitting the
schema (positive), fitting it with a served guideline (and a real example name, a real date)
so that requests get past the lookup, and not fitting it (negative). They are sent to the app
in process (ASGI, no socket). At least 1,000 requests in all; the service must never answer
5xx, every 4xx must be a JSON body ``{"error": {"code", "message", ...}}`` naming the problem,
and every answer must agree with the description: Schemathesis's checks (status codes,
content types, headers, response schemas, negative data rejected), all but one:
``positive_data_acceptance``, because the request bodies are open on purpose (a record of the
guideline's type or a FHIR Bundle, described as ``object``): a body that fits ``object`` but
is not a valid record is refused with a located 400, which that check would count as a fault.

The app runs with ``insecure_dev`` (no JWT): authentication has its own tests. Hypothesis is
derandomized (the same requests on every run), Schemathesis gets a fixed seed (without one it
draws a new seed per run for its own choices) and the example database is off, so a failure
reproduces and the suite's time is stable.

A negative request may be refused for its size before its content is read: 413 (the body is
over the service's limit, a JSON error naming the limit) is a rejection like 400 or 422, so
``negative_data_rejection`` is told to count it as one. Schemathesis's default list leaves it
out; a negative feedback call with more than the 1,000 items the schema allows can be larger
than the 200,000-byte limit set below.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the test extra installs schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

MIN_REQUESTS = 1000
AS_OF = "2026-02-18"
#: requests generated per operation: free (positive), served (positive, a served guideline),
#: negative; an operation whose inputs allow fewer distinct requests stops early
EXAMPLES = {"free": 60, "served": 100, "negative": 70, "valid": 3}

pytestmark = pytest.mark.slow


def _app() -> Any:
    from spinerules.service.app import create_app
    from spinerules.service.config import ServiceConfig

    return create_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",),
                                    max_body_bytes=200_000, time_limit=20.0))


def _error_named(response: Any, where: str) -> None:
    """A 4xx answer: JSON, ``{"error": {"code": str, "message": str, "path"?: str}}``."""
    # (Schemathesis's response: each header is a list of values)
    ctype = (response.headers.get("content-type") or [""])[0]
    assert ctype.startswith("application/json"), (
        f"{where}: {response.status_code} with content type {ctype!r}: {response.text[:200]!r}")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"{where}: {body!r}"
    err = body["error"]
    assert isinstance(err.get("code"), str) and err["code"], f"{where}: {body!r}"
    assert isinstance(err.get("message"), str) and len(err["message"]) >= 8, f"{where}: {body!r}"
    if "path" in err:
        assert isinstance(err["path"], str) and err["path"], f"{where}: {body!r}"


def _served_inputs(operation: Any) -> dict[str, Any]:
    """Path and query values that name what the service serves."""
    names = {p.name for p in operation.path_parameters}
    path: dict[str, Any] = {}
    if "guideline" in names:
        path["guideline"] = "vcf"
    if "name" in names:
        path["name"] = "founding-case"
    if "service_id" in names:
        path["service_id"] = "vcf-patient-view"
    query = {"as_of": AS_OF} if any(p.name == "as_of" for p in operation.query) else {}
    return {"path_parameters": path, "query": query}


def _valid_bodies() -> dict[str, Any]:
    """A valid body for the operations whose random bodies are nearly always refused: the
    founding case as a record, and as the prefetch of a patient-view call."""
    import datetime
    import json
    from pathlib import Path

    from spinerules.fhir.generate import to_bundle
    from spinerules.fhir.mapping import mapping_for
    from spinerules.records.loader import load_record
    from spinerules.records.spine import Patient
    from spinerules.service.hooks import prefetch_from_bundle, prefetch_templates

    root = Path(__file__).resolve().parents[2]
    record = json.loads((root / "examples" / "patients" / "founding-case.json").read_text())
    mapping = mapping_for(Patient)
    bundle = to_bundle(load_record(Patient, record), as_of=datetime.date.fromisoformat(AS_OF),
                       mapping=mapping)
    call = {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
            "context": {"userId": "Practitioner/fuzz", "patientId": "p1"},
            "prefetch": prefetch_from_bundle(bundle, prefetch_templates(mapping), "p1")}
    return {"POST /evaluate/{guideline}": record, "POST /cards/{guideline}": record,
            "POST /cds-services/{service_id}": call}


def _fuzz(operation: Any, kind: str, statuses: Counter[tuple[str, int]],
          valid: dict[str, Any]) -> None:
    label = f"{operation.label} ({kind})"
    mode = GenerationMode.NEGATIVE if kind == "negative" else GenerationMode.POSITIVE
    fixed = _served_inputs(operation) if kind in ("served", "valid") else {}
    if kind == "served" and not any(fixed.values()):
        return  # nothing to fix: the free pass covers it
    if kind == "valid":
        if operation.label not in valid:
            return
        fixed["body"] = valid[operation.label]
    excluded = [schemathesis.checks.positive_data_acceptance]

    @settings(max_examples=EXAMPLES[kind], deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        response = case.call()
        statuses[(label, response.status_code)] += 1
        where = f"{label}: {case.method} {case.formatted_path}"
        assert response.status_code < 500, (
            f"{where}: {response.status_code} {response.text[:300]!r}")
        if 400 <= response.status_code < 500:
            _error_named(response, where)
        case.validate_response(response, excluded_checks=excluded)

    try:
        run()
    except Unsatisfiable:
        # no request can break a schema that takes no input (GET /guidelines, negative)
        assert mode is GenerationMode.NEGATIVE, label
        assert not [s for (lab, s) in statuses if lab == label], label


def _config() -> Any:
    from schemathesis.config import SchemathesisConfig
    from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES

    rejected = [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
    return SchemathesisConfig.from_dict({
        "seed": 20261204,
        "checks": {"negative_data_rejection": {"expected-statuses": rejected}},
    })


def test_openapi_fuzz_no_5xx_and_every_4xx_names_the_problem() -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app(), config=_config())
    statuses: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    for expected in ("GET /guidelines", "POST /evaluate/{guideline}", "GET /cds-services",
                     "POST /cds-services/{service_id}"):
        assert expected in labels, sorted(labels)
    seconds: dict[str, float] = {}
    valid = _valid_bodies()
    for operation in operations:
        start = time.process_time()
        for kind in EXAMPLES:
            _fuzz(operation, kind, statuses, valid)
        seconds[operation.label] = time.process_time() - start

    total = sum(statuses.values())
    summary = "\n".join(f"{label}: {status} x{n}"
                        for (label, status), n in sorted(statuses.items()))
    summary += "\n" + "\n".join(f"{k}: {v:.1f} CPU s" for k, v in seconds.items())
    assert total >= MIN_REQUESTS, f"only {total} requests were generated:\n{summary}"
    # both sides were reached on every operation with input: answers and refusals
    for op in operations:
        got = [s for (lab, s) in statuses if lab.startswith(op.label + " (")]
        assert any(200 <= s < 300 for s in got), f"{op.label} never answered 2xx\n{summary}"
    assert any(400 <= s < 500 for _l, s in statuses), summary
    print(f"{total} requests\n{summary}")
