"""The REST API: guidelines, examples, evaluate (the result contract), errors, OpenAPI."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from spinerules import api
from spinerules.engine.result import result_schema

from .helpers import AS_OF, bundle_of, check_error, record

RESULT = Draft202012Validator(result_schema())


def test_guidelines_lists_each_served_guideline_with_its_examples(client: Any) -> None:
    listed = client.get("/guidelines").json()
    g = api.load("vcf")
    assert listed == [{"id": "vcf", "title": g.title, "version": g.version, "hash": g.sha256,
                       "examples": listed[0]["examples"]}]
    examples = listed[0]["examples"]
    assert examples[:2] == ["founding-case", "founding-case.bundle"]
    assert "chronic-failed-conservative" in examples  # named by vcf's own files
    assert "pediatric-infection" not in examples  # another guideline's example


def test_examples_are_the_bundled_record_and_a_generated_bundle(client: Any) -> None:
    assert client.get("/guidelines/vcf/examples/founding-case").json() == \
        record("founding-case")
    bundle = client.get("/guidelines/vcf/examples/founding-case.bundle").json()
    assert bundle["resourceType"] == "Bundle"
    g = api.load("vcf")
    from_bundle = g.evaluate(bundle, as_of=AS_OF)
    assert from_bundle.codes() == g.evaluate(record("founding-case"), as_of=AS_OF).codes()
    err = check_error(client.get("/guidelines/vcf/examples/nobody"), 404, "unknown_example")
    assert "founding-case" in err["message"]


@pytest.mark.parametrize("body", ["record", "bundle"])
def test_evaluate_returns_the_result_contract(client: Any, body: str) -> None:
    data = record("founding-case") if body == "record" else bundle_of("founding-case")
    response = client.post(f"/evaluate/vcf?as_of={AS_OF}", json=data)
    assert response.status_code == 200, response.text
    out = response.json()
    RESULT.validate(out)
    expected = json.loads(api.load("vcf").evaluate(data, as_of=AS_OF).dumps())
    assert out == expected  # the same JSON as `spinerules eval --format json`
    assert ("provenance" in out) == (body == "bundle")


def test_evaluate_with_trace_explains_every_code(client: Any) -> None:
    out = client.post(f"/evaluate/vcf?as_of={AS_OF}&trace=true",
                      json=record("founding-case")).json()
    explanations = out.pop("explanations")
    RESULT.validate(out)
    assert explanations["dexa_scan"].startswith("`dexa_scan` was emitted.")
    assert explanations["mri_with_contrast"].startswith("`mri_with_contrast` was not emitted.")
    assert "infection_or_tumour_suspected" in explanations["mri_with_contrast"]


def test_evaluate_errors_are_json_and_located(client: Any) -> None:
    check_error(client.post("/evaluate/nope", json={}), 404, "unknown_guideline")
    err = check_error(client.post("/evaluate/vcf?as_of=2026-13-01", json={}), 422,
                      "invalid_as_of")
    assert err["path"] == "as_of"
    err = check_error(client.post(f"/evaluate/vcf?as_of={AS_OF}",
                                  json={"age": 300, "sex": "female"}), 400, "invalid_record")
    assert err["path"] == "$.age" and "0 to 120" in err["message"]
    err = check_error(client.post(f"/evaluate/vcf?as_of={AS_OF}",
                                  json={"resourceType": "Bundle", "entry": 3}), 400,
                      "invalid_fhir")
    assert err["path"] == "$.entry"
    check_error(client.post("/evaluate/vcf", content=b"{nope",
                            headers={"content-type": "application/json"}), 400, "invalid_json")
    check_error(client.post("/evaluate/vcf", json=[1, 2]), 422, "invalid_request")
    err = check_error(client.post("/evaluate/vcf", content=b'{"age": 70}',
                                  headers={"content-type": "text/plain"}), 415,
                      "unsupported_media_type")
    assert "application/json" in err["message"]
    check_error(client.post("/evaluate/vcf", content=b"\xff\xfe{",
                            headers={"content-type": "application/json"}), 400, "invalid_json")
    check_error(client.get("/no/such/page"), 404, "not_found")
    check_error(client.delete("/guidelines"), 405, "method_not_allowed")


def test_bodies_over_the_limit_get_413(secure_client: Any) -> None:
    big = b'{"age": 70, "pad": "' + b"x" * 70_000 + b'"}'
    check_error(secure_client.post("/evaluate/vcf", content=big,
                                   headers={"content-type": "application/json"}),
                413, "body_too_large")

    def chunks() -> Any:  # no Content-Length: counted while read
        for _ in range(80):
            yield b"x" * 1000

    check_error(secure_client.post("/evaluate/vcf", content=chunks(),
                                   headers={"content-type": "application/json"}),
                413, "body_too_large")


def test_a_request_over_the_time_limit_gets_503() -> None:
    from fastapi.testclient import TestClient

    from spinerules.service.app import create_app
    from spinerules.service.config import ServiceConfig

    app = create_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",),
                                   time_limit=1e-6))
    with TestClient(app) as c:
        err = check_error(c.post(f"/evaluate/vcf?as_of={AS_OF}",
                                 json=record("founding-case")), 503, "time_limit")
        assert "longer than" in err["message"]


def test_openapi_publishes_models_for_every_route(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    assert {"/guidelines", "/guidelines/{guideline}/examples/{name}", "/evaluate/{guideline}",
            "/cards/{guideline}", "/cds-services", "/cds-services/{service_id}",
            "/cds-services/{service_id}/feedback"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    for name in ("Result", "ErrorBody", "HookRequest", "FeedbackRequest", "CardsResponse",
                 "Discovery"):
        assert name in schemas
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert "Result" in refs and "Card" in refs
    assert refs <= set(schemas), refs - set(schemas)  # every reference resolves
    call = doc["paths"]["/cds-services/{service_id}"]["post"]
    assert call["requestBody"]["content"]["application/json"]["schema"]["$ref"] \
        .endswith("/HookRequest")


def test_a_project_guideline_with_its_own_record_is_served_by_rest() -> None:
    from pathlib import Path

    from fastapi.testclient import TestClient

    from spinerules.service.app import create_app
    from spinerules.service.config import ServiceConfig

    project = Path(__file__).resolve().parents[2] / "examples" / "projects" / "canadian-cspine"
    app = create_app(ServiceConfig(insecure_dev=True, guidelines=(str(project),)))
    with TestClient(app) as c:
        listed = c.get("/guidelines").json()
        assert [g["id"] for g in listed] == ["ccr"]
        examples = listed[0]["examples"]
        assert examples == sorted(p.stem for p in (project / "patients").glob("*.json"))
        patient = c.get(f"/guidelines/ccr/examples/{examples[0]}").json()
        response = c.post(f"/evaluate/ccr?as_of={AS_OF}", json=patient)
        assert response.status_code == 200, response.text
        RESULT.validate(response.json())
        assert c.get("/cds-services").json() == {"services": []}  # no FHIR mapping


@pytest.mark.parametrize("threads", [1, 3])
def test_evaluations_run_at_most_eval_threads_at_once(monkeypatch: Any, threads: int) -> None:
    """Calls beyond ``eval_threads`` wait their turn (the service's tail latency under load,
    docs/performance.md); every call is still answered."""
    import asyncio
    import threading
    import time

    import httpx

    from spinerules.service import app as app_module
    from spinerules.service.config import ServiceConfig

    lock = threading.Lock()
    running = [0]
    most = [0]
    evaluate = app_module.evaluate

    def slow(*args: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.05)
            return evaluate(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(app_module, "evaluate", slow)
    app = app_module.create_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",),
                                              eval_threads=threads))

    async def calls() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            answers = await asyncio.gather(*(
                c.post(f"/evaluate/vcf?as_of={AS_OF}", json=record("founding-case"))
                for _ in range(6)))
        return [a.status_code for a in answers]

    assert asyncio.run(calls()) == [200] * 6
    assert most[0] == threads


def test_eval_threads_must_be_positive() -> None:
    from spinerules.service.config import ServiceConfig

    with pytest.raises(ValueError, match="eval_threads"):
        ServiceConfig(insecure_dev=True, eval_threads=0)


def test_a_serving_process_freezes_the_loaded_guidelines_out_of_the_collector() -> None:
    import gc

    from spinerules.service.app import serving_app
    from spinerules.service.config import ServiceConfig

    before = gc.get_freeze_count()
    try:
        serving_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",)))
        assert gc.get_freeze_count() > before + 50_000  # the guideline's objects among them
    finally:
        gc.unfreeze()
