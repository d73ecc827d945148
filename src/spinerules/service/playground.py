"""The playground page at ``/``: try a guideline on a record or a FHIR Bundle in a browser.

Plain HTML, CSS and JavaScript from ``static/`` (shipped in the wheel; no build step, nothing
loaded from another site, so the page works offline). The page calls the service's own API:
``GET /guidelines`` and its examples, ``GET /cds-services``, ``POST /evaluate/{id}?trace=true``
(the questions and explanations), and for the cards ``POST /cds-services/{id}`` with a FHIR
Bundle split into the service's prefetch templates (as an EHR sends a patient), or
``POST /cards/{id}`` with a plain record. It adds no API of its own.

Every response of the page carries a strict Content-Security-Policy: scripts and styles from
this server only, no inline script, no frames, connections to this server only.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter
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
