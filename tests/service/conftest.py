"""Fixtures of the service tests: apps (insecure and with JWT auth), clients, signed tokens,
hook calls built from the bundled example patients, and the CDS Hooks 2.0 schema."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from spinerules.service.app import create_app  # noqa: E402
from spinerules.service.config import ServiceConfig  # noqa: E402
from spinerules.service.hooks import prefetch_from_bundle  # noqa: E402

from .helpers import BASE, ISSUER, KID, bundle_of  # noqa: E402


@pytest.fixture(scope="session")
def discovery_prefetch() -> dict[str, str]:
    from spinerules.fhir.mapping import bundled_mapping
    from spinerules.service.hooks import prefetch_templates

    return prefetch_templates(bundled_mapping())


@pytest.fixture(scope="session")
def hook_call(discovery_prefetch: dict[str, str]) -> Callable[..., dict[str, Any]]:
    def make(patient: str = "founding-case", hook: str = "patient-view",
             orders: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        context: dict[str, Any] = {"patientId": "pt-1", "userId": "Practitioner/dr-1"}
        if orders is not None:
            context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": o} for o in orders]}
        call = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
                "prefetch": prefetch_from_bundle(bundle_of(patient), discovery_prefetch,
                                                 "pt-1")}
        call.update(extra)
        return call

    return make


@pytest.fixture(scope="session")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="session")
def client(audit_path: Path) -> Iterator[TestClient]:
    """The insecure-dev app serving vcf, with an audit log."""
    app = create_app(ServiceConfig(insecure_dev=True, guidelines=("vcf",),
                                   audit_log=str(audit_path)))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="session")
def jwks_file(tmp_path_factory: pytest.TempPathFactory,
              signing_key: ec.EllipticCurvePrivateKey) -> Path:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update({"kid": KID, "use": "sig", "alg": "ES384"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def secure_client(jwks_file: Path) -> Iterator[TestClient]:
    """The app with CDS Hooks JWT authentication (vcf only, 64 kB body limit)."""
    app = create_app(ServiceConfig(guidelines=("vcf",), issuers=(ISSUER,),
                                   jwks=str(jwks_file), base_url=BASE,
                                   max_body_bytes=64_000))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def make_token(signing_key: ec.EllipticCurvePrivateKey) -> Callable[..., str]:
    """A CDS Hooks JWT for ``path``; keyword arguments replace claims (None drops one)."""
    def make(path: str, *, key: Any = None, alg: str = "ES384", kid: str | None = KID,
             **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISSUER, "sub": "ehr-client", "aud": BASE + path,
                                "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        for k, v in claims.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        headers = {"kid": kid} if kid else {}
        return jwt.encode(body, key if key is not None else signing_key, algorithm=alg,
                          headers=headers)

    return make
