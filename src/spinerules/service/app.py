"""The FastAPI application: the REST API, the CDS Hooks 2.0 endpoints, errors as JSON.

``create_app(config)`` loads every served guideline once, warm (its generated code made at
start, so that the first request costs what every other does), and answers:

- ``GET /guidelines``: ``[{"id", "title", "version", "hash", "examples": [names]}]``
- ``GET /guidelines/{id}/examples/{name}``: an example patient record (or FHIR Bundle)
- ``POST /evaluate/{id}?as_of=YYYY-MM-DD[&trace=true]``: a record or a FHIR R4 Bundle in,
  the result contract out (``docs/integrators/results.md``); with ``trace=true`` it also
  holds ``explanations`` (code: why or why not)
- ``POST /cards/{id}?as_of=YYYY-MM-DD``: a record or a Bundle in, the patient-view cards out
  (``{"cards": [...]}``, as the CDS service gives them; for the playground and tests)
- ``GET /cds-services``, ``POST /cds-services/{id}``, ``POST /cds-services/{id}/feedback``
- ``GET /openapi.json``

Every 4xx and 5xx answers ``{"error": {"code", "message", "path"?}}``. Request bodies over
``max_body_bytes`` get 413; an evaluation over ``time_limit`` seconds gets 503.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.util
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spinerules import api
from spinerules.records.dates import parse_iso_date
from spinerules.service import playground
from spinerules.service.audit import AuditLog
from spinerules.service.auth import Authenticator
from spinerules.service.catalog import Catalog, Served
from spinerules.service.config import ServiceConfig
from spinerules.service.errors import ServiceError, error_body, json_path
from spinerules.service.hooks import CdsService

log = logging.getLogger("spinerules.service")

JSON = "application/json"
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 413: "body_too_large",
                 415: "unsupported_media_type", 422: "invalid_request",
                 502: "fhir_server_error", 503: "unavailable"}


def dumps(data: Any) -> bytes:
    """JSON bytes, once; a non-finite number (an extreme fact) as its JavaScript spelling."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
    except ValueError:
        from spinerules.engine.result import _finite

        return json.dumps(_finite(data), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


_orjson: Any
try:  # the service extra installs it; plain json otherwise
    _orjson = importlib.import_module("orjson")
except ImportError:  # pragma: no cover
    _orjson = None


def dumps_plain(data: Any) -> bytes:
    """JSON bytes of data holding only strings, booleans, integers and containers (cards,
    discovery): orjson when installed (about 40 times faster than json here). Results go
    through :func:`dumps`, whose non-finite numbers orjson would write as null."""
    if _orjson is not None:
        out: bytes = _orjson.dumps(data)
        return out
    return dumps(data)


def loads(raw: bytes) -> Any:
    """A request body's JSON (orjson when installed: it refuses NaN and integers beyond
    64 bits, which no request of this API needs)."""
    if _orjson is not None:
        return _orjson.loads(raw)
    return json.loads(raw)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(content=dumps(data), status_code=status, media_type=JSON)


def error_response(exc: ServiceError) -> Response:
    return Response(content=dumps(exc.body()), status_code=exc.status, media_type=JSON,
                    headers=exc.headers)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, by their ``Content-Length`` before
    reading, and while reading for chunked bodies (pure ASGI: nothing buffered twice)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await _send_error(send, ServiceError(
                        400, "bad_request", "Content-Length is not a number"))
                    return
                if declared > self.max_bytes:
                    await _send_error(send, self._too_large())
                    return
        seen = 0
        limit = self.max_bytes

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise StarletteHTTPException(413, self._too_large().message)
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> ServiceError:
        return ServiceError(413, "body_too_large",
                            f"the request body is larger than {self.max_bytes} bytes")


async def _send_error(send: Send, exc: ServiceError) -> None:
    body = dumps(exc.body())
    await send({"type": "http.response.start", "status": exc.status,
                "headers": [(b"content-type", JSON.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Service:
    """The state behind the app: config, catalog, CDS services, authenticator, audit log."""

    def __init__(self, config: ServiceConfig) -> None:
        from spinerules.service.cards import Words
        from spinerules.service.hooks import make_services

        self.config = config
        self.catalog = Catalog(config.guidelines)
        self.words = {gid: Words.of(s.guideline) for gid, s in self.catalog.guidelines.items()}
        self.services = make_services(self.words)
        self.discovery = dumps({"services": [s.discovery() for s in self.services.values()]})
        self.auth: Authenticator | None = None if config.insecure_dev else \
            Authenticator(config)
        self.audit = AuditLog(config.audit_log, fsync=config.audit_fsync) \
            if config.audit_log else None
        self.client: Any = None  # httpx.AsyncClient, made on first use in the event loop
        self._cpu: anyio.CapacityLimiter | None = None  # made in the event loop

    def fhir_client(self) -> Any:
        if self.client is None:
            import httpx

            self.client = httpx.AsyncClient(timeout=self.config.fetch_timeout,
                                            follow_redirects=False)
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self.audit is not None:
            self.audit.close()

    def service(self, service_id: str) -> CdsService:
        found = self.services.get(service_id)
        if found is None:
            raise ServiceError(404, "unknown_service",
                               f"no CDS service `{service_id[:80]}` here (GET /cds-services "
                               "lists them)", "service_id")
        return found

    async def authenticate(self, request: Request) -> None:
        """The CDS Hooks JWT of a call (nothing in insecure dev mode); 401 if wrong."""
        if self.auth is None:
            return
        base = self.config.base_url
        if base:
            audience = base.rstrip("/") + request.url.path
        else:
            audience = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        header = request.headers.get("authorization")
        if self.auth.remote:
            await anyio.to_thread.run_sync(self.auth.check, header, audience)
        else:
            self.auth.check(header, audience)

    def served(self, guideline_id: str) -> Served:
        found = self.catalog.guidelines.get(guideline_id)
        if found is None:
            known = ", ".join(sorted(self.catalog.guidelines))
            raise ServiceError(404, "unknown_guideline",
                               f"no guideline `{guideline_id[:80]}` is served (served: {known})",
                               "guideline")
        return found

    async def compute(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, CPU-bound work, in a worker thread: at most
        ``config.eval_threads`` at once per process, the other calls waiting their turn in
        order. More threads would not add speed (the interpreter runs one at a time) but
        would share the lock between the event loop and every call in progress, so that
        each call (and the loop's own reading and writing) waits behind all the others."""
        if self._cpu is None:
            self._cpu = anyio.CapacityLimiter(self.config.eval_threads)
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True,
                                              limiter=self._cpu)

    async def limited(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (``compute``) within the time limit (else 503)."""
        return await self.within_time(self.compute(fn, *args))

    async def within_time(self, work: Awaitable[Any]) -> Any:
        with anyio.move_on_after(self.config.time_limit) as scope:
            return await work
        if scope.cancelled_caught:
            raise ServiceError(503, "time_limit",
                               f"the request took longer than {self.config.time_limit:g} s "
                               "and was stopped; try again later",
                               headers={"Retry-After": "1"})
        raise AssertionError("unreachable")  # pragma: no cover


def parse_as_of(value: str | None) -> datetime.date:
    if value is None:
        return datetime.date.today()
    day = parse_iso_date(value)
    if day is None:
        raise ServiceError(422, "invalid_as_of",
                           f"as_of must be a date as YYYY-MM-DD, got {value[:40]!r}", "as_of")
    return day


def evaluate(served: Served, record: Any, day: datetime.date, trace: bool) -> Any:
    """Evaluate one record or Bundle; input mistakes become 4xx ``ServiceError``s."""
    from spinerules.fhir.errors import FhirError
    from spinerules.records.loader import RecordError

    try:
        return served.guideline.evaluate(record, as_of=day, trace=trace)
    except RecordError as exc:
        raise _located(400, "invalid_record", "the patient record is not valid",
                       [(p.path, p.message) for p in exc.problems]) from None
    except FhirError as exc:
        raise _located(400, "invalid_fhir", "the FHIR input cannot be read",
                       [(p.path, p.message) for p in exc.problems]) from None
    except api.EvaluationFailedError as exc:
        raise ServiceError(422, "evaluation_failed",
                           f"the guideline could not be evaluated for this record: "
                           f"{exc.diagnostic.message}") from None


def _located(status: int, code: str, what: str,
             problems: list[tuple[str, str]]) -> ServiceError:
    listed = [{"path": _dollar(p), "message": m} for p, m in problems]
    first = listed[0] if listed else {"path": "$", "message": what}
    more = f" (and {len(listed) - 1} more problems)" if len(listed) > 1 else ""
    return ServiceError(status, code, f"{what}: {first['path']}: {first['message']}{more}",
                        first["path"], problems=listed)


def _dollar(path: str) -> str:
    if path.startswith("$"):
        return path
    return "$" + ("" if path.startswith("[") else ".") + path


def result_json(result: Any, trace: bool) -> dict[str, Any]:
    data: dict[str, Any] = result.to_json()
    if trace and result.trace is not None:
        codes = sorted({c for o in result.trace.outcomes for c in o.codes})
        data["explanations"] = {c: result.explain(c) for c in codes}
    return data


GuidelineId = Annotated[str, Path(max_length=200, description="a served guideline's id")]
RecordBody = Annotated[dict[str, Any], Body(
    description="A patient record (the record JSON of the guideline) or a FHIR R4 Bundle")]
AsOf = Annotated[str | None, Query(description="the evaluation date, YYYY-MM-DD (default: "
                                   "today)", max_length=40)]
ServiceId = Annotated[str, Path(max_length=200, description="a CDS service id "
                                "(GET /cds-services)")]
TraceFlag = Annotated[bool, Query(description="add `explanations`: for every code a rule can "
                                  "give, why it was or was not given")]


def create_app(config: ServiceConfig) -> FastAPI:
    """The service for ``config``: every guideline loaded (warm) before this returns."""
    if config.insecure_dev:
        log.warning("INSECURE DEV MODE: CDS Hooks calls are accepted without authentication; "
                    "never expose this service to a network")
    service = Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await service.close()

    app = FastAPI(title="spinerules", version=_version(), lifespan=lifespan,
                  description="Clinical spine-care guidelines as a CDS Hooks 2.0 service and a "
                  "REST API. Errors: {\"error\": {\"code\", \"message\", \"path\"}}.")
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    if config.cors_origins:  # browsers: an EHR sandbox that calls from its page
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    _install_errors(app)

    @app.get("/guidelines", tags=["REST"], summary="The served guidelines",
             responses={200: {"content": {JSON: {"schema": _GUIDELINES_SCHEMA}}}})
    def guidelines() -> Response:
        return json_response([s.listing for s in service.catalog.guidelines.values()])

    @app.get("/guidelines/{guideline}/examples/{name}", tags=["REST"],
             summary="An example patient (a record, or a FHIR Bundle)",
             responses={200: {"content": {JSON: {"schema": {"type": "object"}}}},
                        **_errors(404, 422)})
    def example(guideline: GuidelineId, name: Annotated[str, Path(max_length=200)]) -> Response:
        served = service.served(guideline)
        data = service.catalog.example(served, name)
        if data is None:
            raise ServiceError(404, "unknown_example",
                               f"`{guideline}` has no example `{name[:80]}` (examples: "
                               f"{', '.join(served.examples)})", "name")
        return json_response(data)

    @app.post("/evaluate/{guideline}", tags=["REST"],
              summary="Evaluate a patient record or a FHIR R4 Bundle",
              responses={200: {"content": {JSON: {"schema": {
                  "$ref": "#/components/schemas/Result"}}}},
                  **_errors(400, 404, 413, 415, 422, 503)})
    async def evaluate_route(guideline: GuidelineId, record: RecordBody, as_of: AsOf = None,
                             trace: TraceFlag = False) -> Response:
        served = service.served(guideline)
        day = parse_as_of(as_of)

        def work() -> bytes:
            result = evaluate(served, record, day, trace)
            if service.audit is not None:
                service.audit.write(audit_entry("evaluate", None, None, served.guideline,
                                                result))
            return dumps(result_json(result, trace))

        return Response(content=await service.limited(work), media_type=JSON)

    @app.post("/cards/{guideline}", tags=["REST"],
              summary="The patient-view cards of a record or a FHIR R4 Bundle (no EHR)",
              responses={200: {"content": {JSON: {"schema": {
                  "$ref": "#/components/schemas/CardsResponse"}}}},
                  **_errors(400, 404, 413, 415, 422, 503)})
    async def cards_route(guideline: GuidelineId, record: RecordBody,
                          as_of: AsOf = None) -> Response:
        from spinerules.service.cards import result_cards

        served = service.served(guideline)
        day = parse_as_of(as_of)
        words = service.words[served.id]

        def work() -> bytes:
            result = evaluate(served, record, day, False)
            cards = result_cards(result, words, f"rest-{uuid.uuid4()}", None)
            if service.audit is not None:
                service.audit.write(audit_entry("cards", None, None, served.guideline,
                                                result, len(cards)))
            return dumps_plain({"cards": cards})

        return Response(content=await service.limited(work), media_type=JSON)

    extras: list[Callable[[], dict[str, Any]]] = []
    _cds_routes(app, service, extras)
    app.include_router(playground.router)  # the playground page at / (playground.py)

    app.openapi = _openapi_with_schemas(app, extras)  # type: ignore[method-assign]
    return app


def audit_entry(kind: str, service: CdsService | None, instance: str | None,
                g: api.Guideline, result: Any, cards: int | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An audit line: what was decided and by which guideline; no patient identifier."""
    entry: dict[str, Any] = {
        "kind": kind,
        "guideline": {"id": g.id, "version": g.version, "hash": g.sha256},
        "rules": sorted({r.rule for r in result.recommendations if r.rule}),
        "codes": sorted(result.codes() | result.missing_codes()),
    }
    if service is not None:
        entry["service"] = service.id
        entry["hook"] = service.hook
    if instance is not None:
        entry["hookInstance"] = instance
    if cards is not None:
        entry["cards"] = cards
    if extra:
        entry.update(extra)
    return entry


def _cds_routes(app: FastAPI, service: Service,
                extras: list[Callable[[], dict[str, Any]]]) -> None:
    from pydantic import ValidationError

    from spinerules.service import hooks
    from spinerules.service.models import (
        CardsResponse,
        Discovery,
        FeedbackRequest,
        HookRequest,
    )

    def body_model(model: type[Any]) -> dict[str, Any]:
        return {"requestBody": {"required": True, "content": {JSON: {"schema": {
            "$ref": f"#/components/schemas/{model.__name__}"}}}}}

    def validated(model: type[Any], data: Any) -> None:
        try:
            model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            path = json_path(tuple(first.get("loc", ())))
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise ServiceError(400, "malformed_request", f"{path}: {first.get('msg')}{more}",
                               path, problems=[{"path": json_path(tuple(e.get("loc", ()))),
                                                "message": str(e.get("msg"))}
                                               for e in errors[:20]]) from None

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        try:
            return loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            where = getattr(exc, "pos", 0)
            raise ServiceError(400, "invalid_json", f"the request body is not JSON "
                               f"(at character {where})", "$") from None

    @app.get("/cds-services", tags=["CDS Hooks"], summary="CDS Hooks discovery",
             responses={200: {"model": Discovery}})
    def discovery() -> Response:
        return Response(content=service.discovery, media_type=JSON)

    @app.post("/cds-services/{service_id}", tags=["CDS Hooks"], summary="Call a CDS service",
              responses={200: {"model": CardsResponse},
                         **_errors(400, 401, 403, 404, 413, 422, 502, 503)},
              openapi_extra=body_model(HookRequest))
    async def call(request: Request, service_id: ServiceId, as_of: AsOf = None) -> Response:
        cds = service.service(service_id)
        await service.authenticate(request)
        data = await read_json(request)
        validated(HookRequest, data)
        patient = hooks.check_call(cds, data)
        day = parse_as_of(as_of)
        resources, missing = hooks.collect_prefetch(cds, data.get("prefetch"))

        deadline = time.monotonic() + service.config.time_limit

        async def answer() -> bytes:
            if missing and data.get("fhirServer"):
                await hooks.fetch_missing(cds, data, patient, missing, service.fhir_client(),
                                          resources, service.config.fhir_servers)
            answered: bytes = await service.compute(work)
            return answered

        def work() -> bytes:
            record = hooks.extract(cds, resources, day)
            try:
                cards, result = hooks.hook_cards(cds, data, record, day, patient)
            except api.EvaluationFailedError as exc:
                raise ServiceError(422, "evaluation_failed", "the guideline could not be "
                                   f"evaluated: {exc.diagnostic.message}") from None
            if time.monotonic() > deadline:
                return b""  # answered 503 already: not audited as answered
            if service.audit is not None:
                service.audit.write(audit_entry(
                    "hook", cds, data["hookInstance"], cds.words.guideline, result,
                    len(cards)))
            return dumps_plain({"cards": cards})

        return Response(content=await service.within_time(answer()), media_type=JSON)

    @app.post("/cds-services/{service_id}/feedback", tags=["CDS Hooks"],
              summary="Feedback on cards (recorded in the audit log)",
              responses={200: {"content": {JSON: {"schema": {"type": "object"}}}},
                         **_errors(400, 401, 404, 413, 422)},
              openapi_extra=body_model(FeedbackRequest))
    async def feedback(request: Request, service_id: ServiceId) -> Response:
        cds = service.service(service_id)
        await service.authenticate(request)
        data = await read_json(request)
        validated(FeedbackRequest, data)
        if service.audit is not None:
            g = cds.words.guideline
            for item in data["feedback"]:
                reason = (item.get("overrideReason") or {}).get("reason") or {}
                service.audit.write({
                    "kind": "feedback", "service": cds.id, "hook": cds.hook,
                    "guideline": {"id": g.id, "version": g.version, "hash": g.sha256},
                    "card": item["card"], "outcome": item["outcome"],
                    "acceptedSuggestions": [s["id"] for s in
                                            item.get("acceptedSuggestions") or []],
                    # the coded reason only: a free-text comment may name the patient
                    **({"overrideReason": reason.get("code")} if reason else {})})
        return Response(content=b"{}", media_type=JSON)

    def models() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for model in (HookRequest, FeedbackRequest, CardsResponse, Discovery):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            out.update(schema.pop("$defs", {}))
            out[model.__name__] = schema
        return out

    extras.append(models)


def serving_app(config: ServiceConfig) -> FastAPI:
    """``create_app`` for a serving process (``spinerules serve``): the guidelines loaded,
    then every object alive moved out of the cyclic garbage collector's sight
    (``gc.freeze``). The loaded guidelines are about 110,000 objects that live as long as
    the process; without this, each full collection walks them all: about 50 ms, once every
    700 or so calls, during which every call waiting on that worker waits too (the
    service's slowest 1 %). Frozen, a full collection takes under 1 ms
    (docs/performance.md). Not done in ``create_app``: a process that makes several apps
    (the tests) would keep the cyclic garbage of the earlier ones forever."""
    app = create_app(config)
    gc.collect()
    gc.freeze()
    return app


def app_factory() -> FastAPI:
    """The app for uvicorn workers (``uvicorn --factory spinerules.service.app:app_factory``):
    the config comes from the environment variable ``SPINERULES_SERVICE_CONFIG``."""
    return serving_app(ServiceConfig.from_env())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spinerules")
    except PackageNotFoundError:  # pragma: no cover - a checkout without install
        return "0"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if errors and tuple(errors[0].get("loc", ())) == ("body",) and \
                kind not in ("application/json", "application/fhir+json"):
            return error_response(ServiceError(
                415, "unsupported_media_type", f"send the body as JSON with Content-Type: "
                f"application/json (got {kind[:60] or 'no Content-Type'})", "$"))
        if errors and errors[0].get("type") == "json_invalid":
            err = errors[0]
            where = err.get("loc", ("body", 0))[-1]
            reason = (err.get("ctx") or {}).get("error", "invalid JSON")
            return error_response(ServiceError(
                400, "invalid_json", f"the request body is not JSON: {reason} at character "
                f"{where}", "$"))
        listed = [{"path": json_path(tuple(e.get("loc", ()))), "message": str(e.get("msg"))}
                  for e in errors[:20]]
        first = listed[0] if listed else {"path": "$", "message": "invalid request"}
        status = 400 if errors and errors[0].get("type") == "json_invalid" else 422
        code = "invalid_json" if status == 400 else "invalid_request"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        return error_response(ServiceError(status, code, f"{first['path']}: "
                                           f"{first['message']}{more}", first["path"],
                                           problems=listed))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        where = f"{request.method} {request.url.path[:200]}"
        if exc.status_code == 400 and message.startswith("There was an error parsing"):
            code, message = "invalid_json", "the request body is not JSON (UTF-8 text)"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such resource: {where} (the API is listed at /openapi.json)"
        elif exc.status_code == 405:
            message = f"method not allowed: {where} (the API is listed at /openapi.json)"
        return error_response(ServiceError(exc.status_code, code, message,
                                           headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def crash(_request: Request, exc: Exception) -> Response:
        # the exception's type only: its text may quote patient data
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse(error_body("internal_error", "the service failed on this request; "
                                       "it has been logged"), status_code=500)


_ERROR_RESPONSE: dict[str, Any] = {
    "description": "an error", "content": {JSON: {"schema": {
        "$ref": "#/components/schemas/ErrorBody"}}}}

def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route (each the JSON error body)."""
    return {status: dict(_ERROR_RESPONSE, description=_STATUS_CODES.get(
        status, "error").replace("_", " ")) for status in statuses}


_GUIDELINES_SCHEMA: dict[str, Any] = {
    "type": "array", "items": {
        "type": "object", "required": ["id", "title", "version", "hash", "examples"],
        "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                       "version": {"type": ["string", "null"]}, "hash": {"type": "string"},
                       "examples": {"type": "array", "items": {"type": "string"}}}}}

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "path": {"type": "string"},
                       "problems": {"type": "array", "items": {
                           "type": "object", "properties": {"path": {"type": "string"},
                                                            "message": {"type": "string"}}}}}}}}


def _openapi_with_schemas(app: FastAPI, extras: list[Callable[[], dict[str, Any]]],
                          ) -> Callable[[], dict[str, Any]]:
    """FastAPI's OpenAPI document, with the result contract's schema (its ``$defs`` moved to
    ``components``) and the error body added."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_result_components())
        schemas["ErrorBody"] = _ERROR_SCHEMA
        for extra in extras:
            schemas.update(extra())
        app.openapi_schema = doc
        return doc

    return openapi


def _result_components() -> dict[str, Any]:
    from spinerules.engine.result import result_schema

    schema = json.loads(json.dumps(result_schema()).replace('"#/$defs/',
                                                            '"#/components/schemas/'))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    schema["properties"]["explanations"] = {
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "with trace=true only: for every code a rule can give, why it was or "
                       "was not given"}
    return {"Result": schema, **defs}
