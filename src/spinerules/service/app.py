"""The FastAPI application: the REST API, the CDS Hooks 2.0 endpoints, errors as JSON.

``create_app(config)`` loads every served guideline once, warm (its generated code made at
start, so that the first request costs what every other does), and answers:

- ``GET /guidelines``: ``[{"id", "title", "version", "hash", "examples": [names]}]``
- ``GET /guidelines/{id}/examples/{name}``: an example patient record (or FHIR Bundle)
- ``POST /evaluate/{id}?as_of=YYYY-MM-DD[&trace=true]``: a record or a FHIR R4 Bundle in,
  the result contract out (``docs/integrators/results.md``); with ``trace=true`` it also
  holds ``explanations`` (code: why or why not)
- ``GET /cds-services``, ``POST /cds-services/{id}``, ``POST /cds-services/{id}/feedback``
- ``GET /openapi.json``

Every 4xx and 5xx answers ``{"error": {"code", "message", "path"?}}``. Request bodies over
``max_body_bytes`` get 413; an evaluation over ``time_limit`` seconds gets 503.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spinerules import api
from spinerules.service import playground
from spinerules.service.catalog import Catalog, Served
from spinerules.service.config import ServiceConfig
from spinerules.service.errors import ServiceError, error_body, json_path

log = logging.getLogger("spinerules.service")

JSON = "application/json"
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 413: "body_too_large",
                 415: "unsupported_media_type", 422: "invalid_request",
                 503: "unavailable"}


def dumps(data: Any) -> bytes:
    """JSON bytes, once; a non-finite number (an extreme fact) as its JavaScript spelling."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
    except ValueError:
        from spinerules.engine.result import _finite

        return json.dumps(_finite(data), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


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
    """The state behind the app: config, catalog, and (added by the CDS Hooks part) the
    authenticator and the audit log."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.catalog = Catalog(config.guidelines)

    def served(self, guideline_id: str) -> Served:
        found = self.catalog.guidelines.get(guideline_id)
        if found is None:
            known = ", ".join(sorted(self.catalog.guidelines))
            raise ServiceError(404, "unknown_guideline",
                               f"no guideline `{guideline_id[:80]}` is served (served: {known})",
                               "guideline")
        return found

    async def limited(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, within the time limit (else 503)."""
        return await self.within_time(anyio.to_thread.run_sync(fn, *args,
                                                               abandon_on_cancel=True))

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
    day = api.parse_iso_date(value)
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
TraceFlag = Annotated[bool, Query(description="add `explanations`: for every code a rule can "
                                  "give, why it was or was not given")]


def create_app(config: ServiceConfig) -> FastAPI:
    """The service for ``config``: every guideline loaded (warm) before this returns."""
    if config.insecure_dev:
        log.warning("INSECURE DEV MODE: CDS Hooks calls are accepted without authentication; "
                    "never expose this service to a network")
    service = Service(config)
    app = FastAPI(title="spinerules", version=_version(),
                  description="Clinical spine-care guidelines as a CDS Hooks 2.0 service and a "
                  "REST API. Errors: {\"error\": {\"code\", \"message\", \"path\"}}.")
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    _install_errors(app)

    @app.get("/guidelines", tags=["REST"], summary="The served guidelines",
             responses={200: {"content": {JSON: {"schema": _GUIDELINES_SCHEMA}}}})
    def guidelines() -> Response:
        return json_response([s.listing for s in service.catalog.guidelines.values()])

    @app.get("/guidelines/{guideline}/examples/{name}", tags=["REST"],
             summary="An example patient (a record, or a FHIR Bundle)",
             responses={200: {"content": {JSON: {"schema": {"type": "object"}}}},
                        404: _ERROR_RESPONSE})
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
                  400: _ERROR_RESPONSE, 404: _ERROR_RESPONSE, 413: _ERROR_RESPONSE,
                  422: _ERROR_RESPONSE, 503: _ERROR_RESPONSE})
    async def evaluate_route(guideline: GuidelineId, record: RecordBody, as_of: AsOf = None,
                             trace: TraceFlag = False) -> Response:
        served = service.served(guideline)
        day = parse_as_of(as_of)

        def work() -> bytes:
            return dumps(result_json(evaluate(served, record, day, trace), trace))

        return Response(content=await service.limited(work), media_type=JSON)

    app.include_router(playground.router)  # the playground page at / (playground.py)
    app.openapi = _openapi_with_schemas(app)  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """The app for uvicorn workers (``uvicorn --factory spinerules.service.app:app_factory``):
    the config comes from the environment variable ``SPINERULES_SERVICE_CONFIG``."""
    return create_app(ServiceConfig.from_env())


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
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
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
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
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


def _openapi_with_schemas(app: FastAPI) -> Callable[[], dict[str, Any]]:
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
        for extra in _EXTRA_COMPONENTS:
            schemas.update(extra())
        app.openapi_schema = doc
        return doc

    return openapi


#: more component schemas, added by the CDS Hooks part
_EXTRA_COMPONENTS: list[Callable[[], dict[str, Any]]] = []


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
