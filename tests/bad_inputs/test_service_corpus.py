"""The service's bad-request corpus: each ``service/*.json`` is one request the CDS Hooks
service must refuse with a clear 4xx and a JSON error body naming the problem.

A case holds ``description``; ``expect`` (``status``, ``code``, optionally the JSON
``path``); and how to build the request from a valid patient-view call of the founding case
(its prefetch generated from the bundled example):

- ``path`` (default ``/cds-services/vcf-patient-view``); ``body`` (a literal body instead
  of the call), ``raw_body`` (text), ``body_bytes`` (a padded body of that many bytes);
  ``set`` (dotted key -> value, into the call), ``remove`` (top-level keys);
- ``token``: null for no token, else a CDS Hooks JWT signed at test time, with ``exp_in``
  (seconds from now), ``claims`` (replaced; null drops one), ``alg`` (``HS256`` signs with
  a shared secret, ``none`` leaves it unsigned), ``key: other`` (an unknown key), ``kid``;
- ``headers``: sent as given; ``replay``: the request is sent twice with the same token and
  the second answer is checked (the first must succeed).

The app under test authenticates with an ES384 key from a JWKS file, limits bodies to
64 kB and fetches only from ``https://ehr.example.org/fhir``. No case may produce a 5xx.
"""

from __future__ import annotations

import copy
import datetime
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from spinerules.fhir.generate import to_bundle
from spinerules.fhir.mapping import bundled_mapping
from spinerules.lang.resources import guidelines_dir
from spinerules.records.loader import load_record
from spinerules.records.spine import Patient
from spinerules.service.app import create_app
from spinerules.service.config import ServiceConfig
from spinerules.service.hooks import prefetch_from_bundle, prefetch_templates

HERE = Path(__file__).resolve().parent / "service"
BASE = "http://testserver"
ISSUER = "https://ehr.example.org"
KID = "corpus-key"
DEFAULT_PATH = "/cds-services/vcf-patient-view"


def entries() -> list[Path]:
    return sorted(HERE.glob("*.json"))


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"main": ec.generate_private_key(ec.SECP384R1()),
            "other": ec.generate_private_key(ec.SECP384R1())}


@pytest.fixture(scope="module")
def client(keys: dict[str, Any], tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[TestClient]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys["main"].public_key()))
    jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    jwks = tmp_path_factory.mktemp("corpus") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    app = create_app(ServiceConfig(guidelines=("vcf",), issuers=(ISSUER,), jwks=str(jwks),
                                   base_url=BASE, max_body_bytes=64_000,
                                   fhir_servers=("https://ehr.example.org/fhir",)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def valid_call() -> dict[str, Any]:
    record = json.loads((guidelines_dir() / "patients" / "founding-case.json")
                        .read_text(encoding="utf-8"))
    bundle = to_bundle(load_record(Patient, record), as_of=datetime.date(2026, 2, 18))
    prefetch = prefetch_from_bundle(bundle, prefetch_templates(bundled_mapping()), "pt-1")
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"patientId": "pt-1", "userId": "Practitioner/dr-1"},
            "prefetch": prefetch}


def token(spec: dict[str, Any], path: str, keys: dict[str, Any]) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "sub": "ehr", "aud": BASE + path, "iat": now,
                              "exp": now + spec.get("exp_in", 300), "jti": str(uuid.uuid4())}
    if "exp_in" in spec and spec["exp_in"] < 0:
        claims["iat"] = now + spec["exp_in"] - 60
    for k, v in spec.get("claims", {}).items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    alg = spec.get("alg", "ES384")
    headers = {"kid": spec.get("kid", KID)}
    if alg == "HS256":
        return jwt.encode(claims, "a-shared-secret-of-32-bytes-at-least!", algorithm=alg,
                          headers=headers)
    if alg == "none":
        return jwt.encode(claims, None, algorithm="none", headers=headers)
    return jwt.encode(claims, keys[spec.get("key", "main")], algorithm=alg, headers=headers)


def build(case: dict[str, Any], call: dict[str, Any], keys: dict[str, Any],
          ) -> tuple[str, dict[str, str], bytes]:
    path = case.get("path", DEFAULT_PATH)
    body: Any = copy.deepcopy(case["body"]) if "body" in case else copy.deepcopy(call)
    body_is_call = "body" not in case
    if body_is_call:
        body["hookInstance"] = str(uuid.uuid4())
        for dotted, value in case.get("set", {}).items():
            node = body
            *parents, last = dotted.split(".")
            for p in parents:
                node = node[p]
            node[last] = value
        for key in case.get("remove", []):
            body.pop(key)
    data = json.dumps(body).encode()
    if "raw_body" in case:
        data = case["raw_body"].encode()
    if "body_bytes" in case:
        data = data[:-1] + b', "pad": "' + b"x" * case["body_bytes"] + b'"}'
    headers = {"content-type": "application/json", **case.get("headers", {})}
    if case.get("token") is not None:
        headers["Authorization"] = "Bearer " + token(case["token"], path, keys)
    return path, headers, data


def test_the_corpus_covers_the_issue_s_bad_requests() -> None:
    names = {p.stem for p in entries()}
    assert {"no_jwt", "expired_jwt", "wrong_audience", "replayed_jti", "oversized_body",
            "malformed_prefetch", "unknown_service", "unknown_hook"} <= names


@pytest.mark.parametrize("entry", entries(), ids=lambda p: p.stem)
def test_bad_request(entry: Path, client: TestClient, valid_call: dict[str, Any],
                     keys: dict[str, Any]) -> None:
    case = json.loads(entry.read_text(encoding="utf-8"))
    assert case.get("description"), f"{entry.name}: no description"
    path, headers, data = build(case, valid_call, keys)
    response = client.post(path, content=data, headers=headers)
    if case.get("replay"):
        assert response.status_code == 200, response.text  # the first use is fine
        response = client.post(path, content=data, headers=headers)
    expect = case["expect"]
    assert response.status_code == expect["status"], response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == expect["code"], error
    assert len(error["message"]) > 15, error
    if "path" in expect:
        assert error.get("path") == expect["path"], error
    if expect["status"] == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
