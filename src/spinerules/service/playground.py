"""The playground page at ``/``: try a guideline on a record or a FHIR Bundle in a browser.

Plain HTML, CSS and JavaScript from ``static/`` (shipped in the wheel; no build step, nothing
loaded from another site, so the page works offline). The page calls the service's own API:
``GET /guidelines`` and its examples, ``GET /cds-services``, ``POST /evaluate/{id}?trace=true``
(the questions and explanations) and ``POST /cds-services/{id}`` (the cards). One route of its
own, ``POST /playground/bundle/{id}``, writes a plain record as the FHIR R4 Bundle that the
guideline's mapping reads back to the same record, so that a record can be sent to the CDS
Hooks service the way an EHR sends a patient: as FHIR prefetch.

Every response of the page carries a strict Content-Security-Policy: scripts and styles from
this server only, no inline script, no frames, connections to this server only.
"""

from __future__ import annotations

import datetime
import functools
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response

__all__ = ["STATIC_FILES", "router"]

#: the page's files, by the name they are served under (``/playground/<name>``)
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
}

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
            "X-Frame-Options": "DENY"}

router = APIRouter()


@functools.cache
def _read(name: str) -> bytes:
    return (resources.files("spinerules.service") / "static" / name).read_bytes()


def _file(name: str) -> Response:
    return Response(content=_read(name), media_type=STATIC_FILES[name], headers=_HEADERS)


@router.get("/", include_in_schema=False)
def page() -> Response:
    """The playground page."""
    return _file("index.html")


@router.get("/playground/{name}", include_in_schema=False)
def static(name: str) -> Response:
    """The page's script and style sheet (a fixed list: no path reaches the file system)."""
    from spinerules.service.errors import ServiceError

    if name not in STATIC_FILES:
        raise ServiceError(404, "not_found", f"the playground has no file `{name[:80]}`",
                           "$.name")
    return _file(name)


_ERROR: dict[str, Any] = {"description": "an error", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}

AsOf = Annotated[str | None, Query(max_length=40, description="the date the Bundle is written "
                                   "at (birth date from age, onset from weeks), YYYY-MM-DD "
                                   "(default: today)")]


@router.post("/playground/bundle/{guideline}", tags=["playground"],
             summary="A patient record written as a FHIR R4 Bundle (for the playground)",
             responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                        400: _ERROR, 404: _ERROR, 413: _ERROR, 422: _ERROR, 503: _ERROR})
async def bundle(request: Request,
                 guideline: Annotated[str, Path(max_length=200,
                                                description="a served guideline's id")],
                 record: Annotated[dict[str, Any], Body(
                     description="a patient record of the guideline's record type")],
                 as_of: AsOf = None) -> Response:
    """The record as the collection Bundle that the guideline's FHIR mapping extracts back to
    the same record at ``as_of``: what the playground sends to the CDS Hooks service as
    prefetch when it is given a record rather than a Bundle."""
    from spinerules.service.app import dumps, parse_as_of
    from spinerules.service.errors import ServiceError

    service = request.app.state.service
    served = service.served(guideline)
    day = parse_as_of(as_of)
    if "resourceType" in record:
        raise ServiceError(422, "already_fhir", "this is already a FHIR resource "
                           f"({str(record['resourceType'])[:40]}): send it as it is",
                           "$.resourceType")

    def work() -> bytes:
        return dumps(_to_bundle(served.guideline, record, day))

    return Response(content=await service.limited(work), media_type="application/json")


def _to_bundle(guideline: Any, record: dict[str, Any], day: datetime.date) -> dict[str, Any]:
    from spinerules.fhir.generate import to_bundle
    from spinerules.fhir.mapping import mapping_for
    from spinerules.records.loader import RecordError, load_record
    from spinerules.service.errors import ServiceError

    try:
        mapping = mapping_for(guideline.record_type)
    except KeyError:
        raise ServiceError(422, "no_fhir_mapping",
                           f"the guideline `{guideline.id}` has no FHIR mapping for its record "
                           f"type {guideline.record_type.__name__}: evaluate the record "
                           "itself") from None
    try:
        loaded = load_record(guideline.record_type, record,
                             max_list_length=guideline.limits.max_list_length)
    except RecordError as exc:
        problems = [{"path": _dollar(p.path), "message": p.message} for p in exc.problems]
        first = problems[0] if problems else {"path": "$", "message": "invalid"}
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ServiceError(400, "invalid_record", f"the patient record is not valid: "
                           f"{first['path']}: {first['message']}{more}", first["path"],
                           problems=problems) from None
    return to_bundle(loaded, as_of=day, mapping=mapping)


def _dollar(path: str) -> str:
    if path.startswith("$"):
        return path
    return "$" + ("" if path.startswith("[") else ".") + path
