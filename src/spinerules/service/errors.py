"""Errors as the service answers them: every 4xx and 5xx has the body
``{"error": {"code": "...", "message": "...", "path": "..."}}`` (``path``: a JSON path into
the request, when the problem has a place)."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request the service refuses (4xx) or could not answer (5xx)."""

    def __init__(self, status: int, code: str, message: str, path: str | None = None,
                 *, problems: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.path = path
        self.problems = problems
        self.headers = headers

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.path is not None:
            err["path"] = self.path
        if self.problems:
            err["problems"] = self.problems
        return {"error": err}


def error_body(code: str, message: str, path: str | None = None) -> dict[str, Any]:
    """The JSON error body, for the places that build a response without raising."""
    return ServiceError(0, code, message, path).body()


def json_path(parts: tuple[Any, ...] | list[Any], root: str = "$") -> str:
    """``("body", "context", 0)`` as ``$.context[0]`` (the first ``body`` is dropped)."""
    out = root
    items = list(parts)
    if items and items[0] in ("query", "path", "header", "cookie"):
        return ".".join(str(p) for p in items[1:]) or str(items[0])  # a parameter's name
    if items and items[0] == "body":
        items = items[1:]
    for p in items:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}"
    return out
