"""The service's configuration: what it serves and how it checks its callers.

A ``ServiceConfig`` is plain data. ``spinerules serve`` builds one from its options; with
more than one uvicorn worker each worker process builds the app from the same config, passed
as JSON in the environment variable ``SPINERULES_SERVICE_CONFIG`` (see :func:`app.app_factory`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

ENV_VAR = "SPINERULES_SERVICE_CONFIG"

#: signature algorithms accepted on CDS Hooks JWTs: asymmetric only (CDS Hooks 2.0 names
#: ES384 and RS384); never ``none`` and never a shared-secret HMAC
DEFAULT_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384", "PS256")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """What ``create_app`` serves and enforces.

    guidelines: bundled names or paths (empty: every bundled guideline).
    insecure_dev: accept CDS Hooks calls without a JWT (development only; warned about).
    issuers: the JWT ``iss`` values accepted (the EHRs allowed to call).
    jwks: where the issuers' public keys are: a JSON Web Key Set file, or an https URL
        (fetched when a token names a key not yet known, at most once a minute).
    base_url: the service's public URL (``https://cds.example.org``): a token's ``aud`` must
        be this plus the path called. None: the URL the request reached (behind a proxy,
        set it).
    max_body_bytes: a larger request body is refused with 413.
    time_limit: seconds an evaluation (with its FHIR fetches) may take: then 503.
    eval_threads: evaluations run at once in one worker process; the others wait their
        turn in order (1: the interpreter runs one thread at a time anyway, and each more
        thread makes every call in progress, and the event loop, share the lock).
    audit_log: the JSON-lines audit file (None: no audit log).
    audit_fsync: force each audit line to disk before answering (survives a power loss).
    fetch_timeout: seconds for each request to the EHR's FHIR server.
    algorithms: the JWT signature algorithms accepted.
    fhir_servers: the FHIR servers the service may fetch from (URL prefixes; a call whose
        ``fhirServer`` matches none is refused with 403); empty: any.
    cors_origins: web origins allowed to call from a browser (CORS), such as
        ``https://sandbox.cds-hooks.org``; empty: none.
    replay_dir: a folder where the ``jti`` of every accepted token is kept until it expires,
        shared by the workers of one host (None: in memory, per process).
    """

    guidelines: tuple[str, ...] = ()
    insecure_dev: bool = False
    issuers: tuple[str, ...] = ()
    jwks: str | None = None
    base_url: str | None = None
    max_body_bytes: int = 2_000_000
    time_limit: float = 10.0
    eval_threads: int = 1
    audit_log: str | None = None
    audit_fsync: bool = False
    fetch_timeout: float = 5.0
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    replay_dir: str | None = None
    fhir_servers: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.insecure_dev and (not self.issuers or not self.jwks):
            raise ValueError("the service authenticates CDS Hooks calls: give the accepted "
                             "issuers and their JWKS (a file or URL), or run with "
                             "insecure_dev=True (--insecure-dev) for development")
        if self.max_body_bytes <= 0 or self.time_limit <= 0 or self.fetch_timeout <= 0 \
                or self.eval_threads <= 0:
            raise ValueError("max_body_bytes, time_limit, fetch_timeout and eval_threads "
                             "must be positive")
        bad = [a for a in self.algorithms if a.lower() == "none" or a.startswith("HS")]
        if bad:
            raise ValueError(f"refused JWT algorithms {bad}: only asymmetric signatures")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServiceConfig:
        data: dict[str, Any] = json.loads(text)
        for key in ("guidelines", "issuers", "algorithms", "fhir_servers", "cors_origins"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_env(cls) -> ServiceConfig:
        text = os.environ.get(ENV_VAR)
        if text is None:
            raise RuntimeError(f"{ENV_VAR} is not set: `spinerules serve` sets it for its "
                               "workers (a ServiceConfig as JSON)")
        return cls.from_json(text)
